//! Result data of actions (who reported what by the time a read looks at, frozen by its cache
//! id), and what every `result_data` answer shares: its envelope, its rows, its cache ids.
//! Questions are in [`super::question_results`].

use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, ObjectId, Options, data, page};
use crate::mix;
use crate::sensors::name_hash;
use crate::state::{MachineStatus, Shared, SimTime};

/// The answer of a `result_data` read: the time it looks at, and its one result set.
pub(super) fn result_data(shared: &Shared, at: SimTime, result_set: Value) -> ApiResult {
    let now = shared
        .clock
        .date(at)
        .format("%Y/%m/%d %H:%M:%S GMT-0000")
        .to_string();
    data(json!({ "now": now, "max_available_age": "", "result_sets": [result_set] }))
}

/// One row of a result set: its ids, and one cell per column, each a list of texts.
pub(super) fn row_json(shared: &Shared, hash: u64, machine: u32, cells: Vec<Vec<String>>) -> Value {
    let data: Vec<Value> = cells
        .into_iter()
        .map(|texts| {
            texts
                .into_iter()
                .map(|text| json!({ "text": text }))
                .collect()
        })
        .collect();
    json!({
        "id": hash % (1 << 32),
        "cid": mix(shared.config.seed, u64::from(machine)) % (1 << 32),
        "data": data,
    })
}

/// Resolves the time a read looks at: a known cache id for this object freezes it.
pub(super) fn read_time(shared: &Shared, object_id: u64, options: &Options) -> (u64, SimTime) {
    let now = shared.clock.now();
    let mut inner = shared.lock();
    if let Some(cache_id) = options.cache_id
        && let Some((owner, at)) = inner.caches.get(&cache_id).copied()
        && owner == object_id
    {
        return (cache_id, at);
    }
    (inner.new_cache(object_id, now), now)
}

/// The rows of an action's result data: one per machine that reported (Computer Name, Action
/// Statuses, Count 1), or, with `row_counts_only_flag`, one per status with the number of
/// machines in it (Action Statuses, Count), as pytan's "aggregate" read sums them.
fn action_rows(
    shared: &Shared,
    action_id: u64,
    reported: Vec<(u32, MachineStatus)>,
    options: &Options,
) -> (usize, usize, Vec<Value>) {
    let status_text = |status: MachineStatus| format!("{action_id}:{}.", status.word());
    let machines = reported.len();
    if options.row_counts_only {
        let mut counts: Vec<(MachineStatus, u64, u32)> = Vec::new();
        for (machine, status) in reported {
            match counts.iter_mut().find(|(known, _, _)| *known == status) {
                Some((_, count, _)) => *count += 1,
                None => counts.push((status, 1, machine)),
            }
        }
        let total = counts.len();
        let rows = page(counts, options)
            .into_iter()
            .map(|(status, count, machine)| {
                let hash = mix(action_id ^ (status as u64) << 40, u64::from(u32::MAX));
                let cells = vec![vec![status_text(status)], vec![count.to_string()]];
                row_json(shared, hash, machine, cells)
            })
            .collect();
        return (total, machines, rows);
    }
    let rows = page(reported, options)
        .into_iter()
        .filter_map(|(machine, status)| {
            let endpoint = shared.fleet().get(machine as usize)?;
            let cells = vec![
                vec![endpoint.computer_name.clone()],
                vec![status_text(status)],
                vec!["1".to_owned()],
            ];
            let hash = mix(action_id ^ (status as u64) << 40, u64::from(machine));
            Some(row_json(shared, hash, machine, cells))
        })
        .collect();
    (machines, machines, rows)
}

/// `result_data/action/{id}`: Computer Name / Action Statuses / Count, string cells; with
/// `row_counts_only_flag` (in `tanium-options` or the query string), counts by status only.
pub(super) async fn action_result_data(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
    options: Options,
) -> ApiResult {
    let action = shared
        .lock()
        .actions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no action with id {id}")))?;
    let (cache_id, at) = read_time(&shared, id, &options);
    let start = shared.action_start(&action, at);
    let mut reported: Vec<(u32, MachineStatus)> = Vec::new();
    let mut targeted_online = 0usize;
    for &machine in &action.targeted {
        if shared
            .fleet()
            .get(machine as usize)
            .is_some_and(|e| e.online)
        {
            targeted_online += 1;
        }
        if let Some(status) = shared.machine_status(&action, machine, at) {
            reported.push((machine, status));
        }
    }
    let (total, machines, rows) = action_rows(&shared, action.id, reported, &options);
    let status_column =
        json!({ "hash": name_hash("Action Statuses"), "name": "Action Statuses", "type": 1 });
    let count_column = json!({ "hash": 0, "name": "Count", "type": 3 });
    let columns = if options.row_counts_only {
        vec![status_column, count_column]
    } else {
        let name_column =
            json!({ "hash": name_hash("Computer Name"), "name": "Computer Name", "type": 1 });
        vec![name_column, status_column, count_column]
    };
    // The action's history question is complete from the first poll, and on some actions one
    // more machine reports than the estimate (recorded: 168 over 167).
    let over_by_one =
        u64::from(start.is_some() && mix(shared.config.seed, action.id).is_multiple_of(3));
    let mr_tested = shared.online_count as u64 + over_by_one;
    let seconds_since_issued = start.map_or(0, |start| (at - start).max(0.0) as u64);
    let result_set = json!({
        "age": 0,
        "id": action.history_question_id,
        "report_count": machines,
        "saved_question_id": 400_000 + action.id,
        "question_id": action.history_question_id,
        "archived_question_id": 0,
        "seconds_since_issued": seconds_since_issued,
        "issue_seconds": 0,
        "expire_seconds": action.expire_seconds + 60,
        "tested": mr_tested,
        "passed": targeted_online,
        "mr_tested": mr_tested,
        "mr_passed": mr_tested,
        "estimated_total": shared.online_count,
        "select_count": 2,
        "error_count": 0,
        "no_results_count": 0,
        "columns": columns,
        "filtered_row_count": total,
        "filtered_row_count_machines": machines,
        "row_count": rows.len(),
        "row_count_machines": rows.len(),
        "item_count": total,
        "rows": rows,
        "cache_id": cache_id.to_string(),
    });
    result_data(&shared, at, result_set)
}

//! Result info and result data of questions and actions: who has answered by the time a read
//! looks at (frozen by its cache id), grouped rows, and the result-set counts.

use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, ObjectId, Options, canonical_sensor, data, page};
use crate::config::sensor_hash;
use crate::state::{MachineStatus, QuestionRecord, Shared, SimTime};
use crate::{mix, unit};

/// Online machines answer a question within two sim seconds, each at its own delay.
fn answered(shared: &Shared, question: &QuestionRecord, machine: u32, at: SimTime) -> bool {
    let delay = 2.0 * unit(mix(shared.config.seed ^ question.id, u64::from(machine)), 7);
    at - question.created_at >= delay
}

struct QuestionCounts {
    tested: usize,
    passed: usize,
}

fn question_counts(shared: &Shared, question: &QuestionRecord, at: SimTime) -> QuestionCounts {
    let tested = shared
        .fleet()
        .iter()
        .enumerate()
        .filter(|(index, endpoint)| {
            endpoint.online && answered(shared, question, *index as u32, at)
        })
        .count();
    let passed = question
        .matching
        .iter()
        .filter(|&&machine| answered(shared, question, machine, at))
        .count();
    QuestionCounts { tested, passed }
}

fn question_base(
    shared: &Shared,
    question: &QuestionRecord,
    counts: &QuestionCounts,
    at: SimTime,
    rows: usize,
) -> Value {
    json!({
        "age": 0,
        "archived_question_id": 0,
        "error_count": 0,
        "estimated_total": shared.online_count,
        "expire_seconds": question.expire_seconds,
        "id": question.id,
        "issue_seconds": 0,
        "mr_passed": counts.passed,
        "mr_tested": counts.tested,
        "no_results_count": 0,
        "passed": counts.passed,
        "question_id": question.id,
        "report_count": counts.tested,
        "row_count": rows,
        "row_count_machines": rows,
        "saved_question_id": 0,
        "seconds_since_issued": (at - question.created_at).max(0.0) as u64,
        "select_count": question.selects.len(),
        "tested": counts.tested,
    })
}

/// A copy of the question, so that a read does not hold the lock while it renders.
fn question(shared: &Shared, id: u64) -> Result<QuestionRecord, ApiError> {
    shared
        .lock()
        .questions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))
}

pub(super) async fn question_result_info(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    let now = shared.clock.now();
    let question = question(&shared, id)?;
    let counts = question_counts(&shared, &question, now);
    let rows = if question.selects.is_empty() {
        0
    } else {
        counts.passed
    };
    let info = question_base(&shared, &question, &counts, now, rows);
    data(json!({ "result_infos": [info] }))
}

/// The answer of a `result_data` read: the time it looks at, and its one result set.
fn result_data(shared: &Shared, at: SimTime, result_set: Value) -> ApiResult {
    let now = shared
        .clock
        .date(at)
        .format("%Y/%m/%d %H:%M:%S GMT-0000")
        .to_string();
    data(json!({ "now": now, "max_available_age": "", "result_sets": [result_set] }))
}

/// One row of a result set: its ids, and one single-valued cell per column.
fn row_json(shared: &Shared, hash: u64, machine: u32, cells: Vec<String>) -> Value {
    let data: Vec<Value> = cells
        .into_iter()
        .map(|text| json!([{ "text": text }]))
        .collect();
    json!({
        "id": hash % (1 << 32),
        "cid": mix(shared.config.seed, u64::from(machine)) % (1 << 32),
        "data": data,
    })
}

/// Resolves the time a read looks at: a known cache id for this object freezes it.
fn read_time(shared: &Shared, object_id: u64, options: &Options) -> (u64, SimTime) {
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

pub(super) async fn question_result_data(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
    options: Options,
) -> ApiResult {
    let question = question(&shared, id)?;
    let (cache_id, at) = read_time(&shared, id, &options);
    let counts = question_counts(&shared, &question, at);
    let mut result_set;
    if question.selects.is_empty() {
        // Recorded shape: a question without selects has no columns or rows keys at all.
        result_set = question_base(&shared, &question, &counts, at, 0);
    } else {
        // Identical answers collapse into one row with a count, as Tanium groups them.
        let mut grouped: indexmap_lite::OrderedCounts = indexmap_lite::OrderedCounts::default();
        for &machine in &question.matching {
            if !answered(&shared, &question, machine, at) {
                continue;
            }
            if let Some(endpoint) = shared.fleet().get(machine as usize) {
                let cells: Vec<String> = question
                    .selects
                    .iter()
                    .map(|s| endpoint.column_text(s))
                    .collect();
                grouped.add(cells, machine);
            }
        }
        let total = grouped.len();
        let rows: Vec<Value> = page(grouped.into_rows(), &options)
            .into_iter()
            .map(|(mut cells, count, first_machine)| {
                cells.push(count.to_string());
                let hash = mix(question.id, u64::from(first_machine));
                row_json(&shared, hash, first_machine, cells)
            })
            .collect();
        let mut columns: Vec<Value> = question
            .selects
            .iter()
            .map(|name| json!({ "hash": sensor_hash(name), "name": canonical_sensor(name), "type": 1 }))
            .collect();
        columns.push(json!({ "hash": 0, "name": "Count", "type": 3 }));
        result_set = question_base(&shared, &question, &counts, at, rows.len());
        result_set["columns"] = Value::Array(columns);
        result_set["filtered_row_count"] = json!(total);
        result_set["filtered_row_count_machines"] = json!(counts.passed);
        result_set["item_count"] = json!(total);
        result_set["rows"] = Value::Array(rows);
    }
    result_set["cache_id"] = json!(cache_id.to_string());
    result_data(&shared, at, result_set)
}

/// A tiny insertion-ordered grouping, so that rows come out in fleet order.
mod indexmap_lite {
    use std::collections::HashMap;

    #[derive(Default)]
    pub(super) struct OrderedCounts {
        index: HashMap<Vec<String>, usize>,
        rows: Vec<(Vec<String>, u64, u32)>,
    }

    impl OrderedCounts {
        pub(super) fn add(&mut self, cells: Vec<String>, machine: u32) {
            match self.index.get(&cells) {
                Some(&position) => self.rows[position].1 += 1,
                None => {
                    self.index.insert(cells.clone(), self.rows.len());
                    self.rows.push((cells, 1, machine));
                }
            }
        }
        pub(super) fn len(&self) -> usize {
            self.rows.len()
        }
        pub(super) fn into_rows(self) -> Vec<(Vec<String>, u64, u32)> {
            self.rows
        }
    }
}

/// `result_data/action/{id}`: Computer Name / Action Statuses / Count, string cells.
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
    let total = reported.len();
    let rows: Vec<Value> = page(reported, &options)
        .into_iter()
        .filter_map(|(machine, status)| {
            let endpoint = shared.fleet().get(machine as usize)?;
            let cells = vec![
                endpoint.computer_name.clone(),
                format!("{}:{}.", action.id, status.word()),
                "1".to_owned(),
            ];
            let hash = mix(action.id ^ (status as u64) << 40, u64::from(machine));
            Some(row_json(&shared, hash, machine, cells))
        })
        .collect();
    // The action's history question is complete from the first poll, and on some actions one
    // more machine reports than the estimate (recorded: 168 over 167).
    let over_by_one =
        u64::from(start.is_some() && mix(shared.config.seed, action.id).is_multiple_of(3));
    let mr_tested = shared.online_count as u64 + over_by_one;
    let seconds_since_issued = start.map_or(0, |start| (at - start).max(0.0) as u64);
    let result_set = json!({
        "age": 0,
        "id": action.history_question_id,
        "report_count": total,
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
        "columns": [
            { "hash": sensor_hash("Computer Name"), "name": "Computer Name", "type": 1 },
            { "hash": sensor_hash("Action Statuses"), "name": "Action Statuses", "type": 1 },
            { "hash": 0, "name": "Count", "type": 3 },
        ],
        "filtered_row_count": total,
        "filtered_row_count_machines": total,
        "row_count": rows.len(),
        "row_count_machines": rows.len(),
        "item_count": total,
        "rows": rows,
        "cache_id": cache_id.to_string(),
    });
    result_data(&shared, at, result_set)
}

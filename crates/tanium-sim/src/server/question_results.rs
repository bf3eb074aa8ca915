//! Result info and result data of questions and saved questions: who has answered by the time
//! a read looks at (frozen by its cache id), and what.
//!
//! Online machines answer within two simulated seconds of the question, each at its own
//! delay; offline ones never do. A machine's row has one cell per select, each a list of
//! texts (several for sensors such as `Running Processes`), and machines with identical
//! answers share one row whose `Count` says how many. A slow sensor's cell is
//! `[current results unavailable]` for a few seconds after some machines answered; machines
//! without a value say `[no results]`, and a few answer a `TSE-Error:`. Every value is that
//! of the fleet when the question was asked.

use std::collections::HashMap;

use axum::extract::State;
use serde_json::{Value, json};

use super::results::{read_time, result_data, row_json};
use super::{ApiError, ApiResult, AppState, ObjectId, Options, data, page};
use crate::sensors::fnv;
use crate::sensors::values::{UNAVAILABLE, ready_after};
use crate::state::{AnswerRow, QuestionRecord, Shared, SimTime};
use crate::{mix, unit};

/// When an online machine answers: within two sim seconds of the question.
fn answered_at(shared: &Shared, question: &QuestionRecord, machine: u32) -> SimTime {
    let delay = 2.0 * unit(mix(shared.config.seed ^ question.id, u64::from(machine)), 7);
    question.created_at + delay
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
            endpoint.online && answered_at(shared, question, *index as u32) <= at
        })
        .count();
    let passed = question
        .matching
        .iter()
        .filter(|&&machine| answered_at(shared, question, machine) <= at)
        .count();
    QuestionCounts { tested, passed }
}

/// The grouped answers of the machines that have answered by `at`, in fleet order of each
/// row's first machine.
fn answer_rows(shared: &Shared, question: &QuestionRecord, at: SimTime) -> Vec<AnswerRow> {
    let world = {
        let inner = shared.lock();
        shared.world(&inner, question.created_at)
    };
    let seed = shared.config.seed;
    let mut index: HashMap<Vec<Vec<String>>, usize> = HashMap::new();
    let mut rows: Vec<AnswerRow> = Vec::new();
    for &machine in &question.matching {
        let answered = answered_at(shared, question, machine);
        if answered > at {
            continue;
        }
        let Some(view) = world.machine(machine) else {
            continue;
        };
        let cells: Vec<Vec<String>> = question
            .selects
            .iter()
            .map(|select| {
                if at < answered + ready_after(seed, question.id, machine, select.sensor) {
                    vec![UNAVAILABLE.to_owned()]
                } else {
                    view.answer(select.sensor, &select.params)
                }
            })
            .collect();
        match index.get(&cells) {
            Some(&position) => rows[position].count += 1,
            None => {
                index.insert(cells.clone(), rows.len());
                rows.push(AnswerRow {
                    cells,
                    count: 1,
                    first_machine: machine,
                });
            }
        }
    }
    rows
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
        "saved_question_id": question.saved_question_id.unwrap_or(0),
        "seconds_since_issued": (at - question.created_at).max(0.0) as u64,
        "select_count": question.selects.len(),
        "tested": counts.tested,
    })
}

fn question(shared: &Shared, id: u64) -> Result<QuestionRecord, ApiError> {
    shared
        .question_record(id, shared.clock.now())
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))
}

/// The saved question's latest issue at `at`, or a 404.
fn saved_issue(shared: &Shared, id: u64, at: SimTime) -> Result<QuestionRecord, ApiError> {
    let missing = || ApiError::not_found(format!("no saved question with id {id}"));
    let saved = shared.saved_by_id(id).ok_or_else(missing)?;
    let issue = shared.latest_issue_id(saved, at);
    shared.question_record(issue, at).ok_or_else(missing)
}

fn info(shared: &Shared, question: &QuestionRecord, at: SimTime) -> ApiResult {
    let counts = question_counts(shared, question, at);
    let rows = if question.selects.is_empty() {
        0
    } else {
        answer_rows(shared, question, at).len()
    };
    let info = question_base(shared, question, &counts, at, rows);
    data(json!({ "result_infos": [info] }))
}

pub(super) async fn question_result_info(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    let now = shared.clock.now();
    info(&shared, &question(&shared, id)?, now)
}

pub(super) async fn saved_question_result_info(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    let now = shared.clock.now();
    info(&shared, &saved_issue(&shared, id, now)?, now)
}

/// The result set of a question at `at`, one page of it.
fn result_set(
    shared: &Shared,
    question: &QuestionRecord,
    at: SimTime,
    cache_id: u64,
    options: &Options,
) -> ApiResult {
    let counts = question_counts(shared, question, at);
    let mut result_set;
    if question.selects.is_empty() {
        // Recorded shape: a question without selects has no columns or rows keys at all.
        result_set = question_base(shared, question, &counts, at, 0);
    } else {
        // Every page of one read (one cache id) shows the same answers: group them once.
        let all = shared.answers_of(cache_id, || answer_rows(shared, question, at));
        let total = all.len();
        let rows: Vec<Value> = page(all.iter().collect(), options)
            .into_iter()
            .map(|row| {
                let row_id = mix(question.id, fnv(&format!("{:?}", row.cells)));
                let mut cells = row.cells.clone();
                cells.push(vec![row.count.to_string()]);
                row_json(shared, row_id, row.first_machine, cells)
            })
            .collect();
        let mut columns: Vec<Value> = question
            .selects
            .iter()
            .map(|select| {
                json!({
                    "hash": select.sensor.hash_with(&select.params),
                    "name": select.sensor.name,
                    "type": select.sensor.column_type,
                })
            })
            .collect();
        columns.push(json!({ "hash": 0, "name": "Count", "type": 3 }));
        result_set = question_base(shared, question, &counts, at, rows.len());
        result_set["columns"] = Value::Array(columns);
        result_set["filtered_row_count"] = json!(total);
        result_set["filtered_row_count_machines"] = json!(counts.passed);
        result_set["item_count"] = json!(total);
        result_set["rows"] = Value::Array(rows);
    }
    result_set["cache_id"] = json!(cache_id.to_string());
    result_data(shared, at, result_set)
}

pub(super) async fn question_result_data(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
    options: Options,
) -> ApiResult {
    let question = question(&shared, id)?;
    let (cache_id, at) = read_time(&shared, id, &options);
    result_set(&shared, &question, at, cache_id, &options)
}

/// Caches of saved-question reads are kept apart from those of questions and actions.
const SAVED_CACHE_OWNER: u64 = 1 << 62;

pub(super) async fn saved_question_result_data(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
    options: Options,
) -> ApiResult {
    if shared.saved_by_id(id).is_none() {
        return Err(ApiError::not_found(format!(
            "no saved question with id {id}"
        )));
    }
    // The cache freezes the time, and with it which issue every page reads.
    let (cache_id, at) = read_time(&shared, SAVED_CACHE_OWNER | id, &options);
    let question = saved_issue(&shared, id, at)?;
    result_set(&shared, &question, at, cache_id, &options)
}

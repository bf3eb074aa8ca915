//! Questions: `POST /parse_question` and `POST /questions`, and a question by id. What the
//! machines answer is in [`super::results`].

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use super::groups::{filter_from_group_json, structure_json};
use super::{
    ApiError, ApiResult, AppState, MAX_SECONDS, ObjectId, data, id_of, parse_body, unparsable,
};
use crate::config::{known_sensor, sensor_hash};
use crate::question::{self, Filter};
use crate::state::{self, QuestionRecord, Shared};

pub(super) async fn create_question(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let (mut selects, mut filter, query_text) = match body.get("query_text").and_then(Value::as_str)
    {
        Some(text) => {
            let question = question::parse_question(text).map_err(unparsable)?;
            (question.selects, question.filter, text.to_owned())
        }
        None => (Vec::new(), Filter::All, String::new()),
    };
    if let Some(Value::Array(items)) = body.get("selects") {
        for item in items {
            if let Some(name) = item.pointer("/sensor/name").and_then(Value::as_str) {
                selects.push(name.to_owned());
            }
        }
    }
    if let Some(group) = body.get("group").filter(|g| g.is_object()) {
        filter = Filter::And(vec![
            filter,
            filter_from_group_json(&inner, group).map_err(ApiError::bad_request)?,
        ]);
    }
    let context_group_id = id_of(body.pointer("/context_group/id")).filter(|id| *id != 0);
    if let Some(id) = context_group_id {
        let group = inner
            .group(id)
            .ok_or_else(|| ApiError::bad_request(format!("no group with id {id}")))?;
        filter = Filter::And(vec![filter, group.filter.clone()]);
    }
    let filter = state::resolve_filter(&inner.groups, filter).map_err(unparsable)?;
    for select in &selects {
        known_select(select)?;
    }
    let compiled = filter.compile().map_err(unparsable)?;
    let matching = shared
        .select(&compiled)
        .into_iter()
        .filter(|&machine| {
            shared
                .fleet()
                .get(machine as usize)
                .is_some_and(|e| e.online)
        })
        .collect();
    let id = inner.next_question_id;
    inner.next_question_id += 1;
    let record = QuestionRecord {
        id,
        query_text,
        selects,
        context_group_id,
        matching,
        created_at: now,
        expire_seconds: id_of(body.get("expire_seconds"))
            .unwrap_or(600)
            .min(MAX_SECONDS),
    };
    let response = question_json(&shared, &record);
    inner.questions.insert(id, record);
    data(response)
}

/// `POST /parse_question {"text"}`: one candidate, echoing the text (clients such as
/// Splunk's compare `question_text` with what they sent), with the group the filter becomes.
pub(super) async fn parse_question(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("parse_question needs \"text\""))?;
    let question = question::parse_question(text).map_err(unparsable)?;
    let filter = {
        let inner = shared.lock();
        state::resolve_filter(&inner.groups, question.filter).map_err(unparsable)?
    };
    filter.compile().map_err(unparsable)?;
    let mut references = Vec::new();
    let mut selects = Vec::new();
    for select in &question.selects {
        let name = known_select(select)?;
        let start = text.to_lowercase().find(&name.to_lowercase()).unwrap_or(0);
        references.push(json!({ "name": name, "real_ms_avg": 0, "start_char": start.to_string() }));
        selects.push(json!({ "sensor": { "hash": sensor_hash(name), "id": crate::config::sensor_id(name), "name": name } }));
    }
    let mut candidate = json!({
        "question_text": text.trim(),
        "selects": selects,
        "sensor_references": references,
        "from_canonical_text": 1,
        "parameter_values": [],
    });
    if filter != Filter::All {
        candidate["group"] = structure_json(&filter);
    }
    data(json!([candidate]))
}

/// The simulator's name of a sensor a question selects, or a 400 naming the unknown one.
fn known_select(select: &str) -> Result<&'static str, ApiError> {
    known_sensor(select).ok_or_else(|| ApiError::bad_request(format!("unknown sensor '{select}'")))
}

fn question_json(shared: &Shared, question: &QuestionRecord) -> Value {
    json!({
        "id": question.id,
        "query_text": question.query_text,
        "expire_seconds": question.expire_seconds,
        "expiration": shared.clock.iso(question.created_at + question.expire_seconds as f64),
        "selects": question.selects.iter().map(|name| json!({ "sensor": { "name": name, "hash": sensor_hash(name) } })).collect::<Vec<_>>(),
        "context_group": { "id": question.context_group_id.unwrap_or(0) },
        "skip_lock_flag": false,
        "force_computer_id_flag": false,
        "saved_question": { "id": 0 },
    })
}

pub(super) async fn question_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    let inner = shared.lock();
    let question = inner
        .questions
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))?;
    data(question_json(&shared, question))
}

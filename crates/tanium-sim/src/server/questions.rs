//! Questions: `POST /parse_question` and `POST /questions`, and a question by id. What the
//! machines answer is in [`super::question_results`].
//!
//! `POST /questions` takes the three forms clients send: `{"query_text": "Get ... from all
//! machines [with ...]"}`; a candidate of `parse_question` (its `selects` and `group`); and
//! hand-built `selects`, each naming its sensor by `name`, `hash` (or `source_hash`) or `id`,
//! with `parameters: [{"key": "||path||", "value": "..."}]` for a parameterised one, and an
//! optional `group` in the wire filter shape. `context_group: {"id"}` restricts any of them.

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use super::groups::{filter_from_group_json, structure_json};
use super::{
    ApiError, ApiResult, AppState, MAX_SECONDS, ObjectId, data, id_of, parse_body, text_of,
    unparsable,
};
use crate::question::{self, Filter};
use crate::saved::select_of;
use crate::sensors::{self, SensorDef};
use crate::state::{self, Inner, QuestionRecord, Select, Shared};

/// What a question asks, read from its body.
struct Asked {
    selects: Vec<Select>,
    filter: Filter,
    query_text: String,
}

fn unknown_sensor(reason: String) -> ApiError {
    ApiError::bad_request(format!("Could not parse question: {reason}"))
}

fn read_question(inner: &Inner, body: &Value) -> Result<Asked, ApiError> {
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.trim().is_empty())
    };
    let structured = body
        .get("selects")
        .and_then(Value::as_array)
        .filter(|selects| !selects.is_empty());
    let mut asked = match (structured, text("query_text")) {
        (Some(items), _) => Asked {
            selects: items
                .iter()
                .map(select_from_json)
                .collect::<Result<_, _>>()?,
            filter: Filter::All,
            query_text: text("query_text")
                .or_else(|| text("question_text"))
                .unwrap_or_default()
                .to_owned(),
        },
        (None, Some(query_text)) => {
            let parsed = question::parse_question(query_text).map_err(unparsable)?;
            Asked {
                selects: parsed
                    .selects
                    .iter()
                    .map(select_of)
                    .collect::<Result<_, _>>()
                    .map_err(unknown_sensor)?,
                filter: parsed.filter,
                query_text: query_text.to_owned(),
            }
        }
        (None, None) => Asked {
            selects: Vec::new(),
            filter: Filter::All,
            query_text: String::new(),
        },
    };
    if let Some(group) = body.get("group").filter(|group| group.is_object()) {
        let from_group = match id_of(group.get("id")).filter(|id| *id != 0) {
            Some(id) if !super::groups::has_members(group) => inner
                .group(id)
                .map(|group| group.filter.clone())
                .ok_or_else(|| ApiError::bad_request(format!("no group with id {id}")))?,
            _ => filter_from_group_json(inner, group).map_err(ApiError::bad_request)?,
        };
        asked.filter = Filter::And(vec![asked.filter, from_group]);
    }
    Ok(asked)
}

/// One item of `selects`: `{"sensor": {"name" | "hash" | "source_hash" | "id", "parameters"}}`.
fn select_from_json(item: &Value) -> Result<Select, ApiError> {
    let sensor_json = item.get("sensor").unwrap_or(item);
    let name = sensor_json
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty());
    let hashes: Vec<u64> = [sensor_json.get("hash"), sensor_json.get("source_hash")]
        .into_iter()
        .filter_map(id_of)
        .collect();
    let id = id_of(sensor_json.get("id"));
    let sensor: Option<&'static SensorDef> = match (name, hashes.first(), id) {
        (Some(name), _, _) => sensors::by_name(name),
        (None, Some(_), _) => hashes.iter().find_map(|hash| sensors::by_hash(*hash)),
        (None, None, Some(id)) => sensors::by_id(id),
        (None, None, None) => {
            return Err(ApiError::bad_request(
                "a select's sensor needs a name, a hash or an id",
            ));
        }
    };
    let sensor = sensor.ok_or_else(|| {
        let what = match (name, hashes.first(), id) {
            (Some(name), _, _) => format!("'{name}'"),
            (None, Some(hash), _) => format!("with hash {hash}"),
            (_, _, id) => format!("with id {}", id.unwrap_or_default()),
        };
        unknown_sensor(format!("unknown sensor {what}"))
    })?;
    let pairs: Vec<(String, String)> = sensor_json
        .get("parameters")
        .or_else(|| item.get("parameters"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|pair| {
                    let key = pair.get("key").map(text_of).unwrap_or_default();
                    let value = pair.get("value").map(text_of).unwrap_or_default();
                    (key, value)
                })
                .collect()
        })
        .unwrap_or_default();
    let params = sensor
        .params_from_keys(&pairs)
        .map_err(ApiError::bad_request)?;
    Ok(Select { sensor, params })
}

pub(super) async fn create_question(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let Asked {
        selects,
        mut filter,
        query_text,
    } = read_question(&inner, &body)?;
    let context_group_id = id_of(body.pointer("/context_group/id")).filter(|id| *id != 0);
    if let Some(id) = context_group_id {
        let group = inner
            .group(id)
            .ok_or_else(|| ApiError::bad_request(format!("no group with id {id}")))?;
        filter = Filter::And(vec![filter, group.filter.clone()]);
    }
    let filter = state::resolve_filter(&inner.groups, filter).map_err(unparsable)?;
    let compiled = filter.compile().map_err(unparsable)?;
    let matching = shared
        .select_at(&inner, &compiled, now)
        .into_iter()
        .filter(|&machine| shared.fleet()[machine as usize].online)
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
        saved_question_id: None,
    };
    let response = question_json(&shared, &record);
    inner.questions.insert(id, record);
    data(response)
}

/// A select as the question and the candidates show it.
fn select_json(select: &Select) -> Value {
    let mut sensor = json!({
        "hash": select.sensor.hash_with(&select.params),
        "id": select.sensor.id,
        "name": select.sensor.name,
    });
    if !select.params.is_empty() {
        sensor["source_hash"] = json!(select.sensor.hash());
        sensor["parameters"] = select
            .sensor
            .params
            .iter()
            .zip(&select.params)
            .map(|(param, value)| json!({ "key": format!("||{}||", param.key), "value": value }))
            .collect();
    }
    json!({ "sensor": sensor })
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
    let mut parameter_values = Vec::new();
    for select_text in &question.selects {
        let select = select_of(select_text).map_err(unknown_sensor)?;
        let name = select.sensor.name;
        let start = text.to_lowercase().find(&name.to_lowercase()).unwrap_or(0);
        references.push(json!({ "name": name, "real_ms_avg": 0, "start_char": start.to_string() }));
        parameter_values.extend(select.params.iter().cloned());
        selects.push(select_json(&select));
    }
    let mut candidate = json!({
        "question_text": text.trim(),
        "selects": selects,
        "sensor_references": references,
        "from_canonical_text": 1,
        "parameter_values": parameter_values,
    });
    if filter != Filter::All {
        candidate["group"] = structure_json(&filter);
    }
    data(json!([candidate]))
}

pub(super) fn question_json(shared: &Shared, question: &QuestionRecord) -> Value {
    json!({
        "id": question.id,
        "query_text": question.query_text,
        "expire_seconds": question.expire_seconds,
        "expiration": shared.clock.iso(question.created_at + question.expire_seconds as f64),
        "selects": question.selects.iter().map(select_json).collect::<Vec<_>>(),
        "context_group": { "id": question.context_group_id.unwrap_or(0) },
        "skip_lock_flag": false,
        "force_computer_id_flag": false,
        "saved_question": { "id": question.saved_question_id.unwrap_or(0) },
    })
}

pub(super) async fn question_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    let question = shared
        .question_record(id, shared.clock.now())
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))?;
    data(question_json(&shared, &question))
}

/// The selects of question text, for tests of this module.
#[cfg(test)]
fn selects_of(text: &str) -> Result<Vec<Select>, String> {
    let parsed = question::parse_question(text).map_err(|error| error.to_string())?;
    parsed.selects.iter().map(select_of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_name_their_sensor_by_name_hash_or_id() {
        let file_exists = sensors::by_name("File Exists").unwrap();
        let by_hash = json!({ "sensor": { "source_hash": file_exists.hash(),
            "parameters": [{ "key": "||path||", "value": "C:\\x.exe" }] } });
        let select = select_from_json(&by_hash).unwrap();
        assert_eq!(select.sensor.name, "File Exists");
        assert_eq!(select.params, vec!["C:\\x.exe"]);
        let by_id = select_from_json(&json!({ "sensor": { "id": 3 } })).unwrap();
        assert_eq!(by_id.sensor.name, "Computer Name");
        let by_name = select_from_json(&json!({ "sensor": { "name": "custom tags" } })).unwrap();
        assert_eq!(by_name.sensor.name, "Custom Tags");
        for unknown in [
            json!({ "sensor": { "name": "Shoe Size" } }),
            json!({ "sensor": { "hash": 1 } }),
            json!({ "sensor": { "id": 999 } }),
            json!({ "sensor": {} }),
            json!({ "sensor": { "name": "File Exists", "parameters": [{ "key": "||dir||", "value": "x" }] } }),
        ] {
            assert!(select_from_json(&unknown).is_err(), "{unknown}");
        }
        let selects =
            selects_of("Get File Exists[C:\\a.txt] and Computer Name from all machines").unwrap();
        assert_eq!(selects[0].params, vec!["C:\\a.txt"]);
        assert_eq!(selects[1].sensor.name, "Computer Name");
        let json = select_json(&selects[0]);
        assert_eq!(json["sensor"]["parameters"][0]["key"], "||path||");
        assert_eq!(
            select_from_json(&json).unwrap().sensor.name,
            "File Exists",
            "a select read back"
        );
        assert!(selects_of("Get Shoe Size from all machines").is_err());
    }
}

//! Computer groups and action groups: lists, lookups by name and id, `POST /groups` from
//! text or an inline group object, and the group-object JSON a filter becomes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, AppState, ObjectId, Options, canonical_sensor, data, flag, id_of,
    list_with_cache, parse_body, text_of, unparsable,
};
use crate::question::{Clause, Filter, Operator};
use crate::sensors;
use crate::state::{self, Group, Inner, Shared};

fn filter_json(clause: &Clause, not_flag: bool) -> Value {
    let mut sensor = json!({
        "hash": sensors::name_hash(&clause.sensor),
        "id": sensors::name_id(&clause.sensor),
        "name": canonical_sensor(&clause.sensor),
    });
    if let Some(known) = sensors::by_name(&clause.sensor).filter(|_| !clause.params.is_empty()) {
        sensor["source_hash"] = json!(known.hash());
        sensor["hash"] = json!(known.hash_with(&clause.params));
        sensor["parameters"] = known
            .params
            .iter()
            .zip(&clause.params)
            .map(|(param, value)| json!({ "key": format!("||{}||", param.key), "value": value }))
            .collect();
    }
    json!({
        "operator": clause.operator.wire_name(),
        "value": clause.value,
        "value_type": "String",
        "ignore_case_flag": true,
        "not_flag": not_flag,
        "all_values_flag": false,
        "all_times_flag": false,
        "max_age_seconds": 0,
        "substring_flag": false,
        "substring_start": 0,
        "substring_length": 0,
        "delimiter": "",
        "delimiter_index": 0,
        "utf8_flag": false,
        "sensor": sensor,
    })
}

/// The group-object form of a filter: `and_flag`, `not_flag`, `filters`, `sub_groups`.
pub(super) fn structure_json(filter: &Filter) -> Value {
    fn member(filter: &Filter, filters: &mut Vec<Value>, sub_groups: &mut Vec<Value>) {
        match filter {
            Filter::Clause(clause) => filters.push(filter_json(clause, false)),
            Filter::Not(inner) => match inner.as_ref() {
                Filter::Clause(clause) => filters.push(filter_json(clause, true)),
                _ => sub_groups.push(structure_json(filter)),
            },
            other => sub_groups.push(structure_json(other)),
        }
    }
    let (and_flag, not_flag, items): (bool, bool, Vec<&Filter>) = match filter {
        Filter::All | Filter::Group(_) => (true, false, Vec::new()),
        Filter::And(items) => (true, false, items.iter().collect()),
        Filter::Or(items) => (false, false, items.iter().collect()),
        Filter::Not(inner) if !matches!(inner.as_ref(), Filter::Clause(_)) => {
            let mut inner_json = structure_json(inner);
            inner_json["not_flag"] = json!(true);
            return inner_json;
        }
        single => (true, false, vec![single]),
    };
    let mut filters = Vec::new();
    let mut sub_groups = Vec::new();
    for item in items {
        member(item, &mut filters, &mut sub_groups);
    }
    json!({ "id": 0, "and_flag": and_flag, "not_flag": not_flag, "filters": filters, "sub_groups": sub_groups })
}

fn group_json(group: &Group) -> Value {
    let structure = structure_json(&group.filter);
    let group_type = if group.action_group {
        1
    } else if group.created_by_client && group.name.is_empty() {
        3
    } else {
        0
    };
    json!({
        "id": group.id,
        "name": group.name,
        "track_computer_id_flag": 0,
        "type": group_type,
        "text": group.text,
        "sub_groups": structure["sub_groups"],
        "and_flag": structure["and_flag"],
        "not_flag": structure["not_flag"],
        "management_rights_flag": group.id == 1,
        "filter_flag": !group.action_group,
        "filters": structure["filters"],
        "deleted_flag": false,
        "content_set": { "id": 1, "name": "Reserved" },
    })
}

pub(super) async fn list_groups(State(shared): State<AppState>, options: Options) -> ApiResult {
    list_of_kind(&shared, false, &options)
}

pub(super) async fn list_action_groups(
    State(shared): State<AppState>,
    options: Options,
) -> ApiResult {
    list_of_kind(&shared, true, &options)
}

/// The filter groups, or the action groups, as a collection.
fn list_of_kind(shared: &Shared, action_group: bool, options: &Options) -> ApiResult {
    let items = shared
        .lock()
        .groups
        .iter()
        .filter(|group| group.action_group == action_group)
        .map(group_json)
        .collect();
    list_with_cache(shared, items, options)
}

pub(super) async fn group_by_name(
    State(shared): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    one_group(
        &shared,
        |group| !group.action_group && !group.name.is_empty() && group.name == name,
        || format!("no group named '{name}'"),
    )
}

pub(super) async fn group_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    one_group(
        &shared,
        |group| group.id == id,
        || format!("no group with id {id}"),
    )
}

pub(super) async fn action_group_by_name(
    State(shared): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    one_group(
        &shared,
        |group| group.action_group && group.name == name,
        || format!("no action group named '{name}'"),
    )
}

pub(super) async fn action_group_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    one_group(
        &shared,
        |group| group.id == id && group.action_group,
        || format!("no action group with id {id}"),
    )
}

/// The first group that is `wanted`, or a 404 saying what was `missing`.
fn one_group(
    shared: &Shared,
    wanted: impl Fn(&Group) -> bool,
    missing: impl FnOnce() -> String,
) -> ApiResult {
    let inner = shared.lock();
    let group = inner
        .groups
        .iter()
        .find(|group| wanted(group))
        .ok_or_else(|| ApiError::not_found(missing()))?;
    data(group_json(group))
}

/// Adds a client-made group; the text has already been resolved to `filter`.
pub(super) fn add_group(
    inner: &mut Inner,
    name: &str,
    text: &str,
    filter: Filter,
) -> Result<u64, ApiError> {
    let compiled = filter.compile().map_err(unparsable)?;
    let id = inner.next_group_id;
    inner.next_group_id += 1;
    inner.groups.push(Group {
        id,
        name: name.to_owned(),
        text: format!(" {}", text.trim()),
        filter,
        compiled,
        created_by_client: true,
        action_group: false,
    });
    Ok(id)
}

pub(super) async fn create_group(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut inner = shared.lock();
    if !name.is_empty()
        && inner
            .groups
            .iter()
            .any(|group| group.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::bad_request(format!(
            "a group named '{name}' already exists"
        )));
    }
    let (text, filter) = match body.get("text").and_then(Value::as_str) {
        Some(text) => (text.to_owned(), resolve_text(&inner, text)?),
        None if body.get("filters").is_some() || body.get("sub_groups").is_some() => {
            let filter = resolve_group_json(&inner, &body)?;
            (filter.to_string(), filter)
        }
        None => {
            return Err(ApiError::bad_request(
                "a group needs \"text\" or \"filters\"",
            ));
        }
    };
    let id = add_group(&mut inner, &name, &text, filter)?;
    let group = inner.group(id).map(group_json).unwrap_or(Value::Null);
    data(group)
}

/// Targeting text as a filter, group names expanded and sensors checked.
pub(super) fn resolve_text(inner: &Inner, text: &str) -> Result<Filter, ApiError> {
    state::resolve_text(&inner.groups, text).map_err(unparsable)
}

/// An inline group object as a filter, group names expanded and sensors checked.
pub(super) fn resolve_group_json(inner: &Inner, value: &Value) -> Result<Filter, ApiError> {
    let filter = filter_from_group_json(inner, value).map_err(ApiError::bad_request)?;
    state::resolve_filter(&inner.groups, filter).map_err(ApiError::bad_request)
}

/// Whether a group object has filters or sub-groups of its own (rather than only an id).
pub(super) fn has_members(value: &Value) -> bool {
    let non_empty = |key: &str| {
        value
            .get(key)
            .is_some_and(|list| list.as_array().is_some_and(|items| !items.is_empty()))
    };
    non_empty("filters") || non_empty("sub_groups")
}

/// Reads an inline group object (`filters`, `sub_groups`, `and_flag`, `not_flag`) back into a
/// filter, as py_tanrestapi sends for a single host.
pub(super) fn filter_from_group_json(inner: &Inner, value: &Value) -> Result<Filter, String> {
    let mut members = Vec::new();
    if let Some(Value::Array(filters)) = value.get("filters") {
        for item in filters {
            let (sensor, params) = filter_sensor(item)?;
            let operator_name = item
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("HashMatch");
            let operator = Operator::from_wire_name(operator_name).ok_or_else(|| {
                format!("filter operator '{operator_name}' is not supported by the simulator")
            })?;
            let clause = Filter::Clause(Clause {
                sensor,
                params,
                operator,
                value: item.get("value").map(text_of).unwrap_or_default(),
            });
            members.push(if flag(item.get("not_flag")) {
                Filter::Not(Box::new(clause))
            } else {
                clause
            });
        }
    }
    if let Some(Value::Array(sub_groups)) = value.get("sub_groups") {
        for sub_group in sub_groups {
            let has_content = has_members(sub_group);
            match id_of(sub_group.get("id")) {
                Some(id) if id != 0 && !has_content => {
                    let group = inner
                        .group(id)
                        .ok_or_else(|| format!("no group with id {id}"))?;
                    members.push(group.filter.clone());
                }
                _ if has_content => members.push(filter_from_group_json(inner, sub_group)?),
                _ => {}
            }
        }
    }
    let and_flag = value.get("and_flag").is_none_or(|v| flag(Some(v)));
    let combined = match members.len() {
        0 => Filter::All,
        1 => members.remove(0),
        _ if and_flag => Filter::And(members),
        _ => Filter::Or(members),
    };
    Ok(if flag(value.get("not_flag")) {
        Filter::Not(Box::new(combined))
    } else {
        combined
    })
}

/// The sensor of a wire filter: by `name`, else `hash`/`source_hash`, else `id`; with its
/// parameter values from `parameters: [{"key": "||path||", "value"}]`.
fn filter_sensor(item: &Value) -> Result<(String, Vec<String>), String> {
    let sensor = item.get("sensor").ok_or("a filter needs a sensor")?;
    let name = sensor
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty());
    let known = match name {
        Some(name) => sensors::by_name(name),
        None => [sensor.get("hash"), sensor.get("source_hash")]
            .into_iter()
            .filter_map(id_of)
            .find_map(sensors::by_hash)
            .or_else(|| id_of(sensor.get("id")).and_then(sensors::by_id)),
    };
    let name = match (name, known) {
        (Some(name), _) => name.to_owned(),
        (None, Some(known)) => known.name.to_owned(),
        (None, None) => {
            return Err("a filter needs sensor.name (or the hash or id of a sensor)".to_owned());
        }
    };
    let pairs: Vec<(String, String)> = sensor
        .get("parameters")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|pair| {
                    (
                        pair.get("key").map(text_of).unwrap_or_default(),
                        pair.get("value").map(text_of).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let params = match known {
        Some(known) if !pairs.is_empty() => known.params_from_keys(&pairs)?,
        _ => Vec::new(),
    };
    Ok((name, params))
}

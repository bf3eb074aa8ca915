//! Actions: `POST /actions` (resolving the action and target groups), lookups by id and name,
//! the filtered list, saved actions, approvals and `action_stops`.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::groups::{add_group, has_members, resolve_group_json, resolve_text};
use super::packages::package_json;
use super::{
    ApiError, ApiResult, AppState, AuthUser, DropConnection, MAX_SECONDS, ObjectId, Options, data,
    flag, id_of, list_with_cache, parse_body, text_of,
};
use crate::config::UserDef;
use crate::question::Operator;
use crate::state::{Action, Inner, Shared, SimTime, placeholder};

fn user_json(user: &UserDef, created: &str) -> Value {
    json!({
        "id": user.id, "external_flag": 0, "name": user.name, "domain": "", "display_name": "",
        "group_id": 0, "effective_group_id": 0, "deleted_flag": false, "locked_out": 0,
        "last_login": created, "creation_time": "2024-01-02T09:00:00Z",
        "modification_time": "2024-01-02T09:00:00Z",
        "mod_user": { "id": user.id, "name": user.name, "domain": "", "display_name": "" },
    })
}

/// Who approved an action, as `approver` (`{id, name}`) on the action and its saved action:
/// the user who posted the approval or, when the simulated colleague did
/// (`auto_approve_after`), the second user, the approver. `{"id": 0, "name": ""}` while it
/// waits, and when it needed no approval.
fn approver_json(shared: &Shared, action: &Action, now: SimTime) -> Value {
    let approved = shared.approved(action, now);
    let approver = match action.approver_id {
        Some(id) => shared.user(id),
        None if action.needs_approval && approved => shared.config.users.get(1),
        None => None,
    };
    approver
        .map(|user| json!({ "id": user.id, "name": user.name }))
        .unwrap_or_else(|| json!({ "id": 0, "name": "" }))
}

fn action_json(shared: &Shared, inner: &Inner, action: &Action, now: SimTime) -> Value {
    let package = shared.package(action.package_index);
    let start = shared.action_start(action, now);
    let target = action.target_group_id.and_then(|id| inner.group(id));
    let action_group = inner.group(action.action_group_id);
    let issuer = shared.user(action.user_id);
    let approver = approver_json(shared, action, now);
    json!({
        "id": action.id,
        "name": action.name,
        "comment": action.comment,
        "target_group": match target {
            Some(group) => json!({ "id": group.id, "name": group.name, "text": group.text }),
            None => json!({ "id": 0, "name": "" }),
        },
        "action_group": json!({
            "id": action.action_group_id,
            "name": action_group.map(|g| g.name.as_str()).unwrap_or_default(),
        }),
        "package_spec": package_json(package, Some((200_000 + action.id, &action.parameters))),
        "skip_lock_flag": false,
        "expire_seconds": action.expire_seconds,
        "distribute_seconds": action.distribute_seconds,
        "creation_time": shared.clock.iso(action.created_at),
        // When it started; before, the `start_time` it was issued with, if any.
        "start_time": start.or(action.start_at).map_or_else(|| placeholder(0), |at| shared.clock.iso(at)),
        "expiration_time": shared.expiration(action, now),
        "status": shared.action_status(action, now),
        "stopped_flag": shared.stopped_at(action, now).is_some(),
        "user": issuer.map(|user| user_json(user, &shared.clock.iso(0.0))).unwrap_or(Value::Null),
        "approver": approver,
        "history_saved_question": { "id": if start.is_some() { action.history_question_id } else { 0 } },
        "saved_action": { "id": action.saved_action_id },
    })
}

fn saved_action_json(shared: &Shared, inner: &Inner, action: &Action, now: SimTime) -> Value {
    let package = shared.package(action.package_index);
    let start = shared.action_start(action, now);
    let start_text = start.map_or_else(|| "Never".to_owned(), |at| shared.clock.iso(at));
    let approver = approver_json(shared, action, now);
    json!({
        "id": action.saved_action_id,
        "name": action.name,
        "comment": action.comment,
        "status": 0,
        "issue_count": if start.is_some() { 1 } else { 0 },
        "issue_seconds": 0,
        "distribute_seconds": action.distribute_seconds,
        "expire_seconds": action.expire_seconds,
        "approved_flag": shared.approved(action, now),
        "approver": approver,
        "user": shared.user(action.user_id).map(|user| json!({ "id": user.id, "name": user.name })),
        "public_flag": false,
        "policy_flag": false,
        "start_now_flag": true,
        "start_time": shared.clock.iso(action.created_at),
        "end_time": "Never",
        "next_start_time": "Never",
        "last_start_time": start_text,
        "user_start_time": placeholder(0),
        "creation_time": shared.clock.iso(action.created_at),
        "action_group": { "id": action.action_group_id },
        "target_group": { "id": action.target_group_id.unwrap_or(0) },
        "package_spec": { "id": 200_000 + action.id, "source_id": package.id, "name": package.name },
        "last_action": {
            "id": action.id,
            "start_time": start_text,
            "target_group": { "id": action.target_group_id.unwrap_or(0) },
        },
        "action_group_name": inner.group(action.action_group_id).map(|g| g.name.clone()),
    })
}

/// Resolves `{"id": N}` / `{"name": "..."}` against action groups (falling back to filter
/// groups for ids, as some clients pass a computer group there).
fn resolve_action_group(inner: &Inner, value: Option<&Value>) -> Result<u64, ApiError> {
    let value = value
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::bad_request("action_group is required"))?;
    if let Some(id) = id_of(value.get("id")).filter(|id| *id != 0) {
        return inner
            .group(id)
            .map(|group| group.id)
            .ok_or_else(|| ApiError::bad_request(format!("no action group with id {id}")));
    }
    if let Some(name) = value.get("name").and_then(Value::as_str) {
        return inner
            .groups
            .iter()
            .find(|group| group.action_group && group.name == name)
            .map(|group| group.id)
            .ok_or_else(|| ApiError::bad_request(format!("no action group named '{name}'")));
    }
    Err(ApiError::bad_request("action_group needs an id or a name"))
}

/// Resolves the target group: an id, a name, text, or an inline filter group. Inline forms
/// become a new anonymous group, as on a real server.
fn resolve_target_group(inner: &mut Inner, value: Option<&Value>) -> Result<Option<u64>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let inline = has_members(value);
    if let Some(id) = id_of(value.get("id")).filter(|id| *id != 0)
        && !inline
    {
        return inner
            .group(id)
            .map(|group| Some(group.id))
            .ok_or_else(|| ApiError::bad_request(format!("no target group with id {id}")));
    }
    if let Some(text) = value.get("text").and_then(Value::as_str)
        && !inline
    {
        let filter = resolve_text(inner, text)?;
        return add_group(inner, "", text, filter).map(Some);
    }
    if inline {
        let filter = resolve_group_json(inner, value)?;
        let text = filter.to_string();
        return add_group(inner, "", &text, filter).map(Some);
    }
    if let Some(name) = value
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return inner
            .groups
            .iter()
            .find(|group| !group.action_group && group.name == name)
            .map(|group| Some(group.id))
            .ok_or_else(|| ApiError::bad_request(format!("no target group named '{name}'")));
    }
    Ok(None)
}

pub(super) async fn create_action(
    State(shared): State<AppState>,
    Extension(AuthUser(user_id)): Extension<AuthUser>,
    body: Bytes,
) -> ApiResult {
    // A slow server holds the request before it creates the action.
    let create_latency = shared.lock().faults.create_latency;
    if !create_latency.is_zero() {
        tokio::time::sleep(create_latency).await;
    }
    let body = parse_body(&body)?;
    let (package_index, parameters) = package_spec(&shared, body.get("package_spec"))?;
    let package = shared.package(package_index);
    let name = body.get("name").map(text_of).unwrap_or_default();
    let comment = body.get("comment").map(text_of).unwrap_or_default();
    let expire_seconds = id_of(body.get("expire_seconds"))
        .filter(|s| *s > 0)
        .unwrap_or(package.expire_seconds)
        .min(MAX_SECONDS);
    let distribute_seconds = id_of(body.get("distribute_seconds"))
        .unwrap_or(0)
        .min(MAX_SECONDS);
    let start_at = action_time(&shared, body.get("start_time"), "start_time")?;
    let end_at = action_time(&shared, body.get("expiration_time"), "expiration_time")?;
    if let (Some(start), Some(end)) = (start_at, end_at)
        && end <= start
    {
        return Err(ApiError::bad_request(
            "expiration_time must be after start_time",
        ));
    }

    let now = shared.clock.now();
    let (response, drop_after) = {
        let mut inner = shared.lock();
        let action_group_id = resolve_action_group(&inner, body.get("action_group"))?;
        let target_group_id = resolve_target_group(&mut inner, body.get("target_group"))?;
        let targeted = shared.targets(&inner, action_group_id, target_group_id, now);
        let id = inner.next_action_id;
        inner.next_action_id += 1;
        let action = Action {
            id,
            name,
            comment,
            action_group_id,
            target_group_id,
            package_index,
            parameters,
            targeted,
            created_at: now,
            approved_at: None,
            approver_id: None,
            needs_approval: shared.config.approval_required,
            stopped_at: None,
            expire_seconds,
            distribute_seconds,
            saved_action_id: 7000 + id,
            user_id,
            history_question_id: 800_000 + id,
            start_at,
            end_at,
        };
        let response = action_json(&shared, &inner, &action, now);
        inner.actions.insert(id, action);
        let drop_share = inner.faults.drop_after_create_share;
        let drop_after = drop_share > 0.0 && inner.draw() < drop_share;
        (response, drop_after)
    };
    let mut response = data(response)?;
    if drop_after {
        response.extensions_mut().insert(DropConnection);
    }
    Ok(response)
}

/// An action's `start_time` or `expiration_time` as sent (ISO 8601 with `Z` or an offset) in
/// sim time; absent, null, empty or Tanium's null date (2001-01-01) means not set.
fn action_time(
    shared: &Shared,
    value: Option<&Value>,
    key: &str,
) -> Result<Option<SimTime>, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => text.trim(),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "{key} must be a time in text"
            )));
        }
    };
    let date = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|_| ApiError::bad_request(format!("{key} is not an ISO 8601 time: '{text}'")))?
        .with_timezone(&chrono::Utc);
    if date.format("%Y-%m-%d").to_string() == "2001-01-01" {
        return Ok(None);
    }
    Ok(Some(shared.clock.at(date)))
}

/// The package an action runs (its index in the configuration) and the parameters sent,
/// each a key the package defines.
fn package_spec(
    shared: &Shared,
    spec: Option<&Value>,
) -> Result<(usize, Vec<(String, String)>), ApiError> {
    let spec = spec
        .filter(|v| v.is_object())
        .ok_or_else(|| ApiError::bad_request("package_spec is required"))?;
    let package_id = id_of(spec.get("source_id"))
        .filter(|id| *id != 0)
        .or_else(|| id_of(spec.get("id")))
        .ok_or_else(|| ApiError::bad_request("package_spec needs a source_id"))?;
    let package_index = shared
        .config
        .packages
        .iter()
        .position(|package| package.id == package_id)
        .ok_or_else(|| ApiError::bad_request(format!("no package with id {package_id}")))?;
    let package = shared.package(package_index);
    let known_keys = parameter_keys(&package.parameter_definition);
    let mut parameters = Vec::new();
    if let Some(Value::Array(items)) = spec.get("parameters") {
        for item in items {
            let key = item.get("key").map(text_of).unwrap_or_default();
            if !known_keys.contains(&key) {
                return Err(ApiError::bad_request(format!(
                    "package '{}' has no parameter '{key}' (it has: {})",
                    package.name,
                    if known_keys.is_empty() {
                        "none".to_owned()
                    } else {
                        known_keys.join(", ")
                    }
                )));
            }
            parameters.push((key, item.get("value").map(text_of).unwrap_or_default()));
        }
    }
    Ok((package_index, parameters))
}

fn parameter_keys(definition: &str) -> Vec<String> {
    if definition.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<Value>(definition)
        .ok()
        .and_then(|value| value.get("parameters").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|parameter| {
            parameter
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

pub(super) async fn action_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    one_action(
        &shared,
        |actions| actions.get(&id),
        || format!("no action with id {id}"),
        action_json,
    )
}

pub(super) async fn action_by_name(
    State(shared): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    one_action(
        &shared,
        |actions| actions.values().rev().find(|action| action.name == name),
        || format!("no action named '{name}'"),
        action_json,
    )
}

/// The action `pick` finds, rendered, or a 404 saying what was `missing`.
fn one_action(
    shared: &Shared,
    pick: impl FnOnce(&BTreeMap<u64, Action>) -> Option<&Action>,
    missing: impl FnOnce() -> String,
    render: fn(&Shared, &Inner, &Action, SimTime) -> Value,
) -> ApiResult {
    let now = shared.clock.now();
    let inner = shared.lock();
    let action = pick(&inner.actions).ok_or_else(|| ApiError::not_found(missing()))?;
    data(render(shared, &inner, action, now))
}

/// `GET /actions` with `cache_filters` on `name`, `id`, `status` or `saved_action/id`.
pub(super) async fn list_actions(State(shared): State<AppState>, options: Options) -> ApiResult {
    let mut tests = Vec::new();
    for filter in &options.cache_filters {
        let field = filter
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !matches!(
            field.as_str(),
            "name" | "id" | "status" | "saved_action/id" | "comment"
        ) {
            return Err(ApiError::bad_request(format!(
                "cache filter field '{field}' is not supported"
            )));
        }
        let operator = filter
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("Equal");
        let value = filter.get("value").map(text_of).unwrap_or_default();
        let regex = match Operator::from_wire_name(operator) {
            Some(Operator::Equal) => None,
            Some(Operator::RegexMatch) => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|error| {
                        ApiError::bad_request(format!("invalid regex in cache filter: {error}"))
                    })?,
            ),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "cache filter operator '{operator}' is not supported"
                )));
            }
        };
        tests.push((field, value, regex, flag(filter.get("not_flag"))));
    }
    let now = shared.clock.now();
    // A lookup by exact name is the common case (clients finding their own action): narrow
    // to it before rendering, so the answer does not cost time in proportion to all actions.
    let exact_name = tests
        .iter()
        .find(|(field, _, regex, negate)| field == "name" && regex.is_none() && !negate)
        .map(|(_, value, _, _)| value.clone());
    let items: Vec<Value> = {
        let inner = shared.lock();
        inner
            .actions
            .values()
            .filter(|action| exact_name.as_ref().is_none_or(|name| action.name == *name))
            .map(|action| action_json(&shared, &inner, action, now))
            .filter(|item| {
                tests.iter().all(|(field, value, regex, negate)| {
                    let actual = item
                        .pointer(&format!("/{field}"))
                        .map(text_of)
                        .unwrap_or_default();
                    let passes = match regex {
                        Some(regex) => regex.is_match(&actual),
                        None => actual == *value,
                    };
                    passes != *negate
                })
            })
            .collect()
    };
    list_with_cache(&shared, items, &options)
}

pub(super) async fn saved_action_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    one_action(
        &shared,
        |actions| actions.values().find(|action| action.saved_action_id == id),
        || format!("no saved action with id {id}"),
        saved_action_json,
    )
}

pub(super) async fn list_approvals(State(shared): State<AppState>, options: Options) -> ApiResult {
    let now = shared.clock.now();
    let items = {
        let inner = shared.lock();
        inner
            .actions
            .values()
            .filter(|action| {
                !shared.approved(action, now) && shared.stopped_at(action, now).is_none()
            })
            .map(|action| {
                json!({ "id": action.saved_action_id, "name": action.name,
                        "owner_user_id": action.user_id, "approved_flag": false })
            })
            .collect()
    };
    list_with_cache(&shared, items, &options)
}

/// `POST /saved_action_approvals {"id": saved_action_id, "approved_flag": 1}`: only a user
/// other than the issuer may approve.
pub(super) async fn approve(
    State(shared): State<AppState>,
    Extension(AuthUser(user_id)): Extension<AuthUser>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let saved_action_id = id_of(body.get("id"))
        .ok_or_else(|| ApiError::bad_request("approval needs the saved action id"))?;
    let approve = body.get("approved_flag").is_none_or(|v| flag(Some(v)));
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let action = inner
        .actions
        .values_mut()
        .find(|action| action.saved_action_id == saved_action_id)
        .ok_or_else(|| ApiError::not_found(format!("no saved action with id {saved_action_id}")))?;
    if action.user_id == user_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "you cannot approve an action you issued; another user with the Approve Action permission must approve it",
        ));
    }
    // A denied action (`auto_deny_after`) stays denied: the approval is not recorded.
    let denied = shared.denied_at(action, now).is_some();
    if approve && action.needs_approval && action.approved_at.is_none() && !denied {
        action.approved_at = Some(now);
        action.approver_id = Some(user_id);
    }
    let name = action.name.clone();
    let owner = action.user_id;
    let approved = shared.approved(action, now);
    data(
        json!({ "id": saved_action_id, "name": name, "owner_user_id": owner, "approved_flag": approved }),
    )
}

pub(super) async fn stop_action(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let action_id = id_of(body.pointer("/action/id"))
        .ok_or_else(|| ApiError::bad_request("an action stop needs action.id"))?;
    if !shared.stop_action(action_id) {
        return Err(ApiError::not_found(format!(
            "no action with id {action_id}"
        )));
    }
    let mut inner = shared.lock();
    let stop_id = inner.next_stop_id;
    inner.next_stop_id += 1;
    data(json!({ "id": stop_id, "action": { "id": action_id } }))
}

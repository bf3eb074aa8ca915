//! The HTTP face: axum routes for `/api/v2/...` in Tanium's shapes, `/sim/...` for
//! inspection, fault injection and authentication as middleware.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::config::{PackageDef, UserDef, sensor_hash};
use crate::question::{self, Clause, Filter, Operator};
use crate::state::{
    self, Action, Group, Inner, MachineStatus, QuestionRecord, Session, Shared, SimTime,
    placeholder,
};
use crate::{mix, unit};

/// Marks a response whose connection must be cut instead of answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// The user a request authenticated as.
#[derive(Debug, Clone, Copy)]
struct AuthUser(u64);

type AppState = Arc<Shared>;

/// An error in Tanium's shape: `{"text": "404 Item Not Found: ..."}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let line = match self.status.as_u16() {
            // Tanium's own wording, which clients (Siemplify) search for.
            404 => "404 Item Not Found".to_owned(),
            code => format!(
                "{code} {}",
                self.status.canonical_reason().unwrap_or("Error")
            ),
        };
        (
            self.status,
            Json(json!({ "text": format!("{line}: {}", self.message) })),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// Ten years: longer expiry or distribution windows are clamped.
const MAX_SECONDS: u64 = 10 * 365 * 86_400;

fn data(value: Value) -> ApiResult {
    Ok(Json(json!({ "data": value })).into_response())
}

pub(crate) fn router(shared: AppState) -> Router {
    let api = Router::new()
        .route("/session/login", post(login))
        .route("/session/validate", post(validate))
        .route("/session/logout", post(logout))
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/by-name/{name}", get(group_by_name))
        .route("/groups/{id}", get(group_by_id))
        .route("/action_groups", get(list_action_groups))
        .route("/action_groups/by-name/{name}", get(action_group_by_name))
        .route("/action_groups/{id}", get(action_group_by_id))
        .route("/packages", get(list_packages))
        .route("/packages/by-name/{name}", get(package_by_name))
        .route("/packages/{id}", get(package_by_id))
        .route("/actions", get(list_actions).post(create_action))
        .route("/actions/by-name/{name}", get(action_by_name))
        .route("/actions/{id}", get(action_by_id))
        .route("/saved_actions/{id}", get(saved_action_by_id))
        .route("/saved_action_approvals", get(list_approvals).post(approve))
        .route("/action_stops", post(stop_action))
        .route("/parse_question", post(parse_question))
        .route("/questions", post(create_question))
        .route("/questions/{id}", get(question_by_id))
        .route("/result_info/question/{id}", get(question_result_info))
        .route("/result_data/question/{id}", get(question_result_data))
        .route("/result_data/action/{id}", get(action_result_data))
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), api_layer));
    let sim = Router::new()
        .route("/actions", get(sim_actions))
        .route("/actions/{id}/stop", post(sim_stop))
        .route("/groups", get(sim_groups))
        .route("/requests", get(sim_requests))
        .route("/info", get(sim_info));
    Router::new()
        .nest("/api/v2", api)
        .nest("/sim", sim)
        .with_state(shared)
}

async fn api_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
}

// ---------------------------------------------------------------------------------------
// Middleware: counting, faults, authentication

async fn api_layer(State(shared): State<AppState>, mut request: Request, next: Next) -> Response {
    // Inside `nest` the URI is stripped of `/api/v2`; count the path the client sent.
    let path = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(
            || request.uri().path().to_owned(),
            |uri| uri.path().to_owned(),
        );
    shared.count_request(request.method().as_str(), &path);
    let (latency, draw, faults) = {
        let mut inner = shared.lock();
        let draw = inner.draw();
        (inner.faults.latency, draw, inner.faults.clone())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut threshold = faults.drop_share;
    if draw < threshold {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(DropConnection);
        return response;
    }
    threshold += faults.rate_limit_share;
    if draw < threshold {
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "simulated rate limit").into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    }
    threshold += faults.error_share;
    if draw < threshold {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "simulated server error")
            .into_response();
    }
    // Login, validate and logout carry their own credentials in the body.
    let unauthenticated = path.ends_with("/session/login")
        || path.ends_with("/session/validate")
        || path.ends_with("/session/logout");
    if !unauthenticated {
        let header_value = request
            .headers()
            .get("session")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match authenticate(&shared, header_value.as_deref()) {
            Ok(user) => {
                request.extensions_mut().insert(AuthUser(user));
            }
            Err(error) => return error.into_response(),
        }
    }
    next.run(request).await
}

/// API tokens: 401 when unknown or refused. Login sessions: 403 when unknown or expired
/// (clients read 403 as "log in again").
fn authenticate(shared: &Shared, session: Option<&str>) -> Result<u64, ApiError> {
    let Some(session) = session.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing session header",
        ));
    };
    if session.starts_with("token-") {
        let refused = shared.lock().faults.refuse_token;
        let user = shared
            .config
            .users
            .iter()
            .find(|user| user.api_token == session);
        return match user {
            Some(user) if !refused => Ok(user.id),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "API token refused: unknown, expired, or not trusted from this address",
            )),
        };
    }
    let ttl = shared.session_ttl();
    let now = shared.clock.now();
    let inner = shared.lock();
    match inner.sessions.get(session) {
        Some(found) if ttl.is_none_or(|ttl| now - found.created_at <= ttl) => Ok(found.user_id),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "session expired")),
        None if looks_like_session(session) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, "session is not valid"))
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unrecognised session header",
        )),
    }
}

fn looks_like_session(text: &str) -> bool {
    let mut parts = text.splitn(3, '-');
    let digits = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(parts.next())
        && digits(parts.next())
        && parts.next().is_some_and(|rest| !rest.is_empty())
}

// ---------------------------------------------------------------------------------------
// Request helpers

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("request body is not valid JSON: {error}")))
}

/// Ids arrive as numbers or numeric strings (the seed sends `"id": "2543851"`).
fn id_of(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn path_id(text: &str) -> Result<u64, ApiError> {
    text.trim()
        .parse()
        .map_err(|_| ApiError::not_found(format!("'{text}' is not an object id")))
}

fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(number)) => number.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(text)) => matches!(text.trim(), "1" | "true" | "True"),
        _ => false,
    }
}

/// Value as a string: parameter values may arrive as numbers (the seed sends `50`).
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[derive(Debug, Default)]
struct Options {
    row_start: usize,
    row_count: Option<usize>,
    cache_id: Option<u64>,
    cache_filters: Vec<Value>,
}

/// Options from the `tanium-options` header, overridden by query parameters.
fn options(
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
) -> Result<Options, ApiError> {
    let mut options = Options::default();
    if let Some(raw) = headers.get("tanium-options") {
        let text = raw
            .to_str()
            .map_err(|_| ApiError::bad_request("tanium-options header is not text"))?;
        let value: Value = serde_json::from_str(text).map_err(|error| {
            ApiError::bad_request(format!("tanium-options is not JSON: {error}"))
        })?;
        options.row_start = id_of(value.get("row_start")).unwrap_or(0) as usize;
        options.row_count = id_of(value.get("row_count")).map(|count| count as usize);
        options.cache_id = id_of(value.get("cache_id"));
        if let Some(Value::Array(filters)) = value.get("cache_filters") {
            options.cache_filters = filters.clone();
        }
    }
    let number = |key: &str| query.get(key).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(start) = number("row_start") {
        options.row_start = start as usize;
    }
    if let Some(count) = number("row_count") {
        options.row_count = Some(count as usize);
    }
    if let Some(cache) = number("cache_id") {
        options.cache_id = Some(cache);
    }
    Ok(options)
}

fn page<T>(items: Vec<T>, options: &Options) -> Vec<T> {
    let count = options
        .row_count
        .filter(|count| *count > 0)
        .unwrap_or(usize::MAX);
    items
        .into_iter()
        .skip(options.row_start)
        .take(count)
        .collect()
}

type QueryMap = Query<std::collections::HashMap<String, String>>;

// ---------------------------------------------------------------------------------------
// JSON shapes

fn user_json(user: &UserDef, created: &str) -> Value {
    json!({
        "id": user.id, "external_flag": 0, "name": user.name, "domain": "", "display_name": "",
        "group_id": 0, "effective_group_id": 0, "deleted_flag": false, "locked_out": 0,
        "last_login": created, "creation_time": "2024-01-02T09:00:00Z",
        "modification_time": "2024-01-02T09:00:00Z",
        "mod_user": { "id": user.id, "name": user.name, "domain": "", "display_name": "" },
    })
}

fn filter_json(clause: &Clause, not_flag: bool) -> Value {
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
        "sensor": {
            "hash": sensor_hash(&clause.sensor),
            "id": crate::config::sensor_id(&clause.sensor),
            "name": canonical_sensor(&clause.sensor),
        },
    })
}

/// The group-object form of a filter: `and_flag`, `not_flag`, `filters`, `sub_groups`.
fn structure_json(filter: &Filter) -> Value {
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

fn package_json(package: &PackageDef, derived: Option<(u64, &[(String, String)])>) -> Value {
    let (id, source_id) = match derived {
        Some((derived_id, _)) => (derived_id, package.id),
        None => (package.id, 0),
    };
    let mut command = package.command.clone();
    if let Some((_, parameters)) = derived {
        // Substitute longest keys first so `$10` is not read as `$1` then `0`.
        let mut sorted: Vec<&(String, String)> = parameters.iter().collect();
        sorted.sort_by_key(|(key, _)| std::cmp::Reverse(key.len()));
        for (key, value) in sorted {
            command = command.replace(key.as_str(), value);
        }
    }
    let mut value = json!({
        "id": id,
        "content_set": { "id": 6, "name": package.content_set },
        "name": package.name,
        "display_name": package.name,
        "creation_time": "2024-01-02T09:00:00Z",
        "modification_time": "2024-01-02T09:00:00Z",
        "last_modified_by": "taniumconsole",
        "mod_user": { "id": 2, "name": "taniumconsole", "domain": "", "display_name": "" },
        "command": command,
        "command_timeout": package.command_timeout,
        "expire_seconds": package.expire_seconds,
        "verify_expire_seconds": if package.verify_group_id != 0 { 3600 } else { 600 },
        "skip_lock_flag": false,
        "hidden_flag": derived.is_some(),
        "process_group_flag": true,
        "available_time": "2024-01-02T09:00:05Z",
        "deleted_flag": false,
        "last_update": "2024-01-02T09:00:00Z",
        "source_id": source_id,
        "source_hash": format!("{:016x}{:016x}", mix(package.id, 1), mix(package.id, 2)),
        "source_hash_changed_flag": false,
        "verify_group_id": package.verify_group_id,
        "verify_group": { "id": package.verify_group_id },
        "files": [],
    });
    match derived {
        Some((_, parameters)) => {
            value["parameters"] = parameters
                .iter()
                .map(|(key, value)| json!({ "key": key, "value": value, "type": 0 }))
                .collect();
        }
        None => {
            value["parameter_definition"] = json!(package.parameter_definition);
        }
    }
    value
}

fn action_json(shared: &Shared, inner: &Inner, action: &Action, now: SimTime) -> Value {
    let package = shared.package(action.package_index);
    let start = shared.action_start(action, now);
    let target = action.target_group_id.and_then(|id| inner.group(id));
    let action_group = inner.group(action.action_group_id);
    let issuer = shared.user(action.user_id);
    let approver = action
        .approver_id
        .or_else(|| start.is_some().then_some(0))
        .and_then(|id| shared.user(id))
        .map(|user| json!({ "id": user.id, "name": user.name }))
        .unwrap_or_else(|| json!({ "id": 0, "name": "" }));
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
        "start_time": start.map_or_else(|| placeholder(0), |at| shared.clock.iso(at)),
        "expiration_time": shared.expiration(action, now),
        "status": shared.action_status(action, now),
        "stopped_flag": action.stopped_at.is_some(),
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
    let approver = action
        .approver_id
        .and_then(|id| shared.user(id))
        .map(|user| json!({ "id": user.id, "name": user.name }))
        .unwrap_or_else(|| json!({ "id": 0, "name": "" }));
    json!({
        "id": action.saved_action_id,
        "name": action.name,
        "comment": action.comment,
        "status": 0,
        "issue_count": if start.is_some() { 1 } else { 0 },
        "issue_seconds": 0,
        "distribute_seconds": action.distribute_seconds,
        "expire_seconds": action.expire_seconds,
        "approved_flag": start.is_some(),
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

/// The trailing cache-info object of collection answers.
fn cache_info(shared: &Shared, cache_id: u64, page_rows: usize, total: usize) -> Value {
    json!({
        "cache_id": cache_id,
        "page_row_count": page_rows,
        "filtered_row_count": total,
        "cache_row_count": total,
        "expiration": shared.clock.iso(shared.clock.now() + 600.0),
    })
}

fn list_with_cache(shared: &Shared, items: Vec<Value>, options: &Options) -> ApiResult {
    let total = items.len();
    let mut paged = page(items, options);
    let cache_id = options.cache_id.unwrap_or_else(|| {
        let now = shared.clock.now();
        shared.lock().new_cache(0, now)
    });
    let page_rows = paged.len();
    paged.push(cache_info(shared, cache_id, page_rows, total));
    data(Value::Array(paged))
}

// ---------------------------------------------------------------------------------------
// Sessions

async fn login(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let username = body
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(user) = shared
        .config
        .users
        .iter()
        .find(|user| user.name == username && user.password == password)
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid username or password",
        ));
    };
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let number = inner.next_session;
    inner.next_session += 1;
    let hex = format!(
        "{:016x}{:016x}",
        mix(shared.config.seed, number),
        mix(number, user.id)
    );
    let session = format!("{}-{}-{hex}", user.id, 200 + number);
    inner.sessions.insert(
        session.clone(),
        Session {
            user_id: user.id,
            created_at: now,
        },
    );
    data(json!({ "session": session }))
}

async fn validate(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let session = body
        .get("session")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("session")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    authenticate(&shared, session.as_deref())?;
    data(json!({ "session": session.unwrap_or_default() }))
}

async fn logout(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let session = body
        .get("session")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("session")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    shared.lock().sessions.remove(&session);
    data(json!({ "session": session }))
}

// ---------------------------------------------------------------------------------------
// Groups

async fn list_groups(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let options = options(&headers, &query)?;
    let items = shared
        .lock()
        .groups
        .iter()
        .filter(|g| !g.action_group)
        .map(group_json)
        .collect();
    list_with_cache(&shared, items, &options)
}

async fn list_action_groups(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let options = options(&headers, &query)?;
    let items = shared
        .lock()
        .groups
        .iter()
        .filter(|g| g.action_group)
        .map(group_json)
        .collect();
    list_with_cache(&shared, items, &options)
}

async fn group_by_name(State(shared): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let inner = shared.lock();
    let group = inner
        .groups
        .iter()
        .find(|group| !group.action_group && !group.name.is_empty() && group.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no group named '{name}'")))?;
    data(group_json(group))
}

async fn group_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let inner = shared.lock();
    let group = inner
        .group(id)
        .ok_or_else(|| ApiError::not_found(format!("no group with id {id}")))?;
    data(group_json(group))
}

async fn action_group_by_name(
    State(shared): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    let inner = shared.lock();
    let group = inner
        .groups
        .iter()
        .find(|group| group.action_group && group.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no action group named '{name}'")))?;
    data(group_json(group))
}

async fn action_group_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let inner = shared.lock();
    let group = inner
        .group(id)
        .filter(|group| group.action_group)
        .ok_or_else(|| ApiError::not_found(format!("no action group with id {id}")))?;
    data(group_json(group))
}

/// Adds a client-made group; the text has already been resolved to `filter`.
fn add_group(
    shared: &Shared,
    inner: &mut Inner,
    name: &str,
    text: &str,
    filter: Filter,
) -> Result<u64, ApiError> {
    let compiled = filter.compile().map_err(|error| {
        ApiError::bad_request(format!("Could not parse question text: {error}"))
    })?;
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
    let _ = shared;
    Ok(id)
}

async fn create_group(State(shared): State<AppState>, body: Bytes) -> ApiResult {
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
        Some(text) => {
            let filter = state::resolve_text(&inner.groups, text).map_err(|reason| {
                ApiError::bad_request(format!("Could not parse question text: {reason}"))
            })?;
            (text.to_owned(), filter)
        }
        None if body.get("filters").is_some() || body.get("sub_groups").is_some() => {
            let filter = filter_from_group_json(&inner, &body).map_err(ApiError::bad_request)?;
            let filter =
                state::resolve_filter(&inner.groups, filter).map_err(ApiError::bad_request)?;
            (filter.to_string(), filter)
        }
        None => {
            return Err(ApiError::bad_request(
                "a group needs \"text\" or \"filters\"",
            ));
        }
    };
    let id = add_group(&shared, &mut inner, &name, &text, filter)?;
    let group = inner.group(id).map(group_json).unwrap_or(Value::Null);
    data(group)
}

/// Reads an inline group object (`filters`, `sub_groups`, `and_flag`, `not_flag`) back into a
/// filter, as py_tanrestapi sends for a single host.
fn filter_from_group_json(inner: &Inner, value: &Value) -> Result<Filter, String> {
    let mut members = Vec::new();
    if let Some(Value::Array(filters)) = value.get("filters") {
        for item in filters {
            let sensor = item
                .pointer("/sensor/name")
                .and_then(Value::as_str)
                .ok_or("a filter needs sensor.name")?;
            let operator_name = item
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("HashMatch");
            let operator = Operator::from_wire_name(operator_name).ok_or_else(|| {
                format!("filter operator '{operator_name}' is not supported by the simulator")
            })?;
            let clause = Filter::Clause(Clause {
                sensor: sensor.to_owned(),
                params: Vec::new(),
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
            let has_content = sub_group
                .get("filters")
                .is_some_and(|f| f.as_array().is_some_and(|a| !a.is_empty()))
                || sub_group
                    .get("sub_groups")
                    .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
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

// ---------------------------------------------------------------------------------------
// Packages

async fn list_packages(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let options = options(&headers, &query)?;
    let items = shared
        .config
        .packages
        .iter()
        .map(|p| package_json(p, None))
        .collect();
    list_with_cache(&shared, items, &options)
}

async fn package_by_name(State(shared): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let package = shared
        .config
        .packages
        .iter()
        .find(|package| package.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no package named '{name}'")))?;
    data(package_json(package, None))
}

async fn package_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let package = shared
        .config
        .packages
        .iter()
        .find(|package| package.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no package with id {id}")))?;
    data(package_json(package, None))
}

// ---------------------------------------------------------------------------------------
// Actions

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
fn resolve_target_group(
    inner: &mut Inner,
    shared: &Shared,
    value: Option<&Value>,
) -> Result<Option<u64>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let inline = value
        .get("filters")
        .is_some_and(|f| f.as_array().is_some_and(|a| !a.is_empty()))
        || value
            .get("sub_groups")
            .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
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
        let filter = state::resolve_text(&inner.groups, text).map_err(|reason| {
            ApiError::bad_request(format!("Could not parse question text: {reason}"))
        })?;
        return add_group(shared, inner, "", text, filter).map(Some);
    }
    if inline {
        let filter = filter_from_group_json(inner, value).map_err(ApiError::bad_request)?;
        let filter = state::resolve_filter(&inner.groups, filter).map_err(ApiError::bad_request)?;
        let text = filter.to_string();
        return add_group(shared, inner, "", &text, filter).map(Some);
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

async fn create_action(
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
    let spec = body
        .get("package_spec")
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
    let name = body.get("name").map(text_of).unwrap_or_default();
    let comment = body.get("comment").map(text_of).unwrap_or_default();
    let expire_seconds = id_of(body.get("expire_seconds"))
        .filter(|s| *s > 0)
        .unwrap_or(package.expire_seconds)
        .min(MAX_SECONDS);
    let distribute_seconds = id_of(body.get("distribute_seconds"))
        .unwrap_or(0)
        .min(MAX_SECONDS);

    let now = shared.clock.now();
    let (response, drop_after) = {
        let mut inner = shared.lock();
        let action_group_id = resolve_action_group(&inner, body.get("action_group"))?;
        let target_group_id = resolve_target_group(&mut inner, &shared, body.get("target_group"))?;
        let mut targeted = inner
            .group(action_group_id)
            .map(|group| shared.select(&group.compiled))
            .unwrap_or_default();
        if let Some(target) = target_group_id.and_then(|id| inner.group(id)) {
            let compiled = target.compiled.clone();
            targeted.retain(|&machine| {
                shared
                    .fleet()
                    .get(machine as usize)
                    .is_some_and(|endpoint| compiled.matches(endpoint))
            });
        }
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

async fn action_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let now = shared.clock.now();
    let inner = shared.lock();
    let action = inner
        .actions
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no action with id {id}")))?;
    data(action_json(&shared, &inner, action, now))
}

async fn action_by_name(State(shared): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let now = shared.clock.now();
    let inner = shared.lock();
    let action = inner
        .actions
        .values()
        .rev()
        .find(|action| action.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no action named '{name}'")))?;
    data(action_json(&shared, &inner, action, now))
}

/// `GET /actions` with `cache_filters` on `name`, `id`, `status` or `saved_action/id`.
async fn list_actions(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let options = options(&headers, &query)?;
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

async fn saved_action_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let now = shared.clock.now();
    let inner = shared.lock();
    let action = inner
        .actions
        .values()
        .find(|action| action.saved_action_id == id)
        .ok_or_else(|| ApiError::not_found(format!("no saved action with id {id}")))?;
    data(saved_action_json(&shared, &inner, action, now))
}

async fn list_approvals(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let options = options(&headers, &query)?;
    let now = shared.clock.now();
    let items = {
        let inner = shared.lock();
        inner
            .actions
            .values()
            .filter(|action| !shared.approved(action, now) && action.stopped_at.is_none())
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
async fn approve(
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
    if approve && action.needs_approval && action.approved_at.is_none() {
        action.approved_at = Some(now);
        action.approver_id = Some(user_id);
    }
    let name = action.name.clone();
    let owner = action.user_id;
    let approved = action.approved_at.is_some() || !action.needs_approval;
    data(
        json!({ "id": saved_action_id, "name": name, "owner_user_id": owner, "approved_flag": approved }),
    )
}

async fn stop_action(State(shared): State<AppState>, body: Bytes) -> ApiResult {
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

// ---------------------------------------------------------------------------------------
// Questions

async fn create_question(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let (mut selects, mut filter, query_text) = match body.get("query_text").and_then(Value::as_str)
    {
        Some(text) => {
            let question = question::parse_question(text).map_err(|error| {
                ApiError::bad_request(format!("Could not parse question text: {error}"))
            })?;
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
    let filter = state::resolve_filter(&inner.groups, filter).map_err(|reason| {
        ApiError::bad_request(format!("Could not parse question text: {reason}"))
    })?;
    for select in &selects {
        if !crate::config::SENSORS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(select.trim()))
        {
            return Err(ApiError::bad_request(format!("unknown sensor '{select}'")));
        }
    }
    let compiled = filter.compile().map_err(|error| {
        ApiError::bad_request(format!("Could not parse question text: {error}"))
    })?;
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
async fn parse_question(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("parse_question needs \"text\""))?;
    let question = question::parse_question(text).map_err(|error| {
        ApiError::bad_request(format!("Could not parse question text: {error}"))
    })?;
    let filter = {
        let inner = shared.lock();
        state::resolve_filter(&inner.groups, question.filter).map_err(|reason| {
            ApiError::bad_request(format!("Could not parse question text: {reason}"))
        })?
    };
    filter.compile().map_err(|error| {
        ApiError::bad_request(format!("Could not parse question text: {error}"))
    })?;
    let mut references = Vec::new();
    let mut selects = Vec::new();
    for select in &question.selects {
        let name = canonical_sensor(select);
        if !crate::config::SENSORS.contains(&name) {
            return Err(ApiError::bad_request(format!("unknown sensor '{select}'")));
        }
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

async fn question_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let inner = shared.lock();
    let question = inner
        .questions
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))?;
    data(question_json(&shared, question))
}

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

async fn question_result_info(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let now = shared.clock.now();
    let question = shared
        .lock()
        .questions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))?;
    let counts = question_counts(&shared, &question, now);
    let rows = if question.selects.is_empty() {
        0
    } else {
        counts.passed
    };
    let info = question_base(&shared, &question, &counts, now, rows);
    data(json!({ "result_infos": [info] }))
}

fn now_text(shared: &Shared, at: SimTime) -> String {
    shared
        .clock
        .date(at)
        .format("%Y/%m/%d %H:%M:%S GMT-0000")
        .to_string()
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

async fn question_result_data(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let id = path_id(&id)?;
    let options = options(&headers, &query)?;
    let question = shared
        .lock()
        .questions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no question with id {id}")))?;
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
            .map(|(cells, count, first_machine)| {
                let mut data: Vec<Value> = cells
                    .into_iter()
                    .map(|text| json!([{ "text": text }]))
                    .collect();
                data.push(json!([{ "text": count.to_string() }]));
                json!({
                    "id": mix(question.id, u64::from(first_machine)) % (1 << 32),
                    "cid": mix(shared.config.seed, u64::from(first_machine)) % (1 << 32),
                    "data": data,
                })
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
    data(
        json!({ "now": now_text(&shared, at), "max_available_age": "", "result_sets": [result_set] }),
    )
}

fn canonical_sensor(name: &str) -> &str {
    crate::config::SENSORS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name.trim()))
        .copied()
        .unwrap_or(name)
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
async fn action_result_data(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): QueryMap,
) -> ApiResult {
    let id = path_id(&id)?;
    let options = options(&headers, &query)?;
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
            Some(json!({
                "id": mix(action.id ^ (status as u64) << 40, u64::from(machine)) % (1 << 32),
                "cid": mix(shared.config.seed, u64::from(machine)) % (1 << 32),
                "data": [
                    [{ "text": endpoint.computer_name }],
                    [{ "text": format!("{}:{}.", action.id, status.word()) }],
                    [{ "text": "1" }],
                ],
            }))
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
    data(
        json!({ "now": now_text(&shared, at), "max_available_age": "", "result_sets": [result_set] }),
    )
}

// ---------------------------------------------------------------------------------------
// /sim: inspection for tests

async fn sim_actions(State(shared): State<AppState>) -> Json<Value> {
    Json(json!(shared.issued_actions()))
}

async fn sim_groups(State(shared): State<AppState>) -> Json<Value> {
    Json(json!(shared.created_groups()))
}

async fn sim_requests(State(shared): State<AppState>) -> Json<Value> {
    Json(json!(shared.request_counts()))
}

async fn sim_stop(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    if shared.stop_action(id) {
        Ok(Json(json!({ "stopped": id })).into_response())
    } else {
        Err(ApiError::not_found(format!("no action with id {id}")))
    }
}

async fn sim_info(State(shared): State<AppState>) -> Json<Value> {
    let user = shared.config.users.first();
    Json(json!({
        "simulator": true,
        "api_token": user.map(|u| u.api_token.clone()),
        "username": user.map(|u| u.name.clone()),
        "time_scale": shared.config.time_scale,
        "approval_required": shared.config.approval_required,
        "fleet_size": shared.fleet().len(),
        "online": shared.online_count,
    }))
}

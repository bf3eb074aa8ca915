//! The HTTP face: axum routes for `/api/v2/...` in Tanium's shapes, `/sim/...` for
//! inspection, fault injection and authentication as middleware.
//!
//! This file holds the router, Tanium's error shape and the request helpers every handler
//! shares (body, ids, flags, paging options, collections with their cache-info object). The
//! handlers live one file per area:
//! - `middleware`: request counting, injected faults, authentication;
//! - `sessions`: `session/login|validate|logout`;
//! - `groups`: computer and action groups, and the group-object JSON of a filter;
//! - `packages`: packages, plain and as an action's derived package spec;
//! - `actions`: actions, saved actions, approvals and action stops;
//! - `questions`: `parse_question` and `questions`;
//! - `question_results`: `result_info` and `result_data` of questions and saved questions;
//! - `results`: `result_data` of actions, and the rows and envelope every result set shares;
//! - `sensors`: the sensor catalogue by name and id;
//! - `saved_questions`: saved questions by name and id;
//! - `status`: `system_status`, the registered clients and when each last registered;
//! - `inspection`: `/sim/...`, what tests read and the operator's stop.

mod actions;
mod groups;
mod inspection;
mod middleware;
mod packages;
mod question_results;
mod questions;
mod results;
mod saved_questions;
mod sensors;
mod sessions;
mod status;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::Shared;

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
        .route("/session/login", post(sessions::login))
        .route("/session/validate", post(sessions::validate))
        .route("/session/logout", post(sessions::logout))
        .route(
            "/groups",
            get(groups::list_groups).post(groups::create_group),
        )
        .route("/groups/by-name/{name}", get(groups::group_by_name))
        .route("/groups/{id}", get(groups::group_by_id))
        .route("/action_groups", get(groups::list_action_groups))
        .route(
            "/action_groups/by-name/{name}",
            get(groups::action_group_by_name),
        )
        .route("/action_groups/{id}", get(groups::action_group_by_id))
        .route("/packages", get(packages::list_packages))
        .route("/packages/by-name/{name}", get(packages::package_by_name))
        .route("/packages/{id}", get(packages::package_by_id))
        .route(
            "/actions",
            get(actions::list_actions).post(actions::create_action),
        )
        .route("/actions/by-name/{name}", get(actions::action_by_name))
        .route("/actions/{id}", get(actions::action_by_id))
        .route("/saved_actions/{id}", get(actions::saved_action_by_id))
        .route(
            "/saved_action_approvals",
            get(actions::list_approvals).post(actions::approve),
        )
        .route("/action_stops", post(actions::stop_action))
        .route("/parse_question", post(questions::parse_question))
        .route("/questions", post(questions::create_question))
        .route("/questions/{id}", get(questions::question_by_id))
        .route(
            "/result_info/question/{id}",
            get(question_results::question_result_info),
        )
        .route(
            "/result_data/question/{id}",
            get(question_results::question_result_data),
        )
        .route(
            "/result_info/saved_question/{id}",
            get(question_results::saved_question_result_info),
        )
        .route(
            "/result_data/saved_question/{id}",
            get(question_results::saved_question_result_data),
        )
        .route("/sensors", get(sensors::list_sensors))
        .route("/sensors/by-name/{name}", get(sensors::sensor_by_name))
        .route("/sensors/{id}", get(sensors::sensor_by_id))
        .route(
            "/saved_questions",
            get(saved_questions::list_saved_questions),
        )
        .route(
            "/saved_questions/by-name/{name}",
            get(saved_questions::saved_question_by_name),
        )
        .route(
            "/saved_questions/{id}",
            get(saved_questions::saved_question_by_id),
        )
        .route("/result_data/action/{id}", get(results::action_result_data))
        .route("/system_status", get(status::system_status))
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            middleware::api_layer,
        ));
    let sim = Router::new()
        .route("/actions", get(inspection::sim_actions))
        .route("/actions/{id}/stop", post(inspection::sim_stop))
        .route("/groups", get(inspection::sim_groups))
        .route("/requests", get(inspection::sim_requests))
        .route("/info", get(inspection::sim_info))
        .route("/fleet", get(inspection::sim_fleet));
    Router::new()
        .nest("/api/v2", api)
        .nest("/sim", sim)
        .with_state(shared)
}

async fn api_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
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

/// The numeric id at the end of a route such as `/actions/{id}`; any other text is a 404.
#[derive(Debug, Clone, Copy)]
struct ObjectId(u64);

impl<S: Send + Sync> FromRequestParts<S> for ObjectId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        path_id(&text)
            .map(ObjectId)
            .map_err(IntoResponse::into_response)
    }
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

/// Paging and filtering of a read: the `tanium-options` header, overridden by the query
/// parameters `row_start`, `row_count` and `cache_id`.
#[derive(Debug, Default)]
struct Options {
    row_start: usize,
    row_count: Option<usize>,
    cache_id: Option<u64>,
    cache_filters: Vec<Value>,
    /// `row_counts_only_flag`: action results as counts by status only.
    row_counts_only: bool,
}

impl Options {
    fn read(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<Options, ApiError> {
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
            options.row_counts_only = flag(value.get("row_counts_only_flag"));
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
        if let Some(only) = query.get("row_counts_only_flag") {
            options.row_counts_only = flag(Some(&Value::String(only.clone())));
        }
        Ok(options)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Options {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Options::read(&parts.headers, &query).map_err(IntoResponse::into_response)
    }
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

/// The simulator's spelling of a sensor it knows, or the name as written.
fn canonical_sensor(name: &str) -> &str {
    crate::sensors::by_name(name).map_or(name, |sensor| sensor.name)
}

/// The 400 of text that does not parse or names what does not exist, in Tanium's words.
fn unparsable(reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Could not parse question text: {reason}"))
}

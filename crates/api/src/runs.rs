//! `/api/v1/runs`: list (filters and cursor paging), start (with `Idempotency-Key`), show, and
//! cancel (optionally stopping the run's Tanium actions). Events are in [`crate::events`].

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use indexmap::IndexMap;
use runbook_engine::{RecordedStatus, Store as _};
use runbook_store::{Action, CancelOutcome, NewAuditEntry, RunKey, RunPage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::body::{JsonBody, parse_json, read_body};
use crate::error::{ApiError, ErrorBody};
use crate::start::{Started, start_run};
use crate::state::Api;

/// How long an `Idempotency-Key` of `POST /api/v1/runs` returns the first run.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LENGTH: usize = 255;

/// Runs per page unless `limit` says otherwise, and the most a page holds.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// Filters of `GET /api/v1/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// queued, running, succeeded, failed, cancelled or interrupted.
    pub status: Option<String>,
    /// A playbook's `name:`.
    pub playbook: Option<String>,
    /// Runs started at or after this time: RFC 3339 (`2026-12-01T00:00:00Z`) or a duration back
    /// from now (`24h`, `7d`).
    pub since: Option<String>,
    /// Runs per page (default 50, at most 500).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One run in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunItem {
    pub run_id: String,
    pub playbook: String,
    pub status: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// `api:<token>`, `hook:<trigger>`, `schedule:<name>`, `run:<user>`, ...
    pub started_by: String,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunItem>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// The body of `POST /api/v1/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The playbook's `name:` (see `GET /api/v1/playbooks`).
    pub playbook: String,
    /// Input values by name, typed as the playbook declares them.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: IndexMap<String, Value>,
}

/// A queued run.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartAnswer {
    pub run_id: String,
    pub playbook: String,
    pub status: String,
    /// True when an `Idempotency-Key` returned the run its first use queued.
    pub replayed: bool,
}

/// The body of `POST /api/v1/runs/{id}/cancel` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Also stop the run's Tanium actions (as `runbook runs cancel --stop-actions`).
    #[serde(default)]
    pub stop_actions: bool,
}

/// What a cancel did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAnswer {
    pub run_id: String,
    pub status: String,
    /// Tanium action ids stopped (or found already ended).
    pub stopped_actions: Vec<u64>,
    /// Actions that could not be stopped, each with why.
    pub not_stopped: Vec<String>,
}

#[utoipa::path(
    operation_id = "list_runs",
    get, path = "/api/v1/runs", tag = "runs",
    params(ListQuery),
    responses(
        (status = 200, description = "Runs, newest first", body = RunList),
        (status = 400, description = "A filter that cannot be read", body = ErrorBody),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn list_runs(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<RunList>, ApiError> {
    caller.require(Action::Read)?;
    list_page(&api, &query).await.map(Json)
}

/// A page of runs as `query` asks (what `GET /api/v1/runs` and the console's runs page show):
/// keyset paging on the run id, one more row read than shown to know whether a next page is.
pub(crate) async fn list_page(api: &Api, query: &ListQuery) -> Result<RunList, ApiError> {
    if let Some(status) = &query.status
        && RecordedStatus::parse(status).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "status `{status}` is none of queued, running, succeeded, failed, cancelled, interrupted"
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let since = query.since.as_deref().map(since_text).transpose()?;
    let page = RunPage {
        status: query.status.clone(),
        playbook: query.playbook.clone(),
        since,
        before: query.cursor.clone(),
        // One more than asked: whether there is a next page.
        limit: limit + 1,
    };
    let mut listed = api.store.page_runs(&page).await?;
    let next_cursor = if listed.len() > limit as usize {
        listed.truncate(limit as usize);
        listed.last().map(|run| run.run_id.clone())
    } else {
        None
    };
    let runs = listed
        .into_iter()
        .map(|run| RunItem {
            run_id: run.run_id,
            playbook: run.playbook_name,
            status: run.status.as_str().to_owned(),
            started_at: run.started_at,
            finished_at: run.finished_at,
            error: run.error,
            started_by: run.started_by,
        })
        .collect();
    Ok(RunList { runs, next_cursor })
}

/// `since` as the store's time text: RFC 3339, or a duration back from now.
fn since_text(text: &str) -> Result<String, ApiError> {
    let time = match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.with_timezone(&chrono::Utc),
        Err(_) => {
            let back = runbook_playbook::parse_duration(text).map_err(|_| {
                ApiError::bad_request(format!(
                    "since `{text}` is neither an RFC 3339 time nor a duration such as 24h"
                ))
            })?;
            let back = chrono::TimeDelta::from_std(back)
                .map_err(|_| ApiError::bad_request(format!("since `{text}` is too far back")))?;
            chrono::Utc::now()
                .checked_sub_signed(back)
                .ok_or_else(|| ApiError::bad_request(format!("since `{text}` is too far back")))?
        }
    };
    Ok(time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

#[utoipa::path(
    operation_id = "start_run",
    post, path = "/api/v1/runs", tag = "runs",
    request_body = StartRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat with the same key (same token, within 24 hours) returns the first run")),
    responses(
        (status = 202, description = "Queued", body = StartAnswer),
        (status = 200, description = "The run this Idempotency-Key queued before", body = StartAnswer),
        (status = 400, description = "The body or a parameter cannot be read", body = ErrorBody), (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody),
        (status = 403, description = "The token's role may not do this", body = ErrorBody),
        (status = 404, description = "No such playbook is offered", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 422, description = "The inputs do not fit the playbook", body = ErrorBody),
        (status = 429, description = "Over the rate limit; see Retry-After", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn start(
    State(api): State<Arc<Api>>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(request): JsonBody<StartRequest>,
) -> Result<(StatusCode, Json<StartAnswer>), ApiError> {
    caller.require(Action::StartRun)?;
    let entry = match api.catalog.offered(&request.playbook) {
        Some(entry) => entry,
        None => return Err(not_offered(&api, &request.playbook)),
    };
    let idempotency_key = idempotency_key(&headers)?;
    let scope = format!("api:{}", caller.name);
    let key = idempotency_key.as_deref().map(|key| RunKey {
        scope: &scope,
        key,
        window: IDEMPOTENCY_WINDOW,
    });
    let (started, inputs) = start_run(
        &api,
        entry,
        &[],
        &request.inputs,
        format!("api:{}", caller.name),
        key.as_ref(),
    )
    .await?;
    let (status, run_id, replayed) = match started {
        Started::Queued(run_id) => {
            api.store
                .append_audit(&NewAuditEntry {
                    actor: caller.actor(),
                    action: "run.started".to_owned(),
                    target: Some(run_id.clone()),
                    detail: json!({
                        "playbook": entry.name,
                        "idempotency_key": idempotency_key.is_some(),
                    }),
                })
                .await?;
            (StatusCode::ACCEPTED, run_id, false)
        }
        Started::Duplicate(run_id) => {
            same_request(&api, &run_id, &entry.name, &inputs).await?;
            (StatusCode::OK, run_id, true)
        }
    };
    Ok((
        status,
        Json(StartAnswer {
            run_id,
            playbook: entry.name.clone(),
            status: "queued".to_owned(),
            replayed,
        }),
    ))
}

/// 404 for a playbook that is not offered, saying why when it exists but did not validate.
pub(crate) fn not_offered(api: &Api, name: &str) -> ApiError {
    match api.catalog.refused(name) {
        Some(entry) => ApiError::not_found(format!(
            "playbook `{name}` is not offered: {} (fix it and restart serve)",
            entry.problems.join("; ")
        )),
        None => ApiError::not_found(format!(
            "no playbook named `{name}` is offered; GET /api/v1/playbooks lists them"
        )),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LENGTH)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
            ))
        })?;
    Ok(Some(key.to_owned()))
}

/// 409 unless the run an Idempotency-Key queued first is of the same playbook with the same
/// inputs (secret inputs, sealed in the store, are not compared).
async fn same_request(
    api: &Api,
    run_id: &str,
    playbook: &str,
    inputs: &IndexMap<String, Value>,
) -> Result<(), ApiError> {
    let Some(first) = api.store.run(run_id).await? else {
        // Pruned since: nothing to compare with; the key still names that run.
        return Ok(());
    };
    let secret = |name: &str| {
        api.catalog
            .offered(playbook)
            .and_then(|entry| entry.playbook.as_deref())
            .and_then(|playbook| playbook.inputs.get(name))
            .is_some_and(|declaration| declaration.secret)
    };
    let differs = first.playbook_name != playbook
        || inputs.iter().any(|(name, value)| {
            !secret(name) && first.inputs.get(name).unwrap_or(&Value::Null) != value
        });
    if differs {
        return Err(ApiError::conflict(format!(
            "this Idempotency-Key queued run {run_id} with other inputs or another playbook; \
             use a new key for a new request"
        )));
    }
    Ok(())
}

#[utoipa::path(
    operation_id = "get_run",
    get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run id")),
    responses(
        (status = 200, description = "The run as recorded: steps, outputs, actions", body = Object),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn show_run(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(run_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Action::Read)?;
    let record = api
        .store
        .run(&run_id)
        .await?
        .ok_or_else(|| no_run(&run_id))?;
    let queue = api.store.queue_state(&run_id).await?;
    let mut value = serde_json::to_value(&record).map_err(ApiError::internal)?;
    if let (Some(map), Some(queue)) = (value.as_object_mut(), queue) {
        map.insert("queued_at".to_owned(), Value::from(queue.queued_at));
        map.insert("claimed_by".to_owned(), Value::from(queue.claimed_by));
        map.insert("heartbeat_at".to_owned(), Value::from(queue.heartbeat_at));
        map.insert("schedule_name".to_owned(), Value::from(queue.schedule_name));
    }
    Ok(Json(value))
}

pub(crate) fn no_run(run_id: &str) -> ApiError {
    ApiError::not_found(format!("no run has the id `{run_id}`"))
}

#[utoipa::path(
    operation_id = "cancel_run",
    post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "The run id")),
    request_body(content = CancelRequest, description = "Optional; `{}` when absent"),
    responses(
        (status = 200, description = "Cancelled", body = CancelAnswer),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "The run had already ended", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn cancel(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(run_id): Path<String>,
    request: Request,
) -> Result<Json<CancelAnswer>, ApiError> {
    caller.require(Action::CancelRun)?;
    let body = read_body(request, &()).await?;
    let asked: CancelRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CancelRequest::default()
    } else {
        parse_json(&body)?
    };
    cancel_as(&api, &caller, run_id, asked.stop_actions)
        .await
        .map(Json)
}

/// Cancels a run for `caller` (whose role was checked), stopping its Tanium actions when
/// asked, and audits it: the API's cancel and the console's.
pub(crate) async fn cancel_as(
    api: &Api,
    caller: &Caller,
    run_id: String,
    stop_actions: bool,
) -> Result<CancelAnswer, ApiError> {
    match api.store.cancel_run(&run_id).await? {
        CancelOutcome::NotFound => return Err(no_run(&run_id)),
        CancelOutcome::AlreadyFinished(status) => {
            return Err(ApiError::conflict(format!(
                "run {run_id} had already ended ({status}); nothing changed"
            )));
        }
        CancelOutcome::Cancelled => {}
    }
    let (stopped_actions, not_stopped) = if stop_actions {
        crate::stop::stop_actions(api, &run_id).await?
    } else {
        (Vec::new(), Vec::new())
    };
    api.store
        .append_audit(&NewAuditEntry {
            actor: caller.actor(),
            action: "run.cancelled".to_owned(),
            target: Some(run_id.clone()),
            detail: json!({
                "stop_actions": stop_actions,
                "stopped_actions": stopped_actions,
                "not_stopped": not_stopped,
            }),
        })
        .await?;
    Ok(CancelAnswer {
        run_id,
        status: "cancelled".to_owned(),
        stopped_actions,
        not_stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_times_and_durations() {
        assert_eq!(
            since_text("2026-12-01T10:00:00+01:00").expect("time"),
            "2026-12-01T09:00:00.000000Z"
        );
        let day_ago = since_text("24h").expect("duration");
        assert!(day_ago.ends_with('Z') && day_ago.len() == 27, "{day_ago}");
        assert_eq!(
            since_text("yesterday").expect_err("text").status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn idempotency_keys_are_bounded_text() {
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers).expect("none"), None);
        headers.insert("idempotency-key", "  alert-42 ".parse().expect("value"));
        assert_eq!(
            idempotency_key(&headers).expect("key").as_deref(),
            Some("alert-42")
        );
        headers.insert("idempotency-key", "x".repeat(256).parse().expect("value"));
        assert!(idempotency_key(&headers).is_err());
    }
}

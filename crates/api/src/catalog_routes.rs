//! What the API reads besides runs: the playbooks offered (and refused, with why), the
//! schedules with their next firings, the audit log (admins), `/metrics`, and `/healthz`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use runbook_store::{Action, AuditFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::Api;

/// One playbook file of `--playbooks DIR`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookItem {
    /// Its `name:` (what `POST /api/v1/runs` takes).
    pub name: String,
    /// Its file, relative to the playbooks folder.
    pub path: String,
    pub description: Option<String>,
    /// Whether runs of it may be started (it validated at start and its name is its own).
    pub offered: bool,
    /// Why it is not offered.
    pub problems: Vec<String>,
    /// Its inputs: name, type, required, secret, description, default (never a secret's).
    #[schema(value_type = Vec<Object>)]
    pub inputs: Vec<Value>,
}

#[utoipa::path(
    operation_id = "list_playbooks",
    get, path = "/api/v1/playbooks", tag = "catalog",
    responses(
        (status = 200, description = "Every playbook file of --playbooks DIR", body = Vec<PlaybookItem>),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn playbooks(
    State(api): State<Arc<Api>>,
    caller: Caller,
) -> Result<Json<Vec<PlaybookItem>>, ApiError> {
    caller.require(Action::Read)?;
    Ok(Json(playbook_items(&api)))
}

/// One input of a playbook as the API lists it (and the console's start form starts from):
/// name, type, required, secret, description, default (never a secret's).
pub(crate) fn input_json(name: &str, declaration: &runbook_playbook::InputDecl) -> Value {
    json!({
        "name": name,
        "type": declaration.input_type.as_str(),
        "required": declaration.required,
        "secret": declaration.secret,
        "description": declaration.description,
        "default": if declaration.secret { None } else { declaration.default.clone() },
    })
}

/// Every playbook file of `--playbooks DIR`, as the API lists them.
pub(crate) fn playbook_items(api: &Api) -> Vec<PlaybookItem> {
    let folder = api.catalog.folder();
    api.catalog
        .entries()
        .iter()
        .map(|entry| {
            let playbook = entry.playbook.as_deref();
            let inputs = playbook
                .map(|playbook| {
                    playbook
                        .inputs
                        .iter()
                        .map(|(name, declaration)| input_json(name, declaration))
                        .collect()
                })
                .unwrap_or_default();
            PlaybookItem {
                name: entry.name.clone(),
                path: entry
                    .path
                    .strip_prefix(folder)
                    .unwrap_or(&entry.path)
                    .display()
                    .to_string(),
                description: playbook.and_then(|playbook| playbook.description.clone()),
                offered: entry.is_offered(),
                problems: entry.problems.clone(),
                inputs,
            }
        })
        .collect()
}

/// One schedule of `--schedules FILE`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleItem {
    pub name: String,
    /// The playbook path as written in the schedules file.
    pub playbook: String,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    /// The next three firings (RFC 3339, UTC); none when disabled.
    pub next_firings: Vec<String>,
    /// The latest firing that queued a run, if any.
    pub last_fired_at: Option<String>,
    /// That firing's run: its id and status.
    #[schema(value_type = Option<Object>)]
    pub last_run: Option<Value>,
}

#[utoipa::path(
    operation_id = "list_schedules",
    get, path = "/api/v1/schedules", tag = "catalog",
    responses(
        (status = 200, description = "The schedules this process fires (empty without --schedules)", body = Vec<ScheduleItem>),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn schedules(
    State(api): State<Arc<Api>>,
    caller: Caller,
) -> Result<Json<Vec<ScheduleItem>>, ApiError> {
    caller.require(Action::Read)?;
    schedule_items(&api).await.map(Json)
}

/// The schedules of `--schedules FILE` with their next firings and last run.
pub(crate) async fn schedule_items(api: &Api) -> Result<Vec<ScheduleItem>, ApiError> {
    let Some(schedules) = &api.schedules else {
        return Ok(Vec::new());
    };
    let now = chrono::Utc::now();
    let mut items = Vec::with_capacity(schedules.file.schedules.len());
    for schedule in &schedules.file.schedules {
        let next_firings = if schedule.enabled {
            schedule
                .next_firings(now, 3)
                .into_iter()
                .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .collect()
        } else {
            Vec::new()
        };
        let last_fired_at = api
            .store
            .latest_firing(&schedule.name)
            .await?
            .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let last_run = api
            .store
            .last_run_of_schedule(&schedule.name)
            .await?
            .map(|(run_id, status)| json!({ "run_id": run_id, "status": status }));
        items.push(ScheduleItem {
            name: schedule.name.clone(),
            playbook: schedule.playbook.clone(),
            cron: schedule.cron.clone(),
            timezone: schedule.timezone.to_string(),
            enabled: schedule.enabled,
            next_firings,
            last_fired_at,
            last_run,
        });
    }
    Ok(items)
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// A token name, `hook:<trigger>` or `cli:<user>`.
    pub actor: Option<String>,
    /// `run.started`, `run.cancelled`, `approval.decided`, `token.created`, `token.revoked`,
    /// `console.signed_in`, `console.signed_out`, `webhook.accepted`, `webhook.ignored`,
    /// `webhook.refused`.
    pub action: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub remote_addr: Option<String>,
}

#[utoipa::path(
    operation_id = "list_audit",
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Vec<AuditItem>),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody), (status = 403, description = "Admins only", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn audit(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditItem>>, ApiError> {
    caller.require(Action::ReadAudit)?;
    let since = match &query.since {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    ApiError::bad_request(format!("since `{text}` is not an RFC 3339 time"))
                })?
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
        ),
        None => None,
    };
    let filter = AuditFilter {
        since,
        actor: query.actor,
        action: query.action,
        limit: Some(query.limit.unwrap_or(100).clamp(1, 1000)),
    };
    let entries = api.store.list_audit(&filter).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|entry| AuditItem {
                id: entry.id,
                at: entry.at,
                actor: entry.actor,
                action: entry.action,
                target: entry.target,
                detail: entry.detail,
                remote_addr: entry.remote_addr,
            })
            .collect(),
    ))
}

/// `/metrics` on the API's port: behind a token like every route but `/healthz` (the
/// separate `--metrics-addr` listener serves it without one, on loopback by default).
pub(crate) async fn metrics(
    State(api): State<Arc<Api>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Action::Read)?;
    Ok(runbook_serve::metrics::page(&api.runtime.metrics, &api.store).await)
}

/// `/healthz`: no token; 200 while the store answers.
pub(crate) async fn health(State(api): State<Arc<Api>>) -> impl IntoResponse {
    runbook_serve::metrics::health_answer(&api.store).await
}

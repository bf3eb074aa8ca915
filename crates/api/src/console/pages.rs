//! The console's pages: what each shows, read the way the API reads it (same store calls, same
//! checks), rendered by [`super::view`].

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use runbook_engine::{RecordedStatus, Store as _};
use runbook_store::Action;
use serde::Serialize;
use serde_json::{Value, json};

use super::session::User;
use super::view::{encoded, page, refusal};
use crate::approvals::ApprovalItem;
use crate::catalog::Entry;
use crate::catalog_routes::{input_json, playbook_items, schedule_items};
use crate::error::ApiError;
use crate::runs::{ListQuery, list_page, no_run};
use crate::state::Api;

/// The most events a run's page lists (the newest).
const EVENTS_SHOWN: u32 = 500;

/// How many ended approvals the approvals page lists.
const DECIDED_SHOWN: u32 = 50;

/// Runs per page of the runs page.
const RUNS_PER_PAGE: u32 = 50;

/// A page or its refusal as a page.
fn answer(user: &User, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|error| refusal(&error, Some(&user.context())))
}

/// `GET /`: the runs.
pub(crate) async fn home() -> Response {
    super::view::see_other("/runs")
}

/// `GET /runs`: runs newest first, filtered by status, playbook and time, paged by cursor.
pub(crate) async fn runs(
    State(api): State<Arc<Api>>,
    user: User,
    Query(mut query): Query<ListQuery>,
) -> Response {
    // An empty field of the filter form means "any".
    for field in [
        &mut query.status,
        &mut query.playbook,
        &mut query.since,
        &mut query.cursor,
    ] {
        if field.as_deref().is_some_and(|text| text.trim().is_empty()) {
            *field = None;
        }
    }
    query.limit = Some(query.limit.unwrap_or(RUNS_PER_PAGE));
    let result = async {
        user.caller.require(Action::Read)?;
        let listed = list_page(&api, &query).await?;
        let playbooks: Vec<String> = api
            .catalog
            .entries()
            .iter()
            .map(|entry| entry.name.clone())
            .collect();
        // The next page's link keeps the filters.
        let next = listed.next_cursor.as_ref().map(|cursor| {
            let mut pairs = url_pairs(&query);
            pairs.push(("cursor", cursor.clone()));
            query_text(&pairs)
        });
        Ok(page(
            StatusCode::OK,
            "runs.html",
            serde_json::json!({
                "user": user.context(),
                "nav": "runs",
                "runs": listed.runs,
                "next": next,
                "first": query.cursor.is_some().then(|| query_text(&url_pairs(&query))),
                "filter": json!({
                    "status": query.status,
                    "playbook": query.playbook,
                    "since": query.since,
                }),
                "statuses": RecordedStatus::ALL.iter().map(|status| status.as_str()).collect::<Vec<_>>(),
                "playbooks": playbooks,
            }),
        ))
    }
    .await;
    answer(&user, result)
}

/// The filters of a runs query, as query pairs (without the cursor).
fn url_pairs(query: &ListQuery) -> Vec<(&'static str, String)> {
    [
        ("status", &query.status),
        ("playbook", &query.playbook),
        ("since", &query.since),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
    .collect()
}

fn query_text(pairs: &[(&str, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encoded(value, b"")))
        .collect();
    format!("?{}", encoded.join("&"))
}

/// One step as the run page shows it.
#[derive(Debug, Serialize)]
struct StepView {
    id: String,
    kind: String,
    status: String,
    attempts: u32,
    summary: Option<String>,
    started_at: String,
    finished_at: Option<String>,
    took: Option<String>,
    error: Option<String>,
    outputs: Option<Value>,
}

/// How long from `from` to `to` (RFC 3339), for people.
fn took(from: &str, to: Option<&str>) -> Option<String> {
    let from = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let to = chrono::DateTime::parse_from_rfc3339(to?).ok()?;
    let millis = to.signed_duration_since(from).num_milliseconds().max(0);
    Some(if millis < 1000 {
        format!("{millis} ms")
    } else if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{}m {:02}s", millis / 60_000, (millis % 60_000) / 1000)
    })
}

/// `GET /runs/{id}`: the run's steps, actions, events and error; live while it goes on.
pub(crate) async fn run(
    State(api): State<Arc<Api>>,
    user: User,
    Path(run_id): Path<String>,
) -> Response {
    let result = async {
        user.caller.require(Action::Read)?;
        let record = api.store.run(&run_id).await?.ok_or_else(|| no_run(&run_id))?;
        let events = api.store.latest_events(&run_id, EVENTS_SHOWN).await?;
        // Sequences start at 1 and have no gaps: the first shown says how many are not.
        let skipped = events.first().map_or(0, |(sequence, _)| sequence - 1);
        let last_sequence = events.last().map_or(0, |(sequence, _)| *sequence);
        let events: Vec<Value> = events
            .iter()
            .map(|(sequence, stored)| {
                let mut value = serde_json::to_value(&stored.event).unwrap_or(Value::Null);
                let kind = value
                    .get("event")
                    .and_then(Value::as_str)
                    .unwrap_or("event")
                    .to_owned();
                let step = value.get("step_id").and_then(Value::as_str).map(str::to_owned);
                if let Some(map) = value.as_object_mut() {
                    map.remove("event");
                    map.remove("step_id");
                    map.remove("run_id");
                }
                json!({
                    "sequence": sequence,
                    "at": stored.recorded_at,
                    "kind": kind,
                    "step": step,
                    "detail": if value.as_object().is_some_and(|map| map.is_empty()) { Value::Null } else { value },
                })
            })
            .collect();
        let steps: Vec<StepView> = record
            .steps
            .iter()
            .map(|step| StepView {
                id: step.step_id.clone(),
                kind: step.kind.clone(),
                status: step.status.as_str().to_owned(),
                attempts: step.attempts,
                summary: step.request_summary.clone(),
                started_at: step.started_at.clone(),
                finished_at: step.finished_at.clone(),
                took: took(&step.started_at, step.finished_at.as_deref()),
                error: step.error.clone(),
                outputs: step.outputs.clone(),
            })
            .collect();
        let approvals: Vec<ApprovalItem> = {
            let mut found = Vec::new();
            for step in record.steps.iter().filter(|step| step.kind == "approve") {
                if let Some(approval) = api.store.approval(&run_id, &step.step_id).await? {
                    found.push(ApprovalItem::from(approval));
                }
            }
            found
        };
        let live = !record.status.is_final();
        Ok(page(
            StatusCode::OK,
            "run.html",
            serde_json::json!({
                "user": user.context(),
                "nav": "runs",
                "run": json!({
                    "run_id": record.run_id,
                    "playbook": record.playbook_name,
                    "status": record.status.as_str(),
                    "started_by": record.started_by,
                    "started_at": record.started_at,
                    "finished_at": record.finished_at,
                    "took": took(&record.started_at, record.finished_at.as_deref()),
                    "error": record.error,
                    "inputs": record.inputs,
                    "outputs": record.outputs,
                }),
                "steps": steps,
                "actions": record.intents,
                "approvals": approvals,
                "events": events,
                "events_skipped": skipped,
                "last_sequence": last_sequence,
                "live": live,
            }),
        ))
    }
    .await;
    answer(&user, result)
}

/// `GET /approvals`: pending gates (with what will be issued and the decision forms) and the
/// latest ended ones (who decided, when, why).
pub(crate) async fn approvals(State(api): State<Arc<Api>>, user: User) -> Response {
    let result = async {
        user.caller.require(Action::Read)?;
        let pending: Vec<ApprovalItem> = api
            .store
            .pending_approvals()
            .await?
            .into_iter()
            .map(ApprovalItem::from)
            .collect();
        let decided: Vec<Value> = api
            .store
            .decided_approvals(DECIDED_SHOWN)
            .await?
            .into_iter()
            .map(|approval| {
                let decided_at = approval.decided_at.clone();
                let mut item =
                    serde_json::to_value(ApprovalItem::from(approval)).unwrap_or_default();
                if let Some(map) = item.as_object_mut() {
                    map.insert("decided_at".to_owned(), Value::from(decided_at));
                }
                item
            })
            .collect();
        Ok(page(
            StatusCode::OK,
            "approvals.html",
            serde_json::json!({
                "user": user.context(),
                "nav": "approvals",
                "pending": pending,
                "decided": decided,
            }),
        ))
    }
    .await;
    answer(&user, result)
}

/// `GET /schedules`: each schedule's next firings and last run.
pub(crate) async fn schedules(State(api): State<Arc<Api>>, user: User) -> Response {
    let result = async {
        user.caller.require(Action::Read)?;
        let items = schedule_items(&api).await?;
        Ok(page(
            StatusCode::OK,
            "schedules.html",
            serde_json::json!({
                "user": user.context(),
                "nav": "schedules",
                "schedules": items,
                "configured": api.schedules.is_some(),
            }),
        ))
    }
    .await;
    answer(&user, result)
}

/// `GET /playbooks`: every playbook file, offered or not (with why).
pub(crate) async fn playbooks(State(api): State<Arc<Api>>, user: User) -> Response {
    let result = async {
        user.caller.require(Action::Read)?;
        Ok(page(
            StatusCode::OK,
            "playbooks.html",
            serde_json::json!({
                "user": user.context(),
                "nav": "playbooks",
                "playbooks": playbook_items(&api),
            }),
        ))
    }
    .await;
    answer(&user, result)
}

/// A value as a form field holds it: a text as it is, anything else as JSON.
fn form_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A playbook's inputs as the start form shows them (the API's listing, with the default and
/// the `enum:` choices as form text): never a secret's default.
pub(crate) fn input_fields(entry: &Entry) -> Vec<Value> {
    let Some(playbook) = entry.playbook.as_deref() else {
        return Vec::new();
    };
    playbook
        .inputs
        .iter()
        .map(|(name, declaration)| {
            let mut field = input_json(name, declaration);
            let default = match &field["default"] {
                Value::Null => None,
                value => Some(form_text(value)),
            };
            field["default"] = json!(default);
            field["choices"] = json!(
                declaration
                    .allowed
                    .as_ref()
                    .map(|allowed| allowed.iter().map(form_text).collect::<Vec<_>>())
            );
            field
        })
        .collect()
}

/// What masks a secret input's default in a playbook's source.
const MASK: &str = "********";

/// The playbook's text with the defaults of its secret inputs masked: the page shows the
/// source to every role, and no secret value is rendered. A default of three characters or
/// more is masked wherever it appears; a shorter one where it is written as the default.
fn masked_source(entry: &Entry) -> String {
    let mut source = entry.source.clone();
    let Some(playbook) = entry.playbook.as_deref() else {
        return source;
    };
    for declaration in playbook
        .inputs
        .values()
        .filter(|declaration| declaration.secret)
    {
        let Some(default) = &declaration.default else {
            continue;
        };
        if default.is_null() {
            continue;
        }
        let text = form_text(default);
        if text.is_empty() {
            continue;
        }
        if text.chars().count() >= 3 {
            source = source.replace(&text, MASK);
        } else {
            for written in [
                format!("default: {text}"),
                format!("default: \"{text}\""),
                format!("default: '{text}'"),
            ] {
                source = source.replace(&written, &format!("default: {MASK}"));
            }
        }
    }
    source
}

/// `GET /playbooks/{name}`: a playbook's validation state, source and start form.
pub(crate) async fn playbook(
    State(api): State<Arc<Api>>,
    user: User,
    Path(name): Path<String>,
) -> Response {
    let result = async {
        user.caller.require(Action::Read)?;
        let entry = api
            .catalog
            .entries()
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| ApiError::not_found(format!("no playbook file is named `{name}`")))?;
        Ok(playbook_page(
            &api,
            &user,
            entry,
            StatusCode::OK,
            &[],
            &Default::default(),
        ))
    }
    .await;
    answer(&user, result)
}

/// The playbook page, with the start form's `problems` and the values given (never a
/// secret's) when a start was refused.
pub(crate) fn playbook_page(
    api: &Api,
    user: &User,
    entry: &Entry,
    status: StatusCode,
    problems: &[String],
    given: &std::collections::BTreeMap<String, String>,
) -> Response {
    let path = entry
        .path
        .strip_prefix(api.catalog.folder())
        .unwrap_or(&entry.path)
        .display()
        .to_string();
    page(
        status,
        "playbook.html",
        serde_json::json!({
            "user": user.context(),
            "nav": "playbooks",
            "playbook": json!({
                "name": entry.name,
                "path": path,
                "offered": entry.is_offered(),
                "problems": entry.problems,
                "warnings": entry.warnings,
                "description": entry.playbook.as_deref().and_then(|playbook| playbook.description.clone()),
                "source": masked_source(entry),
            }),
            "inputs": input_fields(entry),
            "given": given,
            "start_problems": problems,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_for_people() {
        let at = "2026-12-03T10:00:00Z";
        assert_eq!(
            took(at, Some("2026-12-03T10:00:00.250Z")).as_deref(),
            Some("250 ms")
        );
        assert_eq!(
            took(at, Some("2026-12-03T10:00:04.500Z")).as_deref(),
            Some("4.5 s")
        );
        assert_eq!(
            took(at, Some("2026-12-03T10:02:05Z")).as_deref(),
            Some("2m 05s")
        );
        assert_eq!(took(at, None), None);
    }

    fn entry(source: &str) -> Entry {
        let loaded = runbook_playbook::load("vault.yaml", source);
        Entry {
            name: "vault".to_owned(),
            path: "vault.yaml".into(),
            source: source.to_owned(),
            playbook: loaded.playbook.map(std::sync::Arc::new),
            problems: Vec::new(),
            warnings: 0,
        }
    }

    #[test]
    fn secret_defaults_are_masked_in_the_source_and_left_off_the_form() {
        let source = "version: 1\nname: vault\ninputs:\n  key: { type: string, secret: true, default: sk-1234 }\n  \
                      pin: { type: string, secret: true, default: \"42\" }\n  \
                      level: { type: string, enum: [low, high], default: low }\n\
                      steps:\n  - id: note\n    log: \"42 hosts, low\"\n";
        let entry = entry(source);
        assert!(entry.playbook.is_some(), "the playbook loads");
        let masked = masked_source(&entry);
        assert!(!masked.contains("sk-1234"), "{masked}");
        // A short default is masked where it is the default, not everywhere.
        assert!(masked.contains("default: ********"), "{masked}");
        assert!(masked.contains("log: \"42 hosts, low\""), "{masked}");
        let fields = input_fields(&entry);
        assert_eq!(fields[0]["default"], Value::Null);
        assert_eq!(fields[1]["default"], Value::Null);
        assert_eq!(fields[2]["default"], "low");
        assert_eq!(fields[2]["choices"], json!(["low", "high"]));
    }

    #[test]
    fn the_next_page_keeps_the_filters() {
        let query = ListQuery {
            status: Some("failed".to_owned()),
            playbook: Some("tag host".to_owned()),
            since: None,
            limit: None,
            cursor: Some("01J".to_owned()),
        };
        assert_eq!(
            query_text(&url_pairs(&query)),
            "?status=failed&playbook=tag%20host"
        );
    }
}

//! `GET /api/v1/runs/{id}/events`: the run's events as JSON, or, when the client accepts
//! `text/event-stream`, as Server-Sent Events that follow the run to its end.
//!
//! The stream reads the store, not this process's memory: whichever serve process runs the
//! run, any process behind the load balancer streams it. Each event's SSE `id` is its sequence
//! in the run, so a client that reconnects with `Last-Event-ID` misses nothing and sees
//! nothing twice. When the run has ended and every event was sent, an `end` event carries its
//! status and the stream closes; while the process shuts down, the stream closes early (the
//! client reconnects elsewhere with `Last-Event-ID`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use runbook_engine::RecordedStatus;
use runbook_store::{Action, StoredEvent};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::runs::no_run;
use crate::state::Api;

/// How often a stream looks for new events while the run goes on.
const POLL: Duration = Duration::from_millis(250);

/// Events read from the store at once.
const BATCH: u32 = 200;

#[utoipa::path(
    operation_id = "run_events",
    get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(
        ("id" = String, Path, description = "The run id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume a stream after this event"),
    ),
    responses(
        (status = 200, description = "JSON `{run_id, status, events}`, or `text/event-stream` \
            (each event's `event` is its kind and `id` its sequence; a last `end` event carries \
            the run's status)", body = Object),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn events(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let Some(state) = api.store.queue_state(&run_id).await? else {
        return Err(no_run(&run_id));
    };
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if !wants_stream {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let batch = api.store.events_after(&run_id, after, BATCH).await?;
            let full = batch.len() == BATCH as usize;
            for (sequence, stored) in batch {
                after = sequence;
                all.push(event_json(sequence, &stored));
            }
            if !full {
                break;
            }
        }
        return Ok(Json(json!({
            "run_id": run_id,
            "status": state.status,
            "events": all,
        }))
        .into_response());
    }
    let after = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<i64>().ok())
        .unwrap_or(0);
    Ok(stream(api, run_id, after, true, None))
}

/// The run's events after `after` as Server-Sent Events, to its end. With `named`, each
/// event's SSE `event` is its kind (the API); without, the events are unnamed (the console's
/// page listens to them all with one handler). The last event is `end` either way. With a
/// `lifetime`, the stream closes after it even if the run goes on: the client reconnects
/// (with `Last-Event-ID`) and its credentials are checked again.
pub(crate) fn stream(
    api: Arc<Api>,
    run_id: String,
    after: i64,
    named: bool,
    lifetime: Option<Duration>,
) -> Response {
    Sse::new(follow(api, run_id, after, named, lifetime))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One event as JSON: the engine's event with its sequence and recording time.
fn event_json(sequence: i64, stored: &StoredEvent) -> Value {
    let mut value = serde_json::to_value(&stored.event).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("sequence".to_owned(), Value::from(sequence));
        map.insert(
            "recorded_at".to_owned(),
            Value::from(stored.recorded_at.as_str()),
        );
    }
    value
}

struct Following {
    api: Arc<Api>,
    run_id: String,
    after: i64,
    pending: VecDeque<(i64, StoredEvent)>,
    done: bool,
    /// When the stream closes even though the run goes on (the client reconnects with
    /// `Last-Event-ID` and is checked again).
    until: Option<tokio::time::Instant>,
}

/// The run's events after `after`, as they are recorded, then `end`.
fn follow(
    api: Arc<Api>,
    run_id: String,
    after: i64,
    named: bool,
    lifetime: Option<Duration>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let start = Following {
        api,
        run_id,
        after,
        pending: VecDeque::new(),
        done: false,
        until: lifetime.map(|lifetime| tokio::time::Instant::now() + lifetime),
    };
    stream::unfold(start, move |mut following| async move {
        loop {
            if let Some((sequence, stored)) = following.pending.pop_front() {
                following.after = sequence;
                let value = event_json(sequence, &stored);
                let kind = value
                    .get("event")
                    .and_then(Value::as_str)
                    .unwrap_or("event")
                    .to_owned();
                let event = SseEvent::default()
                    .id(sequence.to_string())
                    .data(value.to_string());
                let event = if named { event.event(kind) } else { event };
                return Some((Ok(event), following));
            }
            if following.done
                || following.api.is_shutting_down()
                || following
                    .until
                    .is_some_and(|until| tokio::time::Instant::now() >= until)
            {
                return None;
            }
            // The status first, then the events: an event recorded before the run ended is
            // read by the second call, so `end` never comes before the last event.
            let status = match following.api.store.queue_state(&following.run_id).await {
                Ok(state) => state.map(|state| state.status),
                Err(error) => {
                    tracing::warn!(%error, run_id = %following.run_id, "an event stream could not read the run");
                    return None;
                }
            };
            match following
                .api
                .store
                .events_after(&following.run_id, following.after, BATCH)
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    following.pending.extend(batch);
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, run_id = %following.run_id, "an event stream could not read the run's events");
                    return None;
                }
            }
            let ended = status
                .as_deref()
                .and_then(RecordedStatus::parse)
                .is_none_or(|status| status.is_final());
            if ended {
                following.done = true;
                let end = SseEvent::default()
                    .event("end")
                    .data(json!({ "status": status }).to_string());
                return Some((Ok(end), following));
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = following.api.stopping.notified() => {}
            }
        }
    })
}

//! The replay server of a `replay:` case: an HTTP server on loopback that answers a
//! recording's exchanges in order. Each request must be the next recorded one (same method,
//! same path with its query); the first that is not is answered 500 and becomes the case's
//! failure. Logins of the recording are left out: the case's client authenticates with a token,
//! which the server accepts whatever it is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header::CONTENT_TYPE};
use axum::response::Response;
use runbook_tanium_sim::{Inspector, RecordedRequest, RequestCount};
use serde_json::{Value, json};

use crate::recording::{RUN_ID, RecordedExchange, Recording, is_login, replace_json, replace_text};

/// A running replay server.
pub struct ReplayServer {
    base_url: String,
    state: Arc<Mutex<Replay>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// What a replay did, once over.
#[derive(Debug)]
pub struct Replayed {
    /// The first request that was not the next recorded one, said for people.
    pub mismatch: Option<String>,
    /// Recorded exchanges the run never asked for (not a failure: a run may end earlier).
    pub unused: usize,
    /// The requests received, counted as a simulator counts them (`requests` expectations).
    pub inspector: Inspector,
}

#[derive(Debug)]
struct Replay {
    exchanges: Vec<RecordedExchange>,
    next: usize,
    mismatch: Option<String>,
    /// Every request received: method, path without its query, body.
    received: Vec<(String, String, Value)>,
}

impl ReplayServer {
    /// Starts a server answering `recording`, with its run id placeholder replaced by `run_id`.
    pub async fn start(recording: Recording, run_id: &str) -> Result<Self, String> {
        let exchanges = recording
            .exchanges
            .into_iter()
            .filter(|exchange| !is_login(exchange))
            .map(|exchange| RecordedExchange {
                path: replace_text(&exchange.path, RUN_ID, run_id),
                request_body: replace_json(&exchange.request_body, RUN_ID, run_id),
                response_body: replace_json(&exchange.response_body, RUN_ID, run_id),
                ..exchange
            })
            .collect();
        let state = Arc::new(Mutex::new(Replay {
            exchanges,
            next: 0,
            mismatch: None,
            received: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|error| format!("the replay server did not start: {error}"))?;
        let address = listener
            .local_addr()
            .map_err(|error| format!("the replay server did not start: {error}"))?;
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(ReplayServer {
            base_url: format!("http://{address}"),
            state,
            stop,
            task,
        })
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Stops the server and says what the replay did.
    pub async fn finish(self) -> Replayed {
        let _ = self.stop.send(());
        let _ = self.task.await;
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut bodies = Vec::new();
        for (method, path, body) in &state.received {
            *counts.entry((method.clone(), path.clone())).or_default() += 1;
            if method != "GET" {
                bodies.push(RecordedRequest {
                    method: method.clone(),
                    path: path.clone(),
                    body: body.clone(),
                });
            }
        }
        Replayed {
            mismatch: state.mismatch.clone(),
            unused: state.exchanges.len().saturating_sub(state.next),
            inspector: Inspector {
                actions: Vec::new(),
                groups: Vec::new(),
                requests: counts
                    .into_iter()
                    .map(|((method, path), count)| RequestCount {
                        method,
                        path,
                        count,
                    })
                    .collect(),
                most_in_flight: Vec::new(),
                bodies,
            },
        }
    }
}

/// Answers a request with the next recorded exchange, or 500 when it is not that one.
async fn answer(
    State(state): State<Arc<Mutex<Replay>>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let method = method.as_str().to_ascii_uppercase();
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |path| path.as_str().to_owned());
    let mut state = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state
        .received
        .push((method.clone(), uri.path().to_owned(), body));
    let expected = state.exchanges.get(state.next).cloned();
    if state.mismatch.is_none()
        && let Some(exchange) = expected
            .as_ref()
            .filter(|exchange| exchange.method == method && exchange.path == path)
    {
        state.next += 1;
        return recorded(exchange);
    }
    let message = match (&state.mismatch, &expected) {
        (Some(first), _) => format!("the replay already failed: {first}"),
        (None, Some(exchange)) => format!(
            "the run sent {method} {path} which the recording does not have next (it expected \
             {} {})",
            exchange.method, exchange.path
        ),
        (None, None) => format!(
            "the run sent {method} {path} which the recording does not have next (its {} \
             exchange(s) were all answered)",
            state.exchanges.len()
        ),
    };
    if state.mismatch.is_none() {
        state.mismatch = Some(message.clone());
    }
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "text": message }),
    )
}

/// The recorded answer: its status and body (JSON content type when the body is JSON).
fn recorded(exchange: &RecordedExchange) -> Response {
    let status = StatusCode::from_u16(exchange.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &exchange.response_body {
        Value::Null => plain(status, String::new()),
        Value::String(text) => plain(status, text.clone()),
        body => json_response(status, body),
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(method: &str, path: &str, answer: Value) -> RecordedExchange {
        RecordedExchange {
            method: method.to_owned(),
            path: path.to_owned(),
            request_body: Value::Null,
            status: 200,
            response_body: answer,
        }
    }

    #[tokio::test]
    async fn answers_in_order_and_names_the_first_unrecorded_request() {
        let recording = Recording {
            version: 1,
            playbook: "p".to_owned(),
            exchanges: vec![
                exchange(
                    "POST",
                    "/api/v2/session/login",
                    json!({"data": {"session": "x"}}),
                ),
                exchange("GET", "/api/v2/a?x=1", json!({"data": "{run_id}"})),
                exchange("POST", "/api/v2/actions", json!({"data": {}})),
                exchange("GET", "/api/v2/unused", json!({})),
            ],
        };
        let server = ReplayServer::start(recording, "run-9").await.unwrap();
        let http = reqwest::Client::new();
        let first = http
            .get(format!("{}/api/v2/a?x=1", server.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(
            first.json::<Value>().await.unwrap(),
            json!({"data": "run-9"})
        );
        let second = http
            .get(format!("{}/api/v2/b", server.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(second.status(), 500);
        let replayed = server.finish().await;
        assert_eq!(
            replayed.mismatch.as_deref(),
            Some(
                "the run sent GET /api/v2/b which the recording does not have next (it expected \
                 POST /api/v2/actions)"
            )
        );
        assert_eq!(replayed.unused, 2);
        assert_eq!(replayed.inspector.request_count("GET", "/api/v2/a"), 1);
    }
}

//! One HTTP exchange and how it fails: the answer read whole, a [`Failure`] classified from a
//! status or a cut connection, whether it may be retried, the [`Error`] it becomes once
//! retries are over (with the hints that say what to check), and what logs may show of it.

use std::time::Duration;

use backon::ExponentialBuilder;
use reqwest::header::RETRY_AFTER;
use serde_json::Value;

use crate::config::RetryPolicy;
use crate::error::{Error, tidy_server_text};
use crate::request::Request;

const TOKEN_HINT: &str = "the API token is wrong or expired, or it is not trusted from this \
    address: Tanium refuses tokens from addresses outside the token's trusted_ip_addresses and \
    the global api_token_trusted_ip_address_list";
pub(super) const LOGIN_HINT: &str = "the user name or password was refused";
const SESSION_HINT: &str = "the session was refused even after logging in again, or this account \
    lacks the permission for this operation";
const TOKEN_403_HINT: &str = "the API token's session was refused (expired, revoked) or this \
    account lacks the permission for this operation";

/// Why one HTTP exchange failed; turned into an [`Error`] once retries are over.
#[derive(Debug)]
pub(super) enum Failure {
    Status {
        status: u16,
        text: Option<String>,
        retry_after: Option<Duration>,
        /// The answer's body as sent, for observers that see bodies.
        body: Vec<u8>,
    },
    /// The connection was never made, so the request never reached the server.
    Connect(String),
    /// The request may have reached the server (timeout, connection cut mid-exchange).
    Interrupted(String),
}

impl Failure {
    pub(super) fn retryable(&self, safe_to_repeat: bool) -> bool {
        match self {
            // Neither was processed by the server, so even an action may be sent again.
            Failure::Connect(_) => true,
            Failure::Status { status: 429, .. } => true,
            Failure::Status {
                status: 502..=504, ..
            }
            | Failure::Interrupted(_) => safe_to_repeat,
            Failure::Status { .. } => false,
        }
    }

    pub(super) fn into_error(self, request: &Request, login: bool) -> Error {
        let path = request.path.clone();
        match self {
            Failure::Status {
                status: 400, text, ..
            } => Error::BadRequest {
                text: text.unwrap_or_else(|| "400 Bad Request".to_owned()),
            },
            Failure::Status { status: 401, .. } => Error::Refused {
                status: 401,
                hint: if login { LOGIN_HINT } else { TOKEN_HINT }.to_owned(),
            },
            Failure::Status { status: 403, .. } => Error::Refused {
                status: 403,
                hint: if login { SESSION_HINT } else { TOKEN_403_HINT }.to_owned(),
            },
            Failure::Status {
                status: 404, text, ..
            } => Error::NotFound {
                what: format!("{} {}", request.method, path),
                text,
            },
            Failure::Status {
                status: 429,
                retry_after,
                ..
            } => Error::RateLimited { path, retry_after },
            Failure::Status { status, text, .. } if status >= 500 && !request.safe_to_repeat => {
                Error::AmbiguousSend {
                    method: request.method.to_string(),
                    path,
                    cause: match text {
                        Some(text) => format!("the server answered {status}: {text}"),
                        None => format!("the server answered {status}"),
                    },
                }
            }
            Failure::Status { status, text, .. } => Error::Server { status, path, text },
            Failure::Connect(cause) => Error::Transport { path, cause },
            Failure::Interrupted(cause) if !request.safe_to_repeat => Error::AmbiguousSend {
                method: request.method.to_string(),
                path,
                cause,
            },
            Failure::Interrupted(cause) => Error::Transport { path, cause },
        }
    }
}

/// Capped exponential backoff with jitter, as many retries as the policy allows.
pub(super) fn backoff(retry: RetryPolicy) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(retry.base)
        .with_max_delay(retry.cap)
        .with_max_times(retry.attempts.saturating_sub(1) as usize)
        .with_jitter()
}

/// A successful answer: its status (2xx) and its body.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
}

/// Sends one prepared request and reads the whole answer.
pub(super) async fn exchange(
    builder: reqwest::RequestBuilder,
    path: &str,
) -> Result<Answer, Failure> {
    let response = builder
        .send()
        .await
        .map_err(|err| classify_transport(&err))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .bytes()
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|err| {
            // The server answered but the body was cut: whatever it did, it did.
            Failure::Interrupted(format!("the answer was cut off: {}", describe(&err)))
        })?;
    tracing::debug!(
        path = %path_for_logs(path),
        status = status.as_u16(),
        bytes = body.len(),
        "tanium answer"
    );
    if status.is_success() {
        return Ok(Answer {
            status: status.as_u16(),
            body,
        });
    }
    Err(Failure::Status {
        status: status.as_u16(),
        text: error_text(&body),
        retry_after,
        body,
    })
}

fn classify_transport(err: &reqwest::Error) -> Failure {
    if err.is_connect() {
        Failure::Connect(describe(err))
    } else if err.is_timeout() {
        Failure::Interrupted(format!("timed out: {}", describe(err)))
    } else {
        Failure::Interrupted(describe(err))
    }
}

/// The error and its causes (the URL in it holds no credentials: the config refuses those).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A request path as logs may show it: a name looked up by name (an action's name can be built
/// from a secret) and the query string are left out; the client knows no secret to redact.
pub(super) fn path_for_logs(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    match path.find("/by-name/") {
        Some(at) => format!("{}/by-name/{{name}}", &path[..at]),
        None => path.to_owned(),
    }
}

pub(super) fn failure_kind(failure: &Failure) -> String {
    match failure {
        Failure::Status { status, .. } => format!("status {status}"),
        Failure::Connect(cause) | Failure::Interrupted(cause) => cause.clone(),
    }
}

/// Tanium error bodies are `{"text": "..."}` (some versions use `message`).
fn error_text(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value
            .get("text")
            .or_else(|| value.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let tidy = tidy_server_text(&text);
    let short: String = tidy.chars().take(500).collect();
    (!short.is_empty()).then_some(short)
}

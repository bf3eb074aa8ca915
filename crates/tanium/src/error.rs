//! The adapter's error type.
//!
//! Every variant carries only what is safe to show: request paths, status codes and the
//! server's own `text`. Tokens, passwords and session strings never enter an error, so an error
//! can be logged, stored or shown to a user as it is.

use std::time::Duration;

/// What went wrong talking to Tanium or reading what it sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist, or this account may not see it (Tanium answers 404 for both).
    #[error(
        "{what} was not found on the Tanium server{}",
        server_text_suffix(text)
    )]
    NotFound {
        /// What was looked up, e.g. `package "Reboot"` or `GET /api/v2/actions/12`.
        what: String,
        /// The server's `text`, if it sent one.
        text: Option<String>,
    },
    /// The server refused the credentials (401) or the session (403 after one new login).
    #[error("the Tanium server refused the request ({status}): {hint}")]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// What usually causes this status and what to check.
        hint: String,
    },
    /// The server rejected the request as malformed (400), with its explanation.
    #[error("the Tanium server rejected the request: {text}")]
    BadRequest {
        /// The server's `text`, non-empty lines joined with "; ".
        text: String,
    },
    /// A request that must not be repeated (issuing an action) may or may not have reached the
    /// server. Look the action up by its unique name before issuing it again.
    #[error(
        "{method} {path} may or may not have been carried out ({cause}); look the object up before sending it again"
    )]
    AmbiguousSend {
        /// The HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// Why the outcome is unknown (timeout, connection cut, server error).
        cause: String,
    },
    /// The request could not be carried to the server (after any retries).
    #[error("could not reach the Tanium server for {path}: {cause}")]
    Transport {
        /// The request path.
        path: String,
        /// The transport's explanation.
        cause: String,
    },
    /// The server kept asking us to slow down (429) until the retries ran out.
    #[error("the Tanium server is rate limiting {path}{}", retry_after_suffix(*retry_after))]
    RateLimited {
        /// The request path.
        path: String,
        /// The last `Retry-After` the server sent.
        retry_after: Option<Duration>,
    },
    /// The server failed (5xx, or another status this adapter does not expect).
    #[error(
        "the Tanium server answered {status} for {path}{}",
        server_text_suffix(text)
    )]
    Server {
        /// The HTTP status code.
        status: u16,
        /// The request path.
        path: String,
        /// The server's `text`, if any.
        text: Option<String>,
    },
    /// A response did not have the shape this adapter needs.
    #[error("could not read the Tanium answer at `{path}`: {message}")]
    Decode {
        /// Where in the answer, e.g. `data.result_sets[0].columns`.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The client configuration cannot be used (bad URL, unreadable CA certificate, ...).
    #[error("invalid Tanium client configuration: {0}")]
    Config(String),
    /// The server URL is plain `http://` to a host that is not loopback, and plain HTTP was not
    /// allowed ([`ClientConfig::allow_plain_http`](crate::ClientConfig::allow_plain_http)).
    #[error(
        "refusing plain http:// to {host}: the API token or password would cross the network \
         unencrypted; use https://, or allow plain HTTP explicitly"
    )]
    PlainHttp {
        /// The host named in the URL.
        host: String,
    },
    /// A value given to a builder cannot be sent (e.g. an action without a name).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn server_text_suffix(text: &Option<String>) -> String {
    match text {
        Some(text) if !text.is_empty() => format!(": {text}"),
        _ => String::new(),
    }
}

fn retry_after_suffix(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {}s)", wait.as_secs()),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn decode(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Decode {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether the error says the object does not exist (or is not visible).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// Joins the non-empty lines of Tanium's multi-line `text`, as pytan3 does, so the message
/// fits on one line.
pub(crate) fn tidy_server_text(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

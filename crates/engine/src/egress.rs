//! The `Egress` trait: what the engine asks of the HTTP servers of the rest of the SOC (the
//! `http` step: chat, tickets, the SIEM, threat intelligence).
//!
//! The engine knows no HTTP client: `runbook-egress` implements this trait with reqwest and
//! the operator's policy (the hosts allowed, never the Tanium server, loopback and link-local
//! addresses only when allowed by name, redirects only to allowed hosts, TLS verified). The
//! engine renders the request, keeps it exactly-once where it matters (an intent before a
//! POST, PUT, PATCH or DELETE leaves) and redacts secrets; the egress only sends.
//!
//! An egress never puts a request's URL, headers or body into its error messages: they may
//! hold secrets. It may name the host.

use std::time::Duration;

use async_trait::async_trait;

pub use runbook_playbook::HttpMethod;

/// A request as the `http` step rendered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// In order, names as written; `Content-Type` among them when there is a body.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The whole exchange (connect, send, answer read) must end within this (real time).
    pub timeout: Duration,
    /// An answer whose body is larger fails with [`EgressErrorKind::TooLarge`].
    pub max_response: u64,
}

/// What the server answered (after the redirects the policy allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// In order, names in lower case, as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request failed, and above all whether it may have reached the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressErrorKind {
    /// The operator's policy refuses the URL (or where it resolves, or a redirect): nothing
    /// was sent.
    Refused,
    /// Nothing was sent: the URL is malformed, the name did not resolve, the connection or
    /// the TLS handshake failed.
    NotSent,
    /// The request may have reached the receiver: the connection broke or the time ran out
    /// after it was sent.
    MaybeSent,
    /// The receiver answered with a redirect to a URL the policy refuses: the request was
    /// sent (and answered), the redirect not followed.
    RedirectRefused,
    /// The receiver answered with a body larger than `max_response`.
    TooLarge,
}

/// A failed request. The message names the host at most, never the URL's path or query,
/// a header or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EgressError {
    pub kind: EgressErrorKind,
    pub message: String,
}

impl EgressError {
    pub fn new(kind: EgressErrorKind, message: impl Into<String>) -> Self {
        EgressError {
            kind,
            message: message.into(),
        }
    }

    /// Whether the request certainly did not reach the receiver.
    pub fn nothing_sent(&self) -> bool {
        matches!(
            self.kind,
            EgressErrorKind::Refused | EgressErrorKind::NotSent
        )
    }
}

/// Where `http` steps send their requests.
#[async_trait]
pub trait Egress: Send + Sync + std::fmt::Debug {
    /// Whether the policy lets a request go to `url`, judged from the URL alone (scheme, host
    /// and port against the allowed hosts and the Tanium server), without resolving or
    /// sending anything: plan mode asks, and a run asks before it records an intent. `send`
    /// checks again, and checks where the name resolves.
    fn check_url(&self, url: &str) -> Result<(), EgressError>;

    /// Sends one request and reads its answer, following redirects the policy allows.
    /// Never retries: the engine decides what may be sent again.
    async fn send(&self, request: &HttpRequest) -> Result<HttpAnswer, EgressError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_and_failed_connections_send_nothing() {
        assert!(EgressError::new(EgressErrorKind::Refused, "no").nothing_sent());
        assert!(EgressError::new(EgressErrorKind::NotSent, "no route").nothing_sent());
        for kind in [
            EgressErrorKind::MaybeSent,
            EgressErrorKind::RedirectRefused,
            EgressErrorKind::TooLarge,
        ] {
            assert!(!EgressError::new(kind, "sent").nothing_sent());
        }
    }
}

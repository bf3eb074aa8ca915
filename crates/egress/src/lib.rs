//! The `http` step's HTTP client: the engine's [`Egress`] trait with reqwest and the operator's
//! policy.
//!
//! It enforces:
//! - only the hosts the operator allowed (`--http-allow`, `RUNBOOK_HTTP_ALLOW`): exact names,
//!   `*.suffix`, `*`, addresses, each with an optional scheme and port; none allowed by default;
//! - HTTPS, unless the pattern was written with `http://` (or the host is loopback, named);
//! - loopback, link-local (cloud metadata) and unspecified addresses only when the host is
//!   allowed by name, checked on the URL and on every address a name resolves to;
//! - never the Tanium server, by its name and port and by the addresses it resolves to;
//! - connections only to the addresses checked (DNS pinned, no rebinding), no proxy;
//! - redirects followed by hand, at most [`MAX_REDIRECTS`], each hop checked the same way,
//!   credentials dropped on a hop to another origin;
//! - one deadline for the whole exchange, and a bounded answer (`max_response`);
//! - TLS always verified (extra CA certificates may be trusted, verification never turned off).
//!
//! It never retries and never logs or reports a URL's path or query, a header or a body: its
//! messages name the host (and port) at most.

mod policy;
mod send;

use std::net::SocketAddr;

use async_trait::async_trait;
use runbook_engine::{Egress, EgressError, HttpAnswer, HttpRequest};

use crate::policy::{Pattern, Policy, Tanium};

/// Redirects followed at most for one request.
pub const MAX_REDIRECTS: usize = 5;

/// What the operator configured for `http` steps.
#[derive(Debug, Clone, Default)]
pub struct EgressConfig {
    /// Host patterns as the operator wrote them (from RUNBOOK_HTTP_ALLOW, split on commas and
    /// whitespace, and repeated --http-allow).
    pub allow: Vec<String>,
    /// The Tanium server's URL: never reachable through the http step, even when allowed.
    pub tanium_url: Option<String>,
    /// Extra CA certificates (PEM bundle) to trust, besides the system's/default roots.
    pub ca_cert_pem: Option<Vec<u8>>,
}

/// The `http` step's client: sends what the policy allows, nothing else.
#[derive(Debug)]
pub struct HttpEgress {
    policy: Policy,
    certificates: Vec<reqwest::Certificate>,
    /// The client for URLs whose host is an address (nothing to pin); names get a client
    /// pinned to the addresses checked.
    by_address: reqwest::Client,
    /// The clients pinned so far, by name and the very addresses checked for it (sorted): a
    /// name that resolves to the same checked addresses again reuses its client and its
    /// connections; other addresses get a client of their own.
    pinned: std::sync::Mutex<std::collections::HashMap<(String, Vec<SocketAddr>), reqwest::Client>>,
}

/// RUNBOOK_HTTP_ALLOW's text as patterns: split on commas and whitespace, empty pieces dropped.
pub fn split_allow_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|piece| !piece.is_empty())
        .map(str::to_owned)
        .collect()
}

impl HttpEgress {
    /// Reads the patterns and the CA certificates. Fails naming a pattern that cannot be read
    /// (with the grammar), or a CA file that holds no certificate.
    pub fn new(config: EgressConfig) -> Result<Self, String> {
        let patterns = config
            .allow
            .iter()
            .map(|text| Pattern::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        let tanium = config
            .tanium_url
            .as_deref()
            .map(Tanium::parse)
            .transpose()?;
        let certificates = match &config.ca_cert_pem {
            None => Vec::new(),
            Some(pem) => {
                let certificates = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|err| format!("cannot read the CA certificate file: {err}"))?;
                if certificates.is_empty() {
                    return Err("the CA certificate file holds no PEM certificate".to_owned());
                }
                certificates
            }
        };
        let by_address = send::client(&certificates, None)
            .map_err(|err| format!("cannot set up the HTTP client: {}", err.message))?;
        Ok(HttpEgress {
            policy: Policy { patterns, tanium },
            certificates,
            by_address,
            pinned: std::sync::Mutex::default(),
        })
    }
}

#[async_trait]
impl Egress for HttpEgress {
    fn check_url(&self, url: &str) -> Result<(), EgressError> {
        self.policy.judge(url).map(|_| ())
    }

    async fn send(&self, request: &HttpRequest) -> Result<HttpAnswer, EgressError> {
        self.exchange(request).await
    }
}

//! Client configuration: where the server is, how to authenticate, TLS and retries.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    /// An API token (`token-...`), sent as is in the `session` header.
    Token(SecretString),
    /// A user name and password, exchanged for a session at `session/login`.
    Login {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
        /// The domain, when the server needs one.
        domain: Option<String>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(_) => f.debug_tuple("Token").field(&"[REDACTED]").finish(),
            Auth::Login {
                username, domain, ..
            } => f
                .debug_struct("Login")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .field("domain", domain)
                .finish(),
        }
    }
}

/// Retries of transient failures: capped exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a request is sent at most (1 = no retry).
    pub attempts: u32,
    /// The first delay.
    pub base: Duration,
    /// The longest delay, also the longest `Retry-After` honoured.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

/// Everything the client needs to reach a Tanium server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server root, e.g. `https://tanium.example.com`; `/api/v2` is appended per request.
    pub base_url: String,
    /// How to authenticate.
    pub auth: Auth,
    /// A PEM bundle of private CA certificates to trust, added to the system's roots.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Skip TLS verification. Only when explicitly asked for.
    pub insecure: bool,
    /// Allow `http://` to a host that is not loopback. Off, such a URL is refused: the token or
    /// password would cross the network unencrypted. Loopback (`127.0.0.0/8`, `::1`,
    /// `localhost`) may always use plain HTTP.
    pub allow_plain_http: bool,
    /// The time limit of one HTTP exchange.
    pub request_timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration with defaults: TLS verified, plain HTTP to loopback only, 30 s per
    /// request, default retries.
    pub fn new(base_url: impl Into<String>, auth: Auth) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            auth,
            ca_cert_pem: None,
            insecure: false,
            allow_plain_http: false,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// Knobs that rarely change; `Tuning::default()` suits real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Rows asked for per page of result data.
    pub page_size: u64,
    /// Delay between polls of a counting question.
    pub question_poll_interval: Duration,
    /// Requests in flight at once; more wait their turn. Thousands of concurrent runs then
    /// share a bounded number of connections (each costs a socket and its buffers), and the
    /// server is not flooded.
    pub max_in_flight: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            page_size: 5_000,
            question_poll_interval: Duration::from_secs(5),
            max_in_flight: 256,
        }
    }
}

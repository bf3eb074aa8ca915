//! The transport: sends [`Request`]s to a Tanium server and reads the answers.
//!
//! One `reqwest::Client` is made here and nowhere else. Transient failures are retried with
//! capped exponential backoff and jitter (`backon`), but only for requests that are safe to
//! repeat; `POST /actions` is never sent twice blindly. A login session that the server
//! refuses with 403 is renewed once and the request sent again.
//!
//! This file holds the client, its sending loop and the Tanium operations it offers.
//! `session` holds login-session authentication (log in, renew once per generation);
//! `exchange` holds one HTTP exchange, how it fails ([`Error`] from a status or a cut
//! connection) and what logs may show of it.

mod exchange;
mod questions;
mod session;
mod survey;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use backon::Retryable;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use runbook_engine::{Approval, Lookup};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::RwLock;

use self::exchange::{Answer, Failure, backoff, exchange, failure_kind, path_for_logs};
use self::session::Session;
use crate::config::{Auth, ClientConfig, RetryPolicy, Tuning};
use crate::error::Error;
use crate::lenient::{Node, collection_items, lenient_u64};
use crate::model::{Action, ActionGroup, Group, Package, QuestionProgress};
use crate::request::{Method, NewAction, Page, Ref, Request, requests};
use crate::results::{ActionResults, Summarizer};

pub use self::questions::AskedQuestion;
pub(crate) use self::survey::ask_names_in_group;

/// A Tanium REST client. Cheap to clone: clones share one connection pool and login session.
#[derive(Debug, Clone)]
pub struct TaniumClient {
    inner: Arc<Inner>,
    observer: Observer,
}

/// Told about every HTTP exchange the client makes (for progress output and metrics). It
/// sees the method, the path, the status and the time taken: never headers or bodies.
pub trait RequestObserver: Send + Sync {
    fn exchange(&self, method: &str, path: &str, status: Option<u16>, elapsed: Duration);

    /// Told about every exchange with its bodies (for `runbook run --record`): each attempt
    /// of [`RequestObserver::exchange`], and the logins too, whose password is replaced with
    /// `[REDACTED]` before an observer sees the request body. Never headers (the session
    /// header, the token). Does nothing unless implemented.
    fn exchange_bodies(&self, _exchange: &ObservedExchange<'_>) {}
}

/// One HTTP exchange as [`RequestObserver::exchange_bodies`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct ObservedExchange<'a> {
    pub method: &'a str,
    /// The path with its query, as sent (after the base URL).
    pub path: &'a str,
    /// The request body as sent, if any.
    pub request_body: Option<&'a [u8]>,
    /// The answer's status; `None` when no answer came (connection failed or cut).
    pub status: Option<u16>,
    /// The answer's body, when an answer was read whole.
    pub response_body: Option<&'a [u8]>,
}

#[derive(Clone, Default)]
struct Observer(Option<Arc<dyn RequestObserver>>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observer(set)"
        } else {
            "Observer(none)"
        })
    }
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base_url: String,
    auth: Auth,
    retry: RetryPolicy,
    tuning: Tuning,
    /// The current login session, with a generation so that concurrent requests refused by
    /// the server renew it once, not once each.
    session: RwLock<Option<Session>>,
    /// Bounds the requests in flight (`Tuning::max_in_flight`).
    in_flight: tokio::sync::Semaphore,
    /// What this server's `GET actions/by-name/{name}` route is known to do (`ROUTE_*`).
    by_name_route: AtomicU8,
}

/// Not known yet whether `GET actions/by-name/{name}` exists on this server.
const ROUTE_UNKNOWN: u8 = 0;
/// The route answered an action by name: it exists, so its 404 is a real miss.
const ROUTE_ANSWERS: u8 = 1;
/// The route missed an action that the filtered list found: go to the list directly.
const ROUTE_ABSENT: u8 = 2;

impl TaniumClient {
    /// A client with default [`Tuning`].
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::with_tuning(config, Tuning::default())
    }

    /// A client with explicit tuning (page size, question poll interval).
    pub fn with_tuning(config: ClientConfig, tuning: Tuning) -> Result<Self, Error> {
        let base_url = normalise_base_url(&config.base_url)?;
        if !config.allow_plain_http
            && let Some(host) = plain_http_host(&base_url)
        {
            return Err(Error::PlainHttp { host });
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("runbook-tanium/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_cert_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|err| {
                Error::Config(format!("cannot read the CA certificate file: {err}"))
            })?;
            if certificates.is_empty() {
                return Err(Error::Config(
                    "the CA certificate file holds no PEM certificate".to_owned(),
                ));
            }
            builder = builder.tls_certs_merge(certificates);
        }
        if config.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|err| Error::Config(format!("cannot set up the HTTP client: {err}")))?;
        Ok(TaniumClient {
            observer: Observer::default(),
            inner: Arc::new(Inner {
                http,
                base_url,
                auth: config.auth,
                retry: RetryPolicy {
                    attempts: config.retry.attempts.max(1),
                    ..config.retry
                },
                tuning: Tuning {
                    page_size: tuning.page_size.max(1),
                    ..tuning
                },
                session: RwLock::new(None),
                in_flight: tokio::sync::Semaphore::new(tuning.max_in_flight.max(1)),
                by_name_route: AtomicU8::new(ROUTE_UNKNOWN),
            }),
        })
    }

    /// Reports every HTTP exchange to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Observer(Some(observer));
        self
    }

    /// The server root this client talks to.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Sends a request and returns the answer's `data`.
    pub async fn send(&self, request: &Request) -> Result<Value, Error> {
        let body = self.send_raw(request).await?;
        let mut envelope: Value = serde_json::from_slice(&body)
            .map_err(|err| Error::decode("(answer)", format!("not valid JSON: {err}")))?;
        match envelope.get_mut("data") {
            Some(data) => Ok(data.take()),
            None => Err(Error::decode("data", "missing field")),
        }
    }

    /// Sends a request and returns the raw answer body.
    pub async fn send_raw(&self, request: &Request) -> Result<Vec<u8>, Error> {
        self.send_answer(request).await.map(|answer| answer.body)
    }

    async fn send_answer(&self, request: &Request) -> Result<Answer, Error> {
        let login = matches!(self.inner.auth, Auth::Login { .. });
        let mut renewed = false;
        loop {
            let session = self.session().await?;
            match self.send_with_retries(request, &session.token).await {
                Err(Failure::Status { status: 403, .. }) if login && !renewed => {
                    // Real clients read 403 as an expired session: log in again once. A refused
                    // request was not carried out, so sending it again is safe even for actions.
                    tracing::debug!(path = %path_for_logs(&request.path), "session refused; logging in again");
                    self.renew_session(session.generation).await?;
                    renewed = true;
                }
                Err(failure) => return Err(failure.into_error(request, login)),
                Ok(body) => return Ok(body),
            }
        }
    }

    async fn send_with_retries(
        &self,
        request: &Request,
        token: &SecretString,
    ) -> Result<Answer, Failure> {
        let retry = self.inner.retry;
        let safe = request.safe_to_repeat;
        (|| self.send_once(request, token))
            .retry(backoff(retry))
            .sleep(tokio::time::sleep)
            .when(|failure: &Failure| failure.retryable(safe))
            .adjust(|failure: &Failure, delay: Option<Duration>| {
                // Out of attempts stays out of attempts; otherwise honour Retry-After, capped.
                let delay = delay?;
                match failure {
                    Failure::Status {
                        retry_after: Some(wait),
                        ..
                    } => Some((*wait).min(retry.cap)),
                    _ => Some(delay),
                }
            })
            .notify(|failure: &Failure, delay: Duration| {
                tracing::debug!(path = %path_for_logs(&request.path), ?delay, failure = failure_kind(failure), "retrying");
            })
            .await
    }

    async fn send_once(&self, request: &Request, token: &SecretString) -> Result<Answer, Failure> {
        let url = format!("{}{}", self.inner.base_url, request.path);
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .inner
            .http
            .request(method, &url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut session = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
            Failure::Connect("the session token holds characters a header cannot carry".to_owned())
        })?;
        session.set_sensitive(true);
        builder = builder.header("session", session);
        if let Some(options) = &request.options {
            builder = builder.header("tanium-options", crate::request::header_json(options));
        }
        let body_text = request.body.as_ref().map(Value::to_string);
        if let Some(body) = &body_text {
            builder = builder.body(body.clone());
        }
        let _permit = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| Failure::Connect("the client is shutting down".to_owned()))?;
        let started = tokio::time::Instant::now();
        let result = exchange(builder, &request.path).await;
        if let Some(observer) = &self.observer.0 {
            let (status, response_body) = match &result {
                Ok(answer) => (Some(answer.status), Some(answer.body.as_slice())),
                Err(Failure::Status { status, body, .. }) => (Some(*status), Some(body.as_slice())),
                Err(_) => (None, None),
            };
            observer.exchange(
                request.method.as_str(),
                &request.path,
                status,
                started.elapsed(),
            );
            observer.exchange_bodies(&ObservedExchange {
                method: request.method.as_str(),
                path: &request.path,
                request_body: body_text.as_deref().map(str::as_bytes),
                status,
                response_body,
            });
        }
        result
    }
}

impl TaniumClient {
    /// Creates an ad-hoc group from targeting text; returns its id.
    pub async fn create_group(&self, text: &str) -> Result<u64, Error> {
        let data = self.send(&requests::create_group(text)).await?;
        Node::root(&data, "data").req_u64("id")
    }

    /// A filter group by name, or by id when `name_or_id` is all digits.
    pub async fn filter_group(&self, name_or_id: &str) -> Result<Group, Error> {
        let request = match parse_id(name_or_id) {
            Some(id) => requests::group_by_id(Ref::Id(id)),
            None => requests::group_by_name(name_or_id),
        };
        let data = self
            .send(&request)
            .await
            .map_err(|err| named(err, "computer group", name_or_id))?;
        Group::from_data(&data)
    }

    /// An action group by name, or by id when `name_or_id` is all digits. The built-in
    /// "Default" action group is refused: it holds only "No Computers", so an action under it
    /// reaches nothing (docs/tanium-api.md).
    pub async fn action_group(&self, name_or_id: &str) -> Result<ActionGroup, Error> {
        let request = match parse_id(name_or_id) {
            Some(id) => requests::action_group_by_id(Ref::Id(id)),
            None => requests::action_group_by_name(name_or_id),
        };
        let data = self
            .send(&request)
            .await
            .map_err(|err| named(err, "action group", name_or_id))?;
        let group = ActionGroup::from_data(&data)?;
        if runbook_engine::is_default_action_group(&group.name) {
            return Err(Error::InvalidRequest(
                runbook_engine::DEFAULT_ACTION_GROUP_REFUSED.to_owned(),
            ));
        }
        Ok(group)
    }

    /// A package by name.
    pub async fn package_by_name(&self, name: &str) -> Result<Package, Error> {
        let data = self
            .send(&requests::package_by_name(name))
            .await
            .map_err(|err| named(err, "package", name))?;
        Package::from_data(&data)
    }

    /// A package by id.
    pub async fn package_by_id(&self, id: u64) -> Result<Package, Error> {
        let data = self
            .send(&requests::package_by_id(Ref::Id(id)))
            .await
            .map_err(|err| named(err, "package", &id.to_string()))?;
        Package::from_data(&data)
    }

    /// Counts the machines in a group: asks a question with no selects over it and returns
    /// `passed` once 99% of machines answered (pytan's rule), or when `wait` has passed.
    pub async fn count_group_endpoints(&self, group_id: u64, wait: Duration) -> Result<u64, Error> {
        self.count_endpoints(&requests::ask_count_question(Ref::Id(group_id)), wait)
            .await
    }

    /// Counts the answering machines that match targeting text, without creating a group.
    pub async fn count_text_endpoints(&self, text: &str, wait: Duration) -> Result<u64, Error> {
        self.count_endpoints(&requests::ask_text_count_question(text), wait)
            .await
    }

    /// Asks a counting question and waits (at most `wait`) until the machines have answered.
    async fn count_endpoints(&self, question: &Request, wait: Duration) -> Result<u64, Error> {
        let data = self.send(question).await?;
        let question_id = Node::root(&data, "data").req_u64("id")?;
        let started = tokio::time::Instant::now();
        let interval = self.inner.tuning.question_poll_interval;
        // No endpoint has answered a question the instant it is asked; most answer within a
        // second or two. The first look waits half the interval (a look at once would only
        // cost a request), the next ones back off to the configured interval.
        let mut pause = (interval / 2).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(pause.min(wait.saturating_sub(started.elapsed()))).await;
            let data = self
                .send(&requests::question_result_info(Ref::Id(question_id)))
                .await?;
            let progress = QuestionProgress::from_data(&data)?;
            if progress.is_complete() || started.elapsed() >= wait {
                return Ok(progress.passed);
            }
            pause = (pause * 2).min(interval);
        }
    }

    /// Issues an action. Never resent: when the outcome is unknown this returns
    /// [`Error::AmbiguousSend`], and the caller should look the action up by its name.
    pub async fn issue_action(&self, action: &NewAction) -> Result<Action, Error> {
        if action.name.trim().is_empty() {
            return Err(Error::InvalidRequest("an action needs a name".to_owned()));
        }
        let data = self.send(&requests::issue_action(action)).await?;
        Action::from_data(&data)
    }

    /// The action with exactly this name, if any (the newest when several share it).
    ///
    /// This is how a caller resolves [`Error::AmbiguousSend`], so with [`Lookup::MayExist`] a
    /// miss must be real: a 404 from the by-name route (which not every server version has)
    /// is confirmed with the list form filtered by name before `None` is returned, unless
    /// that route has answered an action by name on this server before (then it exists, and
    /// its 404 is a miss). With [`Lookup::BeforeFirstSend`] (nothing of the caller's can
    /// exist yet) the by-name 404 is taken as it is. A server whose by-name route missed an
    /// action the list found is asked with the list only from then on.
    pub async fn find_action_by_name(
        &self,
        name: &str,
        lookup: Lookup,
    ) -> Result<Option<Action>, Error> {
        let route = self.inner.by_name_route.load(Ordering::Relaxed);
        if route == ROUTE_ABSENT {
            return self.list_actions_named(name).await;
        }
        let data = match self.send(&requests::find_action_by_name(name)).await {
            Ok(data) => data,
            Err(Error::NotFound { .. })
                if lookup == Lookup::BeforeFirstSend || route == ROUTE_ANSWERS =>
            {
                return Ok(None);
            }
            Err(Error::NotFound { .. }) => {
                let found = self.list_actions_named(name).await?;
                if found.is_some() {
                    tracing::debug!(
                        "GET actions/by-name missed an action the filtered list found; using the list from now on"
                    );
                    self.inner
                        .by_name_route
                        .store(ROUTE_ABSENT, Ordering::Relaxed);
                }
                return Ok(found);
            }
            Err(err) => return Err(err),
        };
        let found = actions_named(&data, name)?;
        if found.is_some() {
            self.inner
                .by_name_route
                .store(ROUTE_ANSWERS, Ordering::Relaxed);
        }
        Ok(found)
    }

    /// The action with exactly this name from `GET actions` filtered by name, the list form
    /// every server has.
    async fn list_actions_named(&self, name: &str) -> Result<Option<Action>, Error> {
        let data = self.send(&requests::list_actions_named(name)).await?;
        actions_named(&data, name)
    }

    /// An action by id.
    pub async fn action(&self, id: u64) -> Result<Action, Error> {
        let data = self.send(&requests::action(Ref::Id(id))).await?;
        Action::from_data(&data)
    }

    /// Whether the saved action behind an action is approved (`approved_flag`), and the name
    /// of the approver Tanium records on it (`approver.name`; none when it names nobody).
    pub async fn saved_action_approval(&self, saved_action_id: u64) -> Result<Approval, Error> {
        let data = self
            .send(&requests::saved_action(Ref::Id(saved_action_id)))
            .await?;
        let node = crate::lenient::single_object(&data, "data")?;
        let approver = node
            .field("approver")
            .node()
            .and_then(|approver| approver.value().get("name").and_then(Value::as_str))
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        Ok(Approval {
            approved: node.flag_or_false("approved_flag")?,
            approver,
        })
    }

    /// Stops an action (`POST /action_stops`).
    pub async fn stop_action(&self, id: u64) -> Result<(), Error> {
        self.send(&requests::stop_action(Ref::Id(id)))
            .await
            .map(drop)
    }

    /// Reads every page of an action's results and summarises them; keeps at most `max_rows`
    /// rows, while the counts cover every row.
    pub async fn action_results(
        &self,
        id: u64,
        verify: bool,
        max_rows: usize,
    ) -> Result<ActionResults, Error> {
        let page_size = self.inner.tuning.page_size;
        let mut summarizer = Summarizer::new(verify, max_rows);
        let mut row_start = 0u64;
        let mut cache_id = None;
        // A bound on pages guards against a server that ignores paging and repeats itself.
        for _ in 0..100_000 {
            let page = Page {
                row_start,
                row_count: page_size,
                cache_id,
            };
            let body = self
                .send_raw(&requests::action_results(Ref::Id(id), Some(page)))
                .await?;
            let info = summarizer.add_page(&body)?;
            cache_id = cache_id.or(info.cache_id);
            row_start += info.rows;
            // A short page is the last one. `row_count` is not trusted to mean the total: it is
            // documented as the rows in the answer.
            if info.rows < page_size {
                break;
            }
        }
        summarizer.finish()
    }
}

/// The newest action named exactly `name` in a by-name or list answer. The name is compared
/// here too: a server that ignores the list's filter answers every action.
fn actions_named(data: &Value, name: &str) -> Result<Option<Action>, Error> {
    match data {
        Value::Array(items) => {
            let mut best: Option<Action> = None;
            for (index, item) in collection_items(items).iter().enumerate() {
                let path = format!("data[{index}]");
                let action = Action::from_node(Node::root(item, &path))?;
                if action.name == name && best.as_ref().is_none_or(|b| action.id > b.id) {
                    best = Some(action);
                }
            }
            Ok(best)
        }
        Value::Null => Ok(None),
        _ => Action::from_data(data).map(|action| (action.name == name).then_some(action)),
    }
}

/// The host of a plain `http://` URL whose host is not loopback (127.0.0.0/8, `::1`,
/// `localhost`); None for `https://` and for loopback.
fn plain_http_host(base_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(base_url).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|ip| ip.is_loopback())
        }
        Err(_) => {
            let name = bare.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
        }
    };
    (!loopback).then(|| host.to_owned())
}

fn named(err: Error, kind: &str, name: &str) -> Error {
    match err {
        Error::NotFound { text, .. } => Error::NotFound {
            what: format!("{kind} {name:?}"),
            text,
        },
        other => other,
    }
}

fn parse_id(name_or_id: &str) -> Option<u64> {
    let trimmed = name_or_id.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        lenient_u64(&Value::String(trimmed.to_owned()))
    } else {
        None
    }
}

fn normalise_base_url(base_url: &str) -> Result<String, Error> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api/v2").unwrap_or(trimmed);
    let url = reqwest::Url::parse(trimmed)
        .map_err(|err| Error::Config(format!("the server URL {trimmed:?} is not valid: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "the server URL must start with https:// (or http://), not {}://",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "the server URL must not hold credentials".to_owned(),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_paths_leave_names_and_queries_out() {
        assert_eq!(
            path_for_logs("/api/v2/actions/by-name/pin%201234%20%5Brunbook%5D"),
            "/api/v2/actions/by-name/{name}"
        );
        assert_eq!(
            path_for_logs("/api/v2/packages/7?x=1"),
            "/api/v2/packages/7"
        );
    }

    #[test]
    fn plain_http_is_allowed_to_loopback_only() {
        for loopback in [
            "http://127.0.0.1:8443",
            "http://127.3.4.5",
            "http://localhost:8080",
            "http://LOCALHOST.",
            "http://[::1]:8443",
            "http://[::ffff:127.0.0.1]:80",
            "https://tanium.example.com",
            "https://10.0.0.5",
        ] {
            assert_eq!(plain_http_host(loopback), None, "{loopback}");
        }
        for remote in [
            ("http://tanium.example.com", "tanium.example.com"),
            ("http://10.0.0.5:8443", "10.0.0.5"),
            ("http://[2001:db8::1]", "[2001:db8::1]"),
            ("http://localhost.example.com", "localhost.example.com"),
            ("http://0.0.0.0", "0.0.0.0"),
        ] {
            assert_eq!(
                plain_http_host(remote.0).as_deref(),
                Some(remote.1),
                "{}",
                remote.0
            );
        }
    }

    #[test]
    fn a_client_refuses_plain_http_to_another_host_unless_allowed() {
        let mut config = ClientConfig::new(
            "http://tanium.example.com",
            Auth::Token(SecretString::from("token-x")),
        );
        let error = TaniumClient::new(config.clone()).expect_err("plain HTTP to a remote host");
        assert!(
            error
                .to_string()
                .starts_with("refusing plain http:// to tanium.example.com"),
            "{error}"
        );
        config.allow_plain_http = true;
        assert!(TaniumClient::new(config).is_ok());
    }
}

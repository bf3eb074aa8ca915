//! Sending: one deadline for the whole exchange, each hop resolved and checked before it
//! connects (to the very addresses checked), redirects followed by hand, the answer read up to
//! its limit.
//!
//! Failures say whether anything may have reached the receiver; their messages are built from
//! the host and reqwest's errors without their URL, never from a URL, a header or a body.

use std::net::SocketAddr;

use reqwest::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION,
    TRANSFER_ENCODING,
};
use reqwest::{Method, Url};
use runbook_engine::{EgressError, EgressErrorKind, HttpAnswer, HttpMethod, HttpRequest};
use tokio::time::Instant;

use crate::policy::{Target, UrlHost};
use crate::{HttpEgress, MAX_REDIRECTS};

/// How many pinned clients (name and addresses) an egress keeps; beyond, it starts afresh.
const PINNED_CLIENTS: usize = 64;

/// A client that follows no redirect, uses no proxy, verifies TLS (trusting `certificates`
/// besides the default roots) and, for a name, connects only to the addresses given.
pub(crate) fn client(
    certificates: &[reqwest::Certificate],
    pinned: Option<(&str, &[SocketAddr])>,
) -> Result<reqwest::Client, EgressError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Unpinned)
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")));
    if !certificates.is_empty() {
        builder = builder.tls_certs_merge(certificates.iter().cloned());
    }
    if let Some((host, addresses)) = pinned {
        builder = builder.resolve_to_addrs(host, addresses);
    }
    builder.build().map_err(|err| {
        EgressError::new(
            EgressErrorKind::NotSent,
            format!("cannot set up the HTTP client: {}", describe(err)),
        )
    })
}

/// The resolver behind the pinned addresses: it resolves nothing, so that a client connects
/// only to the addresses checked (`resolve_to_addrs`) and never asks DNS again.
#[derive(Debug)]
struct Unpinned;

impl reqwest::dns::Resolve for Unpinned {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            Err("the egress connects only to the addresses it checked, and none were given for this name".into())
        })
    }
}

/// A reqwest error without its URL, followed by its causes.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// How far an exchange went, read when its deadline cut it.
#[derive(Debug, Default)]
struct Progress {
    /// A request may have left (on this hop or an earlier one).
    sent: bool,
    /// The current hop's host (and port).
    host: String,
}

fn method_of(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    }
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, EgressError> {
    let mut map = HeaderMap::new();
    for (index, (name, value)) in headers.iter().enumerate() {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            EgressError::new(
                EgressErrorKind::NotSent,
                format!(
                    "header {} of the http step has a name HTTP does not allow",
                    index + 1
                ),
            )
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            EgressError::new(
                EgressErrorKind::NotSent,
                format!(
                    "the value of the http step's {name} header has characters HTTP does not allow"
                ),
            )
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// `host` or `host:port` of a URL that may not be allowed.
fn shown(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "a URL without a host".to_owned(),
    }
}

fn redirect_refused(message: String) -> EgressError {
    EgressError::new(EgressErrorKind::RedirectRefused, message)
}

impl HttpEgress {
    pub(crate) async fn exchange(&self, request: &HttpRequest) -> Result<HttpAnswer, EgressError> {
        // A time-out too long for the clock is no time-out.
        let now = Instant::now();
        let deadline = now
            .checked_add(request.timeout)
            .unwrap_or_else(|| now + std::time::Duration::from_secs(100 * 365 * 24 * 3600));
        let mut progress = Progress::default();
        let outcome = tokio::time::timeout_at(deadline, self.hops(request, &mut progress)).await;
        match outcome {
            Ok(result) => result,
            Err(_) if progress.sent => Err(EgressError::new(
                EgressErrorKind::MaybeSent,
                format!(
                    "the exchange with {} did not end within {:?}: the request may have reached it",
                    progress.host, request.timeout
                ),
            )),
            Err(_) => Err(EgressError::new(
                EgressErrorKind::NotSent,
                format!(
                    "{} could not be reached within {:?}: nothing was sent",
                    progress.host, request.timeout
                ),
            )),
        }
    }

    async fn hops(
        &self,
        request: &HttpRequest,
        progress: &mut Progress,
    ) -> Result<HttpAnswer, EgressError> {
        let mut target = self.policy.judge(&request.url)?;
        let mut method = method_of(request.method);
        let mut body = request.body.clone();
        let mut headers = header_map(&request.headers)?;
        let mut previous: Option<String> = None;
        let mut redirects = 0;
        loop {
            progress.host = target.host_and_port();
            let response = match self
                .send_one(&target, &method, &headers, body.clone(), progress)
                .await
            {
                Ok(response) => response,
                Err(err) => return Err(after_redirect(previous.as_deref(), &target, err)),
            };
            let status = response.status().as_u16();
            let location = match status {
                301 | 302 | 303 | 307 | 308 => response.headers().get(LOCATION).cloned(),
                _ => None,
            };
            let Some(location) = location else {
                return read_answer(response, &target, request.max_response).await;
            };
            let from = target.host_and_port();
            if redirects == MAX_REDIRECTS {
                return Err(redirect_refused(format!(
                    "{from} answered with a redirect after {MAX_REDIRECTS} redirects, the most \
                         an http step follows; the redirect was not followed"
                )));
            }
            let Some(next) = location
                .to_str()
                .ok()
                .and_then(|location| target.url.join(location).ok())
            else {
                return Err(redirect_refused(format!(
                    "{from} answered with a redirect whose location cannot be read; the \
                         redirect was not followed"
                )));
            };
            let to = shown(&next);
            let next = self.policy.judge_url(next).map_err(|err| {
                redirect_refused(format!(
                    "{from} answered with a redirect to {to}, which is not allowed; the \
                         redirect was not followed ({})",
                    err.message
                ))
            })?;
            let drops_body = match status {
                303 => true,
                301 | 302 => method != Method::GET,
                _ => false,
            };
            if drops_body {
                method = Method::GET;
                body = None;
                for name in [
                    CONTENT_TYPE,
                    CONTENT_LENGTH,
                    CONTENT_ENCODING,
                    TRANSFER_ENCODING,
                ] {
                    headers.remove(name);
                }
            }
            if next.origin() != target.origin() {
                // Headers and bodies the playbook wrote may hold secrets: none of them goes to
                // another origin. A redirect that keeps the body (307, 308) is not followed.
                if body.is_some() {
                    return Err(redirect_refused(format!(
                        "{from} answered with a redirect ({status}) to another origin, {to}, that                          would carry the request's body there; the redirect was not followed"
                    )));
                }
                headers.clear();
            }
            previous = Some(from);
            target = next;
            redirects += 1;
        }
    }

    /// A client pinned to `addresses` for `host`: the one made before for the same name and
    /// addresses, or a new one (kept, up to [`PINNED_CLIENTS`]).
    fn pinned_client(
        &self,
        host: &str,
        addresses: &[SocketAddr],
    ) -> Result<reqwest::Client, EgressError> {
        let mut sorted = addresses.to_vec();
        sorted.sort_unstable();
        let key = (host.to_ascii_lowercase(), sorted);
        let mut pinned = self
            .pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = pinned.get(&key) {
            return Ok(client.clone());
        }
        let made = client(&self.certificates, Some((host, addresses)))?;
        if pinned.len() >= PINNED_CLIENTS {
            pinned.clear();
        }
        pinned.insert(key, made.clone());
        Ok(made)
    }

    /// Resolves a hop's host, checks its addresses and sends the request there.
    async fn send_one(
        &self,
        target: &Target,
        method: &Method,
        headers: &HeaderMap,
        body: Option<Vec<u8>>,
        progress: &mut Progress,
    ) -> Result<reqwest::Response, EgressError> {
        let named = target.host_and_port();
        let (addresses, client) = match &target.host {
            UrlHost::Address(address) => (
                vec![SocketAddr::new(*address, target.port)],
                self.by_address.clone(),
            ),
            UrlHost::Name(_) => {
                let host = target.url.host_str().unwrap_or_default();
                let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, target.port))
                    .await
                    .map_err(|err| {
                        EgressError::new(
                            EgressErrorKind::NotSent,
                            format!("cannot resolve {named}: {err}"),
                        )
                    })?
                    .collect();
                if addresses.is_empty() {
                    return Err(EgressError::new(
                        EgressErrorKind::NotSent,
                        format!("cannot resolve {named}: no address"),
                    ));
                }
                let client = self.pinned_client(host, &addresses)?;
                (addresses, client)
            }
        };
        let tanium = self.tanium_addresses().await?;
        self.policy.check_addresses(target, &addresses, &tanium)?;
        let mut builder = client
            .request(method.clone(), target.url.clone())
            .headers(headers.clone());
        if let Some(body) = body {
            builder = builder.body(body);
        }
        progress.sent = true;
        builder.send().await.map_err(|err| {
            if err.is_connect() || err.is_builder() {
                EgressError::new(
                    EgressErrorKind::NotSent,
                    format!("cannot connect to {named}: {}", describe(err)),
                )
            } else {
                EgressError::new(
                    EgressErrorKind::MaybeSent,
                    format!(
                        "the exchange with {named} failed after the request was sent (it may \
                         have reached it): {}",
                        describe(err)
                    ),
                )
            }
        })
    }

    /// The Tanium server's addresses, resolved for every request (they may move, on a
    /// failover). When its name does not resolve, nothing is sent: the egress cannot tell
    /// whether the request would reach it.
    async fn tanium_addresses(&self) -> Result<Vec<SocketAddr>, EgressError> {
        let Some(tanium) = &self.policy.tanium else {
            return Ok(Vec::new());
        };
        if let UrlHost::Address(address) = tanium.host {
            return Ok(vec![SocketAddr::new(address, tanium.port)]);
        }
        tokio::net::lookup_host((tanium.host_str.as_str(), tanium.port))
            .await
            .map(|addresses| addresses.collect::<Vec<_>>())
            .map_err(|err| {
                EgressError::new(
                    EgressErrorKind::NotSent,
                    format!(
                        "the Tanium server's name {} does not resolve ({err}), so whether this                          request would reach it cannot be told; nothing was sent",
                        tanium.host_str
                    ),
                )
            })
    }
}

/// A hop after a redirect failed: the first request was sent and answered, so what would be
/// "refused" is a refused redirect and what would be "not sent" may have reached the receiver.
fn after_redirect(previous: Option<&str>, target: &Target, err: EgressError) -> EgressError {
    let Some(from) = previous else {
        return err;
    };
    let to = target.host_and_port();
    match err.kind {
        EgressErrorKind::Refused => EgressError::new(
            EgressErrorKind::RedirectRefused,
            format!(
                "{from} answered with a redirect to {to}, which is not allowed; the redirect was \
                 not followed ({})",
                err.message
            ),
        ),
        EgressErrorKind::NotSent => EgressError::new(
            EgressErrorKind::MaybeSent,
            format!(
                "{from} answered with a redirect to {to}, which could not be reached (the first \
                 request reached {from}): {}",
                err.message
            ),
        ),
        _ => err,
    }
}

async fn read_answer(
    mut response: reqwest::Response,
    target: &Target,
    max_response: u64,
) -> Result<HttpAnswer, EgressError> {
    let too_large = || {
        EgressError::new(
            EgressErrorKind::TooLarge,
            format!(
                "the answer from {} is larger than max_response ({max_response} bytes)",
                target.host_and_port()
            ),
        )
    };
    let announced = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > max_response) {
        return Err(too_large());
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|err| {
            EgressError::new(
                EgressErrorKind::MaybeSent,
                format!(
                    "the answer from {} was cut: {}",
                    target.host_and_port(),
                    describe(err)
                ),
            )
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() as u64 + chunk.len() as u64 > max_response {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

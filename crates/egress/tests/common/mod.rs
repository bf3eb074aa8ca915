//! A loopback receiver (axum on 127.0.0.1:0) that records every request it gets and answers
//! as the test says.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use runbook_egress::{EgressConfig, HttpEgress};
use runbook_engine::{HttpMethod, HttpRequest};

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

type Answer = Arc<dyn Fn(&Seen) -> Response + Send + Sync>;

pub struct Receiver {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    /// Starts a receiver; a path starting with `/sleep` is answered after 5 seconds.
    pub async fn start(answer: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Answer = Arc::new(answer);
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let record = record.clone();
            let answer = answer.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .map(|bytes| bytes.to_vec())
                    .unwrap_or_default();
                let seen = Seen {
                    method: parts.method.to_string(),
                    path: parts
                        .uri
                        .path_and_query()
                        .map(|path| path.to_string())
                        .unwrap_or_default(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.to_string(),
                                String::from_utf8_lossy(value.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body,
                };
                record.lock().expect("lock").push(seen.clone());
                if seen.path.starts_with("/sleep") {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                answer(&seen)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { address, seen }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// An answer with a status, headers and a body.
pub fn answer(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<axum::body::Body>,
) -> Response {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("a response")
}

pub fn egress(allow: &[&str], tanium_url: Option<String>) -> HttpEgress {
    HttpEgress::new(EgressConfig {
        allow: allow.iter().map(|text| (*text).to_owned()).collect(),
        tanium_url,
        ca_cert_pem: None,
    })
    .expect("an egress")
}

pub fn request(method: HttpMethod, url: String) -> HttpRequest {
    HttpRequest {
        method,
        url,
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(10),
        max_response: 1 << 20,
    }
}

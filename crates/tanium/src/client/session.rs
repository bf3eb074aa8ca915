//! Login-session authentication: the session a request carries (the API token, or a login
//! session made on first use), renewed once per generation when the server refuses it, so that
//! concurrent requests refused together log in again once, not once each.

use backon::Retryable;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::exchange::{Answer, Failure, LOGIN_HINT, backoff, exchange};
use super::{ObservedExchange, TaniumClient};
use crate::config::Auth;
use crate::error::Error;
use crate::request::{Method, Request};

#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) token: SecretString,
    pub(super) generation: u64,
}

impl TaniumClient {
    pub(super) async fn session(&self) -> Result<Session, Error> {
        match &self.inner.auth {
            Auth::Token(token) => Ok(Session {
                token: token.clone(),
                generation: 0,
            }),
            Auth::Login { .. } => {
                if let Some(session) = self.inner.session.read().await.clone() {
                    return Ok(session);
                }
                self.renew_session(0).await?;
                self.inner
                    .session
                    .read()
                    .await
                    .clone()
                    .ok_or_else(|| Error::decode("data.session", "login gave no session"))
            }
        }
    }

    /// Logs in again unless another task already did since `seen_generation`.
    pub(super) async fn renew_session(&self, seen_generation: u64) -> Result<(), Error> {
        let mut slot = self.inner.session.write().await;
        if let Some(current) = slot.as_ref()
            && current.generation != seen_generation
        {
            return Ok(());
        }
        let token = self.login().await?;
        let generation = slot.as_ref().map_or(1, |s| s.generation + 1);
        *slot = Some(Session { token, generation });
        Ok(())
    }

    /// Tells the observer about a login attempt: its request body with the password replaced.
    fn observe_login(
        &self,
        path: &str,
        domain: Option<&str>,
        username: &str,
        result: &Result<Answer, Failure>,
    ) {
        let Some(observer) = &self.observer.0 else {
            return;
        };
        let mut shown = json!({ "username": username, "password": "[REDACTED]" });
        if let (Some(domain), Some(object)) = (domain, shown.as_object_mut()) {
            object.insert("domain".to_owned(), json!(domain));
        }
        let shown = shown.to_string();
        let (status, response_body) = match result {
            Ok(answer) => (Some(answer.status), Some(answer.body.as_slice())),
            Err(Failure::Status { status, body, .. }) => (Some(*status), Some(body.as_slice())),
            Err(_) => (None, None),
        };
        observer.exchange_bodies(&ObservedExchange {
            method: "POST",
            path,
            request_body: Some(shown.as_bytes()),
            status,
            response_body,
        });
    }

    async fn login(&self) -> Result<SecretString, Error> {
        let Auth::Login {
            username,
            password,
            domain,
        } = &self.inner.auth
        else {
            return Err(Error::Config(
                "login needs a user name and password".to_owned(),
            ));
        };
        let path = "/api/v2/session/login";
        let url = format!("{}{path}", self.inner.base_url);
        let mut body = json!({ "username": username, "password": password.expose_secret() });
        if let (Some(domain), Some(object)) = (domain, body.as_object_mut()) {
            object.insert("domain".to_owned(), json!(domain));
        }
        // The body holds the password: it is built per attempt and never logged or stored.
        let body = SecretString::from(body.to_string());
        let retry = self.inner.retry;
        let answer = (|| async {
            let builder = self
                .inner
                .http
                .post(&url)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.expose_secret().to_owned());
            let result = exchange(builder, path).await;
            self.observe_login(path, domain.as_deref(), username, &result);
            result
        })
        .retry(backoff(retry))
        .sleep(tokio::time::sleep)
        .when(|failure: &Failure| failure.retryable(true))
        .await;
        let bytes = match answer {
            Ok(answer) => answer.body,
            Err(Failure::Status {
                status: 401 | 403, ..
            }) => {
                return Err(Error::Refused {
                    status: 401,
                    hint: LOGIN_HINT.to_owned(),
                });
            }
            Err(failure) => {
                let request = Request {
                    method: Method::Post,
                    path: path.to_owned(),
                    options: None,
                    body: None,
                    safe_to_repeat: true,
                };
                return Err(failure.into_error(&request, true));
            }
        };
        let envelope: Value = serde_json::from_slice(&bytes)
            .map_err(|err| Error::decode("(login answer)", format!("not valid JSON: {err}")))?;
        match envelope.pointer("/data/session").and_then(Value::as_str) {
            Some(session) if !session.is_empty() => Ok(SecretString::from(session.to_owned())),
            _ => Err(Error::decode(
                "data.session",
                "the login answer holds no session",
            )),
        }
    }
}

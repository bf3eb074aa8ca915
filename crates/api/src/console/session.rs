//! Signing in to the console: an API token, posted once from the sign-in form, becomes a
//! session (see `runbook_store`'s sessions): an HttpOnly, SameSite=Strict cookie holding a
//! random id that expires (Secure when the request came through a TLS proxy). Every form
//! carries a CSRF token derived from the session id, which a page of another site can neither
//! read nor compute; the sign-in form, before any session, carries one that must match a
//! cookie set with the form.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use base64::Engine as _;
use runbook_store::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::forms::unreadable_form;
use super::view::{encoded, page, see_other};
use crate::auth::{Caller, RemoteAddr};
use crate::state::Api;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "runbook_session";

/// The cookie the sign-in form's CSRF token must match.
const LOGIN_COOKIE: &str = "runbook_login";

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// How long a sign-in form may wait before it is posted.
const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The CSRF token of the forms of a session: a hash of its id, which only a page holding the
/// id (the server) can compute.
pub(crate) fn csrf_of(session_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"runbook console csrf\0")
        .chain_update(session_id.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Whether `presented` is `expected`, compared in constant time.
fn same(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Whether the client reached us through a TLS proxy (`X-Forwarded-Proto: https` or
/// `Forwarded: proto=https`): then cookies are `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    let says_https = |name: header::HeaderName, check: fn(&str) -> bool| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(check)
    };
    says_https(
        header::HeaderName::from_static("x-forwarded-proto"),
        |value| {
            value
                .split(',')
                .next()
                .is_some_and(|first| first.trim().eq_ignore_ascii_case("https"))
        },
    ) || says_https(header::FORWARDED, |value| {
        value
            .split([';', ','])
            .any(|part| part.trim().eq_ignore_ascii_case("proto=https"))
    })
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Who is signed in, as the templates see them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UserView {
    pub name: String,
    pub role: &'static str,
    pub can_start: bool,
    pub can_cancel: bool,
    pub can_decide: bool,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
}

/// A signed-in console user: the session's token as a [`Caller`], and the session's CSRF
/// token.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub caller: Caller,
    pub csrf: String,
}

impl User {
    pub(crate) fn view(&self) -> UserView {
        let role: Role = self.caller.role;
        UserView {
            name: self.caller.name.clone(),
            role: role.as_str(),
            can_start: role.allows(runbook_store::Action::StartRun),
            can_cancel: role.allows(runbook_store::Action::CancelRun),
            can_decide: role.allows(runbook_store::Action::DecideApproval),
            csrf: self.csrf.clone(),
        }
    }

    /// The user as template context (`user`).
    pub(crate) fn context(&self) -> serde_json::Value {
        serde_json::to_value(self.view()).unwrap_or_default()
    }

    /// Whether a posted form's CSRF token is this session's.
    pub(crate) fn posted_by_us(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|presented| same(presented, &self.csrf))
    }
}

/// Where a request without a valid session is sent: the sign-in page, back to the page after
/// (a form posted without a session is not: it would come back as a GET).
fn to_sign_in(parts: &Parts) -> Response {
    if parts.method != axum::http::Method::GET {
        return see_other("/login");
    }
    let here = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let next = encoded(here, b"/");
    see_other(&format!("/login?next={next}"))
}

impl FromRequestParts<Arc<Api>> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<User, Response> {
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in(parts));
        };
        let verified = match api.store.verify_session(id).await {
            Ok(Some(verified)) => verified,
            Ok(None) => return Err(to_sign_in(parts)),
            Err(error) => {
                return Err(super::view::refusal(
                    &crate::error::ApiError::store(&error),
                    None,
                ));
            }
        };
        if let Err(error) = api.check_token_rate(&verified.name) {
            return Err(super::view::refusal(&error, None));
        }
        Ok(User {
            csrf: csrf_of(id),
            caller: Caller {
                name: verified.name,
                role: verified.role,
                address: parts.extensions.get::<RemoteAddr>().map(|remote| remote.0),
            },
        })
    }
}

/// Where to go after signing in: a path of this console only (never another site).
fn local_path(next: Option<&str>) -> &str {
    match next {
        // Printable ASCII only: a browser drops tabs and newlines from a URL, which would turn
        // `/<tab>/evil.example` into `//evil.example`, another site.
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|byte| byte.is_ascii_graphic())
                && !path.contains('\\')
                && !path.starts_with("/login") =>
        {
            path
        }
        _ => "/runs",
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
}

/// `GET /login`: the sign-in form, with a fresh CSRF cookie.
pub(crate) async fn sign_in_form(headers: HeaderMap, Query(query): Query<SignInQuery>) -> Response {
    sign_in_page(StatusCode::OK, &headers, query.next.as_deref(), None)
}

fn sign_in_page(
    status: StatusCode,
    headers: &HeaderMap,
    next: Option<&str>,
    problem: Option<&str>,
) -> Response {
    let csrf = runbook_store::auth::random_secret("");
    let mut response = page(
        status,
        "login.html",
        serde_json::json!({
            "csrf": csrf,
            "next": local_path(next),
            // A link from another site (a ticket, a chat) comes without the SameSite=Strict
            // cookie: a browser that is signed in goes on with one click on this link.
            "asked": next.is_some_and(|next| local_path(Some(next)) == next),
            "problem": problem,
        }),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &csrf,
            "/login",
            LOGIN_FORM_LIFETIME,
            over_tls(headers),
        ),
    );
    response
}

#[derive(Deserialize)]
pub(crate) struct SignIn {
    token: String,
    csrf: Option<String>,
    next: Option<String>,
}

/// `POST /login`: the token checked by the store, a session made, the cookie set.
pub(crate) async fn sign_in(
    State(api): State<Arc<Api>>,
    remote: Option<Extension<RemoteAddr>>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return unreadable_form(None);
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let posted = form.csrf.as_deref().unwrap_or_default();
    if expected.is_empty() || !same(posted, expected) {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            &headers,
            form.next.as_deref(),
            Some("The form had expired or did not come from this page. Sign in again."),
        );
    }
    let address = remote.map(|Extension(remote)| remote.0.to_string());
    let session = match api
        .store
        .create_session(form.token.trim(), SESSION_LIFETIME, address)
        .await
    {
        Ok(Some(session)) => session,
        Ok(None) => {
            return sign_in_page(
                StatusCode::UNAUTHORIZED,
                &headers,
                form.next.as_deref(),
                Some("That token was not accepted: it is unknown or revoked."),
            );
        }
        Err(error) => {
            return super::view::refusal(&crate::error::ApiError::store(&error), None);
        }
    };
    let secure = over_tls(&headers);
    let mut response = see_other(local_path(form.next.as_deref()));
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &session.id, "/", SESSION_LIFETIME, secure),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", "/login", Duration::ZERO, secure),
    );
    response
}

#[derive(Deserialize)]
pub(crate) struct SignOut {
    csrf: Option<String>,
}

/// `POST /logout`: the session ended in the store, the cookie cleared.
pub(crate) async fn sign_out(
    State(api): State<Arc<Api>>,
    user: User,
    headers: HeaderMap,
    form: Result<Form<SignOut>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return unreadable_form(Some(&user));
    };
    if !user.posted_by_us(form.csrf.as_deref()) {
        return super::forms::forged(&user);
    }
    let id = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    if let Err(error) = api.store.end_session(id, &user.caller.actor()).await {
        return super::view::refusal(
            &crate::error::ApiError::store(&error),
            Some(&user.context()),
        );
    }
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", Duration::ZERO, over_tls(&headers)),
    );
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let sent = headers(&[("cookie", "a=1; runbook_session=rbs_x"), ("cookie", "b=2")]);
        assert_eq!(cookie(&sent, SESSION_COOKIE), Some("rbs_x"));
        assert_eq!(cookie(&sent, "b"), Some("2"));
        assert_eq!(cookie(&sent, "runbook"), None);
    }

    #[test]
    fn the_csrf_token_depends_on_the_session() {
        assert_eq!(csrf_of("rbs_1"), csrf_of("rbs_1"));
        assert_ne!(csrf_of("rbs_1"), csrf_of("rbs_2"));
        assert!(!csrf_of("rbs_1").contains("rbs_1"));
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            local_path(Some("/runs/01J?status=failed")),
            "/runs/01J?status=failed"
        );
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/\u{1}x",
            "runs",
            "/login",
        ] {
            assert_eq!(local_path(Some(elsewhere)), "/runs", "{elsewhere}");
        }
        assert_eq!(local_path(None), "/runs");
    }

    #[test]
    fn cookies_are_secure_behind_a_tls_proxy_only() {
        assert!(over_tls(&headers(&[("x-forwarded-proto", "https")])));
        assert!(over_tls(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!over_tls(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!over_tls(&headers(&[])));
        let cookie = set_cookie(SESSION_COOKIE, "rbs_1", "/", SESSION_LIFETIME, true);
        assert_eq!(
            cookie.to_str().expect("text"),
            "runbook_session=rbs_1; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn the_return_path_is_encoded() {
        assert_eq!(
            encoded("/runs?status=failed&x=<", b"/"),
            "/runs%3Fstatus%3Dfailed%26x%3D%3C"
        );
    }
}

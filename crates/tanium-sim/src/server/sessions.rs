//! `session/login`, `session/validate` and `session/logout`: login sessions for users with a
//! password (API tokens need none of these).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::middleware::authenticate;
use super::{ApiError, ApiResult, AppState, data, parse_body};
use crate::mix;
use crate::state::Session;

pub(super) async fn login(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let username = body
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(user) = shared
        .config
        .users
        .iter()
        .find(|user| user.name == username && user.password == password)
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid username or password",
        ));
    };
    let now = shared.clock.now();
    let mut inner = shared.lock();
    let number = inner.next_session;
    inner.next_session += 1;
    let hex = format!(
        "{:016x}{:016x}",
        mix(shared.config.seed, number),
        mix(number, user.id)
    );
    let session = format!("{}-{}-{hex}", user.id, 200 + number);
    inner.sessions.insert(
        session.clone(),
        Session {
            user_id: user.id,
            created_at: now,
        },
    );
    data(json!({ "session": session }))
}

pub(super) async fn validate(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let session = session_named(&body, &headers);
    authenticate(&shared, session.as_deref())?;
    data(json!({ "session": session.unwrap_or_default() }))
}

pub(super) async fn logout(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let session = session_named(&body, &headers).unwrap_or_default();
    shared.lock().sessions.remove(&session);
    data(json!({ "session": session }))
}

/// The session a validate or logout is about: the body's `session`, else the header's.
fn session_named(body: &Value, headers: &HeaderMap) -> Option<String> {
    body.get("session")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("session")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
}

//! Middleware on every `/api/v2` route: counts the request, keeps the body of any request
//! but a GET for the inspector, injects the configured faults (latency, dropped connections,
//! 429, 503) and authenticates the `session` header.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, AuthUser, DropConnection};
use crate::state::Shared;

/// The largest body read (axum's default limit for the handlers' `Bytes`).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub(super) async fn api_layer(
    State(shared): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Inside `nest` the URI is stripped of `/api/v2`; count the path the client sent.
    let path = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(
            || request.uri().path().to_owned(),
            |uri| uri.path().to_owned(),
        );
    shared.count_request(request.method().as_str(), &path);
    let _in_flight = shared.enter(request.method().as_str(), &path);
    if request.method() != Method::GET
        && let Some(index) = shared.reserve_body(request.method().as_str(), &path)
    {
        // Read the body whole, keep it, and hand the handler the same bytes.
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(error) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body could not be read whole: {error}"),
                )
                .into_response();
            }
        };
        shared.record_body(index, &bytes);
        request = Request::from_parts(parts, Body::from(bytes));
    }
    let (latency, draw, faults) = {
        let mut inner = shared.lock();
        let draw = inner.draw();
        (inner.faults.latency, draw, inner.faults.clone())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut threshold = faults.drop_share;
    if draw < threshold {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(DropConnection);
        return response;
    }
    threshold += faults.rate_limit_share;
    if draw < threshold {
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "simulated rate limit").into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    }
    threshold += faults.error_share;
    if draw < threshold {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "simulated server error")
            .into_response();
    }
    // Login, validate and logout carry their own credentials in the body.
    let unauthenticated = path.ends_with("/session/login")
        || path.ends_with("/session/validate")
        || path.ends_with("/session/logout");
    if !unauthenticated {
        let header_value = request
            .headers()
            .get("session")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match authenticate(&shared, header_value.as_deref()) {
            Ok(user) => {
                request.extensions_mut().insert(AuthUser(user));
            }
            Err(error) => return error.into_response(),
        }
    }
    next.run(request).await
}

/// API tokens: 401 when unknown or refused. Login sessions: 403 when unknown or expired
/// (clients read 403 as "log in again").
pub(super) fn authenticate(shared: &Shared, session: Option<&str>) -> Result<u64, ApiError> {
    let Some(session) = session.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing session header",
        ));
    };
    if session.starts_with("token-") {
        let refused = shared.lock().faults.refuse_token;
        let user = shared
            .config
            .users
            .iter()
            .find(|user| user.api_token == session);
        return match user {
            Some(user) if !refused => Ok(user.id),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "API token refused: unknown, expired, or not trusted from this address",
            )),
        };
    }
    let ttl = shared.session_ttl();
    let now = shared.clock.now();
    let inner = shared.lock();
    match inner.sessions.get(session) {
        Some(found) if ttl.is_none_or(|ttl| now - found.created_at <= ttl) => Ok(found.user_id),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "session expired")),
        None if looks_like_session(session) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, "session is not valid"))
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unrecognised session header",
        )),
    }
}

fn looks_like_session(text: &str) -> bool {
    let mut parts = text.splitn(3, '-');
    let digits = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(parts.next())
        && digits(parts.next())
        && parts.next().is_some_and(|rest| !rest.is_empty())
}

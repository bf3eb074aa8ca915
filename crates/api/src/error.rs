//! Every refusal of the API as one JSON shape, `{"error": {"code": ..., "message": ...}}`, with
//! the status SPEC-2 gives it. Messages say what to do; they never carry a secret value, a
//! token, a signature or the store's own error text (which names the database: that goes to the
//! log).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `bad_json`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`,
    /// `too_large`, `unfit_inputs`, `rate_limited`, `shutting_down`, `store_unavailable`,
    /// `timeout`, `internal`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Each problem on its own (422: one per input that does not fit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    problems: Vec<String>,
    retry_after: Option<u64>,
    authenticate: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
            retry_after: None,
            authenticate: false,
        }
    }

    /// 400: the body is not the JSON the route reads.
    pub fn bad_json(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_json", message)
    }

    /// 400: a query parameter or header that cannot be read.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no token, or one the store does not know (or revoked). Nothing says which.
    pub fn unauthorized() -> ApiError {
        ApiError {
            authenticate: true,
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API token is required: `Authorization: Bearer <token>` (see `runbook tokens create`)",
            )
        }
    }

    /// 401 for a webhook: bad or missing signature, nothing about which part was wrong.
    pub fn bad_signature() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "bad or missing signature",
        )
    }

    /// 403: the token's role does not allow this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: the route exists, not with this method (axum adds `Allow`).
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take this method; the Allow header lists those it takes",
        )
    }

    /// 409: the request conflicts with the state of what it names.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than {} KiB", limit / 1024),
        )
    }

    /// 422: the inputs do not fit the playbook; each problem named, no value echoed.
    pub fn unfit(message: impl Into<String>, problems: Vec<String>) -> ApiError {
        ApiError {
            problems,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unfit_inputs", message)
        }
    }

    /// 422: the playbook has secret inputs and this process has no `RUNBOOK_SECRET_KEY` to
    /// seal them with; nothing is stored in clear.
    pub fn no_secret_key(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_secret_key", message)
    }

    /// 429, with `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_seconds.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry after the time in Retry-After",
            )
        }
    }

    /// 503 while the process shuts down: another process behind the load balancer answers.
    pub fn shutting_down() -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "this runbook process is shutting down; retry (another one may answer)",
            )
        }
    }

    /// 408: the client took too long to send its request.
    pub fn timeout() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took too long",
        )
    }

    /// 503: the store failed. Its error names the database; it goes to the log only.
    pub fn store(error: &runbook_engine::StoreError) -> ApiError {
        tracing::error!(%error, "the run store failed an API request");
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the run store did not answer (the reason is in the server log); retry",
            )
        }
    }

    /// 500, for what should not happen; the reason goes to the log.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "an API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed (the reason is in the server log)",
        )
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message, for the audit log.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Each problem on its own (the inputs that do not fit).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                problems: self.problems,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE
            || self.status == StatusCode::REQUEST_TIMEOUT
        {
            // The rest of the body is not read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"runbook\""),
            );
        }
        response
    }
}

impl From<runbook_engine::StoreError> for ApiError {
    fn from(error: runbook_engine::StoreError) -> ApiError {
        ApiError::store(&error)
    }
}

//! Who is calling: `Authorization: Bearer <token>` checked against the store (only hashes are
//! kept there, compared in constant time), then the token's quota. No token or an unknown one
//! is 401 with nothing about which; a role that does not allow the route is 403.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use runbook_store::{Action, Actor, Role};

use crate::error::ApiError;
use crate::state::Api;

/// The client's address, put in each request's extensions by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

/// A request whose token the store accepted.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name: who the audit log says acted.
    pub name: String,
    pub role: Role,
    /// The client's address, for the audit log.
    pub address: Option<SocketAddr>,
}

impl Caller {
    /// 403 unless the token's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.allows(action) {
            return Ok(());
        }
        let what = match action {
            Action::Read => "read",
            Action::StartRun => "start runs",
            Action::CancelRun => "cancel runs",
            Action::DecideApproval => "decide approvals",
            Action::ReadAudit => "read the audit log",
            Action::ManageTokens => "manage tokens",
        };
        let roles: Vec<&str> = Role::ALL
            .into_iter()
            .filter(|role| role.allows(action))
            .map(Role::as_str)
            .collect();
        Err(ApiError::forbidden(format!(
            "token `{}` has role {}, which may not {what} (roles that may: {})",
            self.name,
            self.role,
            roles.join(", ")
        )))
    }

    /// The caller as the audit log records it.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            address: self.address.map(|address| address.to_string()),
        }
    }
}

/// The bearer token of a request, if it carries one.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<Arc<Api>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Caller, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let verified = api
            .store
            .verify_token(token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        api.check_token_rate(&verified.name)?;
        Ok(Caller {
            name: verified.name,
            role: verified.role,
            address: parts.extensions.get::<RemoteAddr>().map(|remote| remote.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut request = axum::http::Request::builder().uri("/api/v1/runs");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        assert_eq!(bearer(&parts(Some("Bearer rbk_1"))), Some("rbk_1"));
        assert_eq!(bearer(&parts(Some("bearer  rbk_1 "))), Some("rbk_1"));
        assert_eq!(bearer(&parts(Some("Basic dXNlcg=="))), None);
        assert_eq!(bearer(&parts(Some("rbk_1"))), None);
        assert_eq!(bearer(&parts(None)), None);
    }

    #[test]
    fn a_forbidden_answer_names_the_roles_that_may() {
        let caller = Caller {
            name: "reader".to_owned(),
            role: Role::Viewer,
            address: None,
        };
        assert!(caller.require(Action::Read).is_ok());
        let refused = caller.require(Action::StartRun).expect_err("viewer");
        assert_eq!(refused.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(
            refused.message(),
            "token `reader` has role viewer, which may not start runs (roles that may: operator, admin)"
        );
    }
}

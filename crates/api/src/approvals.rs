//! `/api/v1/approvals`: the gates runs wait at (an `approve` step), and deciding one. The store
//! keeps the rules (who may decide, nobody approves their own run, one decision per decider)
//! and audits each decision with the change itself.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use runbook_store::{Action, Approval, Decided, Decider, Decision};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use crate::state::Api;

/// The longest comment kept.
const MAX_COMMENT: usize = 4000;

/// A gate a run waits at.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalItem {
    pub run_id: String,
    pub step_id: String,
    /// What the decider is asked.
    pub summary: String,
    /// What will be done once approved (the plan of the next side-effecting step).
    #[schema(value_type = Object)]
    pub detail: Value,
    /// Token or role names that may decide; empty: any approver.
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub required: u32,
    /// Who started the run (never allowed to decide it).
    pub requested_by: String,
    pub requested_at: String,
    pub expires_at: String,
    pub status: String,
    /// Decisions so far: `{decided_by, decision, comment, at}`.
    #[schema(value_type = Vec<Object>)]
    pub decisions: Vec<Value>,
}

impl From<Approval> for ApprovalItem {
    fn from(approval: Approval) -> ApprovalItem {
        ApprovalItem {
            decisions: approval
                .decisions
                .iter()
                .map(|decision| {
                    serde_json::json!({
                        "decided_by": decision.decided_by,
                        "decision": decision.decision.as_str(),
                        "comment": decision.comment,
                        "at": decision.at,
                    })
                })
                .collect(),
            run_id: approval.run_id,
            step_id: approval.step_id,
            summary: approval.summary,
            detail: approval.detail,
            approvers: approval.approvers,
            required: approval.required,
            requested_by: approval.requested_by,
            requested_at: approval.requested_at,
            expires_at: approval.expires_at,
            status: approval.status.as_str().to_owned(),
        }
    }
}

#[utoipa::path(
    operation_id = "list_approvals",
    get, path = "/api/v1/approvals", tag = "approvals",
    responses(
        (status = 200, description = "Pending approvals, oldest first", body = Vec<ApprovalItem>),
        (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn pending(
    State(api): State<Arc<Api>>,
    caller: Caller,
) -> Result<Json<Vec<ApprovalItem>>, ApiError> {
    caller.require(Action::Read)?;
    let approvals = api.store.pending_approvals().await?;
    Ok(Json(
        approvals.into_iter().map(ApprovalItem::from).collect(),
    ))
}

/// The body of a decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approve` or `deny`.
    pub decision: String,
    /// Why (kept with the decision, shown to the run as the step's `comments`).
    #[serde(default)]
    pub comment: Option<String>,
}

/// Where the approval stands after the decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionAnswer {
    pub run_id: String,
    pub step_id: String,
    /// `pending` (more approvals needed), `approved` or `denied`.
    pub status: String,
}

#[utoipa::path(
    operation_id = "decide_approval",
    post, path = "/api/v1/approvals/{run_id}/{step_id}", tag = "approvals",
    params(
        ("run_id" = String, Path, description = "The waiting run"),
        ("step_id" = String, Path, description = "Its approve step"),
    ),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "Recorded", body = DecisionAnswer),
        (status = 400, description = "The body or a parameter cannot be read", body = ErrorBody), (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody),
        (status = 403, description = "Not an approver of this gate, or the run's own starter", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 409, description = "Already decided by this token, or no longer pending", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub(crate) async fn decide(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((run_id, step_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<DecisionRequest>,
) -> Result<Json<DecisionAnswer>, ApiError> {
    decide_as(
        &api,
        &caller,
        run_id,
        step_id,
        &request.decision,
        request.comment.as_deref(),
    )
    .await
    .map(Json)
}

/// Records `caller`'s decision (`approve` or `deny`) on a gate: the API's decision and the
/// console's. The store checks who may decide and audits the decision.
pub(crate) async fn decide_as(
    api: &Api,
    caller: &Caller,
    run_id: String,
    step_id: String,
    decision: &str,
    comment: Option<&str>,
) -> Result<DecisionAnswer, ApiError> {
    caller.require(Action::DecideApproval)?;
    let decision = match decision {
        "approve" => Decision::Approve,
        "deny" => Decision::Deny,
        _ => {
            return Err(ApiError::bad_request(
                "decision must be \"approve\" or \"deny\"",
            ));
        }
    };
    let comment = comment.map(str::trim);
    if comment.is_some_and(|comment| comment.chars().count() > MAX_COMMENT) {
        return Err(ApiError::bad_request(format!(
            "the comment is longer than {MAX_COMMENT} characters"
        )));
    }
    let decider = Decider {
        name: caller.name.clone(),
        role: caller.role,
    };
    let decided = api
        .store
        .decide_approval(
            &run_id,
            &step_id,
            &decider,
            decision,
            comment.filter(|comment| !comment.is_empty()),
            &caller.actor(),
        )
        .await?;
    let gate = format!("the approval of step `{step_id}` of run {run_id}");
    match decided {
        Decided::Recorded { status } => Ok(DecisionAnswer {
            run_id,
            step_id,
            status: status.as_str().to_owned(),
        }),
        Decided::NotFound => Err(ApiError::not_found(format!("there is no {gate}"))),
        Decided::NotPending(status) => Err(ApiError::conflict(format!(
            "{gate} is {}: it takes no more decisions",
            status.as_str()
        ))),
        Decided::SelfApproval => Err(ApiError::forbidden(format!(
            "token `{}` started run {run_id}: nobody approves their own run",
            caller.name
        ))),
        Decided::NotAllowed => Err(ApiError::forbidden(format!(
            "token `{}` is not among the approvers of {gate}",
            caller.name
        ))),
        Decided::AlreadyDecided => Err(ApiError::conflict(format!(
            "token `{}` decided {gate} already; a decision is not changed",
            caller.name
        ))),
    }
}

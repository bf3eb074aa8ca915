//! What the console's forms do: decide an approval, cancel a run, start a run. Each checks the
//! form's CSRF token first, then does what the API does for the same request (same role
//! checks, same store calls, same audit entries), then sends the browser on with a 303.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use indexmap::IndexMap;
use runbook_store::{Action, NewAuditEntry};
use serde::Deserialize;
use serde_json::json;

use super::session::User;
use super::view::{encoded, refusal, see_other};
use crate::error::ApiError;
use crate::runs::not_offered;
use crate::start::{Started, start_run};
use crate::state::Api;

/// 403 for a form posted without this session's CSRF token.
pub(crate) fn forged(user: &User) -> Response {
    refusal(
        &ApiError::forbidden(
            "the form did not carry this session's CSRF token (it came from another page, or \
             the session changed); reload the page and try again",
        ),
        Some(&user.context()),
    )
}

/// 400 for a form body that cannot be read (a field missing, not a form).
pub(crate) fn unreadable_form(user: Option<&User>) -> Response {
    refusal(
        &ApiError::bad_request(
            "the form could not be read (a field is missing or the body is not a form); \
             reload the page and try again",
        ),
        user.map(User::context).as_ref(),
    )
}

#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    csrf: Option<String>,
    decision: String,
    comment: Option<String>,
}

/// `POST /approvals/{run_id}/{step_id}`: approve or deny, with a comment; then the run's page.
pub(crate) async fn decide(
    State(api): State<Arc<Api>>,
    user: User,
    Path((run_id, step_id)): Path<(String, String)>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return unreadable_form(Some(&user));
    };
    if !user.posted_by_us(form.csrf.as_deref()) {
        return forged(&user);
    }
    let decided = crate::approvals::decide_as(
        &api,
        &user.caller,
        run_id.clone(),
        step_id,
        &form.decision,
        form.comment.as_deref(),
    )
    .await;
    match decided {
        Ok(_) => see_other(&format!("/runs/{}", encoded(&run_id, b""))),
        Err(error) => refusal(&error, Some(&user.context())),
    }
}

#[derive(Deserialize)]
pub(crate) struct CancelForm {
    csrf: Option<String>,
    stop_actions: Option<String>,
}

/// `POST /runs/{id}/cancel`: cancel (and stop its actions when ticked); then the run's page.
pub(crate) async fn cancel(
    State(api): State<Arc<Api>>,
    user: User,
    Path(run_id): Path<String>,
    form: Result<Form<CancelForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return unreadable_form(Some(&user));
    };
    if !user.posted_by_us(form.csrf.as_deref()) {
        return forged(&user);
    }
    let result = async {
        user.caller.require(Action::CancelRun)?;
        crate::runs::cancel_as(
            &api,
            &user.caller,
            run_id.clone(),
            form.stop_actions.is_some(),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => see_other(&format!("/runs/{}", encoded(&run_id, b""))),
        Err(error) => refusal(&error, Some(&user.context())),
    }
}

/// `POST /playbooks/{name}/start`: the form's `input.NAME` fields bound as `--input NAME=VALUE`
/// is (empty fields left to their defaults); queued, audited, then the new run's page. Inputs
/// that do not fit come back on the form, each problem named, no secret value echoed.
pub(crate) async fn start(
    State(api): State<Arc<Api>>,
    user: User,
    Path(name): Path<String>,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = fields else {
        return unreadable_form(Some(&user));
    };
    let csrf = fields
        .iter()
        .find(|(field, _)| field == "csrf")
        .map(|(_, value)| value.as_str());
    if !user.posted_by_us(csrf) {
        return forged(&user);
    }
    if let Err(error) = user.caller.require(Action::StartRun) {
        return refusal(&error, Some(&user.context()));
    }
    let Some(entry) = api.catalog.offered(&name) else {
        return refusal(&not_offered(&api, &name), Some(&user.context()));
    };
    let secret = |input: &str| {
        entry
            .playbook
            .as_deref()
            .and_then(|playbook| playbook.inputs.get(input))
            .is_some_and(|declaration| declaration.secret)
    };
    let pairs: Vec<(String, String)> = fields
        .iter()
        .filter_map(|(field, value)| {
            let input = field.strip_prefix("input.")?;
            (!value.is_empty()).then(|| (input.to_owned(), value.clone()))
        })
        .collect();
    let started = start_run(
        &api,
        entry,
        &pairs,
        &IndexMap::new(),
        format!("console:{}", user.caller.name),
        None,
    )
    .await;
    match started {
        Ok((Started::Queued(run_id) | Started::Duplicate(run_id), _)) => {
            let audited = api
                .store
                .append_audit(&NewAuditEntry {
                    actor: user.caller.actor(),
                    action: "run.started".to_owned(),
                    target: Some(run_id.clone()),
                    detail: json!({ "playbook": entry.name, "via": "console" }),
                })
                .await;
            if let Err(error) = audited {
                return refusal(&ApiError::store(&error), Some(&user.context()));
            }
            see_other(&format!("/runs/{}", encoded(&run_id, b"")))
        }
        Err(error) if error.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let given: BTreeMap<String, String> = pairs
                .into_iter()
                .filter(|(input, _)| !secret(input))
                .collect();
            let mut problems = error.problems().to_vec();
            if problems.is_empty() {
                problems.push(error.message().to_owned());
            }
            super::pages::playbook_page(
                &api,
                &user,
                entry,
                StatusCode::UNPROCESSABLE_ENTITY,
                &problems,
                &given,
            )
        }
        Err(error) => refusal(&error, Some(&user.context())),
    }
}

//! `await_approval`: waits until an action's saved action is approved in Tanium (the engine
//! never approves its own actions), its deadline kept across resumes.
//!
//! An action this run issued names its saved action already, so a check is one read of the
//! saved action. The action itself is read only while it is not approved (a stopped or
//! expired action will never run, so waiting for it would be pointless), or when this run did
//! not issue it and the saved action's id is not known yet.

use std::time::Duration;

use runbook_playbook::{AwaitApprovalStep, Step};
use serde_json::{Map, Value, json};

use super::{action_id, dead_word, placeholders};
use crate::events::Event;
use crate::plan::{PlanStep, Planner, Scope};
use crate::platform::{ActionInfo, Approval};
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::values::{humanize, plan_id};

/// Runs an `await_approval` step: checks until the action is approved, or its wait ends.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    wait: &AwaitApprovalStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let action_id = action_id(engine, state, &wait.action, &context)?;
    // Waited and left count across an interruption: a resumed wait goes on to the deadline
    // recorded when the step first started, and reports the time waited before it too.
    let clock = engine.wait_clock(state, wait.timeout);
    let mut saved_action_id = state
        .issued
        .get(&action_id)
        .map(|issued| issued.saved_action_id)
        .filter(|id| *id != 0);
    let mut first_check = true;
    let mut required = false;
    loop {
        let mut action_read = false;
        let saved = match saved_action_id {
            Some(id) => id,
            None => {
                let id = live_action(engine, action_id).await?.saved_action_id;
                saved_action_id = Some(id);
                action_read = true;
                id
            }
        };
        let approval = engine.platform.approval(saved).await?;
        if approval.approved {
            return Ok(approved(
                action_id,
                &approval,
                required,
                clock.waited().as_secs(),
            ));
        }
        // Not approved (yet): an action that was stopped or expired meanwhile never will be.
        if !action_read {
            live_action(engine, action_id).await?;
        }
        if first_check {
            required = true;
            first_check = false;
        }
        let waited = clock.waited();
        engine.emit(
            state,
            Event::ApprovalWaiting {
                step_id: step.id.clone(),
                action_id,
                waited_seconds: waited.as_secs(),
                timeout_seconds: wait.timeout.as_secs(),
                left_seconds: Some(clock.left().as_secs()),
            },
        );
        engine.flush(state).await?;
        if clock.expired() {
            return Err(StepError::new(format!(
                "action {action_id} was not approved within {}; it stays pending in Tanium (saved action {saved})",
                humanize(wait.timeout)
            )));
        }
        engine
            .pause(
                wait.interval
                    .min(clock.left())
                    .max(Duration::from_millis(1)),
            )
            .await?;
    }
}

/// Reads the action: it fails the step when the action is stopped or expired, or when the
/// platform does not say which saved action stands behind it.
async fn live_action(engine: &Engine, action_id: u64) -> Result<ActionInfo, StepError> {
    let action = engine.platform.action(action_id).await?;
    if action.is_dead() {
        return Err(StepError::new(format!(
            "action {action_id} is {} and will not run",
            dead_word(&action)
        )));
    }
    if action.saved_action_id == 0 {
        return Err(StepError::new(format!(
            "Tanium did not say which saved action stands behind action {action_id}, so its approval cannot be read"
        )));
    }
    Ok(action)
}

/// The outputs and summary of an approved action; `required` when an earlier check found it
/// waiting. The approver is the name Tanium records on the saved action.
fn approved(action_id: u64, approval: &Approval, required: bool, waited: u64) -> StepDone {
    let by = approval
        .approver
        .as_deref()
        .map(|name| format!(" by {name}"))
        .unwrap_or_default();
    let summary = if required {
        format!(
            "action {action_id} approved{by} after {}",
            humanize(Duration::from_secs(waited))
        )
    } else if by.is_empty() {
        format!("action {action_id} needs no approval (or was already approved)")
    } else {
        format!("action {action_id} was already approved{by}")
    };
    let outputs = Map::from_iter([
        ("required".to_owned(), json!(required)),
        ("approved".to_owned(), json!(true)),
        ("approver".to_owned(), json!(approval.approver)),
        ("waited".to_owned(), json!(waited)),
    ]);
    StepDone { outputs, summary }
}

/// Plans an `await_approval` step: the checks it would make.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    wait: &AwaitApprovalStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let action = plan_id(&planner.render_known(&wait.action, scope)?);
    planned.details.push(format!(
        "check every {} until action {action} is approved (at most {}); the engine never approves its own actions",
        humanize(wait.interval),
        humanize(wait.timeout)
    ));
    planned.requests = planner.platform.plan_approval(&action);
    Ok(placeholders(step))
}

//! `await_approval`: waits until an action's saved action is approved in Tanium (the engine
//! never approves its own actions), its deadline kept across resumes.

use std::time::Duration;

use runbook_playbook::{AwaitApprovalStep, Step};
use serde_json::{Map, Value, json};

use super::{action_id, dead_word, placeholders};
use crate::events::Event;
use crate::plan::{PlanStep, Planner, Scope};
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
    let timeout = engine.wait_left(state, wait.timeout);
    let stopwatch = engine.pace.start();
    let mut first_check = true;
    let mut required = false;
    loop {
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
        let approved = engine.platform.approved(action.saved_action_id).await?;
        if approved {
            let waited = stopwatch.elapsed().as_secs();
            let summary = if required {
                format!(
                    "action {action_id} approved after {}",
                    humanize(Duration::from_secs(waited))
                )
            } else {
                format!("action {action_id} needs no approval (or was already approved)")
            };
            let outputs = Map::from_iter([
                ("required".to_owned(), json!(required)),
                ("approved".to_owned(), json!(true)),
                ("waited".to_owned(), json!(waited)),
            ]);
            return Ok(StepDone { outputs, summary });
        }
        if first_check {
            required = true;
            first_check = false;
        }
        let waited = stopwatch.elapsed();
        engine.emit(
            state,
            Event::ApprovalWaiting {
                step_id: step.id.clone(),
                action_id,
                waited_seconds: waited.as_secs(),
                timeout_seconds: wait.timeout.as_secs(),
                left_seconds: Some(timeout.saturating_sub(waited).as_secs()),
            },
        );
        engine.flush(state).await?;
        if waited >= timeout {
            return Err(StepError::new(format!(
                "action {action_id} was not approved within {}; it stays pending in Tanium (saved action {})",
                humanize(wait.timeout),
                action.saved_action_id
            )));
        }
        let remaining = timeout.saturating_sub(waited);
        engine
            .pause(wait.interval.min(remaining).max(Duration::from_millis(1)))
            .await?;
    }
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

//! `stop_action`: stops an action, idempotently. Stopping an action that already ended
//! (stopped, expired or closed) succeeds: the platform may refuse the stop, and the action is
//! then read to see whether it still runs. [`stop_action`] is the one way runbook stops an
//! action on purpose: the step and `runbook runs cancel --stop-actions` both call it.

use runbook_playbook::{Step, StopActionStep};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{action_id, placeholders};
use crate::plan::{PlanStep, Planner, Scope};
use crate::platform::{ActionInfo, Platform, PlatformError};
use crate::run::{Engine, RunState, StepDone, StepError, store_error};
use crate::values::plan_id;

/// What became of an action runbook asked to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoppedAction {
    pub action_id: u64,
    /// True when the stop was accepted or the action had been stopped before; false when it
    /// had already ended otherwise (expired, closed), leaving nothing to stop.
    pub stopped: bool,
    /// The action's status as read after the stop (`Stopped`, `Expired`, ...).
    pub status: String,
    /// True when the platform refused the stop because the action had already ended.
    pub already_ended: bool,
}

/// Whether an action will not run any more: stopped, expired, or closed (finished).
fn has_ended(action: &ActionInfo) -> bool {
    action.is_dead() || action.status.eq_ignore_ascii_case("closed")
}

/// Whether an action counts as stopped.
fn is_stopped(action: &ActionInfo) -> bool {
    action.stopped || action.status.eq_ignore_ascii_case("stopped")
}

/// Stops an action and reads it back. A stop the platform refuses is a success when the
/// action has ended anyway (stopped, expired or closed); otherwise the platform's error.
pub async fn stop_action(
    platform: &dyn Platform,
    action_id: u64,
) -> Result<StoppedAction, PlatformError> {
    match platform.stop_action(action_id).await {
        Ok(()) => {
            let action = platform.action(action_id).await.map_err(|error| {
                PlatformError::new(
                    error.kind,
                    format!(
                        "the stop of action {action_id} was sent, but the action could not be read back: {}",
                        error.message
                    ),
                )
            })?;
            Ok(StoppedAction {
                action_id,
                stopped: true,
                status: action.status,
                already_ended: false,
            })
        }
        Err(refused) => match platform.action(action_id).await {
            Ok(action) if has_ended(&action) => Ok(StoppedAction {
                action_id,
                stopped: is_stopped(&action),
                status: action.status,
                already_ended: true,
            }),
            _ => Err(refused),
        },
    }
}

/// Runs a `stop_action` step: the lease is checked right before the stop leaves.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    stop: &StopActionStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let action_id = action_id(engine, state, &stop.action, &context)?;
    if let Some(store) = &engine.store {
        store.may_send(state.run_id()).await.map_err(store_error)?;
    }
    let outcome = stop_action(engine.platform.as_ref(), action_id).await?;
    let summary = match (outcome.already_ended, outcome.stopped) {
        (false, _) => format!("action {action_id} stopped (status {})", outcome.status),
        (true, true) => format!("action {action_id} was already stopped"),
        (true, false) => format!(
            "action {action_id} had already ended ({}): nothing to stop",
            outcome.status
        ),
    };
    let outputs = Map::from_iter([
        ("stopped".to_owned(), json!(outcome.stopped)),
        ("status".to_owned(), json!(outcome.status)),
    ]);
    Ok(StepDone { outputs, summary })
}

/// Plans a `stop_action` step: the stop it would send.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    stop: &StopActionStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let action = plan_id(&planner.render_known(&stop.action, scope)?);
    planned.details.push(format!(
        "stop action {action} (an action that already ended counts as stopped), then read it back"
    ));
    planned.requests = planner.platform.plan_stop_action(&action);
    Ok(placeholders(step))
}

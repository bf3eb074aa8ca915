//! `assert`: a condition that must hold, or the step fails with its message.

use runbook_playbook::AssertStep;
use serde_json::{Map, Value, json};

use crate::plan::{PlanStep, Planner, Rendered, Scope};
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::template::condition_holds;
use crate::values::value_text;

/// Runs an `assert` step: fails the step when its condition does not hold.
pub(crate) fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    assertion: &AssertStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    if engine.holds(&assertion.that, &context)? {
        return Ok(StepDone {
            outputs: Map::new(),
            summary: "assertion holds".to_owned(),
        });
    }
    let message = match &assertion.message {
        Some(message) => value_text(&engine.render(state, message, &context)?),
        None => format!("assertion failed: {}", value_text(&assertion.that.value)),
    };
    Err(StepError::new(message))
}

/// Plans an `assert` step: decided here when it depends on inputs only.
pub(crate) fn plan(
    planner: &Planner<'_>,
    assertion: &AssertStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    match planner.condition(&assertion.that, scope)? {
        Rendered::Known(value) if condition_holds(&assertion.that.value, &value) => planned
            .details
            .push("assertion holds for these inputs".to_owned()),
        Rendered::Known(_) => {
            return Err(format!(
                "assertion `{}` is false for these inputs",
                value_text(&assertion.that.value)
            ));
        }
        Rendered::Unknown(expression) => planned
            .details
            .push(format!("check at run time: {expression}")),
    }
    Ok(json!({"skipped": false, "passed": true}))
}

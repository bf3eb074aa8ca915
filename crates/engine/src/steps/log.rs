//! `log`: a message for the run's events; one computed from a secret is shown `[REDACTED]`.

use runbook_playbook::{Step, TemplateValue};
use serde_json::{Map, Value, json};

use super::shown;
use crate::events::Event;
use crate::plan::{PlanStep, Planner, Scope};
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::values::value_text;

/// Runs a `log` step: renders the message and emits it.
pub(crate) fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    message: &TemplateValue,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let rendered = engine.render_tracked(state, message, &context)?;
    // A message computed from a secret is a secret as a whole.
    let text = if rendered.taint.is_clean() {
        state.redactor.redact_text(&value_text(&rendered.value))
    } else {
        crate::redact::REDACTED.to_owned()
    };
    engine.emit(
        state,
        Event::Log {
            step_id: step.id.clone(),
            message: text.clone(),
        },
    );
    Ok(StepDone {
        outputs: Map::new(),
        summary: text,
    })
}

/// Plans a `log` step: the message, when the inputs tell it.
pub(crate) fn plan(
    planner: &Planner<'_>,
    message: &TemplateValue,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let (text, taint) = planner.render_known_shown(message, scope)?;
    let text = value_text(&text);
    planned
        .details
        .push(format!("log: {}", shown(&text, &taint)));
    Ok(json!({"skipped": false, "message": text}))
}

//! `set`: named values computed once for later steps; those computed from secrets stay
//! secret (recorded and shown `[REDACTED]`, read in full by later steps).

use indexmap::IndexMap;
use runbook_playbook::TemplateValue;
use serde_json::{Map, Value};

use super::shown;
use crate::plan::{PlanStep, Planner, Scope};
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::template::Taint;
use crate::values::value_text;

/// Runs a `set` step: renders each value.
pub(crate) fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    values: &IndexMap<String, TemplateValue>,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let mut outputs = Map::new();
    let mut taint = Taint::clean();
    for (name, template) in values {
        let rendered = engine.render_tracked(state, template, &context)?;
        taint.set_part(name, rendered.taint);
        outputs.insert(name.clone(), rendered.value);
    }
    // Taken by `seal` when the step is done: later steps know these are secret.
    state.tainted.pending = taint;
    let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    let summary = format!("set {}", names.join(", "));
    Ok(StepDone { outputs, summary })
}

/// Plans a `set` step: each value, when the inputs tell it; which of them are secret.
pub(crate) fn plan(
    planner: &Planner<'_>,
    values: &IndexMap<String, TemplateValue>,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
    outputs_taint: &mut Taint,
) -> Result<Value, String> {
    let mut outputs = Map::new();
    outputs.insert("skipped".to_owned(), Value::Bool(false));
    for (name, template) in values {
        let (value, taint) = planner.render_known_shown(template, scope)?;
        planned.details.push(format!(
            "set {name} = {}",
            shown(&value_text(&value), &taint)
        ));
        outputs_taint.set_part(name, taint);
        outputs.insert(name.clone(), value);
    }
    Ok(Value::Object(outputs))
}

//! `parameterize`: a package resolved by name or id, with its parameters checked against its
//! definition and defaults filled in. The `package_spec` it gives is what `issue` sends.

use runbook_playbook::{PackageRef, ParameterizeStep, Step};
use serde_json::{Map, Value, json};

use super::shown;
use crate::plan::{PlanStep, Planner, Rendered, Scope};
use crate::platform::{PackageSelector, PlanValue};
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::values::{as_u64, parameter_text, value_text};

/// Runs a `parameterize` step: resolves the package and checks its parameters.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    parameterize: &ParameterizeStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let selector = match &parameterize.package {
        PackageRef::Name(name) => {
            PackageSelector::Name(value_text(&engine.render(state, name, &context)?))
        }
        PackageRef::Id(id) => PackageSelector::Id(
            as_u64(&engine.render(state, id, &context)?)
                .ok_or_else(|| StepError::new("`package_id` must be a whole number"))?,
        ),
    };
    let mut params = Vec::with_capacity(parameterize.params.len());
    for (key, template) in &parameterize.params {
        let value = engine.render(state, template, &context)?;
        params.push((key.clone(), parameter_text(&value)));
    }
    let outcome = engine.platform.resolve_package(&selector, &params).await?;
    let parameters: Vec<Value> = outcome
        .parameters
        .iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    let summary = format!(
        "package {} (id {}) with {} parameter{}",
        outcome.package_name,
        outcome.package_id,
        parameters.len(),
        if parameters.len() == 1 { "" } else { "s" }
    );
    let outputs = Map::from_iter([
        (
            "package_spec".to_owned(),
            json!({"source_id": outcome.package_id, "parameters": parameters}),
        ),
        ("package_id".to_owned(), json!(outcome.package_id)),
        ("package_name".to_owned(), json!(outcome.package_name)),
        ("parameters".to_owned(), Value::Array(parameters)),
        ("command".to_owned(), json!(outcome.command)),
    ]);
    state.packages.insert(outcome.package_id, outcome);
    Ok(StepDone { outputs, summary })
}

/// Plans a `parameterize` step: the package read, the parameters given.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    parameterize: &ParameterizeStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let id = &step.id;
    let selector = match &parameterize.package {
        PackageRef::Name(name) => match planner.render(name, scope)? {
            Rendered::Known(value) => PlanValue::Known(PackageSelector::Name(value_text(&value))),
            Rendered::Unknown(text) => PlanValue::Placeholder(text),
        },
        PackageRef::Id(template) => match planner.render(template, scope)? {
            Rendered::Known(value) => match as_u64(&value) {
                Some(id) => PlanValue::Known(PackageSelector::Id(id)),
                None => PlanValue::Placeholder(value_text(&value)),
            },
            Rendered::Unknown(text) => PlanValue::Placeholder(text),
        },
    };
    let mut parameters = Vec::new();
    for (key, template) in &parameterize.params {
        let (value, taint) = planner.render_known_shown(template, scope)?;
        let value = value_text(&value);
        planned
            .details
            .push(format!("parameter {key} = {}", shown(&value, &taint)));
        parameters.push(json!({"key": key, "value": value}));
    }
    planned
        .details
        .push("the package definition is read, values checked, defaults filled in".to_owned());
    planned.requests = planner.platform.plan_package(&selector);
    if let PlanValue::Known(known) = &selector {
        let given = parameters
            .iter()
            .filter_map(|item| {
                Some((
                    item.get("key")?.as_str()?.to_owned(),
                    value_text(item.get("value")?),
                ))
            })
            .collect();
        planned.lookups.package = Some((known.clone(), given));
    }
    Ok(json!({
        "skipped": false,
        "package_spec": {"source_id": format!("<steps.{id}.package_id>"), "parameters": parameters},
        "package_id": format!("<steps.{id}.package_id>"),
        "package_name": match &selector {
            PlanValue::Known(PackageSelector::Name(name)) => Value::String(name.clone()),
            _ => Value::String(format!("<steps.{id}.package_name>")),
        },
        "parameters": parameters,
        "command": format!("<steps.{id}.command>"),
    }))
}

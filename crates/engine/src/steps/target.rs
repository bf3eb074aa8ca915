//! `target`: the group of machines an action is issued to, from clauses, a filter group or
//! raw targeting text. The run creates the group; the plan shows the question it would create.

use runbook_playbook::{Step, TargetStep};
use serde_json::{Map, Value, json};

use super::{clauses, platform_error_kind};
use crate::plan::{PlanStep, Planner, Scope};
use crate::platform::TargetRequest;
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::values::value_text;

/// Runs a `target` step: renders its clauses (or filter group) and creates the group.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    target: &TargetStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    // Whether a clause value was computed from a secret: the platform quotes and escapes
    // it into the question text, so that text is a secret as a whole.
    let mut secret = false;
    let request = match target {
        TargetStep::Clauses { combine, clauses } => {
            let rendered = clauses::render(engine, state, &step.id, clauses, &context)?;
            secret = rendered.secret;
            if rendered.clauses.is_empty() {
                return Err(StepError::new(
                    "every clause of this target was skipped by its `when`; refusing to target every machine",
                ));
            }
            TargetRequest::Clauses {
                combine: *combine,
                clauses: rendered.clauses,
            }
        }
        TargetStep::FilterGroup(name) => TargetRequest::FilterGroup {
            name_or_id: value_text(&engine.render(state, name, &context)?),
        },
        TargetStep::Text(text) => TargetRequest::Text {
            text: text.value.clone(),
        },
    };
    let outcome = match engine.platform.create_target(&request).await {
        Ok(outcome) => outcome,
        // The platform's message may quote the question in its own escaping, which the
        // redactor would not recognise.
        Err(error) if secret => {
            return Err(StepError::new(format!(
                "the target group could not be created ({}; details withheld: the question holds a value computed from a secret)",
                platform_error_kind(error.kind)
            )));
        }
        Err(error) => return Err(error.into()),
    };
    if secret {
        state.redactor.add(&outcome.text);
    }
    let summary = match &request {
        TargetRequest::FilterGroup { name_or_id } => {
            format!("filter group {name_or_id} (id {})", outcome.group_id)
        }
        _ => format!("group {} for: {}", outcome.group_id, outcome.text),
    };
    let outputs = Map::from_iter([
        (
            "group".to_owned(),
            json!({"id": outcome.group_id, "filter_flag": outcome.filter_flag}),
        ),
        ("group_id".to_owned(), json!(outcome.group_id)),
        ("text".to_owned(), json!(outcome.text)),
    ]);
    Ok(StepDone { outputs, summary })
}

/// Plans a `target` step: the group it would create (the question text, quoted and escaped by
/// the platform), with its id as a placeholder.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    target: &TargetStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let id = &step.id;
    // A clause value computed from a secret makes the question text a secret
    // (the platform quotes and escapes the value into it).
    let mut secret = false;
    // A clause value only a run can tell: what the clauses match cannot be asked now.
    let mut unknown = false;
    let (request, filter_flag) = match target {
        TargetStep::Clauses { combine, clauses } => {
            let rendered = clauses::plan(planner, clauses, scope, &mut planned.details)?;
            secret = rendered.secret;
            unknown = rendered.unknown;
            if rendered.clauses.is_empty() {
                return Err(
                    "every clause of this target is skipped by its `when`; the run would refuse to target every machine"
                        .to_owned(),
                );
            }
            (
                TargetRequest::Clauses {
                    combine: *combine,
                    clauses: rendered.clauses,
                },
                false,
            )
        }
        TargetStep::FilterGroup(name) => (
            TargetRequest::FilterGroup {
                name_or_id: value_text(&planner.render_known(name, scope)?),
            },
            true,
        ),
        TargetStep::Text(text) => (
            TargetRequest::Text {
                text: text.value.clone(),
            },
            false,
        ),
    };
    planned.requests = planner
        .platform
        .plan_target(&request)
        .map_err(|error| error.message)?;
    if unknown {
        planned.lookups.target_unknown = true;
    } else {
        planned.lookups.target = Some(request.clone());
    }
    let text = match &request {
        TargetRequest::FilterGroup { name_or_id } => {
            planned
                .details
                .push(format!("use the filter group `{name_or_id}`"));
            String::new()
        }
        _ => {
            let text = planned
                .requests
                .first()
                .and_then(|request| request.body.as_ref())
                .and_then(|body| body.get("text"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if secret {
                scope.secrets.add(&text);
            }
            planned.details.push(format!("target: {text}"));
            text
        }
    };
    Ok(json!({
        "skipped": false,
        "group": {"id": format!("<steps.{id}.group_id>"), "filter_flag": filter_flag},
        "group_id": format!("<steps.{id}.group_id>"),
        "text": text,
    }))
}

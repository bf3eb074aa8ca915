//! `approve`: runbook's own gate. The step opens a gate in the store with what is decided (its
//! summary) and what will be done once approved (the plan of the next side-effecting step:
//! target text and count, package and parameters, action group), then waits for decisions
//! made outside the run (`runbook approve`, the API, the console). One denial fails the step
//! with the denier's comment; `required` distinct approvals let the run go on; the deadline
//! (kept across resumes) fails it.
//!
//! The rules of who may decide (the approvers, nobody on their own run, one decision each)
//! are the store's, kept where the decisions are written. Waiting costs no worker: with
//! parking on (a serve worker), the run stops here and goes back to the queue until a decision
//! or its deadline wakes it; elsewhere (`runbook run`) the step looks at the gate every second.

use std::time::Duration;

use runbook_playbook::{ApproveStep, Step, StepKind};
use serde_json::{Map, Value, json};

use super::{action_id, placeholders, sends, shown};
use crate::events::Event;
use crate::plan::{PlanStep, Planner, Scope};
use crate::run::{Engine, RunState, StepDone, StepError, store_error};
use crate::store::{ApprovalGate, GateState};
use crate::values::{humanize, value_text};

/// How often a waiting step looks at its gate when the run is not parked (real time).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// How long counting the next step's target may take before the gate opens without a count.
const COUNT_WAIT: Duration = Duration::from_secs(60);

/// Runs an `approve` step.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    approve: &ApproveStep,
) -> Result<StepDone, StepError> {
    let Some(store) = engine.store.clone() else {
        return Err(StepError::new(
            "an `approve` step keeps its gate in the run store, and this run has none: run it \
             with a store (not `--store none`)",
        ));
    };
    let run_id = state.run_id().to_owned();
    // Inside a loop, each item has a gate of its own.
    let gate_id = state.record_id(&step.id);
    let clock = engine.wait_clock(state, approve.timeout);
    let expires_at = state
        .current
        .as_ref()
        .and_then(|record| record.deadline.clone())
        // Written by the step's start record (`begin_step`), as for every wait.
        .ok_or_else(|| StepError::new("the approval gate's deadline could not be counted"))?;
    let plan_digest = state.request.plan_digest.clone();
    // Opened once: a resumed step finds its gate, and the decisions made meanwhile.
    if store
        .gate(&run_id, &gate_id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        let context = state.context();
        let summary = value_text(&engine.render(state, &approve.summary, &context)?);
        let summary = state.redactor.redact_text(&summary);
        let mut detail = next_side_effect(engine, state, step).await;
        if let (Some(digest), Some(map)) = (&plan_digest, detail.as_object_mut()) {
            map.insert("plan_digest".to_owned(), Value::from(digest.as_str()));
        }
        let gate = ApprovalGate {
            run_id: run_id.clone(),
            step_id: gate_id.clone(),
            summary: summary.clone(),
            detail: state.redactor.redact_json(&detail),
            approvers: approve.approvers.clone(),
            required: approve.required,
            requested_by: state.request.started_by.clone(),
            expires_at: expires_at.clone(),
        };
        store.open_gate(&gate).await.map_err(store_error)?;
        engine.emit(
            state,
            Event::GateOpened {
                step_id: step.id.clone(),
                summary,
                approvers: approve.approvers.clone(),
                required: approve.required,
                expires_at: expires_at.clone(),
                plan_digest: plan_digest.clone(),
            },
        );
        engine.flush(state).await?;
    }
    loop {
        let gate = store
            .gate(&run_id, &gate_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StepError::new("the approval gate vanished from the run store"))?;
        match gate.status.as_str() {
            "approved" => {
                decided(engine, state, step, &gate);
                return Ok(approved(&gate, clock.waited(), plan_digest));
            }
            "denied" => {
                decided(engine, state, step, &gate);
                return Err(StepError::new(denied(&gate)));
            }
            "expired" => {
                decided(engine, state, step, &gate);
                return Err(StepError::new(expired(&gate, approve)));
            }
            _ => {}
        }
        if clock.expired() {
            store
                .expire_gate(&run_id, &gate_id)
                .await
                .map_err(store_error)?;
            decided(engine, state, step, &gate);
            return Err(StepError::new(expired(&gate, approve)));
        }
        if engine.parking {
            // No decision yet: the run goes back to the queue until one comes (the store
            // wakes it) or the deadline passes.
            state.parked_until = Some(expires_at.clone());
            return Err(StepError::parked(format!(
                "waiting for approval of step `{}` until {expires_at}",
                step.id
            )));
        }
        // `runbook runs cancel` marks the record; a run waiting here in its own process stops.
        let cancelled = store
            .run(&run_id)
            .await
            .map_err(store_error)?
            .is_some_and(|run| run.status == crate::store::RecordedStatus::Cancelled);
        if cancelled {
            return Err(StepError::cancelled(
                "the run was cancelled (runbook runs cancel) while it waited for approval",
            ));
        }
        let real_left = clock
            .left()
            .div_f64(engine.pace.scale().max(f64::MIN_POSITIVE));
        engine
            .pause_real(LOOK_EVERY.min(real_left).max(Duration::from_millis(10)))
            .await?;
    }
}

/// Emits the gate's decisions into the run's events, once the gate is decided.
fn decided(engine: &Engine, state: &RunState<'_>, step: &Step, gate: &GateState) {
    for decision in &gate.decisions {
        engine.emit(
            state,
            Event::GateDecided {
                step_id: step.id.clone(),
                decided_by: decision.decided_by.clone(),
                decision: if decision.approve { "approve" } else { "deny" }.to_owned(),
                comment: decision.comment.clone(),
                at: decision.at.clone(),
            },
        );
    }
}

fn approved(gate: &GateState, waited: Duration, plan_digest: Option<String>) -> StepDone {
    let approvals: Vec<_> = gate
        .decisions
        .iter()
        .filter(|decision| decision.approve)
        .collect();
    let decided_by: Vec<&str> = approvals
        .iter()
        .map(|decision| decision.decided_by.as_str())
        .collect();
    let comments: Vec<&str> = approvals
        .iter()
        .filter_map(|decision| decision.comment.as_deref())
        .collect();
    let mut outputs = Map::new();
    outputs.insert("approved".to_owned(), Value::Bool(true));
    outputs.insert("decided_by".to_owned(), json!(decided_by));
    outputs.insert("comments".to_owned(), json!(comments));
    outputs.insert("waited".to_owned(), json!(waited.as_secs()));
    outputs.insert("plan_digest".to_owned(), json!(plan_digest));
    StepDone {
        outputs,
        summary: format!("approved by {}", decided_by.join(", ")),
    }
}

fn denied(gate: &GateState) -> String {
    match gate.decisions.iter().find(|decision| !decision.approve) {
        Some(denial) => match &denial.comment {
            Some(comment) => format!("denied by {}: {comment}", denial.decided_by),
            None => format!("denied by {} (no comment)", denial.decided_by),
        },
        None => "denied".to_owned(),
    }
}

fn expired(gate: &GateState, approve: &ApproveStep) -> String {
    let approvals = gate
        .decisions
        .iter()
        .filter(|decision| decision.approve)
        .count();
    format!(
        "not approved within {} ({approvals} of {} approval{} given); nothing after it was done",
        humanize(approve.timeout),
        approve.required,
        if approve.required == 1 { "" } else { "s" }
    )
}

/// The list the step being run is in: the playbook's main steps, or inside a loop's item the
/// loop's steps.
fn sibling_steps<'s>(state: &RunState<'s>) -> &'s [Step] {
    let playbook = &state.request.playbook;
    let enclosing = state.item.as_ref().and_then(|item| {
        playbook.all_steps().find_map(|step| match &step.kind {
            StepKind::ForEach(each) if step.id == item.loop_id => Some(each.steps.as_slice()),
            _ => None,
        })
    });
    enclosing.unwrap_or(&playbook.steps)
}

/// What the approver should see of the next step that sends something: for an `issue`, its
/// target (text and, when it can be counted now, the endpoint count), package and parameters,
/// and action group, rendered against the run so far. What cannot be rendered yet (it reads
/// steps after the gate) is said so.
async fn next_side_effect(engine: &Engine, state: &RunState<'_>, gate: &Step) -> Value {
    let steps = sibling_steps(state);
    let after = steps
        .iter()
        .position(|step| step.id == gate.id)
        .map_or(steps.len(), |index| index + 1);
    let Some(next) = steps[after..].iter().find(|step| sends(&step.kind)) else {
        return json!({ "next_step": null, "note": "no step after this gate sends anything" });
    };
    let mut detail = Map::new();
    detail.insert("next_step".to_owned(), Value::from(next.id.as_str()));
    detail.insert("kind".to_owned(), Value::from(next.kind.kind_name()));
    match &next.kind {
        StepKind::Issue(issue) => match super::issue::render(engine, state, issue).await {
            Ok(rendered) => {
                let text = target_text(state, rendered.target_group_id);
                let count = engine
                    .platform
                    .count_targets(
                        rendered.target_group_id,
                        engine.pace.real_duration(COUNT_WAIT),
                    )
                    .await
                    .ok();
                detail.insert("action_name".to_owned(), Value::from(rendered.name));
                detail.insert(
                    "target".to_owned(),
                    json!({
                        "group_id": rendered.target_group_id,
                        "text": text,
                        "endpoints": count,
                    }),
                );
                let package_name = state
                    .packages
                    .get(&rendered.package_id)
                    .map(|package| package.package_name.clone());
                detail.insert(
                    "package".to_owned(),
                    json!({
                        "id": rendered.package_id,
                        "name": package_name,
                        "parameters": rendered
                            .parameters
                            .iter()
                            .map(|(key, value)| json!({"key": key, "value": value}))
                            .collect::<Vec<_>>(),
                    }),
                );
                detail.insert(
                    "action_group".to_owned(),
                    json!({"id": rendered.action_group.id, "name": rendered.action_group.name}),
                );
            }
            Err(error) => {
                detail.insert(
                    "note".to_owned(),
                    Value::from(format!("rendered when it runs: {}", error.message)),
                );
            }
        },
        StepKind::StopAction(stop) => {
            let context = state.context();
            match action_id(engine, state, &stop.action, &context) {
                Ok(id) => {
                    detail.insert("action_id".to_owned(), json!(id));
                }
                Err(error) => {
                    detail.insert(
                        "note".to_owned(),
                        Value::from(format!("rendered when it runs: {}", error.message)),
                    );
                }
            }
        }
        _ => {}
    }
    Value::Object(detail)
}

/// The text of the target whose group is `group_id`, from the outputs of the run's `target`
/// steps.
fn target_text(state: &RunState<'_>, group_id: u64) -> Option<String> {
    state.steps.values().find_map(|outputs| {
        let same = outputs.get("group_id").and_then(Value::as_u64) == Some(group_id);
        same.then(|| {
            outputs
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .flatten()
    })
}

/// The plan of an `approve` step: the gate it opens, and who decides.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    approve: &ApproveStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let (summary, taint) = planner.render_known_shown(&approve.summary, scope)?;
    let summary = shown(&value_text(&summary), &taint);
    let who = if approve.approvers.is_empty() {
        "any approver".to_owned()
    } else {
        approve.approvers.join(", ")
    };
    planned.details.push(format!(
        "wait up to {} for {} approval{} by {who} (never the run's starter) of: {summary}",
        humanize(approve.timeout),
        approve.required,
        if approve.required == 1 { "" } else { "s" },
    ));
    planned.details.push(format!(
        "decided with `runbook approve <run> {}` [--deny], the API or the console; a denial \
         or the timeout fails the run before anything after it is sent",
        step.id
    ));
    Ok(placeholders(step))
}

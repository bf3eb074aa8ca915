//! What a run records and restores: the run's start and end in the store, each step's start
//! (with the deadline of a wait, kept across resumes) and end, what a resumed run takes from
//! the record instead of running again, and how a run stopped by a shutdown ends.

use std::time::{Duration, Instant};

use runbook_playbook::{Step, StepKind};
use serde_json::{Map, Value};

use super::error::{StepError, lost_claim_error, store_error};
use super::state::RunState;
use super::{Engine, RunOutcome, RunRequest, RunSource, elapsed_ms, now_rfc3339, playbook_hash};
use crate::events::{Event, RunStatus};
use crate::pace::WaitClock;
use crate::redact::Redactor;
use crate::steps;
use crate::store::{NewRun, StepRecord, StepStatus};

/// What a resumed run does with a step the record knows.
pub(crate) enum Restore {
    /// Finished before: its recorded outputs stand.
    Restored(Event),
    /// Finished before, but its outputs hold redacted secrets: run it again, unrecorded.
    Replay,
    /// Not finished: run it (again).
    Run,
    /// Failed before, inside a loop's item (without `continue_on_error`): the item stays
    /// failed with the recorded error, and its step is not run again.
    Failed(Event, String),
}

fn contains_redacted(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains(crate::redact::REDACTED),
        Value::Array(items) => items.iter().any(contains_redacted),
        Value::Object(map) => map.values().any(contains_redacted),
        _ => false,
    }
}

/// How a step ended, as its record says.
pub(crate) struct StepEnd {
    pub(crate) status: StepStatus,
    pub(crate) outputs: Option<Value>,
    pub(crate) summary: Option<String>,
    pub(crate) error: Option<String>,
}

/// A run's inputs as recorded and shown: secret inputs as a whole-value marker whatever their
/// type (so that a resume knows to ask for them again), the others redacted.
pub(crate) fn recorded_inputs(request: &RunRequest, redactor: &Redactor) -> Value {
    let inputs: Map<String, Value> = request
        .inputs
        .iter()
        .map(|(name, value)| {
            let secret = request
                .playbook
                .inputs
                .get(name)
                .is_some_and(|declaration| declaration.secret);
            let value = if secret && !value.is_null() {
                Value::String(crate::redact::REDACTED.to_owned())
            } else {
                redactor.redact_json(value)
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(inputs)
}

impl Engine {
    /// Records a new run in the store, before anything else. When the store refuses, the run
    /// ends there, failed, with the store's message.
    pub(crate) async fn record_start(
        &self,
        state: &RunState<'_>,
        inputs: &Value,
        started: Instant,
    ) -> Result<(), RunOutcome> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let request = state.request;
        let source = request.source.clone().unwrap_or_else(|| RunSource {
            text: String::new(),
            path: None,
        });
        let new_run = NewRun {
            run_id: request.run_id.clone(),
            playbook_name: request.playbook.name.clone(),
            playbook_hash: playbook_hash(&source.text),
            playbook_source: source.text,
            playbook_path: source.path,
            inputs: inputs.clone(),
            started_by: request.started_by.clone(),
            claimed_by: store.lease().map(|lease| lease.holder().to_owned()),
        };
        let Err(error) = store.create_run(&new_run).await else {
            return Ok(());
        };
        let message = error.to_string();
        self.emit(
            state,
            Event::RunFinished {
                run_id: request.run_id.clone(),
                status: RunStatus::Failed,
                outputs: Value::Object(Map::new()),
                error: Some(message.clone()),
                issued_actions: Vec::new(),
                elapsed_ms: elapsed_ms(started),
            },
        );
        Err(RunOutcome {
            run_id: request.run_id.clone(),
            status: RunStatus::Failed,
            outputs: Value::Object(Map::new()),
            error: Some(message),
            issued_actions: Vec::new(),
            parked_until: None,
        })
    }

    /// Records the run's end, after the events not written yet.
    pub(crate) async fn record_finish(
        &self,
        state: &RunState<'_>,
        status: RunStatus,
        outputs: &Value,
        failure: Option<&str>,
    ) -> Result<(), StepError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        self.flush(state).await?;
        store
            .finish_run(state.run_id(), status, outputs, failure)
            .await
            .map_err(store_error)
    }

    /// Runs again, unrecorded, a finished step whose recorded outputs hold redacted secrets
    /// (worthless as data). Only steps that read (or create a harmless group) are replayed.
    pub(crate) async fn replay(&self, state: &mut RunState<'_>, step: &Step) -> Result<(), String> {
        match self.run_step(state, step).await {
            Ok(Some(done)) => {
                let mut outputs = done.outputs;
                outputs.entry("skipped").or_insert(Value::Bool(false));
                state.steps.insert(step.id.clone(), Value::Object(outputs));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(format!(
                "step `{}` failed when run again on resume: {}",
                step.id,
                state.redactor.redact_text(&error.message)
            )),
        }
    }

    /// Ends a run stopped by a shutdown: no `finish_run`, so the record stays `running`.
    pub(crate) async fn interrupted(&self, state: &RunState<'_>, started: Instant) -> RunOutcome {
        let request = state.request;
        let error = self.lease_lost().then(|| lost_claim_error().message);
        self.emit(
            state,
            Event::RunFinished {
                run_id: request.run_id.clone(),
                status: RunStatus::Interrupted,
                outputs: Value::Object(Map::new()),
                error: error.clone(),
                issued_actions: state.issued_order.clone(),
                elapsed_ms: elapsed_ms(started),
            },
        );
        if error.is_none() {
            let _ = self.flush(state).await;
        }
        RunOutcome {
            run_id: request.run_id.clone(),
            status: RunStatus::Interrupted,
            outputs: Value::Object(Map::new()),
            error,
            issued_actions: state.issued_order.clone(),
            parked_until: state.parked_until.clone(),
        }
    }

    /// On resume: a step that finished before (or was skipped, or failed with
    /// `continue_on_error`) is not run again; its recorded outputs stand.
    pub(crate) fn restore(&self, state: &mut RunState<'_>, step: &Step) -> Restore {
        let Some(prior) = state.prior_steps.get(&state.record_id(&step.id)) else {
            return Restore::Run;
        };
        if state.item.is_some()
            && prior.status == StepStatus::Failed
            && !step.continue_on_error
            && prior.finished_at.is_some()
        {
            let event = Event::StepRestored {
                step_id: step.id.clone(),
                kind: step.kind.kind_name().to_owned(),
                status: prior.status.as_str().to_owned(),
            };
            let error = prior.error.clone().unwrap_or_else(|| "failed".to_owned());
            return Restore::Failed(event, error);
        }
        let Some(outputs) = prior.outputs.clone() else {
            return Restore::Run;
        };
        let done = match prior.status {
            StepStatus::Succeeded | StepStatus::Skipped => true,
            StepStatus::Failed => step.continue_on_error,
            StepStatus::Running => false,
        };
        if !done {
            return Restore::Run;
        }
        if steps::replayable(&step.kind)
            && prior.status == StepStatus::Succeeded
            && contains_redacted(&outputs)
        {
            return Restore::Replay;
        }
        let event = Event::StepRestored {
            step_id: step.id.clone(),
            kind: step.kind.kind_name().to_owned(),
            status: prior.status.as_str().to_owned(),
        };
        if let StepKind::Issue(_) = &step.kind {
            steps::issue::restored(state, &outputs);
        }
        state.steps.insert(step.id.clone(), outputs);
        Restore::Restored(event)
    }

    /// Records that a step starts (with the deadline of a wait, kept across resumes).
    pub(crate) async fn begin_step(
        &self,
        state: &mut RunState<'_>,
        index: usize,
        step: &Step,
    ) -> Result<(), StepError> {
        let record_id = state.record_id(&step.id);
        let prior = state.prior_steps.get(&record_id);
        let wait = steps::wait(&step.kind);
        let deadline = prior.and_then(|prior| prior.deadline.clone()).or_else(|| {
            let wait = self.pace.real_duration(wait?);
            let deadline = chrono::Utc::now() + chrono::Duration::from_std(wait).ok()?;
            Some(deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        });
        // A loop's item steps are recorded at the loop's position.
        let index = state.item.as_ref().map_or(index, |item| item.position);
        let record = StepRecord {
            step_index: u32::try_from(index).unwrap_or(u32::MAX),
            step_id: record_id,
            kind: step.kind.kind_name().to_owned(),
            status: StepStatus::Running,
            attempts: prior.map(|prior| prior.attempts + 1).unwrap_or(1),
            outputs: None,
            request_summary: None,
            error: None,
            started_at: now_rfc3339(),
            finished_at: None,
            deadline,
        };
        if let Some(store) = &self.store {
            self.flush(state).await?;
            // `runbook runs cancel` only marks the record: a live engine stops here.
            let cancelled = store
                .run_status(state.run_id())
                .await
                .map_err(store_error)?
                .is_some_and(|status| status == crate::store::RecordedStatus::Cancelled);
            if cancelled && !state.after_cancel {
                return Err(StepError::cancelled(
                    "the run was cancelled (runbook runs cancel)",
                ));
            }
            store
                .step_started(state.run_id(), &record)
                .await
                .map_err(store_error)?;
        }
        state.current = Some(record);
        Ok(())
    }

    /// Records how a step ended.
    pub(crate) async fn end_step(
        &self,
        state: &mut RunState<'_>,
        ended: StepEnd,
    ) -> Result<(), StepError> {
        let StepEnd {
            status,
            outputs,
            summary,
            error,
        } = ended;
        let Some(mut record) = state.current.take() else {
            return Ok(());
        };
        let Some(store) = &self.store else {
            return Ok(());
        };
        self.flush(state).await?;
        record.status = status;
        record.outputs = outputs.map(|outputs| state.redactor.redact_json(&outputs));
        record.request_summary = summary.map(|summary| state.redactor.redact_text(&summary));
        record.error = error;
        record.finished_at = Some(now_rfc3339());
        store
            .step_finished(state.run_id(), &record)
            .await
            .map_err(store_error)
    }

    /// The clock of a wait of `timeout`: on a first start, all of it is left; on a resumed
    /// wait, what remains of the deadline recorded when the step first started, and the rest of
    /// `timeout` counted as already waited (the interruption included).
    pub(crate) fn wait_clock(&self, state: &RunState<'_>, timeout: Duration) -> WaitClock {
        let left = self.wait_left(state, timeout);
        WaitClock::new(&self.pace, timeout.saturating_sub(left), left)
    }

    /// How much playbook time a wait has left: its own timeout, or what remains of the
    /// deadline recorded when the step first started (a resumed wait keeps its deadline).
    pub(crate) fn wait_left(&self, state: &RunState<'_>, timeout: Duration) -> Duration {
        let deadline = state
            .current
            .as_ref()
            .and_then(|record| record.deadline.as_deref())
            .and_then(|deadline| chrono::DateTime::parse_from_rfc3339(deadline).ok());
        match deadline {
            Some(deadline) => {
                let left = deadline.with_timezone(&chrono::Utc) - chrono::Utc::now();
                let left = left.to_std().unwrap_or(Duration::ZERO);
                left.mul_f64(self.pace.scale()).min(timeout)
            }
            None => timeout,
        }
    }
}

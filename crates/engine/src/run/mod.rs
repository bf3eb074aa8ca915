//! Running a playbook: steps in order, each rendered, executed against the platform, and its
//! outputs recorded for the steps after it.
//!
//! This module holds the [`Engine`] and the run itself ([`RunRequest`] in, [`RunOutcome`]
//! out, `drive` in between). Its parts:
//! - `state`: the state of a run in progress, and its events (emitted, then written to the
//!   store at every step boundary);
//! - `record`: what a run records and restores (the run's start and end, each step's start
//!   and end, resuming from a record);
//! - `step`: the wrapper around every step (`when`, `retry`, `timeout`, rendering, sealing
//!   secret outputs) and the dispatch to the step kinds in `crate::steps`;
//! - `error`: why a step stopped ([`StepError`]).

mod error;
mod record;
mod state;
mod step;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use runbook_playbook::{Playbook, Step};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use self::error::lost_claim_error;
pub(crate) use self::error::store_error;
pub use self::error::{StepError, StepErrorKind};
use self::record::{Restore, StepEnd, recorded_inputs};
pub(crate) use self::state::{IssuedAction, ItemTakeaway, RunState};
pub(crate) use self::step::StepDone;
use crate::egress::Egress;
use crate::events::{Event, EventSink, RunStatus};
use crate::pace::Pace;
use crate::platform::Platform;
use crate::redact::Redactor;
pub use crate::steps::unique_action_name;
use crate::store::{RunRecord, StepStatus, Store};
use crate::template::Templates;
pub use crate::values::humanize;

/// Everything one run needs besides the engine.
#[derive(Debug)]
pub struct RunRequest {
    pub playbook: Arc<Playbook>,
    /// Inputs already bound and checked against their declarations (every declared input present).
    pub inputs: IndexMap<String, Value>,
    /// Secrets this run may read, by name (already allow-listed).
    pub secrets: BTreeMap<String, SecretString>,
    /// The run's id (a UUIDv7 unless resuming).
    pub run_id: String,
    /// The playbook's text and where it came from, recorded so that a resume runs exactly
    /// what was started.
    pub source: Option<RunSource>,
    /// Who or what started the run (`cli`, `schedule:<name>`, ...).
    pub started_by: String,
    /// The run's secrets, as they become known. The caller may keep a clone to redact what it
    /// prints itself (request paths, for one).
    pub redactor: Redactor,
    /// The digest of the reviewed plan this run carries out (`runbook run --plan`), for the
    /// steps that show or record what was reviewed (an `approve` step).
    pub plan_digest: Option<String>,
    /// Asked right before each `issue` step sends its action; a refusal fails the step with
    /// nothing issued (`runbook run --plan` checks that the plan still holds).
    pub issue_guard: Option<Arc<dyn IssueGuard>>,
}

/// What an `issue` step is about to send, for an [`IssueGuard`]: everything rendered and
/// resolved, the target counted, nothing sent yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCheck {
    pub step_id: String,
    pub package_id: u64,
    /// The parameters the action is sent with, as `($N, value)`.
    pub parameters: Vec<(String, String)>,
    pub action_group_id: u64,
    pub target_group_id: u64,
    /// The `target` step whose group the action goes to, when its `target` names one.
    pub target_step: Option<String>,
    /// That step's targeting text (redacted where it holds a secret; empty for a filter group).
    pub target_text: Option<String>,
    /// The endpoints the target matches now.
    pub targeted: u64,
}

/// A last check before an `issue` step sends its action. The engine knows nothing of what
/// it compares with; an `Err` is the reason to refuse, shown as the step's error.
#[async_trait::async_trait]
pub trait IssueGuard: Send + Sync + std::fmt::Debug {
    async fn before_issue(&self, check: &IssueCheck) -> Result<(), String>;
}

/// A playbook's source text, as recorded with a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSource {
    pub text: String,
    pub path: Option<String>,
}

impl RunRequest {
    pub fn new(playbook: Arc<Playbook>, inputs: IndexMap<String, Value>) -> Self {
        RunRequest {
            playbook,
            inputs,
            secrets: BTreeMap::new(),
            run_id: uuid::Uuid::now_v7().to_string(),
            source: None,
            started_by: "cli".to_owned(),
            redactor: Redactor::new(),
            plan_digest: None,
            issue_guard: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub run_id: String,
    pub status: RunStatus,
    pub outputs: Value,
    pub error: Option<String>,
    pub issued_actions: Vec<u64>,
    /// An interrupted run that waits for people (an `approve` step, with parking on): when to
    /// look at it again at the latest (RFC 3339, UTC; its deadline). A decision wakes it
    /// sooner.
    pub parked_until: Option<String>,
}

/// Runs playbooks against one platform.
pub struct Engine {
    pub(crate) platform: Arc<dyn Platform>,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) store: Option<Arc<dyn Store>>,
    /// Where `http` steps send their requests; without one they fail.
    pub(crate) egress: Option<Arc<dyn Egress>>,
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    pub(crate) pace: Pace,
    templates: Templates,
    /// Whether a run waiting for people stops (parked) instead of waiting in this process.
    pub(crate) parking: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pace", &self.pace)
            .finish_non_exhaustive()
    }
}

/// How the steps of a run ended, when the run was not interrupted.
#[derive(Debug, Default)]
pub(crate) struct StepsEnd {
    /// Why the run failed (a step that failed without `continue_on_error`, a record that
    /// could not be written).
    pub(crate) failure: Option<String>,
    /// A step stopped at a checkpoint: the run stays `running` in the store.
    pub(crate) interrupted: bool,
    /// The run was cancelled from outside.
    pub(crate) cancelled: bool,
    /// The step whose failure failed the run.
    pub(crate) failed_step: Option<String>,
    /// Failures of `on_failure`/`finally` steps after the run had failed already: reported
    /// after the first error.
    handler_failures: Vec<String>,
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// SHA-256 of a playbook's text, hex.
pub fn playbook_hash(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Engine {
    pub fn new(platform: Arc<dyn Platform>, sink: Arc<dyn EventSink>) -> Self {
        Engine {
            platform,
            sink,
            store: None,
            egress: None,
            shutdown: None,
            pace: Pace::real(),
            templates: Templates::new(),
            parking: false,
        }
    }

    /// Waits and timeouts run on `pace` (faster against the simulator).
    pub fn with_pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// Records every run in `store`, so that it can be resumed after a crash.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Sends the requests of `http` steps through `egress` (which applies the operator's
    /// policy: the hosts allowed, never the Tanium server).
    pub fn with_egress(mut self, egress: Arc<dyn Egress>) -> Self {
        self.egress = Some(egress);
        self
    }

    /// A run that waits for people (an `approve` step with no decision yet) stops there,
    /// interrupted, with [`RunOutcome::parked_until`] set, instead of waiting in this process:
    /// a serve worker gives it back to the queue until a decision (or its deadline) comes.
    pub fn with_parking(mut self) -> Self {
        self.parking = true;
        self
    }

    /// Stops runs at their next checkpoint (between steps, and between the checks of a wait)
    /// once `shutdown` turns true. An interrupted run stays recorded as running.
    pub fn with_shutdown(mut self, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    pub(crate) fn stopping(&self) -> bool {
        self.shutdown
            .as_ref()
            .is_some_and(|shutdown| *shutdown.borrow())
            || self.lease_lost()
    }

    /// The lease of a fenced store is gone: another process took the run over.
    pub(crate) fn lease_lost(&self) -> bool {
        self.store
            .as_ref()
            .and_then(|store| store.lease())
            .is_some_and(|lease| lease.is_lost())
    }

    /// Waits until `until` (real time), stopping early when the engine shuts down or the
    /// lease is lost.
    pub(crate) async fn hold_off(&self, until: tokio::time::Instant) -> Result<(), StepError> {
        let wait = until.saturating_duration_since(tokio::time::Instant::now());
        self.pause_real(wait).await
    }

    pub(crate) async fn pause_real(&self, wait: Duration) -> Result<(), StepError> {
        let mut shutdown = self.shutdown.clone();
        let mut lost = self
            .store
            .as_ref()
            .and_then(|store| store.lease())
            .map(|lease| lease.lost_signal());
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            _ = async {
                match shutdown.as_mut() {
                    Some(shutdown) => { let _ = shutdown.wait_for(|stop| *stop).await; }
                    None => std::future::pending::<()>().await,
                }
            } => Err(StepError::interrupted()),
            _ = async {
                match lost.as_mut() {
                    Some(lost) => { let _ = lost.wait_for(|lost| *lost).await; }
                    None => std::future::pending::<()>().await,
                }
            } => Err(lost_claim_error()),
        }
    }

    /// Sleeps on the run's clock; returns early, interrupted, when the engine shuts down or
    /// the run's lease is lost.
    pub(crate) async fn pause(&self, playbook_time: Duration) -> Result<(), StepError> {
        self.pause_real(self.pace.real_duration(playbook_time))
            .await
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    /// Runs the playbook to the end. Never panics on bad templates or platform answers: every
    /// failure ends the run as `failed` with a message.
    pub async fn run(&self, request: &RunRequest) -> RunOutcome {
        self.drive(request, None).await
    }

    /// Continues a recorded run: finished steps are not repeated (their outputs come from the
    /// record), the step it was in runs again (an `issue` step finds its action by name
    /// instead of issuing it twice), and waits keep their original deadlines.
    pub async fn resume(&self, request: &RunRequest, record: &RunRecord) -> RunOutcome {
        self.drive(request, Some(record)).await
    }

    async fn drive(&self, request: &RunRequest, record: Option<&RunRecord>) -> RunOutcome {
        let started = Instant::now();
        let started_at = record
            .map(|record| record.started_at.clone())
            .unwrap_or_else(now_rfc3339);
        let mut state = RunState::new(request, record, &started_at);
        let inputs = recorded_inputs(request, &state.redactor);
        if record.is_none()
            && let Err(outcome) = self.record_start(&state, &inputs, started).await
        {
            return outcome;
        }
        self.emit(
            &state,
            Event::RunStarted {
                run_id: request.run_id.clone(),
                playbook: request.playbook.name.clone(),
                inputs,
            },
        );
        let end = self.run_steps(&mut state).await;
        if end.interrupted {
            return self.interrupted(&state, started).await;
        }
        self.finish(state, started, end).await
    }

    /// Runs the main steps, then `on_failure` when they failed (not when the run was
    /// cancelled or interrupted), then `finally` (after anything but an interruption, which a
    /// resume continues). A handler's failure is reported after the first error, never
    /// instead of it.
    async fn run_steps(&self, state: &mut RunState<'_>) -> StepsEnd {
        let playbook = &state.request.playbook;
        let mut end = StepsEnd::default();
        self.step_list(state, &playbook.steps, 0, &mut end).await;
        let first_handler = playbook.steps.len();
        if end.failure.is_some() && !end.interrupted && !end.cancelled {
            self.handler(
                state,
                &playbook.on_failure,
                first_handler,
                "on_failure",
                &mut end,
            )
            .await;
        }
        if !end.interrupted {
            // `finally` runs last whatever happened, a cancel included (its steps are not
            // refused by the cancel they run after).
            state.after_cancel = end.cancelled;
            let first = first_handler + playbook.on_failure.len();
            self.handler(state, &playbook.finally, first, "finally", &mut end)
                .await;
        }
        end
    }

    /// Runs a handler list (`on_failure`, `finally`) with how the main steps ended in
    /// `run.status`, `run.failed_step` and `run.error`.
    async fn handler(
        &self,
        state: &mut RunState<'_>,
        steps: &[Step],
        first: usize,
        list: &str,
        end: &mut StepsEnd,
    ) {
        if steps.is_empty() {
            return;
        }
        if let Some(run) = state.run_names.as_object_mut() {
            let status = if end.cancelled {
                "cancelled"
            } else if end.failure.is_some() {
                "failed"
            } else {
                "succeeded"
            };
            run.insert("status".to_owned(), Value::from(status));
            run.insert("failed_step".to_owned(), json!(end.failed_step));
            run.insert("error".to_owned(), json!(end.failure));
        }
        let mut handled = StepsEnd::default();
        self.step_list(state, steps, first, &mut handled).await;
        end.interrupted |= handled.interrupted;
        end.cancelled |= handled.cancelled;
        if let Some(failure) = handled.failure {
            let failure = format!("{list} {failure}");
            if end.failure.is_none() {
                end.failed_step = handled.failed_step;
                end.failure = Some(failure);
            } else {
                end.handler_failures.push(failure);
            }
        }
    }

    /// Runs one list of steps in order, the `first`-th of the playbook first: those the
    /// record holds are restored, the others run; stops at the first failure (without
    /// `continue_on_error`), interruption or cancellation.
    pub(crate) async fn step_list(
        &self,
        state: &mut RunState<'_>,
        steps: &[Step],
        first: usize,
        end: &mut StepsEnd,
    ) {
        for (offset, step) in steps.iter().enumerate() {
            match self.restore(state, step) {
                Restore::Restored(event) => {
                    self.emit(state, event);
                    continue;
                }
                Restore::Replay => {
                    if let Err(message) = self.replay(state, step).await {
                        end.failure = Some(message);
                        end.failed_step = Some(step.id.clone());
                        break;
                    }
                    continue;
                }
                Restore::Failed(event, error) => {
                    self.emit(state, event);
                    end.failure = Some(format!("step `{}` failed: {error}", step.id));
                    end.failed_step = Some(step.id.clone());
                    break;
                }
                Restore::Run => {}
            }
            if self.stopping() {
                end.interrupted = true;
                break;
            }
            if !self.recorded_step(state, first + offset, step, end).await {
                break;
            }
        }
    }

    /// Runs one step between the records of its start and its end; says whether the run
    /// goes on.
    async fn recorded_step(
        &self,
        state: &mut RunState<'_>,
        index: usize,
        step: &Step,
        end: &mut StepsEnd,
    ) -> bool {
        let step_started = Instant::now();
        let result = match self.begin_step(state, index, step).await {
            Ok(()) => self.run_step(state, step).await,
            Err(error) => Err(error),
        };
        let ended = match result {
            Ok(None) => StepEnd {
                status: StepStatus::Skipped,
                outputs: state.steps.get(&step.id).cloned(),
                summary: None,
                error: None,
            },
            Ok(Some(done)) => self.step_succeeded(state, step, done, step_started),
            Err(error) if error.is_interrupted() => {
                // Left `running` in the store: a resume re-runs this step.
                end.interrupted = true;
                let _ = self.flush(state).await;
                return false;
            }
            Err(error) => self.step_failed(state, step, &error, step_started, end),
        };
        if let Err(error) = self.end_step(state, ended).await {
            end.failure = Some(error.message);
            return false;
        }
        end.failure.is_none()
    }

    fn step_succeeded(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
        done: StepDone,
        step_started: Instant,
    ) -> StepEnd {
        let mut outputs = done.outputs;
        outputs.entry("skipped").or_insert(Value::Bool(false));
        let outputs = Value::Object(outputs);
        self.emit(
            state,
            Event::StepFinished {
                step_id: step.id.clone(),
                kind: step.kind.kind_name().to_owned(),
                summary: done.summary.clone(),
                outputs: outputs.clone(),
                elapsed_ms: elapsed_ms(step_started),
            },
        );
        state.steps.insert(step.id.clone(), outputs.clone());
        StepEnd {
            status: StepStatus::Succeeded,
            outputs: Some(outputs),
            summary: Some(done.summary),
            error: None,
        }
    }

    /// A step failed: the run goes on only with `continue_on_error` (never once cancelled),
    /// and the step's outputs then say that it failed.
    fn step_failed(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
        error: &StepError,
        step_started: Instant,
        end: &mut StepsEnd,
    ) -> StepEnd {
        end.cancelled |= error.is_cancelled();
        let go_on = step.continue_on_error && !error.is_cancelled();
        let message = state.redactor.redact_text(&error.message);
        self.emit(
            state,
            Event::StepFailed {
                step_id: step.id.clone(),
                kind: step.kind.kind_name().to_owned(),
                error: message.clone(),
                elapsed_ms: elapsed_ms(step_started),
                continued: go_on,
            },
        );
        // A step that failed with outputs of its own (an aborted rollout, a loop's results so
        // far) leaves them for the record and the handlers, whether or not the run goes on.
        let outputs = match &error.outputs {
            Some(own) => {
                let mut outputs = state.redactor.redact_json(&Value::Object((**own).clone()));
                if let Value::Object(map) = &mut outputs {
                    // A loop's `failed` and `skipped` are its counts of items.
                    map.entry("skipped").or_insert(json!(false));
                    map.entry("failed").or_insert(json!(true));
                    map.insert("error".to_owned(), json!(message));
                }
                state.steps.insert(step.id.clone(), outputs.clone());
                Some(outputs)
            }
            None => go_on.then(|| {
                let outputs = json!({"skipped": false, "failed": true, "error": message});
                state.steps.insert(step.id.clone(), outputs.clone());
                outputs
            }),
        };
        if !go_on {
            end.failure = Some(format!("step `{}` failed: {message}", step.id));
            end.failed_step = Some(step.id.clone());
        }
        StepEnd {
            status: StepStatus::Failed,
            outputs,
            summary: None,
            error: Some(message),
        }
    }

    /// Ends a run whose steps are over: its outputs rendered, its end emitted and recorded.
    async fn finish(&self, state: RunState<'_>, started: Instant, end: StepsEnd) -> RunOutcome {
        let request = state.request;
        let mut failure = end.failure;
        if let Some(first) = &mut failure {
            for handler_failure in &end.handler_failures {
                first.push_str("; then ");
                first.push_str(handler_failure);
            }
        }
        let mut outputs = Value::Object(Map::new());
        if failure.is_none() {
            match self.render_outputs(&state) {
                Ok(rendered) => outputs = rendered,
                Err(error) => failure = Some(state.redactor.redact_text(&error.message)),
            }
        }
        let status = if end.cancelled {
            RunStatus::Cancelled
        } else if failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        let outputs = state.redactor.redact_json(&outputs);
        self.emit(
            &state,
            Event::RunFinished {
                run_id: request.run_id.clone(),
                status,
                outputs: outputs.clone(),
                error: failure.clone(),
                issued_actions: state.issued_order.clone(),
                elapsed_ms: elapsed_ms(started),
            },
        );
        if let Err(error) = self
            .record_finish(&state, status, &outputs, failure.as_deref())
            .await
        {
            // The run is left `running` in the store, so that a resume can finish it.
            let message = format!(
                "{}; the run could not be recorded as finished: {}",
                failure.as_deref().unwrap_or("the run finished"),
                error.message
            );
            return RunOutcome {
                run_id: request.run_id.clone(),
                status: RunStatus::Failed,
                outputs,
                error: Some(message),
                issued_actions: state.issued_order,
                parked_until: None,
            };
        }
        RunOutcome {
            run_id: request.run_id.clone(),
            status,
            outputs,
            error: failure,
            issued_actions: state.issued_order,
            parked_until: None,
        }
    }
}

//! Running a playbook: steps in order, each rendered, executed against the platform, and its
//! outputs recorded for the steps after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use runbook_playbook::{
    AssertStep, AwaitApprovalStep, Combine as PlaybookCombine, IssueStep,
    Operator as PlaybookOperator, PackageRef, ParameterizeStep, Playbook, PollStep, Step, StepKind,
    TargetStep, TemplateValue,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::events::{Event, EventSink, RunStatus};
use crate::pace::Pace;
use crate::platform::{
    ActionInfo, ActionSpec, Combine, Operator, PackageOutcome, PackageSelector, Platform,
    PlatformErrorKind, TargetClause, TargetRequest,
};
use crate::redact::{Redactor, mask, revealing};
use crate::store::{Intent, NewRun, RunRecord, StepRecord, StepStatus, Store, StoreError};
use crate::template::{Rendered, Taint, TemplateContext, Templates, condition_holds};
pub use crate::values::humanize;
use crate::values::{
    as_u64, group_reference, package_reference, parameter_text, round_tenth, share, value_text,
};

/// The action group that holds no machines in Tanium.
pub const DEFAULT_ACTION_GROUP: &str = "Default";

/// How many times an `issue` step sends its action when the send is ambiguous or the server
/// unavailable (each time after looking it up by name).
const ISSUE_ATTEMPTS: usize = 4;

/// Pause (playbook time) before sending an action again after the server was unavailable;
/// grows with each failure.
const ISSUE_BACKOFF: Duration = Duration::from_secs(2);

/// How long a process that lost its run while sending waits for the new holder to record
/// its action (real time).
const SETTLE_LOST_SEND: Duration = Duration::from_secs(180);

/// How long the pre-issue count may wait for endpoints to answer (playbook time).
const COUNT_WAIT: Duration = Duration::from_secs(120);

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
}

/// What stopped a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepErrorKind {
    /// The step failed: the run fails, unless the step has `continue_on_error`.
    Failed,
    /// The step stopped at a checkpoint, without failing: the engine is shutting down, or this
    /// process lost its claim on the run. The record stays `running`; a resume runs it again.
    Interrupted,
    /// The run was cancelled from outside; nothing more is done.
    Cancelled,
}

/// Why a step stopped. The message is for people and has been redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    pub kind: StepErrorKind,
}

impl StepError {
    /// The step failed.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Failed,
        }
    }

    /// The step stopped at a checkpoint because the engine is shutting down.
    pub(crate) fn interrupted() -> Self {
        StepError {
            message: "interrupted at a checkpoint: the engine is shutting down".to_owned(),
            kind: StepErrorKind::Interrupted,
        }
    }

    /// This process lost its claim on the run: it stops where it is (an interruption, with
    /// its own message) and writes nothing more.
    pub(crate) fn lost_claim(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Interrupted,
        }
    }

    /// The run was cancelled from outside.
    pub(crate) fn cancelled(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Cancelled,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        self.kind == StepErrorKind::Interrupted
    }

    pub fn is_cancelled(&self) -> bool {
        self.kind == StepErrorKind::Cancelled
    }
}

impl From<crate::platform::PlatformError> for StepError {
    fn from(error: crate::platform::PlatformError) -> Self {
        StepError::new(error.message)
    }
}

/// What a finished step leaves behind.
struct StepDone {
    outputs: Map<String, Value>,
    summary: String,
}

/// What a resumed run does with a step the record knows.
enum Restore {
    /// Finished before: its recorded outputs stand.
    Restored(Event),
    /// Finished before, but its outputs hold redacted secrets: run it again, unrecorded.
    Replay,
    /// Not finished: run it (again).
    Run,
}

fn contains_redacted(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains(crate::redact::REDACTED),
        Value::Array(items) => items.iter().any(contains_redacted),
        Value::Object(map) => map.values().any(contains_redacted),
        _ => false,
    }
}

/// What the engine remembers of an action this run issued.
#[derive(Debug, Clone, Copy)]
struct IssuedAction {
    targeted: u64,
    verify: Option<bool>,
}

/// Runs playbooks against one platform.
pub struct Engine {
    platform: Arc<dyn Platform>,
    sink: Arc<dyn EventSink>,
    store: Option<Arc<dyn Store>>,
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    pace: Pace,
    templates: Templates,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pace", &self.pace)
            .finish_non_exhaustive()
    }
}

/// The state of one run in progress.
struct RunState<'a> {
    request: &'a RunRequest,
    redactor: Redactor,
    steps: Map<String, Value>,
    run_names: Value,
    secrets: Value,
    issued: HashMap<u64, IssuedAction>,
    issued_order: Vec<u64>,
    /// Packages resolved by this run's parameterize steps, by id.
    packages: HashMap<u64, PackageOutcome>,
    /// Events not yet written to the store (written at every step boundary and poll).
    pending: Mutex<Vec<Event>>,
    /// What the store knew of each step when this run was resumed.
    prior_steps: HashMap<String, StepRecord>,
    /// Intents recorded before a resume, by step id.
    prior_intents: HashMap<String, Intent>,
    /// The step being run: its record, for the store.
    current: Option<StepRecord>,
    /// Which step outputs were computed from secrets.
    tainted: Tainted,
}

/// What a run knows of which step outputs are secret. A step's outputs are recorded and shown
/// with those parts `[REDACTED]` as a whole (`state.steps` holds them so); later steps read the
/// real values, kept here.
#[derive(Debug, Default)]
struct Tainted {
    /// By step id, then output name: the parts computed from a secret or holding one.
    steps: Taint,
    /// By step id: the real values of the outputs shown redacted.
    hidden: HashMap<String, Map<String, Value>>,
    /// What the `set` step being run computed from secrets, taken when it finishes.
    pending: Taint,
}

impl RunState<'_> {
    /// The names templates see. Secrets, secret inputs (when given) and the step outputs
    /// computed from them are marked, so that a render reading one gives a secret value.
    fn context(&self) -> TemplateContext {
        let mut steps = self.steps.clone();
        for (id, hidden) in &self.tainted.hidden {
            if let Some(Value::Object(outputs)) = steps.get_mut(id) {
                for (name, value) in hidden {
                    outputs.insert(name.clone(), value.clone());
                }
            }
        }
        let mut inputs = Taint::clean();
        for (name, declaration) in &self.request.playbook.inputs {
            let given = self
                .request
                .inputs
                .get(name)
                .is_some_and(|value| !value.is_null());
            if declaration.secret && given {
                inputs.set_part(name, Taint::whole());
            }
        }
        let mut taint = Taint::clean();
        taint.set_part("inputs", inputs);
        taint.set_part("steps", self.tainted.steps.clone());
        taint.set_part("secrets", Taint::whole());
        let names = Map::from_iter([
            ("inputs".to_owned(), json!(self.request.inputs)),
            ("steps".to_owned(), Value::Object(steps)),
            ("run".to_owned(), self.run_names.clone()),
            ("secrets".to_owned(), self.secrets.clone()),
        ]);
        TemplateContext::with_taint(&Value::Object(names), &taint)
    }

    fn run_id(&self) -> &str {
        &self.request.run_id
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn store_error(error: StoreError) -> StepError {
    if error.is_lost_claim() {
        // Not a failure of the run: another process drives it now. This one stops where it
        // is and writes nothing more (its writes would be refused anyway).
        return StepError::lost_claim(format!(
            "this process lost its claim on the run and stopped; another process drives it now ({})",
            error.message
        ));
    }
    StepError::new(error.to_string())
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
            shutdown: None,
            pace: Pace::real(),
            templates: Templates::new(),
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

    /// Stops runs at their next checkpoint (between steps, and between the checks of a wait)
    /// once `shutdown` turns true. An interrupted run stays recorded as running.
    pub fn with_shutdown(mut self, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    fn stopping(&self) -> bool {
        self.shutdown
            .as_ref()
            .is_some_and(|shutdown| *shutdown.borrow())
            || self.lease_lost()
    }

    /// The lease of a fenced store is gone: another process took the run over.
    fn lease_lost(&self) -> bool {
        self.store
            .as_ref()
            .and_then(|store| store.lease())
            .is_some_and(|lease| lease.is_lost())
    }

    /// Waits until `until` (real time), stopping early when the engine shuts down or the
    /// lease is lost.
    async fn hold_off(&self, until: tokio::time::Instant) -> Result<(), StepError> {
        let wait = until.saturating_duration_since(tokio::time::Instant::now());
        self.pause_real(wait).await
    }

    async fn pause_real(&self, wait: Duration) -> Result<(), StepError> {
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
    async fn pause(&self, playbook_time: Duration) -> Result<(), StepError> {
        self.pause_real(self.pace.real_duration(playbook_time))
            .await
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    fn emit(&self, state: &RunState<'_>, event: Event) {
        let redactor = &state.redactor;
        let event = if redactor.is_empty() {
            event
        } else {
            // Every text an event carries goes through the redactor: round-trip through JSON
            // so that no field can be forgotten.
            let redacted = serde_json::to_value(&event)
                .map(|value| redactor.redact_json(&value))
                .and_then(serde_json::from_value::<Event>);
            match redacted {
                Ok(event) => event,
                Err(_) => Event::Warning {
                    step_id: None,
                    message: "an event could not be redacted and was dropped".to_owned(),
                },
            }
        };
        self.sink.emit(&event);
        if self.store.is_some() {
            state
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(event);
        }
    }

    /// Writes the events emitted so far to the store.
    async fn flush(&self, state: &RunState<'_>) -> Result<(), StepError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let events = std::mem::take(
            &mut *state
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for event in &events {
            store
                .append_event(state.run_id(), event)
                .await
                .map_err(store_error)?;
        }
        Ok(())
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
        let playbook = &request.playbook;
        let redactor = request.redactor.clone();
        for (name, declaration) in &playbook.inputs {
            if declaration.secret
                && let Some(value) = request.inputs.get(name)
            {
                redactor.add_value(value);
            }
        }
        let mut secrets = Map::new();
        for (name, secret) in &request.secrets {
            redactor.add(secret.expose_secret());
            secrets.insert(
                name.clone(),
                Value::String(secret.expose_secret().to_owned()),
            );
        }
        let started_at = record
            .map(|record| record.started_at.clone())
            .unwrap_or_else(now_rfc3339);
        let mut state = RunState {
            request,
            redactor: redactor.clone(),
            steps: Map::new(),
            run_names: json!({
                "id": request.run_id,
                "playbook": playbook.name,
                "started_at": started_at,
            }),
            secrets: Value::Object(secrets),
            issued: HashMap::new(),
            issued_order: Vec::new(),
            packages: HashMap::new(),
            pending: Mutex::new(Vec::new()),
            prior_steps: HashMap::new(),
            prior_intents: HashMap::new(),
            current: None,
            tainted: Tainted::default(),
        };
        if let Some(record) = record {
            for step in &record.steps {
                state.prior_steps.insert(step.step_id.clone(), step.clone());
            }
            for intent in &record.intents {
                state
                    .prior_intents
                    .insert(intent.step_id.clone(), intent.clone());
            }
        }
        // Secret inputs are recorded as a whole-value marker whatever their type, so that a
        // resume knows to ask for them again.
        let inputs: Map<String, Value> = request
            .inputs
            .iter()
            .map(|(name, value)| {
                let secret = playbook
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
        let inputs = Value::Object(inputs);
        if let (Some(store), None) = (&self.store, record) {
            let source = request.source.clone().unwrap_or_else(|| RunSource {
                text: String::new(),
                path: None,
            });
            let new_run = NewRun {
                run_id: request.run_id.clone(),
                playbook_name: playbook.name.clone(),
                playbook_hash: playbook_hash(&source.text),
                playbook_source: source.text,
                playbook_path: source.path,
                inputs: inputs.clone(),
                started_by: request.started_by.clone(),
                claimed_by: store.lease().map(|lease| lease.holder().to_owned()),
            };
            if let Err(error) = store.create_run(&new_run).await {
                let message = error.to_string();
                self.emit(
                    &state,
                    Event::RunFinished {
                        run_id: request.run_id.clone(),
                        status: RunStatus::Failed,
                        outputs: Value::Object(Map::new()),
                        error: Some(message.clone()),
                        issued_actions: Vec::new(),
                        elapsed_ms: elapsed_ms(started),
                    },
                );
                return RunOutcome {
                    run_id: request.run_id.clone(),
                    status: RunStatus::Failed,
                    outputs: Value::Object(Map::new()),
                    error: Some(message),
                    issued_actions: Vec::new(),
                };
            }
        }
        self.emit(
            &state,
            Event::RunStarted {
                run_id: request.run_id.clone(),
                playbook: playbook.name.clone(),
                inputs,
            },
        );

        let mut failure: Option<String> = None;
        let mut interrupted = false;
        let mut cancelled = false;
        for (index, step) in playbook.steps.iter().enumerate() {
            match self.restore(&mut state, step) {
                Restore::Restored(event) => {
                    self.emit(&state, event);
                    continue;
                }
                Restore::Replay => {
                    // Its recorded outputs hold redacted secrets: worthless as data. The step
                    // reads (or creates a harmless group) only, so it runs again, unrecorded.
                    match self.run_step(&mut state, step).await {
                        Ok(Some(done)) => {
                            let mut outputs = done.outputs;
                            outputs.insert("skipped".to_owned(), Value::Bool(false));
                            state.steps.insert(step.id.clone(), Value::Object(outputs));
                        }
                        Ok(None) => {}
                        Err(error) => {
                            failure = Some(format!(
                                "step `{}` failed when run again on resume: {}",
                                step.id,
                                redactor.redact_text(&error.message)
                            ));
                            break;
                        }
                    }
                    continue;
                }
                Restore::Run => {}
            }
            if self.stopping() {
                interrupted = true;
                break;
            }
            let kind = step.kind.kind_name().to_owned();
            let step_started = Instant::now();
            let result = match self.begin_step(&mut state, index, step).await {
                Ok(()) => self.run_step(&mut state, step).await,
                Err(error) => Err(error),
            };
            let (status, outputs, summary, error) = match result {
                Ok(None) => (
                    StepStatus::Skipped,
                    state.steps.get(&step.id).cloned(),
                    None,
                    None,
                ),
                Ok(Some(done)) => {
                    let mut outputs = done.outputs;
                    outputs.insert("skipped".to_owned(), Value::Bool(false));
                    let outputs = Value::Object(outputs);
                    self.emit(
                        &state,
                        Event::StepFinished {
                            step_id: step.id.clone(),
                            kind,
                            summary: done.summary.clone(),
                            outputs: outputs.clone(),
                            elapsed_ms: elapsed_ms(step_started),
                        },
                    );
                    state.steps.insert(step.id.clone(), outputs.clone());
                    (
                        StepStatus::Succeeded,
                        Some(outputs),
                        Some(done.summary),
                        None,
                    )
                }
                Err(error) if error.is_interrupted() => {
                    // Left `running` in the store: a resume re-runs this step.
                    interrupted = true;
                    let _ = self.flush(&state).await;
                    break;
                }
                Err(error) => {
                    cancelled |= error.is_cancelled();
                    let go_on = step.continue_on_error && !error.is_cancelled();
                    let message = redactor.redact_text(&error.message);
                    self.emit(
                        &state,
                        Event::StepFailed {
                            step_id: step.id.clone(),
                            kind,
                            error: message.clone(),
                            elapsed_ms: elapsed_ms(step_started),
                            continued: go_on,
                        },
                    );
                    let outputs = go_on.then(|| {
                        let outputs = json!({"skipped": false, "failed": true, "error": message});
                        state.steps.insert(step.id.clone(), outputs.clone());
                        outputs
                    });
                    if !go_on {
                        failure = Some(format!("step `{}` failed: {message}", step.id));
                    }
                    (StepStatus::Failed, outputs, None, Some(message))
                }
            };
            if let Err(error) = self
                .end_step(&mut state, status, outputs, summary, error)
                .await
            {
                failure = Some(error.message);
                break;
            }
            if failure.is_some() {
                break;
            }
        }

        if interrupted {
            return self.interrupted(&state, started).await;
        }
        let mut outputs = Value::Object(Map::new());
        if failure.is_none() {
            match self.render_outputs(&state) {
                Ok(rendered) => outputs = rendered,
                Err(error) => failure = Some(redactor.redact_text(&error.message)),
            }
        }
        let status = if cancelled {
            RunStatus::Cancelled
        } else if failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        let outputs = redactor.redact_json(&outputs);
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
        if let Some(store) = &self.store {
            let finished = match self.flush(&state).await {
                Ok(()) => store
                    .finish_run(
                        request.run_id.as_str(),
                        status,
                        &outputs,
                        failure.as_deref(),
                    )
                    .await
                    .map_err(store_error),
                Err(error) => Err(error),
            };
            if let Err(error) = finished {
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
                };
            }
        }
        RunOutcome {
            run_id: request.run_id.clone(),
            status,
            outputs,
            error: failure,
            issued_actions: state.issued_order,
        }
    }

    /// Ends a run stopped by a shutdown: no `finish_run`, so the record stays `running`.
    async fn interrupted(&self, state: &RunState<'_>, started: Instant) -> RunOutcome {
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
        }
    }

    /// On resume: a step that finished before (or was skipped, or failed with
    /// `continue_on_error`) is not run again; its recorded outputs stand.
    fn restore(&self, state: &mut RunState<'_>, step: &Step) -> Restore {
        let Some(prior) = state.prior_steps.get(&step.id) else {
            return Restore::Run;
        };
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
        let replayable = matches!(
            step.kind,
            StepKind::Target(_)
                | StepKind::Parameterize(_)
                | StepKind::Set(_)
                | StepKind::Log(_)
                | StepKind::Assert(_)
        );
        if replayable && prior.status == StepStatus::Succeeded && contains_redacted(&outputs) {
            return Restore::Replay;
        }
        if let StepKind::Issue(_) = &step.kind
            && let Some(action_id) = outputs.get("action_id").and_then(as_u64)
        {
            let targeted = outputs.get("targeted").and_then(as_u64).unwrap_or(0);
            let verify = outputs.get("verify").and_then(Value::as_bool);
            state
                .issued
                .insert(action_id, IssuedAction { targeted, verify });
            state.issued_order.push(action_id);
        }
        let event = Event::StepRestored {
            step_id: step.id.clone(),
            kind: step.kind.kind_name().to_owned(),
            status: prior.status.as_str().to_owned(),
        };
        state.steps.insert(step.id.clone(), outputs);
        Restore::Restored(event)
    }

    /// Records that a step starts (with the deadline of a wait, kept across resumes).
    async fn begin_step(
        &self,
        state: &mut RunState<'_>,
        index: usize,
        step: &Step,
    ) -> Result<(), StepError> {
        let prior = state.prior_steps.get(&step.id);
        let wait = match &step.kind {
            StepKind::AwaitApproval(wait) => Some(wait.timeout),
            StepKind::Poll(poll) => Some(poll.timeout),
            _ => None,
        };
        let deadline = prior.and_then(|prior| prior.deadline.clone()).or_else(|| {
            let wait = self.pace.real_duration(wait?);
            let deadline = chrono::Utc::now() + chrono::Duration::from_std(wait).ok()?;
            Some(deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        });
        let record = StepRecord {
            step_index: u32::try_from(index).unwrap_or(u32::MAX),
            step_id: step.id.clone(),
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
                .run(state.run_id())
                .await
                .map_err(store_error)?
                .is_some_and(|run| run.status == "cancelled");
            if cancelled {
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
    async fn end_step(
        &self,
        state: &mut RunState<'_>,
        status: StepStatus,
        outputs: Option<Value>,
        summary: Option<String>,
        error: Option<String>,
    ) -> Result<(), StepError> {
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

    /// How much playbook time a wait has left: its own timeout, or what remains of the
    /// deadline recorded when the step first started (a resumed wait keeps its deadline).
    fn wait_left(&self, state: &RunState<'_>, timeout: Duration) -> Duration {
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

    /// The playbook's outputs; a value computed from a secret is `[REDACTED]` as a whole,
    /// whatever its type (a secret `integer` input passed on stays hidden too).
    fn render_outputs(&self, state: &RunState<'_>) -> Result<Value, StepError> {
        let context = state.context();
        let mut outputs = Map::new();
        for (name, template) in &state.request.playbook.outputs {
            let rendered = self
                .render_tracked(state, template, &context)
                .map_err(|error| StepError::new(format!("output `{name}`: {}", error.message)))?;
            outputs.insert(name.clone(), mask(&rendered.value, &rendered.taint));
        }
        Ok(Value::Object(outputs))
    }

    /// Renders a template value; values computed from secrets become secrets themselves.
    fn render(
        &self,
        state: &RunState<'_>,
        template: &TemplateValue,
        context: &TemplateContext,
    ) -> Result<Value, StepError> {
        self.render_tracked(state, template, context)
            .map(|rendered| rendered.value)
    }

    /// Renders a template value and says which parts were computed from a secret (those are
    /// registered with the run's redactor).
    fn render_tracked(
        &self,
        state: &RunState<'_>,
        template: &TemplateValue,
        context: &TemplateContext,
    ) -> Result<Rendered, StepError> {
        let rendered = self.eval(template, context)?;
        state.redactor.add_tainted(&rendered.value, &rendered.taint);
        Ok(rendered)
    }

    /// Whether a condition (`when`, `assert.that`) holds. Its value is only used for its
    /// truth, so it is not registered as a secret (a `false` read from a secret would make
    /// every "false" in the run's texts unreadable).
    fn holds(
        &self,
        template: &TemplateValue,
        context: &TemplateContext,
    ) -> Result<bool, StepError> {
        let rendered = self.eval(template, context)?;
        Ok(condition_holds(&template.value, &rendered.value))
    }

    fn eval(
        &self,
        template: &TemplateValue,
        context: &TemplateContext,
    ) -> Result<Rendered, StepError> {
        self.templates
            .render_tracked(&template.value, context)
            .map_err(|error| {
                StepError::new(format!(
                    "line {}, column {}: {}",
                    template.span.line, template.span.column, error.message
                ))
            })
    }

    /// Makes a finished step's outputs safe to record and show: the parts its templates
    /// computed from secrets, and any part whose text holds a registered secret, are secret
    /// for later steps and `[REDACTED]` as a whole in the outputs recorded, shown and stored.
    /// Later steps read the real values.
    fn seal(&self, state: &mut RunState<'_>, step: &Step, mut done: StepDone) -> StepDone {
        let mut taint = std::mem::take(&mut state.tainted.pending);
        if !state.redactor.is_empty() {
            for (name, value) in &done.outputs {
                let mut part = taint.part(name).clone();
                part.merge(&revealing(value, &state.redactor));
                taint.set_part(name, part);
            }
        }
        let mut hidden = Map::new();
        if !taint.is_clean() {
            state
                .redactor
                .add_tainted(&Value::Object(done.outputs.clone()), &taint);
            for (name, value) in done.outputs.iter_mut() {
                let part = taint.part(name);
                if part.is_clean() {
                    continue;
                }
                let masked = mask(value, part);
                if masked != *value {
                    hidden.insert(name.clone(), std::mem::replace(value, masked));
                }
            }
        }
        state.tainted.steps.set_part(&step.id, taint);
        if hidden.is_empty() {
            state.tainted.hidden.remove(&step.id);
        } else {
            state.tainted.hidden.insert(step.id.clone(), hidden);
        }
        done
    }

    /// Runs one step with its `when`, `timeout` and `retry`. `Ok(None)` means skipped.
    async fn run_step(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
    ) -> Result<Option<StepDone>, StepError> {
        let kind = step.kind.kind_name();
        if let Some(condition) = &step.when {
            let context = state.context();
            if !self.holds(condition, &context)? {
                self.emit(
                    state,
                    Event::StepSkipped {
                        step_id: step.id.clone(),
                        kind: kind.to_owned(),
                        reason: "`when` is false".to_owned(),
                    },
                );
                state
                    .steps
                    .insert(step.id.clone(), json!({"skipped": true}));
                return Ok(None);
            }
        }
        self.emit(
            state,
            Event::StepStarted {
                step_id: step.id.clone(),
                kind: kind.to_owned(),
                name: step.name.clone(),
            },
        );

        // An issue step is never retried: a second attempt could issue a second action.
        let attempts = match (&step.retry, &step.kind) {
            (Some(_), StepKind::Issue(_)) => {
                self.emit(
                    state,
                    Event::Warning {
                        step_id: Some(step.id.clone()),
                        message:
                            "`retry` is ignored on an issue step: an action is never issued twice"
                                .to_owned(),
                    },
                );
                1
            }
            // `attempts` counts the re-runs after the first failure.
            (Some(retry), _) => retry.attempts.saturating_add(1),
            (None, _) => 1,
        };
        let mut attempt = 1;
        loop {
            // An issue step is not cut off by a timeout: that could drop the answer to a
            // POST /actions that did create the action.
            let limit = step
                .timeout
                .filter(|_| !matches!(step.kind, StepKind::Issue(_)));
            let result = match limit {
                Some(limit) => {
                    match tokio::time::timeout(
                        self.pace.real_duration(limit),
                        self.execute(state, step),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => Err(StepError::new(format!(
                            "the step did not finish within its timeout of {}",
                            humanize(limit)
                        ))),
                    }
                }
                None => self.execute(state, step).await,
            };
            match result {
                Ok(done) => return Ok(Some(self.seal(state, step, done))),
                Err(error) if attempt < attempts && !error.is_interrupted() => {
                    self.emit(
                        state,
                        Event::StepRetrying {
                            step_id: step.id.clone(),
                            attempt: attempt + 1,
                            error: error.message.clone(),
                        },
                    );
                    if let Some(retry) = &step.retry {
                        self.pause(retry.backoff).await?;
                    }
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn execute(&self, state: &mut RunState<'_>, step: &Step) -> Result<StepDone, StepError> {
        match &step.kind {
            StepKind::Target(target) => self.target(state, target).await,
            StepKind::Parameterize(parameterize) => self.parameterize(state, parameterize).await,
            StepKind::Issue(issue) => self.issue(state, step, issue).await,
            StepKind::AwaitApproval(wait) => self.await_approval(state, step, wait).await,
            StepKind::Poll(poll) => self.poll(state, step, poll).await,
            StepKind::Assert(assertion) => self.assert(state, assertion),
            StepKind::Log(message) => {
                let context = state.context();
                let rendered = self.render_tracked(state, message, &context)?;
                // A message computed from a secret is a secret as a whole.
                let text = if rendered.taint.is_clean() {
                    state.redactor.redact_text(&value_text(&rendered.value))
                } else {
                    crate::redact::REDACTED.to_owned()
                };
                self.emit(
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
            StepKind::Set(values) => {
                let context = state.context();
                let mut outputs = Map::new();
                let mut taint = Taint::clean();
                for (name, template) in values {
                    let rendered = self.render_tracked(state, template, &context)?;
                    taint.set_part(name, rendered.taint);
                    outputs.insert(name.clone(), rendered.value);
                }
                // Taken by `seal` when the step is done: later steps know these are secret.
                state.tainted.pending = taint;
                let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
                let summary = format!("set {}", names.join(", "));
                Ok(StepDone { outputs, summary })
            }
        }
    }

    async fn target(
        &self,
        state: &mut RunState<'_>,
        target: &TargetStep,
    ) -> Result<StepDone, StepError> {
        let context = state.context();
        // Whether a clause value was computed from a secret: the platform quotes and escapes
        // it into the question text, so that text is a secret as a whole.
        let mut secret = false;
        let request = match target {
            TargetStep::Clauses { combine, clauses } => {
                let mut rendered = Vec::with_capacity(clauses.len());
                for clause in clauses {
                    if let Some(condition) = &clause.when
                        && !self.holds(condition, &context)?
                    {
                        continue;
                    }
                    let value = self.render_tracked(state, &clause.value, &context)?;
                    secret |= !value.taint.is_clean();
                    let value = value_text(&value.value);
                    rendered.push(TargetClause {
                        sensor: clause.sensor.clone(),
                        op: operator(clause.op),
                        value,
                    });
                }
                if rendered.is_empty() {
                    return Err(StepError::new(
                        "every clause of this target was skipped by its `when`; refusing to target every machine",
                    ));
                }
                TargetRequest::Clauses {
                    combine: match combine {
                        PlaybookCombine::All => Combine::All,
                        PlaybookCombine::Any => Combine::Any,
                    },
                    clauses: rendered,
                }
            }
            TargetStep::FilterGroup(name) => TargetRequest::FilterGroup {
                name_or_id: value_text(&self.render(state, name, &context)?),
            },
            TargetStep::Text(text) => TargetRequest::Text {
                text: text.value.clone(),
            },
        };
        let outcome = match self.platform.create_target(&request).await {
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

    async fn parameterize(
        &self,
        state: &mut RunState<'_>,
        parameterize: &ParameterizeStep,
    ) -> Result<StepDone, StepError> {
        let context = state.context();
        let selector = match &parameterize.package {
            PackageRef::Name(name) => {
                PackageSelector::Name(value_text(&self.render(state, name, &context)?))
            }
            PackageRef::Id(id) => PackageSelector::Id(
                as_u64(&self.render(state, id, &context)?)
                    .ok_or_else(|| StepError::new("`package_id` must be a whole number"))?,
            ),
        };
        let mut params = Vec::with_capacity(parameterize.params.len());
        for (key, template) in &parameterize.params {
            let value = self.render(state, template, &context)?;
            params.push((key.clone(), parameter_text(&value)));
        }
        let outcome = self.platform.resolve_package(&selector, &params).await?;
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

    async fn issue(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
        issue: &IssueStep,
    ) -> Result<StepDone, StepError> {
        let context = state.context();
        let name = value_text(&self.render(state, &issue.name, &context)?);
        if name.trim().is_empty() {
            return Err(StepError::new("the action's `name` rendered empty"));
        }
        let (target_group_id, target_filter_flag) =
            group_reference(&self.render(state, &issue.target, &context)?)?;
        let (package_id, parameters) =
            package_reference(&self.render(state, &issue.package, &context)?)?;
        let action_group = value_text(&self.render(state, &issue.action_group, &context)?);
        if action_group
            .trim()
            .eq_ignore_ascii_case(DEFAULT_ACTION_GROUP)
        {
            return Err(default_action_group_error());
        }
        let action_group = self
            .platform
            .resolve_action_group(action_group.trim())
            .await?;
        if action_group
            .name
            .trim()
            .eq_ignore_ascii_case(DEFAULT_ACTION_GROUP)
        {
            return Err(default_action_group_error());
        }

        let unique_name = unique_action_name(&name, &state.request.run_id, &step.id);
        // Resuming a step whose intent was recorded: the action may exist already. It is
        // adopted as it is (the guard was checked before it was issued): by the id the store
        // recorded, or else by its unique name.
        let resumed = match state.prior_intents.get(&step.id) {
            Some(intent) => match intent.action_id {
                Some(action_id) => Some(self.platform.action(action_id).await?),
                None => {
                    // The previous holder recorded the intent and may still have its
                    // `POST /actions` in flight (it was paused, not dead): wait until that
                    // request has surely landed or timed out before looking it up, so that
                    // it is adopted rather than issued a second time.
                    if let Some(until) =
                        self.store.as_ref().and_then(|store| store.hold_off_until())
                    {
                        self.hold_off(until).await?;
                    }
                    self.platform
                        .find_action(&unique_name)
                        .await
                        .map_err(|error| may_have_been_issued(&unique_name, &error.message))?
                }
            },
            None => None,
        };
        // Count what the target matches now, before anything is issued.
        let targeted = self
            .platform
            .count_targets(target_group_id, self.pace.real_duration(COUNT_WAIT))
            .await?;
        if resumed.is_none()
            && let Some(limit) = state
                .request
                .playbook
                .guard
                .as_ref()
                .and_then(|guard| guard.max_endpoints)
            && targeted > limit
        {
            return Err(StepError::new(format!(
                "guard: the target matches {targeted} endpoints, more than max_endpoints {limit}; nothing was issued"
            )));
        }
        if targeted == 0 && resumed.is_none() {
            self.emit(
                state,
                Event::Warning {
                    step_id: Some(step.id.clone()),
                    message: "the target matches no endpoint that answers now; offline endpoints still pick the action up before it expires".to_owned(),
                },
            );
        }

        // Whether the package verifies decides when the poll is done. A package that no
        // parameterize step of this run resolved (a resumed run, a package_spec written by
        // hand) is read once.
        if let std::collections::hash_map::Entry::Vacant(entry) = state.packages.entry(package_id) {
            let package = self
                .platform
                .resolve_package(&PackageSelector::Id(package_id), &parameters)
                .await?;
            entry.insert(package);
        }
        let verify = state
            .packages
            .get(&package_id)
            .is_some_and(|package| package.verify);
        let spec = ActionSpec {
            name: unique_name.clone(),
            action_group_id: action_group.id,
            target_group_id,
            target_filter_flag,
            package_id,
            parameters,
            expire_seconds: issue.expire.as_secs(),
            distribute_seconds: issue.distribute.as_secs(),
            issue_seconds: issue.issue_seconds,
        };
        let (action, adopted) = match resumed {
            Some(existing) => (existing, true),
            None => {
                // The intent is durable before the request leaves, so that a crash between
                // sending and recording the answer is followed by a lookup, not a second action.
                if let Some(store) = &self.store {
                    self.flush(state).await?;
                    crate::pause_points::reached("before_intent");
                    store
                        .record_intent(
                            state.run_id(),
                            &step.id,
                            &state.redactor.redact_text(&unique_name),
                        )
                        .await
                        .map_err(store_error)?;
                }
                crate::pause_points::reached("before_post");
                self.issue_once(state.run_id(), &spec).await?
            }
        };
        crate::pause_points::reached("after_post");
        if let Some(store) = &self.store {
            let recorded = store
                .intent_resolved(state.run_id(), &step.id, action.action_id)
                .await;
            if let Err(error) = recorded {
                if error.is_lost_claim() && !adopted {
                    self.settle_lost_send(state, &step.id, &action).await;
                }
                return Err(store_error(error));
            }
        }
        state.issued.insert(
            action.action_id,
            IssuedAction {
                targeted,
                verify: Some(verify),
            },
        );
        state.issued_order.push(action.action_id);
        self.emit(
            state,
            Event::ActionIssued {
                step_id: step.id.clone(),
                action_id: action.action_id,
                name: action.name.clone(),
                targeted,
                adopted,
            },
        );
        let expires_at = action.expires_at.clone().unwrap_or_else(|| {
            let expiry = chrono::Utc::now()
                + chrono::Duration::from_std(issue.expire + issue.distribute).unwrap_or_default();
            expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        let known_package = state.packages.get(&package_id);
        let summary = format!(
            "action {} issued to {targeted} endpoint{} under {} ({})",
            action.action_id,
            if targeted == 1 { "" } else { "s" },
            action_group.name,
            action.status
        );
        let outputs = Map::from_iter([
            ("action_id".to_owned(), json!(action.action_id)),
            ("saved_action_id".to_owned(), json!(action.saved_action_id)),
            ("name".to_owned(), json!(action.name)),
            ("status".to_owned(), json!(action.status)),
            (
                "package_name".to_owned(),
                json!(
                    action
                        .package_name
                        .clone()
                        .or_else(|| known_package.map(|package| package.package_name.clone()))
                ),
            ),
            (
                "command".to_owned(),
                json!(
                    action
                        .command
                        .clone()
                        .or_else(|| known_package.map(|package| package.command.clone()))
                ),
            ),
            ("targeted".to_owned(), json!(targeted)),
            ("expires_at".to_owned(), json!(expires_at)),
            // Recorded so that a resumed poll knows whether `Completed` is final without
            // asking the server about the action's (derived) package.
            ("verify".to_owned(), json!(verify)),
        ]);
        Ok(StepDone { outputs, summary })
    }

    /// Issues the action exactly once: an existing action of this run with the same unique
    /// name is adopted, and after an ambiguous send the action is looked up before anything is
    /// sent again.
    ///
    /// A server that was unavailable (503, or a 502/504 from a proxy that may have passed the
    /// request on) is treated like an ambiguous send: the client never repeats a `POST
    /// /actions` blindly, so the engine looks the action up by name and only then sends it
    /// again, a few times with a pause, rather than failing a run on one passing outage.
    async fn issue_once(
        &self,
        run_id: &str,
        spec: &ActionSpec,
    ) -> Result<(ActionInfo, bool), StepError> {
        if let Some(existing) = self.platform.find_action(&spec.name).await? {
            return Ok((existing, true));
        }
        let mut failures: Vec<String> = Vec::new();
        loop {
            // The last check before the request leaves: this process still holds the run and
            // its lease has time left (renewed with a fenced write after a pause). A process
            // that lost the run stops here, before sending.
            if let Some(store) = &self.store {
                store.may_send(run_id).await.map_err(|error| {
                    let mut stopped = store_error(error);
                    if !failures.is_empty() {
                        stopped.message = format!(
                            "{}; an earlier attempt may have issued action `{}` (the process now driving the run looks it up)",
                            stopped.message, spec.name
                        );
                    }
                    stopped
                })?;
            }
            crate::pause_points::reached("before_post_sent");
            match self.platform.issue_action(spec).await {
                Ok(action) => return Ok((action, false)),
                Err(error)
                    if matches!(
                        error.kind,
                        PlatformErrorKind::Ambiguous | PlatformErrorKind::Unavailable
                    ) && failures.len() + 1 < ISSUE_ATTEMPTS =>
                {
                    failures.push(error.message);
                    // Give a request the server may still be processing time to show up
                    // before looking for it, so that it is adopted rather than sent again.
                    let failed = u32::try_from(failures.len()).unwrap_or(u32::MAX);
                    self.pause(ISSUE_BACKOFF.saturating_mul(failed))
                        .await
                        .map_err(|mut error| {
                            error.message = format!(
                                "{}; the action `{}` may have been issued (the last send was ambiguous)",
                                error.message, spec.name
                            );
                            error
                        })?;
                    let found = self
                        .platform
                        .find_action(&spec.name)
                        .await
                        .map_err(|error| {
                            may_have_been_issued(
                                &spec.name,
                                &format!(
                                    "{}; then looking it up failed: {}",
                                    failures.join("; "),
                                    error.message
                                ),
                            )
                        })?;
                    if let Some(existing) = found {
                        return Ok((existing, true));
                    }
                }
                Err(error) if failures.is_empty() => return Err(error.into()),
                Err(error) => {
                    return Err(may_have_been_issued(
                        &spec.name,
                        &format!(
                            "issuing the action failed {} times ({}; then {error})",
                            failures.len() + 1,
                            failures.join("; ")
                        ),
                    ));
                }
            }
        }
    }

    /// This process sent an action, then found that another process had taken the run over
    /// meanwhile (it was paused past its lease between its last check and the send: the one
    /// window fencing cannot close). The new holder either adopts this action (it finds it by
    /// name) or issued its own before this one existed: wait for it to record which, and stop
    /// this one if it is a duplicate. Nothing is written to the store (this process may not).
    async fn settle_lost_send(&self, state: &RunState<'_>, step_id: &str, action: &ActionInfo) {
        let Some(store) = &self.store else {
            return;
        };
        let deadline = tokio::time::Instant::now() + SETTLE_LOST_SEND;
        while tokio::time::Instant::now() < deadline {
            let recorded = store
                .run(state.run_id())
                .await
                .ok()
                .flatten()
                .and_then(|run| {
                    run.intents
                        .into_iter()
                        .find(|intent| intent.step_id == step_id)
                        .and_then(|intent| intent.action_id)
                });
            match recorded {
                Some(id) if id == action.action_id => return,
                Some(other) => {
                    let stopped = self.platform.stop_action(action.action_id).await;
                    self.sink.emit(&Event::Warning {
                        step_id: Some(step_id.to_owned()),
                        message: match stopped {
                            Ok(()) => format!(
                                "this process lost the run while sending: action {} duplicated action {other} of the process now driving the run, and was stopped",
                                action.action_id
                            ),
                            Err(error) => format!(
                                "this process lost the run while sending: action {} duplicates action {other} and could NOT be stopped ({}); stop it by hand",
                                action.action_id,
                                state.redactor.redact_text(&error.message)
                            ),
                        },
                    });
                    return;
                }
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        self.sink.emit(&Event::Warning {
            step_id: Some(step_id.to_owned()),
            message: format!(
                "this process lost the run while sending action {}; the process now driving the run has not recorded its action yet: check that only one action named `{}` runs",
                action.action_id,
                state.redactor.redact_text(&action.name)
            ),
        });
    }

    async fn await_approval(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
        wait: &AwaitApprovalStep,
    ) -> Result<StepDone, StepError> {
        let context = state.context();
        let action_id = as_u64(&self.render(state, &wait.action, &context)?)
            .ok_or_else(|| StepError::new("`action` must be an action id (a whole number)"))?;
        let timeout = self.wait_left(state, wait.timeout);
        let stopwatch = self.pace.start();
        let mut first_check = true;
        let mut required = false;
        loop {
            let action = self.platform.action(action_id).await?;
            if action.is_dead() {
                return Err(StepError::new(format!(
                    "action {action_id} is {} and will not run",
                    if action.stopped {
                        "stopped".to_owned()
                    } else {
                        action.status.to_lowercase()
                    }
                )));
            }
            if action.saved_action_id == 0 {
                return Err(StepError::new(format!(
                    "Tanium did not say which saved action stands behind action {action_id}, so its approval cannot be read"
                )));
            }
            let approved = self.platform.approved(action.saved_action_id).await?;
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
            self.emit(
                state,
                Event::ApprovalWaiting {
                    step_id: step.id.clone(),
                    action_id,
                    waited_seconds: waited.as_secs(),
                    timeout_seconds: wait.timeout.as_secs(),
                },
            );
            self.flush(state).await?;
            if waited >= timeout {
                return Err(StepError::new(format!(
                    "action {action_id} was not approved within {}; it stays pending in Tanium (saved action {})",
                    humanize(wait.timeout),
                    action.saved_action_id
                )));
            }
            let remaining = timeout.saturating_sub(waited);
            self.pause(wait.interval.min(remaining).max(Duration::from_millis(1)))
                .await?;
        }
    }

    async fn poll(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
        poll: &PollStep,
    ) -> Result<StepDone, StepError> {
        let context = state.context();
        let action_id = as_u64(&self.render(state, &poll.action, &context)?)
            .ok_or_else(|| StepError::new("`action` must be an action id (a whole number)"))?;
        let issued = state.issued.get(&action_id).copied();
        let expected = match &poll.expected {
            Some(template) => as_u64(&self.render(state, template, &context)?)
                .ok_or_else(|| StepError::new("`expected` must be a whole number"))?,
            None => issued.map(|issued| issued.targeted).ok_or_else(|| {
                StepError::new(format!(
                    "action {action_id} was not issued by this run, so the number of endpoints to wait for is unknown: give `expected`"
                ))
            })?,
        };
        let verify = match issued.and_then(|issued| issued.verify) {
            Some(verify) => verify,
            None => self.platform.action_verifies(action_id).await?,
        };
        let until = f64::from(poll.until_percent);
        let timeout = self.wait_left(state, poll.timeout);
        let stopwatch = self.pace.start();
        let mut interval = poll.interval;
        let mut last_seen: Option<(u64, BTreeMap<String, u64>)> = None;
        loop {
            let action = self.platform.action(action_id).await?;
            let progress = self
                .platform
                .action_results(action_id, verify, poll.max_rows)
                .await?;
            let percent = share(progress.mr_tested, progress.estimated_total);
            let finished_percent = if expected == 0 {
                100.0
            } else {
                share(progress.finished, expected)
            };
            // Judged on the exact shares; shown rounded to a tenth.
            let reached = expected == 0 || (percent >= until && finished_percent >= until);
            let (percent, finished_percent) = (round_tenth(percent), round_tenth(finished_percent));
            // A stopped action fails the step. One that expired after enough endpoints had
            // really finished (not merely been marked Expired or Stopped) is done.
            let really_finished = progress.finished.saturating_sub(
                ["Expired", "Stopped"]
                    .iter()
                    .filter_map(|word| progress.statuses.get(*word))
                    .sum::<u64>(),
            );
            let stopped = action.stopped || action.status.eq_ignore_ascii_case("stopped");
            let done_before_expiry =
                expected == 0 || (percent >= until && share(really_finished, expected) >= until);
            if action.is_dead() && (stopped || !done_before_expiry) {
                return Err(StepError::new(format!(
                    "action {action_id} was {} before it finished",
                    if action.stopped {
                        "stopped".to_owned()
                    } else {
                        action.status.to_lowercase()
                    }
                )));
            }
            self.emit(
                state,
                Event::PollProgress {
                    step_id: step.id.clone(),
                    action_id,
                    percent,
                    finished_percent,
                    mr_tested: progress.mr_tested,
                    estimated_total: progress.estimated_total,
                    finished: progress.finished,
                    expected,
                    statuses: progress.statuses.clone(),
                },
            );
            self.flush(state).await?;
            let timed_out = stopwatch.elapsed() >= timeout;
            if reached || timed_out {
                if !reached && !poll.allow_partial {
                    return Err(StepError::new(format!(
                        "action {action_id} did not reach {}% within {}: {:.0}% reporting, {} of {expected} endpoints finished",
                        poll.until_percent,
                        humanize(poll.timeout),
                        percent,
                        progress.finished
                    )));
                }
                let rows: Vec<Value> = progress
                    .rows
                    .iter()
                    .map(|row| json!({"computer_name": row.computer_name, "status": row.status, "count": row.count}))
                    .collect();
                let summary = format!(
                    "{} of {expected} endpoints finished ({} completed, {} failed), {:.0}% reporting{}",
                    progress.finished,
                    progress.completed,
                    progress.failed,
                    percent,
                    if reached {
                        ""
                    } else {
                        "; timed out, partial results"
                    }
                );
                let outputs = Map::from_iter([
                    ("percent".to_owned(), json!(percent)),
                    ("finished_percent".to_owned(), json!(finished_percent)),
                    ("mr_tested".to_owned(), json!(progress.mr_tested)),
                    (
                        "estimated_total".to_owned(),
                        json!(progress.estimated_total),
                    ),
                    ("reached".to_owned(), json!(reached)),
                    ("statuses".to_owned(), json!(progress.statuses)),
                    ("completed".to_owned(), json!(progress.completed)),
                    ("failed".to_owned(), json!(progress.failed)),
                    ("rows".to_owned(), Value::Array(rows)),
                    ("rows_truncated".to_owned(), json!(progress.rows_truncated)),
                ]);
                return Ok(StepDone { outputs, summary });
            }
            // Poll less often while nothing changes; go back to the base interval on news.
            let seen = (progress.mr_tested, progress.statuses);
            if last_seen.as_ref() == Some(&seen) {
                interval = interval
                    .mul_f64(1.5)
                    .min(poll.max_interval.max(poll.interval));
            } else {
                interval = poll.interval;
            }
            last_seen = Some(seen);
            let remaining = timeout.saturating_sub(stopwatch.elapsed());
            self.pause(interval.min(remaining).max(Duration::from_millis(1)))
                .await?;
        }
    }

    fn assert(
        &self,
        state: &mut RunState<'_>,
        assertion: &AssertStep,
    ) -> Result<StepDone, StepError> {
        let context = state.context();
        if self.holds(&assertion.that, &context)? {
            return Ok(StepDone {
                outputs: Map::new(),
                summary: "assertion holds".to_owned(),
            });
        }
        let message = match &assertion.message {
            Some(message) => value_text(&self.render(state, message, &context)?),
            None => format!("assertion failed: {}", value_text(&assertion.that.value)),
        };
        Err(StepError::new(message))
    }
}

/// A platform error's kind, in words.
fn platform_error_kind(kind: PlatformErrorKind) -> &'static str {
    match kind {
        PlatformErrorKind::NotFound => "not found",
        PlatformErrorKind::Invalid => "refused as invalid",
        PlatformErrorKind::Refused => "permission refused",
        PlatformErrorKind::Ambiguous => "no clear answer",
        PlatformErrorKind::Unavailable => "server unavailable",
        PlatformErrorKind::Other => "failed",
    }
}

/// The name an action is issued under: the author's name plus this run's marker, so that a
/// resumed run (or a retry after an ambiguous send) finds its own action again.
pub fn unique_action_name(name: &str, run_id: &str, step_id: &str) -> String {
    format!("{name} [runbook {run_id} {step_id}]")
}

/// An `issue` step that stopped while its action may exist: the error says so, with the name
/// to look for, wherever it is shown (human summary, `--json`, `runs show`).
fn may_have_been_issued(unique_name: &str, why: &str) -> StepError {
    StepError::new(format!(
        "{why}; the action MAY HAVE BEEN ISSUED: look in Tanium for an action named `{unique_name}` before running again (`runbook runs resume` looks it up and adopts it instead of issuing a second one)"
    ))
}

fn lost_claim_error() -> StepError {
    StepError::lost_claim(
        "this process lost its claim on the run (another process took it over) and stopped without writing anything more",
    )
}

fn default_action_group_error() -> StepError {
    StepError::new(
        "the action group `Default` holds no machines in Tanium (it is meant to keep actions from running anywhere); use `All Computers` or a group that holds the targets",
    )
}

pub(crate) fn operator(op: PlaybookOperator) -> Operator {
    match op {
        PlaybookOperator::Equals => Operator::Equals,
        PlaybookOperator::NotEquals => Operator::NotEquals,
        PlaybookOperator::Contains => Operator::Contains,
        PlaybookOperator::StartsWith => Operator::StartsWith,
        PlaybookOperator::EndsWith => Operator::EndsWith,
        PlaybookOperator::Matches => Operator::Matches,
        PlaybookOperator::GreaterThan => Operator::GreaterThan,
        PlaybookOperator::LessThan => Operator::LessThan,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

//! The state of one run in progress ([`RunState`]: what its steps returned, which of it is
//! secret, what it issued) and its events: emitted redacted, and written to the store at every
//! step boundary and poll.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use super::{Engine, RunRequest};
use crate::events::Event;
use crate::platform::PackageOutcome;
use crate::redact::Redactor;
use crate::run::error::{StepError, store_error};
use crate::store::{Intent, RunRecord, StepRecord};
use crate::template::{Taint, TemplateContext};

/// What the engine remembers of an action this run issued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IssuedAction {
    pub(crate) targeted: u64,
    pub(crate) verify: Option<bool>,
    /// The saved action behind it (0: not known), whose approval `await_approval` reads.
    pub(crate) saved_action_id: u64,
}

/// The state of one run in progress.
pub(crate) struct RunState<'a> {
    pub(crate) request: &'a RunRequest,
    pub(crate) redactor: Redactor,
    pub(crate) steps: Map<String, Value>,
    pub(crate) run_names: Value,
    pub(crate) secrets: Value,
    pub(crate) issued: HashMap<u64, IssuedAction>,
    pub(crate) issued_order: Vec<u64>,
    /// Packages resolved by this run's parameterize steps, by id.
    pub(crate) packages: HashMap<u64, PackageOutcome>,
    /// Events not yet written to the store (written at every step boundary and poll).
    pub(crate) pending: Mutex<Vec<Event>>,
    /// What the store knew of each step when this run was resumed.
    pub(crate) prior_steps: HashMap<String, StepRecord>,
    /// Intents recorded before a resume, by step id.
    pub(crate) prior_intents: HashMap<String, Intent>,
    /// What running steps saved of their progress before a resume, by step id.
    pub(crate) prior_progress: HashMap<String, Value>,
    /// The step being run: its record, for the store.
    pub(crate) current: Option<StepRecord>,
    /// Which step outputs were computed from secrets.
    pub(crate) tainted: Tainted,
    /// Set by an `approve` step that parks the run: when to look at it again at the latest.
    pub(crate) parked_until: Option<String>,
}

/// What a run knows of which step outputs are secret. A step's outputs are recorded and shown
/// with those parts `[REDACTED]` as a whole (`state.steps` holds them so); later steps read the
/// real values, kept here.
#[derive(Debug, Default)]
pub(crate) struct Tainted {
    /// By step id, then output name: the parts computed from a secret or holding one.
    pub(crate) steps: Taint,
    /// By step id: the real values of the outputs shown redacted.
    pub(crate) hidden: HashMap<String, Map<String, Value>>,
    /// What the `set` step being run computed from secrets, taken when it finishes.
    pub(crate) pending: Taint,
}

impl RunState<'_> {
    /// The names templates see. Secrets, secret inputs (when given) and the step outputs
    /// computed from them are marked, so that a render reading one gives a secret value.
    pub(crate) fn context(&self) -> TemplateContext {
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

    pub(crate) fn run_id(&self) -> &str {
        &self.request.run_id
    }
}

impl<'a> RunState<'a> {
    /// A run's state when it starts (or resumes from `record`): its secrets registered with
    /// the redactor, nothing run yet.
    pub(crate) fn new(
        request: &'a RunRequest,
        record: Option<&RunRecord>,
        started_at: &str,
    ) -> Self {
        let redactor = request.redactor.clone();
        for (name, declaration) in &request.playbook.inputs {
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
        let mut state = RunState {
            request,
            redactor,
            steps: Map::new(),
            run_names: json!({
                "id": request.run_id,
                "playbook": request.playbook.name,
                "started_at": started_at,
            }),
            secrets: Value::Object(secrets),
            issued: HashMap::new(),
            issued_order: Vec::new(),
            packages: HashMap::new(),
            pending: Mutex::new(Vec::new()),
            prior_steps: HashMap::new(),
            prior_intents: HashMap::new(),
            prior_progress: HashMap::new(),
            current: None,
            tainted: Tainted::default(),
            parked_until: None,
        };
        if let Some(record) = record {
            for step in &record.steps {
                state.prior_steps.insert(step.step_id.clone(), step.clone());
            }
            for (step_id, progress) in &record.progress {
                state
                    .prior_progress
                    .insert(step_id.clone(), progress.clone());
            }
            for intent in &record.intents {
                state
                    .prior_intents
                    .insert(intent.step_id.clone(), intent.clone());
            }
        }
        state
    }
}

impl Engine {
    pub(crate) fn emit(&self, state: &RunState<'_>, event: Event) {
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
    pub(crate) async fn flush(&self, state: &RunState<'_>) -> Result<(), StepError> {
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
}

//! The state of one run in progress ([`RunState`]: what its steps returned, which of it is
//! secret, what it issued) and its events: emitted redacted, and written to the store at every
//! step boundary and poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use super::{Engine, RunRequest};
use crate::events::Event;
use crate::platform::PackageOutcome;
use crate::redact::{REDACTED, Redactor, mask};
use crate::run::error::{StepError, store_error};
use crate::store::{Intent, RunRecord, StepRecord};
use crate::template::{ConvertedInputs, Taint, TemplateContext};

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
    /// The inputs, converted for templates once (secret ones, when given, marked).
    pub(crate) inputs: ConvertedInputs,
    pub(crate) steps: Map<String, Value>,
    pub(crate) run_names: Value,
    pub(crate) secrets: Value,
    pub(crate) issued: HashMap<u64, IssuedAction>,
    pub(crate) issued_order: Vec<u64>,
    /// Packages resolved by this run's parameterize steps, by id.
    pub(crate) packages: HashMap<u64, PackageOutcome>,
    /// Events not yet written to the store (written at every step boundary and poll).
    pub(crate) pending: Mutex<Vec<Event>>,
    /// What the store knew of each step when this run was resumed, by record id (see
    /// [`RunState::record_id`]).
    pub(crate) prior_steps: Arc<HashMap<String, StepRecord>>,
    /// Intents recorded before a resume, by record id.
    pub(crate) prior_intents: Arc<HashMap<String, Intent>>,
    /// What running steps saved of their progress before a resume, by record id.
    pub(crate) prior_progress: Arc<HashMap<String, Value>>,
    /// The step being run: its record, for the store.
    pub(crate) current: Option<StepRecord>,
    /// Which step outputs were computed from secrets.
    pub(crate) tainted: Tainted,
    /// Set by an `approve` step that parks the run: when to look at it again at the latest.
    pub(crate) parked_until: Option<String>,
    /// In one item of a `for_each`: which.
    pub(crate) item: Option<ItemScope>,
    /// Names the loop gives its steps' templates (the item, `loop`), and which of them are
    /// secret.
    pub(crate) locals: Map<String, Value>,
    pub(crate) locals_taint: Taint,
    /// The run was cancelled and its `finally` steps run: they are not refused for it.
    pub(crate) after_cancel: bool,
}

/// One item of a `for_each`: the loop's id, the item's 0-based index, and the loop's
/// position in the playbook (where the item's steps are recorded, ordered by their start).
#[derive(Debug, Clone)]
pub(crate) struct ItemScope {
    pub(crate) loop_id: String,
    pub(crate) index: usize,
    pub(crate) position: usize,
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

impl<'a> RunState<'a> {
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
        let mut taint = Taint::clean();
        taint.set_part("steps", self.tainted.steps.clone());
        taint.set_part("secrets", Taint::whole());
        let mut names = Map::from_iter([
            ("steps".to_owned(), Value::Object(steps)),
            ("run".to_owned(), self.run_names.clone()),
            ("secrets".to_owned(), self.secrets.clone()),
        ]);
        for (name, value) in &self.locals {
            names.insert(name.clone(), value.clone());
            taint.set_part(name, self.locals_taint.part(name).clone());
        }
        TemplateContext::with_inputs(&Value::Object(names), &taint, &self.inputs)
    }

    /// The names as messages and plans may show them: every secret, secret input and value
    /// computed from one is `[REDACTED]`, so that a render against them can be shown as it is
    /// (`https://hooks.slack.com/services/[REDACTED]`).
    pub(crate) fn shown_context(&self) -> TemplateContext {
        let secrets = match &self.secrets {
            Value::Object(map) => Value::Object(
                map.keys()
                    .map(|name| (name.clone(), Value::String(REDACTED.to_owned())))
                    .collect(),
            ),
            _ => Value::Object(Map::new()),
        };
        let inputs: Map<String, Value> = self
            .request
            .inputs
            .iter()
            .map(|(name, value)| {
                let secret = self
                    .request
                    .playbook
                    .inputs
                    .get(name)
                    .is_some_and(|declaration| declaration.secret);
                let shown = if secret && !value.is_null() {
                    Value::String(REDACTED.to_owned())
                } else {
                    value.clone()
                };
                (name.clone(), shown)
            })
            .collect();
        let mut names = Map::from_iter([
            ("inputs".to_owned(), Value::Object(inputs)),
            // Recorded outputs already show what was computed from a secret as `[REDACTED]`.
            ("steps".to_owned(), Value::Object(self.steps.clone())),
            ("run".to_owned(), self.run_names.clone()),
            ("secrets".to_owned(), secrets),
        ]);
        for (name, value) in &self.locals {
            names.insert(name.clone(), mask(value, self.locals_taint.part(name)));
        }
        TemplateContext::new(&Value::Object(names))
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.request.run_id
    }

    /// The id a step is recorded, reported and gated under: its own id, or inside a loop's
    /// item `<loop>[<index>].<step>`.
    pub(crate) fn record_id(&self, step_id: &str) -> String {
        match &self.item {
            Some(item) => format!("{}[{}].{step_id}", item.loop_id, item.index),
            None => step_id.to_owned(),
        }
    }

    /// What an action's unique name carries for a step: its id, or inside a loop's item
    /// `<step>#<index>`.
    pub(crate) fn action_key(&self, step_id: &str) -> String {
        match &self.item {
            Some(item) => format!("{step_id}#{}", item.index),
            None => step_id.to_owned(),
        }
    }

    /// The state one item of loop `loop_id` runs in: what the run knows so far, the item
    /// under `item_name` and `loop.index`, nothing of its own yet.
    pub(crate) fn for_item(
        &self,
        (loop_id, position): (&str, usize),
        index: usize,
        item_name: &str,
        item: Value,
        item_taint: Taint,
    ) -> RunState<'a> {
        let mut locals_taint = Taint::clean();
        locals_taint.set_part(item_name, item_taint);
        RunState {
            request: self.request,
            redactor: self.redactor.clone(),
            inputs: self.inputs.clone(),
            steps: self.steps.clone(),
            run_names: self.run_names.clone(),
            secrets: self.secrets.clone(),
            issued: self.issued.clone(),
            issued_order: Vec::new(),
            packages: self.packages.clone(),
            pending: Mutex::new(Vec::new()),
            prior_steps: Arc::clone(&self.prior_steps),
            prior_intents: Arc::clone(&self.prior_intents),
            prior_progress: Arc::clone(&self.prior_progress),
            current: None,
            tainted: Tainted {
                steps: self.tainted.steps.clone(),
                hidden: self.tainted.hidden.clone(),
                pending: Taint::clean(),
            },
            parked_until: None,
            item: Some(ItemScope {
                loop_id: loop_id.to_owned(),
                index,
                position,
            }),
            locals: Map::from_iter([
                (item_name.to_owned(), item),
                ("loop".to_owned(), json!({ "index": index })),
            ]),
            locals_taint,
            after_cancel: self.after_cancel,
        }
    }

    /// What an item's state learnt that the run needs: the actions it issued, the packages
    /// it resolved, and when to look at a parked run again. The rest of the item's state is
    /// dropped with it.
    pub(crate) fn takeaway(self) -> ItemTakeaway {
        let issued = self
            .issued_order
            .iter()
            .filter_map(|id| self.issued.get(id).map(|action| (*id, *action)))
            .collect();
        ItemTakeaway {
            issued,
            issued_order: self.issued_order,
            packages: self.packages,
            parked_until: self.parked_until,
        }
    }

    /// Takes back what an item learnt (see [`RunState::takeaway`]).
    pub(crate) fn absorb(&mut self, item: ItemTakeaway) {
        self.issued.extend(item.issued);
        self.issued_order.extend(item.issued_order);
        for (id, package) in item.packages {
            self.packages.entry(id).or_insert(package);
        }
        if let Some(until) = item.parked_until {
            let sooner = self
                .parked_until
                .as_ref()
                .is_none_or(|current| until < *current);
            if sooner {
                self.parked_until = Some(until);
            }
        }
    }
}

/// What the run keeps of a finished item's state.
pub(crate) struct ItemTakeaway {
    issued: HashMap<u64, IssuedAction>,
    issued_order: Vec<u64>,
    packages: HashMap<u64, PackageOutcome>,
    parked_until: Option<String>,
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
        let inputs = ConvertedInputs::new(request.inputs.iter().map(|(name, value)| {
            let secret = request
                .playbook
                .inputs
                .get(name)
                .is_some_and(|declaration| declaration.secret)
                && !value.is_null();
            (name, value, secret)
        }));
        let mut state = RunState {
            request,
            redactor,
            inputs,
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
            prior_steps: Arc::new(HashMap::new()),
            prior_intents: Arc::new(HashMap::new()),
            prior_progress: Arc::new(HashMap::new()),
            current: None,
            tainted: Tainted::default(),
            parked_until: None,
            item: None,
            locals: Map::new(),
            locals_taint: Taint::clean(),
            after_cancel: false,
        };
        if let Some(record) = record {
            state.prior_steps = Arc::new(
                record
                    .steps
                    .iter()
                    .map(|step| (step.step_id.clone(), step.clone()))
                    .collect(),
            );
            state.prior_intents = Arc::new(
                record
                    .intents
                    .iter()
                    .map(|intent| (intent.step_id.clone(), intent.clone()))
                    .collect(),
            );
            state.prior_progress = Arc::new(
                record
                    .progress
                    .iter()
                    .map(|(step_id, progress)| (step_id.clone(), progress.clone()))
                    .collect(),
            );
        }
        state
    }
}

/// An event's tag and a run's status are words of the format, never data: when a whole
/// structure computed from a secret made one of them a registered secret too (`succeeded`, in
/// the results of a loop over secret items), they are kept, so that the event still reads.
fn keep_structure(original: &Value, mut redacted: Value) -> Value {
    if let (Value::Object(original), Value::Object(redacted)) = (original, &mut redacted) {
        for key in ["event", "status"] {
            let word = original.get(key).filter(|_| {
                key == "event" || original.get("event") == Some(&json!("run_finished"))
            });
            if let Some(word) = word {
                redacted.insert(key.to_owned(), word.clone());
            }
        }
    }
    redacted
}

impl Engine {
    pub(crate) fn emit(&self, state: &RunState<'_>, event: Event) {
        let redactor = &state.redactor;
        let mut event = event;
        if let (Some(item), Some(step_id)) = (&state.item, event.step_id_mut()) {
            *step_id = format!("{}[{}].{step_id}", item.loop_id, item.index);
        }
        let event = if redactor.is_empty() {
            event
        } else {
            // Every text an event carries goes through the redactor: round-trip through JSON
            // so that no field can be forgotten.
            let redacted = serde_json::to_value(&event)
                .map(|value| keep_structure(&value, redactor.redact_json(&value)))
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

//! The wrapper around every step: its `when`, `retry` and `timeout`, the dispatch to its
//! kind's module, rendering its templates (values computed from secrets become secrets), and
//! sealing its outputs (the parts computed from secrets recorded and shown `[REDACTED]`).

use runbook_playbook::{Step, StepKind, TemplateValue};
use serde_json::{Map, Value, json};

use super::Engine;
use super::error::StepError;
use super::state::RunState;
use crate::events::Event;
use crate::redact::{mask, revealing};
use crate::steps;
use crate::template::{Rendered, TemplateContext, condition_holds};
use crate::values::humanize;

/// What a finished step leaves behind.
pub(crate) struct StepDone {
    pub(crate) outputs: Map<String, Value>,
    pub(crate) summary: String,
}

impl Engine {
    /// The playbook's outputs; a value computed from a secret is `[REDACTED]` as a whole,
    /// whatever its type (a secret `integer` input passed on stays hidden too).
    pub(crate) fn render_outputs(&self, state: &RunState<'_>) -> Result<Value, StepError> {
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
    pub(crate) fn render(
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
    pub(crate) fn render_tracked(
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
    pub(crate) fn holds(
        &self,
        template: &TemplateValue,
        context: &TemplateContext,
    ) -> Result<bool, StepError> {
        let rendered = self.eval(template, context)?;
        Ok(condition_holds(&template.value, &rendered.value))
    }

    pub(crate) fn eval(
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
    pub(crate) fn seal(
        &self,
        state: &mut RunState<'_>,
        step: &Step,
        mut done: StepDone,
    ) -> StepDone {
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
    pub(crate) async fn run_step(
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

        // A step that sends a side effect is never retried: a second attempt could send it
        // twice. An `http` request is, when its author asks (with its Idempotency-Key).
        let attempts = match &step.retry {
            Some(_) if steps::sends(&step.kind) && !steps::retried_when_asked(&step.kind) => {
                self.emit(
                    state,
                    Event::Warning {
                        step_id: Some(step.id.clone()),
                        message: format!(
                            "`retry` is ignored on a `{kind}` step: a step that sends is never sent twice"
                        ),
                    },
                );
                1
            }
            // `attempts` counts the re-runs after the first failure.
            Some(retry) => retry.attempts.saturating_add(1),
            None => 1,
        };
        let mut attempt = 1;
        loop {
            // A step that sends is not cut off by a timeout: that could drop the answer to a
            // POST /actions that did create the action.
            let limit = step.timeout.filter(|_| !steps::sends(&step.kind));
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

    /// Runs the step's kind: one line per kind, each in its module under `steps/`.
    async fn execute(&self, state: &mut RunState<'_>, step: &Step) -> Result<StepDone, StepError> {
        match &step.kind {
            StepKind::Target(target) => steps::target::run(self, state, step, target).await,
            StepKind::Parameterize(parameterize) => {
                steps::parameterize::run(self, state, parameterize).await
            }
            StepKind::Issue(issue) => steps::issue::run(self, state, step, issue).await,
            StepKind::AwaitApproval(wait) => steps::approval::run(self, state, step, wait).await,
            StepKind::Poll(poll) => steps::poll::run(self, state, step, poll).await,
            StepKind::Question(question) => steps::question::run(self, state, step, question).await,
            StepKind::StopAction(stop) => steps::stop_action::run(self, state, stop).await,
            StepKind::Approve(approve) => steps::approve::run(self, state, step, approve).await,
            StepKind::Assert(assertion) => steps::assert::run(self, state, assertion),
            StepKind::Log(message) => steps::log::run(self, state, step, message),
            StepKind::Set(values) => steps::set::run(self, state, values),
            StepKind::ForEach(each) => steps::for_each::run(self, state, step, each).await,
            StepKind::Http(http) => steps::http::run(self, state, step, http).await,
        }
    }
}

//! The step kinds, one module each, holding the kind's run side (`run`: rendered against the
//! run so far, executed against the platform) and its plan side (`plan`: rendered offline,
//! with the requests a run would send) side by side.
//!
//! Adding a kind means adding a module here, one dispatch line in `run/step.rs` (`execute`)
//! and one in `plan.rs` (`plan_step`), and answering the questions below about it
//! ([`replayable`], [`wait`], [`sends`]): their matches name every kind, so the compiler asks.
//! This module also holds the helpers the kinds share.

pub(crate) mod approval;
pub(crate) mod approve;
pub(crate) mod assert;
pub(crate) mod clauses;
pub(crate) mod for_each;
pub(crate) mod http;
pub(crate) mod issue;
pub(crate) mod log;
pub(crate) mod parameterize;
pub(crate) mod poll;
pub(crate) mod question;
pub(crate) mod set;
pub(crate) mod stop_action;
pub(crate) mod target;

use std::time::Duration;

use runbook_playbook::{Step, StepKind, TemplateValue};
use serde_json::{Map, Value};

pub use self::issue::unique_action_name;
pub use self::stop_action::{StoppedAction, stop_action};
use crate::platform::{ActionInfo, PlatformErrorKind};
use crate::redact::REDACTED;
use crate::run::{Engine, RunState, StepError};
use crate::template::{Taint, TemplateContext};
use crate::values::as_u64;

/// Whether a finished step of this kind may run again, unrecorded, on resume when its
/// recorded outputs hold redacted secrets (worthless as data): only kinds that read (a
/// question asks again), or create a harmless group, may.
pub(crate) fn replayable(kind: &StepKind) -> bool {
    match kind {
        StepKind::Target(_)
        | StepKind::Parameterize(_)
        | StepKind::Question(_)
        | StepKind::Set(_)
        | StepKind::Log(_)
        | StepKind::Assert(_) => true,
        // A GET reads; any other request changes something at its receiver.
        StepKind::Http(http) => !http.method.changes_state(),
        StepKind::Issue(_)
        | StepKind::AwaitApproval(_)
        | StepKind::Approve(_)
        | StepKind::Poll(_)
        | StepKind::StopAction(_)
        | StepKind::ForEach(_) => false,
    }
}

/// The wait of a step of this kind, whose deadline is recorded when the step first starts
/// and kept across resumes.
pub(crate) fn wait(kind: &StepKind) -> Option<Duration> {
    match kind {
        StepKind::AwaitApproval(wait) => Some(wait.timeout),
        StepKind::Approve(approve) => Some(approve.timeout),
        StepKind::Poll(poll) => Some(poll.timeout),
        StepKind::Question(question) => Some(question.timeout),
        StepKind::Target(_)
        | StepKind::Parameterize(_)
        | StepKind::Issue(_)
        | StepKind::StopAction(_)
        | StepKind::Assert(_)
        | StepKind::Log(_)
        | StepKind::Set(_)
        | StepKind::ForEach(_)
        | StepKind::Http(_) => None,
    }
}

/// Whether a step of this kind sends a side effect: it is never retried (a second attempt
/// could send it twice) nor cut off by its timeout (that could drop the answer to a request
/// that did its work). A stop is harmless to repeat, but is sent once all the same.
pub(crate) fn sends(kind: &StepKind) -> bool {
    match kind {
        StepKind::Issue(_) | StepKind::StopAction(_) => true,
        StepKind::Http(http) => http.method.changes_state(),
        // A loop is as much a sender as its steps: retrying it could send an item twice.
        StepKind::ForEach(each) => each.steps.iter().any(|step| sends(&step.kind)),
        StepKind::Target(_)
        | StepKind::Parameterize(_)
        | StepKind::AwaitApproval(_)
        | StepKind::Approve(_)
        | StepKind::Poll(_)
        | StepKind::Question(_)
        | StepKind::Assert(_)
        | StepKind::Log(_)
        | StepKind::Set(_) => false,
    }
}

/// Whether a step of this kind that sends is still retried when its author writes `retry`:
/// only an `http` request, which then carries the same `Idempotency-Key` each time so that
/// its receiver can drop the repeats. An action is never issued twice.
pub(crate) fn retried_when_asked(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Http(_))
}

/// A platform error's kind, in words (for messages that must not quote the platform's).
pub(crate) fn platform_error_kind(kind: PlatformErrorKind) -> &'static str {
    match kind {
        PlatformErrorKind::NotFound => "not found",
        PlatformErrorKind::Invalid => "refused as invalid",
        PlatformErrorKind::Refused => "permission refused",
        PlatformErrorKind::Ambiguous => "no clear answer",
        PlatformErrorKind::Unavailable => "server unavailable",
        PlatformErrorKind::Other => "failed",
    }
}

/// The action id a step's `action` renders to.
pub(crate) fn action_id(
    engine: &Engine,
    state: &RunState<'_>,
    template: &TemplateValue,
    context: &TemplateContext,
) -> Result<u64, StepError> {
    as_u64(&engine.render(state, template, context)?)
        .ok_or_else(|| StepError::new("`action` must be an action id (a whole number)"))
}

/// What became of an action that will not make progress: `stopped`, or its status.
pub(crate) fn dead_word(action: &ActionInfo) -> String {
    if action.stopped {
        "stopped".to_owned()
    } else {
        action.status.to_lowercase()
    }
}

/// A value as a plan's detail line shows it: `[REDACTED]` when it was computed from a secret
/// (a short one would otherwise only be hidden where it is the whole text).
pub(crate) fn shown(text: &str, taint: &Taint) -> String {
    if taint.is_clean() {
        text.to_owned()
    } else {
        REDACTED.to_owned()
    }
}

/// In a plan, `<steps.ID.OUTPUT>` for every output of a step's kind: values only the server
/// can tell.
pub(crate) fn placeholders(step: &Step) -> Value {
    let mut outputs = Map::new();
    outputs.insert("skipped".to_owned(), Value::Bool(false));
    for name in step.kind.output_names() {
        outputs.insert(
            (*name).to_owned(),
            Value::String(format!("<steps.{}.{}>", step.id, name)),
        );
    }
    Value::Object(outputs)
}

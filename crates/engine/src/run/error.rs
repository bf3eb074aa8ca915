//! Why a step stopped: [`StepError`] and what happened ([`StepErrorKind`]), and the errors
//! of the store and of a lost claim as a step sees them.

use crate::platform::PlatformError;
use crate::store::StoreError;

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
    /// What a failed step still has to say (a rollout that aborted: its waves so far);
    /// recorded as its outputs, with `failed` and `error`.
    pub outputs: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl StepError {
    /// The step failed.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Failed,
            outputs: None,
        }
    }

    /// The step stopped at a checkpoint because the engine is shutting down.
    pub(crate) fn interrupted() -> Self {
        StepError {
            message: "interrupted at a checkpoint: the engine is shutting down".to_owned(),
            kind: StepErrorKind::Interrupted,
            outputs: None,
        }
    }

    /// The run waits for people and stops here (parked), to be woken by a decision or its
    /// deadline: an interruption, not a failure.
    pub(crate) fn parked(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Interrupted,
            outputs: None,
        }
    }

    /// This process lost its claim on the run: it stops where it is (an interruption, with
    /// its own message) and writes nothing more.
    pub(crate) fn lost_claim(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Interrupted,
            outputs: None,
        }
    }

    /// The run was cancelled from outside.
    pub(crate) fn cancelled(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            kind: StepErrorKind::Cancelled,
            outputs: None,
        }
    }

    /// The same failure, with the outputs the step leaves.
    pub(crate) fn with_outputs(
        mut self,
        outputs: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.outputs = Some(Box::new(outputs));
        self
    }

    pub fn is_interrupted(&self) -> bool {
        self.kind == StepErrorKind::Interrupted
    }

    pub fn is_cancelled(&self) -> bool {
        self.kind == StepErrorKind::Cancelled
    }
}

impl From<PlatformError> for StepError {
    fn from(error: PlatformError) -> Self {
        StepError::new(error.message)
    }
}

/// A store error as a step sees it: a lost claim stops the run where it is (an interruption,
/// not a failure); any other is a failure.
pub(crate) fn store_error(error: StoreError) -> StepError {
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

/// The lease of this process ran out and another process took the run over.
pub(crate) fn lost_claim_error() -> StepError {
    StepError::lost_claim(
        "this process lost its claim on the run (another process took it over) and stopped without writing anything more",
    )
}

//! The `Store` trait: where a run is recorded so that it survives a crash.
//!
//! The engine writes through this trait at every step boundary; `runbook-store` implements it
//! on SQLite and PostgreSQL. What the engine hands over has already been redacted: no secret
//! value reaches a store.
//!
//! Exactly-once actions rest on two records: an *intent* written before `POST /actions` is
//! sent (the action's unique name), and the intent's *result* written as soon as the answer
//! arrives. A resumed run that finds an intent without a result looks the action up by name
//! before it would issue again.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::{Event, RunStatus};
use crate::lease::Lease;

/// A failure of the store itself (disk full, database gone, corrupt file, newer schema), or
/// a write refused because this process no longer holds the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run store: {message}")]
pub struct StoreError {
    pub message: String,
    pub kind: StoreErrorKind,
}

/// What kind of store failure it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The database failed or refused.
    Failed,
    /// The write was fenced off: another process claimed the run (or it was released), so
    /// this one must stop driving it and write nothing more.
    LostClaim,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            kind: StoreErrorKind::Failed,
        }
    }

    /// This process lost its claim on the run.
    pub fn lost_claim(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            kind: StoreErrorKind::LostClaim,
        }
    }

    pub fn is_lost_claim(&self) -> bool {
        self.kind == StoreErrorKind::LostClaim
    }
}

/// A run as it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// UUIDv7, as text.
    pub run_id: String,
    pub playbook_name: String,
    /// The playbook's YAML, so that a resume runs exactly what was started.
    pub playbook_source: String,
    /// SHA-256 of the source, hex.
    pub playbook_hash: String,
    /// Where the playbook was read from (for people).
    pub playbook_path: Option<String>,
    /// Inputs with secret inputs replaced by `[REDACTED]`.
    pub inputs: Value,
    /// Who or what started the run (`cli:<user>`, `schedule:<name>`, ...).
    pub started_by: String,
    /// The process that drives the run from its start (its claim, epoch 1), if any.
    pub claimed_by: Option<String>,
}

/// How a step ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(StepStatus::Running),
            "succeeded" => Some(StepStatus::Succeeded),
            "failed" => Some(StepStatus::Failed),
            "skipped" => Some(StepStatus::Skipped),
            _ => None,
        }
    }
}

/// A step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step_index: u32,
    pub step_id: String,
    pub kind: String,
    pub status: StepStatus,
    pub attempts: u32,
    /// Outputs (redacted), once the step finished.
    pub outputs: Option<Value>,
    /// What was sent, for people (e.g. the question text, the action name).
    pub request_summary: Option<String>,
    pub error: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Playbook-clock deadline of a wait (`await_approval`, `poll`), so that a resumed wait
    /// keeps its original deadline. RFC 3339.
    pub deadline: Option<String>,
}

/// An intent to issue an action, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub step_id: String,
    /// The action's unique name (author's name plus the run's marker).
    pub action_name: String,
    /// Set once the platform answered (or the action was found by name).
    pub action_id: Option<u64>,
    /// RFC 3339.
    pub recorded_at: String,
}

/// A run's status in the store. (The engine's [`RunStatus`] is how one drive of a run ended;
/// an interrupted drive leaves the record `running`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedStatus {
    /// Waiting for a worker.
    Queued,
    /// Being driven (or its process died: see its claim).
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RecordedStatus {
    /// Every status, in the store's order.
    pub const ALL: [RecordedStatus; 5] = [
        RecordedStatus::Queued,
        RecordedStatus::Running,
        RecordedStatus::Succeeded,
        RecordedStatus::Failed,
        RecordedStatus::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RecordedStatus::Queued => "queued",
            RecordedStatus::Running => "running",
            RecordedStatus::Succeeded => "succeeded",
            RecordedStatus::Failed => "failed",
            RecordedStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the run has ended for good.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RecordedStatus::Succeeded | RecordedStatus::Failed | RecordedStatus::Cancelled
        )
    }
}

impl std::fmt::Display for RecordedStatus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that widths in tables (`{:<10}`) apply.
        formatter.pad(self.as_str())
    }
}

impl std::str::FromStr for RecordedStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RecordedStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = RecordedStatus::ALL
                .iter()
                .map(|status| status.as_str())
                .collect();
            format!(
                "unknown run status `{text}`; expected one of {}",
                known.join(", ")
            )
        })
    }
}

impl PartialEq<&str> for RecordedStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A whole run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub playbook_name: String,
    pub playbook_source: String,
    pub playbook_hash: String,
    pub playbook_path: Option<String>,
    pub inputs: Value,
    pub started_by: String,
    pub status: RecordedStatus,
    pub outputs: Option<Value>,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub steps: Vec<StepRecord>,
    pub intents: Vec<Intent>,
    /// What running steps saved of their progress ([`Store::save_progress`]), by step id.
    #[serde(default)]
    pub progress: std::collections::BTreeMap<String, Value>,
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub status: Option<RecordedStatus>,
    pub playbook: Option<String>,
    pub limit: Option<u32>,
}

/// One line of `runbook runs list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub playbook_name: String,
    pub status: RecordedStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// A gate an `approve` step opens in the store: what is decided, by whom, until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalGate {
    pub run_id: String,
    pub step_id: String,
    /// The step's rendered summary (redacted).
    pub summary: String,
    /// What will be done once approved: the plan of the next side-effecting step (redacted).
    pub detail: Value,
    /// Token or role names that may decide; empty: any approver.
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub required: u32,
    /// Who started the run: never allowed to decide it.
    pub requested_by: String,
    /// When the gate stops taking decisions (RFC 3339, UTC): the step's deadline.
    pub expires_at: String,
}

/// One decision on a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    pub decided_by: String,
    pub approve: bool,
    pub comment: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
}

/// Where a gate stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateState {
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// The decisions so far, oldest first.
    pub decisions: Vec<GateDecision>,
}

/// Where runs are kept.
///
/// A store handed to the engine for one claimed run is *fenced*: every write is conditional
/// on the claim (holder and epoch) it was given, and fails with [`StoreErrorKind::LostClaim`]
/// once another process holds the run. A plain store (tests, tools) writes unconditionally.
#[async_trait]
pub trait Store: Send + Sync {
    /// The lease this store's writes are fenced by, if any.
    fn lease(&self) -> Option<&Lease> {
        None
    }

    /// Called right before a side effect leaves (a `POST /actions`): confirms that this
    /// process still holds the run and that its lease has time left, renewing it with a
    /// fenced write when it runs short (after a pause, say). A store without claims says yes.
    async fn may_send(&self, run_id: &str) -> Result<(), StoreError> {
        let _ = run_id;
        Ok(())
    }

    /// After a takeover from a holder that may still be alive: the instant before which
    /// this process must not act on an intent the previous holder left unresolved (that
    /// holder's request may still be in flight). `None` when there is nothing to wait for.
    fn hold_off_until(&self) -> Option<tokio::time::Instant> {
        None
    }

    /// Records a new run (status `running`).
    async fn create_run(&self, run: &NewRun) -> Result<(), StoreError>;

    /// Records that a step started (or started again on resume: `attempts` grows).
    async fn step_started(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError>;

    /// Records how a step ended, with its (redacted) outputs.
    async fn step_finished(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError>;

    /// Writes the intent to issue an action; must be durable before the request is sent.
    async fn record_intent(
        &self,
        run_id: &str,
        step_id: &str,
        action_name: &str,
    ) -> Result<(), StoreError>;

    /// Records the action an intent produced.
    async fn intent_resolved(
        &self,
        run_id: &str,
        step_id: &str,
        action_id: u64,
    ) -> Result<(), StoreError>;

    /// Saves what a running step must find again on resume (a rollout's listing and how far
    /// each wave came), replacing what it saved before; durable before the step goes on. A
    /// store that keeps no progress refuses.
    async fn save_progress(
        &self,
        run_id: &str,
        step_id: &str,
        progress: &Value,
    ) -> Result<(), StoreError> {
        let _ = (run_id, step_id, progress);
        Err(StoreError::new("this run store keeps no step progress"))
    }

    /// Appends an event to the run's history.
    async fn append_event(&self, run_id: &str, event: &Event) -> Result<(), StoreError>;

    /// Finishes the run.
    async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        outputs: &Value,
        error: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The whole record of one run, if it exists.
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Only the status of one run, if it exists: what the engine reads before every step to
    /// notice a cancel (a loop's run holds thousands of step records; reading them all each
    /// time would make a run quadratic).
    async fn run_status(&self, run_id: &str) -> Result<Option<RecordedStatus>, StoreError> {
        Ok(self.run(run_id).await?.map(|run| run.status))
    }

    /// Runs, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError>;

    /// Opens an `approve` step's gate; a gate already open for the run and step is kept as it
    /// is (a resumed step finds its decisions). A store without gates refuses.
    async fn open_gate(&self, gate: &ApprovalGate) -> Result<(), StoreError> {
        let _ = gate;
        Err(StoreError::new("this run store keeps no approvals"))
    }

    /// Where a gate stands, if it was opened.
    async fn gate(&self, run_id: &str, step_id: &str) -> Result<Option<GateState>, StoreError> {
        let _ = (run_id, step_id);
        Err(StoreError::new("this run store keeps no approvals"))
    }

    /// Marks a gate whose time ran out `expired` (no decision is taken after that).
    async fn expire_gate(&self, run_id: &str, step_id: &str) -> Result<(), StoreError> {
        let _ = (run_id, step_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_statuses_read_back_and_fill_table_columns() {
        for status in RecordedStatus::ALL {
            assert_eq!(RecordedStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.as_str().parse::<RecordedStatus>(), Ok(status));
        }
        assert_eq!(format!("[{:<10}]", RecordedStatus::Failed), "[failed    ]");
        let refused = "exploded".parse::<RecordedStatus>().expect_err("unknown");
        assert!(
            refused.contains("unknown run status `exploded`"),
            "{refused}"
        );
        assert!(RecordedStatus::Cancelled.is_final() && !RecordedStatus::Queued.is_final());
        assert_eq!(
            serde_json::to_string(&RecordedStatus::Running)
                .ok()
                .as_deref(),
            Some("\"running\"")
        );
    }
}

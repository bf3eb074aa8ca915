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

/// A failure of the store itself (disk full, database gone, corrupt file, newer schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run store: {message}")]
pub struct StoreError {
    pub message: String,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
        }
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
    /// `running`, `succeeded`, `failed`, `cancelled`, or `queued`.
    pub status: String,
    pub outputs: Option<Value>,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub steps: Vec<StepRecord>,
    pub intents: Vec<Intent>,
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub status: Option<String>,
    pub playbook: Option<String>,
    pub limit: Option<u32>,
}

/// One line of `runbook runs list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub playbook_name: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// Where runs are kept.
#[async_trait]
pub trait Store: Send + Sync {
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

    /// Runs, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError>;
}

//! The typed events a run emits. The CLI renders them as human lines, progress bars or JSON
//! lines; the store records them. Every text in an event has been through the run's redactor.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Cancelled,
    /// Stopped at a checkpoint because the process is shutting down; the run stays recorded
    /// as running, and a resume (or another worker) continues it.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        playbook: String,
        inputs: Value,
    },
    StepStarted {
        step_id: String,
        kind: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        name: Option<String>,
    },
    StepSkipped {
        step_id: String,
        kind: String,
        reason: String,
    },
    StepFinished {
        step_id: String,
        kind: String,
        /// One line saying what the step did, for people.
        summary: String,
        outputs: Value,
        elapsed_ms: u64,
    },
    StepFailed {
        step_id: String,
        kind: String,
        error: String,
        elapsed_ms: u64,
        /// True when `continue_on_error` lets the run go on.
        continued: bool,
    },
    /// On resume: a step that had finished before keeps its recorded outputs.
    StepRestored {
        step_id: String,
        kind: String,
        /// The recorded status (`succeeded`, `skipped`, `failed`).
        status: String,
    },
    StepRetrying {
        step_id: String,
        attempt: u32,
        error: String,
    },
    RequestSent {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        step_id: Option<String>,
        method: String,
        path: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        status: Option<u16>,
        elapsed_ms: u64,
    },
    ActionIssued {
        step_id: String,
        action_id: u64,
        name: String,
        targeted: u64,
        /// True when an existing action of this run was found by name and adopted.
        adopted: bool,
    },
    /// A staged rollout's wave was issued (or adopted, on resume): its action and endpoints.
    WaveStarted {
        step_id: String,
        /// 1-based.
        wave: u32,
        /// How many waves the rollout has.
        waves: u32,
        action_id: u64,
        /// Endpoints of this wave (not counting earlier waves).
        targeted: u64,
        /// True when an existing action of this run was found by name and adopted.
        adopted: bool,
    },
    /// A staged rollout's wave ended: done (its `until_percent` finished), or aborted (its
    /// failures, or the rollout's, beyond `max_failed_percent`, or its action ended first).
    WaveFinished {
        step_id: String,
        wave: u32,
        waves: u32,
        action_id: u64,
        targeted: u64,
        completed: u64,
        failed: u64,
        /// Completed or failed.
        finished: u64,
        aborted: bool,
    },
    ApprovalWaiting {
        step_id: String,
        action_id: u64,
        waited_seconds: u64,
        /// The step's `timeout`.
        timeout_seconds: u64,
        /// Time left before the wait's deadline (kept across resumes), on the playbook clock.
        /// Absent in events recorded before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_seconds: Option<u64>,
    },
    PollProgress {
        step_id: String,
        action_id: u64,
        percent: f64,
        finished_percent: f64,
        mr_tested: u64,
        estimated_total: u64,
        finished: u64,
        expected: u64,
        statuses: BTreeMap<String, u64>,
        /// The step's `until_percent`: the share of endpoints that must report and of the
        /// `expected` that must finish (100 in events recorded before it was added).
        #[serde(default = "all_endpoints")]
        until_percent: u8,
        /// Time left before the wait's deadline (kept across resumes), on the playbook clock.
        /// Absent in events recorded before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_seconds: Option<u64>,
    },
    /// A `question` step's wait: how many endpoints answered, of those the question reached.
    QuestionProgress {
        step_id: String,
        question_id: u64,
        /// The answered share (`mr_tested` over `estimated_total`), rounded to a tenth, capped
        /// at 100.
        percent: f64,
        mr_tested: u64,
        estimated_total: u64,
        /// The step's `until_percent`: the answered share it waits for.
        until_percent: u8,
        /// Time left before the wait's deadline (kept across resumes), on the playbook clock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_seconds: Option<u64>,
    },
    /// An `approve` step opened its gate: people decide with `runbook approve`, the API or
    /// the console.
    GateOpened {
        step_id: String,
        summary: String,
        /// Token or role names that may decide; empty: any approver.
        approvers: Vec<String>,
        required: u32,
        /// When the gate stops taking decisions (RFC 3339, UTC).
        expires_at: String,
        /// The digest of the reviewed plan the run was started from, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_digest: Option<String>,
    },
    /// A decision on an `approve` step's gate, as the run saw it.
    GateDecided {
        step_id: String,
        decided_by: String,
        /// `approve` or `deny`.
        decision: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// RFC 3339, UTC.
        at: String,
    },
    /// One item of a `for_each` ended (its steps' events carry `<loop>[<index>].<step>`).
    LoopItem {
        step_id: String,
        /// 0-based, in the order of `items`.
        index: usize,
        /// `succeeded`, `failed`, or `skipped` (not started: the loop had failed).
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Items ended so far, and how many there are.
        done: usize,
        total: usize,
    },
    Warning {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        step_id: Option<String>,
        message: String,
    },
    Log {
        step_id: String,
        message: String,
    },
    RunFinished {
        run_id: String,
        status: RunStatus,
        outputs: Value,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
        /// Actions this run issued; after a failure or Ctrl-C they keep running in Tanium.
        issued_actions: Vec<u64>,
        elapsed_ms: u64,
    },
}

fn all_endpoints() -> u8 {
    100
}

impl Event {
    /// The snake_case name of the event (`run_started`, ...), as in the JSON stream.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::StepStarted { .. } => "step_started",
            Event::StepSkipped { .. } => "step_skipped",
            Event::StepFinished { .. } => "step_finished",
            Event::StepFailed { .. } => "step_failed",
            Event::StepRestored { .. } => "step_restored",
            Event::StepRetrying { .. } => "step_retrying",
            Event::RequestSent { .. } => "request_sent",
            Event::ActionIssued { .. } => "action_issued",
            Event::WaveStarted { .. } => "wave_started",
            Event::WaveFinished { .. } => "wave_finished",
            Event::ApprovalWaiting { .. } => "approval_waiting",
            Event::PollProgress { .. } => "poll_progress",
            Event::QuestionProgress { .. } => "question_progress",
            Event::GateOpened { .. } => "gate_opened",
            Event::GateDecided { .. } => "gate_decided",
            Event::LoopItem { .. } => "loop_item",
            Event::Warning { .. } => "warning",
            Event::Log { .. } => "log",
            Event::RunFinished { .. } => "run_finished",
        }
    }

    /// The id of the step the event is about, when it names one: a step inside a loop's item
    /// is renamed `<loop>[<index>].<step>` through it.
    pub(crate) fn step_id_mut(&mut self) -> Option<&mut String> {
        match self {
            Event::StepStarted { step_id, .. }
            | Event::StepSkipped { step_id, .. }
            | Event::StepFinished { step_id, .. }
            | Event::StepFailed { step_id, .. }
            | Event::StepRestored { step_id, .. }
            | Event::StepRetrying { step_id, .. }
            | Event::ActionIssued { step_id, .. }
            | Event::ApprovalWaiting { step_id, .. }
            | Event::PollProgress { step_id, .. }
            | Event::QuestionProgress { step_id, .. }
            | Event::GateOpened { step_id, .. }
            | Event::GateDecided { step_id, .. }
            | Event::LoopItem { step_id, .. }
            | Event::WaveStarted { step_id, .. }
            | Event::WaveFinished { step_id, .. }
            | Event::Log { step_id, .. } => Some(step_id),
            Event::RequestSent { step_id, .. } | Event::Warning { step_id, .. } => step_id.as_mut(),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }
}

/// Where a run's events go.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: &Event) {}
}

/// Keeps every event in memory (tests, benchmarks).
#[derive(Debug, Default)]
pub struct CollectEvents {
    events: Mutex<Vec<Event>>,
}

impl CollectEvents {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .map(|events| events.clone())
            .unwrap_or_default()
    }
}

impl EventSink for CollectEvents {
    fn emit(&self, event: &Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialise_with_their_name() {
        let event = Event::RunFinished {
            run_id: "r".into(),
            status: RunStatus::Succeeded,
            outputs: json!({"a": 1}),
            error: None,
            issued_actions: vec![7],
            elapsed_ms: 3,
        };
        let text = serde_json::to_value(&event).unwrap();
        assert_eq!(text["event"], "run_finished");
        assert_eq!(text["status"], "succeeded");
        assert_eq!(event.name(), "run_finished");
    }

    #[test]
    fn waits_recorded_before_their_targets_and_deadlines_still_read() {
        let old = json!({"event": "poll_progress", "step_id": "results", "action_id": 1,
            "percent": 100.0, "finished_percent": 0.0, "mr_tested": 1, "estimated_total": 1,
            "finished": 0, "expected": 1, "statuses": {}});
        let Ok(Event::PollProgress {
            until_percent,
            left_seconds,
            ..
        }) = serde_json::from_value(old)
        else {
            panic!("an old poll_progress event reads");
        };
        assert_eq!((until_percent, left_seconds), (100, None));
        let old = json!({"event": "approval_waiting", "step_id": "approved", "action_id": 1,
            "waited_seconds": 30, "timeout_seconds": 60});
        let event: Event = serde_json::from_value(old).unwrap();
        assert!(matches!(
            event,
            Event::ApprovalWaiting {
                left_seconds: None,
                ..
            }
        ));
        // New fields are added, none renamed: the JSON stream stays readable by old consumers.
        let text = serde_json::to_value(&event).unwrap();
        assert!(text.get("left_seconds").is_none());
    }
}

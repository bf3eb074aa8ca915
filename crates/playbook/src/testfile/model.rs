//! The test file as read: its cases, each case's simulated world and expectations, where the
//! parts that the playbook checks name were written, and what loading returns.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::model::{Span, Spanned};
use crate::schedules::Mark;

/// A whole test file (`*.test.yaml`), as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// Format version; always 1 for now.
    pub version: u32,
    /// The playbook under test: its path as written, relative to the test file.
    pub playbook: Spanned<String>,
    /// The cases, in the order written; never empty.
    pub cases: Vec<TestCase>,
}

impl TestFile {
    /// The case with this name.
    pub fn case(&self, name: &str) -> Option<&TestCase> {
        self.cases.iter().find(|case| case.name == name)
    }
}

/// One case: inputs, the world the run meets, and what must be true at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Unique within the file; free text.
    pub name: String,
    /// Where the case's list item starts.
    pub span: Span,
    /// Input name to value, as `--inputs FILE` would give them.
    pub inputs: IndexMap<String, Value>,
    /// Values for the playbook's secrets in this case (never real ones: the file is committed).
    pub secrets: IndexMap<String, String>,
    /// The simulator's world; the default world when the case has no `sim`.
    pub sim: SimWorld,
    /// A recording (path relative to the test file) whose exchanges a replay server answers
    /// in order, instead of a simulator. Never together with `sim`.
    pub replay: Option<Spanned<String>>,
    /// What must be true when the run ends.
    pub expect: Expectations,
    /// Where the names that the playbook checks were written.
    pub marks: CaseMarks,
}

/// Where the parts of one case that [`check_against_playbook`](crate::check_against_playbook)
/// looks at were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseMarks {
    /// The `name` value.
    pub name: Mark,
    /// The `inputs` key, when there is one.
    pub inputs: Option<Mark>,
    /// Each input's key.
    pub input_keys: IndexMap<String, Mark>,
    /// Each input's value.
    pub input_values: IndexMap<String, Mark>,
    /// Each secret's key.
    pub secret_keys: IndexMap<String, Mark>,
    /// Each `expect.outputs` key.
    pub output_keys: IndexMap<String, Mark>,
    /// Each `expect.steps` key.
    pub step_keys: IndexMap<String, Mark>,
}

/// The simulator's world for one case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimWorld {
    /// Which endpoints exist.
    pub fleet: FleetChoice,
    /// Whether and how Tanium approves actions.
    pub approval: ApprovalChoice,
    /// Computer names of the endpoints whose action ends `Failed`.
    pub fail: Vec<String>,
    /// Share (0 to 1) of the other endpoints whose action ends `Failed`; the simulator's
    /// default when not given.
    pub failure_share: Option<f64>,
    /// Faults injected into the simulator's answers.
    pub faults: SimFaults,
    /// How much faster than the wall clock the simulator's time runs; the runner's fast
    /// clock when not given.
    pub time_scale: Option<f64>,
}

/// Which endpoints the simulator has.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FleetChoice {
    /// The simulator's default fleet.
    #[default]
    Default,
    /// These endpoints, each a mapping as the simulator's fleet files write them
    /// (`computer_name`, `operating_system`, `online`, `ip_address`, `custom_tags`, and
    /// sensor values such as `running_processes` or `logging_level`).
    Endpoints(Vec<Value>),
}

/// Whether actions need Tanium's approval, and how it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalChoice {
    /// Actions need no approval (the default).
    #[default]
    NotNeeded,
    /// Actions need approval, which comes after this long (simulated time).
    After(Duration),
    /// Actions need approval, which is denied.
    Deny,
}

/// The simulator's fault knobs; each left out is off.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimFaults {
    /// Share (0 to 1) of API requests answered 503.
    pub status_503_share: Option<f64>,
    /// Share (0 to 1) of API requests answered 429.
    pub status_429_share: Option<f64>,
    /// Share (0 to 1) of API requests whose connection is dropped.
    pub drop_share: Option<f64>,
    /// Latency added to every answer.
    pub latency: Option<Duration>,
}

/// What must be true when a case's run ends. Each part left out is not checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expectations {
    /// The run's end state.
    pub status: Option<ExpectedStatus>,
    /// Text the run's error must contain.
    pub error_contains: Option<String>,
    /// A subset of the run's outputs: each named output must equal the value given.
    pub outputs: IndexMap<String, Value>,
    /// Step id to the state the step must end in.
    pub steps: IndexMap<String, ExpectedStepState>,
    /// Requests counted on the simulator's log.
    pub requests: Vec<ExpectedRequest>,
}

/// The end state a case expects of its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedStatus {
    /// Every step passed.
    Succeeded,
    /// A step failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
}

impl ExpectedStatus {
    /// Every value, in the order the docs list them.
    pub const ALL: [ExpectedStatus; 3] = [
        ExpectedStatus::Succeeded,
        ExpectedStatus::Failed,
        ExpectedStatus::Cancelled,
    ];

    /// The word used in test files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedStatus::Succeeded => "succeeded",
            ExpectedStatus::Failed => "failed",
            ExpectedStatus::Cancelled => "cancelled",
        }
    }
}

/// The state a case expects one step to end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedStepState {
    /// The step ran and passed.
    Succeeded,
    /// The step ran and failed.
    Failed,
    /// The step did not run (its `when` was false, or the run ended before it).
    Skipped,
}

impl ExpectedStepState {
    /// Every value, in the order the docs list them.
    pub const ALL: [ExpectedStepState; 3] = [
        ExpectedStepState::Succeeded,
        ExpectedStepState::Failed,
        ExpectedStepState::Skipped,
    ];

    /// The word used in test files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedStepState::Succeeded => "succeeded",
            ExpectedStepState::Failed => "failed",
            ExpectedStepState::Skipped => "skipped",
        }
    }
}

/// The HTTP methods a request expectation may name.
pub const REQUEST_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Requests the simulator's log must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRequest {
    /// One of [`REQUEST_METHODS`].
    pub method: String,
    /// The request path, starting with `/` (no query string).
    pub path: String,
    /// Exactly this many requests; at least one when not given.
    pub count: Option<u64>,
    /// A subset of each counted request's JSON body: only requests whose body holds it count.
    pub body: Option<Value>,
    /// Where the expectation's list item starts.
    pub span: Span,
}

/// What [`load_test_file`](crate::load_test_file) could read, and every problem.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedTestFile {
    /// The file, when there is no error-severity diagnostic.
    pub file: Option<TestFile>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedTestFile {
    /// True when a diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

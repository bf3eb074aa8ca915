//! The typed playbook: what the engine executes. Every value a user wrote keeps its location so
//! that the engine can point at it when rendering fails at run time.

use std::time::Duration;

use indexmap::IndexMap;

/// A 1-based line and column (in characters) of a key or value in the playbook source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

impl Span {
    /// A span at `line`:`column` (both 1-based).
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// A value with the location it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value itself.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// A string, or any YAML value whose strings may hold MiniJinja templates. The engine renders
/// it; `value` keeps the YAML structure (strings, numbers, bools, lists, maps) as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateValue {
    /// The value as written, templates not rendered.
    pub value: serde_json::Value,
    /// Where it was written.
    pub span: Span,
}

impl TemplateValue {
    /// The value as a plain string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }

    /// True when some string inside the value holds template syntax (`{{`, `{%` or `{#`).
    pub fn has_template(&self) -> bool {
        fn walk(value: &serde_json::Value) -> bool {
            match value {
                serde_json::Value::String(text) => crate::templates::looks_like_template(text),
                serde_json::Value::Array(items) => items.iter().any(walk),
                serde_json::Value::Object(map) => map.values().any(walk),
                _ => false,
            }
        }
        walk(&self.value)
    }
}

/// A whole playbook, as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    /// Format version; always 1 for now.
    pub version: u32,
    /// Identifier-like name (`[a-z0-9][a-z0-9_-]*`).
    pub name: String,
    /// Free text for people.
    pub description: Option<String>,
    /// Declared inputs, in the order written.
    pub inputs: IndexMap<String, InputDecl>,
    /// Safety limits checked before any `issue` step.
    pub guard: Option<Guard>,
    /// Environment variable names readable as `secrets.<NAME>`.
    pub secrets: Vec<String>,
    /// Steps, run in order.
    pub steps: Vec<Step>,
    /// Steps run when the main steps failed (not when the run was cancelled), with
    /// `run.status`, `run.failed_step` and `run.error` in scope.
    pub on_failure: Vec<Step>,
    /// Steps run last, after success, failure or a cancel.
    pub finally: Vec<Step>,
    /// Outputs, rendered after the last step.
    pub outputs: IndexMap<String, TemplateValue>,
}

impl Playbook {
    /// The step with this id (a main step or a handler's).
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.all_steps().find(|step| step.id == id)
    }

    /// Every step: the main steps, then `on_failure`, then `finally`.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .chain(&self.on_failure)
            .chain(&self.finally)
    }
}

/// Safety limits checked before any `issue` step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Guard {
    /// Refuse to issue when the target matches more endpoints than this.
    pub max_endpoints: Option<u64>,
}

/// The declared type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputType {
    /// Any text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list of values.
    List,
}

impl InputType {
    /// Every type, in the order the docs list them.
    pub const ALL: [InputType; 5] = [
        InputType::String,
        InputType::Integer,
        InputType::Number,
        InputType::Boolean,
        InputType::List,
    ];

    /// The word used in playbooks (`string`, `integer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Number => "number",
            InputType::Boolean => "boolean",
            InputType::List => "list",
        }
    }

    /// Parses the word used in playbooks.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One entry of `inputs:`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    /// Declared type.
    pub input_type: InputType,
    /// Free text for people.
    pub description: Option<String>,
    /// Value used when the input is not given.
    pub default: Option<serde_json::Value>,
    /// Resolved: `required:` when written, else `true` unless a default is given.
    pub required: bool,
    /// `enum:` allowed values.
    pub allowed: Option<Vec<serde_json::Value>>,
    /// `pattern:` a regex a string value must match (anywhere, unless anchored).
    pub pattern: Option<String>,
    /// `minimum:` for numbers.
    pub minimum: Option<f64>,
    /// `maximum:` for numbers.
    pub maximum: Option<f64>,
    /// Never printed, logged or stored in clear.
    pub secret: bool,
    /// Where the input's name was written.
    pub span: Span,
}

/// One step of a playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique id (`[a-z_][a-z0-9_]*`).
    pub id: String,
    /// Label for people.
    pub name: Option<String>,
    /// Skips the step when this renders falsy.
    pub when: Option<TemplateValue>,
    /// Overall time limit for the step.
    pub timeout: Option<Duration>,
    /// Re-runs of a failed read-only step.
    pub retry: Option<Retry>,
    /// Keep going when the step fails.
    pub continue_on_error: bool,
    /// What the step does.
    pub kind: StepKind,
    /// Where the step's `id` was written (the step's first key when it has no id).
    pub span: Span,
}

/// `retry: { attempts, backoff }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Extra attempts after the first failure (1..=100).
    pub attempts: u32,
    /// Wait between attempts (default 5s).
    pub backoff: Duration,
}

/// Default backoff of `retry:` when none is written.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// The kind of a step: its one kind key.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `target:` which endpoints.
    Target(TargetStep),
    /// `parameterize:` which package, with which parameters.
    Parameterize(ParameterizeStep),
    /// `issue:` deploy the action.
    Issue(IssueStep),
    /// `await_approval:` wait until Tanium approves the action.
    AwaitApproval(AwaitApprovalStep),
    /// `poll:` wait for results.
    Poll(PollStep),
    /// `question:` ask the endpoints and wait for their answers.
    Question(QuestionStep),
    /// `stop_action:` stop an action (stopping one that already ended succeeds).
    StopAction(StopActionStep),
    /// `approve:` runbook's own gate: named people decide before the run goes on.
    Approve(ApproveStep),
    /// `assert:` fail the run when false.
    Assert(AssertStep),
    /// `log:` write a line to the run's log.
    Log(TemplateValue),
    /// `set:` named values, rendered.
    Set(IndexMap<String, TemplateValue>),
    /// `for_each:` nested steps run once per item of a list.
    ForEach(ForEachStep),
    /// `http:` one request to a server the operator allowed.
    Http(crate::http::HttpStep),
}

/// Every step kind key, in the order the docs list them.
pub const STEP_KINDS: [&str; 13] = [
    "target",
    "parameterize",
    "issue",
    "await_approval",
    "poll",
    "question",
    "stop_action",
    "approve",
    "assert",
    "log",
    "set",
    "for_each",
    "http",
];

impl StepKind {
    /// The kind key (`"target"`, `"issue"`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            StepKind::Target(_) => "target",
            StepKind::Parameterize(_) => "parameterize",
            StepKind::Issue(_) => "issue",
            StepKind::AwaitApproval(_) => "await_approval",
            StepKind::Poll(_) => "poll",
            StepKind::Question(_) => "question",
            StepKind::StopAction(_) => "stop_action",
            StepKind::Approve(_) => "approve",
            StepKind::Assert(_) => "assert",
            StepKind::Log(_) => "log",
            StepKind::Set(_) => "set",
            StepKind::ForEach(_) => "for_each",
            StepKind::Http(_) => "http",
        }
    }

    /// The outputs a step of this kind produces (besides `skipped`); an `issue` step with a
    /// `rollout` has more. A `set` step's outputs are its keys, so this is empty for `set`.
    pub fn output_names(&self) -> &'static [&'static str] {
        match self {
            StepKind::Issue(issue) if issue.rollout.is_some() => &ISSUE_ROLLOUT_OUTPUTS,
            _ => outputs_of_kind(self.kind_name()),
        }
    }
}

/// The outputs of an `issue` step with a `rollout`: those of `issue` (for the last wave's
/// action, the total for `targeted`), then the waves and totals.
pub const ISSUE_ROLLOUT_OUTPUTS: [&str; 13] = [
    "action_id",
    "saved_action_id",
    "name",
    "status",
    "package_name",
    "command",
    "targeted",
    "expires_at",
    "verify",
    "waves",
    "listed",
    "totals",
    "aborted",
];

/// The outputs of a step kind by its key; empty for unknown kinds and for `set`. The engine's
/// drift test checks them against the keys each kind writes.
pub fn outputs_of_kind(kind_name: &str) -> &'static [&'static str] {
    match kind_name {
        "target" => &["group", "group_id", "text"],
        "parameterize" => &[
            "package_spec",
            "package_id",
            "package_name",
            "parameters",
            "command",
        ],
        "issue" => &[
            "action_id",
            "saved_action_id",
            "name",
            "status",
            "package_name",
            "command",
            "targeted",
            "expires_at",
            "verify",
        ],
        "await_approval" => &["required", "approved", "approver", "waited"],
        "poll" => &[
            "percent",
            "finished_percent",
            "succeeded_percent",
            "mr_tested",
            "estimated_total",
            "reached",
            "statuses",
            "completed",
            "failed",
            "rows",
            "rows_truncated",
        ],
        "question" => &[
            "rows",
            "row_count",
            "rows_truncated",
            "columns",
            "percent",
            "mr_tested",
            "estimated_total",
            "question_id",
            "unavailable",
        ],
        "stop_action" => &["stopped", "status"],
        // Its `skipped` (which every step has) is the number of items not run, or `true` when
        // the loop's own `when` skipped it.
        "for_each" => &["results", "succeeded", "failed"],
        "approve" => &[
            "approved",
            "decided_by",
            "comments",
            "waited",
            "plan_digest",
        ],
        "http" => &["status", "headers", "json", "text"],
        _ => &[],
    }
}

/// `target:` one of clauses, a filter group or raw text.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetStep {
    /// `all:` or `any:` a list of clauses.
    Clauses {
        /// Whether every clause or one clause must hold.
        combine: Combine,
        /// The clauses, in order.
        clauses: Vec<Clause>,
    },
    /// `filter_group: NAME or ID`.
    FilterGroup(TemplateValue),
    /// `text:` raw targeting text, never a template.
    Text(Spanned<String>),
}

/// How target clauses combine. The one definition: the engine's `Platform` and the Tanium
/// adapter use this type too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// `all:` every clause must hold.
    All,
    /// `any:` one clause must hold.
    Any,
}

/// `{ sensor, op, value | values, when }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Sensor name, e.g. `Computer Name`.
    pub sensor: String,
    /// Comparison.
    pub op: Operator,
    /// What the sensor is compared with: one value, or any of a list.
    pub value: ClauseOperand,
    /// The clause is left out when this renders falsy.
    pub when: Option<TemplateValue>,
    /// Where the clause starts.
    pub span: Span,
}

/// What a clause compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum ClauseOperand {
    /// `value:` one value (may be a template).
    One(TemplateValue),
    /// `values:` any of a list: a list of values (each may be a template), or one template
    /// that gives a list. Only for the operators of [`Operator::takes_values`].
    AnyOf(TemplateValue),
}

/// The most values a `values:` clause may hold (checked when written, and at run time on what
/// a template gives).
pub const MAX_CLAUSE_VALUES: usize = 500;

/// Comparison operator of a target clause. The one definition: the engine's `Platform` and
/// the Tanium adapter use this type too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `equals`
    Equals,
    /// `not_equals`
    NotEquals,
    /// `contains`
    Contains,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `matches` (regular expression)
    Matches,
    /// `greater_than`
    GreaterThan,
    /// `less_than`
    LessThan,
}

impl Operator {
    /// Every operator.
    pub const ALL: [Operator; 8] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::Contains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Matches,
        Operator::GreaterThan,
        Operator::LessThan,
    ];

    /// The word used in playbooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Contains => "contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Matches => "matches",
            Operator::GreaterThan => "greater_than",
            Operator::LessThan => "less_than",
        }
    }

    /// Parses the word used in playbooks.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether a clause with this operator may compare with `values:` (any of a list; for
    /// `not_equals`, none of them). A regex or an order has one value.
    pub fn takes_values(self) -> bool {
        matches!(
            self,
            Operator::Equals
                | Operator::NotEquals
                | Operator::Contains
                | Operator::StartsWith
                | Operator::EndsWith
        )
    }
}

/// `parameterize:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterizeStep {
    /// `package:` (name) or `package_id:`.
    pub package: PackageRef,
    /// `params:` keyed by `$1`, `$2`, ... or by label, in the order written.
    pub params: IndexMap<String, TemplateValue>,
}

/// How a package is named.
#[derive(Debug, Clone, PartialEq)]
pub enum PackageRef {
    /// `package: NAME`.
    Name(TemplateValue),
    /// `package_id: ID`.
    Id(TemplateValue),
}

/// `issue:`.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueStep {
    /// Action name.
    pub name: TemplateValue,
    /// A `group` object or a group id.
    pub target: TemplateValue,
    /// A `package_spec` object.
    pub package: TemplateValue,
    /// Action group name or id.
    pub action_group: TemplateValue,
    /// Default 1h.
    pub expire: Duration,
    /// Default 0s.
    pub distribute: Duration,
    /// Optional `issue_seconds`.
    pub issue_seconds: Option<u64>,
    /// The fewest endpoints the target must match for the action to be issued. Default 1;
    /// `0` allows an empty action.
    pub min_endpoints: u64,
    /// The action's start time in Tanium (RFC 3339, or a template giving one): endpoints do
    /// not run it before. Boxed, as `not_after`, to keep `StepKind` small.
    pub not_before: Option<Box<TemplateValue>>,
    /// The action's end time in Tanium (RFC 3339, or a template giving one): it expires then.
    /// Never written with `expire` (the validator refuses both).
    pub not_after: Option<Box<TemplateValue>>,
    /// A staged rollout: one action per wave instead of one for the whole target.
    pub rollout: Option<Box<crate::rollout::Rollout>>,
}

/// Reads an `issue` time (`not_before`, `not_after`): RFC 3339 with a `Z` or an offset
/// (`2026-12-02T18:00:00Z`, `2026-12-02T19:00:00+01:00`), in UTC. The validator and the
/// engine apply this one rule.
pub fn parse_action_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|time| time.with_timezone(&chrono::Utc))
}

/// What an `issue` time must look like, for messages.
pub const ACTION_TIME_HELP: &str = "write an RFC 3339 time with its offset, e.g. `2026-12-02T18:00:00Z` or `2026-12-02T19:00:00+01:00`";

/// The built-in action group that holds no machines in Tanium (only `No Computers`): an action
/// issued under it reaches no endpoint. The validator, the engine (run and plan) and the Tanium
/// adapter refuse it with [`is_default_action_group`] and [`DEFAULT_ACTION_GROUP_REFUSED`].
pub const DEFAULT_ACTION_GROUP: &str = "Default";

/// Why the `Default` action group is refused, wherever it is.
pub const DEFAULT_ACTION_GROUP_REFUSED: &str =
    "the `Default` action group holds no machines in Tanium, so the action would reach no endpoint";

/// What to do instead of issuing under the `Default` action group.
pub const DEFAULT_ACTION_GROUP_HELP: &str =
    "name an action group that holds the endpoints, e.g. `All Computers`";

/// Whether an action group's name is `Default`, in any capitalisation, spaces around ignored.
pub fn is_default_action_group(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(DEFAULT_ACTION_GROUP)
}

/// `await_approval:`.
#[derive(Debug, Clone, PartialEq)]
pub struct AwaitApprovalStep {
    /// Action id.
    pub action: TemplateValue,
    /// Default 24h.
    pub timeout: Duration,
    /// Default 30s.
    pub interval: Duration,
}

/// `poll:`.
#[derive(Debug, Clone, PartialEq)]
pub struct PollStep {
    /// Action id.
    pub action: TemplateValue,
    /// Expected endpoint count (integer), else the issue step's `targeted`.
    pub expected: Option<TemplateValue>,
    /// 1..=100, default 90.
    pub until_percent: u8,
    /// Default 1h.
    pub timeout: Duration,
    /// Default 15s.
    pub interval: Duration,
    /// Default 2m.
    pub max_interval: Duration,
    /// Succeed on timeout instead of failing.
    pub allow_partial: bool,
    /// Default 1000.
    pub max_rows: usize,
}

/// `question:` ask the endpoints, and wait until enough of them answered.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionStep {
    /// Sensors (with an optional filter), or a saved question.
    pub ask: QuestionAsk,
    /// 1..=100, default 95: the share of the endpoints asked that answered
    /// (`mr_tested` over `estimated_total`).
    pub until_percent: u8,
    /// Default 10m.
    pub timeout: Duration,
    /// Default 5s.
    pub interval: Duration,
    /// Default 30s.
    pub max_interval: Duration,
    /// Default 1000.
    pub max_rows: usize,
}

/// What a `question` step asks.
#[derive(Debug, Clone, PartialEq)]
pub enum QuestionAsk {
    /// `get:` sensors, `from:` an optional filter.
    Sensors {
        /// The sensors read, in order (at least one).
        get: Vec<SensorGet>,
        /// `from: { all|any: [clauses] }`; all machines without it.
        from: Option<QuestionFrom>,
    },
    /// `saved: NAME_OR_ID` (may be a template).
    Saved(TemplateValue),
}

/// One sensor of `question.get`: a name, or `{ sensor, params }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorGet {
    /// The sensor's name, never a template.
    pub sensor: String,
    /// Sensor parameters by key (written `path` or `||path||`, kept without the bars), each
    /// value a template or a scalar.
    pub params: IndexMap<String, TemplateValue>,
    /// Where the sensor was written.
    pub span: Span,
}

/// `question.from`: clauses in the target grammar.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionFrom {
    /// Whether every clause or one clause must hold.
    pub combine: Combine,
    /// The clauses, in order.
    pub clauses: Vec<Clause>,
}

/// `stop_action:`.
#[derive(Debug, Clone, PartialEq)]
pub struct StopActionStep {
    /// Action id.
    pub action: TemplateValue,
}

/// `approve:`: a gate runbook keeps itself, decided by people (`runbook approve`, the API,
/// the console) before anything after it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ApproveStep {
    /// What the approver is asked (a template over the run so far).
    pub summary: TemplateValue,
    /// Token names or role names allowed to decide; empty: anyone whose role decides
    /// approvals.
    pub approvers: Vec<String>,
    /// Distinct approvals needed (default 1).
    pub required: u32,
    /// How long the gate waits for decisions; then the step fails (default 4h).
    pub timeout: Duration,
}

/// `for_each:` the nested `steps` run once per item of `items`, `concurrency` items at a
/// time. Each item sees the item as `as` and its 0-based index as `loop.index`, the steps
/// before the loop and the loop's earlier steps; after the loop only its own outputs
/// (`results`, `succeeded`, `failed`, `skipped`) are in scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ForEachStep {
    /// The list (usually a template giving one, e.g. `"{{ inputs.hosts }}"`).
    pub items: TemplateValue,
    /// The name the item is read by (default `item`).
    pub item_name: String,
    /// Items run at once (default 1).
    pub concurrency: u32,
    /// Failed items tolerated before the loop fails and starts no more items (default 0).
    pub max_failures: u32,
    /// The steps run for each item; their ids are unique in the playbook.
    pub steps: Vec<Step>,
}

/// The most items a `for_each` runs.
pub const MAX_LOOP_ITEMS: usize = 10_000;
/// The most items a `for_each` runs at once.
pub const MAX_LOOP_CONCURRENCY: u32 = 200;

/// `assert:`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertStep {
    /// Expression that must be truthy.
    pub that: TemplateValue,
    /// Message when it is not.
    pub message: Option<TemplateValue>,
}

/// Defaults the docs promise.
pub mod defaults {
    use std::time::Duration;

    /// `issue.expire`.
    pub const ISSUE_EXPIRE: Duration = Duration::from_secs(3600);
    /// `issue.distribute`.
    pub const ISSUE_DISTRIBUTE: Duration = Duration::ZERO;
    /// `issue.min_endpoints`.
    pub const ISSUE_MIN_ENDPOINTS: u64 = 1;
    /// `await_approval.timeout`.
    pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
    /// `await_approval.interval`.
    pub const APPROVAL_INTERVAL: Duration = Duration::from_secs(30);
    /// `approve.timeout`.
    pub const APPROVE_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
    /// `approve.required`.
    pub const APPROVE_REQUIRED: u32 = 1;
    /// `poll.until_percent`.
    pub const POLL_UNTIL_PERCENT: u8 = 90;
    /// `poll.timeout`.
    pub const POLL_TIMEOUT: Duration = Duration::from_secs(3600);
    /// `poll.interval`.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(15);
    /// `poll.max_interval`.
    pub const POLL_MAX_INTERVAL: Duration = Duration::from_secs(120);
    /// `poll.max_rows`.
    pub const POLL_MAX_ROWS: usize = 1000;
    /// `question.until_percent`.
    pub const QUESTION_UNTIL_PERCENT: u8 = 95;
    /// `question.timeout`.
    pub const QUESTION_TIMEOUT: Duration = Duration::from_secs(600);
    /// `question.interval`.
    pub const QUESTION_INTERVAL: Duration = Duration::from_secs(5);
    /// `question.max_interval`.
    pub const QUESTION_MAX_INTERVAL: Duration = Duration::from_secs(30);
    /// `question.max_rows`.
    pub const QUESTION_MAX_ROWS: usize = 1000;
}

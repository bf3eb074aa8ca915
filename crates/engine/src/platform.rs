//! The `Platform` trait: everything the engine asks of an endpoint-management system.
//!
//! The engine knows nothing of Tanium's JSON: it hands the platform structured requests
//! (clauses, names, ids) and gets back plain outcomes. `runbook-tanium` implements it for
//! Tanium's REST API. Every operation also has a pure `plan_*` twin that returns the HTTP
//! requests it would send, so that `runbook plan` shows exactly what a run sends.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// How the clauses of a `target` step combine, and the comparison in a clause: the playbook's
/// own types, so that they are defined once.
pub use runbook_playbook::{Combine, Operator};

/// One rendered targeting clause: the value is data, never re-read as a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetClause {
    pub sensor: String,
    pub op: Operator,
    pub value: ClauseValue,
}

/// What a `target` step asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TargetRequest {
    /// Structured clauses; the platform writes (and quotes) the question text itself.
    Clauses {
        combine: Combine,
        clauses: Vec<TargetClause>,
    },
    /// A filter group defined on the platform, by name or by id.
    FilterGroup { name_or_id: String },
    /// Raw targeting text written by the playbook author (never templated).
    Text { text: String },
}

/// The most values one `values:` clause may hold: the engine refuses more at run time, before
/// anything is sent, so that no question grows without bound (the validator, when they are
/// written out).
pub use runbook_playbook::MAX_CLAUSE_VALUES;

/// A clause's rendered value: one, or any of a list (`values:`).
///
/// The platform writes `AnyOf` as OR-ed clauses (for `not_equals`, AND-ed: none of them), each
/// value quoted and escaped like a single one. An empty `AnyOf` matches nothing (for
/// `not_equals`, everything). The engine enforces [`MAX_CLAUSE_VALUES`] before calling the
/// platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ClauseValue {
    One(String),
    AnyOf(Vec<String>),
}

/// One sensor a `question` step reads, with its parameters (keys without the `||` wrapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SensorSelect {
    pub sensor: String,
    pub params: BTreeMap<String, String>,
}

/// What a `question` step asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum QuestionRequest {
    /// Sensors by name, from the machines that match the filter (all machines without one).
    Sensors {
        get: Vec<SensorSelect>,
        from: Option<QuestionFilter>,
    },
    /// A saved question, by name or by id.
    Saved { name_or_id: String },
}

/// The `from` part of a question: clauses in the target clause grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionFilter {
    pub combine: Combine,
    pub clauses: Vec<TargetClause>,
}

/// A question asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionAsked {
    pub question_id: u64,
    /// The question text, or the saved question's name.
    pub text: String,
}

/// How far a question's answers have come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuestionProgress {
    pub mr_tested: u64,
    pub estimated_total: u64,
}

/// A question's answer: rows keyed by column name, special texts (`[no results]`,
/// `[current results unavailable]`, `TSE-Error: ...`) never among them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionAnswer {
    pub columns: Vec<String>,
    /// At most the `max_rows` asked for.
    pub rows: Vec<serde_json::Value>,
    /// Data rows in the whole answer, kept or not.
    pub row_count: u64,
    pub rows_truncated: bool,
    /// Rows whose cells held only special texts: never data.
    pub unavailable: u64,
    pub mr_tested: u64,
    pub estimated_total: u64,
}

/// The group a `target` step resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetOutcome {
    pub group_id: u64,
    pub filter_flag: bool,
    /// The question text sent to create the group (empty for a filter group).
    pub text: String,
}

/// A package, by name or by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageSelector {
    Name(String),
    Id(u64),
}

/// A package resolved and its parameters checked against its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageOutcome {
    pub package_id: u64,
    pub package_name: String,
    /// Every parameter the action will be sent with, defaults filled in, as `($N, value)`.
    pub parameters: Vec<(String, String)>,
    /// The package command with the parameters substituted, for review.
    pub command: String,
    /// Whether the package verifies (then `Completed` is not final until `Verified`).
    pub verify: bool,
}

/// What a live plan learns about the endpoints a target matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSurvey {
    /// Endpoints that match now: those that answered (a question reaches online ones only).
    pub matching: u64,
    /// The first of their names in alphabetical order, as many as were asked for.
    pub names: Vec<String>,
    /// Registered endpoints that are offline now (whether they match cannot be asked), or why
    /// the platform cannot tell.
    pub offline: Result<u64, String>,
}

/// An action group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionGroupOutcome {
    pub id: u64,
    pub name: String,
}

/// Everything needed to issue one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionSpec {
    /// The unique name (the author's name plus the run's marker), used to find the action again.
    pub name: String,
    pub action_group_id: u64,
    pub target_group_id: u64,
    pub target_filter_flag: bool,
    pub package_id: u64,
    pub parameters: Vec<(String, String)>,
    /// How long the action stays active: `expire`, or the span of its window
    /// (`not_after` minus `not_before`, or minus the time of sending).
    pub expire_seconds: u64,
    pub distribute_seconds: u64,
    pub issue_seconds: Option<u64>,
    /// The action's start time (`not_before`), when the playbook gives one.
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    /// The action's end time (`not_after`), when the playbook gives one.
    pub expiration_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// An action as the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionInfo {
    pub action_id: u64,
    pub saved_action_id: u64,
    pub name: String,
    /// The platform's status word (`Pending`, `Active`, `Closed`, `Stopped`, `Expired`, ...).
    pub status: String,
    pub stopped: bool,
    /// RFC 3339, when the platform says when the action expires.
    pub expires_at: Option<String>,
    pub package_name: Option<String>,
    pub command: Option<String>,
}

impl ActionInfo {
    /// Stopped or expired: the action will not make progress any more.
    pub fn is_dead(&self) -> bool {
        self.stopped
            || self.status.eq_ignore_ascii_case("stopped")
            || self.status.eq_ignore_ascii_case("expired")
    }
}

/// A saved action's approval, as the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Approval {
    pub approved: bool,
    /// Who approved it, when the platform names someone (nobody when no approval was needed).
    pub approver: Option<String>,
}

/// How certain a miss of [`Platform::find_action`] must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lookup {
    /// The action may exist (its intent was recorded before, or a send was ambiguous): a miss
    /// must be certain, even on a server where the quick lookup may be missing, because a
    /// wrong miss would issue the action twice.
    MayExist,
    /// The cross-check before a step's first send, when no intent of the step was recorded
    /// before, so nothing of it can exist yet: the platform's quickest lookup will do.
    BeforeFirstSend,
}

/// One row of an action's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultRow {
    pub computer_name: String,
    pub status: String,
    pub count: u64,
}

/// A snapshot of an action's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ActionProgress {
    pub mr_tested: u64,
    pub estimated_total: u64,
    /// Endpoint count per status word, over every row.
    pub statuses: BTreeMap<String, u64>,
    /// Endpoints in a final status (success or failure).
    pub finished: u64,
    /// Endpoints in a success status.
    pub completed: u64,
    /// Endpoints in a failure status.
    pub failed: u64,
    pub rows: Vec<ResultRow>,
    pub rows_truncated: bool,
}

/// One HTTP request, as plan mode shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRequest {
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Why the request is sent (e.g. "repeated until the count is complete").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A value that plan mode may not know: a real value or a named placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PlanValue<T> {
    Known(T),
    Placeholder(String),
}

impl<T: fmt::Display> fmt::Display for PlanValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanValue::Known(value) => write!(f, "{value}"),
            PlanValue::Placeholder(name) => write!(f, "<{name}>"),
        }
    }
}

/// An action spec in plan mode, where ids from earlier steps may be placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedActionSpec {
    pub name: String,
    pub action_group_id: PlanValue<u64>,
    pub target_group_id: PlanValue<u64>,
    pub target_filter_flag: bool,
    pub package_id: PlanValue<u64>,
    pub parameters: Vec<(String, String)>,
    pub expire_seconds: u64,
    pub distribute_seconds: u64,
    pub issue_seconds: Option<u64>,
    /// `not_before`, as RFC 3339 in UTC, or a placeholder a run will know.
    pub start_time: Option<PlanValue<String>>,
    /// `not_after`, as RFC 3339 in UTC, or a placeholder a run will know.
    pub expiration_time: Option<PlanValue<String>>,
}

/// What kind of failure a platform call met: the engine decides on retries and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformErrorKind {
    /// The name or id does not exist (or is not visible to this account).
    NotFound,
    /// The user's input does not fit (bad parameter value, bad targeting text, ...).
    Invalid,
    /// Authentication or permission refused.
    Refused,
    /// The request may or may not have taken effect (timeout or cut connection after sending).
    Ambiguous,
    /// A transient or transport failure that retries did not cure.
    Unavailable,
    /// Anything else the server said no to, or an answer that could not be read.
    Other,
}

/// A failed platform call, with a message safe to show (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlatformError {
    pub kind: PlatformErrorKind,
    pub message: String,
}

impl PlatformError {
    pub fn new(kind: PlatformErrorKind, message: impl Into<String>) -> Self {
        PlatformError {
            kind,
            message: message.into(),
        }
    }
}

/// What the engine needs from an endpoint-management platform.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Creates (or looks up) the group that a `target` step describes.
    async fn create_target(&self, request: &TargetRequest) -> Result<TargetOutcome, PlatformError>;

    /// Looks the package up, checks `params` (given by `$N` key or by label) against its
    /// definition and fills in defaults.
    async fn resolve_package(
        &self,
        package: &PackageSelector,
        params: &[(String, String)],
    ) -> Result<PackageOutcome, PlatformError>;

    /// Looks an action group up by name or id.
    async fn resolve_action_group(
        &self,
        name_or_id: &str,
    ) -> Result<ActionGroupOutcome, PlatformError>;

    /// Counts the endpoints a group matches now (answering endpoints only).
    async fn count_targets(&self, group_id: u64, wait: Duration) -> Result<u64, PlatformError>;

    /// The names (`Computer Name`) of the endpoints of a group that answer now, each once,
    /// waiting at most `wait` for them to answer: what a staged rollout splits into waves. A
    /// platform that cannot list endpoints refuses.
    async fn list_endpoints(
        &self,
        group_id: u64,
        wait: Duration,
    ) -> Result<Vec<String>, PlatformError> {
        let _ = (group_id, wait);
        Err(PlatformError::new(
            PlatformErrorKind::Other,
            "this platform cannot list endpoints by name, which a staged rollout needs",
        ))
    }

    /// What a target matches now, without creating anything (plan --live): a filter group is
    /// looked up, clauses and text are asked as a question. The matching endpoints are
    /// counted and the first `names` of them named; offline endpoints are counted apart.
    async fn survey_target(
        &self,
        request: &TargetRequest,
        names: usize,
        wait: Duration,
    ) -> Result<TargetSurvey, PlatformError>;

    /// Issues an action. Never retried blindly: an ambiguous failure comes back as
    /// `PlatformErrorKind::Ambiguous`, and the caller looks the action up by name.
    async fn issue_action(&self, spec: &ActionSpec) -> Result<ActionInfo, PlatformError>;

    /// Finds an action by its exact name; `lookup` says how certain a miss must be.
    async fn find_action(
        &self,
        name: &str,
        lookup: Lookup,
    ) -> Result<Option<ActionInfo>, PlatformError>;

    /// Reads an action.
    async fn action(&self, action_id: u64) -> Result<ActionInfo, PlatformError>;

    /// Whether the saved action behind an action is approved, and by whom.
    async fn approval(&self, saved_action_id: u64) -> Result<Approval, PlatformError>;

    /// Reads an action's results; `verify` decides whether `Completed` is final.
    async fn action_results(
        &self,
        action_id: u64,
        verify: bool,
        max_rows: usize,
    ) -> Result<ActionProgress, PlatformError>;

    /// Whether an action's package verifies, for actions this run did not issue.
    async fn action_verifies(&self, action_id: u64) -> Result<bool, PlatformError>;

    /// Stops an action. May fail when the action already ended; the `stop_action` step then
    /// reads the action and succeeds when it is stopped or expired.
    async fn stop_action(&self, action_id: u64) -> Result<(), PlatformError>;

    /// Asks a question: sensors (from the machines a filter matches) or a saved question.
    async fn ask_question(&self, request: &QuestionRequest)
    -> Result<QuestionAsked, PlatformError>;

    /// How many machines have answered a question, of those expected to.
    async fn question_progress(&self, question_id: u64) -> Result<QuestionProgress, PlatformError>;

    /// A question's answer, at most `max_rows` rows kept (the counts cover every row).
    async fn question_answer(
        &self,
        question_id: u64,
        max_rows: usize,
    ) -> Result<QuestionAnswer, PlatformError>;

    /// plan --live: every sensor (by name) or the saved question exists; `Err` names what is
    /// missing.
    async fn check_question(&self, request: &QuestionRequest) -> Result<(), PlatformError>;

    /// The requests `create_target` would send. Unknown server-side values are placeholders.
    fn plan_target(&self, request: &TargetRequest) -> Result<Vec<PlannedRequest>, PlatformError>;

    /// The requests `resolve_package` would send.
    fn plan_package(&self, package: &PlanValue<PackageSelector>) -> Vec<PlannedRequest>;

    /// The requests `resolve_action_group` would send.
    fn plan_action_group(&self, name_or_id: &str) -> Vec<PlannedRequest>;

    /// The requests `count_targets` would send.
    fn plan_count(&self, group_id: &PlanValue<u64>) -> Vec<PlannedRequest>;

    /// The requests `list_endpoints` would send (a staged rollout's listing).
    fn plan_list_endpoints(&self, group_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        let _ = group_id;
        Vec::new()
    }

    /// The request `issue_action` would send.
    fn plan_issue(&self, spec: &PlannedActionSpec) -> Vec<PlannedRequest>;

    /// The requests one approval check would send.
    fn plan_approval(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest>;

    /// The requests one poll would send.
    fn plan_poll(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest>;

    /// The requests `stop_action` would send.
    fn plan_stop_action(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest>;

    /// The requests a `question` step would send: the question, its progress (repeated) and
    /// its answer. Values only a run can tell are placeholders inside the request's texts.
    fn plan_question(&self, request: &PlanValue<QuestionRequest>) -> Vec<PlannedRequest>;
}

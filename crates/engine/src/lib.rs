//! runbook-engine: runs validated playbooks step by step against a [`Platform`].
//!
//! The engine renders each step's templates ([`template`]), calls the platform (the
//! [`Platform`] trait; `runbook-tanium` implements it for Tanium), records each step's outputs
//! for the steps after it, and reports what happens as typed [`Event`]s. [`Planner`] is the
//! dry run: the same steps rendered offline, with the exact requests the platform would send.
//!
//! Architecture invariants: the engine knows nothing of HTTP or Tanium's JSON; data from
//! inputs and from the platform is never evaluated as a template; secrets never leave through
//! events, errors or plans ([`Redactor`]); an `issue` step never issues an action twice.
//!
//! ```no_run
//! # async fn example(platform: std::sync::Arc<dyn runbook_engine::Platform>,
//! #                  playbook: runbook_playbook::Playbook) {
//! use std::sync::Arc;
//! use runbook_engine::{CollectEvents, Engine, RunRequest};
//!
//! let events = Arc::new(CollectEvents::new());
//! let engine = Engine::new(platform, events.clone());
//! let inputs = runbook_playbook::bind_inputs(&playbook, &[("hostname".into(), "WIN-DC01".into())], &Default::default())
//!     .expect("inputs fit their declarations");
//! let outcome = engine.run(&RunRequest::new(Arc::new(playbook), inputs)).await;
//! println!("{:?}: {}", outcome.status, outcome.outputs);
//! # }
//! ```

pub mod egress;
pub mod events;
pub mod lease;
pub mod pace;
pub mod pause_points;
pub mod plan;
mod plan_unknown;
pub mod platform;
pub mod redact;
pub mod run;
mod steps;
pub mod store;
pub mod template;
pub mod values;

pub use egress::{Egress, EgressError, EgressErrorKind, HttpAnswer, HttpMethod, HttpRequest};
pub use events::{CollectEvents, Event, EventSink, NoEvents, RunStatus};
pub use lease::Lease;
pub use pace::Pace;
pub use plan::{Condition, Plan, PlanStep, Planner};
pub use platform::{
    ActionGroupOutcome, ActionInfo, ActionProgress, ActionSpec, Approval, ClauseValue, Combine,
    Lookup, MAX_CLAUSE_VALUES, Operator, PackageOutcome, PackageSelector, PlanValue,
    PlannedActionSpec, PlannedRequest, Platform, PlatformError, PlatformErrorKind, QuestionAnswer,
    QuestionAsked, QuestionFilter, QuestionProgress, QuestionRequest, ResultRow, SensorSelect,
    TargetClause, TargetOutcome, TargetRequest, TargetSurvey,
};
pub use redact::Redactor;
pub use run::{
    Engine, IssueCheck, IssueGuard, RunOutcome, RunRequest, StepError, StepErrorKind,
    unique_action_name,
};
/// The rule refusing the `Default` action group, from the playbook crate: the one the
/// validator, the engine and the Tanium adapter apply.
pub use runbook_playbook::{
    DEFAULT_ACTION_GROUP, DEFAULT_ACTION_GROUP_HELP, DEFAULT_ACTION_GROUP_REFUSED,
    is_default_action_group,
};
pub use steps::{StoppedAction, stop_action};
pub use store::{
    ApprovalGate, GateDecision, GateState, Intent, NewRun, RecordedStatus, RunFilter, RunRecord,
    RunSummary, StepRecord, StepStatus, Store, StoreError, StoreErrorKind,
};
pub use template::{TemplateContext, TemplateError, Templates};

//! Tanium REST API v2 adapter for runbook.
//!
//! This crate knows Tanium and nothing of playbooks. It has four parts:
//!
//! - **Requests** ([`Request`], [`requests`]): pure builders, one per operation, that the
//!   engine's plan mode can show as they are (ids not known yet appear as [`Ref::Placeholder`]).
//! - **Transport** ([`TaniumClient`]): sends those requests with an API token or a login
//!   session, retries what is safe to retry, never resends `POST /actions`, and decodes answers
//!   leniently ([`Group`], [`Package`], [`Action`], [`ActionResults`]).
//! - **Targeting text** ([`targeting`]): structured clauses to quoted, escaped question text.
//! - **Parameters** ([`parameters`]) and **results** ([`results`]): package parameter
//!   definitions resolved and validated; action statuses parsed, classified and counted.
//!
//! Secrets live in `secrecy` types: no `Debug`, `Display`, error, log line or serialised
//! request ever shows a token, password or session.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use runbook_tanium::targeting::{Clause, Combine, Operator, build_text};
//! use runbook_tanium::{Auth, ClientConfig, NewAction, Ref, TaniumClient, TargetGroupRef, parameters};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new("https://tanium.example.com", Auth::Token("token-abc".into()));
//! let client = TaniumClient::new(config)?;
//!
//! let text = build_text(Combine::All, &[Clause {
//!     sensor: "Computer Name".into(),
//!     op: Operator::Equals,
//!     value: "web-01.corp".into(),
//! }])?;
//! let group_id = client.create_group(&text).await?;
//! let package = client.package_by_name("Custom Tagging - Add Tags").await?;
//! let values = parameters::resolve(&package.parameters, &[("$1".into(), "quarantine".into())])
//!     .map_err(|problems| format!("{problems:?}"))?;
//! let action_group = client.action_group("All Computers").await?;
//! let action = client
//!     .issue_action(&NewAction {
//!         name: "tag web-01 (run 7)".into(),
//!         action_group_id: Ref::Id(action_group.id),
//!         target_group: TargetGroupRef { id: Ref::Id(group_id), filter_flag: false },
//!         package_id: Ref::Id(package.id),
//!         parameters: values,
//!         expire_seconds: package.expire_seconds,
//!         distribute_seconds: 0,
//!         issue_seconds: None,
//!         start_time: None,
//!         expiration_time: None,
//!     })
//!     .await?;
//! let results = client.action_results(action.id, package.verify, 100).await?;
//! println!("{} of {} succeeded", results.succeeded, results.machines());
//! # let _ = Duration::from_secs(1);
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
pub mod lenient;
mod model;
pub mod parameters;
mod platform;
pub mod question_requests;
pub mod question_results;
mod request;
pub mod results;
pub mod targeting;

pub use client::{AskedQuestion, ObservedExchange, RequestObserver, TaniumClient};
pub use config::{Auth, ClientConfig, RetryPolicy, Tuning};
pub use error::Error;
pub use model::{
    Action, ActionGroup, ActionState, Group, Package, QuestionProgress, SavedQuestion, Sensor,
};
pub use parameters::{ParameterDefinition, ParameterError, ParameterKind};
pub use platform::TaniumPlatform;
pub use request::{
    Method, NewAction, Page, Ref, Request, TargetGroupRef, action_time, encode_segment, requests,
};
pub use results::{ActionResults, Outcome, ResultRow, parse_action_results};
pub use secrecy::SecretString;

//! runbook-store: where runs are kept, so that a run survives a crash of the process that
//! started it.
//!
//! [`SqlStore`] implements the engine's [`runbook_engine::Store`] trait on an embedded SQLite
//! file (the default, [`SqlStore::default_url`]) or on PostgreSQL (several workers sharing one
//! database). The same SQL runs on both: placeholders are `$1, $2, ...` (SQLite reads them
//! too), times are fixed-width RFC 3339 text, JSON is serde_json text.
//!
//! What is kept: runs (playbook source and hash, redacted inputs, status, outputs, error,
//! times, plus the scheduler's claim columns), steps (status, attempts, outputs, request
//! summary, error, times, wait deadline), events (in order), and *intents*: the unique name of
//! an action written before `POST /actions` is sent, and the action id once it is known. The
//! schema is migrated on open; a database written by a newer runbook, a foreign database and a
//! file that is not a database are refused with an error that says so.
//!
//! Durability: SQLite runs in WAL mode; ordinary writes survive a crash of the process,
//! intents also survive a power cut (their connection syncs the log on commit). On
//! PostgreSQL, events and step starts commit without waiting for the WAL flush, everything
//! else with the server's own setting. [`StoreOptions`] sets pool size and timeouts;
//! [`SqlStore::cancel_run`], [`SqlStore::events_with_times`],
//! [`SqlStore::list_runs_with_claims`], [`SqlStore::runs_with_prefix`] and
//! [`SqlStore::prune_finished`] serve `runbook runs cancel`, `show`, `list` and `prune`;
//! [`SqlStore::record_resume`] records a `runs resume` under the claim it took, and
//! [`SqlStore::record_server`] the Tanium URL a run runs against (never a credential).
//!
//! The run queue of `runbook serve` ([`SqlStore::enqueue`], [`SqlStore::claim_next`],
//! [`SqlStore::heartbeat`], [`SqlStore::release`]): runs are queued (a schedule firing carries
//! a unique firing key, so a firing makes one run however many processes fire it), claimed by
//! one worker each (`FOR UPDATE SKIP LOCKED` on PostgreSQL), kept alive by heartbeats, and
//! taken over by another worker once their heartbeat is stale.
//!
//! API tokens and the audit log (`runbook tokens`, `runbook audit`, and the HTTP API's bearer
//! check): [`SqlStore::create_token`] returns a token once and keeps only its SHA-256,
//! [`SqlStore::verify_token`] accepts a presented token that is neither unknown nor revoked,
//! [`SqlStore::revoke_token`]; creating and revoking append to the audit log in the same
//! transaction. [`SqlStore::append_audit`] and [`SqlStore::list_audit`] keep and read who
//! changed what, when, from where. [`auth`] holds the token format and the roles
//! ([`auth::Role::allows`]).
//!
//! The HTTP API's needs ([`SqlStore::enqueue_keyed`] for `Idempotency-Key` and webhook dedup
//! keys, [`QueueEntry::sealed_inputs`] for secret inputs sealed outside the store,
//! [`SqlStore::page_runs`] for cursor paging, [`SqlStore::events_after`] for Server-Sent
//! Events polled across processes) and runbook's own approvals ([`SqlStore::request_approval`],
//! [`SqlStore::pending_approvals`], [`SqlStore::decide_approval`], audited in the same
//! transaction).
//!
//! Architecture invariants: a write either lands whole or fails with a
//! [`StoreError`](runbook_engine::StoreError) (single statements, no partly written run); a
//! step that succeeded is never marked running again; an intent never changes its action name
//! or, once resolved, its action id; nothing in this crate panics on what a database holds.
//!
//! ```no_run
//! # async fn example() -> Result<(), runbook_engine::StoreError> {
//! use runbook_engine::{NewRun, RecordedStatus, RunFilter, Store};
//! use runbook_store::SqlStore;
//!
//! let store = SqlStore::open(&SqlStore::default_url()).await?;
//! store
//!     .create_run(&NewRun {
//!         run_id: "0193a1b2-0000-7000-8000-000000000001".into(),
//!         playbook_name: "isolate-host".into(),
//!         playbook_source: "name: isolate-host\n".into(),
//!         playbook_hash: "9f2c...".into(),
//!         playbook_path: Some("playbooks/isolate-host.yaml".into()),
//!         inputs: serde_json::json!({"hostname": "WIN-DC01"}),
//!         started_by: "cli:alice".into(),
//!         claimed_by: None,
//!     })
//!     .await?;
//! let running = RunFilter { status: Some(RecordedStatus::Running), ..RunFilter::default() };
//! for run in store.list_runs(&running).await? {
//!     println!("{} {} {}", run.run_id, run.playbook_name, run.status);
//! }
//! store.close().await;
//! # Ok(())
//! # }
//! ```

#[macro_use]
mod macros;
mod approvals;
mod audit;
pub mod auth;
mod error;
mod fence;
mod keys;
mod open;
mod queue;
mod records;
mod sessions;
mod store;
mod tokens;
mod writes;

pub use approvals::{
    Approval, ApprovalDecision, ApprovalStatus, Decided, Decider, Decision, NewApproval,
    is_self_approval,
};
pub use audit::{Actor, AuditEntry, AuditFilter, NewAuditEntry};
pub use auth::{Action, Role};
pub use fence::{FencedStore, Heartbeat, lease_term};
pub use keys::RunKey;
pub use open::StoreOptions;
pub use queue::{ClaimedRun, Enqueued, QueueEntry, QueueState};
pub use records::{Resume, RunListing, RunPage, StoredEvent};
pub use sessions::{CONSOLE_SESSION_PREFIX, NewSession};
pub use store::{CancelOutcome, SqlStore};
pub use tokens::{TokenCreated, TokenListing, TokenRevoked, VerifiedToken};
pub use writes::Fence;

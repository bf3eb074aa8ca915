//! runbook-serve: the runbook service, `runbook serve` without its command line. A scheduler
//! fires schedules into the store's run queue; workers claim queued runs (or runs whose holder
//! stopped) and run them through the engine; one heartbeat keeps the leases of every run the
//! process holds; metrics and a health check are served over HTTP. Several processes, on
//! several machines, share one PostgreSQL store; SQLite serves one process.
//!
//! - [`Service`] starts all of it from a [`Config`], a store, a [`Platform`] and [`Metrics`],
//!   and stops it: running runs stop at their next checkpoint and go back to the queue.
//! - [`Scheduler`] fires one schedules file ([`load_schedules`]) into a [`FiringQueue`] at the
//!   times of a [`Clock`] (the wall clock, or tokio's paused clock in tests).
//! - [`request_from_record`] rebuilds the request of a recorded run, for the workers and for
//!   `runbook runs resume`; [`queued_run`] is the record a queued run starts as, its secret
//!   inputs sealed by [`seal`] with `RUNBOOK_SECRET_KEY`.
//! - [`claims`] names holders and tells a holder whose process is gone; [`files`] reads the
//!   files runbook is pointed at, bounded.
//!
//! Architecture invariant: knows runs only through the engine and the store, and Tanium not at
//! all (the caller connects and hands over a [`Platform`]); no command-line parsing, no
//! signals, no log set-up: those are the binary's. Every write of a claimed run goes through
//! a fenced store (`docs/durability.md`).
//!
//! [`Platform`]: runbook_engine::Platform
//!
//! ```no_run
//! # async fn example(platform: std::sync::Arc<dyn runbook_engine::Platform>) -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use runbook_serve::{Config, Metrics, Service};
//!
//! let store = Arc::new(runbook_serve::open_store("sqlite://runs.db", 4).await?);
//! let config = Config {
//!     schedules: None,
//!     workers: 4,
//!     metrics_addr: None,
//!     heartbeat: Duration::from_secs(5),
//!     stale_after: Duration::from_secs(30),
//!     poll_interval: Duration::from_millis(250),
//!     send_grace: runbook_serve::send_grace(Duration::from_secs(60)),
//!     pace: runbook_engine::Pace::real(),
//!     secret_key: runbook_serve::seal::secret_key_from_env()?,
//!     egress: None,
//! };
//! let service = Service::start(config, store.clone(), platform, Arc::new(Metrics::default())).await?;
//! tokio::signal::ctrl_c().await?;
//! // Runs stop at their next checkpoint; a second Ctrl-C cuts them off.
//! let drained = service.stop(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! store.close().await;
//! # Ok(()) }
//! ```

pub mod claims;
mod clock;
pub mod files;
pub mod metrics;
mod record;
mod scheduler;
pub mod seal;
mod service;
mod worker;

pub use claims::{holder_is_gone, host_name, send_grace};
pub use clock::Clock;
pub use metrics::Metrics;
pub use record::{
    QueuedRun, RebuildError, SecretInputs, new_run_id, queued_run, request_from_record,
};
pub use scheduler::{FiringQueue, Scheduler, load_schedules, unset_schedule_secrets};
pub use service::{Config, Schedules, Service, open_store};

//! runbook-benches: the load scenarios behind `docs/PERFORMANCE.md` ("Engine").
//!
//! These are benchmarks, not timed tests: each binary under `src/bin` runs a scenario and prints
//! its figures. They share what is here:
//!
//! - [`SimChild`]: the Tanium simulator in a **child process** (this same executable started
//!   again with [`SERVE_SIM_FLAG`]), so that the CPU time and memory measured in the benchmark
//!   process are the engine's and the HTTP client's only. Every binary calls
//!   [`serve_sim_if_asked`] first thing in `main`.
//! - [`proc_stats`]: CPU time and resident memory from `/proc` (no `unsafe`, no `libc`).
//! - [`scenario`]: the six-step playbook, a client and an engine wired the way `runbook run`
//!   wires them, and [`scenario::bare_flow`], the very same requests sent with the bare
//!   [`TaniumClient`](runbook_tanium::TaniumClient) and no engine.
//!
//! ```no_run
//! # async fn demo() -> Result<(), runbook_benches::BenchError> {
//! use runbook_benches::{SimChild, SimOptions, scenario};
//!
//! let sim = SimChild::spawn(&SimOptions { time_scale: 1000.0, latency_ms: 0 })?;
//! let client = scenario::client(&sim, 1000.0, None)?;
//! let engine = scenario::engine(&client, 1000.0);
//! let outcome = engine.run(&scenario::request(&scenario::playbook()?, "WIN-DC01")?).await;
//! println!("{:?}, {} requests served", outcome.status, sim.requests_served().await?);
//! # Ok(())
//! # }
//! ```

pub mod proc_stats;
pub mod scenario;
mod serve_http;
mod sim_child;

pub use serve_http::{exit_code_of, wait_for_http_address};

pub use sim_child::{SERVE_SIM_FLAG, SimChild, SimOptions, serve_sim_if_asked};

/// Why a benchmark could not be set up or measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The simulator child process could not be started or spoke unexpectedly.
    #[error("simulator child process: {0}")]
    SimChild(String),
    /// Reading `/proc` or a pipe failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The benchmark playbook was refused (a bug in the benchmark).
    #[error("benchmark playbook: {0}")]
    Playbook(String),
    /// The Tanium client refused its configuration or a request failed.
    #[error("tanium: {0}")]
    Tanium(#[from] runbook_tanium::Error),
    /// An HTTP call to the simulator's inspector failed.
    #[error("simulator inspector: {0}")]
    Inspector(String),
    /// A run did not end as it should (a failed endpoint, a stopped action, a failed step).
    #[error("run did not succeed: {0}")]
    Flow(String),
}

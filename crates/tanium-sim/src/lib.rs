//! A simulated Tanium server: a real axum HTTP server on loopback that answers the Tanium
//! REST v2 calls a runbook run makes, in the shapes real servers answer.
//!
//! It is the embedded default behind `runbook run --sim`, the server of the end-to-end
//! tests and the load target of the benchmarks. It is written from Tanium's documentation
//! and recorded responses, never from the adapter's types, so that a mistake in one is
//! not silently shared by the other.
//!
//! Main types:
//! - [`SimConfig`]: the fleet ([`Endpoint`]s), packages, groups, users, approval (and its
//!   simulated approval or [denial](SimConfig::auto_deny_after)), the clock's
//!   [`time_scale`](SimConfig::time_scale), the failure share and the
//!   [endpoints that fail](SimConfig::failing_endpoints), [`Faults`] and the seed;
//! - [`Simulator::start`] binds `127.0.0.1:0` and returns a [`RunningSim`] (URL, token,
//!   credentials, [`Inspector`] snapshots (with the [bodies](RecordedRequest) clients sent),
//!   fault switches, shutdown);
//! - [`Simulator::serve`] runs in the foreground for `runbook sim`;
//! - [`Simulator::start_with_state`] keeps what clients changed (actions, approvals, stops,
//!   groups, questions, sessions, ids) in a file across restarts (`runbook sim --state FILE`),
//!   written before every change is answered; [`RunningSim::state`] says what it restored;
//! - [`question`]: the targeting-text parser ([`question::parse`]) whose [`question::Filter`]
//!   selects the machines a group or question covers.
//!
//! Every endpoint answers every sensor of the catalogue (`Running Processes`, `File
//! Exists[path]`, ...) with values derived from the seed or given by the fleet file; completed
//! actions of the tagging and logging packages ([`PackageEffect`]) change tags and logging
//! levels from the moment they complete, derived from the kept actions; saved questions
//! ([`SavedQuestionDef`]) are asked again every `issue_seconds`. `docs/simulator.md` describes
//! the values, special texts and timing.
//!
//! Endpoints under `/api/v2` (all need the `session` header except the `session/*` ones;
//! `docs/tanium-api.md` in the repository describes each):
//! `session/login|validate|logout` (POST); `groups` (GET list, POST from `text` or inline
//! `filters`/`sub_groups`), `groups/by-name/{name}`, `groups/{id}`; `action_groups`,
//! `action_groups/by-name/{name}`, `action_groups/{id}`; `packages`,
//! `packages/by-name/{name}`, `packages/{id}`; `actions` (POST; GET with `cache_filters`),
//! `actions/by-name/{name}`, `actions/{id}`; `saved_actions/{id}`; `saved_action_approvals`
//! (GET pending, POST approve); `action_stops` (POST); `parse_question` (POST); `questions`
//! (POST: `query_text`, a parsed candidate, or hand-built `selects` with `||key||`
//! parameters and a `group`), `questions/{id}`; `result_info/question/{id}`,
//! `result_data/question/{id}`; `sensors`, `sensors/by-name/{name}`, `sensors/{id}`;
//! `saved_questions`, `saved_questions/by-name/{name}`, `saved_questions/{id}`,
//! `result_info/saved_question/{id}`, `result_data/saved_question/{id}`;
//! `result_data/action/{id}` (with `row_counts_only_flag`); `system_status`. Routes not
//! marked otherwise are GET.
//! Collections end with a cache-info object; paging is `row_start`/`row_count`/`cache_id` in
//! the `tanium-options` header or the query string; errors are `{"text": "<status>: why"}`.
//!
//! Behaviour over time is derived from the scaled sim clock when a request asks, never
//! from timers: with `time_scale = 1000.0` an action finishes in a fraction of a second.
//! `GET /sim/actions`, `/sim/groups`, `/sim/requests`, `/sim/info` and `/sim/fleet` (the
//! world: fleet, packages, users) expose the inspector over HTTP for tests that drive the
//! `runbook` binary, and `POST /sim/actions/{id}/stop`
//! stops an action as an operator would (as [`RunningSim::stop_action`] does).
//!
//! ```no_run
//! # async fn demo() -> Result<(), runbook_tanium_sim::SimError> {
//! use runbook_tanium_sim::{SimConfig, Simulator};
//!
//! let mut config = SimConfig::default();
//! config.time_scale = 1000.0;
//! let sim = Simulator::start(config).await?;
//! let client = reqwest::Client::new();
//! let package = client
//!     .get(format!("{}/api/v2/packages/by-name/Custom%20Tagging%20-%20Add%20Tags", sim.base_url()))
//!     .header("session", sim.api_token())
//!     .send()
//!     .await;
//! assert!(sim.inspect().actions.is_empty());
//! sim.shutdown().await;
//! # let _ = package;
//! # Ok(())
//! # }
//! ```

pub mod config;
mod describe;
mod inspect;
pub mod question;
mod saved;
mod sensors;
mod server;
mod state;
mod state_file;
mod world;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

pub use config::{
    Endpoint, Faults, GroupDef, PackageDef, PackageEffect, SavedQuestionDef, SimConfig, UserDef,
};
pub use inspect::{
    CreatedGroup, Inspector, IssuedAction, MAX_BODIES, RecordedRequest, RequestCount,
};
pub use state_file::StateStatus;

/// Why the simulator could not start or load its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// Address asked for.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Other I/O failure while serving.
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The YAML fleet file is invalid.
    #[error("invalid fleet file: {0}")]
    Fleet(String),
    /// The configuration is inconsistent.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The state file cannot be read, is not a state file of this world, is in use, or cannot
    /// be written; the message names the file.
    #[error("{0}")]
    State(String),
}

/// Entry points.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `127.0.0.1:0` and serves in a tokio task.
    pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
        Simulator::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Binds the given address and serves in a tokio task.
    pub async fn start_on(config: SimConfig, address: SocketAddr) -> Result<RunningSim, SimError> {
        let shared = Arc::new(state::Shared::new(config)?);
        Simulator::launch(shared, None, address).await
    }

    /// Binds the given address and serves in a tokio task, with the state of `state_file`
    /// (`runbook sim --state FILE`): what it holds is restored (a corrupt or foreign file, or
    /// one written for another fleet, is an error naming it), and every change a client makes
    /// is written to it before the answer leaves, so that a simulator killed and started
    /// again with the same file (and the same fleet) goes on where it was. Its clock goes on
    /// too: the real time the simulator was down has passed for the fleet, at the new time
    /// scale. [`RunningSim::state`] says what was found.
    pub async fn start_with_state(
        config: SimConfig,
        address: SocketAddr,
        state_file: &Path,
    ) -> Result<RunningSim, SimError> {
        let state_file = state_file.to_owned();
        let (shared, persistence, status) =
            tokio::task::spawn_blocking(move || state_file::open(&state_file, config))
                .await
                .map_err(|error| SimError::State(format!("the state reader failed: {error}")))??;
        Simulator::launch(shared, Some((persistence, status)), address).await
    }

    async fn launch(
        shared: Arc<state::Shared>,
        persistence: Option<(Arc<state_file::Persistence>, StateStatus)>,
        address: SocketAddr,
    ) -> Result<RunningSim, SimError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| SimError::Bind { address, source })?;
        let local = listener.local_addr()?;
        let (stop_sender, stop_receiver) = watch::channel(false);
        let mut router = server::router(shared.clone());
        if let Some((persistence, _)) = &persistence {
            router = router.layer(axum::middleware::from_fn_with_state(
                persistence.clone(),
                state_file::save_after_change,
            ));
        }
        let task = tokio::spawn(accept_loop(listener, router, stop_receiver));
        Ok(RunningSim {
            address: local,
            shared,
            persistence,
            stop: stop_sender,
            task,
        })
    }

    /// Foreground server for `runbook sim`: serves on `address` until ctrl-c.
    pub async fn serve(config: SimConfig, address: SocketAddr) -> Result<(), SimError> {
        let sim = Simulator::start_on(config, address).await?;
        tracing::info!(url = %sim.base_url(), "Tanium simulator listening");
        tokio::signal::ctrl_c().await?;
        sim.shutdown().await;
        Ok(())
    }
}

/// The error a service returns to make hyper cut the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose by the fault injector")]
struct DroppedOnPurpose;

/// Our own accept loop instead of `axum::serve`, because a dropped connection (a fault) is
/// only possible by failing the hyper service, which `axum::serve` does not allow.
async fn accept_loop(listener: TcpListener, router: axum::Router, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let router = router.clone();
                        async move {
                            let response = match router.oneshot(request.map(axum::body::Body::new)).await {
                                Ok(response) => response,
                                Err(never) => match never {},
                            };
                            if response.extensions().get::<server::DropConnection>().is_some() {
                                Err(DroppedOnPurpose)
                            } else {
                                Ok(response)
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// A simulator serving in the background.
#[derive(Debug)]
pub struct RunningSim {
    address: SocketAddr,
    shared: Arc<state::Shared>,
    persistence: Option<(Arc<state_file::Persistence>, StateStatus)>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT` (clients append `/api/v2/...`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A valid API token of the default user.
    pub fn api_token(&self) -> String {
        self.shared.config.users[0].api_token.clone()
    }

    /// Username and password of the default user.
    pub fn credentials(&self) -> (String, String) {
        let user = &self.shared.config.users[0];
        (user.name.clone(), user.password.clone())
    }

    /// The API token of a second user, who may approve the default user's actions.
    pub fn approver_token(&self) -> String {
        self.shared.config.users[1].api_token.clone()
    }

    /// What clients have done so far.
    pub fn inspect(&self) -> Inspector {
        Inspector {
            actions: self.shared.issued_actions(),
            groups: self.shared.created_groups(),
            requests: self.shared.request_counts(),
            most_in_flight: self.shared.most_in_flight(),
            bodies: self.shared.recorded_bodies(),
        }
    }

    /// Replaces the faults injected from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Stops an action as an operator would in the console; unknown ids are ignored. With a
    /// state file, the stop is written to it before this returns (a failed write is logged).
    pub fn stop_action(&self, id: u64) {
        self.shared.stop_action(id);
        if let Some((persistence, _)) = &self.persistence
            && let Err(error) = persistence.save()
        {
            tracing::error!(%error, "the simulator could not keep its state");
        }
    }

    /// The state file, when started with one, and what was found in it.
    pub fn state(&self) -> Option<&StateStatus> {
        self.persistence.as_ref().map(|(_, status)| status)
    }

    /// Stops serving and waits for the server task to end; with a state file, writes it a
    /// last time.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some((persistence, _)) = &self.persistence
            && let Err(error) = persistence.save_in_background().await
        {
            tracing::error!(%error, "the simulator could not keep its state");
        }
    }
}

/// SplitMix64 of two words: the simulator's only source of per-object randomness, so that
/// every delay and outcome is reproducible from the seed.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A number in 0..1 drawn from `hash` for the purpose `slot`.
pub(crate) fn unit(hash: u64, slot: u64) -> f64 {
    (mix(hash, slot) >> 11) as f64 / (1u64 << 53) as f64
}

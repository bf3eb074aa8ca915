//! What every request handler reads: the store, the playbooks offered, the triggers, the limits,
//! and whether the process is shutting down.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use runbook_engine::Platform;
use runbook_serve::{Metrics, Schedules, seal::SecretKey};
use runbook_store::SqlStore;
use tokio::sync::Notify;

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::hooks::handler::Hooks;

/// The most a request body may hold (SPEC-2: 1 MiB); more is answered 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How much an API token and a trigger may ask.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests per second one API token may make (bursts of twice that).
    pub token_per_second: NonZeroU32,
    /// Requests per second one trigger may take (bursts of twice that).
    pub trigger_per_second: NonZeroU32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            token_per_second: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            trigger_per_second: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Where the API's runs go and what they may use, besides the store.
#[derive(Clone)]
pub struct Runtime {
    /// The Tanium connection of this process: `cancel` with `stop_actions` stops actions
    /// through it.
    pub platform: Option<Arc<dyn Platform>>,
    /// The label of that connection's server, as runs record it (`runbook_engine` writes it
    /// with each run's claim): actions of runs that ran elsewhere are not stopped from here.
    pub server: Option<String>,
    /// Wakes an idle worker of this process when a run is queued here.
    pub waker: Option<Arc<Notify>>,
    /// Seals secret inputs of queued runs (`RUNBOOK_SECRET_KEY`).
    pub secret_key: Option<Arc<SecretKey>>,
    /// This process's counters, served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Runtime")
            .field("platform", &self.platform.is_some())
            .field("server", &self.server)
            .field("secret_key", &self.secret_key.is_some())
            .finish_non_exhaustive()
    }
}

/// Everything the API answers from.
#[derive(Debug)]
pub struct Api {
    pub(crate) store: Arc<SqlStore>,
    pub(crate) catalog: Catalog,
    pub(crate) hooks: Hooks,
    pub(crate) schedules: Option<Schedules>,
    pub(crate) runtime: Runtime,
    shutting_down: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Wakes server-sent event streams when the process shuts down.
    pub(crate) stopping: Notify,
    token_limiter: DefaultKeyedRateLimiter<String>,
    trigger_limiter: DefaultKeyedRateLimiter<String>,
}

impl Api {
    /// The API over `store`, offering `catalog`'s valid playbooks and `hooks`' triggers.
    pub fn new(
        store: Arc<SqlStore>,
        catalog: Catalog,
        hooks: Hooks,
        schedules: Option<Schedules>,
        runtime: Runtime,
        limits: Limits,
    ) -> Api {
        let quota = |per_second: NonZeroU32| {
            Quota::per_second(per_second).allow_burst(
                per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)),
            )
        };
        Api {
            store,
            catalog,
            hooks,
            schedules,
            runtime,
            shutting_down: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            stopping: Notify::new(),
            token_limiter: RateLimiter::keyed(quota(limits.token_per_second)),
            trigger_limiter: RateLimiter::keyed(quota(limits.trigger_per_second)),
        }
    }

    /// From now on every request is answered 503 (requests in flight finish), and event streams
    /// end.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.stopping.notify_waiters();
    }

    /// Whether [`Api::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    /// Waits until no request is in flight (event streams are not counted once their answer
    /// started: they end on their own at shutdown).
    pub async fn drained(&self) {
        loop {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// The playbooks offered and refused.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// 429 when `token` asked more than its quota.
    pub(crate) fn check_token_rate(&self, token: &str) -> Result<(), ApiError> {
        limited(&self.token_limiter, token)
    }

    /// 429 when `trigger` took more than its quota.
    pub(crate) fn check_trigger_rate(&self, trigger: &str) -> Result<(), ApiError> {
        limited(&self.trigger_limiter, trigger)
    }
}

fn limited(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Result<(), ApiError> {
    match limiter.check_key(&key.to_owned()) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            Err(ApiError::rate_limited(wait.as_secs() + 1))
        }
    }
}

/// A request in flight (see [`Api::drained`]).
pub(crate) struct InFlight<'a>(&'a Api);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

//! [`FencedStore`]: the store as the process driving one claimed run sees it, and
//! [`Heartbeat`]: the leases of every run one process holds, renewed together.
//!
//! Every write a [`FencedStore`] makes is conditional, in the same statement, on the claim it
//! was given (holder and epoch); once another process has claimed the run, each write fails
//! with a lost-claim error and the engine stops without writing anything more. Before a side
//! effect leaves, [`Store::may_send`] checks the run's lease on the monotonic clock and renews
//! it with a fenced write when it runs short. docs/durability.md argues what this guarantees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use runbook_engine::{
    ApprovalGate, Event, GateState, Lease, NewRun, RecordedStatus, RunFilter, RunRecord, RunStatus,
    RunSummary, StepRecord, Store, StoreError,
};
use serde_json::Value;
use tokio::time::Instant;

use crate::queue::ClaimedRun;
use crate::store::SqlStore;
use crate::writes::Fence;

/// The lease term for a staleness: a holder stops sending well before another process may
/// take its run (the rest is a margin for clocks that run at slightly different rates and
/// for the heartbeat's own round trip).
pub fn lease_term(stale_after: Duration) -> Duration {
    stale_after.mul_f64(0.75)
}

/// The store of one claimed run: every write fenced by the claim, sends gated by its lease.
#[derive(Debug, Clone)]
pub struct FencedStore {
    store: SqlStore,
    lease: Lease,
    fence: Fence,
    send_grace: Option<Duration>,
    hold_off_until: Option<Instant>,
    /// The server a run this store creates runs against (see [`SqlStore::record_server`]).
    server: Option<String>,
}

impl FencedStore {
    /// The store as `lease`'s holder sees it. `send_grace` (how long this process's requests
    /// may take) is recorded with a run this store creates.
    pub fn new(store: SqlStore, lease: Lease, send_grace: Option<Duration>) -> FencedStore {
        let fence = Fence {
            holder: lease.holder().to_owned(),
            epoch: lease.epoch(),
        };
        FencedStore {
            store,
            lease,
            fence,
            send_grace,
            hold_off_until: None,
            server: None,
        }
    }

    /// Records `server` (a Tanium URL without credentials, or `sim:in-process`) with the run
    /// this store creates.
    pub fn with_server(mut self, server: Option<String>) -> FencedStore {
        self.server = server;
        self
    }

    /// The store for a run just claimed: its lease runs from `claim_sent` (the instant the
    /// claim statement was sent) for `term`. A run taken from a holder that may be alive
    /// (`previous_alive` says whether the caller knows it is dead) is held off: no unresolved
    /// intent is acted on until that holder's requests have surely landed or timed out.
    pub fn for_claim(
        store: SqlStore,
        claimed: &ClaimedRun,
        holder: &str,
        term: Duration,
        claim_sent: Instant,
        send_grace: Option<Duration>,
        previous_alive: impl Fn(&str) -> bool,
    ) -> FencedStore {
        let lease = Lease::new(
            claimed.record.run_id.clone(),
            holder,
            claimed.epoch,
            term,
            claim_sent,
        );
        let mut fenced = FencedStore::new(store, lease, send_grace);
        if claimed
            .previous_holder
            .as_deref()
            .is_some_and(previous_alive)
        {
            // A holder that recorded no grace (an older build) gets a generous one.
            let grace = claimed
                .previous_grace
                .unwrap_or(Duration::from_secs(65))
                .max(send_grace.unwrap_or_default());
            fenced.hold_off_until = Some(Instant::now() + grace);
        }
        fenced
    }

    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Gives the run back to the queue if this claim still holds it.
    pub async fn release(&self) -> Result<bool, StoreError> {
        self.store
            .release_claim(self.lease.run_id(), &self.fence)
            .await
    }

    /// Gives the run back to the queue, parked until `until` (RFC 3339) or a decision on its
    /// gate, if this claim still holds it.
    pub async fn park(&self, until: &str) -> Result<bool, StoreError> {
        self.store
            .park_claim(self.lease.run_id(), &self.fence, until)
            .await
    }

    fn lost(&self, run_id: &str) -> StoreError {
        StoreError::lost_claim(format!(
            "run {run_id} is no longer held by {} (claim {})",
            self.fence.holder, self.fence.epoch
        ))
    }

    /// Fails with a lost claim (and marks the lease lost) when `result` says so.
    fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result
            && error.is_lost_claim()
        {
            self.lease.lose();
        }
        result
    }
}

#[async_trait]
impl Store for FencedStore {
    fn lease(&self) -> Option<&Lease> {
        Some(&self.lease)
    }

    async fn may_send(&self, run_id: &str) -> Result<(), StoreError> {
        // Enough lease left that a request started now leaves long before another process
        // may take the run; else renew first (after a pause, typically).
        let needed = self.lease.term() / 2;
        if self.lease.remaining().is_some_and(|left| left >= needed) {
            return Ok(());
        }
        if self.lease.is_lost() {
            return Err(self.lost(run_id));
        }
        let sent = Instant::now();
        if !self.store.renew_claim(run_id, &self.fence).await? {
            self.lease.lose();
            return Err(self.lost(run_id));
        }
        self.lease.renewed(sent);
        if self.lease.remaining().is_some_and(|left| left >= needed) {
            Ok(())
        } else {
            Err(StoreError::new(format!(
                "the claim on run {run_id} was renewed too slowly to send safely (the store took longer than {}s); nothing was sent",
                needed.as_secs()
            )))
        }
    }

    fn hold_off_until(&self) -> Option<Instant> {
        self.hold_off_until
    }

    async fn create_run(&self, run: &NewRun) -> Result<(), StoreError> {
        let grace = self
            .send_grace
            .map(|grace| i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
        self.store.create_run_claimed(run, grace).await?;
        match &self.server {
            Some(server) => {
                self.store
                    .record_server(&run.run_id, &self.fence, server)
                    .await
            }
            None => Ok(()),
        }
    }

    async fn step_started(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError> {
        let result = self
            .store
            .step_started_fenced(run_id, step, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn step_finished(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError> {
        let result = self
            .store
            .step_finished_fenced(run_id, step, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn record_intent(
        &self,
        run_id: &str,
        step_id: &str,
        action_name: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .store
            .record_intent_fenced(run_id, step_id, action_name, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn intent_resolved(
        &self,
        run_id: &str,
        step_id: &str,
        action_id: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .store
            .intent_resolved_fenced(run_id, step_id, action_id, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn save_progress(
        &self,
        run_id: &str,
        step_id: &str,
        progress: &Value,
    ) -> Result<(), StoreError> {
        let result = self
            .store
            .save_progress_fenced(run_id, step_id, progress, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn append_event(&self, run_id: &str, event: &Event) -> Result<(), StoreError> {
        let result = self
            .store
            .append_event_fenced(run_id, event, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        outputs: &Value,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let result = self
            .store
            .finish_run_fenced(run_id, status, outputs, error, Some(&self.fence))
            .await;
        self.watch(result)
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        Store::run(&self.store, run_id).await
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RecordedStatus>, StoreError> {
        Store::run_status(&self.store, run_id).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        self.store.list_runs(filter).await
    }

    async fn open_gate(&self, gate: &ApprovalGate) -> Result<(), StoreError> {
        Store::open_gate(&self.store, gate).await
    }

    async fn gate(&self, run_id: &str, step_id: &str) -> Result<Option<GateState>, StoreError> {
        Store::gate(&self.store, run_id, step_id).await
    }

    async fn expire_gate(&self, run_id: &str, step_id: &str) -> Result<(), StoreError> {
        Store::expire_gate(&self.store, run_id, step_id).await
    }
}

/// The leases of every run one process holds, renewed by one heartbeat statement.
#[derive(Debug)]
pub struct Heartbeat {
    store: SqlStore,
    holder: String,
    leases: Mutex<HashMap<String, Lease>>,
}

impl Heartbeat {
    pub fn new(store: SqlStore, holder: impl Into<String>) -> Arc<Heartbeat> {
        Arc::new(Heartbeat {
            store,
            holder: holder.into(),
            leases: Mutex::new(HashMap::new()),
        })
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `lease` renewed until [`Heartbeat::forget`].
    pub fn hold(&self, lease: Lease) {
        self.leases().insert(lease.run_id().to_owned(), lease);
    }

    pub fn forget(&self, run_id: &str) {
        self.leases().remove(run_id);
    }

    /// Renews every claim of this holder; a lease whose claim is gone is marked lost (its
    /// engine stops at once). Returns how many runs the holder still holds.
    pub async fn beat(&self) -> Result<usize, StoreError> {
        let sent = Instant::now();
        let held = self.store.heartbeat_claims(&self.holder).await?;
        let leases: Vec<Lease> = self.leases().values().cloned().collect();
        for lease in leases {
            let still_held = held
                .iter()
                .any(|(run_id, epoch)| run_id == lease.run_id() && *epoch == lease.epoch());
            if still_held {
                lease.renewed(sent);
                continue;
            }
            // Not among the running runs (cancelled while driven, say): ask for this one.
            let fence = Fence {
                holder: self.holder.clone(),
                epoch: lease.epoch(),
            };
            let sent = Instant::now();
            if self.store.renew_claim(lease.run_id(), &fence).await? {
                lease.renewed(sent);
            } else {
                tracing::warn!(
                    run_id = lease.run_id(),
                    holder = %self.holder,
                    epoch = lease.epoch(),
                    "lost the claim on a run (another process took it over); stopping it here"
                );
                lease.lose();
            }
        }
        Ok(held.len())
    }
}

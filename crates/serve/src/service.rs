//! One serve process: its scheduler, its workers, the heartbeat of the runs it holds and its
//! metrics server, started together by [`Service::start`] and stopped together by
//! [`Service::stop`].
//!
//! Stopping: no new claims or firings; the engine's shutdown flips, so that running runs stop
//! at their next checkpoint; their claims go back to the queue. The heartbeat keeps beating
//! until then, so that the runs are not taken over before they are given back.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runbook_engine::{Egress, Pace, Platform, StoreError};
use runbook_playbook::ScheduleFile;
use runbook_store::{Heartbeat, SqlStore, StoreOptions};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::claims::worker_id;
use crate::clock::Clock;
use crate::metrics::{self, Metrics};
use crate::scheduler::{FiringQueue, Scheduler};
use crate::seal::SecretKey;
use crate::worker::{self, WorkerContext};

/// A schedules file to fire, read and checked before the service starts (see
/// [`load_schedules`](crate::load_schedules)); the scheduler reads it again at every firing.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub path: PathBuf,
    pub file: ScheduleFile,
}

/// How one serve process works.
#[derive(Debug, Clone)]
pub struct Config {
    /// The schedules to fire; without them, the process only works the queue.
    pub schedules: Option<Schedules>,
    /// Runs worked on at once (0: only fire schedules).
    pub workers: usize,
    /// Where to serve Prometheus metrics (`/metrics`) and a health check (`/healthz`).
    pub metrics_addr: Option<SocketAddr>,
    /// How often the store is told that this process's runs are alive.
    pub heartbeat: Duration,
    /// A run whose holder has not heart-beaten for this long is taken over (at least twice
    /// `heartbeat`, or live holders lose their runs).
    pub stale_after: Duration,
    /// How often an idle worker looks at the queue for runs queued by other processes.
    pub poll_interval: Duration,
    /// How long this process's requests may take, with a margin
    /// ([`send_grace`](crate::send_grace)), recorded with its claims.
    pub send_grace: Duration,
    /// The playbook clock of the platform (faster against the simulator).
    pub pace: Pace,
    /// The key that opens the secret inputs runs were queued with (`RUNBOOK_SECRET_KEY`,
    /// [`secret_key_from_env`](crate::seal::secret_key_from_env)); without it, a claimed run
    /// with sealed inputs fails.
    pub secret_key: Option<SecretKey>,
    /// Where `http` steps send their requests (the operator's allowed hosts); without it,
    /// they fail.
    pub egress: Option<Arc<dyn Egress>>,
}

/// Opens the store for a serve process of `workers` workers: a connection for each worker,
/// and some for the heartbeat, the scheduler and metrics scrapes.
pub async fn open_store(url: &str, workers: usize) -> Result<SqlStore, StoreError> {
    let options = StoreOptions {
        max_connections: u32::try_from(workers).unwrap_or(u32::MAX).saturating_add(4),
        ..StoreOptions::default()
    };
    let store = SqlStore::open_with(url, &options).await?;
    if store.backend_name() == "sqlite" {
        tracing::info!(
            "the store is a SQLite file: run one serve process on it; use PostgreSQL for several"
        );
    }
    Ok(store)
}

/// A running serve process.
#[derive(Debug)]
pub struct Service {
    worker_id: String,
    store: Arc<SqlStore>,
    stop: watch::Sender<bool>,
    workers: JoinSet<()>,
    scheduler: Option<JoinHandle<()>>,
    stop_heartbeat: watch::Sender<bool>,
    heartbeat: JoinHandle<()>,
    metrics_server: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
    wake: Arc<Notify>,
}

impl Service {
    /// Starts the metrics server (binding its address now, so that a taken port fails the
    /// start), the heartbeat, the scheduler and the workers. Runs go to `platform`; `metrics`
    /// is shared with whatever else counts (the cli counts the Tanium client's requests).
    pub async fn start(
        config: Config,
        store: Arc<SqlStore>,
        platform: Arc<dyn Platform>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Service> {
        let worker_id = worker_id();
        let (stop, stopping) = watch::channel(false);
        let wake = Arc::new(Notify::new());

        let metrics_server = match config.metrics_addr {
            Some(address) => {
                let (bound, server, stop_server) =
                    metrics::bind(address, metrics.clone(), store.clone()).await?;
                tracing::info!(
                    "metrics at http://{bound}/metrics, health at http://{bound}/healthz"
                );
                Some((tokio::spawn(server), stop_server))
            }
            None => None,
        };

        let leases = Heartbeat::new(store.as_ref().clone(), worker_id.clone());
        let (stop_heartbeat, heartbeat_stopped) = watch::channel(false);
        let heartbeat = tokio::spawn(beat(leases.clone(), config.heartbeat, heartbeat_stopped));

        let schedules_path = config
            .schedules
            .as_ref()
            .map(|schedules| schedules.path.display().to_string())
            .unwrap_or_default();
        let scheduler = config.schedules.map(|Schedules { path, file }| {
            let queue: Arc<dyn FiringQueue> = store.clone();
            let scheduler = Scheduler::new(
                path,
                file,
                queue,
                metrics.clone(),
                wake.clone(),
                Clock::system(),
            );
            tokio::spawn(scheduler.run(stopping.clone()))
        });

        let context = Arc::new(WorkerContext {
            store: store.clone(),
            platform,
            pace: config.pace,
            worker_id: worker_id.clone(),
            metrics,
            stale_after: config.stale_after,
            send_grace: config.send_grace,
            leases,
            idle_poll: config.poll_interval,
            wake: wake.clone(),
            shutdown: stopping,
            secret_key: config.secret_key.clone(),
            egress: config.egress.clone(),
        });
        let mut workers = JoinSet::new();
        for index in 0..config.workers {
            workers.spawn(worker::work(context.clone(), index));
        }
        tracing::info!(
            worker_id = %worker_id,
            workers = config.workers,
            schedules = schedules_path,
            store = store.backend_name(),
            "serving"
        );
        Ok(Service {
            worker_id,
            store,
            stop,
            workers,
            scheduler,
            stop_heartbeat,
            heartbeat,
            metrics_server,
            wake,
        })
    }

    /// This process's id in the store's claim columns.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// What wakes an idle worker of this process at once (`notify_one`), for whatever queues
    /// runs in this process (the HTTP API, a trigger), instead of at its next look at the
    /// queue.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Stops claiming and firing, and waits for running runs to stop at their next
    /// checkpoint, or until `hurry` completes (then they are cut off where they are). Gives
    /// back whatever this process still holds. True when every run reached a checkpoint.
    pub async fn stop(mut self, hurry: impl Future<Output = ()>) -> bool {
        let _ = self.stop.send(true);
        let workers = &mut self.workers;
        let drained = tokio::select! {
            () = async { while workers.join_next().await.is_some() {} } => true,
            () = hurry => {
                workers.abort_all();
                false
            }
        };
        if let Some(scheduler) = self.scheduler {
            let _ = scheduler.await;
        }
        // Whatever is still held (a run cut short, a failed release) goes back to the queue
        // for another worker to resume.
        match self.store.release_all(&self.worker_id).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "runs given back to the queue"),
            Err(error) => {
                tracing::error!(%error, "giving runs back failed; other workers take them over once their heartbeat is stale")
            }
        }
        let _ = self.stop_heartbeat.send(true);
        let _ = self.heartbeat.await;
        if let Some((server, stop_server)) = self.metrics_server {
            let _ = stop_server.send(());
            let _ = server.await;
        }
        drained
    }
}

/// One heartbeat for every run this process holds, until `stopped` turns true. Each beat the
/// store accepted renews the runs' leases; a run another process took over (this one was
/// paused past `stale_after`) has its lease marked lost, and its engine stops.
async fn beat(leases: Arc<Heartbeat>, interval: Duration, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        if let Err(error) = leases.beat().await {
            tracing::warn!(%error, "heartbeat failed; runs held for longer than --stale-after may be taken over (their leases run out first, and nothing is sent once they have)");
        }
    }
}

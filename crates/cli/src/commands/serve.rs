//! `runbook serve`: a scheduler that fires schedules into the store's queue, and workers that
//! claim queued runs and run them, in one long-lived process. Several processes (on several
//! machines) share one PostgreSQL store; SQLite serves one process.
//!
//! Shutdown (SIGTERM or SIGINT): stop claiming and firing, flip the engine's shutdown so that
//! running runs stop at their next checkpoint, give their claims back, exit 0. A second signal
//! stops waiting for runs to reach a checkpoint.

mod metrics;
mod scheduler;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use runbook_store::{Heartbeat, SqlStore, StoreOptions};
use runbook_tanium::RequestObserver;
use tokio::sync::{Notify, watch};
use tracing_subscriber::EnvFilter;

use crate::connect::{ConnectArgs, UsageError, connect};
use crate::store::StoreArgs;
use metrics::Metrics;
use scheduler::Scheduler;
use worker::WorkerContext;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The schedules file to fire (see `runbook schedules validate`). Without it, this process
    /// only works the queue.
    #[arg(long, value_name = "FILE")]
    pub schedules: Option<PathBuf>,

    /// Runs this process works on at once (0: only fire schedules).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub workers: usize,

    /// Serve Prometheus metrics at http://ADDR/metrics and a health check at /healthz.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// How logs are written to stderr (RUST_LOG filters them; default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How often this process tells the store that its runs are alive.
    #[arg(long, default_value = "5s", value_parser = duration_arg, value_name = "DURATION")]
    pub heartbeat: Duration,

    /// A run whose worker has not heart-beaten for this long is taken over by another worker
    /// (its process died). At least twice --heartbeat.
    #[arg(long, default_value = "30s", value_parser = duration_arg, value_name = "DURATION")]
    pub stale_after: Duration,

    /// How often an idle worker looks at the queue for runs queued by other processes.
    #[arg(long, default_value = "250ms", value_parser = duration_arg, value_name = "DURATION")]
    pub poll_interval: Duration,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, fields included (for log shippers).
    Json,
}

fn duration_arg(text: &str) -> Result<Duration, String> {
    runbook_playbook::parse_duration(text).map_err(|error| error.to_string())
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // `try_init`: a second initialisation (tests calling `run` twice) keeps the first.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// This process's id in the store's claim columns: host, pid and a random part (a pid is
/// reused after a restart, and the new process must not count the dead one's runs as its own).
fn worker_id() -> String {
    let host = super::run_playbook::host_name();
    // The tail of a UUIDv7 is random.
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[24..])
}

/// How long a request of this process may take, with a margin (a second and a tenth, for a
/// server still creating what it was sent when the client gave up): a process that takes a
/// run over from this one waits that long before it acts on an intent this one left
/// unresolved.
pub fn send_grace(connect: &crate::connect::ConnectArgs) -> Duration {
    let timeout = Duration::from_secs(connect.request_timeout.max(1));
    timeout + Duration::from_secs(1) + timeout / 10
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    if args.workers == 0 && args.schedules.is_none() {
        return Err(UsageError(
            "nothing to serve: give --schedules FILE, or at least one worker".to_owned(),
        )
        .into());
    }
    if args.heartbeat.is_zero() || args.stale_after < args.heartbeat * 2 {
        return Err(UsageError(format!(
            "--stale-after ({:?}) must be at least twice --heartbeat ({:?}), or live workers \
             would lose their runs to others",
            args.stale_after, args.heartbeat
        ))
        .into());
    }
    let Some(url) = args.store.url() else {
        return Err(UsageError(
            "`--store none` keeps no queue; serve needs a store (sqlite://PATH for one process, postgres://... for several)".to_owned(),
        )
        .into());
    };
    // The schedules file is checked before anything starts: a service that cannot read its
    // configuration should fail to start, where the operator is looking.
    let schedules = match &args.schedules {
        Some(path) => Some((
            path.clone(),
            scheduler::load_file(path).map_err(|diagnostics| {
                anstream::eprint!("{diagnostics}");
                UsageError(format!(
                    "{} is not a valid schedules file; `runbook schedules validate` shows the same",
                    path.display()
                ))
            })?,
        )),
        None => None,
    };
    init_logs(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, url, schedules))
}

async fn serve(
    args: ServeArgs,
    url: String,
    schedules: Option<(PathBuf, runbook_playbook::ScheduleFile)>,
) -> anyhow::Result<u8> {
    let options = StoreOptions {
        // Each worker writes through the pool; the heartbeat, the scheduler and scrapes too.
        max_connections: u32::try_from(args.workers)
            .unwrap_or(u32::MAX)
            .saturating_add(4),
        ..StoreOptions::default()
    };
    let store = Arc::new(
        SqlStore::open_with(&url, &options)
            .await
            .map_err(|error| UsageError(error.to_string()))?,
    );
    if store.backend_name() == "sqlite" {
        tracing::info!(
            "the store is a SQLite file: run one serve process on it; use PostgreSQL for several"
        );
    }
    let metrics = Arc::new(Metrics::default());
    let observer: Arc<dyn RequestObserver> = metrics.clone();
    let connection = connect(&args.connect, Some(observer)).await?;
    let worker_id = worker_id();
    let (stop, stopping) = watch::channel(false);
    let wake = Arc::new(Notify::new());

    let metrics_server = match args.metrics_addr {
        Some(address) => {
            let (bound, server, stop_server) =
                metrics::bind(address, metrics.clone(), store.clone()).await?;
            tracing::info!("metrics at http://{bound}/metrics, health at http://{bound}/healthz");
            Some((tokio::spawn(server), stop_server))
        }
        None => None,
    };

    // One heartbeat for every run this process holds. It keeps beating while runs wind down
    // after a signal, so that they are not taken over before they are released. Each beat
    // the store accepted renews the runs' leases; a run another process took over (this one
    // was paused past --stale-after) has its lease marked lost, and its engine stops.
    let leases = Heartbeat::new(store.as_ref().clone(), worker_id.clone());
    let (stop_heartbeat, mut heartbeat_stopped) = watch::channel(false);
    let heartbeat = {
        let leases = leases.clone();
        let interval = args.heartbeat;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = heartbeat_stopped.wait_for(|stop| *stop) => break,
                }
                if let Err(error) = leases.beat().await {
                    tracing::warn!(%error, "heartbeat failed; runs held for longer than --stale-after may be taken over (their leases run out first, and nothing is sent once they have)");
                }
            }
        })
    };

    let scheduler = schedules.map(|(path, file)| {
        let scheduler = Scheduler::new(path, file, store.clone(), metrics.clone(), wake.clone());
        tokio::spawn(scheduler.run(stopping.clone()))
    });

    let context = Arc::new(WorkerContext {
        store: store.clone(),
        platform: connection.platform.clone(),
        pace: connection.pace,
        worker_id: worker_id.clone(),
        metrics: metrics.clone(),
        stale_after: args.stale_after,
        send_grace: send_grace(&args.connect),
        leases,
        idle_poll: args.poll_interval,
        wake,
        shutdown: stopping.clone(),
    });
    let mut workers = tokio::task::JoinSet::new();
    for index in 0..args.workers {
        workers.spawn(worker::work(context.clone(), index));
    }
    tracing::info!(
        worker_id = %worker_id,
        workers = args.workers,
        schedules = args.schedules.as_ref().map(|path| path.display().to_string()).unwrap_or_default(),
        store = store.backend_name(),
        "serving"
    );

    let mut signals = Signals::new()?;
    let signal = signals.next().await;
    tracing::info!(
        signal,
        "stopping: no new runs; running runs stop at their next checkpoint"
    );
    let _ = stop.send(true);
    let drained = tokio::select! {
        () = async { while workers.join_next().await.is_some() {} } => true,
        signal = signals.next() => {
            tracing::warn!(signal, "second signal: not waiting for runs to reach a checkpoint");
            workers.abort_all();
            false
        }
    };
    if let Some(scheduler) = scheduler {
        let _ = scheduler.await;
    }
    // Whatever is still held (a run cut short by a second signal, a failed release) goes back
    // to the queue for another worker to resume.
    match store.release_all(&worker_id).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "runs given back to the queue"),
        Err(error) => {
            tracing::error!(%error, "giving runs back failed; other workers take them over once their heartbeat is stale")
        }
    }
    let _ = stop_heartbeat.send(true);
    let _ = heartbeat.await;
    if let Some((server, stop_server)) = metrics_server {
        let _ = stop_server.send(());
        let _ = server.await;
    }
    connection.close().await;
    store.close().await;
    tracing::info!(drained, "stopped");
    Ok(0)
}

/// SIGTERM (systemd, docker, kill) and SIGINT (Ctrl-C).
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_playbook_durations() {
        assert_eq!(duration_arg("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration_arg("250ms"), Ok(Duration::from_millis(250)));
        assert!(duration_arg("soon").is_err());
    }

    #[test]
    fn worker_ids_differ_between_processes_of_one_host() {
        let first = worker_id();
        let second = worker_id();
        assert_ne!(first, second);
        assert!(
            first.contains(&format!(":{}:", std::process::id())),
            "{first}"
        );
    }
}

//! `runbook serve`: its arguments, its logs and its signals; the service itself (scheduler,
//! workers, heartbeat, metrics) is the `runbook-serve` library.
//!
//! Shutdown (SIGTERM or SIGINT): stop claiming and firing, flip the engine's shutdown so that
//! running runs stop at their next checkpoint, give their claims back, exit 0. A second signal
//! stops waiting for runs to reach a checkpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use runbook_api::Runtime;
use runbook_serve::seal::SecretKey;
use runbook_serve::{Config, Metrics, Schedules, Service};
use runbook_tanium::RequestObserver;
use tracing_subscriber::EnvFilter;

use crate::commands::serve_http::{self, HttpArgs, HttpServer};
use crate::connect::{ConnectArgs, UsageError, connect};
use crate::store::StoreArgs;

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
    pub http: HttpArgs,

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

/// Counts the Tanium client's requests in the service's metrics.
struct CountRequests(Arc<Metrics>);

impl RequestObserver for CountRequests {
    fn exchange(&self, method: &str, path: &str, status: Option<u16>, elapsed: Duration) {
        self.0.exchange(method, path, status, elapsed);
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    if args.workers == 0 && args.schedules.is_none() && args.http.http.is_none() {
        return Err(UsageError(
            "nothing to serve: give --schedules FILE, --http ADDR, or at least one worker"
                .to_owned(),
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
        Some(path) => Some(Schedules {
            path: path.clone(),
            file: runbook_serve::load_schedules(path).map_err(|diagnostics| {
                anstream::eprint!("{diagnostics}");
                UsageError(format!(
                    "{} is not a valid schedules file; `runbook schedules validate` shows the same",
                    path.display()
                ))
            })?,
        }),
        None => None,
    };
    // The playbooks and triggers of --http too: a broken triggers file, or a hook whose secret
    // is not set, stops the start.
    let http = serve_http::prepare(&args.http)?;
    // A key that is set but is not one stops serve at start: runs queued with secret inputs
    // would fail one by one otherwise.
    let secret_key = runbook_serve::seal::secret_key_from_env()
        .map_err(|error| UsageError(error.to_string()))?;
    init_logs(args.log_format);
    if secret_key.is_some() {
        tracing::info!(
            "RUNBOOK_SECRET_KEY is set: the sealed secret inputs of queued runs can be opened"
        );
    } else {
        tracing::info!(
            "RUNBOOK_SECRET_KEY is not set: a queued run with secret inputs will fail here"
        );
    }
    if let Some(schedules) = &schedules {
        // The same rule as `runbook run`: a playbook's `secrets:` must all be set where its
        // steps run. Said at start, where the operator is looking, not only at each firing.
        let is_set = |name: &str| std::env::var_os(name).is_some();
        for (schedule, names) in
            runbook_serve::unset_schedule_secrets(&schedules.path, &schedules.file, is_set)
        {
            tracing::warn!(
                schedule = %schedule,
                "the playbook lists secret(s) {} that are not set in this process's environment: \
                 its runs will fail until they are",
                names.join(", ")
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, url, schedules, secret_key, http))
}

async fn serve(
    args: ServeArgs,
    url: String,
    schedules: Option<Schedules>,
    secret_key: Option<SecretKey>,
    http: Option<serve_http::Prepared>,
) -> anyhow::Result<u8> {
    let store = Arc::new(
        runbook_serve::open_store(&url, args.workers)
            .await
            .map_err(|error| UsageError(error.to_string()))?,
    );
    let metrics = Arc::new(Metrics::default());
    let observer: Arc<dyn RequestObserver> = Arc::new(CountRequests(metrics.clone()));
    let connection = connect(&args.connect, Some(observer)).await?;
    let config = Config {
        schedules: schedules.clone(),
        workers: args.workers,
        metrics_addr: args.metrics_addr,
        heartbeat: args.heartbeat,
        stale_after: args.stale_after,
        poll_interval: args.poll_interval,
        send_grace: args.connect.send_grace(),
        pace: connection.pace,
        secret_key: secret_key.clone(),
        egress: Some(connection.egress.clone()),
    };
    let service = Service::start(
        config,
        store.clone(),
        connection.platform.clone(),
        metrics.clone(),
    )
    .await?;
    let http = match http {
        Some(prepared) => {
            let runtime = Runtime {
                platform: Some(connection.platform.clone()),
                server: crate::commands::run_playbook::recorded_server(&args.connect),
                waker: Some(service.waker()),
                secret_key: secret_key.map(Arc::new),
                metrics,
            };
            Some(HttpServer::start(prepared, store.clone(), schedules, runtime).await?)
        }
        None => None,
    };

    let mut signals = Signals::new()?;
    let signal = signals.next().await;
    tracing::info!(
        signal,
        "stopping: no new runs; running runs stop at their next checkpoint"
    );
    if let Some(http) = http {
        // New requests are answered 503 while those in flight finish; then the port closes.
        http.stop().await;
    }
    let drained = service
        .stop(async {
            let signal = signals.next().await;
            tracing::warn!(
                signal,
                "second signal: not waiting for runs to reach a checkpoint"
            );
        })
        .await;
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
}

//! `runbook serve --http ADDR --playbooks DIR [--triggers FILE]`: its arguments, what is read
//! and checked before anything starts (the playbooks, the triggers file and the secrets its
//! hooks need), and starting and stopping the HTTP side (the `runbook-api` library).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use runbook_api::{Api, Catalog, Hooks, Limits, Listener, Runtime};
use runbook_playbook::{Severity, render_human};
use runbook_serve::Schedules;
use runbook_serve::files::{self, Kind};
use runbook_store::SqlStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::connect::UsageError;

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Serve the HTTP API (/api/v1), the webhook triggers (/hooks), the web console (/),
    /// /metrics and /healthz on ADDR, e.g. 127.0.0.1:8080 (`:0` picks a free port). Every
    /// route but /healthz takes an API token (`runbook tokens create`); the console signs in
    /// with one. Plain HTTP: put a TLS proxy in front (see docs/deploy.md).
    #[arg(long, value_name = "ADDR", requires = "playbooks")]
    pub http: Option<SocketAddr>,

    /// The folder of playbooks the API and the triggers may start (searched recursively;
    /// validated at start: a broken one is reported and not offered).
    #[arg(long, value_name = "DIR", requires = "http")]
    pub playbooks: Option<PathBuf>,

    /// The triggers file: signed webhooks that start playbooks (see `runbook triggers
    /// validate`). Each trigger's secret variable must be set.
    #[arg(long, value_name = "FILE", requires = "http")]
    pub triggers: Option<PathBuf>,

    /// Requests per second one API token may make (bursts of twice that); more are answered
    /// 429 with Retry-After.
    #[arg(long, default_value_t = Limits::default().token_per_second, value_name = "N")]
    pub api_rate: NonZeroU32,

    /// Requests per second one trigger may take (bursts of twice that); more are answered 429.
    #[arg(long, default_value_t = Limits::default().trigger_per_second, value_name = "N")]
    pub hook_rate: NonZeroU32,
}

/// The playbooks and hooks, read and checked before the service starts.
pub struct Prepared {
    address: SocketAddr,
    catalog: Catalog,
    hooks: Hooks,
    limits: Limits,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Prepared")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Reads `--playbooks` and `--triggers`: a triggers file with errors, or a hook whose secret is
/// not set, stops the start (exit 2) with the diagnostics on stderr.
pub fn prepare(args: &HttpArgs) -> anyhow::Result<Option<Prepared>> {
    let (Some(address), Some(folder)) = (args.http, &args.playbooks) else {
        return Ok(None);
    };
    let catalog = Catalog::load(folder).map_err(|error| UsageError(format!("{error:#}")))?;
    let hooks = match &args.triggers {
        None => Hooks::default(),
        Some(path) => {
            let shown = path.display().to_string();
            let source = files::read_text(path, Kind::Triggers)
                .map_err(|error| UsageError(format!("cannot read {shown}: {error}")))?;
            let loaded = runbook_playbook::load_triggers_with_playbooks(
                &shown,
                &source,
                &catalog.playbooks(),
            );
            if !loaded.diagnostics.is_empty() {
                let color = anstream::AutoStream::choice(&std::io::stderr())
                    != anstream::ColorChoice::Never;
                anstream::eprint!("{}", render_human(&loaded.diagnostics, color));
            }
            let errors = loaded
                .diagnostics
                .iter()
                .any(|diagnostic| diagnostic.severity == Severity::Error);
            let file = loaded.file.filter(|_| !errors).ok_or_else(|| {
                UsageError(format!(
                    "{shown} is not a valid triggers file for the playbooks of {}; \
                     `runbook triggers validate {shown} --playbooks {}` shows the same",
                    folder.display(),
                    folder.display()
                ))
            })?;
            Hooks::new(file, |name| std::env::var(name).ok()).map_err(|problems| {
                UsageError(format!(
                    "{shown}: {}; set it in the environment of every serve process",
                    problems.join("; ")
                ))
            })?
        }
    };
    Ok(Some(Prepared {
        address,
        catalog,
        hooks,
        limits: Limits {
            token_per_second: args.api_rate,
            trigger_per_second: args.hook_rate,
        },
    }))
}

/// The HTTP side, serving.
#[derive(Debug)]
pub struct HttpServer {
    api: Arc<Api>,
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl HttpServer {
    /// Binds the address and serves.
    pub async fn start(
        prepared: Prepared,
        store: Arc<SqlStore>,
        schedules: Option<Schedules>,
        runtime: Runtime,
    ) -> anyhow::Result<HttpServer> {
        let Prepared {
            address,
            catalog,
            hooks,
            limits,
        } = prepared;
        for entry in catalog.entries().iter().filter(|entry| !entry.is_offered()) {
            tracing::warn!(
                playbook = %entry.name,
                file = %entry.path.display(),
                "not offered: {}",
                entry.problems.join("; ")
            );
        }
        let offered = catalog.entries().len() - catalog.refused_count();
        let hook_paths: Vec<String> = hooks
            .paths()
            .map(|(path, name)| format!("{path} ({name})"))
            .collect();
        let listener = Listener::bind(address).await?;
        let bound = listener.address();
        let api = Arc::new(Api::new(store, catalog, hooks, schedules, runtime, limits));
        let router = runbook_api::router(api.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = api.clone();
        let task = tokio::spawn(async move {
            listener
                .serve(router, serving, async move {
                    let _ = stopped.await;
                })
                .await;
        });
        if !bound.ip().is_loopback() {
            tracing::info!(
                "the HTTP API listens on {bound}, beyond this machine: serve it behind a TLS \
                 proxy (docs/deploy.md); tokens travel in every request"
            );
        }
        tracing::info!(
            address = %bound,
            playbooks = offered,
            hooks = hook_paths.join(", "),
            "http at http://{bound}/api/v1; the console at http://{bound}/"
        );
        Ok(HttpServer { api, task, stop })
    }

    /// Answers 503 from now on, lets requests in flight finish, and stops.
    pub async fn stop(self) {
        self.api.begin_shutdown();
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

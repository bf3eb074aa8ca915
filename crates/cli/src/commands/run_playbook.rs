//! `runbook run`: run a playbook against Tanium or the built-in simulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use indexmap::IndexMap;
use runbook_engine::run::RunSource;
use runbook_engine::{
    Engine, EventSink, Lease, Planner, Redactor, RunRecord, RunRequest, RunStatus, Store,
};
use runbook_serve::{holder_is_gone, host_name};
use runbook_store::{FencedStore, Heartbeat, SqlStore};
use runbook_tanium::{ObservedExchange, RequestObserver};
use secrecy::SecretString;
use serde_json::Value;

use crate::commands::OutputFormat;
use crate::connect::{ConnectArgs, UsageError, connect};
use crate::inputs::{InputArgs, bind, bind_over, parse_playbook, read_playbook};
use crate::plan_file::{self, PlanIssueGuard, Reviewed, STALE_PLAN, Tolerance};
use crate::recording::{self, Recorder};
use crate::render::{EventFormat, Renderer};
use crate::store::StoreArgs;

/// Exit status when Ctrl-C stops a run.
const INTERRUPTED: u8 = 130;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The playbook file to run. With --plan, the plan's playbook by default (its path as
    /// recorded, read relative to this folder).
    #[arg(required_unless_present = "plan")]
    pub playbook: Option<PathBuf>,

    /// Run exactly this reviewed plan (`runbook plan --out FILE`), with its inputs and
    /// against its server. Refused with exit status 3, nothing sent, when the plan expired or
    /// its file was edited, the playbook, an input or the server differs, or (a live plan)
    /// a package id or its parameter definition, a target text or an endpoint count moved;
    /// checked again before each `issue` step sends its action. Secret inputs are not in the
    /// plan: give them again with --input.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,

    /// With --plan: how far an endpoint count may move from the plan's, as a percentage of
    /// it, e.g. 10%.
    #[arg(long, requires = "plan", value_name = "PERCENT", default_value = "0%", value_parser = Tolerance::parse)]
    pub count_tolerance: Tolerance,

    /// Record the run's HTTP exchanges with Tanium, in order, into FILE (JSON, written at the
    /// end of the run, also when it fails; mode 0600), for `replay:` cases of `runbook test`.
    /// Methods, paths, statuses and bodies only, never headers; every secret, derived
    /// secret, API token, password and session is replaced with [REDACTED]. Works with --sim.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    #[command(flatten)]
    pub inputs: InputArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// How a run is shown, and which secrets it may read.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Allow the playbook to read this environment variable as `secrets.NAME` (repeatable;
    /// the playbook's own `secrets:` list is allowed too).
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<String>,

    /// How to print the run: human lines (a progress display on a terminal), or one JSON
    /// object per event on stdout (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,

    /// The same as --format json.
    #[arg(long)]
    pub json: bool,

    /// Also show each HTTP request and each step as it starts.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl OutputArgs {
    /// Whether events are printed as JSON (`--format json` or `--json`).
    pub fn is_json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }
}

/// Forwards the client's requests to the event stream (and to the recorder of `--record`).
struct RequestEvents(Arc<Renderer>, Redactor, Option<Arc<Recorder>>);

impl RequestObserver for RequestEvents {
    fn exchange_bodies(&self, exchange: &ObservedExchange<'_>) {
        if let Some(recorder) = &self.2 {
            recorder.observe(exchange);
        }
    }

    fn exchange(&self, method: &str, path: &str, status: Option<u16>, elapsed: Duration) {
        // A path can carry an action's name, which a template may have built from a secret.
        self.0.emit(&runbook_engine::Event::RequestSent {
            step_id: None,
            method: method.to_owned(),
            path: self.1.redact_text(path),
            status,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        });
        test_hooks::request_done();
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    if let Some(plan) = &args.plan {
        return run_plan(&args, plan);
    }
    let Some(path) = &args.playbook else {
        return Err(UsageError("a playbook to run (or --plan FILE) is needed".to_owned()).into());
    };
    let source = read_playbook(path)?;
    let playbook = parse_playbook(&path.display().to_string(), &source)?;
    let inputs = bind(&playbook, &args.inputs)?;
    let secrets = read_secrets(&playbook.secrets, &args.output.secrets)?;
    let mut request = RunRequest::new(Arc::new(playbook), inputs);
    request.secrets = secrets;
    request.source = Some(RunSource {
        text: source,
        path: Some(path.display().to_string()),
    });
    execute(
        request,
        None,
        &args.output,
        &args.connect,
        &args.store,
        None,
        args.record.as_deref(),
    )
}

/// `run --plan FILE`: the plan's playbook with its inputs (secret ones given again), refused
/// (exit 3, nothing sent) when the plan no longer holds.
fn run_plan(args: &RunArgs, plan_path: &Path) -> anyhow::Result<u8> {
    let read = match plan_file::read(plan_path) {
        Ok(read) => read,
        Err(error) if error.is::<plan_file::Tampered>() => {
            return Ok(refuse(plan_path, &[error.to_string()]));
        }
        Err(error) => return Err(error),
    };
    let reviewed = Reviewed {
        file: read.file,
        tampered: read.tampered,
        tolerance: args.count_tolerance,
    };
    let path = args
        .playbook
        .clone()
        .unwrap_or_else(|| PathBuf::from(&reviewed.file.playbook.path));
    let source = match read_playbook(&path) {
        Ok(source) => source,
        Err(error) => {
            let mut differences = reviewed.file_differences();
            differences.push(format!("the playbook: {error:#}"));
            return Ok(refuse(plan_path, &differences));
        }
    };
    let playbook = parse_playbook(&path.display().to_string(), &source)?;
    // The plan's inputs, but the secret ones, which are given again (never compared).
    let planned: IndexMap<String, Value> = reviewed
        .file
        .inputs
        .iter()
        .filter(|(name, _)| {
            !playbook
                .inputs
                .get(*name)
                .is_some_and(|declaration| declaration.secret)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let inputs = bind_over(&playbook, &args.inputs, planned).map_err(|error| {
        UsageError(format!(
            "{error:#}\n(a plan holds no secret input: give each again with --input NAME=VALUE)"
        ))
    })?;
    let server = recorded_server(&args.connect);
    let differences = reviewed.differences(&source, &playbook, &inputs, server.as_deref());
    let secrets = read_secrets(&playbook.secrets, &args.output.secrets)?;
    let mut request = RunRequest::new(Arc::new(playbook), inputs);
    request.secrets = secrets;
    request.plan_digest = Some(reviewed.file.digest.clone());
    request.source = Some(RunSource {
        text: source,
        path: Some(path.display().to_string()),
    });
    let checks = PlanChecks {
        reviewed,
        path: plan_path.to_path_buf(),
        differences,
    };
    execute(
        request,
        None,
        &args.output,
        &args.connect,
        &args.store,
        Some(checks),
        args.record.as_deref(),
    )
}

/// What `run --plan` checks: the differences found without the server, and the plan to check
/// the server against.
#[derive(Debug)]
pub struct PlanChecks {
    reviewed: Reviewed,
    path: PathBuf,
    differences: Vec<String>,
}

/// Says why a plan is refused, every difference on a line of its own; the exit status.
fn refuse(plan_path: &Path, differences: &[String]) -> u8 {
    anstream::eprintln!(
        "runbook: refusing to run the plan {} (nothing was sent): it no longer holds:\n  - {}",
        plan_path.display(),
        differences.join("\n  - ")
    );
    STALE_PLAN
}

/// A live plan made again now, compared with the reviewed one (read-only calls and counting
/// questions only).
async fn live_differences(
    checks: &PlanChecks,
    request: &RunRequest,
    connection: &crate::connect::Connection,
) -> Vec<String> {
    let count_wait = connection.pace.real_duration(Duration::from_secs(120));
    let mut now = Planner::new(connection.platform.as_ref())
        .plan_live(&request.playbook, &request.inputs, count_wait)
        .await;
    let definitions = plan_file::fingerprint_packages(
        &connection.platform,
        &plan_file::planned_packages(&now),
        &mut now.problems,
    )
    .await;
    checks
        .reviewed
        .live_differences(&request.playbook, &now, &definitions)
}

/// Runs (or resumes) a run and shows it; the exit code says how it ended.
pub fn execute(
    mut request: RunRequest,
    record: Option<RunRecord>,
    output: &OutputArgs,
    connect_args: &ConnectArgs,
    store_args: &StoreArgs,
    plan: Option<PlanChecks>,
    record_to: Option<&Path>,
) -> anyhow::Result<u8> {
    // Who started it, by name: an `approve` gate never lets its starter decide it.
    if record.is_none() {
        request.started_by = crate::commands::enqueue::started_by("cli");
    }
    // A plan whose server differs is refused before connecting anywhere.
    if let Some(checks) = &plan
        && checks
            .differences
            .iter()
            .any(|difference| difference.starts_with("the server differs"))
    {
        return Ok(refuse(&checks.path, &checks.differences));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let format = if output.is_json() {
            EventFormat::Json
        } else {
            EventFormat::Human {
                verbose: output.verbose,
            }
        };
        let renderer = Arc::new(Renderer::new(format));
        let store = store_args.open().await?;
        // One live process per run: this process claims the run and keeps a heartbeat, so
        // that a `runs resume` elsewhere refuses while it lives; every write it makes is
        // fenced by that claim, and nothing is sent once its lease has run out.
        let holder_id = format!("cli:{}:{}", host_name(), std::process::id());
        let send_grace = connect_args.send_grace();
        let mut record = record;
        let fenced = match &store {
            None => None,
            Some(store) => Some(Arc::new(
                fence(store, &request, &mut record, &holder_id, send_grace)
                    .await?
                    .with_server(recorded_server(connect_args)),
            )),
        };
        let holder = match (&store, &fenced) {
            (Some(store), Some(fenced)) => {
                let leases = Heartbeat::new(store.as_ref().clone(), holder_id.clone());
                if let Some(lease) = fenced.lease() {
                    leases.hold(lease.clone());
                }
                Some(tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(HEARTBEAT_EVERY).await;
                        let _ = leases.beat().await;
                    }
                }))
            }
            _ => None,
        };
        let recorder = record_to.map(|_| Arc::new(Recorder::new()));
        let observer: Arc<dyn RequestObserver> = Arc::new(RequestEvents(
            renderer.clone(),
            request.redactor.clone(),
            recorder.clone(),
        ));
        let connection = connect(connect_args, Some(observer)).await?;
        // A reviewed plan: checked against the server before anything is sent, and again
        // before each `issue` sends its action.
        let mut refusals = None;
        if let Some(checks) = plan {
            let mut differences = checks.differences.clone();
            if checks.reviewed.file.live {
                differences.extend(live_differences(&checks, &request, &connection).await);
            }
            if !differences.is_empty() {
                if let Some(holder) = holder {
                    holder.abort();
                }
                connection.close().await;
                if let Some(store) = store {
                    store.close().await;
                }
                return Ok(refuse(&checks.path, &differences));
            }
            let guard = PlanIssueGuard::new(checks.reviewed, connection.platform.clone());
            refusals = Some(guard.refusals());
            request.issue_guard = Some(Arc::new(guard));
        }
        let mut engine = Engine::new(connection.platform.clone(), renderer.clone())
            .with_pace(connection.pace)
            .with_egress(connection.egress.clone());
        if let Some(fenced) = &fenced {
            engine = engine.with_store(fenced.clone());
        }
        // Ctrl-C stops the run at its next checkpoint (between steps, between the checks of
        // a wait), so that nothing is cut off halfway; a second Ctrl-C quits at once.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        engine = engine.with_shutdown(stopped);
        let run = async {
            match &record {
                Some(record) => engine.resume(&request, record).await,
                None => engine.run(&request).await,
            }
        };
        tokio::pin!(run);
        let outcome = tokio::select! {
            outcome = &mut run => Some(outcome),
            _ = tokio::signal::ctrl_c() => {
                let _ = stop.send(true);
                renderer.finish();
                anstream::eprintln!("stopping at the next checkpoint (Ctrl-C again quits at once)");
                tokio::select! {
                    outcome = &mut run => Some(outcome),
                    _ = tokio::signal::ctrl_c() => None,
                }
            }
        };
        renderer.finish();
        if let (Some(recorder), Some(path)) = (&recorder, record_to) {
            let recording = recorder.finish(
                &request.playbook.name,
                &request.run_id,
                &request.redactor,
                &credentials(&connection),
            );
            match recording::write(path, &recording) {
                Ok(()) => anstream::eprintln!(
                    "runbook: recorded {} exchange(s) in {}",
                    recording.exchanges.len(),
                    path.display()
                ),
                Err(error) => {
                    anstream::eprintln!(
                        "runbook: could not write the recording {}: {error}",
                        path.display()
                    );
                }
            }
        }
        let code = match outcome {
            Some(outcome) => {
                if !output.is_json() && outcome.status == RunStatus::Succeeded {
                    // The run's outputs are its data: stdout, as JSON.
                    println!("{}", serde_json::to_string_pretty(&outcome.outputs)?);
                }
                match outcome.status {
                    RunStatus::Succeeded => 0,
                    RunStatus::Interrupted => match &outcome.error {
                        // Another process took the run over: it is not this one's to resume.
                        Some(lost) => {
                            anstream::eprintln!("stopped: {lost}");
                            1
                        }
                        None => {
                            report_interrupted(
                                &outcome.issued_actions,
                                store.is_some(),
                                &request.run_id,
                            );
                            INTERRUPTED
                        }
                    },
                    // An `issue` step refused by the reviewed plan's check: nothing issued.
                    _ if refusals.as_ref().is_some_and(|refused| {
                        refused.lock().is_ok_and(|refused| !refused.is_empty())
                    }) =>
                    {
                        STALE_PLAN
                    }
                    _ => 1,
                }
            }
            None => {
                report_interrupted(&renderer.issued_actions(), store.is_some(), &request.run_id);
                INTERRUPTED
            }
        };
        if let Some(holder) = holder {
            holder.abort();
        }
        connection.close().await;
        if let Some(store) = store {
            store.close().await;
        }
        Ok(code)
    })
}

/// The connection's own secrets, for a recording to leave out: the simulator's API token and
/// password, or TANIUM_TOKEN and TANIUM_PASSWORD.
fn credentials(connection: &crate::connect::Connection) -> Vec<String> {
    match &connection.sim {
        Some(sim) => vec![sim.api_token(), sim.credentials().1],
        None => ["TANIUM_TOKEN", "TANIUM_PASSWORD"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .filter(|value| !value.trim().is_empty())
            .collect(),
    }
}

/// The store as this process's claim on the run sees it. A new run holds its claim from its
/// first write (claim 1); a run to resume is claimed first, and `record` becomes the record as
/// it is under that claim.
async fn fence(
    store: &Arc<SqlStore>,
    request: &RunRequest,
    record: &mut Option<RunRecord>,
    holder_id: &str,
    send_grace: Duration,
) -> anyhow::Result<FencedStore> {
    let term = runbook_store::lease_term(STALE_AFTER);
    if record.is_none() {
        return Ok(FencedStore::new(
            store.as_ref().clone(),
            Lease::new(
                request.run_id.clone(),
                holder_id.to_owned(),
                1,
                term,
                tokio::time::Instant::now(),
            ),
            Some(send_grace),
        ));
    }
    let claim_sent = tokio::time::Instant::now();
    let claimed = claim_for_resume(store, &request.run_id, holder_id, send_grace).await?;
    if claimed
        .previous_holder
        .as_deref()
        .is_some_and(|previous| !holder_is_gone(previous))
    {
        anstream::eprintln!(
            "taking the run over from {} (no heartbeat for {}s): its last request is given {}s to land before this process acts on it",
            claimed.previous_holder.as_deref().unwrap_or_default(),
            STALE_AFTER.as_secs(),
            claimed.previous_grace.unwrap_or(send_grace).as_secs()
        );
    }
    // The record as it is now that this process holds the run.
    *record = Some(claimed.record.clone());
    // The resume is part of the run's history (`runs show`): when, by whom, under which claim.
    store
        .record_resume(
            &request.run_id,
            &runbook_store::Fence {
                holder: holder_id.to_owned(),
                epoch: claimed.epoch,
            },
            &crate::commands::enqueue::started_by("cli"),
            claimed.previous_holder.as_deref(),
        )
        .await
        .map_err(|error| UsageError(error.to_string()))?;
    Ok(FencedStore::for_claim(
        store.as_ref().clone(),
        &claimed,
        holder_id,
        term,
        claim_sent,
        Some(send_grace),
        |previous| !holder_is_gone(previous),
    ))
}

/// What a run records as its server: `sim:in-process` for `--sim`, else the Tanium URL
/// without credentials (no user information, query or fragment). Never a token.
pub fn recorded_server(args: &ConnectArgs) -> Option<String> {
    if args.sim {
        // A simulator that keeps its state in a file can be started again on that file.
        if let Some(file) = &args.sim_state {
            let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            return Some(format!("{SIM_STATE_PREFIX}{}", file.display()));
        }
        return Some(SIM_IN_PROCESS.to_owned());
    }
    args.url.as_deref().map(server_without_credentials)
}

/// The server recorded for a run against the simulator `--sim` starts in its own process.
pub const SIM_IN_PROCESS: &str = "sim:in-process";

/// The server recorded for a run against `--sim --sim-state FILE`: this prefix, then the
/// file's absolute path. A resume starts the simulator again on that file.
pub const SIM_STATE_PREFIX: &str = "sim:state:";

/// A URL without user information, query or fragment, and without a trailing slash.
pub fn server_without_credentials(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let joined = match scheme {
        Some(scheme) => format!(
            "{}://{}{path}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ),
        None => format!("{}{path}", host.to_ascii_lowercase()),
    };
    joined.trim_end_matches('/').to_owned()
}

/// How often a running `runbook run` renews its claim on its run.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// After how long without a heartbeat a run's process is taken to be gone.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// Claims a recorded run for `runbook runs resume`: free, held by a process whose heartbeat
/// stopped, or held by a process of this machine that no longer exists. Of several resumes
/// racing for one run, one wins; the others are refused.
async fn claim_for_resume(
    store: &runbook_store::SqlStore,
    run_id: &str,
    holder_id: &str,
    send_grace: Duration,
) -> anyhow::Result<runbook_store::ClaimedRun> {
    let usage = |error: runbook_engine::StoreError| UsageError(error.to_string());
    if let Some(claimed) = store
        .claim_run(run_id, holder_id, STALE_AFTER, Some(send_grace))
        .await
        .map_err(usage)?
    {
        return Ok(claimed);
    }
    let state = store.queue_state(run_id).await.map_err(usage)?;
    // Held by a process of this machine that no longer exists (it crashed or was killed): no
    // need to wait for its heartbeat to go stale, and nothing of it can still be in flight.
    // Taken only under the claim seen here, so that one resume of several wins.
    if let Some(state) = &state
        && let Some(dead) = state
            .claimed_by
            .as_deref()
            .filter(|holder| holder_is_gone(holder))
        && let Some(claimed) = store
            .take_over_run(
                run_id,
                holder_id,
                (dead, state.claim_epoch),
                Some(send_grace),
            )
            .await
            .map_err(usage)?
    {
        return Ok(claimed);
    }
    let state = store.queue_state(run_id).await.ok().flatten();
    let holder = state
        .as_ref()
        .and_then(|state| state.claimed_by.clone())
        .unwrap_or_else(|| "another process".to_owned());
    let beat = state
        .and_then(|state| state.heartbeat_at)
        .unwrap_or_default();
    Err(UsageError(format!(
        "run {run_id} is being run by {holder} (last heartbeat {beat}); it can be resumed once that process is gone for {}s",
        STALE_AFTER.as_secs()
    ))
    .into())
}

fn report_interrupted(issued: &[u64], recorded: bool, run_id: &str) {
    if issued.is_empty() {
        anstream::eprintln!("interrupted: no action had been issued");
    } else {
        let ids: Vec<String> = issued.iter().map(u64::to_string).collect();
        anstream::eprintln!(
            "interrupted: action(s) {} were issued and keep running in Tanium",
            ids.join(", ")
        );
    }
    if recorded {
        anstream::eprintln!("the run is recorded: `runbook runs resume {run_id}` continues it");
    }
}

/// Reads the allowed secrets from the environment; a missing one is a usage error.
pub fn read_secrets(
    listed: &[String],
    allowed: &[String],
) -> anyhow::Result<BTreeMap<String, SecretString>> {
    let mut secrets = BTreeMap::new();
    let mut missing = Vec::new();
    for name in listed.iter().chain(allowed) {
        match std::env::var(name) {
            Ok(value) => {
                secrets.insert(name.clone(), SecretString::from(value));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(UsageError(format!(
                    "the environment variable {name} is not valid UTF-8"
                ))
                .into());
            }
            Err(std::env::VarError::NotPresent) => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(UsageError(format!(
            "secret(s) {} are allowed but not set in the environment",
            missing.join(", ")
        ))
        .into());
    }
    Ok(secrets)
}

/// A hook for the crash tests: `RUNBOOK_TEST_ABORT_AFTER_REQUESTS=N` aborts the process (as a
/// crash would, with no cleanup) right after its Nth HTTP exchange, e.g. between `POST
/// /actions` and recording its answer. Unset, it costs one relaxed atomic load per request.
/// Debug builds only: no release binary carries it.
#[cfg(debug_assertions)]
mod test_hooks {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    const VARIABLE: &str = "RUNBOOK_TEST_ABORT_AFTER_REQUESTS";

    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    static SEEN: AtomicU64 = AtomicU64::new(0);

    pub fn request_done() {
        let limit = LIMIT.get_or_init(|| {
            std::env::var(VARIABLE)
                .ok()
                .and_then(|value| value.parse().ok())
        });
        if let Some(limit) = limit
            && SEEN.fetch_add(1, Ordering::Relaxed) + 1 >= *limit
        {
            std::process::abort();
        }
    }
}

#[cfg(not(debug_assertions))]
mod test_hooks {
    pub fn request_done() {}
}

#[cfg(test)]
mod server_tests {
    use super::server_without_credentials;

    #[test]
    fn a_recorded_server_carries_no_credentials() {
        assert_eq!(
            server_without_credentials("https://alice:s3cret@Tanium.example.com:8443/?token=x#y"),
            "https://tanium.example.com:8443"
        );
        assert_eq!(
            server_without_credentials("http://127.0.0.1:4567/"),
            "http://127.0.0.1:4567"
        );
    }
}

//! `runbook runs list|show|resume|cancel|prune`: the recorded runs.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::{Args, Subcommand};
use runbook_engine::RecordedStatus;
use runbook_engine::{Platform, RunFilter, RunRecord, Store};
use runbook_serve::claims::{DEFAULT_STALE_AFTER, is_interrupted};
use runbook_serve::seal::{SECRET_KEY_ENV, secret_key_from_env, unseal};
use runbook_serve::{RebuildError, SecretInputs};
use runbook_store::{CancelOutcome, SqlStore};

use crate::commands::OutputFormat;
use crate::commands::run_playbook::{
    OutputArgs, SIM_IN_PROCESS, SIM_STATE_PREFIX, execute, read_secrets, server_without_credentials,
};
use crate::connect::{ConnectArgs, ServerArgs, UsageError, connect};
use crate::inputs::{InputArgs, bind_over, parse_playbook};
use crate::store::StoreArgs;

/// How `runs show` lays a run out (JSON and text).
#[path = "runs_show.rs"]
mod show;
use show::{Shown, shown_history, shown_json, shown_text};

const HEAD: Style = AnsiColor::Cyan.on_default().bold();
const DIM: Style = Style::new().dimmed();

#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Clone, Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum RunsCommand {
    /// List recorded runs, newest first.
    List(ListArgs),
    /// Show one run: steps, outputs, timings, requests, errors.
    Show(ShowArgs),
    /// Continue a run that was interrupted (a crash, a kill, a lost machine): finished steps
    /// are not repeated, an issued action is found by name rather than issued again, and waits
    /// keep their original deadlines. Secret inputs must be given again with --input.
    Resume(Box<ResumeArgs>),
    /// Mark a running run as cancelled; with --stop-actions also stop its issued actions in
    /// Tanium.
    Cancel(CancelArgs),
    /// Delete finished runs (succeeded, failed, cancelled) that ended longer ago than
    /// --older-than, with their steps, events and actions' records. Queued, running and
    /// interrupted runs are kept, however old.
    Prune(PruneArgs),
}

/// A status `runs list --status` filters on: a recorded one, or `interrupted` (recorded
/// `running`, its process gone or silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStatus {
    Recorded(RecordedStatus),
    Interrupted,
}

impl std::str::FromStr for ListStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "interrupted" {
            return Ok(ListStatus::Interrupted);
        }
        text.parse::<RecordedStatus>()
            .map(ListStatus::Recorded)
            .map_err(|_| {
                format!(
                    "unknown run status `{text}`; expected one of queued, running, \
                     interrupted, succeeded, failed, cancelled"
                )
            })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only runs with this status: queued, running, interrupted (running, but its process
    /// died or stopped beating), succeeded, failed, cancelled.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<ListStatus>,
    /// Only runs of this playbook (its `name`).
    #[arg(long)]
    pub playbook: Option<String>,
    /// Only runs started since then: a duration back from now (`90m`, `24h`, `7d`) or a time
    /// (`2026-12-01`, `2026-12-01T08:00:00Z`).
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// How to print: a table (human) or a JSON array (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// The same as --format json.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The run's id, or its first characters (at least 4).
    pub run_id: String,
    /// How to print: a report (human) or the whole record with its events (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// The same as --format json.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Delete finished runs that ended before this: a duration back from now (`90d`,
    /// `12h`) or a time (`2026-09-01`, `2026-09-01T00:00:00Z`).
    #[arg(long, value_name = "DURATION|TIME", required = true)]
    pub older_than: String,
    /// How to print what was removed: a sentence (human) or `{"removed": N, "before": TIME}`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The run's id, or its first characters (at least 4).
    pub run_id: String,
    /// Resume against this Tanium server rather than the one the run recorded (a server that
    /// moved, say). Without it, a TANIUM_URL other than the recorded server is refused.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    /// The run's id, or its first characters (at least 4).
    pub run_id: String,
    /// Also stop the actions the run issued, on the Tanium server the run recorded (or the
    /// simulator state file it ran on).
    #[arg(long)]
    pub stop_actions: bool,
    /// With --stop-actions: stop them on this server rather than the one the run recorded.
    #[arg(long, value_name = "URL", requires = "stop_actions")]
    pub server: Option<String>,
    #[command(flatten)]
    pub connect: ServerArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: RunsArgs) -> anyhow::Result<u8> {
    match args.command {
        RunsCommand::List(args) => list(args),
        RunsCommand::Show(args) => show(args),
        RunsCommand::Resume(args) => resume(*args),
        RunsCommand::Cancel(args) => cancel(args),
        RunsCommand::Prune(args) => prune(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The shortest run id prefix `runs show|resume|cancel` accept.
const MIN_PREFIX: usize = 4;

/// How many candidates an ambiguous prefix lists.
const CANDIDATES: u32 = 10;

/// The whole id of the run `given` names: the id itself or its first characters (at least
/// four); an ambiguous prefix is refused with the runs it matches.
pub(crate) async fn resolve(store: &SqlStore, given: &str) -> anyhow::Result<String> {
    let given = given.trim();
    if given.chars().count() < MIN_PREFIX {
        return Err(UsageError(format!(
            "`{given}` is too short to name a run: give its id or at least {MIN_PREFIX} of its \
             first characters (`runbook runs list` shows them)"
        ))
        .into());
    }
    let mut matches = store
        .runs_with_prefix(given, CANDIDATES + 1)
        .await
        .map_err(|error| UsageError(error.to_string()))?;
    if let Some(exact) = matches.iter().find(|id| id.eq_ignore_ascii_case(given)) {
        return Ok(exact.clone());
    }
    match matches.len() {
        0 => Err(UsageError(format!("no run {given} in this store")).into()),
        1 => Ok(matches.remove(0)),
        count => {
            let more = if count > CANDIDATES as usize {
                matches.truncate(CANDIDATES as usize);
                "\n  ... and more: give more characters"
            } else {
                ""
            };
            Err(UsageError(format!(
                "`{given}` names more than one run; give more characters:\n  {}{more}",
                matches.join("\n  ")
            ))
            .into())
        }
    }
}

/// The run `given` names, read whole.
async fn load(store: &SqlStore, given: &str) -> anyhow::Result<RunRecord> {
    let run_id = resolve(store, given).await?;
    Store::run(store, &run_id)
        .await
        .map_err(|error| UsageError(error.to_string()))?
        .ok_or_else(|| UsageError(format!("no run {run_id} in this store")).into())
}

/// The state a run is shown in: its recorded status, except `interrupted` for a run recorded
/// `running` whose process died or stopped beating.
fn shown_state(
    status: RecordedStatus,
    claimed_by: Option<&str>,
    heartbeat_at: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> &'static str {
    if status == RecordedStatus::Running
        && is_interrupted(claimed_by, heartbeat_at, now, DEFAULT_STALE_AFTER)
    {
        "interrupted"
    } else {
        status.as_str()
    }
}

/// A time back from now (`90d`) or a time (`2026-12-01`, RFC 3339), in the store's form.
pub(crate) fn time_before_now(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, UsageError> {
    let text = text.trim();
    let time = if let Ok(duration) = runbook_playbook::parse_duration(text) {
        chrono::TimeDelta::from_std(duration)
            .ok()
            .and_then(|delta| now.checked_sub_signed(delta))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    } else if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        time.with_timezone(&chrono::Utc)
    } else if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_time(chrono::NaiveTime::MIN).and_utc()
    } else {
        return Err(UsageError(format!(
            "`{text}` is neither a duration back from now (`90m`, `24h`, `90d`) nor a time \
             (`2026-12-01`, `2026-12-01T08:00:00Z`)"
        )));
    };
    Ok(time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

fn list(args: ListArgs) -> anyhow::Result<u8> {
    let now = chrono::Utc::now();
    let since = args
        .since
        .as_deref()
        .map(|text| time_before_now(text, now))
        .transpose()?;
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        // Running and interrupted runs are both recorded `running`: which is which is read
        // from their claims, after the query, and the limit applied after that.
        let (status, shown) = match args.status {
            None => (None, None),
            Some(ListStatus::Recorded(RecordedStatus::Running)) => {
                (Some(RecordedStatus::Running), Some("running"))
            }
            Some(ListStatus::Recorded(status)) => (Some(status), None),
            Some(ListStatus::Interrupted) => (Some(RecordedStatus::Running), Some("interrupted")),
        };
        let filter = RunFilter {
            status,
            playbook: args.playbook.clone(),
            limit: if shown.is_some() {
                None
            } else {
                Some(args.limit)
            },
        };
        let runs = store
            .list_runs_with_claims(&filter, since.as_deref())
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        store.close().await;
        let runs: Vec<(&'static str, _)> = runs
            .into_iter()
            .map(|run| {
                let state = shown_state(
                    run.status,
                    run.claimed_by.as_deref(),
                    run.heartbeat_at.as_deref(),
                    now,
                );
                (state, run)
            })
            .filter(|(state, _)| shown.is_none_or(|wanted| wanted == *state))
            .take(args.limit as usize)
            .collect();
        if args.json || args.format == OutputFormat::Json {
            let mut listed = Vec::with_capacity(runs.len());
            for (state, run) in &runs {
                listed.push(serde_json::json!({
                    "run_id": run.run_id,
                    "playbook_name": run.playbook_name,
                    "status": run.status,
                    "state": state,
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    "error": run.error,
                    "claimed_by": run.claimed_by,
                    "heartbeat_at": run.heartbeat_at,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&listed)?);
            return Ok(0);
        }
        if runs.is_empty() {
            anstream::eprintln!("no runs recorded");
            return Ok(0);
        }
        let mut text = format!(
            "{HEAD}{:<36}  {:<24}  {:<11}  {:<27}  error{HEAD:#}\n",
            "run", "playbook", "status", "started"
        );
        for (state, run) in &runs {
            let error = run.error.as_deref().unwrap_or("");
            let _ = writeln!(
                text,
                "{:<36}  {:<24}  {:<11}  {:<27}  {}",
                run.run_id,
                run.playbook_name,
                state,
                run.started_at,
                first_line(error)
            );
        }
        anstream::print!("{text}");
        Ok(0)
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn show(args: ShowArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let record = load(&store, &args.run_id).await?;
        let run_id = record.run_id.clone();
        let events = store
            .events_with_times(&run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        let claim = store
            .queue_state(&run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        let resumes = store
            .resumes(&run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        let server = store
            .server_of(&run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        store.close().await;
        let state = shown_state(
            record.status,
            claim.as_ref().and_then(|claim| claim.claimed_by.as_deref()),
            claim
                .as_ref()
                .and_then(|claim| claim.heartbeat_at.as_deref()),
            chrono::Utc::now(),
        );
        let shown = Shown {
            record,
            events,
            claim,
            resumes,
            server,
            state,
        };
        if args.json || args.format == OutputFormat::Json {
            println!("{}", serde_json::to_string_pretty(&shown_json(&shown)?)?);
        } else {
            anstream::print!("{}{}", shown_text(&shown), shown_history(&shown));
        }
        Ok(0)
    })
}

fn resume(mut args: ResumeArgs) -> anyhow::Result<u8> {
    let (record, server, sealed) = runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let found = async {
            let record = load(&store, &args.run_id).await?;
            let server = store
                .server_of(&record.run_id)
                .await
                .map_err(|error| UsageError(error.to_string()))?;
            let sealed = store
                .sealed_inputs(&record.run_id)
                .await
                .map_err(|error| UsageError(error.to_string()))?;
            Ok::<_, anyhow::Error>((record, server, sealed))
        }
        .await;
        store.close().await;
        found
    })?;
    if !record.status.is_final() {
        let given = args.server.take();
        choose_server(&record.run_id, server.as_deref(), given, &mut args.connect)?;
    }
    match record.status {
        RecordedStatus::Running | RecordedStatus::Queued => {}
        RecordedStatus::Succeeded => {
            anstream::eprintln!("run {} already succeeded; nothing to resume", record.run_id);
            return Ok(0);
        }
        other => {
            anstream::eprintln!(
                "run {} already ended ({other}); nothing to resume",
                record.run_id
            );
            return Ok(1);
        }
    }
    // Recorded inputs, less the secret ones (stored redacted): those must be given again,
    // unless they were sealed with the run.
    let given: Vec<&str> = args
        .inputs
        .input
        .iter()
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.trim()))
        .collect();
    // A run queued with secret inputs kept them sealed: opened with RUNBOOK_SECRET_KEY when it
    // is set and nothing is given again.
    let file = args.inputs.inputs_file.is_some();
    let opened = match &sealed {
        Some(sealed) if given.is_empty() && !file => {
            match secret_key_from_env().map_err(|error| UsageError(error.to_string()))? {
                Some(key) => Some(
                    unseal(&key, &record.run_id, sealed)
                        .map_err(|error| UsageError(error.to_string()))?,
                ),
                None => None,
            }
        }
        _ => None,
    };
    let secret_inputs = match &opened {
        Some(opened) => SecretInputs::Sealed(opened),
        None => SecretInputs::GivenAgain {
            names: &given,
            file,
        },
    };
    let request = runbook_serve::request_from_record(
        &record,
        secret_inputs,
        parse_playbook,
        |playbook, known| bind_over(playbook, &args.inputs, known),
        |playbook| read_secrets(&playbook.secrets, &args.output.secrets),
    )
    .map_err(|error| match error.downcast_ref::<RebuildError>() {
        Some(RebuildError::SecretsNotGiven(_)) if sealed.is_some() => {
            anyhow::anyhow!("{error}, or set {SECRET_KEY_ENV} to the key the run was queued with")
        }
        _ => error,
    })?;
    execute(
        request,
        Some(record),
        &args.output,
        &args.connect,
        &args.store,
        None,
        None,
    )
}

/// The server a resume connects to: the one the run recorded; `--server` when given; a
/// different TANIUM_URL (or `--sim`) refused. A run against the in-process simulator cannot
/// be resumed: that simulator ended with its process.
fn choose_server(
    run_id: &str,
    recorded: Option<&str>,
    server: Option<String>,
    connect: &mut ConnectArgs,
) -> Result<(), UsageError> {
    if let Some(server) = server {
        connect.sim = false;
        connect.url = Some(server);
        return Ok(());
    }
    let Some(recorded) = recorded else {
        // Recorded by a build that did not keep the server: as given.
        return Ok(());
    };
    if recorded == SIM_IN_PROCESS {
        return Err(UsageError(format!(
            "run {run_id} ran against the simulator that `--sim` starts inside its own process, \
             which ended with that process: it cannot be resumed. To try killing and resuming a \
             run, give the simulator a state file (`--sim --sim-state FILE`), or start \
             `runbook sim --state FILE` in another terminal, set TANIUM_URL and TANIUM_TOKEN as \
             it prints, and run the playbook without --sim"
        )));
    }
    if let Some(file) = recorded.strip_prefix(SIM_STATE_PREFIX) {
        // The simulator's world is in its state file: start it again on that file.
        if connect.url.is_some() && !connect.sim {
            return Err(UsageError(format!(
                "run {run_id} ran against the simulator kept in {file}, but TANIUM_URL is set: \
                 unset it to resume against that simulator, or give --server URL"
            )));
        }
        connect.sim = true;
        connect.url = None;
        connect.sim_state = Some(std::path::PathBuf::from(file));
        return Ok(());
    }
    if connect.sim {
        return Err(UsageError(format!(
            "run {run_id} ran against {recorded}; --sim would resume it against a new simulator. \
             Leave out --sim, or give --server URL to resume it against another server"
        )));
    }
    match connect.url.as_deref().map(server_without_credentials) {
        Some(given) if given != recorded => Err(UsageError(format!(
            "run {run_id} ran against {recorded}, but TANIUM_URL is {given}: resuming it \
             elsewhere would issue its actions on another server. Unset TANIUM_URL to resume \
             against {recorded}, or give --server {given} if the run is to go on there"
        ))),
        Some(_) => Ok(()),
        None => {
            connect.url = Some(recorded.to_owned());
            Ok(())
        }
    }
}

fn cancel(args: CancelArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let record = load(&store, &args.run_id).await?;
        let run_id = record.run_id.as_str();
        let recorded_server = store
            .server_of(run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        let outcome = store
            .cancel_run(run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        store.close().await;
        match &outcome {
            CancelOutcome::Cancelled => anstream::eprintln!("run {run_id} cancelled"),
            CancelOutcome::AlreadyFinished(status) => {
                anstream::eprintln!("run {run_id} had already ended ({status})")
            }
            CancelOutcome::NotFound => {
                return Err(UsageError(format!("no run {run_id} in this store")).into());
            }
        }
        let unresolved: Vec<&str> = record
            .intents
            .iter()
            .filter(|intent| intent.action_id.is_none())
            .map(|intent| intent.action_name.as_str())
            .collect();
        let mut actions: Vec<u64> = record
            .intents
            .iter()
            .filter_map(|intent| intent.action_id)
            .collect();
        if !args.stop_actions {
            if !actions.is_empty() || !unresolved.is_empty() {
                let mut named: Vec<String> = actions.iter().map(u64::to_string).collect();
                named.extend(unresolved.iter().map(|name| format!("`{name}`")));
                anstream::eprintln!(
                    "action(s) {} keep running in Tanium; add --stop-actions to stop them",
                    named.join(", ")
                );
            }
            return Ok(0);
        }
        if recorded_server.as_deref() == Some(SIM_IN_PROCESS) && args.server.is_none() {
            anstream::eprintln!(
                "run {run_id} ran against the simulator inside its own process; its actions \
                 ended with that process: nothing to stop"
            );
            return Ok(0);
        }
        let mut server = args.connect.to_connect();
        choose_server(run_id, recorded_server.as_deref(), args.server, &mut server)?;
        let connection = connect(&server, None).await?;
        let mut failed = false;
        // An intent without an action id: the request went out, the answer was not recorded.
        for name in unresolved {
            match connection
                .platform
                .find_action(name, runbook_engine::Lookup::MayExist)
                .await
            {
                Ok(Some(action)) => actions.push(action.action_id),
                Ok(None) => anstream::eprintln!("no action named `{name}` exists: nothing to stop"),
                Err(error) => {
                    failed = true;
                    anstream::eprintln!("could not look up the action named `{name}`: {error}");
                }
            }
        }
        // The `stop_action` step's call: an action that already ended counts as stopped.
        for action_id in actions {
            match runbook_engine::stop_action(connection.platform.as_ref(), action_id).await {
                Ok(outcome) if !outcome.already_ended => {
                    anstream::eprintln!("action {action_id} stopped")
                }
                Ok(outcome) if outcome.stopped => {
                    anstream::eprintln!("action {action_id} was already stopped")
                }
                Ok(outcome) => anstream::eprintln!(
                    "action {action_id} had already ended ({}): nothing to stop",
                    outcome.status
                ),
                Err(error) => {
                    failed = true;
                    anstream::eprintln!("action {action_id} could not be stopped: {error}");
                }
            }
        }
        connection.close().await;
        Ok(if failed { 1 } else { 0 })
    })
}

fn prune(args: PruneArgs) -> anyhow::Result<u8> {
    let before = time_before_now(&args.older_than, chrono::Utc::now())?;
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let removed = store
            .prune_finished(&before)
            .await
            .map_err(|error| UsageError(error.to_string()));
        store.close().await;
        let removed = removed?;
        if args.format == OutputFormat::Json {
            let shown = serde_json::json!({ "removed": removed, "before": before });
            println!("{shown}");
            return Ok(0);
        }
        let runs = if removed == 1 { "run" } else { "runs" };
        anstream::println!(
            "removed {removed} finished {runs} that ended before {before} (queued, running and \
             interrupted runs are kept)"
        );
        Ok(0)
    })
}

//! `runbook runs list|show|resume|cancel`: the recorded runs.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::{Args, Subcommand};
use runbook_engine::RecordedStatus;
use runbook_engine::{Platform, RunFilter, RunRecord, Store};
use runbook_serve::SecretInputs;
use runbook_store::CancelOutcome;

use crate::commands::run_playbook::{OutputArgs, execute, read_secrets};
use crate::connect::{ConnectArgs, UsageError, connect};
use crate::inputs::{InputArgs, bind_over, parse_playbook};
use crate::store::StoreArgs;

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
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only runs with this status (running, succeeded, failed, cancelled, queued).
    #[arg(long)]
    pub status: Option<runbook_engine::RecordedStatus>,
    /// Only runs of this playbook (its `name`).
    #[arg(long)]
    pub playbook: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The run's id.
    pub run_id: String,
    /// Print the whole record (with its events) as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The run's id.
    pub run_id: String,
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
    /// The run's id.
    pub run_id: String,
    /// Also stop the actions the run issued (through the Tanium API).
    #[arg(long)]
    pub stop_actions: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: RunsArgs) -> anyhow::Result<u8> {
    match args.command {
        RunsCommand::List(args) => list(args),
        RunsCommand::Show(args) => show(args),
        RunsCommand::Resume(args) => resume(*args),
        RunsCommand::Cancel(args) => cancel(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn load(store: &dyn Store, run_id: &str) -> anyhow::Result<RunRecord> {
    store
        .run(run_id)
        .await
        .map_err(|error| UsageError(error.to_string()))?
        .ok_or_else(|| UsageError(format!("no run {run_id} in this store")).into())
}

fn list(args: ListArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let filter = RunFilter {
            status: args.status,
            playbook: args.playbook.clone(),
            limit: Some(args.limit),
        };
        let runs = store
            .list_runs(&filter)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        store.close().await;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&runs)?);
            return Ok(0);
        }
        if runs.is_empty() {
            anstream::eprintln!("no runs recorded");
            return Ok(0);
        }
        let mut text = format!(
            "{HEAD}{:<36}  {:<24}  {:<10}  {:<24}  error{HEAD:#}\n",
            "run", "playbook", "status", "started"
        );
        for run in &runs {
            let error = run.error.as_deref().unwrap_or("");
            let _ = writeln!(
                text,
                "{:<36}  {:<24}  {:<10}  {:<24}  {}",
                run.run_id,
                run.playbook_name,
                run.status,
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
        let record = load(store.as_ref(), &args.run_id).await?;
        let events = store
            .events(&args.run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        store.close().await;
        if args.json {
            let mut value = serde_json::to_value(&record)?;
            if let Some(map) = value.as_object_mut() {
                map.insert("events".to_owned(), serde_json::to_value(&events)?);
            }
            println!("{}", serde_json::to_string_pretty(&value)?);
            return Ok(0);
        }
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{HEAD}run {}{HEAD:#}  {}",
            record.run_id, record.status
        );
        let _ = writeln!(
            text,
            "playbook  {} {DIM}(sha256 {}){DIM:#}",
            record.playbook_name,
            record
                .playbook_hash
                .get(..12)
                .unwrap_or(&record.playbook_hash)
        );
        if let Some(path) = &record.playbook_path {
            let _ = writeln!(text, "from      {path}");
        }
        let _ = writeln!(
            text,
            "started   {} by {}",
            record.started_at, record.started_by
        );
        if let Some(finished) = &record.finished_at {
            let _ = writeln!(text, "finished  {finished}");
        }
        let _ = writeln!(text, "inputs    {}", record.inputs);
        let _ = writeln!(text, "\n{HEAD}steps{HEAD:#}");
        for step in &record.steps {
            let _ = writeln!(
                text,
                "  {:<3} {:<16} {:<14} {:<10} attempt {}  {} → {}",
                step.step_index + 1,
                step.step_id,
                step.kind,
                step.status.as_str(),
                step.attempts,
                step.started_at,
                step.finished_at.as_deref().unwrap_or("…")
            );
            if let Some(summary) = &step.request_summary {
                let _ = writeln!(text, "      {summary}");
            }
            if let Some(error) = &step.error {
                let _ = writeln!(text, "      error: {error}");
            }
        }
        if !record.intents.is_empty() {
            let _ = writeln!(text, "\n{HEAD}actions{HEAD:#}");
            for intent in &record.intents {
                let id = intent
                    .action_id
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| "unknown (sent, no answer recorded)".to_owned());
                let _ = writeln!(
                    text,
                    "  {:<16} {}  action {id}",
                    intent.step_id, intent.action_name
                );
            }
        }
        let requests: Vec<String> = events
            .iter()
            .filter_map(|event| match serde_json::to_value(event).ok()? {
                value if value["event"] == "request_sent" => Some(format!(
                    "  {} {} → {}",
                    value["method"].as_str().unwrap_or("?"),
                    value["path"].as_str().unwrap_or("?"),
                    value["status"]
                )),
                _ => None,
            })
            .collect();
        if !requests.is_empty() {
            let _ = writeln!(text, "\n{HEAD}requests{HEAD:#}\n{}", requests.join("\n"));
        }
        if let Some(outputs) = &record.outputs {
            let _ = writeln!(text, "\n{HEAD}outputs{HEAD:#}\n  {outputs}");
        }
        if let Some(error) = &record.error {
            let _ = writeln!(text, "\nerror: {error}");
        }
        anstream::print!("{text}");
        Ok(0)
    })
}

fn resume(args: ResumeArgs) -> anyhow::Result<u8> {
    let record = runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let record = load(store.as_ref(), &args.run_id).await;
        store.close().await;
        record
    })?;
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
    // Recorded inputs, less the secret ones (stored redacted): those must be given again.
    let given: Vec<&str> = args
        .inputs
        .input
        .iter()
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.trim()))
        .collect();
    let request = runbook_serve::request_from_record(
        &record,
        SecretInputs::GivenAgain {
            names: &given,
            file: args.inputs.inputs_file.is_some(),
        },
        parse_playbook,
        |playbook, known| bind_over(playbook, &args.inputs, known),
        |playbook| read_secrets(&playbook.secrets, &args.output.secrets),
    )?;
    execute(
        request,
        Some(record),
        &args.output,
        &args.connect,
        &args.store,
    )
}

fn cancel(args: CancelArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let record = load(store.as_ref(), &args.run_id).await?;
        let outcome = store
            .cancel_run(&args.run_id)
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        store.close().await;
        match &outcome {
            CancelOutcome::Cancelled => anstream::eprintln!("run {} cancelled", args.run_id),
            CancelOutcome::AlreadyFinished(status) => {
                anstream::eprintln!("run {} had already ended ({status})", args.run_id)
            }
            CancelOutcome::NotFound => {
                return Err(UsageError(format!("no run {} in this store", args.run_id)).into());
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
        let connection = connect(&args.connect, None).await?;
        let mut failed = false;
        // An intent without an action id: the request went out, the answer was not recorded.
        for name in unresolved {
            match connection.platform.find_action(name).await {
                Ok(Some(action)) => actions.push(action.action_id),
                Ok(None) => anstream::eprintln!("no action named `{name}` exists: nothing to stop"),
                Err(error) => {
                    failed = true;
                    anstream::eprintln!("could not look up the action named `{name}`: {error}");
                }
            }
        }
        for action_id in actions {
            match connection.platform.stop_action(action_id).await {
                Ok(()) => anstream::eprintln!("action {action_id} stopped"),
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

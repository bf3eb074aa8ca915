//! `runbook enqueue`: validate a playbook, bind its inputs and queue a run for the workers of
//! `runbook serve`; prints the run's id.

use std::path::PathBuf;

use clap::Args;
use runbook_serve::seal::secret_key_from_env;
use runbook_serve::{QueuedRun, queued_run};
use runbook_store::{Enqueued, QueueEntry, SqlStore, StoreOptions};

use crate::commands::OutputFormat;
use crate::connect::UsageError;
use crate::inputs::{InputArgs, bind, parse_playbook, read_playbook};
use crate::store::StoreArgs;

#[derive(Debug, Clone, Args)]
pub struct EnqueueArgs {
    /// The playbook file to queue a run of.
    pub playbook: PathBuf,

    #[command(flatten)]
    pub inputs: InputArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// How to print the queued run: its id alone (human) or
    /// `{"run_id": ..., "playbook": ..., "status": "queued"}` (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

pub fn run(args: EnqueueArgs) -> anyhow::Result<u8> {
    let source = read_playbook(&args.playbook)?;
    let path = args.playbook.display().to_string();
    let playbook = parse_playbook(&path, &source)?;
    let inputs = bind(&playbook, &args.inputs)?;
    // Secret inputs are sealed with the key every serve process of the store has; a key that
    // is set but is not one is refused, whether or not this playbook needs it.
    let key = secret_key_from_env().map_err(|error| UsageError(error.to_string()))?;
    let QueuedRun { run, sealed_inputs } = queued_run(
        &playbook,
        &source,
        Some(path),
        &inputs,
        started_by("enqueue"),
        key.as_ref(),
    )
    .map_err(UsageError)?;
    let Some(url) = args.store.url() else {
        return Err(UsageError(
            "`--store none` keeps no queue; give the store `runbook serve` reads".to_owned(),
        )
        .into());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = SqlStore::open_with(&url, &StoreOptions::default())
            .await
            .map_err(|error| UsageError(error.to_string()))?;
        let entry = QueueEntry {
            sealed_inputs: sealed_inputs.as_deref(),
            ..QueueEntry::default()
        };
        let queued = store.enqueue_entry(&run, &entry).await;
        store.close().await;
        match queued.map_err(|error| UsageError(error.to_string()))? {
            Enqueued::Queued(run_id) => {
                // The id is the command's data: stdout. The rest is a message: stderr.
                match args.format {
                    OutputFormat::Human => println!("{run_id}"),
                    OutputFormat::Json => println!(
                        "{}",
                        serde_json::json!({
                            "run_id": run_id,
                            "playbook": playbook.name,
                            "status": "queued",
                        })
                    ),
                }
                anstream::eprintln!(
                    "queued run {run_id} of {}; a `runbook serve` worker on this store runs it",
                    playbook.name
                );
                Ok(0)
            }
            Enqueued::AlreadyFired | Enqueued::Duplicate(_) => Err(UsageError(format!(
                "run {} was not queued: the store refused it as a duplicate",
                run.run_id
            ))
            .into()),
        }
    })
}

/// `<what>:<user>` when the user is known, for the run's `started_by`.
pub fn started_by(what: &str) -> String {
    match std::env::var("USER").ok().filter(|user| !user.is_empty()) {
        Some(user) => format!("{what}:{user}"),
        None => what.to_owned(),
    }
}

//! `runbook enqueue`: validate a playbook, bind its inputs and queue a run for the workers of
//! `runbook serve`; prints the run's id.

use std::path::PathBuf;

use clap::Args;
use indexmap::IndexMap;
use runbook_engine::NewRun;
use runbook_engine::run::playbook_hash;
use runbook_playbook::Playbook;
use runbook_store::{Enqueued, SqlStore, StoreOptions};
use serde_json::Value;

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
}

pub fn run(args: EnqueueArgs) -> anyhow::Result<u8> {
    let source = read_playbook(&args.playbook)?;
    let path = args.playbook.display().to_string();
    let playbook = parse_playbook(&path, &source)?;
    let inputs = bind(&playbook, &args.inputs)?;
    let run = queued_run(
        &playbook,
        &source,
        Some(path),
        &inputs,
        started_by("enqueue"),
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
        let queued = store.enqueue(&run, None, None).await;
        store.close().await;
        match queued.map_err(|error| UsageError(error.to_string()))? {
            Enqueued::Queued(run_id) => {
                // The id is the command's data: stdout. The rest is a message: stderr.
                println!("{run_id}");
                anstream::eprintln!(
                    "queued run {run_id} of {}; a `runbook serve` worker on this store runs it",
                    playbook.name
                );
                Ok(0)
            }
            Enqueued::AlreadyFired => Err(UsageError(format!(
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

/// The record of a run to queue. A playbook with secret inputs cannot be queued: the store
/// keeps inputs redacted, so the worker that claims the run could not read them back (secrets
/// a worker reads from its own environment, the playbook's `secrets:`, are fine).
pub fn queued_run(
    playbook: &Playbook,
    source: &str,
    path: Option<String>,
    inputs: &IndexMap<String, Value>,
    started_by: String,
) -> Result<NewRun, String> {
    let secret: Vec<&str> = playbook
        .inputs
        .iter()
        .filter(|(_, declaration)| declaration.secret)
        .map(|(name, _)| name.as_str())
        .collect();
    if !secret.is_empty() {
        return Err(format!(
            "playbook {} has secret input(s) {}: a queued run keeps its inputs in the store, \
             where secrets are never written, so a worker could not read them back; read the \
             value from the worker's environment with `secrets:` instead, or use `runbook run`",
            playbook.name,
            secret.join(", ")
        ));
    }
    let inputs = serde_json::to_value(inputs)
        .map_err(|error| format!("the inputs cannot be recorded: {error}"))?;
    Ok(NewRun {
        run_id: new_run_id(),
        playbook_name: playbook.name.clone(),
        playbook_source: source.to_owned(),
        playbook_hash: playbook_hash(source),
        playbook_path: path,
        inputs,
        started_by,
        claimed_by: None,
    })
}

/// A fresh run id: a UUIDv7, as every run id (time-ordered, so queue order is id order).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

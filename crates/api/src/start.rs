//! Queuing a run of an offered playbook, for `POST /api/v1/runs` and the hooks: the inputs
//! bound to the playbook's declarations (every problem named, no value echoed), secret inputs
//! sealed with `RUNBOOK_SECRET_KEY`, the run queued (once per key when there is one), and an
//! idle worker of this process woken.

use indexmap::IndexMap;
use runbook_store::{Enqueued, QueueEntry, RunKey};
use serde_json::Value;

use crate::catalog::Entry;
use crate::error::ApiError;
use crate::state::Api;

/// What [`start_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Started {
    /// A new run, queued under this id.
    Queued(String),
    /// The key was used within its window: the first run's id; nothing was queued.
    Duplicate(String),
}

/// Binds `cli` (text values, read by the declared types as `--input` is) and `given` (typed
/// values) to `entry`'s playbook and queues a run started by `started_by`; with `key`,
/// at most one run per key within its window. Returns the bound inputs too (secrets
/// included: the caller compares, never shows them).
pub(crate) async fn start_run(
    api: &Api,
    entry: &Entry,
    cli: &[(String, String)],
    given: &IndexMap<String, Value>,
    started_by: String,
    key: Option<&RunKey<'_>>,
) -> Result<(Started, IndexMap<String, Value>), ApiError> {
    let Some(playbook) = entry.playbook.as_deref() else {
        return Err(ApiError::not_found(format!(
            "playbook `{}` is not offered",
            entry.name
        )));
    };
    let inputs = runbook_playbook::bind_inputs(playbook, cli, given).map_err(|errors| {
        ApiError::unfit(
            format!("the inputs do not fit playbook `{}`", playbook.name),
            errors.iter().map(ToString::to_string).collect(),
        )
    })?;
    let queued = runbook_serve::queued_run(
        playbook,
        &entry.source,
        Some(entry.path.display().to_string()),
        &inputs,
        started_by,
        api.runtime.secret_key.as_deref(),
    )
    .map_err(ApiError::no_secret_key)?;
    let queue_entry = QueueEntry {
        sealed_inputs: queued.sealed_inputs.as_deref(),
        ..QueueEntry::default()
    };
    let enqueued = match key {
        Some(key) => {
            api.store
                .enqueue_keyed(&queued.run, &queue_entry, key)
                .await?
        }
        None => api.store.enqueue_entry(&queued.run, &queue_entry).await?,
    };
    let started = match enqueued {
        Enqueued::Queued(run_id) => {
            if let Some(waker) = &api.runtime.waker {
                waker.notify_one();
            }
            Started::Queued(run_id)
        }
        Enqueued::Duplicate(run_id) => Started::Duplicate(run_id),
        Enqueued::AlreadyFired => {
            return Err(ApiError::internal(format!(
                "run {} was refused as a duplicate firing",
                queued.run.run_id
            )));
        }
    };
    Ok((started, inputs))
}

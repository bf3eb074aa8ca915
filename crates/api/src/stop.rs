//! Stopping a cancelled run's Tanium actions, as `runbook runs cancel --stop-actions` does:
//! through this process's connection, and only when the run ran against the same server.

use runbook_engine::{Lookup, Store as _};

use crate::error::ApiError;
use crate::runs::no_run;
use crate::state::Api;

/// The action ids stopped (or found already ended), and what could not be stopped, with why.
pub(crate) async fn stop_actions(
    api: &Api,
    run_id: &str,
) -> Result<(Vec<u64>, Vec<String>), ApiError> {
    let record = api.store.run(run_id).await?.ok_or_else(|| no_run(run_id))?;
    let mut actions: Vec<u64> = record
        .intents
        .iter()
        .filter_map(|intent| intent.action_id)
        .collect();
    let unresolved: Vec<&str> = record
        .intents
        .iter()
        .filter(|intent| intent.action_id.is_none())
        .map(|intent| intent.action_name.as_str())
        .collect();
    if actions.is_empty() && unresolved.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut not_stopped = Vec::new();
    let Some(platform) = api.runtime.platform.as_deref() else {
        not_stopped.push(
            "this process has no Tanium connection; use `runbook runs cancel --stop-actions`"
                .to_owned(),
        );
        return Ok((Vec::new(), not_stopped));
    };
    let recorded = api.store.server_of(run_id).await?;
    if recorded
        .as_deref()
        .is_some_and(|server| server.starts_with("sim:"))
    {
        not_stopped.push(
            "the run ran against a simulator of its own process: its actions ended with it"
                .to_owned(),
        );
        return Ok((Vec::new(), not_stopped));
    }
    if let (Some(recorded), Some(ours)) = (&recorded, &api.runtime.server)
        && recorded != ours
    {
        not_stopped.push(format!(
            "the run ran against {recorded}, this process talks to {ours}; use \
             `runbook runs cancel --stop-actions --server {recorded}`"
        ));
        return Ok((Vec::new(), not_stopped));
    }
    // An intent without an action id: the request went out, the answer was not recorded.
    for name in unresolved {
        match platform.find_action(name, Lookup::MayExist).await {
            Ok(Some(action)) => actions.push(action.action_id),
            Ok(None) => {}
            Err(error) => {
                not_stopped.push(format!("action `{name}` could not be looked up: {error}"))
            }
        }
    }
    let mut stopped = Vec::new();
    for action_id in actions {
        match runbook_engine::stop_action(platform, action_id).await {
            Ok(_) => stopped.push(action_id),
            Err(error) => not_stopped.push(format!("action {action_id}: {error}")),
        }
    }
    Ok((stopped, not_stopped))
}

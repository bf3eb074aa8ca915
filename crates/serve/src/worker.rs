//! Worker tasks: claim a run from the queue, run (or resume) it through the engine with the
//! store, and give it back if the process stops before it ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use runbook_engine::{
    Engine, Event, EventSink, Pace, Platform, RunRecord, RunRequest, RunStatus, Store,
};
use runbook_playbook::Playbook;
use runbook_store::{ClaimedRun, FencedStore, Heartbeat, SqlStore, lease_term};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::claims::holder_is_gone;
use crate::metrics::Metrics;
use crate::record::{SecretInputs, request_from_record};
use crate::seal::{KEY_HINT, SECRET_KEY_ENV, SecretKey, unseal};

/// What every worker task of one process shares.
pub struct WorkerContext {
    pub store: Arc<SqlStore>,
    pub platform: Arc<dyn Platform>,
    pub pace: Pace,
    /// This process's id in the claim columns; its heartbeat covers every run it holds.
    pub worker_id: String,
    pub metrics: Arc<Metrics>,
    pub stale_after: Duration,
    /// How long this process's requests may take, with a margin (recorded with its claims).
    pub send_grace: Duration,
    /// The leases of the runs this process holds, renewed by its heartbeat.
    pub leases: Arc<Heartbeat>,
    /// How often an idle worker looks at the queue (sooner when this process fires a run).
    pub idle_poll: Duration,
    pub wake: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
    /// Opens the secret inputs runs were queued with (`RUNBOOK_SECRET_KEY`).
    pub secret_key: Option<SecretKey>,
    /// Where `http` steps send their requests.
    pub egress: Option<Arc<dyn runbook_engine::Egress>>,
}

impl std::fmt::Debug for WorkerContext {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WorkerContext")
            .field("worker_id", &self.worker_id)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

/// Claims and runs until shutdown. Store failures are logged and retried with backoff: the
/// database being away for a while must not end the service.
pub async fn work(context: Arc<WorkerContext>, index: usize) {
    let mut shutdown = context.shutdown.clone();
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // The lease of a claim runs from when the claim was sent, never from its answer.
        let claim_sent = tokio::time::Instant::now();
        let pause = match context
            .store
            .claim_next_with(
                &context.worker_id,
                context.stale_after,
                Some(context.send_grace),
            )
            .await
        {
            Ok(Some(claimed)) => {
                failures = 0;
                execute(&context, claimed, claim_sent).await;
                continue;
            }
            Ok(None) => {
                failures = 0;
                context.idle_poll
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(worker = index, %error, "claiming a run failed; trying again");
                (context.idle_poll * 2u32.saturating_pow(failures.min(6)))
                    .min(Duration::from_secs(30))
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = context.wake.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
    tracing::debug!(worker = index, "worker stopped");
}

async fn execute(context: &WorkerContext, claimed: ClaimedRun, claim_sent: tokio::time::Instant) {
    let store = Arc::new(FencedStore::for_claim(
        context.store.as_ref().clone(),
        &claimed,
        &context.worker_id,
        lease_term(context.stale_after),
        claim_sent,
        Some(context.send_grace),
        |previous| !holder_is_gone(previous),
    ));
    if let Some(lease) = store.lease() {
        context.leases.hold(lease.clone());
    }
    let run_id = claimed.record.run_id.clone();
    run_claimed(context, claimed, &store).await;
    context.leases.forget(&run_id);
}

async fn run_claimed(context: &WorkerContext, claimed: ClaimedRun, store: &Arc<FencedStore>) {
    let record = claimed.record;
    let run_id = record.run_id.clone();
    let resumed = !record.steps.is_empty();
    context.metrics.run_claimed(resumed);
    tracing::info!(
        run_id = %run_id,
        playbook = %record.playbook_name,
        started_by = %record.started_by,
        resumed,
        epoch = claimed.epoch,
        taken_from = claimed.previous_holder.as_deref().unwrap_or(""),
        "claimed run"
    );
    let sealed = claimed.sealed_inputs.as_deref();
    let request = match request_for(&record, sealed, context.secret_key.as_ref()) {
        Ok(request) => request,
        Err(message) => {
            tracing::error!(run_id = %run_id, error = %message, "the run cannot start");
            match store
                .finish_run(&run_id, RunStatus::Failed, &json!({}), Some(&message))
                .await
            {
                Ok(()) => context.metrics.run_finished("failed"),
                Err(error) => {
                    tracing::error!(run_id = %run_id, %error, "recording the failure failed");
                    release(store, &run_id).await;
                }
            }
            return;
        }
    };
    // Latency is measured for a run's first start only; a resumed run's first step is not a
    // scheduling event.
    let due_at = if resumed {
        None
    } else {
        claimed
            .firing_key
            .as_deref()
            .and_then(firing_time)
            .or(claimed.queued_at)
    };
    let sink = Arc::new(RunLog {
        run_id: run_id.clone(),
        metrics: context.metrics.clone(),
        due_at,
        first_step_seen: AtomicBool::new(false),
    });
    let mut engine = Engine::new(context.platform.clone(), sink);
    if let Some(egress) = &context.egress {
        engine = engine.with_egress(egress.clone());
    }
    let engine = engine
        .with_pace(context.pace)
        .with_store(store.clone())
        .with_shutdown(context.shutdown.clone())
        .with_parking();
    let outcome = engine.resume(&request, &record).await;
    if store.lease().is_some_and(|lease| lease.is_lost()) {
        // Another process claimed the run while this one was paused or cut off from the
        // store: it drives the run now; this one wrote nothing after losing it.
        tracing::warn!(
            run_id = %run_id,
            error = outcome.error.as_deref().unwrap_or(""),
            "lost the claim on the run to another process; stopped without writing"
        );
        return;
    }
    if outcome.status == RunStatus::Interrupted
        && let Some(until) = &outcome.parked_until
    {
        // Waiting for people costs no worker: back to the queue until a decision wakes it,
        // or its deadline passes.
        match store.park(until).await {
            Ok(true) => {
                tracing::info!(run_id = %run_id, until = %until, "waiting for approval: parked until a decision")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(run_id = %run_id, %error, "parking the run failed; it goes back to the queue");
                release(store, &run_id).await;
            }
        }
        return;
    }
    if outcome.status == RunStatus::Interrupted {
        if release(store, &run_id).await {
            tracing::info!(run_id = %run_id, "stopped at a checkpoint and went back to the queue");
        }
        return;
    }
    context.metrics.run_finished(outcome.status.as_str());
    // A run the engine could not record as finished (the store failed) is still `running`
    // under this worker's claim; giving it back lets the next claim finish it.
    if release(store, &run_id).await {
        tracing::warn!(
            run_id = %run_id,
            "the run could not be recorded as finished; it went back to the queue"
        );
    }
}

/// Gives a run back to the queue; true when this worker still held it (under this claim).
async fn release(store: &FencedStore, run_id: &str) -> bool {
    match store.release().await {
        Ok(released) => released,
        Err(error) => {
            // The heartbeat stops with the process, so another worker takes it over later.
            tracing::error!(run_id = %run_id, %error, "releasing the run failed");
            false
        }
    }
}

/// The firing time in a firing key `name@RFC3339`.
pub fn firing_time(key: &str) -> Option<DateTime<Utc>> {
    let (_, time) = key.rsplit_once('@')?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// Rebuilds the run's request from its record: the recorded playbook text, the recorded
/// inputs with the secret ones opened from the inputs it was queued with (`sealed`, with this
/// process's `key`; a secret input kept neither way makes the run one a worker cannot run),
/// and the secrets the playbook allows, from this process's environment.
pub fn request_for(
    record: &RunRecord,
    sealed: Option<&str>,
    key: Option<&SecretKey>,
) -> Result<RunRequest, String> {
    let opened = match (sealed, key) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(format!(
                "run {} was queued with secret inputs, sealed with {SECRET_KEY_ENV}, and this \
                 serve process has no {SECRET_KEY_ENV}: set the key the run was queued with \
                 ({KEY_HINT}) in every serve process of this store",
                record.run_id
            ));
        }
        (Some(sealed), Some(key)) => {
            Some(unseal(key, &record.run_id, sealed).map_err(|error| error.to_string())?)
        }
    };
    let secret_inputs = match &opened {
        Some(opened) => SecretInputs::Sealed(opened),
        None => SecretInputs::Refused,
    };
    request_from_record(
        record,
        secret_inputs,
        recorded_playbook,
        |playbook, known| {
            runbook_playbook::bind_inputs(playbook, &[], &known).map_err(|errors| {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("the recorded inputs do not fit: {}", errors.join("; "))
            })
        },
        secrets_from_environment,
    )
    .map_err(|error| error.to_string())
}

fn recorded_playbook(file_name: &str, source: &str) -> anyhow::Result<Playbook> {
    let loaded = runbook_playbook::load(file_name, source);
    loaded.playbook.ok_or_else(|| {
        let text = runbook_playbook::render_human(&loaded.diagnostics, false);
        anyhow::anyhow!("the recorded playbook is invalid:\n{text}")
    })
}

/// The secrets the playbook reads, from this process's environment; all of them, or an error
/// naming those that are not set.
fn secrets_from_environment(playbook: &Playbook) -> anyhow::Result<BTreeMap<String, SecretString>> {
    let mut secrets = BTreeMap::new();
    let mut missing = Vec::new();
    for name in &playbook.secrets {
        match std::env::var(name) {
            Ok(value) => {
                secrets.insert(name.clone(), SecretString::from(value));
            }
            Err(_) => missing.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "secret(s) {} are not set in the environment of this serve process",
            missing.join(", ")
        );
    }
    Ok(secrets)
}

/// A run's events, as structured logs and metrics.
#[derive(Debug)]
struct RunLog {
    run_id: String,
    metrics: Arc<Metrics>,
    /// When the run was due (its firing time, or when it was queued).
    due_at: Option<DateTime<Utc>>,
    first_step_seen: AtomicBool,
}

impl EventSink for RunLog {
    fn emit(&self, event: &Event) {
        let run_id = self.run_id.as_str();
        match event {
            Event::StepStarted { step_id, kind, .. } => {
                if let Some(due_at) = self.due_at
                    && !self.first_step_seen.swap(true, Ordering::Relaxed)
                {
                    let latency = (Utc::now() - due_at).to_std().unwrap_or_default();
                    self.metrics.scheduling_latency(latency);
                    tracing::info!(
                        run_id,
                        step_id = %step_id,
                        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                        "first step started"
                    );
                }
                tracing::debug!(run_id, step_id = %step_id, kind = %kind, "step started");
            }
            Event::StepFinished {
                step_id,
                kind,
                summary,
                elapsed_ms,
                ..
            } => {
                self.metrics
                    .step_finished(kind, "succeeded", Duration::from_millis(*elapsed_ms));
                tracing::info!(run_id, step_id = %step_id, kind = %kind, elapsed_ms, "{summary}");
            }
            Event::StepFailed {
                step_id,
                kind,
                error,
                elapsed_ms,
                continued,
            } => {
                self.metrics
                    .step_finished(kind, "failed", Duration::from_millis(*elapsed_ms));
                tracing::warn!(run_id, step_id = %step_id, kind = %kind, elapsed_ms, continued, error = %error, "step failed");
            }
            Event::ActionIssued {
                step_id,
                action_id,
                name,
                targeted,
                adopted,
            } => tracing::info!(
                run_id,
                step_id = %step_id,
                action_id,
                action_name = %name,
                targeted,
                adopted,
                "action issued"
            ),
            Event::Warning { step_id, message } => {
                tracing::warn!(
                    run_id,
                    step_id = step_id.as_deref().unwrap_or(""),
                    "{message}"
                )
            }
            Event::RunFinished {
                status,
                error,
                elapsed_ms,
                issued_actions,
                ..
            } => tracing::info!(
                run_id,
                status = status.as_str(),
                elapsed_ms,
                actions = ?issued_actions,
                error = error.as_deref().unwrap_or(""),
                "run finished"
            ),
            other => tracing::debug!(run_id, event = other.name(), "run event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn firing_times_are_read_from_firing_keys() {
        let time = firing_time("sweep-windows@2026-03-08T07:00:00Z").expect("a time");
        assert_eq!(time.to_rfc3339(), "2026-03-08T07:00:00+00:00");
        assert_eq!(firing_time("no time here"), None);
        assert_eq!(firing_time("sweep@not-a-time"), None);
    }

    fn record(source: &str, inputs: Value) -> RunRecord {
        RunRecord {
            run_id: "0193a1b2-0000-7000-8000-000000000001".into(),
            playbook_name: "queued".into(),
            playbook_source: source.into(),
            playbook_hash: String::new(),
            playbook_path: Some("queued.yaml".into()),
            inputs,
            started_by: "enqueue:analyst".into(),
            status: runbook_engine::RecordedStatus::Running,
            outputs: None,
            error: None,
            started_at: "2026-11-29T10:00:00.000000Z".into(),
            finished_at: None,
            steps: Vec::new(),
            intents: Vec::new(),
            progress: Default::default(),
        }
    }

    #[test]
    fn a_request_is_rebuilt_from_the_record() {
        let source = "version: 1\nname: queued\ninputs:\n  count: { type: integer }\nsteps:\n  - id: hello\n    log: \"{{ inputs.count }}\"\n";
        let request =
            request_for(&record(source, json!({"count": 3})), None, None).expect("a request");
        assert_eq!(request.run_id, "0193a1b2-0000-7000-8000-000000000001");
        assert_eq!(request.inputs["count"], json!(3));
        assert_eq!(request.started_by, "enqueue:analyst");
    }

    #[test]
    fn records_that_cannot_run_say_why() {
        let invalid = request_for(&record("name: [", json!({})), None, None).expect_err("invalid");
        assert!(
            invalid.contains("recorded playbook is invalid"),
            "{invalid}"
        );
        let secret = "version: 1\nname: queued\ninputs:\n  password: { type: string, secret: true }\nsteps:\n  - id: hello\n    log: hi\n";
        let refused = request_for(
            &record(secret, json!({"password": "[REDACTED]"})),
            None,
            None,
        )
        .expect_err("secret inputs are not in the store");
        assert!(refused.contains("secret"), "{refused}");
        let secrets = "version: 1\nname: queued\nsecrets: [RUNBOOK_TEST_SURELY_UNSET_SECRET]\nsteps:\n  - id: hello\n    log: hi\n";
        let missing =
            request_for(&record(secrets, json!({})), None, None).expect_err("missing secret");
        assert!(
            missing.contains("RUNBOOK_TEST_SURELY_UNSET_SECRET"),
            "{missing}"
        );
    }

    #[test]
    fn sealed_inputs_are_opened_with_this_process_key_or_the_run_fails() {
        let secret = "version: 1\nname: queued\ninputs:\n  password: { type: string, secret: true }\nsteps:\n  - id: hello\n    log: hi\n";
        let record = record(secret, json!({"password": "[REDACTED]"}));
        let key = SecretKey::parse(&"17".repeat(32)).expect("a key");
        let inputs = indexmap::IndexMap::from([("password".to_owned(), json!("Swordfish-4417"))]);
        let sealed = crate::seal::seal(&key, &record.run_id, &inputs);

        let request = request_for(&record, Some(&sealed), Some(&key)).expect("opened");
        assert_eq!(request.inputs["password"], json!("Swordfish-4417"));

        let no_key = request_for(&record, Some(&sealed), None).expect_err("no key");
        assert!(no_key.contains("has no RUNBOOK_SECRET_KEY"), "{no_key}");
        let other = SecretKey::parse(&"18".repeat(32)).expect("a key");
        let wrong = request_for(&record, Some(&sealed), Some(&other)).expect_err("wrong key");
        assert!(
            wrong.contains("wrong RUNBOOK_SECRET_KEY or a damaged record"),
            "{wrong}"
        );
        for message in [no_key, wrong] {
            assert!(!message.contains("Swordfish"), "{message}");
        }
    }
}

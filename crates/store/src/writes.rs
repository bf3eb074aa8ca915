//! The writes of a run, each fenced by a claim when one is given: the statement itself checks
//! that the run is still held by the claim's holder under the claim's epoch, so that a process
//! that lost the run writes nothing more (docs/durability.md). Without a claim (tools, tests)
//! the same statements write unconditionally.

use runbook_engine::{Event, NewRun, RunStatus, StepRecord, StoreError};
use serde_json::Value;

use crate::error::is_unique_violation;
use crate::store::{Backend, SqlStore, json_text, now_text, to_i64};

/// The claim a fenced write is conditional on: the run's holder and the epoch of its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub epoch: i64,
}

/// The fence's holder and epoch as bind values (NULL for an unfenced write).
fn fence_binds(fence: Option<&Fence>) -> (Option<String>, Option<i64>) {
    match fence {
        Some(fence) => (Some(fence.holder.clone()), Some(fence.epoch)),
        None => (None, None),
    }
}

/// Declares a statement written with a fence condition, `{lock}` standing where PostgreSQL
/// takes a share lock on the run's row: a claim of the run waits for the fenced write to
/// commit (and the write sees a claim that committed first), so that no write of an old
/// holder lands after a new claim. SQLite serialises whole writing statements anyway.
macro_rules! fenced_statement {
    ($(#[$meta:meta])* $name:ident = $text:expr) => {
        $(#[$meta])*
        fn $name(postgres: bool) -> &'static str {
            static SQLITE: std::sync::LazyLock<String> =
                std::sync::LazyLock::new(|| $text.replace("{lock}", ""));
            static POSTGRES: std::sync::LazyLock<String> =
                std::sync::LazyLock::new(|| $text.replace("{lock}", " FOR SHARE"));
            if postgres { POSTGRES.as_str() } else { SQLITE.as_str() }
        }
    };
}

// A run started with a claim (by `runbook run`) holds it from its first write: epoch 1.
const INSERT_RUN: &str = "INSERT INTO runs (run_id, playbook_name, playbook_source, \
     playbook_hash, playbook_path, inputs, started_by, status, started_at, claimed_by, \
     heartbeat_at, claim_epoch, send_grace_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9, \
     CASE WHEN $9 IS NULL THEN NULL ELSE $8 END, CASE WHEN $9 IS NULL THEN 0 ELSE 1 END, $10)";

// A resumed step counts one more attempt (or as many as the engine says, if more); keeps its
// first wait deadline so a resumed wait does not start its timeout over; and is refused once
// it succeeded (the `WHERE` leaves a succeeded row untouched and the write affects no row).
fenced_statement!(
    step_started_sql = "INSERT INTO steps (run_id, step_index, step_id, kind, status, \
     attempts, outputs, request_summary, error, started_at, finished_at, deadline) \
     SELECT $1, $2, $3, $4, $5, $6, NULL, $7, NULL, $8, NULL, $9 \
     WHERE ($10 IS NULL OR EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $10 AND fence.claim_epoch = $11{lock})) \
     ON CONFLICT (run_id, step_id) DO UPDATE SET \
     step_index = excluded.step_index, kind = excluded.kind, status = excluded.status, \
     attempts = CASE WHEN steps.attempts + 1 > excluded.attempts \
                     THEN steps.attempts + 1 ELSE excluded.attempts END, \
     outputs = NULL, \
     request_summary = COALESCE(excluded.request_summary, steps.request_summary), \
     error = NULL, started_at = excluded.started_at, finished_at = NULL, \
     deadline = COALESCE(steps.deadline, excluded.deadline) \
     WHERE steps.status <> 'succeeded'"
);

// A step may finish without having started (a skipped step), hence the insert.
fenced_statement!(
    step_finished_sql = "INSERT INTO steps (run_id, step_index, step_id, kind, status, \
     attempts, outputs, request_summary, error, started_at, finished_at, deadline) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
     WHERE ($13 IS NULL OR EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $13 AND fence.claim_epoch = $14{lock})) \
     ON CONFLICT (run_id, step_id) DO UPDATE SET \
     step_index = excluded.step_index, kind = excluded.kind, status = excluded.status, \
     attempts = CASE WHEN excluded.attempts > steps.attempts \
                     THEN excluded.attempts ELSE steps.attempts END, \
     outputs = excluded.outputs, \
     request_summary = COALESCE(excluded.request_summary, steps.request_summary), \
     error = excluded.error, finished_at = excluded.finished_at, \
     deadline = COALESCE(steps.deadline, excluded.deadline)"
);

fenced_statement!(
    insert_intent_sql = "INSERT INTO intents (run_id, step_id, action_name, recorded_at) \
     SELECT $1, $2, $3, $4 \
     WHERE ($5 IS NULL OR EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $5 AND fence.claim_epoch = $6{lock})) \
     ON CONFLICT (run_id, step_id) DO NOTHING"
);

fenced_statement!(
    save_progress_sql = "INSERT INTO step_progress (run_id, step_id, progress, updated_at) \
     SELECT $1, $2, $3, $4 \
     WHERE ($5 IS NULL OR EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $5 AND fence.claim_epoch = $6{lock})) \
     ON CONFLICT (run_id, step_id) DO UPDATE SET \
     progress = excluded.progress, updated_at = excluded.updated_at"
);

fenced_statement!(
    resolve_intent_sql = "UPDATE intents SET action_id = $3, resolved_at = $4 \
     WHERE run_id = $1 AND step_id = $2 AND (action_id IS NULL OR action_id = $3) \
     AND ($5 IS NULL OR EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $5 AND fence.claim_epoch = $6{lock}))"
);

fenced_statement!(
    // The next sequence number is taken in the same statement as the insert; two writers
    // racing on one run (PostgreSQL) collide on the primary key and the loser tries again.
    // Each event records the claim epoch that wrote it.
    append_event_sql = "INSERT INTO events (run_id, sequence, kind, payload, recorded_at, claim_epoch) \
     SELECT $1, COALESCE((SELECT MAX(sequence) FROM events WHERE run_id = $1), 0) + 1, \
     $2, $3, $4, $6 \
     WHERE ($5 IS NULL OR EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $5 AND fence.claim_epoch = $6{lock}))"
);

// A cancellation is final: the engine finishing a run somebody cancelled meanwhile records
// its outputs and time, but the status stays `cancelled`.
const FINISH_RUN: &str = "UPDATE runs SET \
     status = CASE WHEN status = 'cancelled' THEN status ELSE $2 END, \
     outputs = $3, \
     error = CASE WHEN status = 'cancelled' THEN COALESCE(error, $4) ELSE $4 END, \
     finished_at = $5 \
     WHERE run_id = $1 AND ($6 IS NULL OR (claimed_by = $6 AND claim_epoch = $7))";

impl SqlStore {
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    /// After a fenced write changed nothing: `Err(LostClaim)` when the run is no longer held
    /// under `fence` (taken over, released, gone), `Ok(())` when it still is (the write was
    /// refused for another reason, which the caller reports).
    pub(crate) async fn check_fence(
        &self,
        run_id: &str,
        fence: Option<&Fence>,
        doing: &str,
    ) -> Result<(), StoreError> {
        let Some(fence) = fence else {
            return Ok(());
        };
        let held: Option<(Option<String>, i64)> = on_pool!(self, pool => sqlx::query_as(
                "SELECT claimed_by, claim_epoch FROM runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail(doing, error))?;
        match held {
            Some((Some(holder), epoch)) if holder == fence.holder && epoch == fence.epoch => Ok(()),
            Some((holder, epoch)) => Err(StoreError::lost_claim(format!(
                "{doing}: refused, run {run_id} is now held by {} (claim {epoch}), not by {} (claim {})",
                holder
                    .as_deref()
                    .unwrap_or("nobody (it went back to the queue)"),
                fence.holder,
                fence.epoch
            ))),
            None => Err(StoreError::lost_claim(format!(
                "{doing}: refused, run {run_id} is no longer recorded"
            ))),
        }
    }

    async fn write_step(
        &self,
        run_id: &str,
        step: &StepRecord,
        finished: bool,
        fence: Option<&Fence>,
    ) -> Result<u64, StoreError> {
        let step_index = i64::from(step.step_index);
        let attempts = i64::from(step.attempts);
        let outputs = step.outputs.as_ref().map(json_text);
        let finished_at = step.finished_at.clone().unwrap_or_else(now_text);
        let (holder, epoch) = fence_binds(fence);
        let postgres = self.is_postgres();
        let doing = format!(
            "recording that step {} of run {run_id} {}",
            step.step_id,
            if finished { "finished" } else { "started" }
        );
        let result = if finished {
            on_pool!(self, pool => sqlx::query(step_finished_sql(postgres))
                .bind(run_id)
                .bind(step_index)
                .bind(&step.step_id)
                .bind(&step.kind)
                .bind(step.status.as_str())
                .bind(attempts)
                .bind(&outputs)
                .bind(&step.request_summary)
                .bind(&step.error)
                .bind(&step.started_at)
                .bind(&finished_at)
                .bind(&step.deadline)
                .bind(&holder)
                .bind(epoch)
                .execute(pool)
                .await
                .map(|result| result.rows_affected()))
        } else {
            execute_without_flush!(
                self,
                sqlx::query(step_started_sql(postgres))
                    .bind(run_id)
                    .bind(step_index)
                    .bind(&step.step_id)
                    .bind(&step.kind)
                    .bind(step.status.as_str())
                    .bind(attempts)
                    .bind(&step.request_summary)
                    .bind(&step.started_at)
                    .bind(&step.deadline)
                    .bind(&holder)
                    .bind(epoch)
            )
        };
        let affected = result.map_err(|error| self.fail_for_run(run_id, &doing, error))?;
        if affected == 0 {
            self.check_fence(run_id, fence, &doing).await?;
        }
        Ok(affected)
    }

    pub(crate) async fn create_run_claimed(
        &self,
        run: &NewRun,
        send_grace_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let inputs = json_text(&run.inputs);
        let started_at = now_text();
        let result = on_pool!(self, pool => sqlx::query(INSERT_RUN)
            .bind(&run.run_id)
            .bind(&run.playbook_name)
            .bind(&run.playbook_source)
            .bind(&run.playbook_hash)
            .bind(&run.playbook_path)
            .bind(&inputs)
            .bind(&run.started_by)
            .bind(&started_at)
            .bind(&run.claimed_by)
            .bind(send_grace_ms)
            .execute(pool)
            .await
            .map(|_| ()));
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_unique_violation(&error) => Err(StoreError::new(format!(
                "recording run {}: a run with this id is already recorded",
                run.run_id
            ))),
            Err(error) => Err(self.fail(&format!("recording run {}", run.run_id), error)),
        }
    }

    pub(crate) async fn step_started_fenced(
        &self,
        run_id: &str,
        step: &StepRecord,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let affected = self.write_step(run_id, step, false, fence).await?;
        if affected == 0 {
            return Err(StoreError::new(format!(
                "recording that step {} of run {run_id} started: it already succeeded, and a \
                 finished step is not run again",
                step.step_id
            )));
        }
        Ok(())
    }

    pub(crate) async fn step_finished_fenced(
        &self,
        run_id: &str,
        step: &StepRecord,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        self.write_step(run_id, step, true, fence).await?;
        Ok(())
    }

    pub(crate) async fn record_intent_fenced(
        &self,
        run_id: &str,
        step_id: &str,
        action_name: &str,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let doing = format!("recording the intent of step {step_id} of run {run_id}");
        let (holder, epoch) = fence_binds(fence);
        let now = now_text();
        let postgres = self.is_postgres();
        let inserted = on_flushed_pool!(self, pool => sqlx::query(insert_intent_sql(postgres))
            .bind(run_id)
            .bind(step_id)
            .bind(action_name)
            .bind(&now)
            .bind(&holder)
            .bind(epoch)
            .execute(pool)
            .await
            .map(|result| result.rows_affected()))
        .map_err(|error| self.fail_for_run(run_id, &doing, error))?;
        if inserted > 0 {
            return Ok(());
        }
        self.check_fence(run_id, fence, &doing).await?;
        // An intent was there already: fine on resume if it names the same action; a
        // different name would break the lookup that prevents a second action.
        let recorded: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
                "SELECT action_name FROM intents WHERE run_id = $1 AND step_id = $2")
            .bind(run_id)
            .bind(step_id)
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail(&doing, error))?;
        match recorded {
            Some(recorded) if recorded == action_name => Ok(()),
            Some(recorded) => Err(StoreError::new(format!(
                "{doing}: the step already has an intent for action `{recorded}`, not \
                 `{action_name}`"
            ))),
            None => Err(StoreError::new(format!(
                "{doing}: the intent was neither written nor found"
            ))),
        }
    }

    /// Saves a running step's progress (flushed: a resumed rollout must find every wave it
    /// recorded before going on).
    pub(crate) async fn save_progress_fenced(
        &self,
        run_id: &str,
        step_id: &str,
        progress: &Value,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let doing = format!("recording the progress of step {step_id} of run {run_id}");
        let (holder, epoch) = fence_binds(fence);
        let text = json_text(progress);
        let now = now_text();
        let postgres = self.is_postgres();
        let written = on_flushed_pool!(self, pool => sqlx::query(save_progress_sql(postgres))
            .bind(run_id)
            .bind(step_id)
            .bind(&text)
            .bind(&now)
            .bind(&holder)
            .bind(epoch)
            .execute(pool)
            .await
            .map(|result| result.rows_affected()))
        .map_err(|error| self.fail_for_run(run_id, &doing, error))?;
        if written > 0 {
            return Ok(());
        }
        self.check_fence(run_id, fence, &doing).await?;
        Err(StoreError::new(format!("{doing}: the run is not recorded")))
    }

    pub(crate) async fn intent_resolved_fenced(
        &self,
        run_id: &str,
        step_id: &str,
        action_id: u64,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let doing = format!("recording the action of step {step_id} of run {run_id}");
        let action_id_value = to_i64(action_id, "action id")?;
        let (holder, epoch) = fence_binds(fence);
        let now = now_text();
        let postgres = self.is_postgres();
        // Not flushed: a resolution lost in a power cut leaves an intent without an action id,
        // which a resumed run settles by looking the action up by name.
        let affected = on_pool!(self, pool => sqlx::query(resolve_intent_sql(postgres))
            .bind(run_id)
            .bind(step_id)
            .bind(action_id_value)
            .bind(&now)
            .bind(&holder)
            .bind(epoch)
            .execute(pool)
            .await
            .map(|result| result.rows_affected()))
        .map_err(|error| self.fail(&doing, error))?;
        if affected > 0 {
            return Ok(());
        }
        self.check_fence(run_id, fence, &doing).await?;
        let recorded: Option<Option<i64>> = on_pool!(self, pool => sqlx::query_scalar(
                "SELECT action_id FROM intents WHERE run_id = $1 AND step_id = $2")
            .bind(run_id)
            .bind(step_id)
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail(&doing, error))?;
        Err(match recorded {
            None => StoreError::new(format!("{doing}: no intent was recorded for this step")),
            Some(Some(other)) => StoreError::new(format!(
                "{doing}: the intent already resolved to action {other}, not {action_id}"
            )),
            Some(None) => StoreError::new(format!("{doing}: the intent could not be updated")),
        })
    }

    pub(crate) async fn append_event_fenced(
        &self,
        run_id: &str,
        event: &Event,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let doing = format!("recording a {} event of run {run_id}", event.name());
        let payload = serde_json::to_string(event)
            .map_err(|error| StoreError::new(format!("{doing}: {error}")))?;
        let (holder, epoch) = fence_binds(fence);
        let now = now_text();
        let postgres = self.is_postgres();
        let mut collisions = 0;
        loop {
            let result = execute_without_flush!(
                self,
                sqlx::query(append_event_sql(postgres))
                    .bind(run_id)
                    .bind(event.name())
                    .bind(&payload)
                    .bind(&now)
                    .bind(&holder)
                    .bind(epoch)
            );
            match result {
                Ok(0) => {
                    self.check_fence(run_id, fence, &doing).await?;
                    return Err(StoreError::new(format!(
                        "{doing}: the event was not written"
                    )));
                }
                Ok(_) => return Ok(()),
                Err(error) if is_unique_violation(&error) && collisions < 8 => {
                    collisions += 1;
                }
                Err(error) => return Err(self.fail_for_run(run_id, &doing, error)),
            }
        }
    }

    pub(crate) async fn finish_run_fenced(
        &self,
        run_id: &str,
        status: RunStatus,
        outputs: &Value,
        error: Option<&str>,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let doing = format!("recording that run {run_id} {}", status.as_str());
        let outputs = json_text(outputs);
        let (holder, epoch) = fence_binds(fence);
        let now = now_text();
        let affected = on_pool!(self, pool => sqlx::query(FINISH_RUN)
            .bind(run_id)
            .bind(status.as_str())
            .bind(&outputs)
            .bind(error)
            .bind(&now)
            .bind(&holder)
            .bind(epoch)
            .execute(pool)
            .await
            .map(|result| result.rows_affected()))
        .map_err(|error| self.fail(&doing, error))?;
        if affected == 0 {
            self.check_fence(run_id, fence, &doing).await?;
            return Err(StoreError::new(format!(
                "{doing}: the run is not recorded in {}",
                self.location
            )));
        }
        Ok(())
    }
}

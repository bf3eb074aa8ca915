//! [`SqlStore`]: the engine's `Store` trait on SQLite or PostgreSQL.
//!
//! Every write is one SQL statement, so it lands whole or not at all without an explicit
//! transaction (and SQLite's writer lock is taken at the statement's start, where the busy
//! timeout applies, rather than upgraded half-way through a transaction, where it does not).

use async_trait::async_trait;
use runbook_engine::{
    Event, Intent, NewRun, RunFilter, RunRecord, RunStatus, RunSummary, StepRecord, StepStatus,
    Store, StoreError,
};
use serde_json::Value;

use crate::error::{Location, database_error, is_foreign_key_violation, is_unique_violation};

/// The pool behind a store. Both arms run the same SQL text.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite {
        /// `synchronous = NORMAL`: commits survive a crash of the process.
        pool: sqlx::SqlitePool,
        /// `synchronous = FULL`: commits survive a power cut (intents).
        flushed: sqlx::SqlitePool,
    },
    Postgres {
        /// Commits wait for the WAL flush (the server's own setting).
        durable: sqlx::PgPool,
        /// Sessions with `synchronous_commit = off`, for writes whose loss is harmless.
        unflushed: sqlx::PgPool,
    },
}

/// Runs the same body against whichever pool the store holds: `$pool` is bound to a
/// `&SqlitePool` or a `&PgPool`, and sqlx infers the database from it.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite { pool: $pool, .. } => $body,
            Backend::Postgres { durable: $pool, .. } => $body,
        }
    };
}

/// Like `on_pool!`, for writes that must survive a power cut before the engine goes on (an
/// intent is written before the action is sent).
macro_rules! on_flushed_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite { flushed: $pool, .. } => $body,
            Backend::Postgres { durable: $pool, .. } => $body,
        }
    };
}

/// Executes a write whose loss in a crash of the *database server* is harmless (an event, a
/// step marked started) and returns the rows it affected. On PostgreSQL it goes through the
/// pool whose sessions commit without waiting for the WAL flush (`synchronous_commit = off`):
/// a commit costs a disk flush otherwise (~4 ms here). Order is kept: the next durable commit
/// (an intent, a finished step, a finished run) flushes the WAL up to itself, so everything
/// written before it. SQLite commits in WAL mode without a flush anyway.
macro_rules! execute_without_flush {
    ($store:expr, $query:expr) => {
        match &$store.backend {
            Backend::Sqlite { pool, .. } => {
                $query.execute(pool).await.map(|done| done.rows_affected())
            }
            Backend::Postgres { unflushed, .. } => $query
                .execute(unflushed)
                .await
                .map(|done| done.rows_affected()),
        }
    };
}

/// A run store on SQLite or PostgreSQL; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) backend: Backend,
    pub(crate) location: Location,
}

/// What [`SqlStore::cancel_run`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The run was running (or queued) and is now cancelled.
    Cancelled,
    /// The run had already ended with this status; nothing changed.
    AlreadyFinished(String),
    /// No run has this id.
    NotFound,
}

/// The run statuses the schema allows.
const RUN_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// Now, in the fixed-width form every time column uses (text order is time order).
pub(crate) fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

pub(crate) fn json_text(value: &Value) -> String {
    // Serialising a `Value` cannot fail: its keys are strings and it holds no foreign types.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn parse_json(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::new(format!("{what} holds JSON that cannot be read: {error}")))
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::new(format!("{what} {value} is too large to store")))
}

fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::new(format!("the store holds an impossible {what}: {value}")))
}

#[derive(Debug, sqlx::FromRow)]
struct RunRow {
    run_id: String,
    playbook_name: String,
    playbook_source: String,
    playbook_hash: String,
    playbook_path: Option<String>,
    inputs: String,
    started_by: String,
    status: String,
    outputs: Option<String>,
    error: Option<String>,
    started_at: String,
    finished_at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct StepRow {
    step_index: i64,
    step_id: String,
    kind: String,
    status: String,
    attempts: i64,
    outputs: Option<String>,
    request_summary: Option<String>,
    error: Option<String>,
    started_at: String,
    finished_at: Option<String>,
    deadline: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct IntentRow {
    step_id: String,
    action_name: String,
    action_id: Option<i64>,
    recorded_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct SummaryRow {
    run_id: String,
    playbook_name: String,
    status: String,
    started_at: String,
    finished_at: Option<String>,
    error: Option<String>,
}

impl StepRow {
    fn into_record(self, run_id: &str) -> Result<StepRecord, StoreError> {
        let what = format!("step {} of run {run_id}", self.step_id);
        let status = StepStatus::parse(&self.status).ok_or_else(|| {
            StoreError::new(format!("{what} has an unknown status `{}`", self.status))
        })?;
        Ok(StepRecord {
            step_index: to_u32(self.step_index, "step index")?,
            status,
            attempts: to_u32(self.attempts, "attempt count")?,
            outputs: self
                .outputs
                .as_deref()
                .map(|text| parse_json(text, &format!("the outputs of {what}")))
                .transpose()?,
            step_id: self.step_id,
            kind: self.kind,
            request_summary: self.request_summary,
            error: self.error,
            started_at: self.started_at,
            finished_at: self.finished_at,
            deadline: self.deadline,
        })
    }
}

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
     ON CONFLICT (run_id, step_index) DO UPDATE SET \
     step_id = excluded.step_id, kind = excluded.kind, status = excluded.status, \
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
     ON CONFLICT (run_id, step_index) DO UPDATE SET \
     step_id = excluded.step_id, kind = excluded.kind, status = excluded.status, \
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
     SELECT $1, next.sequence, $2, $3, $4, $6 \
     FROM (SELECT COALESCE(MAX(sequence), 0) + 1 AS sequence FROM events WHERE run_id = $1) AS next \
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

const CANCEL_RUN: &str = "UPDATE runs SET status = 'cancelled', finished_at = $2, \
     error = COALESCE(error, 'cancelled') \
     WHERE run_id = $1 AND status IN ('running', 'queued')";

const SELECT_RUN: &str = "SELECT run_id, playbook_name, playbook_source, playbook_hash, \
     playbook_path, inputs, started_by, status, outputs, error, started_at, finished_at \
     FROM runs WHERE run_id = $1";

const SELECT_STEPS: &str = "SELECT step_index, step_id, kind, status, attempts, outputs, \
     request_summary, error, started_at, finished_at, deadline \
     FROM steps WHERE run_id = $1 ORDER BY step_index";

const SELECT_INTENTS: &str = "SELECT step_id, action_name, action_id, recorded_at \
     FROM intents WHERE run_id = $1 ORDER BY recorded_at, step_id";

const LIST_RUNS: &str = "SELECT run_id, playbook_name, status, started_at, finished_at, error \
     FROM runs \
     WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR playbook_name = $2) \
     ORDER BY started_at DESC, run_id DESC LIMIT $3";

const SELECT_STATUS: &str = "SELECT status FROM runs WHERE run_id = $1";

const SELECT_EVENTS: &str = "SELECT payload FROM events WHERE run_id = $1 ORDER BY sequence";

impl SqlStore {
    pub(crate) fn new(backend: Backend, location: Location) -> SqlStore {
        SqlStore { backend, location }
    }

    /// Which database this is (`sqlite` or `postgres`).
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to come back. With SQLite this also
    /// folds the write-ahead log into the database file.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { pool, flushed } => {
                flushed.close().await;
                pool.close().await;
            }
            Backend::Postgres { durable, unflushed } => {
                unflushed.close().await;
                durable.close().await;
            }
        }
    }

    /// Marks a running or queued run cancelled (for `runbook runs cancel`); a run that
    /// already ended keeps its status.
    pub async fn cancel_run(&self, run_id: &str) -> Result<CancelOutcome, StoreError> {
        let now = now_text();
        let affected = on_pool!(self, pool => sqlx::query(CANCEL_RUN)
            .bind(run_id)
            .bind(&now)
            .execute(pool)
            .await
            .map(|result| result.rows_affected()))
        .map_err(|error| self.fail(&format!("cancelling run {run_id}"), error))?;
        if affected > 0 {
            return Ok(CancelOutcome::Cancelled);
        }
        Ok(match self.status_of(run_id).await? {
            Some(status) => CancelOutcome::AlreadyFinished(status),
            None => CancelOutcome::NotFound,
        })
    }

    /// The run's events, in the order they were appended.
    pub async fn events(&self, run_id: &str) -> Result<Vec<Event>, StoreError> {
        let payloads: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(SELECT_EVENTS)
            .bind(run_id)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail(&format!("reading the events of run {run_id}"), error))?;
        payloads
            .iter()
            .map(|payload| {
                serde_json::from_str::<Event>(payload).map_err(|error| {
                    StoreError::new(format!(
                        "an event of run {run_id} cannot be read by this build: {error}"
                    ))
                })
            })
            .collect()
    }

    async fn status_of(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        on_pool!(self, pool => sqlx::query_scalar::<_, String>(SELECT_STATUS)
            .bind(run_id)
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail(&format!("reading the status of run {run_id}"), error))
    }

    pub(crate) fn fail(&self, doing: &str, error: sqlx::Error) -> StoreError {
        database_error(&self.location, doing, error)
    }

    /// Like [`SqlStore::fail`], but a dangling foreign key means the run was never recorded.
    fn fail_for_run(&self, run_id: &str, doing: &str, error: sqlx::Error) -> StoreError {
        if is_foreign_key_violation(&error) {
            StoreError::new(format!(
                "{doing}: run {run_id} is not recorded in {}",
                self.location
            ))
        } else {
            self.fail(doing, error)
        }
    }

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

#[async_trait]
impl Store for SqlStore {
    async fn create_run(&self, run: &NewRun) -> Result<(), StoreError> {
        self.create_run_claimed(run, None).await
    }

    async fn step_started(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError> {
        self.step_started_fenced(run_id, step, None).await
    }

    async fn step_finished(&self, run_id: &str, step: &StepRecord) -> Result<(), StoreError> {
        self.step_finished_fenced(run_id, step, None).await
    }

    async fn record_intent(
        &self,
        run_id: &str,
        step_id: &str,
        action_name: &str,
    ) -> Result<(), StoreError> {
        self.record_intent_fenced(run_id, step_id, action_name, None)
            .await
    }

    async fn intent_resolved(
        &self,
        run_id: &str,
        step_id: &str,
        action_id: u64,
    ) -> Result<(), StoreError> {
        self.intent_resolved_fenced(run_id, step_id, action_id, None)
            .await
    }

    async fn append_event(&self, run_id: &str, event: &Event) -> Result<(), StoreError> {
        self.append_event_fenced(run_id, event, None).await
    }

    async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        outputs: &Value,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.finish_run_fenced(run_id, status, outputs, error, None)
            .await
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let doing = format!("reading run {run_id}");
        // One read transaction, so that the run, its steps and intents are one snapshot
        // even while the engine writes.
        let rows = on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let run = sqlx::query_as::<_, RunRow>(SELECT_RUN)
                .bind(run_id)
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(run) = run else {
                transaction.rollback().await?;
                return Ok(None);
            };
            let steps = sqlx::query_as::<_, StepRow>(SELECT_STEPS)
                .bind(run_id)
                .fetch_all(&mut *transaction)
                .await?;
            let intents = sqlx::query_as::<_, IntentRow>(SELECT_INTENTS)
                .bind(run_id)
                .fetch_all(&mut *transaction)
                .await?;
            transaction.rollback().await?;
            Ok::<_, sqlx::Error>(Some((run, steps, intents)))
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        let Some((run, steps, intents)) = rows else {
            return Ok(None);
        };

        let steps = steps
            .into_iter()
            .map(|step| step.into_record(run_id))
            .collect::<Result<Vec<_>, _>>()?;
        let intents = intents
            .into_iter()
            .map(|intent| {
                Ok(Intent {
                    action_id: intent
                        .action_id
                        .map(|id| {
                            u64::try_from(id).map_err(|_| {
                                StoreError::new(format!(
                                    "the intent of step {} of run {run_id} holds an impossible \
                                     action id {id}",
                                    intent.step_id
                                ))
                            })
                        })
                        .transpose()?,
                    step_id: intent.step_id,
                    action_name: intent.action_name,
                    recorded_at: intent.recorded_at,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(RunRecord {
            inputs: parse_json(&run.inputs, &format!("the inputs of run {run_id}"))?,
            outputs: run
                .outputs
                .as_deref()
                .map(|text| parse_json(text, &format!("the outputs of run {run_id}")))
                .transpose()?,
            run_id: run.run_id,
            playbook_name: run.playbook_name,
            playbook_source: run.playbook_source,
            playbook_hash: run.playbook_hash,
            playbook_path: run.playbook_path,
            started_by: run.started_by,
            status: run.status,
            error: run.error,
            started_at: run.started_at,
            finished_at: run.finished_at,
            steps,
            intents,
        }))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        if let Some(status) = &filter.status
            && !RUN_STATUSES.contains(&status.as_str())
        {
            return Err(StoreError::new(format!(
                "unknown run status `{status}`; expected one of {}",
                RUN_STATUSES.join(", ")
            )));
        }
        let limit = filter.limit.map_or(i64::MAX, i64::from);
        let rows = on_pool!(self, pool => sqlx::query_as::<_, SummaryRow>(LIST_RUNS)
            .bind(&filter.status)
            .bind(&filter.playbook)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("listing runs", error))?;
        Ok(rows
            .into_iter()
            .map(|row| RunSummary {
                run_id: row.run_id,
                playbook_name: row.playbook_name,
                status: row.status,
                started_at: row.started_at,
                finished_at: row.finished_at,
                error: row.error,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_can_be_shared_by_the_engine_as_a_trait_object() {
        fn shareable<T: Store + Clone + Send + Sync + 'static>() {}
        shareable::<SqlStore>();
    }

    #[test]
    fn times_are_fixed_width_so_text_order_is_time_order() {
        let now = now_text();
        assert_eq!(now.len(), "2026-11-29T19:50:02.123456Z".len(), "{now}");
        assert!(now.ends_with('Z'));
        assert!(now_text() >= now);
    }

    #[test]
    fn ids_outside_the_database_range_are_refused_not_wrapped() {
        assert!(to_i64(u64::MAX, "action id").is_err());
        assert_eq!(to_i64(42, "action id"), Ok(42));
        assert!(to_u32(-1, "step index").is_err());
    }
}

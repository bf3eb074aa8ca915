//! [`SqlStore`]: the engine's `Store` trait on SQLite or PostgreSQL.
//!
//! Every write is one SQL statement, so it lands whole or not at all without an explicit
//! transaction (and SQLite's writer lock is taken at the statement's start, where the busy
//! timeout applies, rather than upgraded half-way through a transaction, where it does not).
//! The few writes that must land together with another (a token and its audit entry, a keyed
//! run and its key, an approval decision with its status and audit entry) are transactions
//! whose first statement is a write, for the same reason.

use async_trait::async_trait;
use runbook_engine::{
    ApprovalGate, Event, GateState, Intent, NewRun, RecordedStatus, RunFilter, RunRecord,
    RunStatus, RunSummary, StepRecord, StepStatus, Store, StoreError,
};
use serde_json::Value;

use crate::error::{Location, database_error, is_foreign_key_violation};

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
/// A run status as the database holds it (the schema's CHECK allows only these).
fn recorded_status(text: &str, run_id: &str) -> Result<RecordedStatus, StoreError> {
    RecordedStatus::parse(text).ok_or_else(|| {
        StoreError::new(format!(
            "run {run_id} has an unknown status `{text}` in the store"
        ))
    })
}

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

pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
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

const CANCEL_RUN: &str = "UPDATE runs SET status = 'cancelled', finished_at = $2, \
     error = COALESCE(error, 'cancelled') \
     WHERE run_id = $1 AND status IN ('running', 'queued')";

const SELECT_RUN: &str = "SELECT run_id, playbook_name, playbook_source, playbook_hash, \
     playbook_path, inputs, started_by, status, outputs, error, started_at, finished_at \
     FROM runs WHERE run_id = $1";

const SELECT_STEPS: &str = "SELECT step_index, step_id, kind, status, attempts, outputs, \
     request_summary, error, started_at, finished_at, deadline \
     FROM steps WHERE run_id = $1 ORDER BY step_index, started_at, step_id";

const SELECT_INTENTS: &str = "SELECT step_id, action_name, action_id, recorded_at \
     FROM intents WHERE run_id = $1 ORDER BY recorded_at, step_id";

const SELECT_PROGRESS: &str = "SELECT step_id, progress FROM step_progress WHERE run_id = $1";

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
    pub(crate) fn fail_for_run(&self, run_id: &str, doing: &str, error: sqlx::Error) -> StoreError {
        if is_foreign_key_violation(&error) {
            StoreError::new(format!(
                "{doing}: run {run_id} is not recorded in {}",
                self.location
            ))
        } else {
            self.fail(doing, error)
        }
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

    async fn save_progress(
        &self,
        run_id: &str,
        step_id: &str,
        progress: &Value,
    ) -> Result<(), StoreError> {
        self.save_progress_fenced(run_id, step_id, progress, None)
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

    async fn run_status(&self, run_id: &str) -> Result<Option<RecordedStatus>, StoreError> {
        let doing = format!("reading the status of run {run_id}");
        let status: Option<String> = on_pool!(self, pool => async {
            sqlx::query_scalar("SELECT status FROM runs WHERE run_id = $1")
                .bind(run_id)
                .fetch_optional(pool)
                .await
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        status
            .map(|status| recorded_status(&status, run_id))
            .transpose()
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
            let progress = sqlx::query_as::<_, (String, String)>(SELECT_PROGRESS)
                .bind(run_id)
                .fetch_all(&mut *transaction)
                .await?;
            transaction.rollback().await?;
            Ok::<_, sqlx::Error>(Some((run, steps, intents, progress)))
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        let Some((run, steps, intents, progress)) = rows else {
            return Ok(None);
        };
        let progress = progress
            .into_iter()
            .map(|(step_id, text)| {
                let value = parse_json(
                    &text,
                    &format!("the progress of step {step_id} of run {run_id}"),
                )?;
                Ok((step_id, value))
            })
            .collect::<Result<_, StoreError>>()?;

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
            status: recorded_status(&run.status, run_id)?,
            error: run.error,
            started_at: run.started_at,
            finished_at: run.finished_at,
            steps,
            intents,
            progress,
        }))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let limit = filter.limit.map_or(i64::MAX, i64::from);
        let rows = on_pool!(self, pool => sqlx::query_as::<_, SummaryRow>(LIST_RUNS)
            .bind(filter.status.map(|status| status.as_str()))
            .bind(&filter.playbook)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("listing runs", error))?;
        rows.into_iter()
            .map(|row| {
                Ok(RunSummary {
                    status: recorded_status(&row.status, &row.run_id)?,
                    run_id: row.run_id,
                    playbook_name: row.playbook_name,
                    started_at: row.started_at,
                    finished_at: row.finished_at,
                    error: row.error,
                })
            })
            .collect()
    }

    async fn open_gate(&self, gate: &ApprovalGate) -> Result<(), StoreError> {
        self.request_approval(&crate::approvals::new_approval(gate))
            .await
            .map(|_| ())
    }

    async fn gate(&self, run_id: &str, step_id: &str) -> Result<Option<GateState>, StoreError> {
        Ok(self
            .approval(run_id, step_id)
            .await?
            .as_ref()
            .map(crate::approvals::gate_state))
    }

    async fn expire_gate(&self, run_id: &str, step_id: &str) -> Result<(), StoreError> {
        self.expire_approval(run_id, step_id).await.map(|_| ())
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

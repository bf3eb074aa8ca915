//! What an operator reads and trims: runs listed with their claim, short id prefixes, events
//! with the time they were recorded, and retention (`runbook runs list|show|prune`).
//!
//! These reads and deletes take no claim and fence nothing: they never touch a run that is
//! queued or running (prune deletes finished runs only).

use runbook_engine::{Event, RecordedStatus, RunFilter, StoreError};

use crate::store::{SqlStore, now_text};
use crate::writes::Fence;

/// One line of `runbook runs list`: the run's summary and its claim, from which whether its
/// process died is read (see `runbook_serve::claims::is_interrupted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunListing {
    pub run_id: String,
    pub playbook_name: String,
    pub status: RecordedStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// The process driving the run (`cli:<host>:<pid>`, `<host>:<pid>:<random>`), if any.
    pub claimed_by: Option<String>,
    /// Its last heartbeat, RFC 3339.
    pub heartbeat_at: Option<String>,
}

/// An event as stored: when it was recorded and by which claim.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// RFC 3339, UTC.
    pub recorded_at: String,
    /// The claim epoch that wrote it (None: an unfenced writer).
    pub claim_epoch: Option<i64>,
    pub event: Event,
}

/// A `runbook runs resume` that claimed the run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Resume {
    /// RFC 3339, UTC.
    pub resumed_at: String,
    /// Who resumed it (`cli:<user>`).
    pub resumed_by: String,
    /// The process that drove the run from then on.
    pub holder: String,
    /// The epoch of its claim.
    pub claim_epoch: i64,
    /// The holder it took the run from while that one was `running` with a stale heartbeat.
    pub previous_holder: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct ListingRow {
    run_id: String,
    playbook_name: String,
    status: String,
    started_at: String,
    finished_at: Option<String>,
    error: Option<String>,
    claimed_by: Option<String>,
    heartbeat_at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    payload: String,
    recorded_at: String,
    claim_epoch: Option<i64>,
}

const LIST_LISTINGS: &str = "SELECT run_id, playbook_name, status, started_at, finished_at, \
     error, claimed_by, heartbeat_at FROM runs \
     WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR playbook_name = $2) \
       AND ($3 IS NULL OR started_at >= $3) \
     ORDER BY started_at DESC, run_id DESC LIMIT $4";

const RUNS_WITH_PREFIX: &str =
    "SELECT run_id FROM runs WHERE run_id LIKE $1 ORDER BY run_id LIMIT $2";

const SELECT_TIMED_EVENTS: &str =
    "SELECT payload, recorded_at, claim_epoch FROM events WHERE run_id = $1 ORDER BY sequence";

/// Recorded under the claim it describes: nothing is written once another process holds the
/// run (`FOR SHARE` on PostgreSQL, as every fenced write; see writes.rs).
const RECORD_RESUME: &str = "INSERT INTO resumes (run_id, claim_epoch, resumed_at, resumed_by, \
     holder, previous_holder) SELECT $1, $2, $3, $4, $5, $6 \
     WHERE EXISTS (SELECT 1 FROM runs AS fence WHERE fence.run_id = $1 \
         AND fence.claimed_by = $5 AND fence.claim_epoch = $2{lock})";

const SELECT_RESUMES: &str = "SELECT resumed_at, resumed_by, holder, claim_epoch, \
     previous_holder FROM resumes WHERE run_id = $1 ORDER BY claim_epoch";

const RECORD_SERVER: &str = "UPDATE runs SET tanium_url = $2 \
     WHERE run_id = $1 AND claimed_by = $3 AND claim_epoch = $4";

const SELECT_SERVER: &str = "SELECT tanium_url FROM runs WHERE run_id = $1";

const PRUNE: &str = "DELETE FROM runs \
     WHERE status IN ('succeeded', 'failed', 'cancelled') \
       AND COALESCE(finished_at, started_at) < $1";

impl SqlStore {
    /// Runs, newest first, with their claims; `since` (RFC 3339, the time columns' form)
    /// keeps runs started at or after it.
    pub async fn list_runs_with_claims(
        &self,
        filter: &RunFilter,
        since: Option<&str>,
    ) -> Result<Vec<RunListing>, StoreError> {
        let limit = filter.limit.map_or(i64::MAX, i64::from);
        let rows = on_pool!(self, pool => sqlx::query_as::<_, ListingRow>(LIST_LISTINGS)
            .bind(filter.status.map(|status| status.as_str()))
            .bind(&filter.playbook)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("listing runs", error))?;
        rows.into_iter()
            .map(|row| {
                let status = RecordedStatus::parse(&row.status).ok_or_else(|| {
                    StoreError::new(format!(
                        "run {} has an unknown status `{}` in the store",
                        row.run_id, row.status
                    ))
                })?;
                Ok(RunListing {
                    run_id: row.run_id,
                    playbook_name: row.playbook_name,
                    status,
                    started_at: row.started_at,
                    finished_at: row.finished_at,
                    error: row.error,
                    claimed_by: row.claimed_by,
                    heartbeat_at: row.heartbeat_at,
                })
            })
            .collect()
    }

    /// The ids of runs that start with `prefix`, in id order, at most `max`. Run ids hold
    /// hexadecimal digits and dashes only: a prefix with anything else (a `%` or `_` among
    /// them) matches nothing.
    pub async fn runs_with_prefix(
        &self,
        prefix: &str,
        max: u32,
    ) -> Result<Vec<String>, StoreError> {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Ok(Vec::new());
        }
        let pattern = format!("{}%", prefix.to_ascii_lowercase());
        on_pool!(self, pool => sqlx::query_scalar::<_, String>(RUNS_WITH_PREFIX)
            .bind(&pattern)
            .bind(i64::from(max))
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail(&format!("looking up runs starting with {prefix}"), error))
    }

    /// The run's events in order, each with the time it was recorded and the claim that
    /// wrote it.
    pub async fn events_with_times(&self, run_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = on_pool!(self, pool => sqlx::query_as::<_, EventRow>(SELECT_TIMED_EVENTS)
            .bind(run_id)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail(&format!("reading the events of run {run_id}"), error))?;
        rows.into_iter()
            .map(|row| {
                let event = serde_json::from_str::<Event>(&row.payload).map_err(|error| {
                    StoreError::new(format!(
                        "an event of run {run_id} cannot be read by this build: {error}"
                    ))
                })?;
                Ok(StoredEvent {
                    recorded_at: row.recorded_at,
                    claim_epoch: row.claim_epoch,
                    event,
                })
            })
            .collect()
    }

    /// Deletes the finished runs (succeeded, failed, cancelled) that ended before `before`
    /// (RFC 3339), with their steps, events and intents; answers how many runs. Queued and
    /// running runs are never deleted, however old.
    pub async fn prune_finished(&self, before: &str) -> Result<u64, StoreError> {
        on_pool!(self, pool => sqlx::query(PRUNE)
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail("deleting old runs", error))
    }

    /// Records that `resumed_by` resumed the run under `fence` (the claim its resume took),
    /// taken from `previous_holder` if that one may have been alive. Fenced: fails with a lost
    /// claim once another process holds the run.
    pub async fn record_resume(
        &self,
        run_id: &str,
        fence: &Fence,
        resumed_by: &str,
        previous_holder: Option<&str>,
    ) -> Result<(), StoreError> {
        let lock = if self.is_postgres() { " FOR SHARE" } else { "" };
        let sql = sqlx::AssertSqlSafe(RECORD_RESUME.replace("{lock}", lock));
        let now = now_text();
        let written = on_pool!(self, pool => sqlx::query(sql)
            .bind(run_id)
            .bind(fence.epoch)
            .bind(&now)
            .bind(resumed_by)
            .bind(&fence.holder)
            .bind(previous_holder)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| {
            self.fail_for_run(
                run_id,
                &format!("recording the resume of run {run_id}"),
                error,
            )
        })?;
        if written == 0 {
            return Err(StoreError::lost_claim(format!(
                "run {run_id} is no longer held by {} under claim {}: its resume was not recorded",
                fence.holder, fence.epoch
            )));
        }
        Ok(())
    }

    /// The resumes of a run, oldest first.
    pub async fn resumes(&self, run_id: &str) -> Result<Vec<Resume>, StoreError> {
        on_pool!(self, pool => sqlx::query_as::<_, Resume>(SELECT_RESUMES)
            .bind(run_id)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail(&format!("reading the resumes of run {run_id}"), error))
    }

    /// Records the server the run runs against (a Tanium URL without credentials, or
    /// `sim:in-process`), fenced by the claim of the process that created it.
    pub async fn record_server(
        &self,
        run_id: &str,
        fence: &Fence,
        server: &str,
    ) -> Result<(), StoreError> {
        let written = on_pool!(self, pool => sqlx::query(RECORD_SERVER)
            .bind(run_id)
            .bind(server)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail(&format!("recording the server of run {run_id}"), error))?;
        if written == 0 {
            return Err(StoreError::lost_claim(format!(
                "run {run_id} is no longer held by {} under claim {}",
                fence.holder, fence.epoch
            )));
        }
        Ok(())
    }

    /// The server the run ran against, if recorded (runs of older builds have none).
    pub async fn server_of(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let found: Option<Option<String>> =
            on_pool!(self, pool => sqlx::query_scalar::<_, Option<String>>(SELECT_SERVER)
                .bind(run_id)
                .fetch_optional(pool)
                .await)
            .map_err(|error| self.fail(&format!("reading the server of run {run_id}"), error))?;
        Ok(found.flatten())
    }
}

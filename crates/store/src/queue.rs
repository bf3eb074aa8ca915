//! The run queue shared by `runbook serve` processes: queued runs, claims, heartbeats.
//!
//! A run is *queued* (by `runbook enqueue` or a schedule firing), then *claimed* by one worker,
//! which marks it `running` under its worker id and refreshes `heartbeat_at` while it works. A
//! run whose worker stopped heart-beating (the process died) is claimed again by another
//! worker, which resumes it; exactly-once actions rest on the engine's intents, not on the
//! claim. A worker shutting down releases its runs: they go back to `queued`, keeping their
//! steps, so that the next claimer resumes them at once instead of waiting for them to go
//! stale.
//!
//! Claiming is one statement on both databases. PostgreSQL locks the chosen row with
//! `FOR UPDATE SKIP LOCKED`, so concurrent claimers pick different runs without waiting on
//! each other. SQLite takes its write lock when a writing statement starts, so the same
//! statement (without the locking clause, which SQLite does not know) is serialised whole,
//! like a `BEGIN IMMEDIATE` transaction; SQLite serves one process.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use runbook_engine::{NewRun, RunRecord, Store, StoreError};

use crate::store::{Backend, SqlStore, json_text, now_text};

/// Runs the same body against the durable pool of either backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite { pool: $pool, .. } => $body,
            Backend::Postgres { durable: $pool, .. } => $body,
        }
    };
}

/// What [`SqlStore::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The run is queued under this id.
    Queued(String),
    /// A run with this firing key exists already: another `serve` process (or an earlier
    /// pass of this one) fired it first. Not an error.
    AlreadyFired,
}

/// Where a queued run comes from, besides its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueEntry<'a> {
    /// The schedule that fired it, if any.
    pub schedule_name: Option<&'a str>,
    /// One run per firing key, whichever process fires it (`name@time`).
    pub firing_key: Option<&'a str>,
    /// Not to be claimed while another run of the same schedule is running (`overlap: queue`).
    pub waits_for_previous: bool,
}

/// A run a worker claimed, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    /// The whole record; empty steps for a run that never started, recorded ones for a run
    /// taken over from a stopped worker (resume it).
    pub record: RunRecord,
    /// When the run was queued.
    pub queued_at: Option<DateTime<Utc>>,
    /// The schedule that fired it, if any.
    pub schedule_name: Option<String>,
    /// Its firing key, if a schedule fired it.
    pub firing_key: Option<String>,
}

/// The queue columns of one run (for tests, `runs show` and metrics).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueState {
    pub status: String,
    pub queued_at: Option<String>,
    pub claimed_by: Option<String>,
    pub heartbeat_at: Option<String>,
    pub schedule_name: Option<String>,
    pub firing_key: Option<String>,
}

const ENQUEUE: &str = "INSERT INTO runs (run_id, playbook_name, playbook_source, \
     playbook_hash, playbook_path, inputs, started_by, status, started_at, queued_at, \
     schedule_name, firing_key, waits_for_previous) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $9, $10, $11) \
     ON CONFLICT (firing_key) DO NOTHING";

/// Which runs may be claimed: queued ones (unless they wait for a previous run of their
/// schedule that is still running, or queued before them), and running ones whose claimer
/// stopped heart-beating. Runs started by `runbook run` (never claimed) are never taken: their
/// process may be alive. "Queued before them" closes a race on PostgreSQL: while one claimer
/// holds the oldest run of a schedule locked (not yet `running` for the others), the next one
/// of that schedule is not claimable either.
const CLAIMABLE: &str = "(candidate.status = 'queued' AND (candidate.waits_for_previous = 0 \
         OR NOT EXISTS (SELECT 1 FROM runs AS other \
             WHERE other.schedule_name = candidate.schedule_name \
               AND (other.status = 'running' \
                    OR (other.status = 'queued' \
                        AND (other.queued_at < candidate.queued_at \
                             OR (other.queued_at = candidate.queued_at \
                                 AND other.run_id < candidate.run_id))))))) \
     OR (candidate.status = 'running' AND candidate.claimed_by IS NOT NULL \
         AND candidate.claimed_by NOT LIKE 'cli:%' AND candidate.heartbeat_at < $3)";

fn claim_sql(postgres: bool) -> String {
    let lock = if postgres {
        " FOR UPDATE OF candidate SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE runs SET status = 'running', claimed_by = $1, heartbeat_at = $2 \
         WHERE run_id = (SELECT candidate.run_id FROM runs AS candidate WHERE {CLAIMABLE} \
         ORDER BY candidate.queued_at, candidate.run_id LIMIT 1{lock}) \
         RETURNING run_id, queued_at, schedule_name, firing_key"
    )
}

/// Takes one run for a process: free, already ours, or held by a process whose heartbeat
/// stopped.
const CLAIM_RUN: &str = "UPDATE runs SET status = 'running', claimed_by = $1, heartbeat_at = $2 \
     WHERE run_id = $4 AND status IN ('queued', 'running') \
       AND (claimed_by IS NULL OR claimed_by = $1 OR heartbeat_at IS NULL OR heartbeat_at < $3)";

const HEARTBEAT: &str = "UPDATE runs SET heartbeat_at = $2 \
     WHERE claimed_by = $1 AND status = 'running'";

const RELEASE: &str = "UPDATE runs SET status = 'queued', claimed_by = NULL, \
     heartbeat_at = NULL WHERE run_id = $1 AND claimed_by = $2 AND status = 'running'";

const RELEASE_ALL: &str = "UPDATE runs SET status = 'queued', claimed_by = NULL, \
     heartbeat_at = NULL WHERE claimed_by = $1 AND status = 'running'";

const ACTIVE_OF_SCHEDULE: &str = "SELECT COUNT(*) FROM runs \
     WHERE schedule_name = $1 AND status IN ('queued', 'running')";

const LATEST_FIRING: &str = "SELECT MAX(firing_key) FROM runs WHERE schedule_name = $1";

const FIRED: &str = "SELECT COUNT(*) FROM runs WHERE firing_key = $1";

const COUNTS_BY_STATUS: &str = "SELECT status, COUNT(*) FROM runs GROUP BY status";

const CLAIMED_BY: &str = "SELECT run_id FROM runs \
     WHERE claimed_by = $1 AND status = 'running' ORDER BY run_id";

const QUEUE_STATE: &str = "SELECT status, queued_at, claimed_by, heartbeat_at, schedule_name, \
     firing_key FROM runs WHERE run_id = $1";

/// A time in the fixed-width text form of the time columns.
fn time_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl SqlStore {
    /// Queues a run (status `queued`) for a worker to claim. With a firing key, a second run
    /// for the same key is not recorded: [`Enqueued::AlreadyFired`].
    pub async fn enqueue(
        &self,
        run: &NewRun,
        schedule_name: Option<&str>,
        firing_key: Option<&str>,
    ) -> Result<Enqueued, StoreError> {
        let entry = QueueEntry {
            schedule_name,
            firing_key,
            waits_for_previous: false,
        };
        self.enqueue_entry(run, &entry).await
    }

    /// Like [`SqlStore::enqueue`], with every queue option.
    pub async fn enqueue_entry(
        &self,
        run: &NewRun,
        entry: &QueueEntry<'_>,
    ) -> Result<Enqueued, StoreError> {
        let inputs = json_text(&run.inputs);
        let now = now_text();
        let doing = format!("queueing run {}", run.run_id);
        let inserted = on_pool!(self, pool => sqlx::query(ENQUEUE)
            .bind(&run.run_id)
            .bind(&run.playbook_name)
            .bind(&run.playbook_source)
            .bind(&run.playbook_hash)
            .bind(&run.playbook_path)
            .bind(&inputs)
            .bind(&run.started_by)
            .bind(&now)
            .bind(entry.schedule_name)
            .bind(entry.firing_key)
            .bind(i32::from(entry.waits_for_previous))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail(&doing, error))?;
        Ok(if inserted > 0 {
            Enqueued::Queued(run.run_id.clone())
        } else {
            Enqueued::AlreadyFired
        })
    }

    /// Claims the next run for `worker_id`: the oldest queued run, or a running run whose
    /// heartbeat is older than `stale_after` (its worker died). `None` when there is nothing
    /// to do. Each run is claimed by one caller, however many race for it.
    pub async fn claim_next(
        &self,
        worker_id: &str,
        stale_after: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let now = Utc::now();
        let stale = chrono::TimeDelta::from_std(stale_after).unwrap_or(chrono::TimeDelta::MAX);
        let cutoff = time_text(now.checked_sub_signed(stale).unwrap_or(now));
        let doing = format!("claiming a queued run for worker {worker_id}");
        type Claimed = (String, Option<String>, Option<String>, Option<String>);
        let claimed: Option<Claimed> = match &self.backend {
            Backend::Sqlite { pool, .. } => {
                sqlx::query_as(sqlx::AssertSqlSafe(claim_sql(false)))
                    .bind(worker_id)
                    .bind(time_text(now))
                    .bind(&cutoff)
                    .fetch_optional(pool)
                    .await
            }
            Backend::Postgres { durable, .. } => {
                sqlx::query_as(sqlx::AssertSqlSafe(claim_sql(true)))
                    .bind(worker_id)
                    .bind(time_text(now))
                    .bind(&cutoff)
                    .fetch_optional(durable)
                    .await
            }
        }
        .map_err(|error| self.fail(&doing, error))?;
        let Some((run_id, queued_at, schedule_name, firing_key)) = claimed else {
            return Ok(None);
        };
        let record = Store::run(self, &run_id).await?.ok_or_else(|| {
            StoreError::new(format!("{doing}: run {run_id} vanished once claimed"))
        })?;
        Ok(Some(ClaimedRun {
            record,
            queued_at: queued_at.as_deref().and_then(parse_time),
            schedule_name,
            firing_key,
        }))
    }

    /// Claims one given run for `worker_id` (a `runbook run` or `runbook runs resume`
    /// process, whose ids start with `cli:`): true when it is now ours; false when another
    /// live process holds it (its heartbeat is newer than `stale_after`) or it has ended.
    /// Runs held by `cli:` processes are never taken over by `serve` workers: they may hold
    /// secret inputs that only their own process was given.
    pub async fn claim_run(
        &self,
        run_id: &str,
        worker_id: &str,
        stale_after: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let stale = chrono::TimeDelta::from_std(stale_after).unwrap_or(chrono::TimeDelta::MAX);
        let cutoff = time_text(now.checked_sub_signed(stale).unwrap_or(now));
        on_pool!(self, pool => sqlx::query(CLAIM_RUN)
            .bind(worker_id)
            .bind(time_text(now))
            .bind(&cutoff)
            .bind(run_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
        .map_err(|error| self.fail(&format!("claiming run {run_id} for {worker_id}"), error))
    }

    /// Refreshes the heartbeat of every run `worker_id` holds; returns how many it holds.
    pub async fn heartbeat(&self, worker_id: &str) -> Result<u64, StoreError> {
        let now = now_text();
        on_pool!(self, pool => sqlx::query(HEARTBEAT)
            .bind(worker_id)
            .bind(&now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail(&format!("heart-beating for worker {worker_id}"), error))
    }

    /// Gives back a run `worker_id` holds and did not finish (it stopped at a checkpoint on
    /// shutdown): it goes back to the queue with its steps, for the next worker to resume.
    /// Returns false when the worker did not hold it (it finished, or was taken over).
    pub async fn release(&self, run_id: &str, worker_id: &str) -> Result<bool, StoreError> {
        on_pool!(self, pool => sqlx::query(RELEASE)
            .bind(run_id)
            .bind(worker_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
        .map_err(|error| {
            self.fail(
                &format!("releasing run {run_id} held by worker {worker_id}"),
                error,
            )
        })
    }

    /// Gives back every run `worker_id` still holds (the last thing a stopping worker does);
    /// returns how many.
    pub async fn release_all(&self, worker_id: &str) -> Result<u64, StoreError> {
        on_pool!(self, pool => sqlx::query(RELEASE_ALL)
            .bind(worker_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail(&format!("releasing the runs of worker {worker_id}"), error))
    }

    /// The ids of the runs `worker_id` holds (running under its claim).
    pub async fn claimed_runs(&self, worker_id: &str) -> Result<Vec<String>, StoreError> {
        on_pool!(self, pool => sqlx::query_scalar::<_, String>(CLAIMED_BY)
            .bind(worker_id)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail(&format!("listing the runs of worker {worker_id}"), error))
    }

    /// Runs of the schedule that are queued or running (for `overlap: skip`).
    pub async fn active_runs_of_schedule(&self, schedule_name: &str) -> Result<u64, StoreError> {
        let active: i64 = on_pool!(self, pool => sqlx::query_scalar(ACTIVE_OF_SCHEDULE)
            .bind(schedule_name)
            .fetch_one(pool)
            .await)
        .map_err(|error| {
            self.fail(
                &format!("counting the active runs of schedule {schedule_name}"),
                error,
            )
        })?;
        Ok(count(active))
    }

    /// The time of the schedule's latest firing that made a run, if any (for `catch_up`).
    /// Read from the firing keys (`name@RFC3339`, fixed width, so text order is time order).
    pub async fn latest_firing(
        &self,
        schedule_name: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key: Option<String> = on_pool!(self, pool => sqlx::query_scalar(LATEST_FIRING)
            .bind(schedule_name)
            .fetch_one(pool)
            .await)
        .map_err(|error| {
            self.fail(
                &format!("reading the latest firing of schedule {schedule_name}"),
                error,
            )
        })?;
        Ok(key
            .as_deref()
            .and_then(|key| key.rsplit_once('@'))
            .and_then(|(_, time)| parse_time(time)))
    }

    /// Whether a run was queued for this firing key already (by any process).
    pub async fn has_fired(&self, firing_key: &str) -> Result<bool, StoreError> {
        let runs: i64 = on_pool!(self, pool => sqlx::query_scalar(FIRED)
            .bind(firing_key)
            .fetch_one(pool)
            .await)
        .map_err(|error| self.fail(&format!("looking up firing {firing_key}"), error))?;
        Ok(runs > 0)
    }

    /// How many runs have each status (every status of the schema, zeros included).
    pub async fn run_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, pool => sqlx::query_as(COUNTS_BY_STATUS)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("counting runs by status", error))?;
        let mut counts: BTreeMap<String, u64> =
            ["queued", "running", "succeeded", "failed", "cancelled"]
                .into_iter()
                .map(|status| (status.to_owned(), 0))
                .collect();
        for (status, value) in rows {
            counts.insert(status, count(value));
        }
        Ok(counts)
    }

    /// Runs waiting for a worker.
    pub async fn queue_depth(&self) -> Result<u64, StoreError> {
        Ok(self.run_counts().await?.get("queued").copied().unwrap_or(0))
    }

    /// The queue columns of one run.
    pub async fn queue_state(&self, run_id: &str) -> Result<Option<QueueState>, StoreError> {
        on_pool!(self, pool => sqlx::query_as::<_, QueueState>(QUEUE_STATE)
            .bind(run_id)
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail(&format!("reading the queue state of run {run_id}"), error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_claims_with_skip_locked() {
        assert!(claim_sql(true).contains("FOR UPDATE OF candidate SKIP LOCKED"));
        assert!(!claim_sql(false).contains("FOR UPDATE"));
        assert!(claim_sql(false).contains("RETURNING run_id"));
    }

    #[test]
    fn queue_times_are_fixed_width_and_read_back() {
        let time = parse_time("2026-03-08T07:00:00Z").expect("RFC 3339");
        assert_eq!(time_text(time), "2026-03-08T07:00:00.000000Z");
        assert_eq!(parse_time(&time_text(time)), Some(time));
        assert_eq!(parse_time("yesterday"), None);
    }
}

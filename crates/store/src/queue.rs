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
use crate::writes::Fence;

/// What [`SqlStore::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The run is queued under this id.
    Queued(String),
    /// A run with this firing key exists already: another `serve` process (or an earlier
    /// pass of this one) fired it first. Not an error.
    AlreadyFired,
    /// Nothing was queued: a keyed enqueue ([`SqlStore::enqueue_keyed`]) found its key still
    /// held, by the run with this id. A repeated request answers with the run it made first
    /// instead of starting the same work twice.
    Duplicate(String),
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
    /// The run's secret inputs as ciphertext, sealed by the caller with a key the store never
    /// sees: a queued run's secrets must reach the worker that claims it without being kept
    /// in clear. The worker gets them back in [`ClaimedRun::sealed_inputs`].
    pub sealed_inputs: Option<&'a str>,
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
    /// The epoch of this claim: the fencing token of every write made under it.
    pub epoch: i64,
    /// The holder this claim took the run from while it was `running` (its heartbeat went
    /// stale): it may be paused rather than dead, and may still have a request in flight.
    pub previous_holder: Option<String>,
    /// How long that holder's requests may take (its request timeout plus a margin), as it
    /// recorded when it claimed the run.
    pub previous_grace: Option<Duration>,
    /// The secret inputs it was queued with, still sealed ([`QueueEntry::sealed_inputs`]):
    /// the claimer opens them with its own key, or refuses the run when it has none.
    pub sealed_inputs: Option<String>,
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
    pub claim_epoch: i64,
}

pub(crate) const ENQUEUE: &str = "INSERT INTO runs (run_id, playbook_name, playbook_source, \
     playbook_hash, playbook_path, inputs, started_by, status, started_at, queued_at, \
     schedule_name, firing_key, waits_for_previous, sealed_inputs) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $9, $10, $11, $12) \
     ON CONFLICT (firing_key) DO NOTHING";

/// Which runs may be claimed: queued ones (unless they wait for a previous run of their
/// schedule that is still running, or queued before them, or are parked at an approval gate),
/// and running ones whose claimer stopped heart-beating. Runs started by `runbook run` (never
/// claimed) are never taken: their process may be alive. "Queued before them" closes a race on
/// PostgreSQL: while one claimer holds the oldest run of a schedule locked (not yet `running`
/// for the others), the next one of that schedule is not claimable either.
///
/// The two kinds are claimed by two statements, stale runs first: each one's candidates are a
/// prefix of the `(status, queued_at, run_id)` index, read in order and left at the first that
/// fits, so a claim costs the same with 10 or 25,000 runs queued (one statement with both
/// kinds ORed read and sorted every queued run).
const QUEUED_CLAIMABLE: &str = "candidate.status = 'queued' \
         AND (candidate.not_before IS NULL OR candidate.not_before <= {now}) \
         AND (candidate.waits_for_previous = 0 \
         OR NOT EXISTS (SELECT 1 FROM runs AS other \
             WHERE other.schedule_name = candidate.schedule_name \
               AND (other.status = 'running' \
                    OR (other.status = 'queued' \
                        AND (other.queued_at < candidate.queued_at \
                             OR (other.queued_at = candidate.queued_at \
                                 AND other.run_id < candidate.run_id))))))";

/// See [`QUEUED_CLAIMABLE`].
const STALE_CLAIMABLE: &str = "candidate.status = 'running' AND candidate.claimed_by IS NOT NULL \
         AND candidate.claimed_by NOT LIKE 'cli:%' AND candidate.heartbeat_at < {cutoff}";

/// The runs one claim statement looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidates {
    /// Running runs whose holder stopped heart-beating: taken over first.
    Stale,
    /// Queued runs, oldest first.
    Queued,
}

/// The time text of the heartbeat columns, from the database's clock on PostgreSQL: every
/// process of a shared store compares heartbeats on one clock, so that a worker whose clock
/// runs ahead never takes a live worker's run. (SQLite serves processes of one machine: its
/// clock is theirs.)
const POSTGRES_NOW: &str =
    "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
const POSTGRES_CUTOFF: &str = "to_char((clock_timestamp() - make_interval(secs => $3)) \
     AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

/// Fills a statement's `{now}` and `{cutoff}`: on SQLite `$4` (now) and `$3` (the cutoff),
/// bound as text; on PostgreSQL the database's clock, `$3` being the staleness in seconds.
fn clocked(template: &str, postgres: bool) -> String {
    if postgres {
        template
            .replace("{now}", POSTGRES_NOW)
            .replace("{cutoff}", POSTGRES_CUTOFF)
    } else {
        template.replace("{now}", "$4").replace("{cutoff}", "$3")
    }
}

// A claim takes the next epoch. When it takes a run that was `running` (its holder's
// heartbeat went stale), it notes that holder and how long its requests may take: the holder
// may be paused rather than dead. (Every expression of a SET reads the row as it was.)
const CLAIM_COLUMNS: &str = "status = 'running', claimed_by = $1, heartbeat_at = {now}, \
     claim_epoch = claim_epoch + 1, not_before = NULL, \
     previous_holder = CASE WHEN status = 'running' THEN claimed_by ELSE NULL END, \
     previous_grace_ms = CASE WHEN status = 'running' THEN send_grace_ms ELSE NULL END, \
     send_grace_ms = $2";

const CLAIM_RETURNING: &str = "RETURNING run_id, queued_at, schedule_name, firing_key, \
     claim_epoch, previous_holder, previous_grace_ms, sealed_inputs";

fn claim_sql(postgres: bool, candidates: Candidates) -> String {
    let lock = if postgres {
        " FOR UPDATE OF candidate SKIP LOCKED"
    } else {
        ""
    };
    let claimable = match candidates {
        Candidates::Stale => STALE_CLAIMABLE,
        Candidates::Queued => QUEUED_CLAIMABLE,
    };
    clocked(
        &format!(
            "UPDATE runs SET {CLAIM_COLUMNS} \
             WHERE run_id = (SELECT candidate.run_id FROM runs AS candidate WHERE {claimable} \
             ORDER BY candidate.queued_at, candidate.run_id LIMIT 1{lock}) {CLAIM_RETURNING}"
        ),
        postgres,
    )
}

/// Takes one run for a process: free, or held by another process whose heartbeat stopped.
/// (`$5`: the run.)
fn claim_run_sql(postgres: bool) -> String {
    clocked(
        &format!(
            "UPDATE runs SET {CLAIM_COLUMNS} \
             WHERE run_id = $5 AND status IN ('queued', 'running') \
               AND (claimed_by IS NULL \
                    OR (claimed_by <> $1 AND (heartbeat_at IS NULL OR heartbeat_at < {{cutoff}}))) \
             {CLAIM_RETURNING}"
        ),
        postgres,
    )
}

/// Takes a run from a holder known to be gone (a process of this machine that no longer
/// exists), only if that holder still holds it under the same claim: of several processes
/// racing to take it, one wins. No previous holder is noted: a dead process sends nothing.
/// (`$5`: the run, `$6` and `$7`: the dead holder's claim.)
fn take_over_sql(postgres: bool) -> String {
    clocked(
        &format!(
            "UPDATE runs SET status = 'running', claimed_by = $1, heartbeat_at = {{now}}, \
         claim_epoch = claim_epoch + 1, previous_holder = NULL, previous_grace_ms = NULL, \
         send_grace_ms = $2 \
         WHERE run_id = $5 AND status IN ('queued', 'running') AND claimed_by = $6 \
           AND claim_epoch = $7 \
         {CLAIM_RETURNING}"
        ),
        postgres,
    )
}

/// Renews every run the worker holds; answers which (and under which claim).
fn heartbeat_sql(postgres: bool) -> String {
    clocked(
        "UPDATE runs SET heartbeat_at = {now} \
         WHERE claimed_by = $1 AND status = 'running' \
         RETURNING run_id, claim_epoch",
        postgres,
    )
}

/// Renews one claim, fenced: nothing changes once another process holds the run.
fn renew_sql(postgres: bool) -> String {
    clocked(
        "UPDATE runs SET heartbeat_at = {now} \
         WHERE run_id = $5 AND claimed_by = $1 AND claim_epoch = $2 \
          ",
        postgres,
    )
}

const RELEASE: &str = "UPDATE runs SET status = 'queued', claimed_by = NULL, \
     heartbeat_at = NULL WHERE run_id = $1 AND claimed_by = $2 AND status = 'running'";

const RELEASE_CLAIM: &str = "UPDATE runs SET status = 'queued', claimed_by = NULL, \
     heartbeat_at = NULL WHERE run_id = $1 AND claimed_by = $2 AND claim_epoch = $3 \
     AND status = 'running'";

/// Parks a run waiting for people: back to the queue, not claimable before `$4` (or a
/// decision). Fenced like a release.
const PARK_CLAIM: &str = "UPDATE runs SET status = 'queued', claimed_by = NULL, \
     heartbeat_at = NULL, not_before = $4 WHERE run_id = $1 AND claimed_by = $2 \
     AND claim_epoch = $3 AND status = 'running'";

const RELEASE_ALL: &str = "UPDATE runs SET status = 'queued', claimed_by = NULL, \
     heartbeat_at = NULL WHERE claimed_by = $1 AND status = 'running'";

const ACTIVE_OF_SCHEDULE: &str = "SELECT COUNT(*) FROM runs \
     WHERE schedule_name = $1 AND status IN ('queued', 'running')";

const LATEST_FIRING: &str = "SELECT MAX(firing_key) FROM runs WHERE schedule_name = $1";

const FIRED: &str = "SELECT COUNT(*) FROM runs WHERE firing_key = $1";

/// Runs waiting for a worker: queued, and not parked at an approval gate.
const QUEUE_DEPTH: &str = "SELECT COUNT(*) FROM runs WHERE status = 'queued' \
     AND (not_before IS NULL OR not_before <= $1)";

const COUNTS_BY_STATUS: &str = "SELECT status, COUNT(*) FROM runs GROUP BY status";

const CLAIMED_BY: &str = "SELECT run_id FROM runs \
     WHERE claimed_by = $1 AND status = 'running' ORDER BY run_id";

const QUEUE_STATE: &str = "SELECT status, queued_at, claimed_by, heartbeat_at, schedule_name, \
     firing_key, claim_epoch FROM runs WHERE run_id = $1";

/// A claim statement's answer.
#[derive(Debug, sqlx::FromRow)]
struct ClaimRow {
    run_id: String,
    queued_at: Option<String>,
    schedule_name: Option<String>,
    firing_key: Option<String>,
    claim_epoch: i64,
    previous_holder: Option<String>,
    previous_grace_ms: Option<i64>,
    sealed_inputs: Option<String>,
}

/// What a claim statement is bound with (see `clocked_claim`).
#[derive(Debug, Clone, Copy)]
struct ClaimBinds<'a> {
    holder: &'a str,
    number: Option<i64>,
    stale_after: Duration,
    run_id: Option<&'a str>,
    from: Option<(&'a str, i64)>,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A time in the fixed-width text form of the time columns.
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
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
            ..QueueEntry::default()
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
            .bind(entry.sealed_inputs)
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
    /// heartbeat is older than `stale_after` (its worker died, or is paused). `None` when
    /// there is nothing to do. Each run is claimed by one caller, however many race for it.
    pub async fn claim_next(
        &self,
        worker_id: &str,
        stale_after: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        self.claim_next_with(worker_id, stale_after, None).await
    }

    /// [`SqlStore::claim_next`], recording how long this worker's requests may take
    /// (`send_grace`), for whoever may take the run over from it.
    pub async fn claim_next_with(
        &self,
        worker_id: &str,
        stale_after: Duration,
        send_grace: Option<Duration>,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let doing = format!("claiming a queued run for worker {worker_id}");
        for candidates in [Candidates::Stale, Candidates::Queued] {
            let claimed = self
                .clocked_claim(
                    &claim_sql(self.is_postgres(), candidates),
                    ClaimBinds {
                        holder: worker_id,
                        number: send_grace.map(millis),
                        stale_after,
                        run_id: None,
                        from: None,
                    },
                )
                .await
                .map_err(|error| self.fail(&doing, error))?;
            if let Some(row) = claimed {
                return self.claimed_run(row, &doing).await.map(Some);
            }
        }
        Ok(None)
    }

    async fn claimed_run(&self, row: ClaimRow, doing: &str) -> Result<ClaimedRun, StoreError> {
        let run_id = row.run_id;
        let record = Store::run(self, &run_id).await?.ok_or_else(|| {
            StoreError::new(format!("{doing}: run {run_id} vanished once claimed"))
        })?;
        Ok(ClaimedRun {
            record,
            queued_at: row.queued_at.as_deref().and_then(parse_time),
            schedule_name: row.schedule_name,
            firing_key: row.firing_key,
            epoch: row.claim_epoch,
            previous_holder: row.previous_holder,
            previous_grace: row
                .previous_grace_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
            sealed_inputs: row.sealed_inputs,
        })
    }

    /// Runs a claim statement written with `clocked`: `$1` the holder, `$2` a number (the
    /// send grace in ms, or an epoch), `$3`/`$4` the clock, `$5` a run id, `$6`/`$7` the claim
    /// taken over.
    async fn clocked_claim(
        &self,
        sql: &str,
        binds: ClaimBinds<'_>,
    ) -> Result<Option<ClaimRow>, sqlx::Error> {
        let now = Utc::now();
        let stale =
            chrono::TimeDelta::from_std(binds.stale_after).unwrap_or(chrono::TimeDelta::MAX);
        let cutoff = time_text(now.checked_sub_signed(stale).unwrap_or(now));
        let (from_holder, from_epoch) = binds
            .from
            .map_or((None, None), |(holder, epoch)| (Some(holder), Some(epoch)));
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                sqlx::query_as::<_, ClaimRow>(sql)
                    .bind(binds.holder)
                    .bind(binds.number)
                    .bind(&cutoff)
                    .bind(time_text(now))
                    .bind(binds.run_id)
                    .bind(from_holder)
                    .bind(from_epoch)
                    .fetch_optional(pool)
                    .await
            }
            Backend::Postgres { durable, .. } => {
                sqlx::query_as::<_, ClaimRow>(sql)
                    .bind(binds.holder)
                    .bind(binds.number)
                    .bind(binds.stale_after.as_secs_f64())
                    .bind(time_text(now))
                    .bind(binds.run_id)
                    .bind(from_holder)
                    .bind(from_epoch)
                    .fetch_optional(durable)
                    .await
            }
        }
    }

    /// Claims one given run for `holder_id` (a `runbook runs resume` process, whose ids
    /// start with `cli:`): `Some` when it is now ours; `None` when another live process holds
    /// it (its heartbeat is newer than `stale_after`), this process holds it already, or it
    /// has ended. Runs held by `cli:` processes are never taken over by `serve` workers: they
    /// may hold secret inputs that only their own process was given.
    pub async fn claim_run(
        &self,
        run_id: &str,
        holder_id: &str,
        stale_after: Duration,
        send_grace: Option<Duration>,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let doing = format!("claiming run {run_id} for {holder_id}");
        let claimed = self
            .clocked_claim(
                &claim_run_sql(self.is_postgres()),
                ClaimBinds {
                    holder: holder_id,
                    number: send_grace.map(millis),
                    stale_after,
                    run_id: Some(run_id),
                    from: None,
                },
            )
            .await
            .map_err(|error| self.fail(&doing, error))?;
        match claimed {
            Some(row) => self.claimed_run(row, &doing).await.map(Some),
            None => Ok(None),
        }
    }

    /// Takes a run from `from` (holder and epoch), a holder known to be gone; of several
    /// processes racing to take it, exactly one gets `Some`.
    pub async fn take_over_run(
        &self,
        run_id: &str,
        holder_id: &str,
        from: (&str, i64),
        send_grace: Option<Duration>,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let doing = format!("taking run {run_id} over from {} for {holder_id}", from.0);
        let claimed = self
            .clocked_claim(
                &take_over_sql(self.is_postgres()),
                ClaimBinds {
                    holder: holder_id,
                    number: send_grace.map(millis),
                    stale_after: Duration::ZERO,
                    run_id: Some(run_id),
                    from: Some(from),
                },
            )
            .await
            .map_err(|error| self.fail(&doing, error))?;
        match claimed {
            Some(row) => self.claimed_run(row, &doing).await.map(Some),
            None => Ok(None),
        }
    }

    /// Refreshes the heartbeat of every run `worker_id` holds; returns how many it holds.
    pub async fn heartbeat(&self, worker_id: &str) -> Result<u64, StoreError> {
        Ok(self.heartbeat_claims(worker_id).await?.len() as u64)
    }

    /// Refreshes the heartbeat of every run `worker_id` holds; returns each run with the
    /// epoch of the claim it is held under.
    pub async fn heartbeat_claims(
        &self,
        worker_id: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = sqlx::AssertSqlSafe(heartbeat_sql(self.is_postgres()));
        let now = now_text();
        let rows: Result<Vec<(String, i64)>, sqlx::Error> = match &self.backend {
            Backend::Sqlite { pool, .. } => {
                sqlx::query_as(sql)
                    .bind(worker_id)
                    .bind(None::<i64>)
                    .bind(None::<String>)
                    .bind(&now)
                    .fetch_all(pool)
                    .await
            }
            Backend::Postgres { durable, .. } => {
                sqlx::query_as(sql)
                    .bind(worker_id)
                    .bind(None::<i64>)
                    .bind(0.0_f64)
                    .bind(&now)
                    .fetch_all(durable)
                    .await
            }
        };
        rows.map_err(|error| self.fail(&format!("heart-beating for worker {worker_id}"), error))
    }

    /// Renews one claim (fenced: only while `fence` still holds the run); false when the run
    /// is held by someone else now, or was released.
    pub async fn renew_claim(&self, run_id: &str, fence: &Fence) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(renew_sql(self.is_postgres()));
        let now = now_text();
        let renewed = match &self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query(sql)
                .bind(&fence.holder)
                .bind(fence.epoch)
                .bind(None::<String>)
                .bind(&now)
                .bind(run_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            Backend::Postgres { durable, .. } => sqlx::query(sql)
                .bind(&fence.holder)
                .bind(fence.epoch)
                .bind(0.0_f64)
                .bind(&now)
                .bind(run_id)
                .execute(durable)
                .await
                .map(|done| done.rows_affected()),
        };
        renewed
            .map(|affected| affected > 0)
            .map_err(|error| self.fail(&format!("renewing the claim on run {run_id}"), error))
    }

    /// Gives a run back to the queue, only under the claim `fence` (see [`SqlStore::release`]).
    pub async fn release_claim(&self, run_id: &str, fence: &Fence) -> Result<bool, StoreError> {
        on_pool!(self, pool => sqlx::query(RELEASE_CLAIM)
            .bind(run_id)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
        .map_err(|error| {
            self.fail(
                &format!("releasing run {run_id} held by {}", fence.holder),
                error,
            )
        })
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

    /// Gives a run that waits for people back to the queue under `fence`, not to be claimed
    /// before `until` (RFC 3339) unless a decision wakes it; true when this claim still held
    /// it.
    pub async fn park_claim(
        &self,
        run_id: &str,
        fence: &Fence,
        until: &str,
    ) -> Result<bool, StoreError> {
        let until = parse_time(until).map_or_else(|| until.to_owned(), time_text);
        on_pool!(self, pool => sqlx::query(PARK_CLAIM)
            .bind(run_id)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .bind(&until)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
        .map_err(|error| self.fail(&format!("parking run {run_id}"), error))
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

    /// Runs waiting for a worker (runs parked at an approval gate wait for people instead).
    pub async fn queue_depth(&self) -> Result<u64, StoreError> {
        let depth: i64 = on_pool!(self, pool => sqlx::query_scalar(QUEUE_DEPTH)
            .bind(now_text())
            .fetch_one(pool)
            .await)
        .map_err(|error| self.fail("measuring the queue", error))?;
        Ok(count(depth))
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
        for candidates in [Candidates::Stale, Candidates::Queued] {
            assert!(claim_sql(true, candidates).contains("FOR UPDATE OF candidate SKIP LOCKED"));
            assert!(!claim_sql(false, candidates).contains("FOR UPDATE"));
            assert!(claim_sql(false, candidates).contains("RETURNING run_id"));
        }
    }

    #[test]
    fn queue_times_are_fixed_width_and_read_back() {
        let time = parse_time("2026-03-08T07:00:00Z").expect("RFC 3339");
        assert_eq!(time_text(time), "2026-03-08T07:00:00.000000Z");
        assert_eq!(parse_time(&time_text(time)), Some(time));
        assert_eq!(parse_time("yesterday"), None);
    }
}

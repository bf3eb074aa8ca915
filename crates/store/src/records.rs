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
    /// Who started it (`cli:<user>`, `enqueue:<user>`, `api:<token>`, ...): a listing says
    /// who to ask about a run without reading the whole record.
    pub started_by: String,
    /// The schedule that fired it, if a schedule did: tells scheduled runs from others.
    pub schedule_name: Option<String>,
}

/// One page of runs for the HTTP API's `GET /api/v1/runs` ([`SqlStore::page_runs`]). Paging
/// is by cursor rather than offset, so that runs queued while a client pages neither shift
/// nor repeat what it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPage {
    /// Runs with this status only (the schema's names: `queued`, `running`, `succeeded`,
    /// `failed`, `cancelled`).
    pub status: Option<String>,
    /// Runs of this playbook only.
    pub playbook: Option<String>,
    /// Runs started at or after this time only (RFC 3339 in the time columns' form).
    pub since: Option<String>,
    /// The cursor: runs strictly older than this run id only, that is, the page after the
    /// one that ended with it. Run ids are UUIDv7, so id order is creation order.
    pub before: Option<String>,
    /// At most this many runs (the caller bounds it; 0 gives an empty page).
    pub limit: u32,
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
    started_by: String,
    schedule_name: Option<String>,
}

impl ListingRow {
    fn into_listing(self) -> Result<RunListing, StoreError> {
        let status = RecordedStatus::parse(&self.status).ok_or_else(|| {
            StoreError::new(format!(
                "run {} has an unknown status `{}` in the store",
                self.run_id, self.status
            ))
        })?;
        Ok(RunListing {
            run_id: self.run_id,
            playbook_name: self.playbook_name,
            status,
            started_at: self.started_at,
            finished_at: self.finished_at,
            error: self.error,
            claimed_by: self.claimed_by,
            heartbeat_at: self.heartbeat_at,
            started_by: self.started_by,
            schedule_name: self.schedule_name,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SequencedEventRow {
    sequence: i64,
    payload: String,
    recorded_at: String,
    claim_epoch: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    payload: String,
    recorded_at: String,
    claim_epoch: Option<i64>,
}

const LISTING_COLUMNS: &str = "run_id, playbook_name, status, started_at, finished_at, \
     error, claimed_by, heartbeat_at, started_by, schedule_name";

static LIST_LISTINGS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {LISTING_COLUMNS} FROM runs \
         WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR playbook_name = $2) \
           AND ($3 IS NULL OR started_at >= $3) \
         ORDER BY started_at DESC, run_id DESC LIMIT $4"
    )
});

/// A page of runs, newest first, with only the filters given written into the statement (a
/// filter written `($1 IS NULL OR ...)` keeps the planner from using an index for it: a page
/// of one playbook's runs read every run of the playbook). Values are always bound.
fn page_runs_sql(page: &RunPage) -> (String, Vec<&str>) {
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    let filters = [
        ("status = ", page.status.as_deref()),
        ("playbook_name = ", page.playbook.as_deref()),
        ("started_at >= ", page.since.as_deref()),
        ("run_id < ", page.before.as_deref()),
    ];
    for (condition, value) in filters {
        if let Some(value) = value {
            binds.push(value);
            conditions.push(format!("{condition}${}", binds.len()));
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {} ", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {LISTING_COLUMNS} FROM runs {filter}ORDER BY run_id DESC LIMIT ${}",
        binds.len() + 1
    );
    (sql, binds)
}

const SELECT_EVENTS_AFTER: &str = "SELECT sequence, payload, recorded_at, claim_epoch \
     FROM events WHERE run_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3";

const RUNS_WITH_PREFIX: &str =
    "SELECT run_id FROM runs WHERE run_id LIKE $1 ORDER BY run_id LIMIT $2";

const SELECT_LATEST_EVENTS: &str = "SELECT sequence, payload, recorded_at, claim_epoch \
     FROM events WHERE run_id = $1 ORDER BY sequence DESC LIMIT $2";

const SELECT_LAST_OF_SCHEDULE: &str = "SELECT run_id, status FROM runs \
     WHERE schedule_name = $1 ORDER BY firing_key DESC, run_id DESC LIMIT 1";

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
    /// The id and status of the latest run a schedule fired, if it fired one.
    pub async fn last_run_of_schedule(
        &self,
        schedule_name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        on_pool!(self, pool => sqlx::query_as::<_, (String, String)>(SELECT_LAST_OF_SCHEDULE)
            .bind(schedule_name)
            .fetch_optional(pool)
            .await)
        .map_err(|error| {
            self.fail(
                &format!("reading the last run of schedule {schedule_name}"),
                error,
            )
        })
    }

    /// Runs, newest first, with their claims; `since` (RFC 3339, the time columns' form)
    /// keeps runs started at or after it.
    pub async fn list_runs_with_claims(
        &self,
        filter: &RunFilter,
        since: Option<&str>,
    ) -> Result<Vec<RunListing>, StoreError> {
        let limit = filter.limit.map_or(i64::MAX, i64::from);
        let sql = sqlx::AssertSqlSafe(LIST_LISTINGS.as_str());
        let rows = on_pool!(self, pool => sqlx::query_as::<_, ListingRow>(sql)
            .bind(filter.status.map(|status| status.as_str()))
            .bind(&filter.playbook)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("listing runs", error))?;
        rows.into_iter().map(ListingRow::into_listing).collect()
    }

    /// One page of runs, newest first (by run id, which is creation order for UUIDv7 ids),
    /// for `GET /api/v1/runs`. The filters combine; the next page is asked for with
    /// `before` set to the last run id of this one, and a page shorter than `limit` is the
    /// last.
    pub async fn page_runs(&self, page: &RunPage) -> Result<Vec<RunListing>, StoreError> {
        let (sql, binds) = page_runs_sql(page);
        let rows = on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, ListingRow>(sqlx::AssertSqlSafe(sql.clone()));
            for value in &binds {
                query = query.bind(*value);
            }
            query.bind(i64::from(page.limit)).fetch_all(pool).await
        })
        .map_err(|error| self.fail("listing a page of runs", error))?;
        rows.into_iter().map(ListingRow::into_listing).collect()
    }

    /// The run's events with a sequence number above `after_sequence`, in order, at most
    /// `limit`, each with its sequence number: what a Server-Sent Events stream polls for,
    /// from any process sharing the store (start at 0, then pass the last number seen).
    ///
    /// Sequence numbers are per run, not global: a run's first event is 1, each next event
    /// the run's highest number plus one, taken in the statement that inserts it (see
    /// writes.rs). They have no gaps (nothing deletes an event but the pruning of its whole
    /// run), and they become visible in order: a writer can only take `n + 1` once the event
    /// `n` is committed (a writer that raced for `n` fails on the primary key and tries
    /// again), so a reader that saw `n` never misses an earlier event later.
    pub async fn events_after(
        &self,
        run_id: &str,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
        let rows =
            on_pool!(self, pool => sqlx::query_as::<_, SequencedEventRow>(SELECT_EVENTS_AFTER)
            .bind(run_id)
            .bind(after_sequence)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)
            .map_err(|error| self.fail(&format!("reading the events of run {run_id}"), error))?;
        sequenced(run_id, rows)
    }

    /// The run's `limit` newest events with their sequence numbers, oldest first (the
    /// console's run page reads what it shows, not a long run's whole history).
    pub async fn latest_events(
        &self,
        run_id: &str,
        limit: u32,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
        let mut rows =
            on_pool!(self, pool => sqlx::query_as::<_, SequencedEventRow>(SELECT_LATEST_EVENTS)
            .bind(run_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)
            .map_err(|error| self.fail(&format!("reading the events of run {run_id}"), error))?;
        rows.reverse();
        sequenced(run_id, rows)
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

/// Stored events with their sequence numbers, read back.
fn sequenced(
    run_id: &str,
    rows: Vec<SequencedEventRow>,
) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let event = serde_json::from_str::<Event>(&row.payload).map_err(|error| {
                StoreError::new(format!(
                    "event {} of run {run_id} cannot be read by this build: {error}",
                    row.sequence
                ))
            })?;
            Ok((
                row.sequence,
                StoredEvent {
                    recorded_at: row.recorded_at,
                    claim_epoch: row.claim_epoch,
                    event,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_writes_only_the_filters_given_and_binds_their_values() {
        let all = RunPage::default();
        let (sql, binds) = page_runs_sql(&all);
        assert!(
            sql.ends_with("FROM runs ORDER BY run_id DESC LIMIT $1"),
            "{sql}"
        );
        assert!(binds.is_empty());
        let page = RunPage {
            playbook: Some("tag'; DROP TABLE runs; --".to_owned()),
            before: Some("0193".to_owned()),
            ..RunPage::default()
        };
        let (sql, binds) = page_runs_sql(&page);
        assert!(
            sql.ends_with("WHERE playbook_name = $1 AND run_id < $2 ORDER BY run_id DESC LIMIT $3"),
            "{sql}"
        );
        assert_eq!(binds, ["tag'; DROP TABLE runs; --", "0193"]);
    }
}

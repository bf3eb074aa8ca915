//! Keyed enqueues and sealed inputs: what the HTTP API and webhook triggers need of the queue
//! besides [`SqlStore::enqueue_entry`].
//!
//! A keyed enqueue (the API's `Idempotency-Key`, a trigger's `dedup` key) queues one run per
//! key within a window: a client retrying a request, or an alerting system sending the same
//! alert again, gets the first run back instead of a second run doing the same work. Only the
//! SHA-256 of a key is kept (`run_keys.key_hash`): keys can be long, and a dedup key is often
//! made of alert data that has no business sitting in the store in clear.
//!
//! Why it is race-free: the run and its key are written in one transaction whose first
//! statement inserts the run (a write, so that SQLite takes its writer lock at the start,
//! where the busy timeout applies, and serialises the whole transaction). The key is then
//! taken with one upsert, `INSERT ... ON CONFLICT (scope, key_hash) DO UPDATE ... WHERE
//! run_keys.expires_at <= now`. On PostgreSQL (READ COMMITTED) a second caller's insert of the
//! same key waits for the first caller's transaction; once that commits, the conflict is seen
//! against the committed row, whose lock the upsert then holds whether or not its `WHERE`
//! lets it update. An unexpired key therefore updates nothing and returns nothing: the caller
//! reads the key's run (the row cannot change under its lock), rolls back its own run and
//! answers [`Enqueued::Duplicate`]. If the first caller rolled back, the waiting insert simply
//! goes through. Two callers can never both see "no key".
//!
//! Expiry is judged on the clock of the process that enqueues (times are the time columns'
//! text): a window is minutes to days long, so the skew between the clocks of processes
//! sharing a PostgreSQL database moves its end by that skew only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use runbook_engine::{NewRun, StoreError};

use crate::auth::sha256_hex;
use crate::queue::{ENQUEUE, Enqueued, QueueEntry, time_text};
use crate::store::{SqlStore, json_text};

/// The key of a keyed enqueue ([`SqlStore::enqueue_keyed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunKey<'a> {
    /// Whose key it is (`api:<token name>`, `hook:<trigger name>`): the same key text from two
    /// clients, or two triggers, means two different things, so each scope has its own keys.
    pub scope: &'a str,
    /// The key as the client sent it (or as a trigger's `dedup` template rendered it); only its
    /// SHA-256 is stored.
    pub key: &'a str,
    /// How long the key holds its run: a repeat within the window is a duplicate, a repeat
    /// after it queues a new run (an alert that comes back tomorrow is a new incident).
    pub window: Duration,
}

/// The expiry of a key taken at `now` for `window`, in the time columns' text. A window too
/// long to represent never expires in practice: it ends at the last representable time.
fn expiry(now: DateTime<Utc>, window: Duration) -> String {
    chrono::TimeDelta::from_std(window)
        .ok()
        .and_then(|window| now.checked_add_signed(window))
        .map_or_else(|| "9999-12-31T23:59:59.999999Z".to_owned(), time_text)
}

/// Takes the key for the new run (`$3`) when nobody holds it or its holder's window ended
/// (`$4` is now); returns the run it now points to, or nothing when an unexpired row is
/// kept. See the module's documentation for why this is race-free.
const TAKE_KEY: &str = "INSERT INTO run_keys (scope, key_hash, run_id, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (scope, key_hash) DO UPDATE SET run_id = excluded.run_id, \
     created_at = excluded.created_at, expires_at = excluded.expires_at \
     WHERE run_keys.expires_at <= excluded.created_at \
     RETURNING run_id";

const SELECT_KEY: &str = "SELECT run_id FROM run_keys WHERE scope = $1 AND key_hash = $2";

const SELECT_SEALED: &str = "SELECT sealed_inputs FROM runs WHERE run_id = $1";

/// What the transaction of a keyed enqueue ended with.
enum Keyed {
    Queued,
    AlreadyFired,
    Duplicate(String),
    /// The key conflicted, yet no row could be read back (cannot happen under the lock the
    /// upsert holds; reported rather than trusted).
    Vanished,
}

impl SqlStore {
    /// Queues a run like [`SqlStore::enqueue_entry`], unless `key` already holds a run whose
    /// window has not ended: then nothing is queued and the answer is
    /// [`Enqueued::Duplicate`] with that first run's id. An expired key is taken over by the
    /// new run. The run and the key land in one transaction, so exactly one of any number of
    /// concurrent callers with the same key (in any process sharing the database) queues a
    /// run; the others get its id.
    pub async fn enqueue_keyed(
        &self,
        run: &NewRun,
        entry: &QueueEntry<'_>,
        key: &RunKey<'_>,
    ) -> Result<Enqueued, StoreError> {
        let inputs = json_text(&run.inputs);
        let now = Utc::now();
        let now_text = time_text(now);
        let expires_at = expiry(now, key.window);
        let key_hash = sha256_hex(key.key);
        let doing = format!("queueing run {} under a key of {}", run.run_id, key.scope);
        let outcome = on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let inserted = sqlx::query(ENQUEUE)
                .bind(&run.run_id)
                .bind(&run.playbook_name)
                .bind(&run.playbook_source)
                .bind(&run.playbook_hash)
                .bind(&run.playbook_path)
                .bind(&inputs)
                .bind(&run.started_by)
                .bind(&now_text)
                .bind(entry.schedule_name)
                .bind(entry.firing_key)
                .bind(i32::from(entry.waits_for_previous))
                .bind(entry.sealed_inputs)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if inserted == 0 {
                transaction.rollback().await?;
                return Ok(Keyed::AlreadyFired);
            }
            let taken: Option<String> = sqlx::query_scalar(TAKE_KEY)
                .bind(key.scope)
                .bind(&key_hash)
                .bind(&run.run_id)
                .bind(&now_text)
                .bind(&expires_at)
                .fetch_optional(&mut *transaction)
                .await?;
            if taken.is_some() {
                transaction.commit().await?;
                return Ok(Keyed::Queued);
            }
            let first: Option<String> = sqlx::query_scalar(SELECT_KEY)
                .bind(key.scope)
                .bind(&key_hash)
                .fetch_optional(&mut *transaction)
                .await?;
            transaction.rollback().await?;
            Ok::<Keyed, sqlx::Error>(first.map_or(Keyed::Vanished, Keyed::Duplicate))
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        match outcome {
            Keyed::Queued => Ok(Enqueued::Queued(run.run_id.clone())),
            Keyed::AlreadyFired => Ok(Enqueued::AlreadyFired),
            Keyed::Duplicate(first) => Ok(Enqueued::Duplicate(first)),
            Keyed::Vanished => Err(StoreError::new(format!(
                "{doing}: the key was held by another run that could not be read back; \
                 nothing was queued, try again"
            ))),
        }
    }

    /// The sealed secret inputs a run was queued with ([`QueueEntry::sealed_inputs`]), for a
    /// process that needs them without claiming the run (a claim returns them already).
    /// `None` when the run has none, or is not recorded.
    pub async fn sealed_inputs(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let found: Option<Option<String>> =
            on_pool!(self, pool => sqlx::query_scalar::<_, Option<String>>(SELECT_SEALED)
                .bind(run_id)
                .fetch_optional(pool)
                .await)
            .map_err(|error| {
                self.fail(&format!("reading the sealed inputs of run {run_id}"), error)
            })?;
        Ok(found.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_expires_a_window_after_it_was_taken_and_huge_windows_do_not_overflow() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .expect("RFC 3339")
            .with_timezone(&Utc);
        assert_eq!(
            expiry(now, Duration::from_secs(24 * 3600)),
            "2026-12-03T10:00:00.000000Z"
        );
        assert_eq!(expiry(now, Duration::ZERO), time_text(now));
        assert_eq!(expiry(now, Duration::MAX), "9999-12-31T23:59:59.999999Z");
    }
}

//! The audit log: who changed what, when, from where (`runbook audit`, and the HTTP API's
//! `GET /api/v1/audit` for admins). Entries are only ever appended; nothing here updates or
//! deletes one.

use runbook_engine::StoreError;
use serde_json::Value;

use crate::store::{SqlStore, json_text, now_text};

/// Who acts: a token's name (through the API) or `cli:<user>` (the command line), and the
/// client's address when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    /// The remote address (`203.0.113.7:51234`); None from the command line.
    pub address: Option<String>,
}

impl Actor {
    /// An actor on the command line (no address).
    pub fn cli(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            address: None,
        }
    }
}

/// An entry to append: `action` is a dotted name (`token.created`, `token.revoked`,
/// `run.started`, `run.cancelled`, `approval.decided`, `webhook.accepted`,
/// `webhook.refused`), `target` what it acted on, `detail` anything else worth keeping (never
/// a secret).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub actor: Actor,
    pub action: String,
    pub target: Option<String>,
    pub detail: Value,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Increasing in the order entries were appended.
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Value,
    pub remote_addr: Option<String>,
}

/// Which entries [`SqlStore::list_audit`] returns (all of them by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries at or after this time (RFC 3339 in the time columns' form).
    pub since: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// At most this many, the newest.
    pub limit: Option<u32>,
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: Option<String>,
    detail: String,
    remote_addr: Option<String>,
}

pub(crate) const APPEND_AUDIT: &str = "INSERT INTO audit_log (at, actor, action, target, \
     detail, remote_addr) VALUES ($1, $2, $3, $4, $5, $6)";

const LIST_AUDIT: &str = "SELECT id, at, actor, action, target, detail, remote_addr \
     FROM audit_log \
     WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR actor = $2) \
       AND ($3 IS NULL OR action = $3) \
     ORDER BY id DESC LIMIT $4";

/// The binds of [`APPEND_AUDIT`], in order, for an entry appended now.
pub(crate) fn audit_binds(entry: &NewAuditEntry) -> [Option<String>; 6] {
    [
        Some(now_text()),
        Some(entry.actor.name.clone()),
        Some(entry.action.clone()),
        entry.target.clone(),
        Some(json_text(&entry.detail)),
        entry.actor.address.clone(),
    ]
}

impl SqlStore {
    /// Appends an entry to the audit log, timed now.
    pub async fn append_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        let [at, actor, action, target, detail, address] = audit_binds(entry);
        on_pool!(self, pool => sqlx::query(APPEND_AUDIT)
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(detail)
            .bind(address)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail("appending to the audit log", error))?;
        Ok(())
    }

    /// Audit entries, newest first, that pass `filter`.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = filter.limit.map_or(i64::MAX, i64::from);
        let rows = on_pool!(self, pool => sqlx::query_as::<_, AuditRow>(LIST_AUDIT)
            .bind(&filter.since)
            .bind(&filter.actor)
            .bind(&filter.action)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("reading the audit log", error))?;
        rows.into_iter()
            .map(|row| {
                let detail = serde_json::from_str(&row.detail).map_err(|error| {
                    StoreError::new(format!(
                        "audit entry {} holds JSON that cannot be read: {error}",
                        row.id
                    ))
                })?;
                Ok(AuditEntry {
                    id: row.id,
                    at: row.at,
                    actor: row.actor,
                    action: row.action,
                    target: row.target,
                    detail,
                    remote_addr: row.remote_addr,
                })
            })
            .collect()
    }
}

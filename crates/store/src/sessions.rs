//! Sessions of the web console: a sign-in with an API token makes a random session id that
//! the browser keeps in an HttpOnly cookie. Only the id's SHA-256 is stored. A session acts as
//! its token (name and role) until it expires, is ended by signing out, or its token is
//! revoked; the token itself is never kept. Signing in and out are audited.

use std::time::Duration;

use runbook_engine::StoreError;
use serde_json::json;

use crate::audit::{APPEND_AUDIT, Actor, NewAuditEntry, audit_binds};
use crate::auth::{Role, has_secret_form, hashes_match, random_secret, token_hash};
use crate::store::{SqlStore, now_text};
use crate::tokens::VerifiedToken;

/// What a console session id starts with (then 64 hexadecimal digits).
pub const CONSOLE_SESSION_PREFIX: &str = "rbs_";

/// A session [`SqlStore::create_session`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The session id: for the browser's cookie only; the store keeps its hash.
    pub id: String,
    /// The token it acts as.
    pub token: VerifiedToken,
    /// When it ends, RFC 3339, UTC.
    pub expires_at: String,
}

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    token_name: String,
    role: String,
    session_hash: String,
}

const INSERT_SESSION: &str = "INSERT INTO console_sessions (session_hash, token_name, \
     created_at, expires_at) VALUES ($1, $2, $3, $4)";

const DELETE_EXPIRED: &str = "DELETE FROM console_sessions WHERE expires_at <= $1";

const SELECT_SESSION: &str = "SELECT session.token_name, token.role, session.session_hash \
     FROM console_sessions AS session JOIN api_tokens AS token \
     ON token.name = session.token_name \
     WHERE session.session_hash = $1 AND session.expires_at > $2 AND token.revoked_at IS NULL";

const DELETE_SESSION: &str = "DELETE FROM console_sessions WHERE session_hash = $1";

fn time_text(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl SqlStore {
    /// Signs in with `token`: when the store accepts it, a new session of `lifetime` acting
    /// as it, audited as `console.signed_in` by the token from `address`. None (nothing
    /// written) for a token the store does not know or revoked. Expired sessions are deleted
    /// on the way.
    pub async fn create_session(
        &self,
        token: &str,
        lifetime: Duration,
        address: Option<String>,
    ) -> Result<Option<NewSession>, StoreError> {
        let Some(verified) = self.verify_token(token).await? else {
            return Ok(None);
        };
        let id = random_secret(CONSOLE_SESSION_PREFIX);
        let now = chrono::Utc::now();
        let lifetime = chrono::TimeDelta::from_std(lifetime).unwrap_or(chrono::TimeDelta::MAX);
        let expires_at = time_text(now.checked_add_signed(lifetime).unwrap_or(now));
        let entry = NewAuditEntry {
            actor: Actor {
                name: verified.name.clone(),
                address,
            },
            action: "console.signed_in".to_owned(),
            target: Some(verified.name.clone()),
            detail: json!({ "expires_at": expires_at }),
        };
        let [at, actor, action, target, detail, remote] = audit_binds(&entry);
        let hash = token_hash(&id);
        let doing = format!("signing in to the console as {}", verified.name);
        on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            sqlx::query(DELETE_EXPIRED)
                .bind(time_text(now))
                .execute(&mut *transaction)
                .await?;
            sqlx::query(INSERT_SESSION)
                .bind(&hash)
                .bind(&verified.name)
                .bind(&at)
                .bind(&expires_at)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(APPEND_AUDIT)
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(detail)
                .bind(remote)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        Ok(Some(NewSession {
            id,
            token: verified,
            expires_at,
        }))
    }

    /// The token a session acts as, if the session exists, has not expired, and its token
    /// is not revoked.
    pub async fn verify_session(&self, id: &str) -> Result<Option<VerifiedToken>, StoreError> {
        if !has_secret_form(id, CONSOLE_SESSION_PREFIX) {
            return Ok(None);
        }
        let hash = token_hash(id);
        let row = on_pool!(self, pool => sqlx::query_as::<_, SessionRow>(SELECT_SESSION)
            .bind(&hash)
            .bind(now_text())
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail("checking a console session", error))?;
        let Some(row) = row.filter(|row| hashes_match(&row.session_hash, &hash)) else {
            return Ok(None);
        };
        let role: Role = row.role.parse().map_err(|_| {
            StoreError::new(format!(
                "token {} has an unknown role `{}` in the store",
                row.token_name, row.role
            ))
        })?;
        Ok(Some(VerifiedToken {
            name: row.token_name,
            role,
        }))
    }

    /// Ends a session (signing out), audited as `console.signed_out` when it existed. True
    /// when there was such a session.
    pub async fn end_session(&self, id: &str, by: &Actor) -> Result<bool, StoreError> {
        if !has_secret_form(id, CONSOLE_SESSION_PREFIX) {
            return Ok(false);
        }
        let entry = NewAuditEntry {
            actor: by.clone(),
            action: "console.signed_out".to_owned(),
            target: Some(by.name.clone()),
            detail: json!({}),
        };
        let [at, actor, action, target, detail, remote] = audit_binds(&entry);
        let hash = token_hash(id);
        let ended = on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let deleted = sqlx::query(DELETE_SESSION)
                .bind(&hash)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if deleted > 0 {
                sqlx::query(APPEND_AUDIT)
                    .bind(at)
                    .bind(actor)
                    .bind(action)
                    .bind(target)
                    .bind(detail)
                    .bind(remote)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
            Ok::<bool, sqlx::Error>(deleted > 0)
        }
        .await)
        .map_err(|error| self.fail("signing out of the console", error))?;
        Ok(ended)
    }
}

//! API tokens in the store (`runbook tokens create|list|revoke`, and the HTTP API's bearer
//! check): only each token's SHA-256 is kept (see [`crate::auth`] for why that suffices).
//! Creating and revoking a token appends to the audit log in the same transaction, so neither
//! lands without its entry.

use runbook_engine::StoreError;
use serde_json::json;

use crate::audit::{APPEND_AUDIT, Actor, NewAuditEntry, audit_binds};
use crate::auth::{Role, generate_token, hashes_match, looks_like_token, token_hash};
use crate::store::SqlStore;

/// A token as `tokens list` shows it: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenListing {
    pub name: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_by: String,
    /// The last time it was accepted, to the minute (see [`SqlStore::verify_token`]).
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What [`SqlStore::create_token`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCreated {
    /// The new token: shown to its creator once, kept nowhere.
    Created(String),
    /// A token (perhaps revoked) already has this name; nothing was written.
    NameTaken,
}

/// What [`SqlStore::revoke_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRevoked {
    Revoked,
    /// It was revoked before, at this time; nothing changed.
    AlreadyRevoked(String),
    NotFound,
}

/// An accepted token: its name (the audit log's actor) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    name: String,
    role: String,
    created_at: String,
    created_by: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct HashRow {
    name: String,
    role: String,
    token_hash: String,
}

/// How often `last_used_at` is written at most per token: an API request costs a write only
/// when the recorded time is older than this.
const LAST_USED_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

const INSERT_TOKEN: &str = "INSERT INTO api_tokens (name, role, token_hash, created_at, \
     created_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING";

const LIST_TOKENS: &str = "SELECT name, role, created_at, created_by, last_used_at, revoked_at \
     FROM api_tokens ORDER BY name";

const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL";

const SELECT_REVOKED_AT: &str = "SELECT revoked_at FROM api_tokens WHERE name = $1";

const SELECT_BY_HASH: &str = "SELECT name, role, token_hash FROM api_tokens \
     WHERE token_hash = $1 AND revoked_at IS NULL";

const TOUCH_TOKEN: &str = "UPDATE api_tokens SET last_used_at = $2 \
     WHERE name = $1 AND (last_used_at IS NULL OR last_used_at < $3)";

fn stored_role(text: &str, name: &str) -> Result<Role, StoreError> {
    text.parse().map_err(|_| {
        StoreError::new(format!(
            "token {name} has an unknown role `{text}` in the store"
        ))
    })
}

fn time_text(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl SqlStore {
    /// Creates a token named `name` with `role`, made by `by`, and audits it
    /// (`token.created`). The token is returned once; the store keeps only its hash.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        by: &Actor,
    ) -> Result<TokenCreated, StoreError> {
        let token = generate_token();
        let hash = token_hash(&token);
        let entry = NewAuditEntry {
            actor: by.clone(),
            action: "token.created".to_owned(),
            target: Some(name.to_owned()),
            detail: json!({ "role": role.as_str() }),
        };
        let [at, actor, action, target, detail, address] = audit_binds(&entry);
        let doing = format!("creating token {name}");
        let inserted = on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let inserted = sqlx::query(INSERT_TOKEN)
                .bind(name)
                .bind(role.as_str())
                .bind(&hash)
                .bind(&at)
                .bind(&by.name)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if inserted == 0 {
                transaction.rollback().await?;
                return Ok(0);
            }
            sqlx::query(APPEND_AUDIT)
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(detail)
                .bind(address)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<u64, sqlx::Error>(inserted)
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        Ok(if inserted == 0 {
            TokenCreated::NameTaken
        } else {
            TokenCreated::Created(token)
        })
    }

    /// Every token, revoked ones included, by name. Never a token or its hash.
    pub async fn list_tokens(&self) -> Result<Vec<TokenListing>, StoreError> {
        let rows = on_pool!(self, pool => sqlx::query_as::<_, TokenRow>(LIST_TOKENS)
            .fetch_all(pool)
            .await)
        .map_err(|error| self.fail("listing tokens", error))?;
        rows.into_iter()
            .map(|row| {
                Ok(TokenListing {
                    role: stored_role(&row.role, &row.name)?,
                    name: row.name,
                    created_at: row.created_at,
                    created_by: row.created_by,
                    last_used_at: row.last_used_at,
                    revoked_at: row.revoked_at,
                })
            })
            .collect()
    }

    /// Revokes the token named `name` (from now on [`SqlStore::verify_token`] refuses it) and
    /// audits it (`token.revoked`). Revoking twice changes nothing and audits nothing.
    pub async fn revoke_token(&self, name: &str, by: &Actor) -> Result<TokenRevoked, StoreError> {
        let entry = NewAuditEntry {
            actor: by.clone(),
            action: "token.revoked".to_owned(),
            target: Some(name.to_owned()),
            detail: json!({}),
        };
        let [at, actor, action, target, detail, address] = audit_binds(&entry);
        let doing = format!("revoking token {name}");
        let revoked = on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let revoked = sqlx::query(REVOKE_TOKEN)
                .bind(name)
                .bind(&at)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if revoked == 0 {
                transaction.rollback().await?;
                return Ok(0);
            }
            sqlx::query(APPEND_AUDIT)
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(detail)
                .bind(address)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<u64, sqlx::Error>(revoked)
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        if revoked > 0 {
            return Ok(TokenRevoked::Revoked);
        }
        let before =
            on_pool!(self, pool => sqlx::query_scalar::<_, Option<String>>(SELECT_REVOKED_AT)
            .bind(name)
            .fetch_optional(pool)
            .await)
            .map_err(|error| self.fail(&doing, error))?;
        Ok(match before {
            None => TokenRevoked::NotFound,
            Some(None) => {
                return Err(StoreError::new(format!(
                    "token {name} was neither revoked nor left as it was; try again"
                )));
            }
            Some(Some(at)) => TokenRevoked::AlreadyRevoked(at),
        })
    }

    /// The token `presented` belongs to, if it is one the store made and it is not revoked.
    /// Looked up by its hash, the hashes then compared in constant time. Records when it was
    /// used, at most once a minute per token (an API request does not cost a write each).
    pub async fn verify_token(&self, presented: &str) -> Result<Option<VerifiedToken>, StoreError> {
        if !looks_like_token(presented) {
            return Ok(None);
        }
        let hash = token_hash(presented);
        let row = on_pool!(self, pool => sqlx::query_as::<_, HashRow>(SELECT_BY_HASH)
            .bind(&hash)
            .fetch_optional(pool)
            .await)
        .map_err(|error| self.fail("checking a token", error))?;
        let Some(row) = row.filter(|row| hashes_match(&row.token_hash, &hash)) else {
            return Ok(None);
        };
        let role = stored_role(&row.role, &row.name)?;
        let now = chrono::Utc::now();
        let stale = now.checked_sub_signed(LAST_USED_RESOLUTION).unwrap_or(now);
        on_pool!(self, pool => sqlx::query(TOUCH_TOKEN)
            .bind(&row.name)
            .bind(time_text(now))
            .bind(time_text(stale))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail(&format!("recording the use of token {}", row.name), error))?;
        Ok(Some(VerifiedToken {
            name: row.name,
            role,
        }))
    }
}

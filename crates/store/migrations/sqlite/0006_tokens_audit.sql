-- API tokens and the audit log, version 6 (SQLite). Keep in step with
-- ../postgres/0006_tokens_audit.sql.
--
-- `api_tokens`: one row per token `runbook tokens create` made. Only the SHA-256 of the
-- token (lowercase hex) is kept, never the token. A revoked token keeps its row (and its
-- name, which the audit log refers to: a name is never given to another token).
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- `audit_log`: every request that changes something. `actor` is a token name or
-- `cli:<user>`, `action` a dotted name (`token.created`, `run.started`, ...), `target`
-- what it acted on (a run id, a token name, a trigger), `detail` serde_json text,
-- `remote_addr` the client's address (NULL from the command line).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    detail      TEXT NOT NULL,
    remote_addr TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);

-- Web console sessions, version 11. Keep the SQLite and PostgreSQL files in step.
--
-- `console_sessions`: one row per sign-in of the web console. The browser holds a random
-- session id in an HttpOnly cookie; only its SHA-256 (lowercase hex) is kept here, never the
-- id, nor the API token it was made from. The session acts as `token_name` with that token's
-- role as long as the token is not revoked: revoking the token ends its sessions. Rows past
-- `expires_at` are refused and deleted at the next sign-in.
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY,
    token_name   TEXT NOT NULL REFERENCES api_tokens (name),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- The console's runs page filters by status or playbook and pages on the run id (keyset,
-- newest first): these indexes keep a filtered page as cheap as an unfiltered one.
CREATE INDEX runs_by_status_id ON runs (status, run_id);
CREATE INDEX runs_by_playbook_id ON runs (playbook_name, run_id);

-- The HTTP API's store, version 7 (SQLite). Keep in step with ../postgres/0007_api.sql.
--
-- `run_keys`: keyed enqueues (the API's Idempotency-Key, a trigger's dedup key). One row
-- per (scope, key): `scope` says whose key it is (`api:<token name>`, `hook:<trigger>`),
-- `key_hash` is the SHA-256 (lowercase hex) of the key, which may be long or hold alert
-- data, `run_id` the run the key made first. A row stands until `expires_at`; a keyed
-- enqueue after that replaces it and queues a new run. The row goes with its run when the
-- run is pruned.
CREATE TABLE run_keys (
    scope      TEXT NOT NULL,
    key_hash   TEXT NOT NULL,
    run_id     TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX run_keys_by_run ON run_keys (run_id);

-- `sealed_inputs`: the secret inputs of a queued run, as ciphertext text made (and opened)
-- outside the store with a key the store never sees. NULL for runs without secret inputs
-- and for runs recorded before this version.
ALTER TABLE runs ADD COLUMN sealed_inputs TEXT;

-- `approvals`: runbook's own approval gates (the `approve` step), one per run and step.
-- `detail` is serde_json text (what the approver sees besides the summary); `approvers`
-- a JSON array of token names and role names allowed to decide (empty: anyone whose role
-- decides approvals); `required` the distinct approvals needed; `requested_by` who started
-- the run (never allowed to decide it). `decided_at` is set when the status leaves
-- `pending`. (`required` is a BIGINT on PostgreSQL, an INTEGER here: both read as an i64.)
CREATE TABLE approvals (
    run_id       TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    detail       TEXT NOT NULL,
    approvers    TEXT NOT NULL,
    required     INTEGER NOT NULL CHECK (required >= 1),
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    status       TEXT NOT NULL
        CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    decided_at   TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX approvals_by_status ON approvals (status, requested_at);

-- `approval_decisions`: each decider's decision on an approval, one per decider.
CREATE TABLE approval_decisions (
    run_id     TEXT NOT NULL,
    step_id    TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    comment    TEXT,
    at         TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, decided_by),
    FOREIGN KEY (run_id, step_id) REFERENCES approvals (run_id, step_id) ON DELETE CASCADE
);

-- The run store, version 1 (SQLite). Keep in step with ../postgres/0001_runs.sql: the same
-- columns and constraints, so that the store's SQL runs unchanged on both.
--
-- Times are TEXT in RFC 3339, UTC, fixed width (`2026-11-29T19:50:02.123456Z`), so that text
-- order is time order on both databases. JSON columns hold serde_json text.

CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY NOT NULL,
    playbook_name   TEXT NOT NULL,
    playbook_source TEXT NOT NULL,
    playbook_hash   TEXT NOT NULL,
    playbook_path   TEXT,
    inputs          TEXT NOT NULL,
    started_by      TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    outputs         TEXT,
    error           TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    -- For the scheduler and workers (claimed with FOR UPDATE SKIP LOCKED on PostgreSQL).
    queued_at       TEXT,
    claimed_by      TEXT,
    heartbeat_at    TEXT,
    schedule_name   TEXT,
    -- One run per schedule firing, whichever worker fires it.
    firing_key      TEXT UNIQUE
);

CREATE INDEX runs_by_start ON runs (started_at, run_id);
CREATE INDEX runs_by_status ON runs (status, started_at);
CREATE INDEX runs_by_playbook ON runs (playbook_name, started_at);

CREATE TABLE steps (
    run_id          TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step_index      INTEGER NOT NULL,
    step_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL,
    outputs         TEXT,
    request_summary TEXT,
    error           TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    deadline        TEXT,
    PRIMARY KEY (run_id, step_index)
);

CREATE TABLE events (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    sequence    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

CREATE TABLE intents (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step_id     TEXT NOT NULL,
    action_name TEXT NOT NULL,
    action_id   INTEGER,
    recorded_at TEXT NOT NULL,
    resolved_at TEXT,
    PRIMARY KEY (run_id, step_id)
);

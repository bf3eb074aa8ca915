-- Loop steps, version 9. Keep the SQLite and PostgreSQL files in step.
--
-- A `for_each` records each item's steps as steps of their own (`<loop>[<index>].<step>`), all
-- at their loop's position: a step is now known by its id, and `step_index` only orders them.
-- SQLite cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE steps_by_id (
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
    PRIMARY KEY (run_id, step_id)
);
INSERT INTO steps_by_id
    SELECT run_id, step_index, step_id, kind, status, attempts, outputs, request_summary,
           error, started_at, finished_at, deadline
    FROM steps;
DROP TABLE steps;
ALTER TABLE steps_by_id RENAME TO steps;
CREATE INDEX steps_by_position ON steps (run_id, step_index);

-- Step progress, version 10. Keep the SQLite and PostgreSQL files in step.
--
-- What a running step must find again on resume beyond its intents: for an `issue` step with a
-- `rollout`, the endpoints it listed (in wave order) and how far each wave came, so that a
-- resumed rollout continues with the same listing and split. One row per step id, replaced
-- as the step goes on; JSON text like the other JSON columns.
CREATE TABLE step_progress (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step_id     TEXT NOT NULL,
    progress    TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);

-- Loop steps, version 9. Keep the SQLite and PostgreSQL files in step.
--
-- A `for_each` records each item's steps as steps of their own (`<loop>[<index>].<step>`), all
-- at their loop's position: a step is now known by its id, and `step_index` only orders them.
ALTER TABLE steps DROP CONSTRAINT steps_pkey;
ALTER TABLE steps ADD PRIMARY KEY (run_id, step_id);
CREATE INDEX steps_by_position ON steps (run_id, step_index);

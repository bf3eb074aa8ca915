-- The run queue, version 2 (PostgreSQL). Keep in step with ../sqlite/0002_queue.sql.
--
-- `waits_for_previous` marks a queued run of a schedule with `overlap: queue`: no worker
-- claims it while another run of the same schedule is running. 0 or 1 (an INTEGER on both
-- databases, so that the same bind works on both).
ALTER TABLE runs ADD COLUMN waits_for_previous INTEGER NOT NULL DEFAULT 0;

-- Workers look for queued runs in queue order, the scheduler counts a schedule's active runs.
CREATE INDEX runs_by_queue ON runs (status, queued_at, run_id);
CREATE INDEX runs_by_schedule ON runs (schedule_name, status);

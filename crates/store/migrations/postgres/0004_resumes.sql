-- Resumes, version 4 (PostgreSQL). Keep in step with ../sqlite/0004_resumes.sql.
--
-- One row per `runbook runs resume` that claimed the run: when, by whom (`cli:<user>`), the
-- process that drove it from then on and its claim epoch, and the holder it took the run
-- from. Written under that claim (fenced), so a resume that lost the race records nothing.
CREATE TABLE resumes (
    run_id          TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    claim_epoch     BIGINT NOT NULL,
    resumed_at      TEXT NOT NULL,
    resumed_by      TEXT NOT NULL,
    holder          TEXT NOT NULL,
    previous_holder TEXT,
    PRIMARY KEY (run_id, claim_epoch)
);

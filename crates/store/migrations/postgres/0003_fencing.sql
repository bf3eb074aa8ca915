-- Fencing, version 3 (PostgreSQL). Keep in step with ../sqlite/0003_fencing.sql.
--
-- `claim_epoch` grows by one with every claim of a run; every write a process makes for a run
-- it drives is conditional on the holder and epoch of its own claim, so a process that lost
-- the run (paused past its lease, then taken over) can write nothing more.
-- `send_grace_ms` is how long the holder's requests may take (its request timeout plus a
-- margin); a takeover from a holder that may still be alive copies it to
-- `previous_grace_ms` (and the holder to `previous_holder`) and waits that long before it acts
-- on an intent the previous holder left unresolved.
-- `events.claim_epoch` records which claim wrote each event (NULL: an unfenced writer).
ALTER TABLE runs ADD COLUMN claim_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN send_grace_ms BIGINT;
ALTER TABLE runs ADD COLUMN previous_holder TEXT;
ALTER TABLE runs ADD COLUMN previous_grace_ms BIGINT;
ALTER TABLE events ADD COLUMN claim_epoch BIGINT;

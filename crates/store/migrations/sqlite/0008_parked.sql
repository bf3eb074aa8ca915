-- Parked runs, version 8. Keep the SQLite and PostgreSQL files in step.
--
-- `not_before`: a queued run that waits for people (an `approve` step with no decision yet)
-- is given back to the queue with the time to look at it again at the latest (its gate's
-- deadline, RFC 3339 in the time columns' form); workers do not claim it before then. A
-- decision that settles the gate clears it, so that the run is claimed at once. A claim
-- clears it too. NULL: claimable as soon as it is queued.
ALTER TABLE runs ADD COLUMN not_before TEXT;

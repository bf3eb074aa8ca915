-- The server a run ran against, version 5 (PostgreSQL). Keep in step with
-- ../sqlite/0005_server.sql.
--
-- `tanium_url` is the Tanium URL a run was started against, without credentials (no user
-- information, query or fragment), or `sim:in-process` for the simulator a `--sim` run
-- started inside its own process (gone with it: such a run cannot be resumed). NULL for runs
-- recorded before this version. `runs resume` connects to it and refuses another TANIUM_URL
-- unless told (`--server URL`).
ALTER TABLE runs ADD COLUMN tanium_url TEXT;

//! runbook-tanium-sim (being built).

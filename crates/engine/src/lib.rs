//! runbook-engine (being built).

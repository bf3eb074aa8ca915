//! runbook-store (being built).

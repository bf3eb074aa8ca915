//! runbook-tanium (being built).

//! runbook-playbook (being built).

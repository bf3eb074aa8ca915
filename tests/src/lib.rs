//! Harness for end-to-end tests of the `runbook` binary.

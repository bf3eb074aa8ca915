//! `on_failure` and `finally` end to end: `on_failure` runs after a failed assertion with
//! `run.failed_step` and `run.error`, not after success nor after a cancel; `finally` runs
//! last either way; a failing handler is reported after the first error, never instead of it;
//! and the validator keeps `run.status` to handlers.

use std::process::{Command, Stdio};
use std::time::Duration;

use runbook_tests::Test;
use serde_json::Value;

const HANDLED: &str = r#"version: 1
name: handled
inputs:
  fail: { type: boolean, default: false }
steps:
  - id: work
    set:
      said: working
  - id: check
    assert:
      that: "{{ not inputs.fail }}"
      message: the check failed on purpose
  - id: after
    log: "after the check"
on_failure:
  - id: undo
    log: "undo after {{ run.failed_step }}: {{ run.error }} (work said {{ steps.work.said }})"
finally:
  - id: notify
    log: "finally: {{ run.status }}"
"#;

/// Runs `runbook run FILE --json` with `args` in a test folder holding `files`; the events.
fn run_json(files: &[(&str, &str)], args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut test = Test::new();
    for (name, text) in files {
        test = test.file(name, *text);
    }
    let outcome = test
        .args(["run", files[0].0, "--sim", "--store", "none", "--json"])
        .args(args)
        .run();
    let events = outcome
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    (outcome.code, events, outcome.stderr)
}

/// The message a `log` step wrote.
fn logged<'a>(events: &'a [Value], step: &str) -> Option<&'a str> {
    events
        .iter()
        .find(|event| event["event"] == "log" && event["step_id"] == step)
        .and_then(|event| event["message"].as_str())
}

fn ran(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| event["event"] == "step_started")
        .filter_map(|event| event["step_id"].as_str().map(str::to_owned))
        .collect()
}

fn run_finished(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|event| event["event"] == "run_finished")
        .expect("a run_finished event")
}

#[test]
fn on_failure_runs_after_a_failed_assertion_with_how_the_run_failed() {
    let (code, events, stderr) = run_json(&[("handled.yaml", HANDLED)], &["--input", "fail=true"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        ran(&events),
        ["work", "check", "undo", "notify"],
        "{events:?}"
    );
    assert_eq!(
        logged(&events, "undo"),
        Some(
            "undo after check: step `check` failed: the check failed on purpose (work said working)"
        )
    );
    assert_eq!(logged(&events, "notify"), Some("finally: failed"));
    let end = run_finished(&events);
    assert_eq!(end["status"], "failed");
    assert_eq!(
        end["error"],
        "step `check` failed: the check failed on purpose"
    );
}

#[test]
fn after_success_only_finally_runs() {
    let (code, events, stderr) = run_json(&[("handled.yaml", HANDLED)], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(&events), ["work", "check", "after", "notify"]);
    assert_eq!(logged(&events, "notify"), Some("finally: succeeded"));
    assert_eq!(run_finished(&events)["status"], "succeeded");
}

#[test]
fn a_failing_handler_is_reported_after_the_first_error() {
    let failing = HANDLED.replace(
        "  - id: undo\n    log:",
        "  - id: undo\n    assert:\n      that: false\n      message: the undo failed too\n  - id: undo_note\n    log:",
    );
    let (code, events, stderr) = run_json(&[("handled.yaml", &failing)], &["--input", "fail=true"]);
    assert_eq!(code, 1, "{stderr}");
    // The on_failure list stops at its failure; finally still runs.
    assert_eq!(ran(&events), ["work", "check", "undo", "notify"]);
    let end = run_finished(&events);
    assert_eq!(
        end["error"],
        "step `check` failed: the check failed on purpose; then on_failure step `undo` failed: the undo failed too"
    );
}

#[test]
fn a_failing_finally_fails_a_run_that_succeeded() {
    let failing = HANDLED.replace(
        "  - id: notify\n    log: \"finally: {{ run.status }}\"",
        "  - id: notify\n    assert:\n      that: false\n      message: cannot notify",
    );
    let (code, events, stderr) = run_json(&[("handled.yaml", &failing)], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        run_finished(&events)["error"],
        "finally step `notify` failed: cannot notify"
    );
}

#[test]
fn run_status_exists_only_in_handlers_and_main_steps_cannot_read_them() {
    let wrong = r#"version: 1
name: wrong
steps:
  - id: early
    log: "{{ run.status }} {{ steps.undo.message }}"
on_failure:
  - id: undo
    log: "{{ run.error }}"
"#;
    let outcome = Test::new()
        .file("wrong.yaml", wrong)
        .args(["validate", "wrong.yaml"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let text = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(
        text.contains("`run.status` exists only in `on_failure` and `finally` steps"),
        "{text}"
    );
    assert!(text.contains("step `undo` runs later"), "{text}");
    let duplicate = "version: 1\nname: dup\nsteps:\n  - id: a\n    log: hi\nfinally:\n  - id: a\n    log: again\n";
    let outcome = Test::new()
        .file("dup.yaml", duplicate)
        .args(["validate", "dup.yaml"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("RB011") || outcome.stdout.contains("RB011"));
}

/// A run waiting at an `approve` gate is cancelled from outside: `on_failure` does not run (a
/// cancel means: do nothing more), `finally` does (it runs last, always), with
/// `run.status` `cancelled`.
#[test]
fn a_cancelled_run_runs_finally_but_not_on_failure() {
    let folder = tempfile::tempdir().expect("folder");
    let playbook = folder.path().join("gated.yaml");
    std::fs::write(
        &playbook,
        "version: 1\nname: gated\nsteps:\n  - id: review\n    approve:\n      summary: go?\n      timeout: 1d\non_failure:\n  - id: undo\n    log: undo\nfinally:\n  - id: notify\n    log: \"notify {{ run.status }}\"\n",
    )
    .expect("playbook");
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let runbook = runbook_tests::runbook_binary();
    let child = Command::new(&runbook)
        .args(["run"])
        .arg(&playbook)
        .args(["--sim", "--store", &store, "--json"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run started");
    // Wait for the gate, then cancel the run.
    let mut run_id = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let listed = Command::new(&runbook)
            .args(["approvals", "list", "--format", "json", "--store", &store])
            .output()
            .expect("approvals list");
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap_or(Value::Null);
        if let Some(id) = listed[0]["run_id"].as_str() {
            run_id = Some(id.to_owned());
            break;
        }
    }
    let run_id = run_id.expect("the run waits at its gate");
    let cancelled = Command::new(&runbook)
        .args(["runs", "cancel", &run_id, "--store", &store])
        .output()
        .expect("runs cancel");
    assert!(
        cancelled.status.success(),
        "{}",
        String::from_utf8_lossy(&cancelled.stderr)
    );
    let output = child.wait_with_output().expect("the run ends");
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert_eq!(ran(&events), ["review", "notify"], "{events:?}");
    assert_eq!(logged(&events, "notify"), Some("notify cancelled"));
    assert_eq!(run_finished(&events)["status"], "cancelled");
}

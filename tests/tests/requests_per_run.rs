//! The seed playbook's requests and its approval, through the binary against the built-in
//! simulator: at most 12 requests per run (issue 12, point 12), and the approver Tanium
//! records on the saved action in the approval step's outputs, its summary and
//! `runbook runs show` (issue 12, point 6).
//!
//! The request count is a count, not a timing: it varies a little with how many looks the
//! endpoint count and the poll take, so several runs are counted.

use runbook_tests::{Test, workspace_root};
use serde_json::Value;

/// The most requests one run of the seed playbook may send.
const MOST_PER_RUN: usize = 12;

fn seed_playbook() -> String {
    workspace_root()
        .join("playbooks/tag-suspect-host.yaml")
        .display()
        .to_string()
}

/// The JSON events a `--format json` run printed.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event.get("event").is_some())
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["event"] == kind)
        .collect()
}

#[test]
fn the_seed_playbook_sends_at_most_twelve_requests_per_run() {
    for _ in 0..3 {
        let outcome = Test::new()
            .args([
                "run",
                &seed_playbook(),
                "--sim",
                "--input",
                "hostname=WIN-DC01",
            ])
            .args(["--format", "json", "--store", "none"])
            .run();
        assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
        let events = events(&outcome.stdout);
        let sent: Vec<String> = of_kind(&events, "request_sent")
            .iter()
            .map(|event| format!("{} {} {}", event["method"], event["path"], event["status"]))
            .collect();
        assert!(
            sent.len() <= MOST_PER_RUN,
            "the seed playbook sent {} requests, more than {MOST_PER_RUN}:\n{}",
            sent.len(),
            sent.join("\n")
        );
        // The checks stay: the count before issuing, the lookup by name, the approval.
        for needed in [
            "/api/v2/questions",
            "/api/v2/actions/by-name/",
            "/api/v2/saved_actions/",
        ] {
            assert!(
                sent.iter().any(|line| line.contains(needed)),
                "no request to {needed}:\n{}",
                sent.join("\n")
            );
        }
    }
}

#[test]
fn the_approver_is_recorded_and_shown() {
    let test = Test::new();
    let store = format!("sqlite://{}/runs.db", test.path().display());
    let outcome = test
        .args(["run", &seed_playbook(), "--sim", "--sim-approval"])
        .args(["--sim-time-scale", "600", "--input", "hostname=WIN-DC01"])
        .args(["--format", "json", "--store", &store])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let events = events(&outcome.stdout);
    let approved = of_kind(&events, "step_finished")
        .into_iter()
        .find(|event| event["step_id"] == "approved")
        .unwrap_or_else(|| panic!("no step_finished for `approved`: {events:#?}"));
    // The simulated colleague who approves is the simulator's second user, `approver`.
    assert_eq!(approved["outputs"]["approver"], "approver", "{approved:#}");
    assert_eq!(approved["outputs"]["required"], true, "{approved:#}");
    let summary = approved["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("approved by approver"), "{summary}");

    let run_id = of_kind(&events, "run_started")
        .first()
        .and_then(|event| event["run_id"].as_str())
        .unwrap_or_else(|| panic!("no run_started with a run_id: {events:#?}"))
        .to_owned();
    let shown = Test::new()
        .args(["runs", "show", &run_id, "--store", &store])
        .run();
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("approved by approver"),
        "runs show names the approver:\n{}",
        shown.stdout
    );
}

#[test]
fn without_approval_nobody_is_named() {
    let outcome = Test::new()
        .args([
            "run",
            &seed_playbook(),
            "--sim",
            "--input",
            "hostname=WIN-DC01",
        ])
        .args(["--format", "json", "--store", "none"])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let events = events(&outcome.stdout);
    let approved = of_kind(&events, "step_finished")
        .into_iter()
        .find(|event| event["step_id"] == "approved")
        .unwrap_or_else(|| panic!("no step_finished for `approved`: {events:#?}"));
    assert_eq!(approved["outputs"]["approver"], Value::Null, "{approved:#}");
    assert_eq!(approved["outputs"]["required"], false, "{approved:#}");
}

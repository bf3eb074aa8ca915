//! `for_each` end to end, through the `runbook` binary against the simulator: each item's
//! action exactly once across 50 kill points (SIGKILL, and an abort right after the Nth HTTP
//! exchange) inside a loop running 3 items at once; never more than `concurrency` requests to
//! create actions in flight at once; the example `quarantine-hosts` undoing what a failed loop
//! did; and the plan showing every item's requests.

use std::process::{Command, Stdio};
use std::time::Duration;

use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};
use runbook_tests::{Random, runbook_against, runbook_binary, runs_listed, workspace_root};
use serde_json::Value;

const HOSTS: [&str; 4] = ["WIN-DC01", "WIN-FS01", "WIN-APP01", "web-01.corp.example"];

const LOOP: &str = r#"version: 1
name: loop
inputs:
  hosts: { type: list }
  concurrency_note: { type: string, default: "" }
steps:
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: looped }
  - id: per_host
    for_each:
      items: "{{ inputs.hosts }}"
      as: host
      concurrency: 3
      steps:
        - id: scope
          target:
            all:
              - { sensor: Computer Name, op: equals, value: "{{ host }}" }
        - id: tag
          issue:
            name: "loop {{ host }}"
            action_group: All Computers
            target: "{{ steps.scope.group }}"
            package: "{{ steps.params.package_spec }}"
        - id: results
          poll:
            action: "{{ steps.tag.action_id }}"
            interval: 100ms
            max_interval: 300ms
            timeout: 2m
        - id: check
          assert:
            that: "{{ steps.results.completed == steps.tag.targeted }}"
outputs:
  tagged: "{{ steps.per_host.succeeded }}"
  order: "{{ steps.per_host.results | map(attribute='item') | join(',') }}"
"#;

async fn simulator() -> RunningSim {
    Simulator::start(SimConfig {
        time_scale: 300.0,
        failure_share: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

fn runbook(sim: &RunningSim, store: &str) -> Command {
    runbook_against(&sim.base_url(), &sim.api_token(), store)
}

fn hosts_input() -> String {
    format!("hosts={}", serde_json::to_string(&HOSTS).unwrap())
}

fn runs_in(sim: &RunningSim, store: &str) -> Vec<Value> {
    runs_listed(&sim.base_url(), &sim.api_token(), store)
}

/// What one kill-and-resume trial runs and expects.
#[derive(Clone, Copy)]
struct Trial<'t> {
    /// `runbook run` arguments after `run`.
    args: &'t [String],
    /// The status the run must end with once resumed.
    ends: &'t str,
    /// Abort after at most this many HTTP exchanges (even trials)...
    most_requests: u64,
    /// ... or SIGKILL after at most this many milliseconds (odd ones).
    most_millis: u64,
}

/// One trial: start the run, kill it (an abort right after the Nth HTTP exchange, or SIGKILL
/// at a random time), resume it until it ends; the run id (None when the process died before
/// the run was recorded).
fn trial(
    sim: &RunningSim,
    store: &str,
    shape: &Trial<'_>,
    number: u64,
    random: &mut Random,
) -> Option<String> {
    let mut command = runbook(sim, store);
    command
        .arg("run")
        .args(shape.args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if number.is_multiple_of(2) {
        // Early exchanges hit the first steps; the middle ones land between an item's
        // POST /actions and recording its answer, with other items' requests in flight; late
        // ones hit the polls and the handlers.
        command.env(
            "RUNBOOK_TEST_ABORT_AFTER_REQUESTS",
            (1 + random.draw() % shape.most_requests).to_string(),
        );
        let _ = command.status().expect("runbook started");
    } else {
        let mut child = command.spawn().expect("runbook started");
        std::thread::sleep(Duration::from_millis(random.draw() % shape.most_millis));
        let _ = child.kill();
        let _ = child.wait();
    }
    let run_id = runs_in(sim, store).first()?["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    for _ in 0..3 {
        if runs_in(sim, store)[0]["status"] != "running" {
            break;
        }
        let _ = runbook(sim, store)
            .args(["runs", "resume", &run_id, "--json"])
            .output()
            .expect("resume started");
    }
    let run = &runs_in(sim, store)[0];
    assert_eq!(
        run["status"], shape.ends,
        "trial {number}: run {run_id} ended {run}"
    );
    Some(run_id)
}

/// Runs `count` trials of `shape` in 4 lanes against `sim`, each with a store of its own;
/// the run ids.
async fn trials(
    sim: std::sync::Arc<RunningSim>,
    count: u64,
    seed: u64,
    shape: Trial<'static>,
) -> Vec<String> {
    let folder = tempfile::tempdir().expect("temp folder");
    let lanes = 4;
    let mut handles = Vec::new();
    for lane in 0..lanes {
        let sim = sim.clone();
        let folder = folder.path().to_path_buf();
        handles.push(tokio::task::spawn_blocking(move || {
            let mut random = Random(seed ^ (lane + 1));
            (lane..count)
                .step_by(lanes as usize)
                .filter_map(|number| {
                    let store = format!(
                        "sqlite://{}",
                        folder.join(format!("trial-{number}.db")).display()
                    );
                    trial(&sim, &store, &shape, number, &mut random)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut run_ids = Vec::new();
    for handle in handles {
        run_ids.extend(handle.await.expect("a lane of trials ran"));
    }
    run_ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_loops_resume_and_issue_each_item_once() {
    let sim = std::sync::Arc::new(simulator().await);
    let playbook = tempfile::NamedTempFile::new().expect("playbook file");
    std::fs::write(playbook.path(), LOOP).unwrap();
    let args = vec![
        playbook.path().display().to_string(),
        "--input".into(),
        hosts_input(),
        "--json".into(),
    ];
    let shape = Trial {
        args: args.leak(),
        ends: "succeeded",
        most_requests: 40,
        most_millis: 600,
    };
    let run_ids = trials(sim.clone(), 50, 0xD1B5_4A32_D192_ED03, shape).await;
    assert!(
        run_ids.len() >= 40,
        "most trials got far enough to record a run: {}",
        run_ids.len()
    );
    let actions = sim.inspect().actions;
    for run_id in &run_ids {
        for (index, host) in HOSTS.iter().enumerate() {
            let key = format!("{run_id} tag#{index}]");
            let named: Vec<&str> = actions
                .iter()
                .filter(|action| action.name.contains(&key))
                .map(|action| action.name.as_str())
                .collect();
            assert_eq!(named.len(), 1, "run {run_id}, item {index}: {named:?}");
            assert!(
                named[0].starts_with(&format!("loop {host} [")),
                "item {index} tagged its own host: {}",
                named[0]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_sends_no_more_than_its_concurrency_at_once() {
    let sim = simulator().await;
    // Every request takes a while, so that items overlap for sure.
    sim.set_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let folder = tempfile::tempdir().expect("temp folder");
    let playbook = folder.path().join("loop.yaml");
    std::fs::write(&playbook, LOOP).unwrap();
    let hosts: Vec<String> = [
        "WIN-DC01",
        "WIN-DC02",
        "WIN-FS01",
        "WIN-SQL01",
        "WIN-APP01",
        "web-01.corp.example",
        "WIN-LAPTOP-0042",
        "WIN-LAPTOP-0033",
        "WIN-LAPTOP-0036",
    ]
    .map(str::to_owned)
    .to_vec();
    let output = runbook(&sim, "none")
        .args([
            "run",
            &playbook.display().to_string(),
            "--store",
            "none",
            "--json",
            "--input",
            &format!("hosts={}", serde_json::to_string(&hosts).unwrap()),
        ])
        .output()
        .expect("runbook ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let finished: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "run_finished")
        .expect("run_finished");
    assert_eq!(finished["outputs"]["tagged"], 9);
    assert_eq!(
        finished["outputs"]["order"],
        hosts.join(","),
        "results are in item order, whatever order the items ended in"
    );
    let inspector = sim.inspect();
    assert_eq!(inspector.request_count("POST", "/api/v2/actions"), 9);
    let most = inspector.most_in_flight("POST", "/api/v2/actions");
    assert!(
        (2..=3).contains(&most),
        "at most 3 (concurrency) actions were being created at once, and items did overlap: {most}"
    );
}

/// `runbook run playbooks/quarantine-hosts.yaml --sim --json` with these hosts: its exit code
/// and events.
fn quarantine(hosts: &[&str]) -> (i32, Vec<Value>) {
    let output = Command::new(runbook_binary())
        .current_dir(workspace_root())
        .args([
            "run",
            "playbooks/quarantine-hosts.yaml",
            "--sim",
            "--sim-time-scale",
            "600",
            "--store",
            "none",
            "--json",
            "--input",
            &format!("hosts={}", serde_json::to_string(hosts).unwrap()),
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("runbook ran");
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    (output.status.code().unwrap_or(-1), events)
}

#[test]
fn a_failed_host_stops_the_loop_and_on_failure_undoes_what_was_done() {
    let (code, events) = quarantine(&["WIN-DC01", "NO-SUCH-HOST", "WIN-APP01"]);
    assert_eq!(code, 1, "{events:#?}");
    let finished = events
        .iter()
        .find(|event| event["event"] == "run_finished")
        .expect("run_finished");
    let error = finished["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("step `per_host` failed: 1 of 3 items failed")
            && error.contains("item 1 (NO-SUCH-HOST)")
            && error.contains("min_endpoints"),
        "the first error names the failed item: {error}"
    );
    let issued: Vec<&str> = events
        .iter()
        .filter(|event| event["event"] == "action_issued")
        .filter_map(|event| event["name"].as_str())
        .collect();
    let quarantined: Vec<&&str> = issued
        .iter()
        .filter(|name| name.starts_with("Quarantine"))
        .collect();
    let undone: Vec<&&str> = issued
        .iter()
        .filter(|name| name.starts_with("Undo quarantine of"))
        .collect();
    assert!(
        !quarantined.is_empty(),
        "the hosts started before the failure were quarantined: {issued:?}"
    );
    assert_eq!(
        quarantined.len(),
        undone.len(),
        "every quarantined host was undone: {issued:?}"
    );
    let stopped = events
        .iter()
        .filter(|event| {
            event["event"] == "step_finished"
                && event["step_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("undo[") && id.ends_with("].stop"))
        })
        .count();
    assert_eq!(stopped, quarantined.len(), "each issued action was stopped");
    assert!(
        !issued.iter().any(|name| name.contains("NO-SUCH-HOST")),
        "nothing was issued for the host that matched no machine"
    );
}

#[test]
fn every_host_quarantined_needs_no_undo() {
    let (code, events) = quarantine(&["WIN-DC01", "WIN-APP01"]);
    assert_eq!(code, 0, "{events:#?}");
    let finished = events
        .iter()
        .find(|event| event["event"] == "run_finished")
        .expect("run_finished");
    assert_eq!(finished["outputs"]["quarantined"], 2);
    assert!(
        !events.iter().any(|event| event["step_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("undo"))),
        "on_failure did not run"
    );
}

#[test]
fn the_plan_shows_every_items_requests() {
    let output = Command::new(runbook_binary())
        .current_dir(workspace_root())
        .args([
            "plan",
            "playbooks/quarantine-hosts.yaml",
            "--format",
            "json",
            "--input",
            r#"hosts=["WIN-DC01","WIN-APP01"]"#,
        ])
        .output()
        .expect("runbook ran");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plan: Value = serde_json::from_slice(&output.stdout).expect("a JSON plan");
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|step| step["id"].as_str())
        .collect();
    for expected in [
        "per_host",
        "per_host[0].scope",
        "per_host[0].quarantine",
        "per_host[1].scope",
        "per_host[1].quarantine",
        "per_host[1].check",
    ] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
    }
    let text = serde_json::to_string(&plan).unwrap();
    assert!(
        text.contains(r#"Computer Name equals \"WIN-APP01\""#)
            || text.contains(r#"Computer Name equals \\\"WIN-APP01\\\""#),
        "the second item's target is rendered: {text}"
    );
    assert!(
        text.contains("quarantine#1"),
        "the action name carries the item's index: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_failing_loops_undo_once_and_issue_nothing_twice() {
    let sim = std::sync::Arc::new(simulator().await);
    // A host that matches no machine fails the loop; `on_failure` undoes the others.
    let args = vec![
        workspace_root()
            .join("playbooks/quarantine-hosts.yaml")
            .display()
            .to_string(),
        "--input".into(),
        r#"hosts=["WIN-DC01","NO-SUCH-HOST","WIN-APP01","WIN-FS01","WIN-SQL01"]"#.into(),
        "--json".into(),
    ];
    let shape = Trial {
        args: args.leak(),
        ends: "failed",
        most_requests: 60,
        most_millis: 500,
    };
    let run_ids = trials(sim.clone(), 24, 0xA076_1D64_78BD_642F, shape).await;
    assert!(
        run_ids.len() >= 18,
        "most trials recorded a run: {}",
        run_ids.len()
    );
    let actions = sim.inspect().actions;
    for run_id in &run_ids {
        let named = |marker: &str| -> Vec<&str> {
            actions
                .iter()
                .filter(|action| {
                    action.name.contains(run_id.as_str()) && action.name.contains(marker)
                })
                .map(|action| action.name.as_str())
                .collect()
        };
        let quarantined = named(" quarantine#");
        let undone = named(" remove#");
        for index in 0..5 {
            let once = |names: &[&str], step: &str| {
                let key = format!("{step}#{index}]");
                let count = names.iter().filter(|name| name.ends_with(&key)).count();
                assert!(
                    count <= 1,
                    "run {run_id}: {step}#{index} issued {count} times"
                );
            };
            once(&quarantined, "quarantine");
            once(&undone, "remove");
        }
        assert!(
            !quarantined.iter().any(|name| name.contains("NO-SUCH-HOST")),
            "run {run_id}: {quarantined:?}"
        );
        assert_eq!(
            quarantined.len(),
            undone.len(),
            "run {run_id}: every quarantined host was undone once: {quarantined:?} {undone:?}"
        );
    }
}

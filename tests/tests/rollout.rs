//! Staged rollouts (`issue.rollout`) through the `runbook` binary against the simulator: a
//! failure share beyond the budget stops the rollout after the first wave that crosses it
//! (stopping that wave's action with `stop_on_abort`), one within the budget goes through
//! every wave, and runs killed at random points and resumed issue every wave exactly once.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::{Random, runbook_against, runbook_binary, runs_listed};
use serde_json::Value;

/// A rollout over the Windows machines of the default fleet, every wait short: the simulator
/// runs fast, and `pause` and `interval` are on the real clock against a server.
fn playbook(waves: &str, max_failed_percent: u8, stop_on_abort: bool) -> String {
    format!(
        r#"version: 1
name: staged
steps:
  - id: machines
    target:
      filter_group: All Windows
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: {{ $1: staged }}
  - id: deploy
    issue:
      name: staged tag
      action_group: All Computers
      target: "{{{{ steps.machines.group }}}}"
      package: "{{{{ steps.params.package_spec }}}}"
      rollout:
        waves: {waves}
        until_percent: 100
        max_failed_percent: {max_failed_percent}
        pause: 50ms
        interval: 20ms
        stop_on_abort: {stop_on_abort}
outputs:
  completed: "{{{{ steps.deploy.totals.completed }}}}"
"#
    )
}

async fn simulator(failure_share: f64, time_scale: f64) -> RunningSim {
    Simulator::start(SimConfig {
        time_scale,
        failure_share,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

fn runbook(sim: &RunningSim, store: &str) -> Command {
    runbook_against(&sim.base_url(), &sim.api_token(), store)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON events of a `--json` run.
fn events(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// Runs the playbook once; its output, the run id and the run's record in the store.
fn run_once(sim: &RunningSim, folder: &Path, source: &str) -> (Output, String, Value) {
    let path = folder.join("staged.yaml");
    std::fs::write(&path, source).expect("playbook written");
    let store = format!("sqlite://{}", folder.join("runs.db").display());
    let output = runbook(sim, &store)
        .args(["run", &path.display().to_string(), "--json"])
        .output()
        .expect("runbook ran");
    let run_id = events(&output)
        .iter()
        .find(|event| event["event"] == "run_started")
        .and_then(|event| event["run_id"].as_str())
        .unwrap_or_else(|| panic!("no run_started:\n{}", text(&output.stderr)))
        .to_owned();
    let shown = runbook(sim, &store)
        .args(["runs", "show", &run_id, "--format", "json"])
        .output()
        .expect("runs show");
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let record = serde_json::from_slice(&shown.stdout).expect("runs show --format json");
    (output, run_id, record)
}

/// The recorded outputs of step `id`.
fn step_outputs(record: &Value, id: &str) -> Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|step| step["step_id"] == id))
        .map(|step| step["outputs"].clone())
        .unwrap_or_else(|| panic!("no step {id} in {record}"))
}

/// The simulator's actions of one run, by wave number (from the `@wave<k>` marker).
fn actions_by_wave(sim: &RunningSim, run_id: &str) -> Vec<(u32, runbook_tanium_sim::IssuedAction)> {
    let mut actions: Vec<_> = sim
        .inspect()
        .actions
        .into_iter()
        .filter(|action| action.name.contains(run_id))
        .map(|action| {
            let wave = action
                .name
                .rsplit("@wave")
                .next()
                .and_then(|rest| rest.trim_end_matches(']').parse::<u32>().ok())
                .unwrap_or_else(|| panic!("a wave marker in `{}`", action.name));
            (wave, action)
        })
        .collect();
    actions.sort_by_key(|(wave, action)| (*wave, action.id));
    actions
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_beyond_the_budget_stop_after_the_first_wave_that_crosses_it() {
    // Every endpoint fails: the canary wave crosses a 5% budget at once.
    let sim = simulator(1.0, 1000.0).await;
    for stop_on_abort in [true, false] {
        let folder = tempfile::tempdir().expect("temp folder");
        let (output, run_id, record) = run_once(
            &sim,
            folder.path(),
            &playbook(r#"[1, "50%", "100%"]"#, 5, stop_on_abort),
        );
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let failed = events(&output)
            .into_iter()
            .find(|event| event["event"] == "step_failed")
            .expect("the issue step failed");
        assert_eq!(failed["step_id"], "deploy");
        let error = failed["error"].as_str().unwrap_or_default();
        assert!(error.contains("rollout aborted at wave 1"), "{error}");
        let actions = actions_by_wave(&sim, &run_id);
        assert_eq!(
            actions.len(),
            1,
            "only the first wave was issued: {actions:?}"
        );
        let (wave, action) = &actions[0];
        assert_eq!(*wave, 1);
        assert_eq!(action.targeted_computer_names.len(), 1, "{action:?}");
        assert_eq!(
            action.stopped, stop_on_abort,
            "stop_on_abort {stop_on_abort}: {action:?}"
        );
        if stop_on_abort {
            assert!(error.contains("was stopped"), "{error}");
        } else {
            assert!(error.contains("keeps running"), "{error}");
        }
        let outputs = step_outputs(&record, "deploy");
        assert_eq!(outputs["aborted"], true, "{outputs}");
        assert_eq!(outputs["failed"], true, "the step failed: {outputs}");
        assert_eq!(outputs["totals"]["failed"], 1, "{outputs}");
        assert_eq!(outputs["waves"].as_array().map(Vec::len), Some(1));
        assert_eq!(outputs["waves"][0]["action_id"], action.id);
        assert_eq!(outputs["action_id"], action.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_share_of_failures_stops_at_the_wave_whose_failures_cross_the_budget() {
    // A third of the endpoints fail (drawn per action and endpoint, the same on every run of
    // this seed): some wave crosses a 20% budget; none is issued after it.
    let sim = simulator(0.34, 1000.0).await;
    let folder = tempfile::tempdir().expect("temp folder");
    let (output, run_id, record) = run_once(
        &sim,
        folder.path(),
        &playbook(r#"[2, "25%", "50%", "75%", "100%"]"#, 20, true),
    );
    let outputs = step_outputs(&record, "deploy");
    let waves = outputs["waves"].as_array().cloned().unwrap_or_default();
    let actions = actions_by_wave(&sim, &run_id);
    assert_eq!(actions.len(), waves.len(), "{outputs}");
    let crosses = |wave: &Value| {
        wave["failed"].as_u64().unwrap_or(0) * 100 > 20 * wave["finished"].as_u64().unwrap_or(0)
    };
    if outputs["aborted"] == true {
        assert_eq!(output.status.code(), Some(1));
        assert!(
            waves.iter().any(crosses),
            "a wave crossed the budget: {outputs}"
        );
        let (_, last) = actions.last().expect("a wave was issued");
        assert!(
            last.stopped,
            "the crossing wave's action was stopped: {last:?}"
        );
        assert!(
            actions[..actions.len() - 1]
                .iter()
                .all(|(_, action)| !action.stopped),
            "earlier waves were left alone"
        );
    } else {
        // Every wave within the budget: the rollout went through.
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(!waves.iter().any(crosses), "{outputs}");
        assert_eq!(actions.len(), 5);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_within_the_budget_go_through_every_wave_to_every_endpoint_once() {
    let sim = simulator(0.0, 1000.0).await;
    let folder = tempfile::tempdir().expect("temp folder");
    let (output, run_id, record) = run_once(
        &sim,
        folder.path(),
        &playbook(r#"[1, "10%", "50%", "100%"]"#, 5, true),
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let outputs = step_outputs(&record, "deploy");
    let listed = outputs["listed"].as_u64().expect("listed");
    assert!(listed >= 10, "the Windows machines that answer: {outputs}");
    let actions = actions_by_wave(&sim, &run_id);
    let waves: Vec<u32> = actions.iter().map(|(wave, _)| *wave).collect();
    assert_eq!(waves, vec![1, 2, 3, 4], "one action per wave: {actions:?}");
    // Cumulative sizes 1, 10%, 50%, 100%: each wave targets only the endpoints new to it,
    // every endpoint listed in exactly one wave.
    let mut reached = BTreeSet::new();
    let mut sizes = Vec::new();
    for (_, action) in &actions {
        assert!(!action.stopped);
        sizes.push(action.targeted_computer_names.len() as u64);
        for name in &action.targeted_computer_names {
            assert!(reached.insert(name.clone()), "{name} targeted twice");
        }
    }
    let expected = [
        1,
        listed.div_ceil(10).max(1) - 1,
        listed.div_ceil(2) - listed.div_ceil(10).max(1),
        listed - listed.div_ceil(2),
    ];
    assert_eq!(sizes, expected, "{outputs}");
    assert_eq!(reached.len() as u64, listed);
    assert_eq!(outputs["totals"]["completed"], listed, "{outputs}");
    assert_eq!(outputs["targeted"], listed, "{outputs}");
    assert_eq!(outputs["aborted"], false);
    // The outputs the validator lets later steps read are the ones written.
    let written: BTreeSet<&str> = outputs
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut known: BTreeSet<&str> = runbook_playbook::ISSUE_ROLLOUT_OUTPUTS
        .into_iter()
        .collect();
    known.insert("skipped");
    assert_eq!(written, known);
    assert_eq!(outputs["action_id"], actions[3].1.id);
    let names: Vec<String> = events(&output)
        .iter()
        .map(|event| event["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    let started = names.iter().filter(|name| *name == "wave_started").count();
    let finished = names.iter().filter(|name| *name == "wave_finished").count();
    assert_eq!((started, finished), (4, 4), "{names:?}");
}

fn runs_in(sim: &RunningSim, store: &str) -> Vec<Value> {
    runs_listed(&sim.base_url(), &sim.api_token(), store)
}

/// One trial: start the rollout, kill it (SIGKILL after a while, or an abort right after the
/// Nth HTTP exchange), resume it until it ends; the run id, if the run was recorded.
fn trial(sim: &RunningSim, folder: &Path, number: u64, random: &mut Random) -> Option<String> {
    let store = format!(
        "sqlite://{}",
        folder.join(format!("trial-{number}.db")).display()
    );
    let playbook = folder.join("staged.yaml");
    let mut command = runbook(sim, &store);
    command
        .args(["run", &playbook.display().to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if number.is_multiple_of(2) {
        // Early exchanges hit the target, the package and the listing; later ones land
        // between a wave's POST /actions and its record, in a wave's polls, or in a pause.
        command.env(
            "RUNBOOK_TEST_ABORT_AFTER_REQUESTS",
            (4 + random.draw() % 36).to_string(),
        );
        command.stdout(Stdio::null());
        let _ = command.status().expect("runbook started");
    } else {
        let mut child = command.spawn().expect("runbook started");
        // The kill lands after the run was recorded (its first event, `run_started`, is
        // printed once it is), however slowly the process started.
        if let Some(stdout) = child.stdout.take() {
            let mut first = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first);
        }
        std::thread::sleep(Duration::from_millis(random.draw() % 250));
        let _ = child.kill();
        let _ = child.wait();
    }
    let first = runs_in(sim, &store).first()?.clone();
    let run_id = first["run_id"].as_str()?.to_owned();
    let mut status = first["status"].clone();
    for _ in 0..3 {
        if status != "running" {
            break;
        }
        let output = runbook(sim, &store)
            .args(["runs", "resume", &run_id, "--json"])
            .output()
            .expect("resume started");
        assert!(
            output.status.success(),
            "trial {number}: resume of {run_id} failed:\n{}\n{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        status = runs_in(sim, &store)[0]["status"].clone();
    }
    assert_eq!(status, "succeeded", "trial {number}: run {run_id}");
    Some(run_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollouts_killed_between_and_inside_waves_resume_and_issue_every_wave_once() {
    // The endpoints finish within milliseconds; the pauses between waves (50ms) and the
    // polls remain, so that kills land before, inside and between waves.
    let sim = std::sync::Arc::new(simulator(0.0, 10_000.0).await);
    let folder = tempfile::tempdir().expect("temp folder");
    std::fs::write(
        folder.path().join("staged.yaml"),
        playbook(r#"[1, "50%", "100%"]"#, 5, true),
    )
    .unwrap();
    let trials: u64 = 50;
    let lanes = 4;
    let mut handles = Vec::new();
    for lane in 0..lanes {
        let sim = sim.clone();
        let folder = folder.path().to_path_buf();
        handles.push(tokio::task::spawn_blocking(move || {
            let mut random = Random(0x2545_F491_4F6C_DD1D ^ (lane + 1));
            (lane..trials)
                .step_by(lanes as usize)
                .filter_map(|number| trial(&sim, &folder, number, &mut random))
                .collect::<Vec<_>>()
        }));
    }
    let mut run_ids = Vec::new();
    for handle in handles {
        run_ids.extend(handle.await.expect("a lane of trials ran"));
    }
    // Every trial records its run before it is killed (an abort comes after the 4th
    // exchange at the earliest, SIGKILL after the first event).
    assert_eq!(run_ids.len() as u64, trials, "every trial recorded a run");
    for run_id in &run_ids {
        let actions = actions_by_wave(&sim, run_id);
        let waves: Vec<u32> = actions.iter().map(|(wave, _)| *wave).collect();
        assert_eq!(
            waves,
            vec![1, 2, 3],
            "run {run_id}: every wave issued exactly once: {actions:?}"
        );
        let mut reached = BTreeSet::new();
        for (_, action) in &actions {
            for name in &action.targeted_computer_names {
                assert!(
                    reached.insert(name.clone()),
                    "run {run_id}: {name} in two waves (the split changed on resume)"
                );
            }
        }
    }
}

#[test]
fn the_plan_shows_the_waves_and_live_their_sizes() {
    let root = runbook_tests::workspace_root();
    let playbook = root.join("playbooks/staged-log-level.yaml");
    let offline = Command::new(runbook_binary())
        .args(["plan", &playbook.display().to_string()])
        .env("NO_COLOR", "1")
        .output()
        .expect("runbook plan");
    let plan = text(&offline.stdout);
    assert!(
        offline.status.success(),
        "{plan}\n{}",
        text(&offline.stderr)
    );
    assert!(
        plan.contains("one action per wave, cumulative [1, 10%, 100%]"),
        "{plan}"
    );
    assert!(plan.contains("deploy@wave1]"), "{plan}");
    assert!(
        plan.contains("\"context_group\""),
        "the listing question: {plan}"
    );
    assert!(!plan.contains("waves of"), "sizes need --live: {plan}");
    let live = Command::new(runbook_binary())
        .args(["plan", &playbook.display().to_string(), "--live", "--sim"])
        .env("NO_COLOR", "1")
        .output()
        .expect("runbook plan --live");
    let plan = text(&live.stdout);
    assert!(live.status.success(), "{plan}\n{}", text(&live.stderr));
    // The default fleet has 18 Windows machines answering: 1, then 10% (2) in all, then all.
    assert!(
        plan.contains("live: waves of 1, 1, 16 endpoint(s)"),
        "{plan}"
    );
}

//! Durable runs: kill `runbook run` at random points (SIGKILL, and an abort right after the
//! Nth HTTP exchange, which lands between `POST /actions` and recording its answer), then
//! `runbook runs resume`: every run ends succeeded and the simulator holds exactly one action
//! per run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::{Random, runbook_against, runs_listed};
use serde_json::Value;

const PLAYBOOK: &str = r#"version: 1
name: durable
inputs:
  host: { type: string }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: durable }
  - id: tag
    issue:
      name: "durable {{ inputs.host }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: approved
    await_approval:
      action: "{{ steps.tag.action_id }}"
      interval: 100ms
      timeout: 1m
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
  completed: "{{ steps.results.completed }}"
"#;

fn runbook(sim: &RunningSim, store: &str) -> Command {
    runbook_against(&sim.base_url(), &sim.api_token(), store)
}

fn runs_in(sim: &RunningSim, store: &str) -> Vec<Value> {
    runs_listed(&sim.base_url(), &sim.api_token(), store)
}

/// One trial: start a run, kill it, resume it until it ends; returns the run id (None when
/// the process died before the run was recorded, which leaves nothing to resume).
fn trial(sim: &RunningSim, folder: &Path, number: u64, random: &mut Random) -> Option<String> {
    let store = format!(
        "sqlite://{}",
        folder.join(format!("trial-{number}.db")).display()
    );
    let playbook = folder.join("durable.yaml");
    let host = ["WIN-DC01", "WIN-FS01", "web-01.corp.example"][(number % 3) as usize];
    let mut command = runbook(sim, &store);
    command
        .args([
            "run",
            &playbook.display().to_string(),
            "--input",
            &format!("host={host}"),
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if number.is_multiple_of(2) {
        // Crash right after the Nth exchange: early ones hit target and parameterize, the
        // middle ones land between POST /actions and recording its answer, late ones hit waits.
        command.env(
            "RUNBOOK_TEST_ABORT_AFTER_REQUESTS",
            (1 + random.draw() % 16).to_string(),
        );
        let status = command.status().expect("runbook started");
        assert!(!status.success() || status.code() == Some(0), "{status:?}");
    } else {
        let mut child = command.spawn().expect("runbook started");
        std::thread::sleep(Duration::from_millis(random.draw() % 400));
        let _ = child.kill(); // SIGKILL; the run may have finished already
        let _ = child.wait();
    }
    let runs = runs_in(sim, &store);
    let run = runs.first()?;
    let run_id = run["run_id"].as_str().expect("run id").to_owned();
    for _ in 0..3 {
        let status = runs_in(sim, &store)[0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
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
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let status = runs_in(sim, &store)[0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        status, "succeeded",
        "trial {number}: run {run_id} ended {status}"
    );
    Some(run_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_runs_resume_and_issue_exactly_one_action() {
    let sim = fast_simulator(false).await;
    let folder = tempfile::tempdir().expect("temp folder");
    std::fs::write(folder.path().join("durable.yaml"), PLAYBOOK).unwrap();
    let sim = std::sync::Arc::new(sim);
    let trials: u64 = 100;
    let lanes = 4;
    let mut handles = Vec::new();
    for lane in 0..lanes {
        let sim = sim.clone();
        let folder = folder.path().to_path_buf();
        handles.push(tokio::task::spawn_blocking(move || {
            let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ (lane + 1));
            let mut run_ids = Vec::new();
            for number in (lane..trials).step_by(lanes as usize) {
                if let Some(run_id) = trial(&sim, &folder, number, &mut random) {
                    run_ids.push(run_id);
                }
            }
            run_ids
        }));
    }
    let mut run_ids = Vec::new();
    for handle in handles {
        run_ids.extend(handle.await.expect("a lane of trials ran"));
    }
    assert!(
        run_ids.len() >= 80,
        "most trials got far enough to record a run: {}",
        run_ids.len()
    );
    let actions = sim.inspect().actions;
    for run_id in &run_ids {
        let count = actions
            .iter()
            .filter(|action| action.name.contains(run_id.as_str()))
            .count();
        assert_eq!(count, 1, "run {run_id} issued {count} actions");
    }
    println!(
        "{} trials, {} runs recorded and resumed to success, {} actions",
        trials,
        run_ids.len(),
        actions.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_reach_the_store() {
    let sim = fast_simulator(false).await;
    let folder = tempfile::tempdir().expect("temp folder");
    let playbook = folder.path().join("secret.yaml");
    std::fs::write(
        &playbook,
        r#"version: 1
name: secretive
secrets: [RUNBOOK_TEST_API_KEY]
inputs:
  host: { type: string }
  password: { type: string, secret: true }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: note
    log: "key {{ secrets.RUNBOOK_TEST_API_KEY }} password {{ inputs.password }} upper {{ inputs.password | upper }}"
  - id: keep
    set:
      derived: "{{ secrets.RUNBOOK_TEST_API_KEY ~ '-suffix' }}"
outputs:
  leaked: "{{ inputs.password }}"
"#,
    )
    .unwrap();
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let output = runbook(&sim, &store)
        .env("RUNBOOK_TEST_API_KEY", "key-0123456789abcdef")
        .args([
            "run",
            &playbook.display().to_string(),
            "--input",
            "host=WIN-DC01",
            "--input",
            "password=hunter2-correct-horse",
            "--json",
        ])
        .output()
        .expect("runbook ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [
        "key-0123456789abcdef",
        "hunter2-correct-horse",
        "HUNTER2-CORRECT-HORSE",
    ] {
        assert!(!stdout.contains(secret), "{secret} was printed: {stdout}");
        for entry in std::fs::read_dir(folder.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes());
            assert!(!found, "{secret} is stored in clear in {}", path.display());
        }
    }
    assert!(stdout.contains("[REDACTED]"), "{stdout}");
    // The run was recorded all the same.
    let runs = runs_in(&sim, &store);
    assert_eq!(runs[0]["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_the_issued_actions_when_asked() {
    // The run waits for an approval that never comes; kill it once the action exists.
    let (sim, _folder, store, mut child) = waiting_for_approval().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();
    let run_id = runs_in(&sim, &store)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // `runs cancel` takes no simulator flag: it stops actions where the run ran.
    let output = runbook(&sim, &store)
        .args(["runs", "cancel", &run_id, "--stop-actions", "--sim"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    // Without TANIUM_URL: the server the run recorded.
    let output = runbook(&sim, &store)
        .env_remove("TANIUM_URL")
        .args(["runs", "cancel", &run_id, "--stop-actions"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("cancelled") && stderr.contains("stopped"),
        "{stderr}"
    );
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1);
    assert!(
        actions[0].stopped,
        "the action was stopped in Tanium: {:?}",
        actions[0]
    );
    assert_eq!(runs_in(&sim, &store)[0]["status"], "cancelled");
    // A cancelled run is not resumed.
    let output = runbook(&sim, &store)
        .args(["runs", "resume", &run_id])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_asks_for_secret_inputs_again_and_never_sends_redacted_values() {
    let sim = fast_simulator(false).await;
    let folder = tempfile::tempdir().expect("temp folder");
    let playbook = folder.path().join("tag.yaml");
    std::fs::write(
        &playbook,
        r#"version: 1
name: secret-tag
inputs:
  host: { type: string }
  tag: { type: string, secret: true }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: "{{ inputs.tag }}" }
  - id: tag
    issue:
      name: "secret tag {{ inputs.host }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
"#,
    )
    .unwrap();
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    // Crash after the package was read (the parameterize step is recorded, redacted) and
    // before anything was issued.
    let status = runbook(&sim, &store)
        .env("RUNBOOK_TEST_ABORT_AFTER_REQUESTS", "3")
        .args([
            "run",
            &playbook.display().to_string(),
            "--input",
            "host=WIN-DC01",
            "--input",
            "tag=Quarantine-4711",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let run_id = runs_in(&sim, &store)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sim.inspect().actions.is_empty());

    let output = runbook(&sim, &store)
        .args(["runs", "resume", &run_id])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("tag"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let output = runbook(&sim, &store)
        .args(["runs", "resume", &run_id, "--input", "host=OTHER"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a recorded input cannot change"
    );

    let output = runbook(&sim, &store)
        .args([
            "runs",
            "resume",
            &run_id,
            "--input",
            "tag=Quarantine-4711",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].parameters,
        vec![("$1".to_owned(), "Quarantine-4711".to_owned())],
        "the real value, not [REDACTED]"
    );
    // The resume is its own entry of the run's history: when, by whom, under which claim.
    let output = runs_command(&sim, &store, &["runs", "show", &run_id]);
    let report = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let resumed: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("resumed   20"))
        .collect();
    assert_eq!(resumed.len(), 1, "one resume drove the run: {report}");
    assert!(
        resumed[0].contains(" by cli") && resumed[0].contains("claim 2"),
        "{report}"
    );
    let output = runs_command(&sim, &store, &["runs", "show", &run_id, "--format", "json"]);
    let record: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let resumes = record["resumes"].as_array().cloned().unwrap_or_default();
    assert_eq!(resumes.len(), 1, "{record}");
    assert_eq!(resumes[0]["claim_epoch"], 2);
    assert!(
        resumes[0]["resumed_at"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z')),
        "{record}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_process_lives_is_not_resumed_elsewhere() {
    // The run waits for an approval that never comes: its process is alive throughout.
    let (sim, _folder, store, mut child) = waiting_for_approval().await;
    let run_id = runs_in(&sim, &store)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let output = runbook(&sim, &store)
        .args(["runs", "resume", &run_id])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is being run by cli:"), "{stderr}");
    assert_eq!(
        sim.inspect().actions.len(),
        1,
        "the refused resume issued nothing"
    );
}

/// A simulator on a fast clock where every endpoint succeeds; approval on when asked.
async fn fast_simulator(approval_required: bool) -> RunningSim {
    Simulator::start(SimConfig {
        time_scale: 300.0,
        failure_share: 0.0,
        approval_required,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

/// A simulator that requires approval, and a `runbook run` of the durable playbook waiting for
/// an approval that never comes, once its action exists.
async fn waiting_for_approval() -> (RunningSim, tempfile::TempDir, String, std::process::Child) {
    let sim = fast_simulator(true).await;
    let folder = tempfile::tempdir().expect("temp folder");
    let playbook = folder.path().join("durable.yaml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let child = runbook(&sim, &store)
        .args([
            "run",
            &playbook.display().to_string(),
            "--input",
            "host=WIN-DC01",
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runbook started");
    let mut waited = 0;
    while sim.inspect().actions.is_empty() && waited < 200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(sim.inspect().actions.len(), 1, "the run issued its action");
    (sim, folder, store, child)
}

/// `runbook` with these arguments against this store; its output, whatever its exit.
fn runs_command(sim: &RunningSim, store: &str, args: &[&str]) -> std::process::Output {
    runbook(sim, store)
        .args(args)
        .output()
        .expect("runbook ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_see_interrupted_runs_name_them_by_prefix_filter_time_and_prune_them() {
    let (sim, folder, store, mut child) = waiting_for_approval().await;
    let waiting = runs_in(&sim, &store)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // While its process lives, the run is running.
    let listed = runs_in(&sim, &store);
    assert_eq!(listed[0]["state"], "running", "{listed:?}");
    let _ = child.kill();
    let _ = child.wait();

    // A second run of another playbook, finished, in the same store.
    let quick = folder.path().join("quick.yaml");
    std::fs::write(
        &quick,
        "version: 1\nname: quick\nsteps:\n  - id: note\n    log: hello\n",
    )
    .unwrap();
    let output = runs_command(&sim, &store, &["run", &quick.display().to_string()]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    // The killed run shows as interrupted; its stored status stays running.
    let listed = runs_in(&sim, &store);
    let killed = listed
        .iter()
        .find(|run| run["run_id"] == waiting.as_str())
        .expect("listed");
    assert_eq!(killed["state"], "interrupted", "{killed}");
    assert_eq!(killed["status"], "running", "{killed}");
    let output = runs_command(&sim, &store, &["runs", "list"]);
    let table = text(&output.stdout);
    assert!(
        table
            .lines()
            .any(|line| line.starts_with(waiting.as_str()) && line.contains("interrupted")),
        "{table}"
    );

    // Filters: status (interrupted and running are told apart), playbook, since, limit,
    // --format json.
    let ids = |args: &[&str]| -> Vec<String> {
        let output = runs_command(&sim, &store, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout)
            .expect("JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|run| run["run_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let list = ["runs", "list", "--format", "json"];
    assert_eq!(
        ids(&[&list[..], &["--status", "interrupted"]].concat()),
        vec![waiting.clone()]
    );
    assert!(ids(&[&list[..], &["--status", "running"]].concat()).is_empty());
    let quick_runs = ids(&[&list[..], &["--playbook", "quick"]].concat());
    assert_eq!(quick_runs.len(), 1);
    let quick_id = quick_runs[0].clone();
    assert_eq!(ids(&[&list[..], &["--since", "1h"]].concat()).len(), 2);
    assert_eq!(
        ids(&[&list[..], &["--since", "2026-01-01"]].concat()).len(),
        2
    );
    assert!(ids(&[&list[..], &["--since", "2999-01-01T00:00:00Z"]].concat()).is_empty());
    assert_eq!(
        ids(&[&list[..], &["--limit", "1"]].concat()),
        vec![quick_id.clone()]
    );
    let output = runs_command(&sim, &store, &["runs", "list", "--since", "yesterday"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("neither a duration"),
        "{}",
        text(&output.stderr)
    );

    // Short prefixes: unique ones name the run, ambiguous ones list the candidates, too short
    // ones are refused.
    let prefix = &waiting[..13];
    let output = runs_command(&sim, &store, &["runs", "show", prefix]);
    let report = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        report.contains(&format!("run {waiting}  interrupted")),
        "{report}"
    );
    assert!(report.contains("runbook runs resume"), "{report}");
    // Events carry their time.
    assert!(report.contains("events"), "{report}");
    assert!(
        report
            .lines()
            .any(|line| line.trim_start().starts_with("20") && line.contains("run_started")),
        "{report}"
    );
    let output = runs_command(&sim, &store, &["runs", "show", &waiting[..4]]);
    let refused = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{refused}");
    assert!(
        refused.contains("more than one run")
            && refused.contains(&waiting)
            && refused.contains(&quick_id),
        "{refused}"
    );
    let output = runs_command(&sim, &store, &["runs", "show", &waiting[..3]]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("too short"),
        "{}",
        text(&output.stderr)
    );
    let output = runs_command(&sim, &store, &["runs", "show", "ffffffff"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no run ffffffff"),
        "{}",
        text(&output.stderr)
    );

    let output = runs_command(&sim, &store, &["runs", "show", prefix, "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let record: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(record["state"], "interrupted");
    let events = record["events"].as_array().cloned().unwrap_or_default();
    assert!(!events.is_empty());
    for event in &events {
        let time = event["recorded_at"].as_str().unwrap_or_default();
        assert!(time.len() == 27 && time.ends_with('Z'), "{event}");
    }
    // --json stays an alias.
    let output = runs_command(&sim, &store, &["runs", "show", prefix, "--json"]);
    assert!(output.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON")["state"],
        "interrupted"
    );

    // Cancel by prefix, then prune: finished runs only, and it says how many.
    let output = runs_command(&sim, &store, &["runs", "cancel", prefix]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains(&format!("run {waiting} cancelled")));
    let output = runs_command(&sim, &store, &["runs", "prune", "--older-than", "90d"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("removed 0 finished runs"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(runs_in(&sim, &store).len(), 2);
    let output = runs_command(&sim, &store, &["runs", "prune", "--older-than", "0s"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("removed 2 finished runs"),
        "{}",
        text(&output.stdout)
    );
    assert!(runs_in(&sim, &store).is_empty());
    let output = runs_command(&sim, &store, &["runs", "prune"]);
    assert_eq!(output.status.code(), Some(2), "--older-than is required");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_keeps_to_the_recorded_server_and_an_in_process_simulator_run_cannot_resume() {
    let (sim, folder, store, mut child) = waiting_for_approval().await;
    let _ = child.kill();
    let _ = child.wait();
    let run_id = runs_in(&sim, &store)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let output = runs_command(&sim, &store, &["runs", "show", &run_id, "--format", "json"]);
    let record: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let recorded = sim.base_url().trim_end_matches('/').to_owned();
    assert_eq!(record["tanium_url"], recorded.as_str(), "{record}");
    assert!(
        !text(&output.stdout).contains(sim.api_token().as_str()),
        "no credential is recorded"
    );

    // Another TANIUM_URL is refused, and says how to insist.
    let output = runbook(&sim, &store)
        .env("TANIUM_URL", "http://127.0.0.1:9")
        .args(["runs", "resume", &run_id])
        .output()
        .unwrap();
    let refused = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{refused}");
    assert!(
        refused.contains(&recorded) && refused.contains("--server http://127.0.0.1:9"),
        "{refused}"
    );
    assert_eq!(
        sim.inspect().actions.len(),
        1,
        "the refused resume sent nothing"
    );

    // A run against the simulator inside its own process cannot be resumed.
    let playbook = folder.path().join("durable.yaml");
    let sim_store = format!("sqlite://{}", folder.path().join("sim-runs.db").display());
    let status = runbook(&sim, &sim_store)
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        .env("RUNBOOK_TEST_ABORT_AFTER_REQUESTS", "2")
        .args([
            "run",
            &playbook.display().to_string(),
            "--sim",
            "--input",
            "host=WIN-DC01",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let sim_run = runs_in(&sim, &sim_store)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let output = runbook(&sim, &sim_store)
        .env_remove("TANIUM_URL")
        .args(["runs", "resume", &sim_run])
        .output()
        .unwrap();
    let refused = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{refused}");
    assert!(
        refused.contains("cannot be resumed") && refused.contains("runbook sim"),
        "{refused}"
    );
}

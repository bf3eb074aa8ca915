//! The simulator's state file end to end: kill a durable run and its simulator, start the
//! simulator again with its `--state` file, resume the run.
//!
//! - `runbook sim --state FILE` as a child process; `runbook run` stops itself (pause point
//!   `after_post`: the action is created, its answer not yet recorded); both are killed with
//!   SIGKILL; the simulator is started again on the same port with the same file; `runbook
//!   runs resume` finds the action by name and finishes the run: the same action id, and the
//!   second simulator created no action.
//! - The same, killed once the action id is recorded and the run polls: the resume polls that
//!   id on the new simulator, which knows it and whose clock went on.
//! - `runbook serve --sim --sim-state FILE` killed with SIGKILL while its run polls, and started
//!   again: the run ends succeeded with the one action the file holds.
//! - A state file that is not one is refused at start, naming it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use runbook_tests::is_stopped;
use runbook_tests::runbook_binary;
use serde_json::Value;

const PLAYBOOK: &str = r#"version: 1
name: restarted
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
      params: { $1: restarted }
  - id: tag
    issue:
      name: "restarted {{ inputs.host }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      interval: 100ms
      max_interval: 300ms
      timeout: 5m
  - id: check
    assert:
      that: "{{ steps.results.completed == steps.tag.targeted }}"
outputs:
  action: "{{ steps.tag.action_id }}"
  completed: "{{ steps.results.completed }}"
"#;

/// A child process killed (SIGKILL) and reaped when dropped, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `runbook sim --state FILE` on a port, with what it printed.
struct Sim {
    _process: Killed,
    url: String,
    token: String,
    state_line: String,
}

impl Sim {
    fn start(state: &Path, port: u16) -> Sim {
        let mut child = Command::new(runbook_binary())
            .args(["sim", "--time-scale", "3", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state")
            .arg(state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runbook sim started");
        let stdout = child.stdout.take().expect("stdout");
        let process = Killed(child);
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = received.recv_timeout(left) else {
                break;
            };
            let done = line.starts_with("Keeping its state in");
            printed.push(line);
            if done {
                break;
            }
        }
        let value = |prefix: &str| {
            printed
                .iter()
                .find_map(|line| line.trim().strip_prefix(prefix))
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("runbook sim printed no {prefix}: {printed:#?}"))
        };
        Sim {
            url: value("export TANIUM_URL="),
            token: value("export TANIUM_TOKEN="),
            state_line: value("Keeping its state in "),
            _process: process,
        }
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.url);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let response = reqwest::get(&url).await.expect("an answer");
            assert!(response.status().is_success(), "GET {url}: {response:?}");
            response.json().await.expect("JSON")
        })
    }

    fn actions(&self) -> Vec<Value> {
        self.get("/sim/actions")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn created_actions(&self) -> u64 {
        self.get("/sim/requests")
            .as_array()
            .into_iter()
            .flatten()
            .filter(|count| count["method"] == "POST" && count["path"] == "/api/v2/actions")
            .filter_map(|count| count["count"].as_u64())
            .sum()
    }
}

/// An id written as a number or as text.
fn id_of(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// A port nobody listens on now, for a simulator that must come back on the same URL.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn runbook(url: &str, token: &str, store: &str) -> Command {
    let mut command = Command::new(runbook_binary());
    command
        .env("TANIUM_URL", url)
        .env("TANIUM_TOKEN", token)
        .env("RUNBOOK_DATABASE_URL", store)
        .env("NO_COLOR", "1")
        .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
        .env_remove("RUNBOOK_TEST_PAUSE_AT")
        .stdin(Stdio::null());
    command
}

fn json_of(command: &mut Command) -> Value {
    let output = command.output().expect("runbook ran");
    assert!(
        output.status.success(),
        "{command:?}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn only_run(url: &str, token: &str, store: &str) -> Value {
    let runs = json_of(runbook(url, token, store).args(["runs", "list", "--json"]));
    let runs = runs.as_array().expect("a list");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run_id = runs[0]["run_id"].as_str().expect("a run id");
    json_of(runbook(url, token, store).args(["runs", "show", run_id, "--json"]))
}

fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("waited {limit:?} for {what}");
}

struct Folder {
    _temp: tempfile::TempDir,
    playbook: PathBuf,
    state: PathBuf,
    store: String,
}

fn folder() -> Folder {
    let temp = tempfile::tempdir().expect("a temporary folder");
    let playbook = temp.path().join("restarted.yaml");
    std::fs::write(&playbook, PLAYBOOK).expect("the playbook written");
    Folder {
        state: temp.path().join("sim-state.json"),
        store: format!("sqlite://{}", temp.path().join("runs.db").display()),
        playbook,
        _temp: temp,
    }
}

/// Runs the playbook against `sim` until `stop` says to kill it, then kills it and the
/// simulator; returns the id of the one action the simulator created.
fn run_and_kill_both(
    sim: Sim,
    folder: &Folder,
    pause_at: Option<&str>,
    stop: impl Fn(&Child) -> bool,
) -> u64 {
    let mut command = runbook(&sim.url, &sim.token, &folder.store);
    command
        .arg("run")
        .arg(&folder.playbook)
        .args(["--input", "host=WIN-DC01", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(point) = pause_at {
        command.env("RUNBOOK_TEST_PAUSE_AT", point);
    }
    let run = Killed(command.spawn().expect("runbook run started"));
    wait_until(Duration::from_secs(60), "the point to kill the run", || {
        stop(&run.0)
    });
    let actions = sim.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(sim.created_actions(), 1);
    drop(run); // SIGKILL, stopped or not
    drop(sim); // SIGKILL
    actions[0]["id"].as_u64().expect("an action id")
}

/// Starts the simulator again on `port` with the state file, resumes the run, and checks it
/// ended with `action_id`, the only action, which the second simulator did not create.
fn restart_and_resume(folder: &Folder, port: u16, action_id: u64) {
    let sim = Sim::start(&folder.state, port);
    assert!(
        sim.state_line.contains("restored 1 action"),
        "{}",
        sim.state_line
    );
    let show = only_run(&sim.url, &sim.token, &folder.store);
    assert_eq!(show["status"], "running", "{show}");
    let run_id = show["run_id"].as_str().expect("a run id").to_owned();
    let output = runbook(&sim.url, &sim.token, &folder.store)
        .args(["runs", "resume", &run_id, "--json"])
        .output()
        .expect("runs resume ran");
    assert!(
        output.status.success(),
        "runs resume {run_id}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let show = only_run(&sim.url, &sim.token, &folder.store);
    assert_eq!(show["status"], "succeeded", "{show}");
    assert_eq!(id_of(&show["outputs"]["action"]), Some(action_id), "{show}");
    assert_eq!(show["intents"][0]["action_id"], action_id, "{show}");
    let actions = sim.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["id"], action_id);
    assert_eq!(
        sim.created_actions(),
        0,
        "the second simulator created an action"
    );
}

#[test]
fn a_run_killed_after_its_post_resumes_on_a_restarted_simulator_without_a_second_action() {
    let folder = folder();
    let port = free_port();
    let sim = Sim::start(&folder.state, port);
    assert!(sim.state_line.contains("a new file"), "{}", sim.state_line);
    let action_id = run_and_kill_both(sim, &folder, Some("after_post"), is_stopped);
    restart_and_resume(&folder, port, action_id);
}

#[test]
fn a_run_killed_while_it_polls_resumes_polling_its_action_on_a_restarted_simulator() {
    let folder = folder();
    let port = free_port();
    let sim = Sim::start(&folder.state, port);
    let (url, token, store) = (sim.url.clone(), sim.token.clone(), folder.store.clone());
    // Killed once the action id is recorded: the resume adopts it by id and polls it.
    let action_id = run_and_kill_both(sim, &folder, None, |_| {
        let Ok(output) = runbook(&url, &token, &store)
            .args(["runs", "list", "--json"])
            .output()
        else {
            return false;
        };
        let runs: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        let Some(run_id) = runs[0]["run_id"].as_str() else {
            return false;
        };
        let show = runbook(&url, &token, &store)
            .args(["runs", "show", run_id, "--json"])
            .output()
            .ok()
            .and_then(|output| serde_json::from_slice::<Value>(&output.stdout).ok());
        show.is_some_and(|show| show["intents"][0]["action_id"].is_u64())
    });
    restart_and_resume(&folder, port, action_id);
}

fn serve(folder: &Folder) -> Killed {
    let child = runbook("", "", &folder.store)
        .env_remove("TANIUM_URL")
        .args([
            "serve",
            "--sim",
            "--sim-time-scale",
            "3",
            "--sim-state",
            &folder.state.display().to_string(),
            "--workers",
            "1",
            "--heartbeat",
            "200ms",
            "--stale-after",
            "1s",
            "--poll-interval",
            "50ms",
            "--request-timeout",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runbook serve started");
    Killed(child)
}

/// The actions in the state file now.
fn actions_in(state: &Path) -> Vec<Value> {
    std::fs::read(state)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|file| file["state"]["actions"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn serve_with_sim_state_keeps_its_actions_across_a_kill() {
    let folder = folder();
    let enqueued = runbook("", "", &folder.store)
        .arg("enqueue")
        .arg(&folder.playbook)
        .args(["--input", "host=WIN-DC01"])
        .output()
        .expect("enqueue ran");
    assert!(enqueued.status.success(), "{enqueued:?}");
    let run_id = String::from_utf8_lossy(&enqueued.stdout).trim().to_owned();
    let first = serve(&folder);
    let show = || json_of(runbook("", "", &folder.store).args(["runs", "show", &run_id, "--json"]));
    wait_until(Duration::from_secs(60), "the action id recorded", || {
        show()["intents"][0]["action_id"].is_u64()
    });
    assert_eq!(actions_in(&folder.state).len(), 1);
    drop(first); // SIGKILL while the run polls
    let action_id = actions_in(&folder.state)[0]["id"].clone();

    let _second = serve(&folder);
    wait_until(Duration::from_secs(90), "the run to end", || {
        show()["status"] != "running" && show()["status"] != "queued"
    });
    let show = show();
    assert_eq!(show["status"], "succeeded", "{show}");
    assert_eq!(
        id_of(&show["outputs"]["action"]),
        action_id.as_u64(),
        "{show}"
    );
    let actions = actions_in(&folder.state);
    assert_eq!(actions.len(), 1, "{actions:?}");
}

/// `run --sim --sim-state FILE` records the file as its server: `runs resume` starts the
/// simulator again on it, with no simulator flag, and finds the action the first one created.
#[test]
fn a_run_on_the_in_process_simulator_with_a_state_file_resumes_on_it() {
    let folder = folder();
    let mut command = runbook("", "", &folder.store);
    command
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        .arg("run")
        .arg(&folder.playbook)
        .args(["--input", "host=WIN-DC01", "--json", "--sim", "--sim-state"])
        .arg(&folder.state)
        .env("RUNBOOK_TEST_PAUSE_AT", "after_post")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let run = Killed(command.spawn().expect("runbook run started"));
    wait_until(
        Duration::from_secs(60),
        "the run to stop after its post",
        || is_stopped(&run.0),
    );
    drop(run); // SIGKILL: the run and its simulator die together
    let actions = actions_in(&folder.state);
    assert_eq!(actions.len(), 1, "{actions:?}");
    let action_id = actions[0]["id"].as_u64().expect("an action id");

    let runs = json_of(runbook("", "", &folder.store).args(["runs", "list", "--json"]));
    let run_id = runs[0]["run_id"].as_str().expect("a run id").to_owned();
    let output = runbook("", "", &folder.store)
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        .args(["runs", "resume", &run_id, "--json"])
        .output()
        .expect("runs resume ran");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let show = json_of(runbook("", "", &folder.store).args(["runs", "show", &run_id, "--json"]));
    assert_eq!(show["status"], "succeeded", "{show}");
    assert_eq!(id_of(&show["outputs"]["action"]), Some(action_id), "{show}");
    assert_eq!(actions_in(&folder.state).len(), 1);
}

/// A wait reports its time across an interruption: killed while it waits for an approval
/// (the simulated colleague approves two simulated minutes after the action is created) and
/// resumed, the approval step says how long it waited in all, not since the resume.
#[test]
fn a_resumed_approval_wait_reports_the_time_waited_before_the_interruption() {
    let folder = folder();
    let playbook = PLAYBOOK.replace(
        "  - id: results\n",
        "  - id: approved\n    await_approval:\n      action: \"{{ steps.tag.action_id }}\"\n      interval: 5s\n  - id: results\n",
    );
    std::fs::write(&folder.playbook, playbook).expect("the playbook written");
    let mut command = runbook("", "", &folder.store);
    command
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        .arg("run")
        .arg(&folder.playbook)
        .args([
            "--input",
            "host=WIN-DC01",
            "--json",
            "--sim",
            "--sim-approval",
        ])
        .args(["--sim-time-scale", "60", "--sim-state"])
        .arg(&folder.state)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let run = Killed(command.spawn().expect("runbook run started"));
    let show = || {
        let runs = json_of(runbook("", "", &folder.store).args(["runs", "list", "--json"]));
        let run_id = runs[0]["run_id"].as_str().unwrap_or_default().to_owned();
        json_of(runbook("", "", &folder.store).args(["runs", "show", &run_id, "--json"]))
    };
    wait_until(Duration::from_secs(60), "the approval wait", || {
        let Ok(output) = runbook("", "", &folder.store)
            .args(["runs", "list", "--json"])
            .output()
        else {
            return false;
        };
        let runs: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        runs[0]["run_id"].is_string() && show().to_string().contains("approval_waiting")
    });
    // About a simulated minute of waiting (one real second), then the kill.
    std::thread::sleep(Duration::from_secs(1));
    drop(run);
    let run_id = show()["run_id"].as_str().expect("a run id").to_owned();
    let output = runbook("", "", &folder.store)
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        // The simulator's flags are given again: they are not part of its state file.
        .args([
            "runs",
            "resume",
            &run_id,
            "--json",
            "--sim",
            "--sim-approval",
        ])
        .args(["--sim-time-scale", "60"])
        .output()
        .expect("runs resume ran");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = show();
    assert_eq!(shown["status"], "succeeded", "{shown}");
    let step = shown["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|step| step["step_id"] == "approved")
        .cloned()
        .expect("the approval step");
    let waited = step["outputs"]["waited"].as_u64().expect("waited");
    assert!(waited >= 60, "the wait before the kill is counted: {step}");
}

#[test]
fn a_file_that_is_not_a_state_file_is_refused_naming_it() {
    let folder = folder();
    std::fs::write(&folder.state, "{\"runs\": []}").unwrap();
    let output = Command::new(runbook_binary())
        .args(["sim", "--listen", "127.0.0.1:0", "--state"])
        .arg(&folder.state)
        .output()
        .expect("runbook sim ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&folder.state.display().to_string())
            && stderr.contains("not a simulator state file"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

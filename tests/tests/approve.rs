//! The `approve` step end to end (SPEC-2 section 4, issue 15): runbook's own gate, decided with
//! `runbook approvals list` / `runbook approve` or the API, on a store of each test's own (a
//! SQLite file in a temporary folder).
//!
//! - `runbook run --sim` (its clock runs 60x: `timeout: 1m` is a second) started by alice waits
//!   at the gate: the list shows the summary and the plan of the next `issue`; alice (the
//!   starter) is refused; bob approves with a comment and the run issues exactly one action;
//!   outputs, events and the audit log hold the decision.
//! - A denial fails the run with the denier's comment; a timeout fails it and a late decision
//!   is refused; `required: 2` counts one person once.
//! - `runbook serve --sim --workers 2`: 200 runs parked at their gates do not hold the workers
//!   from 20 other runs; approved through the API they all finish, one action each.
//! - A `runbook run` killed (SIGKILL) while one of two approvals is in resumes with it.
//! - The API: an approver token decides, a viewer is 403, the token that started a run (or the
//!   same name on the command line) never decides it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::http_serve::{HttpServe, ServeOptions};
use runbook_tests::runbook_binary;
use serde_json::{Value, json};

/// Targets a host, reads the package, waits at the gate `review` (its `approve:` body given),
/// then issues one action.
fn gated(approve: &str) -> String {
    format!(
        r#"version: 1
name: gated-tag
inputs:
  host: {{ type: string, default: WIN-DC01 }}
steps:
  - id: scope
    target:
      all:
        - {{ sensor: Computer Name, op: equals, value: "{{{{ inputs.host }}}}" }}
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: {{ $1: gated }}
  - id: review
    approve:
{approve}
  - id: tag
    issue:
      name: "gated {{{{ inputs.host }}}}"
      action_group: All Computers
      target: "{{{{ steps.scope.group }}}}"
      package: "{{{{ steps.params.package_spec }}}}"
outputs:
  decided_by: "{{{{ steps.review.decided_by }}}}"
  action: "{{{{ steps.tag.action_id }}}}"
"#
    )
}

/// One log step: a run that sends nothing and finishes at once.
const PLAIN: &str = r#"version: 1
name: plain-log
steps:
  - id: hello
    log: "hello from {{ run.id }}"
"#;

/// A test's folder, store and playbook.
struct Bench {
    folder: tempfile::TempDir,
    store: String,
    playbook: PathBuf,
}

impl Bench {
    fn new(playbook: &str) -> Bench {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = format!("sqlite://{}", folder.path().join("runs.db").display());
        let path = folder.path().join("gated.yaml");
        std::fs::write(&path, playbook).expect("the playbook is written");
        Bench {
            folder,
            store,
            playbook: path,
        }
    }

    /// `runbook` on this store, as `user`, no Tanium server in the environment.
    fn command(&self, user: &str) -> Command {
        let mut command = Command::new(runbook_binary());
        command
            .current_dir(self.folder.path())
            .env("NO_COLOR", "1")
            .env("USER", user)
            .env("RUNBOOK_DATABASE_URL", &self.store)
            .env_remove("RUNBOOK_SECRET_KEY")
            .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
            .stdin(Stdio::null());
        for variable in [
            "TANIUM_URL",
            "TANIUM_TOKEN",
            "TANIUM_USERNAME",
            "TANIUM_PASSWORD",
        ] {
            command.env_remove(variable);
        }
        command
    }

    /// `runbook ARGS` as `user`, run to its end.
    fn cli(&self, user: &str, args: &[&str]) -> Output {
        self.command(user).args(args).output().expect("runbook ran")
    }

    /// `runbook run PLAYBOOK --sim --json` as `user`, in the background; stdout and stderr go
    /// to files of the folder.
    fn start_run(&self, user: &str, extra_env: &[(&str, &str)]) -> Background {
        let stdout = self.folder.path().join(format!("run-{user}.out"));
        let stderr = self.folder.path().join(format!("run-{user}.err"));
        let mut command = self.command(user);
        command
            .arg("run")
            .arg(&self.playbook)
            .args(["--json"])
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"));
        if extra_env.is_empty() {
            command.arg("--sim");
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        Background {
            child: Some(command.spawn().expect("runbook run started")),
            stdout,
            stderr,
        }
    }

    /// The pending gates (`runbook approvals list --format json`).
    fn pending(&self) -> Vec<Value> {
        let output = self.cli("anyone", &["approvals", "list", "--format", "json"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout)
            .expect("approvals list --format json is JSON")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (up to 60 s) for a gate to be pending; returns it.
    fn wait_for_gate(&self, run: &Background) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(gate) = self.pending().into_iter().next() {
                return gate;
            }
            assert!(
                Instant::now() < deadline,
                "no gate opened: {}",
                run.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `runbook runs show RUN --format json`.
    fn show(&self, run_id: &str) -> Value {
        let output = self.cli("anyone", &["runs", "show", run_id, "--format", "json"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("runs show --format json is JSON")
    }

    /// `runbook approve RUN review ARGS` as `user`.
    fn approve(&self, user: &str, run: &str, args: &[&str]) -> Output {
        let mut all = vec!["approve", run, "review"];
        all.extend_from_slice(args);
        self.cli(user, &all)
    }
}

/// A `runbook run` in the background; killed when dropped.
struct Background {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits up to `limit` for the exit; its code.
    fn finish(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take().expect("a running process");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait on the run") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the run did not end within {limit:?}:\n{}\n{}",
                    self.stdout_text(),
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last `run_finished` event it printed.
    fn finished(&self) -> Value {
        self.stdout_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .rfind(|event| event["event"] == "run_finished")
            .unwrap_or_else(|| {
                panic!(
                    "no run_finished event:\n{}\n{}",
                    self.stdout_text(),
                    self.stderr_text()
                )
            })
    }

    /// The built-in simulator's address, from what `runbook run --sim` printed.
    fn sim_url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(url) = sim_url_in(&self.stderr_text()) {
                return url;
            }
            assert!(Instant::now() < deadline, "{}", self.stderr_text());
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}

fn sim_url_in(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let rest = line.split("built-in Tanium SIMULATOR at ").nth(1)?;
        Some(
            rest.split_whitespace()
                .next()?
                .trim_end_matches('/')
                .to_owned(),
        )
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The actions a simulator reached over HTTP holds (`GET /sim/actions`), asked from a thread
/// of its own (callers may be inside an async runtime).
fn sim_actions(url: &str) -> Vec<Value> {
    let url = format!("{url}/sim/actions");
    let body = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            reqwest::get(&url)
                .await
                .expect("the simulator answers")
                .json::<Value>()
                .await
                .expect("JSON")
        })
    })
    .join()
    .expect("the request thread");
    body.as_array().cloned().unwrap_or_default()
}

/// The events of a recorded run of kind `name`.
fn events<'a>(record: &'a Value, name: &str) -> Vec<&'a Value> {
    record["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|event| event["event"] == name)
                .collect()
        })
        .unwrap_or_default()
}

fn step_outputs<'a>(record: &'a Value, step: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|record| record["step_id"] == step))
        .map_or(&Value::Null, |record| &record["outputs"])
}

fn assert_refused(output: &Output, expected: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected `{expected}` in: {stderr}"
    );
}

#[test]
fn another_name_approves_a_waiting_run_and_its_one_action_is_issued() {
    let started = Instant::now();
    let bench = Bench::new(&gated(
        r#"      summary: "Tag {{ inputs.host }} with {{ steps.params.package_name }}"
      approvers: [bob, approver]
      timeout: 1h"#,
    ));
    let mut run = bench.start_run("alice", &[]);
    let gate = bench.wait_for_gate(&run);
    let run_id = gate["run_id"].as_str().expect("a run id").to_owned();

    // What the approver sees: the summary, and the plan of the next side-effecting step.
    assert_eq!(gate["step_id"], "review", "{gate}");
    assert_eq!(
        gate["summary"], "Tag WIN-DC01 with Custom Tagging - Add Tags",
        "{gate}"
    );
    assert_eq!(gate["approvers"], json!(["bob", "approver"]), "{gate}");
    assert_eq!(gate["required"], 1, "{gate}");
    assert_eq!(gate["requested_by"], "cli:alice", "{gate}");
    assert_eq!(gate["status"], "pending", "{gate}");
    let detail = &gate["detail"];
    assert_eq!(detail["next_step"], "tag", "{gate}");
    assert_eq!(detail["kind"], "issue", "{gate}");
    assert_eq!(
        detail["target"]["text"], "Computer Name equals \"WIN-DC01\"",
        "{gate}"
    );
    assert_eq!(detail["target"]["endpoints"], 1, "{gate}");
    assert_eq!(
        detail["package"]["name"], "Custom Tagging - Add Tags",
        "{gate}"
    );
    assert_eq!(
        detail["package"]["parameters"],
        json!([{"key": "$1", "value": "gated"}]),
        "{gate}"
    );
    assert_eq!(detail["action_group"]["name"], "All Computers", "{gate}");
    let listed = bench.cli("bob", &["approvals", "list"]);
    let human = text(&listed.stdout);
    assert!(
        human.contains(&run_id)
            && human.contains("Tag WIN-DC01 with Custom Tagging - Add Tags")
            && human.contains("action group All Computers")
            && human.contains("1 endpoint(s)"),
        "{human}"
    );
    // Nothing was sent while the run waits.
    let sim = run.sim_url();
    assert!(
        sim_actions(&sim).is_empty(),
        "nothing issued before the decision"
    );

    // The starter never approves their own run, under $USER or --as, by full or short id.
    assert_refused(
        &bench.approve("alice", &run_id, &[]),
        "nobody approves their own run",
    );
    assert_refused(
        &bench.approve("somebody", &run_id[..8], &["--as", "alice"]),
        "nobody approves their own run",
    );
    assert_eq!(bench.pending().len(), 1, "the refusals decided nothing");

    let output = bench.approve("bob", &run_id[..8], &["--comment", "checked the host"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("the gate is now approved"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        run.finish(Duration::from_secs(30)),
        Some(0),
        "{}",
        run.stderr_text()
    );
    let finished = run.finished();
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(
        finished["outputs"]["decided_by"],
        json!(["bob"]),
        "{finished}"
    );
    assert_eq!(
        finished["issued_actions"].as_array().map(Vec::len),
        Some(1),
        "{finished}"
    );

    let record = bench.show(&run_id);
    assert_eq!(record["status"], "succeeded");
    assert_eq!(
        record["intents"].as_array().map(Vec::len),
        Some(1),
        "exactly one action: {}",
        record["intents"]
    );
    let outputs = step_outputs(&record, "review");
    assert_eq!(outputs["approved"], true, "{outputs}");
    assert_eq!(outputs["decided_by"], json!(["bob"]), "{outputs}");
    assert_eq!(
        outputs["comments"],
        json!(["checked the host"]),
        "{outputs}"
    );
    assert!(outputs["waited"].is_u64(), "{outputs}");
    let opened = events(&record, "gate_opened");
    assert_eq!(opened.len(), 1, "{}", record["events"]);
    assert_eq!(opened[0]["summary"], gate["summary"]);
    let decided = events(&record, "gate_decided");
    assert_eq!(decided.len(), 1, "{}", record["events"]);
    assert_eq!(decided[0]["decided_by"], "bob");
    assert_eq!(decided[0]["decision"], "approve");
    assert_eq!(decided[0]["comment"], "checked the host");
    assert!(bench.pending().is_empty());

    // The audit log: the decision, by whoever ran `runbook approve`.
    let output = bench.cli(
        "anyone",
        &["audit", "--action", "approval.decided", "--format", "json"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let audit: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let entries = audit.as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries.len(),
        1,
        "only the recorded decision is audited: {audit}"
    );
    assert_eq!(entries[0]["actor"], "cli:bob", "{audit}");
    assert_eq!(entries[0]["target"], format!("{run_id}/review"), "{audit}");
    assert_eq!(entries[0]["detail"]["decision"], "approve", "{audit}");
    assert_eq!(
        entries[0]["detail"]["comment"], "checked the host",
        "{audit}"
    );
    println!("approved run: {:?}", started.elapsed());
}

#[test]
fn a_denial_fails_the_run_with_the_comment_and_nothing_is_issued() {
    let started = Instant::now();
    let bench = Bench::new(&gated(
        r#"      summary: "Tag {{ inputs.host }}"
      approvers: [bob, ir-leads]
      timeout: 1h"#,
    ));
    let mut run = bench.start_run("alice", &[]);
    let gate = bench.wait_for_gate(&run);
    let run_id = gate["run_id"].as_str().expect("a run id").to_owned();
    // carol is neither named nor acting as a listed role.
    assert_refused(
        &bench.approve("carol", &run_id[..8], &[]),
        "carol is not among the approvers",
    );
    let output = bench.approve(
        "bob",
        &run_id,
        &["--deny", "--comment", "wrong host, that is the DC"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        run.finish(Duration::from_secs(30)),
        Some(1),
        "{}",
        run.stderr_text()
    );
    // `--json`: the failure is in the `run_finished` event.
    let finished = run.finished();
    assert_eq!(finished["status"], "failed", "{finished}");
    assert!(
        finished["error"]
            .as_str()
            .is_some_and(|error| error.contains("denied by bob: wrong host, that is the DC")),
        "{finished}"
    );
    let record = bench.show(&run_id);
    assert_eq!(record["status"], "failed", "{record}");
    assert!(
        record["error"]
            .as_str()
            .is_some_and(|error| error.contains("denied by bob: wrong host, that is the DC")),
        "{}",
        record["error"]
    );
    assert_eq!(record["intents"], json!([]), "nothing issued");
    assert!(events(&record, "action_issued").is_empty());
    let decided = events(&record, "gate_decided");
    assert_eq!(decided.len(), 1, "{}", record["events"]);
    assert_eq!(decided[0]["decision"], "deny");
    // A decided gate takes no more decisions.
    assert_refused(
        &bench.approve("bob", &run_id, &["--as", "dave"]),
        "is denied",
    );
    println!("denied run: {:?}", started.elapsed());
}

#[test]
fn a_gate_nobody_decides_times_out_and_refuses_a_late_decision() {
    let started = Instant::now();
    let bench = Bench::new(&gated(
        r#"      summary: "Tag {{ inputs.host }}"
      timeout: 1m"#,
    ));
    let mut run = bench.start_run("alice", &[]);
    // 1m on the simulator's clock (60x): about a second.
    assert_eq!(
        run.finish(Duration::from_secs(30)),
        Some(1),
        "{}",
        run.stderr_text()
    );
    let finished = run.finished();
    assert_eq!(finished["status"], "failed", "{finished}");
    assert!(
        finished["error"]
            .as_str()
            .is_some_and(|error| error.contains("not approved within 1m (0 of 1 approval given)")),
        "{finished}"
    );
    let run_id = finished["run_id"].as_str().expect("a run id").to_owned();
    let record = bench.show(&run_id);
    assert_eq!(record["intents"], json!([]), "nothing issued");
    assert!(events(&record, "action_issued").is_empty());
    assert_eq!(events(&record, "gate_opened").len(), 1);
    assert!(bench.pending().is_empty(), "an expired gate is not listed");
    assert_refused(&bench.approve("bob", &run_id, &[]), "is expired");
    println!("timed out run: {:?}", started.elapsed());
}

#[test]
fn two_approvals_need_two_people_and_one_person_twice_counts_once() {
    let started = Instant::now();
    let bench = Bench::new(&gated(
        r#"      summary: "Tag {{ inputs.host }}"
      approvers: [bob, approver]
      required: 2
      timeout: 1h"#,
    ));
    let mut run = bench.start_run("alice", &[]);
    let gate = bench.wait_for_gate(&run);
    let run_id = gate["run_id"].as_str().expect("a run id").to_owned();
    let output = bench.approve("bob", &run_id, &["--comment", "first"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("the gate is now pending"),
        "{}",
        text(&output.stderr)
    );
    assert_refused(
        &bench.approve("bob", &run_id[..8], &["--comment", "again"]),
        "bob decided step `review`",
    );
    assert_refused(
        &bench.approve("alice", &run_id[..8], &["--as", "bob"]),
        "decided step `review` of run",
    );
    let pending = bench.pending();
    assert_eq!(pending.len(), 1, "still waiting: {pending:?}");
    let decisions = pending[0]["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(decisions.len(), 1, "{pending:?}");
    assert_eq!(decisions[0]["decided_by"], "bob");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        run.child
            .as_mut()
            .expect("running")
            .try_wait()
            .expect("wait")
            .is_none(),
        "one approval does not let the run go on: {}",
        run.stdout_text()
    );
    // carol is not named, but `approver` is, and `runbook approve` decides as an approver.
    let output = bench.approve("carol", &run_id, &["--comment", "second"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("the gate is now approved"));
    assert_eq!(
        run.finish(Duration::from_secs(30)),
        Some(0),
        "{}",
        run.stderr_text()
    );
    let record = bench.show(&run_id);
    let outputs = step_outputs(&record, "review");
    assert_eq!(outputs["decided_by"], json!(["bob", "carol"]), "{outputs}");
    assert_eq!(outputs["comments"], json!(["first", "second"]), "{outputs}");
    assert_eq!(record["intents"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        events(&record, "gate_decided").len(),
        2,
        "{}",
        record["events"]
    );
    println!("two approvals: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_while_it_waits_resumes_with_the_approval_already_given() {
    let started = Instant::now();
    // A simulator outside the run's process, so that the run can be resumed against it.
    let sim: RunningSim = Simulator::start(SimConfig {
        time_scale: 300.0,
        failure_share: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let bench = Bench::new(&gated(
        r#"      summary: "Tag {{ inputs.host }}"
      required: 2
      timeout: 1h"#,
    ));
    let url = sim.base_url();
    let token = sim.api_token();
    let tanium = [
        ("TANIUM_URL", url.as_str()),
        ("TANIUM_TOKEN", token.as_str()),
    ];
    let mut run = bench.start_run("alice", &tanium);
    let gate = bench.wait_for_gate(&run);
    let run_id = gate["run_id"].as_str().expect("a run id").to_owned();
    let output = bench.approve("bob", &run_id, &["--comment", "before the crash"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // Let the waiting run look at the gate once more with bob's approval in, then kill it.
    std::thread::sleep(Duration::from_millis(1200));
    run.kill();
    assert!(sim.inspect().actions.is_empty());

    let stdout = bench.folder.path().join("resume.out");
    let stderr = bench.folder.path().join("resume.err");
    let mut resume = Background {
        child: Some(
            bench
                .command("alice")
                .env("TANIUM_URL", &url)
                .env("TANIUM_TOKEN", &token)
                .args(["runs", "resume", &run_id[..8], "--json"])
                .stdout(File::create(&stdout).expect("a file"))
                .stderr(File::create(&stderr).expect("a file"))
                .spawn()
                .expect("runs resume started"),
        ),
        stdout,
        stderr,
    };
    // The resumed run waits at the same gate, bob's approval kept.
    let pending = bench.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["decisions"][0]["decided_by"], "bob");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        resume
            .child
            .as_mut()
            .expect("resuming")
            .try_wait()
            .expect("wait")
            .is_none(),
        "one approval of two does not let the resumed run go on: {}\n{}",
        resume.stdout_text(),
        resume.stderr_text()
    );
    assert_refused(&bench.approve("bob", &run_id, &[]), "decided step `review`");
    let output = bench.approve("carol", &run_id, &["--comment", "after the crash"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        resume.finish(Duration::from_secs(30)),
        Some(0),
        "{}\n{}",
        resume.stdout_text(),
        resume.stderr_text()
    );
    let record = bench.show(&run_id);
    assert_eq!(record["status"], "succeeded", "{}", record["error"]);
    let outputs = step_outputs(&record, "review");
    assert_eq!(outputs["decided_by"], json!(["bob", "carol"]), "{outputs}");
    assert_eq!(
        outputs["comments"],
        json!(["before the crash", "after the crash"]),
        "{outputs}"
    );
    assert_eq!(
        events(&record, "gate_opened").len(),
        1,
        "{}",
        record["events"]
    );
    let decided: Vec<_> = events(&record, "gate_decided")
        .iter()
        .map(|event| event["decided_by"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        decided,
        ["bob", "carol"],
        "each decision once: {}",
        record["events"]
    );
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(actions[0].name.contains(&run_id), "{}", actions[0].name);
    println!("killed and resumed: {:?}", started.elapsed());
}

/// `runbook serve --sim --http` with the gated playbook (no approvers named: any approver)
/// and the plain one.
fn http_serve(folder: &Path, approve: &str, workers: &str) -> HttpServe {
    HttpServe::start(
        folder,
        &ServeOptions {
            playbooks: vec![
                ("gated.yaml".to_owned(), gated(approve)),
                ("plain.yaml".to_owned(), PLAIN.to_owned()),
            ],
            args: vec![
                "--workers".to_owned(),
                workers.to_owned(),
                "--api-rate".to_owned(),
                "100000".to_owned(),
            ],
            ..ServeOptions::default()
        },
    )
}

struct Api<'a> {
    serve: &'a HttpServe,
    client: Client,
}

impl Api<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.serve.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn start(&self, token: &str, playbook: &str) -> String {
        let (status, answer) = self
            .call(
                Method::POST,
                "/api/v1/runs",
                token,
                Some(json!({"playbook": playbook, "inputs": {}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        answer["run_id"].as_str().expect("a run id").to_owned()
    }

    async fn runs(&self, token: &str, status: &str) -> Vec<Value> {
        let (code, answer) = self
            .call(
                Method::GET,
                &format!("/api/v1/runs?status={status}&limit=500"),
                token,
                None,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{answer}");
        answer["runs"].as_array().cloned().unwrap_or_default()
    }

    async fn pending(&self, token: &str) -> Vec<Value> {
        let (code, answer) = self
            .call(Method::GET, "/api/v1/approvals", token, None)
            .await;
        assert_eq!(code, StatusCode::OK, "{answer}");
        answer.as_array().cloned().unwrap_or_default()
    }

    async fn decide(
        &self,
        token: &str,
        run_id: &str,
        decision: &str,
        comment: &str,
    ) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/api/v1/approvals/{run_id}/review"),
            token,
            Some(json!({"decision": decision, "comment": comment})),
        )
        .await
    }
}

fn ids(runs: &[Value]) -> BTreeSet<String> {
    runs.iter()
        .filter_map(|run| run["run_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_parked_at_their_gates_hold_no_worker_and_all_finish_once_approved() {
    const WAITING: usize = 200;
    const OTHERS: usize = 20;
    let started = Instant::now();
    let folder = tempfile::tempdir().expect("folder");
    let serve = http_serve(
        folder.path(),
        r#"      summary: "Tag {{ inputs.host }} ({{ run.id }})"
      timeout: 24h"#,
        "2",
    );
    let api = Api {
        serve: &serve,
        client: Client::new(),
    };
    let operator = serve.token("ops", "operator");
    let approver = serve.token("lead", "approver");
    let mut gated = BTreeSet::new();
    for _ in 0..WAITING {
        gated.insert(api.start(&operator, "gated-tag").await);
    }
    let mut plain = BTreeSet::new();
    for _ in 0..OTHERS {
        plain.insert(api.start(&operator, "plain-log").await);
    }
    let queued_in = started.elapsed();

    // The plain runs finish while every gated run waits, parked: queued, its gate pending.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (parked_in, pending) = loop {
        let succeeded = ids(&api.runs(&approver, "succeeded").await);
        let pending = api.pending(&approver).await;
        if plain.is_subset(&succeeded) && pending.len() == WAITING {
            assert!(
                succeeded.is_disjoint(&gated),
                "no gated run finished without a decision"
            );
            break (started.elapsed(), pending);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {OTHERS} plain runs finished, {} of {WAITING} gates open:\n{}",
            plain.intersection(&succeeded).count(),
            pending.len(),
            serve
                .log_text()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ids(&pending), gated, "each gated run has its gate pending");
    let queued = ids(&api.runs(&approver, "queued").await);
    assert_eq!(queued, gated, "parked runs are queued, not running");
    assert!(api.runs(&approver, "running").await.is_empty());
    let sim = sim_url_in(&serve.log_text()).expect("the serve log names its simulator");
    assert!(
        sim_actions(&sim).is_empty(),
        "nothing issued before the decisions"
    );

    for run_id in &gated {
        let (status, answer) = api.decide(&approver, run_id, "approve", "ok").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["status"], "approved", "{answer}");
    }
    let approved_in = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let succeeded = ids(&api.runs(&approver, "succeeded").await);
        if gated.is_subset(&succeeded) {
            break;
        }
        let failed = api.runs(&approver, "failed").await;
        assert!(failed.is_empty(), "{failed:?}");
        assert!(
            Instant::now() < deadline,
            "{} of {WAITING} approved runs finished",
            gated.intersection(&succeeded).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished_in = started.elapsed();
    let actions = sim_actions(&sim);
    let mut per_run: BTreeMap<&str, usize> = BTreeMap::new();
    for action in &actions {
        let name = action["name"].as_str().unwrap_or_default();
        if let Some(run_id) = gated.iter().find(|run_id| name.contains(run_id.as_str())) {
            *per_run.entry(run_id.as_str()).or_default() += 1;
        }
    }
    assert_eq!(actions.len(), WAITING, "one action per gated run");
    assert_eq!(per_run.len(), WAITING, "{per_run:?}");
    assert!(per_run.values().all(|count| *count == 1), "{per_run:?}");
    let parks = serve
        .log_text()
        .lines()
        .filter(|line| line.contains("waiting for approval: parked"))
        .count();
    assert!(parks >= WAITING, "each gated run was parked: {parks}");
    println!(
        "{WAITING} gated + {OTHERS} plain runs, 2 workers: queued through the API in {queued_in:?}, \
         all parked and the plain ones done at {parked_in:?}, approved at {approved_in:?}, \
         all finished at {finished_in:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_decides_with_an_approver_token_never_a_viewer_nor_the_runs_own_starter() {
    let started = Instant::now();
    let folder = tempfile::tempdir().expect("folder");
    let serve = http_serve(
        folder.path(),
        r#"      summary: "Tag {{ inputs.host }}"
      timeout: 24h"#,
        "2",
    );
    let api = Api {
        serve: &serve,
        client: Client::new(),
    };
    let operator = serve.token("ops", "operator");
    let admin = serve.token("root", "admin");
    let approver = serve.token("lead", "approver");
    let viewer = serve.token("watcher", "viewer");
    let by_ops = api.start(&operator, "gated-tag").await;
    let by_root = api.start(&admin, "gated-tag").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.pending(&viewer).await.len() < 2 {
        assert!(Instant::now() < deadline, "{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pending = api.pending(&viewer).await;
    assert!(
        pending
            .iter()
            .any(|gate| gate["run_id"] == by_ops.as_str() && gate["requested_by"] == "api:ops"),
        "{pending:?}"
    );

    // A viewer reads but does not decide; an operator neither.
    let (status, answer) = api.decide(&viewer, &by_ops, "approve", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = api.decide(&operator, &by_ops, "approve", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // The admin token that started a run may decide others, never its own.
    let (status, answer) = api.decide(&admin, &by_root, "approve", "mine").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("nobody approves their own run")),
        "{answer}"
    );
    // The same name on the command line is the same person.
    let bench_store = serve.store.clone();
    let output = Command::new(runbook_binary())
        .env("NO_COLOR", "1")
        .env("USER", "someone")
        .args([
            "approve",
            &by_ops,
            "review",
            "--as",
            "ops",
            "--store",
            &bench_store,
        ])
        .output()
        .expect("runbook approve ran");
    assert_refused(&output, "nobody approves their own run");
    assert_eq!(api.pending(&viewer).await.len(), 2, "nothing was decided");

    let (status, answer) = api.decide(&approver, &by_ops, "approve", "fine").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "approved");
    let (status, answer) = api.decide(&approver, &by_ops, "approve", "again").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, answer) = api.decide(&admin, &by_ops, "deny", "late").await;
    assert_eq!(status, StatusCode::CONFLICT, "a decided gate: {answer}");
    let (status, answer) = api.decide(&approver, &by_root, "deny", "not today").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "denied");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let succeeded = ids(&api.runs(&viewer, "succeeded").await);
        let failed = ids(&api.runs(&viewer, "failed").await);
        if succeeded.contains(&by_ops) && failed.contains(&by_root) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, run) = api
        .call(
            Method::GET,
            &format!("/api/v1/runs/{by_root}"),
            &viewer,
            None,
        )
        .await;
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|error| error.contains("denied by lead: not today")),
        "{run}"
    );
    let sim = sim_url_in(&serve.log_text()).expect("the serve log names its simulator");
    let actions = sim_actions(&sim);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        actions[0]["name"]
            .as_str()
            .unwrap_or_default()
            .contains(&by_ops)
    );

    // The audit log: both recorded decisions, by token name, from the client's address.
    let (status, audit) = api
        .call(
            Method::GET,
            "/api/v1/audit?action=approval.decided",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries: Vec<&Value> = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["action"] == "approval.decided")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(
        entries.iter().all(|entry| entry["actor"] == "lead"),
        "{audit}"
    );
    println!("API decisions: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_run_nobody_decides_wakes_at_its_deadline_and_fails() {
    let started = Instant::now();
    let folder = tempfile::tempdir().expect("folder");
    // 1m on the simulator's clock (60x): about a second.
    let serve = http_serve(
        folder.path(),
        r#"      summary: "Tag {{ inputs.host }}"
      timeout: 1m"#,
        "1",
    );
    let api = Api {
        serve: &serve,
        client: Client::new(),
    };
    let operator = serve.token("ops", "operator");
    let approver = serve.token("lead", "approver");
    let run_id = api.start(&operator, "gated-tag").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let failed = loop {
        if let Some(run) = api
            .runs(&approver, "failed")
            .await
            .into_iter()
            .find(|run| run["run_id"] == run_id.as_str())
        {
            break run;
        }
        assert!(
            api.runs(&approver, "succeeded").await.is_empty(),
            "nobody approved it"
        );
        assert!(Instant::now() < deadline, "{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failed_in = started.elapsed();
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|error| error.contains("not approved within 1m")),
        "{failed}"
    );
    assert!(
        serve.log_text().contains("waiting for approval: parked"),
        "the run waited parked, not in a worker: {}",
        serve.log_text()
    );
    let (status, answer) = api.decide(&approver, &run_id, "approve", "too late").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("expired")),
        "{answer}"
    );
    let sim = sim_url_in(&serve.log_text()).expect("the serve log names its simulator");
    assert!(sim_actions(&sim).is_empty(), "nothing issued");
    println!("parked run failed at its deadline after {failed_in:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_of_a_cancelled_run_is_no_longer_listed_nor_decided() {
    let started = Instant::now();
    let folder = tempfile::tempdir().expect("folder");
    let serve = http_serve(
        folder.path(),
        r#"      summary: "Tag {{ inputs.host }}"
      timeout: 24h"#,
        "1",
    );
    let api = Api {
        serve: &serve,
        client: Client::new(),
    };
    let operator = serve.token("ops", "operator");
    let approver = serve.token("lead", "approver");
    let run_id = api.start(&operator, "gated-tag").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.pending(&approver).await.is_empty() {
        assert!(Instant::now() < deadline, "{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, answer) = api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/cancel"),
            &operator,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Nothing waits for a decision any more: approvers are not asked, and a decision that
    // comes anyway is refused (not recorded, not audited).
    let pending = api.pending(&approver).await;
    assert!(
        pending.is_empty(),
        "a cancelled run's gate is listed: {pending:?}"
    );
    let (status, answer) = api.decide(&approver, &run_id, "approve", "late").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let output = Command::new(runbook_binary())
        .env("NO_COLOR", "1")
        .args([
            "approve",
            &run_id,
            "review",
            "--as",
            "bob",
            "--store",
            &serve.store,
        ])
        .output()
        .expect("runbook approve ran");
    assert_refused(&output, "takes no more decisions");
    let output = Command::new(runbook_binary())
        .env("NO_COLOR", "1")
        .args([
            "audit",
            "--action",
            "approval.decided",
            "--format",
            "json",
            "--store",
            &serve.store,
        ])
        .output()
        .expect("runbook audit ran");
    let audit: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(audit, json!([]), "no decision recorded");
    let sim = sim_url_in(&serve.log_text()).expect("the serve log names its simulator");
    assert!(sim_actions(&sim).is_empty(), "nothing issued");
    println!("cancelled while waiting: {:?}", started.elapsed());
}

//! `runbook run` end to end: the real binary against the real simulator over HTTP.
//!
//! Each test starts a simulator on loopback with a fast clock, points the binary at it through
//! `TANIUM_URL`/`TANIUM_TOKEN`, and checks both what the binary printed and what the simulator
//! received (how many actions, which machines they targeted).

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};
use serde_json::Value;

/// The simulator's clock: an action's endpoints finish within a fraction of a real second.
const FAST: f64 = 200.0;

fn runbook() -> PathBuf {
    assert_cmd::cargo::cargo_bin("runbook")
}

fn repo_root() -> PathBuf {
    runbook_tests::workspace_root()
}

async fn simulator(configure: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let mut config = SimConfig {
        time_scale: FAST,
        failure_share: 0.0,
        ..SimConfig::default()
    };
    configure(&mut config);
    Simulator::start(config)
        .await
        .expect("the simulator starts")
}

/// Runs the binary against `sim` (or with no server when `sim` is None), off the test's thread.
async fn run_against(sim: Option<&RunningSim>, args: &[&str], envs: &[(&str, String)]) -> Output {
    let mut command = std::process::Command::new(runbook());
    command
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1");
    for variable in [
        "TANIUM_URL",
        "TANIUM_TOKEN",
        "TANIUM_USERNAME",
        "TANIUM_PASSWORD",
        "TANIUM_CA_CERT",
    ] {
        command.env_remove(variable);
    }
    if let Some(sim) = sim {
        command
            .env("TANIUM_URL", sim.base_url())
            .env("TANIUM_TOKEN", sim.api_token());
    }
    // Each run is recorded in a store of its own, not in the user's data folder.
    let store = tempfile::tempdir().expect("a folder for the run store");
    command.env(
        "RUNBOOK_DATABASE_URL",
        format!("sqlite://{}", store.path().join("runs.db").display()),
    );
    for (name, value) in envs {
        command.env(name, value);
    }
    let child = tokio::task::spawn_blocking(move || command.output());
    tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .expect("runbook finished within two minutes")
        .expect("the blocking task ran")
        .expect("runbook started")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The last `run_finished` event of a `--json` run.
fn finished(output: &Output) -> Value {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .rfind(|event| event["event"] == "run_finished")
        .unwrap_or_else(|| {
            panic!(
                "no run_finished event in:\n{}\n{}",
                text(&output.stdout),
                text(&output.stderr)
            )
        })
}

/// The `run_finished` event of a `--json` run that must have succeeded.
fn succeeded(output: &Output) -> Value {
    let event = finished(output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    event
}

fn write_playbook(dir: &tempfile::TempDir, name: &str, source: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, source).expect("the playbook is written");
    path.display().to_string()
}

/// A tag playbook with short waits, targeting by one clause.
fn tag_playbook(op: &str, extra_steps: &str, guard: &str) -> String {
    format!(
        r#"version: 1
name: tag-test
inputs:
  value: {{ type: string }}
{guard}
steps:
  - id: scope
    target:
      all:
        - {{ sensor: Computer Name, op: {op}, value: "{{{{ inputs.value }}}}" }}
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: {{ Tag: IR-test }}
  - id: tag
    issue:
      name: "tag {{{{ inputs.value }}}}"
      action_group: All Computers
      target: "{{{{ steps.scope.group }}}}"
      package: "{{{{ steps.params.package_spec }}}}"
  - id: approved
    await_approval:
      action: "{{{{ steps.tag.action_id }}}}"
      interval: 200ms
      timeout: 20s
  - id: results
    poll:
      action: "{{{{ steps.tag.action_id }}}}"
      interval: 200ms
      max_interval: 1s
      timeout: 30s
{extra_steps}
outputs:
  targeted: "{{{{ steps.tag.targeted }}}}"
  completed: "{{{{ steps.results.completed }}}}"
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_playbook_runs_with_sim() {
    let examples: &[(&str, &[&str])] = &[
        (
            "playbooks/tag-suspect-host.yaml",
            &["--input", "hostname=WIN-DC01"],
        ),
        ("playbooks/client-log-level.yaml", &[]),
        ("playbooks/tag-by-label.yaml", &["--input", "prefix=web-"]),
        (
            "playbooks/guarded-log-level.yaml",
            &["--input", "name_contains=DC0"],
        ),
        ("playbooks/hunt-and-tag.yaml", &[]),
        ("playbooks/contain-process.yaml", &[]),
        ("playbooks/quarantine-hosts.yaml", &[]),
        ("playbooks/staged-log-level.yaml", &[]),
    ];
    for (path, inputs) in examples {
        assert!(repo_root().join(path).exists(), "{path} is missing");
        let mut args = vec!["run", path, "--sim", "--sim-time-scale", "600", "--json"];
        args.extend_from_slice(inputs);
        let output = run_against(None, &args, &[]).await;
        let event = finished(&output);
        assert_eq!(
            event["status"],
            "succeeded",
            "{path}: {event}\nstderr:\n{}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains("SIMULATOR"),
            "the output says it is a simulator"
        );
    }
}

/// The outputs of the step `id` in a `--json` run's `step_finished` event.
fn step_outputs(output: &Output, id: &str) -> Value {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "step_finished" && event["step_id"] == id)
        .map(|event| event["outputs"].clone())
        .unwrap_or_else(|| panic!("no step_finished for `{id}`:\n{}", text(&output.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_endpoints_count_as_finished_but_not_as_succeeded() {
    let output = run_against(
        None,
        &[
            "run",
            "playbooks/guarded-log-level.yaml",
            "--sim",
            "--sim-time-scale",
            "600",
            "--sim-failure-share",
            "0.5",
            "--input",
            "name_contains=WIN",
            "--json",
        ],
        &[],
    )
    .await;
    let results = step_outputs(&output, "results");
    let failed = results["failed"].as_u64().expect("failed is a count");
    assert!(failed > 0, "half the endpoints fail: {results}");
    let succeeded = results["succeeded_percent"].as_f64().expect("a percentage");
    let finished_share = results["finished_percent"].as_f64().expect("a percentage");
    assert_eq!(finished_share, 100.0, "{results}");
    assert!(succeeded < finished_share, "{results}");
    // The example asserts success, so the run fails, at that assertion.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let event = finished(&output);
    assert_eq!(event["status"], "failed", "{event}");
    let failure = text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "step_failed")
        .expect("a step failed");
    assert_eq!(failure["step_id"], "enough_succeeded", "{failure}");
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|error| error.contains("% succeeded")),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_flow_waits_for_approval_by_another_user() {
    let sim = simulator(|config| config.approval_required = true).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(&dir, "tag.yaml", &tag_playbook("equals", "", ""));
    let base_url = sim.base_url();
    let approver = sim.approver_token();
    // A colleague approves from another client once the action shows up.
    let approve = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let actions: Value = match client.get(format!("{base_url}/sim/actions")).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            if let Some(saved) = actions
                .as_array()
                .and_then(|list| list.first())
                .and_then(|a| a["saved_action_id"].as_u64())
            {
                // Approve only once the run has looked at the approval (so that it is seen
                // waiting), not in the instant between the action's creation and that check.
                let checked = format!("/api/v2/saved_actions/{saved}");
                for _ in 0..200 {
                    let requests = match client.get(format!("{base_url}/sim/requests")).send().await
                    {
                        Ok(response) => response.text().await.unwrap_or_default(),
                        Err(_) => String::new(),
                    };
                    if requests.contains(&checked) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                let response = client
                    .post(format!("{base_url}/api/v2/saved_action_approvals"))
                    .header("session", &approver)
                    .json(&serde_json::json!({"id": saved, "approved_flag": 1}))
                    .send()
                    .await
                    .expect("approval sent");
                assert!(
                    response.status().is_success(),
                    "approval answered {}",
                    response.status()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no action appeared to approve");
    });
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "value=WIN-DC01", "--json"],
        &[],
    )
    .await;
    approve.await.unwrap();
    let event = succeeded(&output);
    assert_eq!(event["outputs"]["targeted"], 1);
    let stream = text(&output.stdout);
    assert!(
        stream.contains("\"approval_waiting\""),
        "the run waited for approval"
    );
    assert!(
        stream.contains("\"required\":true"),
        "approval was required: {stream}"
    );
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].targeted_computer_names,
        vec!["WIN-DC01".to_owned()]
    );
    assert_eq!(
        actions[0].parameters,
        vec![("$1".to_owned(), "IR-test".to_owned())],
        "the parameter was given by its label"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_hostname_targets_no_machine() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    // `min_endpoints: 0`: the empty action is issued, so that what it targets can be seen.
    let source = tag_playbook("equals", "", "").replace(
        "      action_group: All Computers\n",
        "      action_group: All Computers\n      min_endpoints: 0\n",
    );
    assert!(source.contains("min_endpoints: 0"));
    let playbook = write_playbook(&dir, "tag.yaml", &source);
    let hostile = r#"value=x" or Computer Name contains ""#;
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", hostile, "--json"],
        &[],
    )
    .await;
    let event = finished(&output);
    // The quoted value matches no machine: the action targets nothing (the poll expects 0).
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    assert_eq!(event["outputs"]["targeted"], 0);
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1);
    assert!(
        actions[0].targeted_computer_names.is_empty(),
        "targeted {:?}",
        actions[0].targeted_computer_names
    );
    assert!(
        text(&output.stdout).contains("matches no endpoint"),
        "a warning says the count is 0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_target_fails_before_anything_is_issued() {
    let sim = simulator(|_| {}).await;
    let output = run_against(
        Some(&sim),
        &[
            "run",
            "playbooks/tag-suspect-host.yaml",
            "--input",
            "hostname=NOPE-01",
        ],
        &[],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{stderr}",
        text(&output.stdout)
    );
    assert!(
        stderr.contains("the target matches 0 endpoints; at least 1 expected"),
        "{stderr}"
    );
    let state = sim.inspect();
    assert!(state.actions.is_empty(), "nothing was issued");
    assert!(
        !state
            .requests
            .iter()
            .any(|request| request.method == "POST" && request.path.ends_with("/actions")),
        "no POST /actions: {:?}",
        state.requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn min_endpoints_zero_issues_an_empty_action() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(repo_root().join("playbooks/tag-suspect-host.yaml"))
        .expect("the example")
        .replace(
            "      expire: 2h\n",
            "      expire: 2h\n      min_endpoints: 0\n",
        );
    assert!(source.contains("min_endpoints: 0"));
    let playbook = write_playbook(&dir, "tag.yaml", &source);
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "hostname=NOPE-01", "--json"],
        &[],
    )
    .await;
    succeeded(&output);
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1, "the empty action was issued");
    assert!(actions[0].targeted_computer_names.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_target_fails_with_the_built_in_simulator_too() {
    let output = run_against(
        None,
        &[
            "run",
            "playbooks/tag-suspect-host.yaml",
            "--sim",
            "--input",
            "hostname=NOPE-01",
        ],
        &[],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{stderr}",
        text(&output.stdout)
    );
    assert!(
        stderr.contains("the target matches 0 endpoints; at least 1 expected"),
        "{stderr}"
    );
    let stdout = text(&output.stdout);
    assert!(
        !stdout.contains(" issued: "),
        "no action was issued: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn contains_a_dot_matches_only_names_with_a_dot() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(&dir, "tag.yaml", &tag_playbook("contains", "", ""));
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "value=.", "--json"],
        &[],
    )
    .await;
    succeeded(&output);
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1);
    let names = &actions[0].targeted_computer_names;
    assert!(!names.is_empty(), "some machines have a dot in their name");
    assert!(names.iter().all(|name| name.contains('.')), "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_refuses_a_wide_target() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(
        &dir,
        "tag.yaml",
        &tag_playbook("starts_with", "", "guard: { max_endpoints: 2 }"),
    );
    let output = run_against(Some(&sim), &["run", &playbook, "--input", "value=WIN"], &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("more than max_endpoints 2"),
        "{}",
        text(&output.stderr)
    );
    assert!(sim.inspect().actions.is_empty(), "nothing was issued");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_package_fails_before_anything_is_issued() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let source = tag_playbook("equals", "", "").replace(
        "package: Custom Tagging - Add Tags",
        "package: No Such Package",
    );
    let playbook = write_playbook(&dir, "tag.yaml", &source);
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "value=WIN-DC01"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("params") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(sim.inspect().actions.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_parameter_value_names_the_label_and_the_range() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let source = r#"version: 1
name: log-level
steps:
  - id: params
    parameterize:
      package: Set Windows Tanium Client Logging Level
      params: { $1: 150 }
"#;
    let playbook = write_playbook(&dir, "level.yaml", source);
    let output = run_against(Some(&sim), &["run", &playbook], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Log Level (0-99)"),
        "names the label: {stderr}"
    );
    assert!(stderr.contains("99"), "says what is allowed: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_that_never_comes_times_out() {
    let sim = simulator(|config| config.approval_required = true).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(
        &dir,
        "tag.yaml",
        &tag_playbook("equals", "", "").replace("timeout: 20s", "timeout: 1s"),
    );
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "value=WIN-DC01"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("was not approved within 1s"), "{stderr}");
    assert!(
        stderr.contains("keep running in Tanium"),
        "the issued action is reported: {stderr}"
    );
    assert_eq!(sim.inspect().actions.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_stopped_midway_fails_the_poll() {
    // A slow clock, so that the action is still running when an operator stops it.
    let sim = simulator(|config| config.time_scale = 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(&dir, "tag.yaml", &tag_playbook("contains", "", ""));
    let base_url = sim.base_url();
    let args = ["run", playbook.as_str(), "--input", "value=WIN"];
    let run = run_against(Some(&sim), &args, &[]);
    let stopper = async {
        let client = reqwest::Client::new();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let actions: Value = client
                .get(format!("{base_url}/sim/actions"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = actions
                .as_array()
                .and_then(|list| list.first())
                .and_then(|a| a["id"].as_u64())
            {
                sim.stop_action(id);
                return;
            }
        }
    };
    let (output, ()) = tokio::join!(run, stopper);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("stopped"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expected_count_of_zero_finishes_at_once() {
    let sim = simulator(|config| config.time_scale = 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let source = tag_playbook("equals", "", "").replace(
        "      interval: 200ms\n      max_interval: 1s",
        "      expected: 0\n      interval: 200ms\n      max_interval: 1s",
    );
    let playbook = write_playbook(&dir, "tag.yaml", &source);
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "value=WIN-DC01", "--json"],
        &[],
    )
    .await;
    succeeded(&output);
    let polls = text(&output.stdout)
        .lines()
        .filter(|line| line.contains("\"poll_progress\""))
        .count();
    assert_eq!(polls, 1, "one look at the results, no waiting");
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_and_an_expiring_login_still_issue_exactly_one_action() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(&dir, "tag.yaml", &tag_playbook("equals", "", ""));
    sim.set_faults(Faults {
        error_share: 0.15,
        rate_limit_share: 0.1,
        drop_share: 0.05,
        drop_after_create_share: 1.0,
        // 300 simulated seconds: 1.5 s of real time, so the session expires midway.
        login_session_ttl: Some(Duration::from_secs(300)),
        ..Faults::default()
    });
    let (username, password) = sim.credentials();
    let mut command_env = vec![("TANIUM_USERNAME", username), ("TANIUM_PASSWORD", password)];
    command_env.push(("TANIUM_TOKEN", String::new()));
    let output = run_against(
        Some(&sim),
        &["run", &playbook, "--input", "value=WIN-DC01", "--json"],
        &command_env,
    )
    .await;
    succeeded(&output);
    assert_eq!(
        sim.inspect().actions.len(),
        1,
        "the cut connection after POST /actions did not cause a second action"
    );
    assert!(
        text(&output.stdout).contains("\"adopted\":true"),
        "the action was found by its name"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_connection_settings_name_the_variables_and_sim() {
    let output = run_against(
        None,
        &[
            "run",
            "playbooks/tag-suspect-host.yaml",
            "--input",
            "hostname=WIN-DC01",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("TANIUM_URL")
            && stderr.contains("TANIUM_TOKEN")
            && stderr.contains("--sim"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn input_errors_are_reported_together_before_any_request() {
    let sim = simulator(|_| {}).await;
    let output = run_against(
        Some(&sim),
        &[
            "run",
            "playbooks/tag-suspect-host.yaml",
            "--input",
            "hostname=bad host!",
            "--input",
            "nope=1",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("hostname") && stderr.contains("nope"),
        "both problems at once: {stderr}"
    );
    assert!(sim.inspect().requests.is_empty(), "no request was sent");
}

/// `tag_playbook` whose issue step has a window from inputs `start` and `end` (each written
/// only when `keys` names it).
fn window_playbook(keys: &[&str]) -> String {
    let mut window = String::new();
    for key in keys {
        let input = if *key == "not_before" { "start" } else { "end" };
        window.push_str(&format!("      {key}: \"{{{{ inputs.{input} }}}}\"\n"));
    }
    tag_playbook("equals", "", "")
        .replace(
            "  value: { type: string }\n",
            "  value: { type: string }\n  start: { type: string, default: \"\" }\n  end: { type: string, default: \"\" }\n",
        )
        .replace(
            "      package: \"{{ steps.params.package_spec }}\"\n",
            &format!("      package: \"{{{{ steps.params.package_spec }}}}\"\n{window}"),
        )
}

fn no_action_was_sent(sim: &RunningSim) {
    let state = sim.inspect();
    assert!(state.actions.is_empty(), "nothing was issued");
    assert!(
        !state
            .requests
            .iter()
            .any(|request| request.method == "POST" && request.path.ends_with("/actions")),
        "no POST /actions: {:?}",
        state.requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn not_before_holds_the_action_pending_until_then_and_it_completes() {
    // The simulator's date runs `SCALE` times faster than the wall clock from its start.
    const SCALE: f64 = 20.0;
    let started = chrono::Utc::now();
    let sim = simulator(|config| config.time_scale = SCALE).await;
    let elapsed = (chrono::Utc::now() - started).num_milliseconds() as f64 / 1000.0;
    let sim_now = started + chrono::Duration::milliseconds((elapsed * SCALE * 1000.0) as i64);
    // A minute of the simulator's time (three real seconds) ahead.
    let not_before = (sim_now + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dir = tempfile::tempdir().unwrap();
    let source = window_playbook(&["not_before"]);
    assert!(
        source.contains("not_before: \"{{ inputs.start }}\""),
        "{source}"
    );
    let playbook = write_playbook(&dir, "window.yaml", &source);
    let start = format!("start={not_before}");
    let began = std::time::Instant::now();
    let output = run_against(
        Some(&sim),
        &[
            "run",
            &playbook,
            "--input",
            "value=WIN-DC01",
            "--input",
            &start,
            "--json",
        ],
        &[],
    )
    .await;
    let event = succeeded(&output);
    // Issued pending (the simulator needs no approval: only the start time held it back).
    let tag = step_outputs(&output, "tag");
    assert_eq!(tag["status"], "Pending", "{tag}");
    assert_eq!(
        event["outputs"]["completed"], event["outputs"]["targeted"],
        "{event}"
    );
    assert_eq!(event["outputs"]["completed"], 1, "{event}");
    assert!(
        began.elapsed() >= Duration::from_secs(2),
        "the endpoints finished only after the start time: {:?}",
        began.elapsed()
    );
    // The action carries the start time the playbook gave.
    let id = tag["action_id"].as_u64().expect("an action id");
    let action: Value = reqwest::Client::new()
        .get(format!("{}/api/v2/actions/{id}", sim.base_url()))
        .header("session", sim.api_token())
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        action["data"]["start_time"],
        not_before.as_str(),
        "{action}"
    );
    assert_eq!(sim.inspect().actions.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_that_cannot_be_kept_fails_before_anything_is_sent() {
    let sim = simulator(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let playbook = write_playbook(
        &dir,
        "window.yaml",
        &window_playbook(&["not_before", "not_after"]),
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "2030-01-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
            "is not after `not_before`",
        ),
        (
            "2020-01-01T00:00:00Z",
            "2020-01-01T06:00:00+02:00",
            "is in the past",
        ),
        (
            "tomorrow",
            "2099-01-01T00:00:00Z",
            "`not_before` rendered `tomorrow`, which is not an RFC 3339 time",
        ),
    ];
    for (start, end, why) in cases {
        let start = format!("start={start}");
        let end = format!("end={end}");
        let output = run_against(
            Some(&sim),
            &[
                "run",
                &playbook,
                "--input",
                "value=WIN-DC01",
                "--input",
                &start,
                "--input",
                &end,
            ],
            &[],
        )
        .await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert!(stderr.contains("nothing was issued"), "{stderr}");
        no_action_was_sent(&sim);
    }
    // The plan shows the window, in the step's details and in the body it would send.
    let output = run_against(
        None,
        &[
            "plan",
            &playbook,
            "--input",
            "value=WIN-DC01",
            "--input",
            "start=2098-12-31T23:00:00-01:00",
            "--input",
            "end=2099-01-01T06:00:00Z",
        ],
        &[],
    )
    .await;
    let plan = text(&output.stdout);
    assert!(output.status.success(), "{plan}\n{}", text(&output.stderr));
    assert!(
        plan.contains("starting at 2099-01-01T00:00:00Z (not_before)"),
        "{plan}"
    );
    assert!(
        plan.contains("ending at 2099-01-01T06:00:00Z (not_after)"),
        "{plan}"
    );
    assert!(
        plan.contains("\"start_time\":\"2099-01-01T00:00:00Z\""),
        "{plan}"
    );
    assert!(
        plan.contains("\"expiration_time\":\"2099-01-01T06:00:00Z\""),
        "{plan}"
    );
    assert!(plan.contains("\"expire_seconds\":21600"), "{plan}");
}

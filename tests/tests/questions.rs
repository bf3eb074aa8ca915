//! Ask, then act, end to end: the `runbook` binary against the simulator over HTTP. A question
//! finds the machines, `values:` targets exactly those, `stop_action` stops an action (twice),
//! and the limits of `values:` hold before anything is sent.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

/// The simulator's clock: endpoints answer and finish within a fraction of a real second.
const FAST: f64 = 200.0;

/// Where Running Processes has `evil.exe` in the built-in world and the machine answers
/// (WIN-LAPTOP-0051 runs it too, but is offline: it never says so).
const EVIL_ONLINE: [&str; 2] = ["WIN-APP01", "WIN-LAPTOP-0042"];

async fn simulator() -> RunningSim {
    Simulator::start(SimConfig {
        time_scale: FAST,
        failure_share: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// Runs the binary against `sim`, from the workspace root, off the test's thread.
async fn run_against(sim: &RunningSim, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("runbook"));
    command
        .args(args)
        .current_dir(runbook_tests::workspace_root())
        .env("NO_COLOR", "1")
        .env("TANIUM_URL", sim.base_url())
        .env("TANIUM_TOKEN", sim.api_token())
        .env_remove("TANIUM_USERNAME")
        .env_remove("TANIUM_PASSWORD")
        .env_remove("TANIUM_CA_CERT");
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

/// The `--json` events of a run.
fn events(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// The `run_finished` event of a `--json` run.
fn finished(output: &Output) -> Value {
    events(output)
        .into_iter()
        .rfind(|event| event["event"] == "run_finished")
        .unwrap_or_else(|| {
            panic!(
                "no run_finished event in:\n{}\n{}",
                text(&output.stdout),
                text(&output.stderr)
            )
        })
}

/// The outputs of step `id` in a `--json` run.
fn step_outputs(output: &Output, id: &str) -> Value {
    events(output)
        .into_iter()
        .find(|event| event["event"] == "step_finished" && event["step_id"] == id)
        .map(|event| event["outputs"].clone())
        .unwrap_or_else(|| panic!("no step_finished for `{id}`:\n{}", text(&output.stdout)))
}

fn write(dir: &tempfile::TempDir, name: &str, source: &str) -> String {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, source).expect("the playbook is written");
    path.display().to_string()
}

fn sorted_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_array()
        .expect("a list of names")
        .iter()
        .map(|name| name.as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_question_finds_the_machines_and_the_action_reaches_exactly_those() {
    let sim = simulator().await;
    let output = run_against(
        &sim,
        &[
            "run",
            "playbooks/hunt-and-tag.yaml",
            "--store",
            "none",
            "--json",
        ],
    )
    .await;
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    assert_eq!(sorted_names(&event["outputs"]["found"]), EVIL_ONLINE);

    let hits = step_outputs(&output, "hits");
    assert_eq!(
        hits["columns"],
        json!(["Computer Name", "IP Address", "Count"])
    );
    assert_eq!(hits["row_count"], json!(2));
    assert_eq!(hits["rows_truncated"], json!(false));
    assert!(hits["percent"].as_f64().unwrap() >= 95.0, "{hits}");
    assert!(hits["question_id"].as_u64().is_some(), "{hits}");
    assert!(
        events(&output)
            .iter()
            .any(|event| event["event"] == "question_progress" && event["step_id"] == "hits"),
        "each check of the wait is an event"
    );

    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1, "{actions:?}");
    let mut targeted = actions[0].targeted_computer_names.clone();
    targeted.sort();
    assert_eq!(
        targeted, EVIL_ONLINE,
        "the target is the names found, no more"
    );
    sim.shutdown().await;
}

const ASK: &str = r#"version: 1
name: ask
steps:
  - id: payload
    question:
      get:
        - Computer Name
        - { sensor: File Exists, params: { "||path||": 'C:\Users\Public\evil.exe' } }
      from:
        all:
          - { sensor: OS Platform, op: equals, value: Windows }
          - { sensor: Computer Name, op: starts_with, values: [WIN-APP, WIN-LAPTOP-004] }
  - id: by_name
    question: { saved: Hosts Running Evil }
  - id: by_id
    question: { saved: 1001, max_rows: 1 }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_parameterized_sensor_and_a_saved_question_by_name_or_id_answer() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(&dir, "ask.yaml", ASK);
    let output = run_against(&sim, &["run", &playbook, "--store", "none", "--json"]).await;
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );

    let payload = step_outputs(&output, "payload");
    let rows = payload["rows"].as_array().expect("rows");
    let found: Vec<&str> = rows
        .iter()
        .filter(|row| row["File Exists"] == "File Exists: C:\\Users\\Public\\evil.exe")
        .map(|row| row["Computer Name"].as_str().unwrap())
        .collect();
    assert!(found.contains(&"WIN-APP01"), "{payload}");
    assert!(found.contains(&"WIN-LAPTOP-0042"), "{payload}");
    assert!(
        rows.iter().all(|row| {
            let name = row["Computer Name"].as_str().unwrap();
            name.starts_with("WIN-APP") || name.starts_with("WIN-LAPTOP-004")
        }),
        "the `from` clauses with `values:` hold: {payload}"
    );
    // Special texts are never data.
    let stream = text(&output.stdout);
    assert!(!stream.contains("current results unavailable"), "{stream}");
    assert!(!stream.contains("TSE-Error"), "{stream}");

    let by_name = step_outputs(&output, "by_name");
    let names: Vec<Value> = by_name["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["Computer Name"].clone())
        .collect();
    assert_eq!(sorted_names(&Value::Array(names)), EVIL_ONLINE);
    let by_id = step_outputs(&output, "by_id");
    assert_eq!(by_id["row_count"], json!(2));
    assert_eq!(by_id["rows"].as_array().unwrap().len(), 1, "max_rows: 1");
    assert_eq!(by_id["rows_truncated"], json!(true));
    sim.shutdown().await;
}

const VALUES: &str = r#"version: 1
name: many
inputs:
  hosts: { type: list }
steps:
  - id: scope
    target:
      any:
        - { sensor: Computer Name, op: equals, values: "{{ inputs.hosts }}" }
  - id: tag_params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR-many }
  - id: tag
    issue:
      name: Tag many
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.tag_params.package_spec }}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn more_than_500_values_fail_before_anything_is_sent() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(&dir, "many.yaml", VALUES);
    let hosts: Vec<String> = (0..501).map(|index| format!("host-{index}")).collect();
    let hosts = format!("hosts={}", serde_json::to_string(&hosts).unwrap());
    let output = run_against(
        &sim,
        &["run", &playbook, "--input", &hosts, "--store", "none"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("holds 501 different values; a clause takes at most 500: nothing was sent"),
        "{}",
        text(&output.stderr)
    );
    let inspector = sim.inspect();
    assert!(inspector.groups.is_empty(), "{:?}", inspector.groups);
    assert!(inspector.actions.is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_values_list_matches_no_machine_and_nothing_is_issued() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(&dir, "none.yaml", VALUES);
    let output = run_against(
        &sim,
        &["run", &playbook, "--input", "hosts=[]", "--store", "none"],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("has an empty `values` list: it matches no machine"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the target matches 0 endpoints; at least 1 expected"),
        "{stderr}"
    );
    let inspector = sim.inspect();
    assert_eq!(inspector.groups.len(), 1, "{:?}", inspector.groups);
    assert!(
        inspector.groups[0].computer_names.is_empty(),
        "the group matches nothing: {:?}",
        inspector.groups[0]
    );
    assert!(inspector.actions.is_empty(), "nothing is issued");
    sim.shutdown().await;
}

const STOP_TWICE: &str = r#"version: 1
name: stop-twice
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: WIN-DC01 }
  - id: tag_params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR-stop }
  - id: tag
    issue:
      name: Tag then stop
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.tag_params.package_spec }}"
      distribute: 1h
      expire: 2h
  - id: stop
    stop_action: { action: "{{ steps.tag.action_id }}" }
  - id: again
    stop_action: { action: "{{ steps.tag.action_id }}" }
outputs:
  first: "{{ steps.stop }}"
  second: "{{ steps.again }}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn stopping_an_action_twice_succeeds_both_times() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(&dir, "stop.yaml", STOP_TWICE);
    let output = run_against(&sim, &["run", &playbook, "--store", "none", "--json"]).await;
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    let outputs = &event["outputs"];
    assert_eq!(outputs["first"]["stopped"], json!(true), "{outputs}");
    assert_eq!(outputs["second"]["stopped"], json!(true), "{outputs}");
    for stop in [&outputs["first"], &outputs["second"]] {
        let status = stop["status"].as_str().expect("a status");
        assert!(status.eq_ignore_ascii_case("stopped"), "{outputs}");
    }
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1);
    assert!(actions[0].stopped, "{:?}", actions[0]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sensor_that_does_not_exist_fails_the_run_and_the_live_plan() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(
        &dir,
        "missing.yaml",
        "version: 1\nname: missing\nsteps:\n  - id: hits\n    question: { get: [Computer Name, No Such Sensor] }\n",
    );
    let run = run_against(&sim, &["run", &playbook, "--store", "none"]).await;
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("No Such Sensor"),
        "{}",
        text(&run.stderr)
    );
    let plan = run_against(&sim, &["plan", &playbook, "--live"]).await;
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan.stdout));
    assert!(
        text(&plan.stdout).contains("No Such Sensor"),
        "{}",
        text(&plan.stdout)
    );
    let requests = sim.inspect().requests;
    assert!(
        requests
            .iter()
            .all(|request| !(request.method == "POST" && request.path == "/api/v2/questions")),
        "no question is asked with a sensor missing: {requests:?}"
    );
    sim.shutdown().await;
}

/// The issue's example, end to end: ask who runs the process, tag exactly those, then ask
/// again and find the tag on every one of them.
#[tokio::test(flavor = "multi_thread")]
async fn contain_process_tags_the_machines_found_and_asking_again_shows_the_tag() {
    let sim = simulator().await;
    let output = run_against(
        &sim,
        &[
            "run",
            "playbooks/contain-process.yaml",
            "--store",
            "none",
            "--json",
        ],
    )
    .await;
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    assert_eq!(sorted_names(&event["outputs"]["contained"]), EVIL_ONLINE);
    let confirm = step_outputs(&output, "confirm");
    let rows = confirm["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{confirm}");
    for row in rows {
        let tags = row["Custom Tags"].to_string();
        assert!(tags.contains("IR-contain"), "{row}");
    }
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 1, "{actions:?}");
    let mut targeted = actions[0].targeted_computer_names.clone();
    targeted.sort();
    assert_eq!(targeted, EVIL_ONLINE);
    sim.shutdown().await;
}

/// Machines whose names are full of quotes and regex characters: a `from` value matches only
/// the one it names, never one that a regex read of it would match; and special texts never
/// reach `rows`.
#[tokio::test(flavor = "multi_thread")]
async fn a_from_value_full_of_quotes_and_regex_characters_matches_only_what_it_says() {
    let fleet = r#"
endpoints:
  - { computer_name: 'lab "one".(a+b)*', ip_address: 10.1.0.1, operating_system: Debian 12 }
  - { computer_name: 'lab "one"X(aab)', ip_address: 10.1.0.2, operating_system: Debian 12 }
  - { computer_name: 'lab one.(a+b)*', ip_address: 10.1.0.3, operating_system: Debian 12 }
  - { computer_name: 'lab "one".(a+b)* tail', ip_address: 10.1.0.4, operating_system: Debian 12 }
"#;
    let mut config = SimConfig::from_yaml_fleet(fleet).expect("a fleet");
    config.time_scale = FAST;
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(
        &dir,
        "weird.yaml",
        r#"version: 1
name: weird
inputs:
  name: { type: string }
steps:
  - id: exact
    question:
      get: [Computer Name, IP Address]
      from:
        all:
          - { sensor: Computer Name, op: equals, value: "{{ inputs.name }}" }
  - id: prefix
    question:
      get: [Computer Name, Logged In Users]
      from:
        all:
          - { sensor: Computer Name, op: contains, value: "{{ inputs.name }}" }
"#,
    );
    let output = run_against(
        &sim,
        &[
            "run",
            &playbook,
            "--store",
            "none",
            "--json",
            "--input",
            r#"name=lab "one".(a+b)*"#,
        ],
    )
    .await;
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    let exact = step_outputs(&output, "exact");
    assert_eq!(exact["row_count"], json!(1), "{exact}");
    assert_eq!(
        exact["rows"][0]["Computer Name"], r#"lab "one".(a+b)*"#,
        "{exact}"
    );
    let contains = step_outputs(&output, "prefix");
    let mut names: Vec<String> = contains["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["Computer Name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [r#"lab "one".(a+b)*"#, r#"lab "one".(a+b)* tail"#],
        "contains is literal text, not a regex: {contains}"
    );
    for row in contains["rows"].as_array().expect("rows") {
        let shown = row.to_string();
        for special in ["[no results]", "unavailable]", "TSE-Error"] {
            assert!(
                !shown.contains(special),
                "a special text reached rows: {row}"
            );
        }
    }
    sim.shutdown().await;
}

/// A question that cannot reach its share in time fails and says the share it reached.
#[tokio::test(flavor = "multi_thread")]
async fn a_question_that_never_reaches_its_share_times_out_with_the_share_it_reached() {
    // A real-time clock: endpoints take up to two seconds to answer, the step waits one.
    let sim = Simulator::start(SimConfig {
        time_scale: 1.0,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("a folder");
    let playbook = write(
        &dir,
        "slow.yaml",
        r#"version: 1
name: slow
steps:
  - id: everyone
    question:
      get: [Computer Name]
      until_percent: 100
      timeout: 1s
      interval: 200ms
      max_interval: 200ms
"#,
    );
    let output = run_against(&sim, &["run", &playbook, "--store", "none", "--json"]).await;
    let event = finished(&output);
    assert_eq!(event["status"], "failed", "{event}");
    let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        shown.contains("did not reach 100% answered within 1s"),
        "{shown}"
    );
    assert!(
        shown.contains("% answered ("),
        "the share it reached is said: {shown}"
    );
    sim.shutdown().await;
}

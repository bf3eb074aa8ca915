//! Reviewed plans end to end (SPEC-2 section 4, docs/plans.md): `runbook plan --live --out`
//! writes a plan file, `runbook run --plan` carries it out against the same simulator, and
//! refuses it (exit 3, no `POST /api/v2/actions`) once anything it resolved has moved.
//!
//! The simulator runs in the test. To change the world between plan and run (a package's
//! parameter definition or id, more endpoints) it is stopped and started again on the same
//! address with another configuration, so that the server is the same URL.

use std::net::SocketAddr;
use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::{Outcome, Test};
use serde_json::Value;

/// A playbook that targets machines by name prefix and tags them; its `ticket` input is
/// secret, so a plan records only that it was given.
const PLAYBOOK: &str = r#"version: 1
name: tag-web
inputs:
  prefix: { type: string }
  ticket: { type: string, secret: true }
steps:
  - id: fleet
    target:
      all:
        - { sensor: Computer Name, op: starts_with, value: "{{ inputs.prefix }}" }
  - id: tag_params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { Tag: IR-suspect }
  - id: note
    log: "ticket {{ inputs.ticket }}"
  - id: tag
    issue:
      name: "Tag {{ inputs.prefix }}*"
      action_group: All Computers
      target: "{{ steps.fleet.group }}"
      package: "{{ steps.tag_params.package_spec }}"
"#;

const TICKET: &str = "ticket=INC-SECRET-4711";

fn config() -> SimConfig {
    SimConfig {
        time_scale: 200.0,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> RunningSim {
    Simulator::start(config).await.expect("simulator")
}

/// The simulator stopped and started again on its address with another world.
async fn restart(sim: RunningSim, config: SimConfig) -> RunningSim {
    let address: SocketAddr = sim.address();
    sim.shutdown().await;
    Simulator::start_on(config, address)
        .await
        .expect("simulator again on the same address")
}

/// `runbook` in `folder` against `sim`, off the async runtime so the simulator keeps serving.
async fn runbook(folder: &std::path::Path, sim: &RunningSim, args: &[&str]) -> Outcome {
    let mut test = Test::new()
        .env("TANIUM_URL", sim.base_url())
        .env("TANIUM_TOKEN", sim.api_token());
    for entry in std::fs::read_dir(folder).expect("the folder") {
        let entry = entry.expect("an entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        test = test.file(&name, std::fs::read(entry.path()).expect("a file"));
    }
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let test = test.args(args);
    let outcome = tokio::task::spawn_blocking(move || test.run())
        .await
        .expect("the binary ran");
    // Whatever the run wrote back (nothing, mostly) is copied to the folder.
    for entry in std::fs::read_dir(outcome.folder.path()).expect("the run's folder") {
        let entry = entry.expect("an entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), folder.join(entry.file_name())).expect("copy back");
        }
    }
    outcome
}

/// A folder with the playbook and a live plan of it made against `sim`.
async fn planned(sim: &RunningSim, extra: &[&str]) -> (tempfile::TempDir, Outcome) {
    let folder = tempfile::tempdir().expect("a folder");
    std::fs::write(folder.path().join("playbook.yaml"), PLAYBOOK).expect("the playbook");
    let mut args = vec![
        "plan",
        "playbook.yaml",
        "--input",
        "prefix=web-",
        "--input",
        TICKET,
        "--live",
        "--out",
        "plan.json",
    ];
    args.extend_from_slice(extra);
    let outcome = runbook(folder.path(), sim, &args).await;
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    (folder, outcome)
}

/// `run --plan plan.json` with the secret input given again, and `extra` arguments.
async fn run_plan(folder: &std::path::Path, sim: &RunningSim, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "run",
        "--plan",
        "plan.json",
        "--input",
        TICKET,
        "--store",
        "none",
    ];
    args.extend_from_slice(extra);
    runbook(folder, sim, &args).await
}

fn actions_posted(sim: &RunningSim) -> u64 {
    sim.inspect().request_count("POST", "/api/v2/actions")
}

/// A refusal: exit 3, every `expected` difference named, and no action issued.
fn assert_refused(outcome: &Outcome, sim: &RunningSim, expected: &[&str]) {
    assert_eq!(
        outcome.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("refusing to run the plan plan.json"),
        "{}",
        outcome.stderr
    );
    for difference in expected {
        assert!(
            outcome.stderr.contains(difference),
            "`{difference}` not named in:\n{}",
            outcome.stderr
        );
    }
    assert_eq!(actions_posted(sim), 0, "an action was issued");
}

fn read_plan(folder: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("plan.json")).expect("plan.json"))
        .expect("the plan is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_made_and_run_unchanged_runs_and_its_file_is_as_documented() {
    let sim = start(config()).await;
    let (folder, outcome) = planned(&sim, &[]).await;
    assert!(
        outcome
            .stderr
            .contains("plan written to plan.json (digest sha256:"),
        "{}",
        outcome.stderr
    );
    let text = std::fs::read_to_string(folder.path().join("plan.json")).expect("plan.json");
    assert!(!text.contains("INC-SECRET-4711"), "a secret in the plan");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(folder.path().join("plan.json"))
            .expect("plan.json")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the plan file is private");
    }
    let mut plan = read_plan(folder.path());
    let digest = plan["digest"].as_str().expect("a digest").to_owned();
    assert!(
        outcome.stderr.contains(&digest),
        "stderr names the digest: {}",
        outcome.stderr
    );
    // The times, the digest and the simulator's port change from run to run.
    for (key, mask) in [
        ("created_at", "[CREATED]"),
        ("expires_at", "[EXPIRES]"),
        ("digest", "[DIGEST]"),
        ("server", "[SERVER]"),
    ] {
        plan[key] = Value::String(mask.to_owned());
    }
    insta::assert_snapshot!(
        "plan_file_live",
        serde_json::to_string_pretty(&plan).expect("JSON")
    );
    assert_eq!(actions_posted(&sim), 0, "plan issued nothing");

    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(actions_posted(&sim), 1);
    let action = &sim.inspect().actions[0];
    assert_eq!(action.targeted_computer_names.len(), 3);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_input_is_given_again_and_never_compared() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    let plan = read_plan(folder.path());
    assert_eq!(
        plan["inputs"]["ticket"],
        serde_json::json!({"secret": true})
    );
    let outcome = runbook(
        folder.path(),
        &sim,
        &["run", "--plan", "plan.json", "--store", "none"],
    )
    .await;
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("give each again with --input"),
        "{}",
        outcome.stderr
    );
    assert_eq!(actions_posted(&sim), 0);
    // Another value of the secret is not a difference.
    let outcome = runbook(
        folder.path(),
        &sim,
        &[
            "run",
            "--plan",
            "plan.json",
            "--input",
            "ticket=INC-OTHER",
            "--store",
            "none",
        ],
    )
    .await;
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(actions_posted(&sim), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_playbook_and_a_changed_input_are_both_named() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    let edited = PLAYBOOK.replace("IR-suspect", "IR-cleared");
    std::fs::write(folder.path().join("playbook.yaml"), edited).expect("edit");
    let outcome = run_plan(folder.path(), &sim, &["--input", "prefix=db-"]).await;
    assert_refused(
        &outcome,
        &sim,
        &[
            "the playbook playbook.yaml changed since the plan",
            "input `prefix` differs: \"web-\" planned, \"db-\" now",
        ],
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_parameter_definition_is_refused() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    let mut changed = config();
    let package = changed
        .packages
        .iter_mut()
        .find(|package| package.name == "Custom Tagging - Add Tags")
        .expect("the tagging package");
    package.parameter_definition = package.parameter_definition.replace(
        "The tag to add",
        "The tag to add (now with a new help text)",
    );
    let sim = restart(sim, changed).await;
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_refused(
        &outcome,
        &sim,
        &["step `tag`: the parameter definition of package"],
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_package_id_is_refused() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    let planned_id = read_plan(folder.path())["steps"][3]["resolved"]["package_id"]
        .as_u64()
        .expect("a package id");
    let mut changed = config();
    let package = changed
        .packages
        .iter_mut()
        .find(|package| package.name == "Custom Tagging - Add Tags")
        .expect("the tagging package");
    package.id = 9_000;
    let sim = restart(sim, changed).await;
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_refused(
        &outcome,
        &sim,
        &[&format!(
            "step `tag`: the package id changed: {planned_id} planned, 9000 now"
        )],
    );
    sim.shutdown().await;
}

/// The default world with one more online web server.
fn one_more_web_server() -> SimConfig {
    let mut config = config();
    let mut endpoint = config
        .fleet
        .iter()
        .find(|endpoint| endpoint.computer_name.starts_with("web-") && endpoint.online)
        .expect("a web server")
        .clone();
    endpoint.computer_name = "web-04.corp.example".to_owned();
    endpoint.ip_address = "10.0.9.4".to_owned();
    config.fleet.push(endpoint);
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_count_that_moved_is_refused_unless_within_the_tolerance() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    let sim = restart(sim, one_more_web_server()).await;
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_refused(
        &outcome,
        &sim,
        &[
            "step `tag`: the target matched 3 endpoint(s) when planned and 4 now, beyond --count-tolerance 0%",
        ],
    );
    // 4 is within 50% of 3: it runs.
    let outcome = run_plan(folder.path(), &sim, &["--count-tolerance", "50%"]).await;
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(actions_posted(&sim), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_plan_is_refused() {
    let sim = start(config()).await;
    let (folder, outcome) = planned(&sim, &["--ttl", "1s"]).await;
    assert!(outcome.stderr.contains("expires "), "{}", outcome.stderr);
    // Whole seconds: past the second after the one it expires in.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_refused(&outcome, &sim, &["the plan expired at "]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_plan_file_is_refused_by_its_digest() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    // Pushing the expiry back by hand breaks the digest.
    let mut plan = read_plan(folder.path());
    plan["expires_at"] = Value::String("2999-01-01T00:00:00Z".to_owned());
    std::fs::write(
        folder.path().join("plan.json"),
        serde_json::to_string_pretty(&plan).expect("JSON"),
    )
    .expect("edit the plan");
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    let tampered =
        "the plan file was changed after it was written: its digest does not match its content";
    assert_refused(&outcome, &sim, &[tampered]);
    // Edited out of shape: refused the same way.
    let mut plan = read_plan(folder.path());
    plan.as_object_mut()
        .expect("an object")
        .shift_remove("steps");
    std::fs::write(
        folder.path().join("plan.json"),
        serde_json::to_string_pretty(&plan).expect("JSON"),
    )
    .expect("edit the plan");
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_refused(&outcome, &sim, &[tampered]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_server_is_refused_before_anything_is_sent_to_it() {
    let sim = start(config()).await;
    let (folder, _) = planned(&sim, &[]).await;
    let other = start(config()).await;
    let outcome = run_plan(folder.path(), &other, &[]).await;
    assert_refused(
        &outcome,
        &other,
        &[&format!(
            "the server differs: planned against `{}`, this run goes to `{}`",
            sim.base_url().trim_end_matches('/'),
            other.base_url().trim_end_matches('/')
        )],
    );
    assert!(
        other.inspect().requests.is_empty(),
        "the other server was asked: {:?}",
        other.inspect().requests
    );
    assert_eq!(actions_posted(&sim), 0);
    other.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_that_cannot_run_is_written_not_applyable_and_refused() {
    let sim = start(config()).await;
    let folder = tempfile::tempdir().expect("a folder");
    std::fs::write(folder.path().join("playbook.yaml"), PLAYBOOK).expect("the playbook");
    // No endpoint matches: `min_endpoints` (default 1) makes the plan fail.
    let outcome = runbook(
        folder.path(),
        &sim,
        &[
            "plan",
            "playbook.yaml",
            "--input",
            "prefix=nope-",
            "--input",
            TICKET,
            "--live",
            "--out",
            "plan.json",
        ],
    )
    .await;
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("it is not applyable"),
        "{}",
        outcome.stderr
    );
    let plan = read_plan(folder.path());
    assert_eq!(plan["applyable"], false);
    let outcome = run_plan(folder.path(), &sim, &[]).await;
    assert_refused(
        &outcome,
        &sim,
        &["the plan is not applyable: step `tag`: the target matches 0 endpoints"],
    );
    sim.shutdown().await;
}

/// Tags one web server, waits for it, then tags every machine carrying that tag: planned, the
/// second target matched none; by the time its action is sent it matches the first server.
const RETAG: &str = r#"version: 1
name: tag-then-retag
steps:
  - id: first
    target:
      all:
        - { sensor: Computer Name, op: equals, value: web-01.corp.example }
  - id: tag_params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { Tag: IR-suspect }
  - id: tag_first
    issue:
      name: Tag one
      action_group: All Computers
      target: "{{ steps.first.group }}"
      package: "{{ steps.tag_params.package_spec }}"
  - id: done
    poll: { action: "{{ steps.tag_first.action_id }}", until_percent: 100 }
  - id: tagged
    target:
      all:
        - { sensor: Custom Tags, op: equals, value: IR-suspect }
  - id: tag_tagged
    issue:
      name: Tag the tagged
      action_group: All Computers
      target: "{{ steps.tagged.group }}"
      package: "{{ steps.tag_params.package_spec }}"
      min_endpoints: 0
"#;

#[tokio::test(flavor = "multi_thread")]
async fn each_issue_checks_the_plan_again_right_before_it_sends() {
    let sim = start(SimConfig {
        failure_share: 0.0,
        ..config()
    })
    .await;
    let folder = tempfile::tempdir().expect("a folder");
    std::fs::write(folder.path().join("retag.yaml"), RETAG).expect("the playbook");
    let outcome = runbook(
        folder.path(),
        &sim,
        &["plan", "retag.yaml", "--live", "--out", "plan.json"],
    )
    .await;
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let plan = read_plan(folder.path());
    assert_eq!(plan["steps"][5]["resolved"]["endpoints"], 0);
    let outcome = runbook(
        folder.path(),
        &sim,
        &["run", "--plan", "plan.json", "--store", "none"],
    )
    .await;
    assert_eq!(
        outcome.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome.stderr.contains(
            "step `tag_tagged`: the target matched 0 endpoint(s) when planned and 1 now, beyond --count-tolerance 0%"
        ),
        "{}",
        outcome.stderr
    );
    // The first action went out (the plan held then); the second did not.
    assert_eq!(actions_posted(&sim), 1);
    assert!(
        sim.inspect().actions[0]
            .name
            .starts_with("Tag one [runbook ")
    );
    sim.shutdown().await;
}

//! `runbook plan`: snapshots of the example playbooks' plans, and proof that plan sends
//! nothing (and `--live` only reads).

use std::time::Duration;

use runbook_tanium_sim::{SimConfig, Simulator};
use runbook_tests::{Test, workspace_root};

/// The examples and the inputs their plans are shown with.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("tag-suspect-host", &["--input", "hostname=WIN-DC01"]),
    ("client-log-level", &[]),
    ("tag-by-label", &["--input", "prefix=web-"]),
    ("guarded-log-level", &["--input", "name_contains=DC0"]),
    ("hunt-and-tag", &[]),
    ("contain-process", &[]),
    ("notify-slack", &["--input", "hostname=WIN-DC01"]),
];

fn plan(example: &str, inputs: &[&str], extra: &[&str]) -> runbook_tests::Outcome {
    let path = workspace_root()
        .join("playbooks")
        .join(format!("{example}.yaml"));
    let mut args = vec!["plan".to_owned(), path.display().to_string()];
    args.extend(inputs.iter().map(|arg| (*arg).to_owned()));
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    Test::new().env("NO_COLOR", "1").args(args).run()
}

#[test]
fn example_plans_human() {
    for (example, inputs) in EXAMPLES {
        let outcome = plan(example, inputs, &[]);
        assert_eq!(outcome.code, 0, "{example}: {}", outcome.stderr);
        insta::assert_snapshot!(format!("plan_human_{example}"), outcome.stdout);
    }
}

#[test]
fn example_plans_json() {
    for (example, inputs) in EXAMPLES {
        let outcome = plan(example, inputs, &["--format", "json"]);
        assert_eq!(outcome.code, 0, "{example}: {}", outcome.stderr);
        let plan: serde_json::Value =
            serde_json::from_str(&outcome.stdout).expect("plan --format json is JSON");
        assert!(
            plan["problems"].as_array().is_some_and(Vec::is_empty),
            "{example}: {plan}"
        );
        insta::assert_json_snapshot!(format!("plan_json_{example}"), plan);
    }
}

#[test]
fn a_plan_refuses_an_http_step_the_operator_did_not_allow() {
    let inputs = ["--input", "hostname=WIN-DC01"];
    let refused = plan(
        "notify-slack",
        &inputs,
        &["--http-allow", "*.service-now.com"],
    );
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("refused: ") && refused.stdout.contains("hooks.slack.com"),
        "{}",
        refused.stdout
    );
    let allowed = plan(
        "notify-slack",
        &inputs,
        &["--http-allow", "hooks.slack.com"],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.stdout);
}

#[test]
fn a_false_assertion_for_these_inputs_makes_the_plan_fail() {
    let outcome = Test::new()
        .env("NO_COLOR", "1")
        .file(
            "check.yaml",
            "version: 1\nname: check\ninputs:\n  n: { type: integer }\nsteps:\n  - id: big_enough\n    assert:\n      that: \"{{ inputs.n > 3 }}\"\n",
        )
        .args(["plan", "check.yaml", "--input", "n=2"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("this plan cannot run"),
        "{}",
        outcome.stdout
    );
}

/// A playbook whose later steps compute from values only a run can tell.
const UNKNOWNS: &str = r#"version: 1
name: unknowns
inputs:
  prefix: { type: string }
steps:
  - id: fleet
    target:
      all:
        - { sensor: Computer Name, op: starts_with, value: "{{ inputs.prefix }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR }
  - id: tag
    issue:
      name: "tag {{ inputs.prefix }}"
      action_group: All Computers
      target: "{{ steps.fleet.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
  - id: summary
    set:
      hosts: "{{ steps.results.rows | map(attribute='computer_name') | list }}"
      count: "{{ steps.results.rows | length }}"
      first: "{{ steps.results.rows | first }}"
      label: "{{ inputs.prefix ~ steps.fleet.group_id }}"
      group: "{{ steps.fleet.group }}"
  - id: note
    log: "{{ steps.results.failed }} failed: {{ steps.results.rows | selectattr('status', 'eq', 'Failed') | map(attribute='computer_name') | join(', ') }} (prefix {{ inputs.prefix | upper }})"
  - id: again
    log: "{% for row in steps.results.rows %}{{ row.computer_name }} {% endfor %}"
  - id: label
    log: "{{ steps.summary.label | upper }} on {{ steps.summary.label }}"
outputs:
  hosts: "{{ steps.results.rows | map(attribute='computer_name') | join(', ') }}"
  failed: "{{ steps.results.failed }}"
"#;

/// A placeholder is an opaque unknown: what a template computes from one is a placeholder
/// naming the expression, never the placeholder's characters iterated as if it were text.
#[test]
fn offline_plans_never_iterate_a_placeholder() {
    let run = |format: &str| {
        Test::new()
            .env("NO_COLOR", "1")
            .file("unknowns.yaml", UNKNOWNS)
            .args([
                "plan",
                "unknowns.yaml",
                "--input",
                "prefix=web-",
                "--format",
                format,
            ])
            .run()
    };
    let human = run("human");
    assert_eq!(human.code, 0, "{}{}", human.stdout, human.stderr);
    assert!(!human.stdout.contains("null"), "{}", human.stdout);
    insta::assert_snapshot!("plan_human_unknowns", human.stdout);
    let json = run("json");
    assert_eq!(json.code, 0, "{}{}", json.stdout, json.stderr);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        plan["outputs"],
        serde_json::json!({
            "hosts": "<steps.results.rows | map(attribute='computer_name') | join(', ')>",
            "failed": "<steps.results.failed>",
        })
    );
    assert_eq!(
        plan["steps"][4]["details"][0],
        "set hosts = <steps.results.rows | map(attribute='computer_name') | list>"
    );
}

/// Runs the binary off the async runtime so the simulator keeps serving meanwhile.
async fn blocking(test: Test) -> runbook_tests::Outcome {
    tokio::task::spawn_blocking(move || test.run())
        .await
        .expect("the binary ran")
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_sends_nothing_even_with_a_server_configured() {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let path = workspace_root().join("playbooks/tag-suspect-host.yaml");
    let outcome = blocking(
        Test::new()
            .env("TANIUM_URL", sim.base_url())
            .env("TANIUM_TOKEN", sim.api_token())
            .args([
                "plan",
                &path.display().to_string(),
                "--input",
                "hostname=WIN-DC01",
            ]),
    )
    .await;
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        sim.inspect().requests.is_empty(),
        "plan sent {:?}",
        sim.inspect().requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_live_only_reads_and_applies_the_guard() {
    let sim = Simulator::start(SimConfig {
        time_scale: 200.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let path = workspace_root().join("playbooks/tag-by-label.yaml");
    let live = |prefix: &str| {
        Test::new()
            .env("NO_COLOR", "1")
            .env("TANIUM_URL", sim.base_url())
            .env("TANIUM_TOKEN", sim.api_token())
            .args([
                "plan",
                &path.display().to_string(),
                "--input",
                &format!("prefix={prefix}"),
                "--live",
            ])
    };
    let outcome = blocking(live("web-")).await;
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stdout.contains("live: 3 endpoint(s) match now"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("live: blast radius 3 endpoint(s)"),
        "{}",
        outcome.stdout
    );
    let state = sim.inspect();
    assert!(state.actions.is_empty(), "no action issued");
    assert!(
        state.groups.is_empty(),
        "no group created: {:?}",
        state.groups
    );
    for request in &state.requests {
        assert!(
            request.method == "GET" || request.path == "/api/v2/questions",
            "plan --live sent {} {}",
            request.method,
            request.path
        );
    }
    // A target that matches nothing: `min_endpoints` (default 1) makes the plan fail.
    let outcome = blocking(live("nope-")).await;
    assert_eq!(outcome.code, 1, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome
            .stdout
            .contains("the target matches 0 endpoints; at least 1 expected"),
        "{}",
        outcome.stdout
    );
    // An unknown package in --live makes the plan fail.
    let source = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Custom Tagging - Add Tags", "No Such Package");
    let outcome = blocking(
        Test::new()
            .env("TANIUM_URL", sim.base_url())
            .env("TANIUM_TOKEN", sim.api_token())
            .file("bad.yaml", source)
            .args(["plan", "bad.yaml", "--input", "prefix=web-", "--live"]),
    )
    .await;
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(outcome.stdout.contains("not found"), "{}", outcome.stdout);
}

/// A fleet of 23 online web servers, 2 offline ones and a database pair with one offline.
fn web_fleet() -> String {
    let mut fleet = String::from("endpoints:\n");
    for index in 1..=25 {
        fleet.push_str(&format!(
            "  - {{ computer_name: web-{index:02}, ip_address: 10.0.1.{index}, operating_system: Ubuntu 22.04, online: {} }}\n",
            index <= 23
        ));
    }
    fleet.push_str(
        "  - { computer_name: DB-01, ip_address: 10.0.2.1, operating_system: Debian 12 }\n",
    );
    fleet.push_str(
        "  - { computer_name: db-02, ip_address: 10.0.2.2, operating_system: Debian 12, online: false }\n",
    );
    fleet.push_str("groups:\n  - { name: Databases, text: \" Computer Name contains db\" }\n");
    fleet
}

const SURVEYED: &str = r#"version: 1
name: surveyed
steps:
  - id: web
    target:
      all:
        - { sensor: Computer Name, op: starts_with, value: web- }
  - id: databases
    target: { filter_group: Databases }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR }
  - id: tag
    issue:
      name: tag web
      action_group: All Computers
      target: "{{ steps.web.group }}"
      package: "{{ steps.params.package_spec }}"
"#;

/// `plan --live` names the endpoints a target matches (the first 20, sorted, and how many
/// more) and counts the offline endpoints apart, in text and in JSON, for targeting text and
/// for a filter group.
#[test]
fn plan_live_names_the_matching_endpoints_and_counts_offline_ones() {
    let run = |format: &str| {
        Test::new()
            .env("NO_COLOR", "1")
            .file("fleet.yaml", web_fleet())
            .file("surveyed.yaml", SURVEYED)
            .args([
                "plan",
                "surveyed.yaml",
                "--live",
                "--sim",
                "--sim-fleet",
                "fleet.yaml",
                "--format",
                format,
            ])
            .run()
    };
    let human = run("human");
    assert_eq!(human.code, 0, "{}{}", human.stdout, human.stderr);
    let first_twenty: Vec<String> = (1..=20).map(|index| format!("web-{index:02}")).collect();
    for line in [
        format!(
            "live: 23 endpoint(s) match now: {} and 3 more",
            first_twenty.join(", ")
        ),
        "live: 3 endpoint(s) offline, not asked: any of them that match are not counted, and an action reaches them if they come online before it expires".to_owned(),
        "live: 1 endpoint(s) match now: DB-01".to_owned(),
        "live: blast radius 23 endpoint(s)".to_owned(),
    ] {
        assert!(
            human.stdout.lines().any(|shown| shown.trim() == line),
            "no line {line:?} in\n{}",
            human.stdout
        );
    }
    let json = run("json");
    assert_eq!(json.code, 0, "{}{}", json.stdout, json.stderr);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        plan["steps"][0]["live"],
        serde_json::json!({"endpoints": 23, "endpoint_names": first_twenty, "offline_endpoints": 3})
    );
    assert_eq!(
        plan["steps"][1]["live"],
        serde_json::json!({"endpoints": 1, "endpoint_names": ["DB-01"], "offline_endpoints": 3})
    );
    assert_eq!(plan["steps"][3]["live"]["targeted"], 23);
}

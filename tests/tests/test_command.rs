//! `runbook test` through the binary: the repository's example test files pass; each kind of
//! failure (wrong status, wrong output, an unexpected request, a missing request, an invalid
//! test file) shows its difference and exit code; the report formats; `--filter`; and 200
//! cases over 20 files give the same results in parallel as one at a time.

use runbook_tests::{Test, workspace_root};
use serde_json::Value;

/// A small playbook to test: tag one host, poll, check.
const PLAYBOOK: &str = r#"version: 1
name: tag-one
inputs:
  hostname: { type: string }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.hostname }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR }
  - id: tag
    issue:
      name: "IR tag {{ inputs.hostname }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: results
    poll: { action: "{{ steps.tag.action_id }}", until_percent: 100 }
outputs:
  completed: "{{ steps.results.completed }}"
"#;

fn test_file(cases: &str) -> String {
    format!("version: 1\nplaybook: tag-one.yaml\ncases:\n{cases}")
}

fn runbook_test(files: &[(&str, String)], args: &[&str]) -> runbook_tests::Outcome {
    let mut test = Test::new()
        .env("NO_COLOR", "1")
        .file("tag-one.yaml", PLAYBOOK);
    for (name, contents) in files {
        test = test.file(name, contents);
    }
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    test.args(all).run()
}

#[test]
fn the_example_test_files_pass() {
    let outcome = Test::new()
        .env("NO_COLOR", "1")
        .args([
            "test".into(),
            workspace_root().join("playbooks").into_os_string(),
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stdout.contains(" passed, 0 failed"),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.stdout.contains("FAILED"), "{}", outcome.stdout);
}

#[test]
fn each_kind_of_failure_shows_its_difference() {
    let cases = [
        (
            "status",
            "  - name: wrong status\n    inputs: { hostname: WIN-DC01 }\n    expect: { status: failed }\n",
            "status: expected failed, got succeeded",
        ),
        (
            "output",
            "  - name: wrong output\n    inputs: { hostname: WIN-DC01 }\n    expect: { outputs: { completed: 2 } }\n",
            "outputs.completed: expected 2, got 1",
        ),
        (
            "unexpected",
            "  - name: unexpected request\n    inputs: { hostname: WIN-DC01 }\n    expect:\n      requests: [{ method: POST, path: /api/v2/actions, count: 0 }]\n",
            "requests POST /api/v2/actions: expected 0, got 1",
        ),
        (
            "missing",
            "  - name: missing request\n    inputs: { hostname: WIN-DC01 }\n    expect:\n      requests: [{ method: DELETE, path: /api/v2/actions/1 }]\n",
            "requests DELETE /api/v2/actions/1: expected at least 1, got 0",
        ),
        (
            "step",
            "  - name: wrong step state\n    inputs: { hostname: NO-SUCH-HOST }\n    expect: { steps: { tag: succeeded } }\n",
            "steps.tag: expected succeeded, got failed",
        ),
    ];
    for (name, case, difference) in cases {
        let outcome = runbook_test(&[(&format!("{name}.test.yaml"), test_file(case))], &[]);
        assert_eq!(
            outcome.code, 1,
            "{name}: {}\n{}",
            outcome.stdout, outcome.stderr
        );
        assert!(
            outcome.stdout.contains("FAILED") && outcome.stdout.contains(difference),
            "{name}: {}",
            outcome.stdout
        );
        assert!(
            outcome.stdout.contains("0 passed, 1 failed"),
            "{}",
            outcome.stdout
        );
    }
}

#[test]
fn an_invalid_test_file_exits_2_with_located_problems() {
    let typo =
        "  - name: typo\n    inputs: { hostname: WIN-DC01 }\n    expect: { stauts: failed }\n";
    let outcome = runbook_test(&[("typo.test.yaml", test_file(typo))], &[]);
    assert_eq!(outcome.code, 2, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("error[RB005]: unknown key `stauts`")
            && outcome.stderr.contains("typo.test.yaml:6:")
            && outcome.stderr.contains("did you mean `status`?"),
        "{}",
        outcome.stderr
    );
    // `runbook validate` checks test files the same way.
    let validated = Test::new()
        .env("NO_COLOR", "1")
        .file("tag-one.yaml", PLAYBOOK)
        .file("typo.test.yaml", test_file(typo))
        .args(["validate", "."])
        .run();
    assert_eq!(validated.code, 1, "{}", validated.stderr);
    assert!(
        validated
            .stdout
            .contains("error[RB005]: unknown key `stauts`"),
        "{}",
        validated.stdout
    );
    // A step the playbook does not have, and an undeclared input.
    let unknown = "  - name: unknown names\n    inputs: { hostnme: WIN-DC01 }\n    expect: { steps: { taag: succeeded } }\n";
    let outcome = runbook_test(&[("names.test.yaml", test_file(unknown))], &[]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("RB063") && outcome.stderr.contains("RB064"),
        "{}",
        outcome.stderr
    );
    // A playbook that cannot be read.
    let missing = "version: 1\nplaybook: nowhere.yaml\ncases:\n  - name: x\n".to_owned();
    let outcome = runbook_test(&[("missing.test.yaml", missing)], &[]);
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("RB043"), "{}", outcome.stderr);
}

#[test]
fn reports_in_every_format_and_filters_by_name() {
    let cases = "  - name: passes\n    inputs: { hostname: WIN-DC01 }\n    expect: { status: succeeded }\n  - name: denied fails\n    inputs: { hostname: WIN-DC01 }\n    sim: { approval: { deny: true } }\n    expect: { status: succeeded }\n";
    let files = [("both.test.yaml", test_file(cases))];
    let json = runbook_test(&files, &["--format", "json"]);
    assert_eq!(json.code, 1);
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["cases"][1]["name"], "denied fails");
    assert_eq!(report["cases"][1]["mismatches"][0]["what"], "status");

    let junit = runbook_test(&files, &["--format", "junit"]);
    assert!(
        junit.stdout.starts_with("<?xml")
            && junit.stdout.contains("tests=\"2\" failures=\"1\"")
            && junit
                .stdout
                .contains("<failure message=\"status: expected succeeded, got failed"),
        "{}",
        junit.stdout
    );

    let github = runbook_test(&files, &["--format", "github"]);
    assert!(
        github
            .stdout
            .contains("::error file=both.test.yaml,line=7,title=runbook test%3A denied fails::"),
        "{}",
        github.stdout
    );

    let filtered = runbook_test(&files, &["--filter", "passes"]);
    assert_eq!(filtered.code, 0, "{}", filtered.stdout);
    assert!(
        filtered.stdout.contains("1 passed, 0 failed"),
        "{}",
        filtered.stdout
    );
    let none = runbook_test(&files, &["--filter", "nothing like it"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("no case's name contains"),
        "{}",
        none.stderr
    );
}

/// 200 cases over 20 files, some failing on purpose: the same results run 16 at a time as
/// one at a time.
#[test]
fn cases_in_parallel_give_the_results_of_cases_one_by_one() {
    let hosts = [
        "WIN-DC01",
        "WIN-DC02",
        "WIN-FS01",
        "NO-SUCH-HOST",
        "WIN-APP01",
    ];
    let mut files = Vec::new();
    for file in 0..20 {
        let mut cases = String::new();
        for case in 0..10 {
            let host = hosts[(file + case) % hosts.len()];
            let (status, completed) = if host == "NO-SUCH-HOST" {
                ("failed", "")
            } else {
                ("succeeded", ", outputs: { completed: 1 }")
            };
            // Every seventh case expects the wrong status.
            let status = if (file * 10 + case) % 7 == 0 {
                "cancelled"
            } else {
                status
            };
            cases.push_str(&format!(
                "  - name: case {case} on {host}\n    inputs: {{ hostname: {host} }}\n    expect: {{ status: {status}{completed} }}\n"
            ));
        }
        files.push((format!("f{file:02}.test.yaml"), test_file(&cases)));
    }
    let files: Vec<(&str, String)> = files
        .iter()
        .map(|(name, contents)| (name.as_str(), contents.clone()))
        .collect();
    let results = |jobs: &str| {
        let outcome = runbook_test(&files, &["--format", "json", "--jobs", jobs]);
        assert_eq!(outcome.code, 1, "{}", outcome.stderr);
        let report: Value = serde_json::from_str(&outcome.stdout).expect("JSON");
        let cases: Vec<Value> = report["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|case| {
                serde_json::json!([
                    case["file"],
                    case["name"],
                    case["passed"],
                    case["mismatches"]
                ])
            })
            .collect();
        (report["passed"].clone(), report["failed"].clone(), cases)
    };
    let parallel = results("16");
    let sequential = results("1");
    assert_eq!(parallel.2.len(), 200);
    assert_eq!(parallel.1, 29, "every seventh case fails");
    assert_eq!(parallel, sequential);
}

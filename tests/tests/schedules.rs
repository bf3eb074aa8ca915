//! End-to-end tests of `runbook schedules validate|next|schema` through the binary: exit codes,
//! the three formats, playbooks read relative to the schedules file, firing tables across a
//! daylight-saving change, and usage errors.

use runbook_tests::{Test, workspace_root};

const PLAYBOOK: &str = "version: 1\nname: log-level\ninputs:\n  level: { type: integer, minimum: 0, maximum: 99 }\nsteps:\n  - id: say\n    log: \"level {{ inputs.level }}\"\n";
const BROKEN_PLAYBOOK: &str = "version: 1\nname: broken\nsteps:\n  - id: say\n    lgo: hi\n";
const SCHEDULES: &str = "version: 1\nschedules:\n  - name: sweep\n    playbook: ../playbooks/log-level.yaml\n    cron: \"0 */6 * * *\"\n    timezone: Europe/Berlin\n    inputs: { level: 1 }\n  - name: nightly\n    playbook: ../playbooks/log-level.yaml\n    cron: \"30 2 * * *\"\n    timezone: America/New_York\n    inputs: { level: 41 }\n  - name: paused\n    playbook: ../playbooks/log-level.yaml\n    cron: \"@daily\"\n    inputs: { level: 2 }\n    enabled: false\n";
const BROKEN_SCHEDULES: &str = "version: 1\nschedules:\n  - name: sweep\n    playbook: ../playbooks/log-level.yaml\n    cron: \"0 */6 * * 8\"\n    timezone: Europe/Berln\n    inputs: { levl: 1 }\n  - name: other\n    playbook: ../playbooks/broken.yaml\n    cron: \"@daily\"\n  - name: gone\n    playbook: missing.yaml\n    cron: \"@daily\"\n";

fn with_playbooks() -> Test {
    Test::new()
        .file("playbooks/log-level.yaml", PLAYBOOK)
        .file("playbooks/broken.yaml", BROKEN_PLAYBOOK)
}

#[test]
fn a_valid_file_exits_0() {
    let outcome = with_playbooks()
        .file("ops/schedules.yaml", SCHEDULES)
        .args(["schedules", "validate", "ops/schedules.yaml"])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert_eq!(outcome.stderr, "checked 1 file: all valid\n");
}

#[test]
fn the_example_playbooks_can_be_scheduled() {
    let playbook = workspace_root().join("playbooks/client-log-level.yaml");
    let schedules = format!(
        "version: 1\nschedules:\n  - name: debug-weekdays\n    playbook: {}\n    cron: \"0 9 * * MON-FRI\"\n    timezone: Europe/Berlin\n    inputs: {{ level: 41, group: Servers }}\n",
        playbook.display()
    );
    let outcome = Test::new()
        .file("schedules.yaml", schedules)
        .args(["schedules", "validate", "schedules.yaml"])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
}

#[test]
fn every_problem_is_reported_with_the_playbooks_own() {
    let outcome = with_playbooks()
        .file("ops/schedules.yaml", BROKEN_SCHEDULES)
        .args(["schedules", "validate", "ops/schedules.yaml"])
        .run();
    assert_eq!(outcome.code, 1);
    insta::assert_snapshot!(outcome.stdout, @r#"
    error[RB041]: `cron`: day of week field `8`: 8 is outside 0-7
     --> ops/schedules.yaml:5:22
      |
    5 |     cron: "0 */6 * * 8"
      |                      ^
      = help: the day of week field takes numbers 0-7, `*`, lists `a,b`, ranges `a-b`, steps `*/n`, and SUN-SAT (0 and 7 are Sunday), `5#2` (second Friday), `5L` (last Friday)

    error[RB042]: unknown time zone `Europe/Berln`
     --> ops/schedules.yaml:6:15
      |
    6 |     timezone: Europe/Berln
      |               ^^^^^^^^^^^^
      = help: did you mean `Europe/Berlin`?

    error[RB045]: playbook `log-level` has no input `levl`
     --> ops/schedules.yaml:7:15
      |
    7 |     inputs: { levl: 1 }
      |               ^^^^
      = help: did you mean `level`?

    error[RB044]: playbook `../playbooks/broken.yaml` is invalid (1 error)
     --> ops/schedules.yaml:9:15
      |
    9 |     playbook: ../playbooks/broken.yaml
      |               ^^^^^^^^^^^^^^^^^^^^^^^^
      = help: its problems are listed under ops/../playbooks/broken.yaml

    error[RB043]: cannot read playbook `missing.yaml`: no such file `ops/missing.yaml`
      --> ops/schedules.yaml:12:15
       |
    12 |     playbook: missing.yaml
       |               ^^^^^^^^^^^^
       = help: playbook paths are relative to the folder of the schedules file

    error[RB005]: unknown key `lgo` in step `say`
     --> ops/../playbooks/broken.yaml:5:5
      |
    5 |     lgo: hi
      |     ^^^
      = help: did you mean `log`?
    "#);
    assert_eq!(outcome.stderr, "checked 1 file: 6 errors, 0 warnings\n");
}

#[test]
fn json_and_github_formats() {
    let outcome = with_playbooks()
        .file("ops/schedules.yaml", BROKEN_SCHEDULES)
        .args([
            "schedules",
            "validate",
            "ops/schedules.yaml",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(outcome.code, 1);
    let diagnostics: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("JSON output");
    let codes: Vec<&str> = diagnostics
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        ["RB041", "RB042", "RB045", "RB044", "RB043", "RB005"]
    );

    let outcome = with_playbooks()
        .file("ops/schedules.yaml", BROKEN_SCHEDULES)
        .args([
            "schedules",
            "validate",
            "ops/schedules.yaml",
            "--format",
            "github",
        ])
        .run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.starts_with(
            "::error file=ops/schedules.yaml,line=5,col=22,title=RB041::`cron`: day of week field `8`"
        ),
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.stdout.lines().count(), 6);
}

#[test]
fn an_unreadable_file_is_a_usage_error() {
    let outcome = Test::new()
        .args(["schedules", "validate", "nowhere.yaml"])
        .run();
    assert_eq!(outcome.code, 2);
    assert!(
        outcome
            .stderr
            .contains("cannot read nowhere.yaml: no such file `nowhere.yaml`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn next_shows_local_and_utc_times_across_a_clock_change() {
    let outcome = Test::new()
        .file("schedules.yaml", SCHEDULES)
        .args([
            "schedules",
            "next",
            "schedules.yaml",
            "--from",
            "2026-03-07T12:00:00Z",
            "--count",
            "3",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    insta::assert_snapshot!(outcome.stdout, @r#"
    sweep: "0 */6 * * *" in Europe/Berlin (interval: follows real time through clock changes)
      Sat 2026-03-07 18:00:00 CET (+01:00)  2026-03-07T17:00:00Z
      Sun 2026-03-08 00:00:00 CET (+01:00)  2026-03-07T23:00:00Z
      Sun 2026-03-08 06:00:00 CET (+01:00)  2026-03-08T05:00:00Z

    nightly: "30 2 * * *" in America/New_York (fixed times: a skipped time runs once after the gap, a repeated time runs once)
      Sun 2026-03-08 03:00:00 EDT (-04:00)  2026-03-08T07:00:00Z
      Mon 2026-03-09 02:30:00 EDT (-04:00)  2026-03-09T06:30:00Z
      Tue 2026-03-10 02:30:00 EDT (-04:00)  2026-03-10T06:30:00Z
    "#);
    assert_eq!(
        outcome.stderr,
        "not shown (disabled): paused; use --name to see one\n"
    );
}

#[test]
fn next_as_json_carries_firing_keys() {
    let outcome = Test::new()
        .file("schedules.yaml", SCHEDULES)
        .args([
            "schedules",
            "next",
            "schedules.yaml",
            "--from",
            "2026-11-01T00:00:00-04:00",
            "--count",
            "2",
            "--name",
            "paused",
            "--json",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let entries: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(
        entries,
        serde_json::json!([{
            "name": "paused",
            "cron": "@daily",
            "timezone": "UTC",
            "enabled": false,
            "fixed_time": true,
            "firings": [
                { "utc": "2026-11-02T00:00:00Z", "local": "2026-11-02T00:00:00Z", "key": "paused@2026-11-02T00:00:00Z" },
                { "utc": "2026-11-03T00:00:00Z", "local": "2026-11-03T00:00:00Z", "key": "paused@2026-11-03T00:00:00Z" }
            ]
        }])
    );
}

#[test]
fn next_refuses_an_invalid_file_and_bad_arguments() {
    let outcome = Test::new()
        .file(
            "schedules.yaml",
            "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '61 * * * *' }\n",
        )
        .args(["schedules", "next", "schedules.yaml"])
        .run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stdout
            .contains("error[RB041]: `cron`: minute field `61`"),
        "{}",
        outcome.stdout
    );

    let outcome = Test::new()
        .file("schedules.yaml", SCHEDULES)
        .args(["schedules", "next", "schedules.yaml", "--name", "swep"])
        .run();
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("no schedule named `swep`")
            && outcome.stderr.contains("sweep, nightly, paused"),
        "{}",
        outcome.stderr
    );

    let outcome = Test::new()
        .file("schedules.yaml", SCHEDULES)
        .args(["schedules", "next", "schedules.yaml", "--from", "tomorrow"])
        .run();
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("RFC 3339"), "{}", outcome.stderr);

    let outcome = Test::new()
        .file("schedules.yaml", SCHEDULES)
        .args(["schedules", "next", "schedules.yaml", "--count", "0"])
        .run();
    assert_eq!(outcome.code, 2);
}

#[test]
fn schema_prints_the_committed_schema() {
    let outcome = Test::new().args(["schedules", "schema"]).run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let committed = std::fs::read_to_string(workspace_root().join("schema/schedules.schema.json"))
        .expect("committed schema");
    assert_eq!(outcome.stdout, committed);
}

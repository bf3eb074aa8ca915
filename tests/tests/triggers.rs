//! End-to-end tests of `runbook triggers validate|schema` through the binary: exit codes, the
//! formats, the playbooks folder (`--playbooks DIR`) and the note without it, a secret written
//! in the file never printed, and the committed schema.

use runbook_tests::{Test, workspace_root};

const PLAYBOOK: &str = "version: 1\nname: tag-suspect-host\ninputs:\n  hostname: { type: string }\n  tag: { type: string, default: Suspect }\nsteps:\n  - id: say\n    log: \"tag {{ inputs.hostname }} with {{ inputs.tag }}\"\n";
const BROKEN_PLAYBOOK: &str = "version: 1\nname: broken\nsteps:\n  - id: say\n    lgo: hi\n";
const TRIGGERS: &str = "version: 1\ntriggers:\n  - name: splunk-suspect-host\n    path: /hooks/splunk\n    playbook: tag-suspect-host\n    auth:\n      hmac:\n        secret_env: SPLUNK_HOOK_SECRET\n        header: X-Signature\n        prefix: \"sha256=\"\n        encoding: hex\n        timestamp_header: X-Timestamp\n        max_skew: 5m\n    when: \"{{ body.severity in ['high', 'critical'] }}\"\n    inputs:\n      hostname: \"{{ body.result.host }}\"\n    dedup: \"{{ body.sid }}\"\n    dedup_window: 24h\n";
const BROKEN_TRIGGERS: &str = "version: 1\ntriggers:\n  - name: a\n    path: /splunk\n    playbook: tag-suspect-hots\n    auth:\n      bearer: { token: hunter2-very-secret }\n    inputs:\n      hostname: \"{{ payload.host }}\"\n";

fn with_playbooks() -> Test {
    Test::new()
        .file("playbooks/tag.yaml", PLAYBOOK)
        .file("playbooks/broken.yaml", BROKEN_PLAYBOOK)
}

#[test]
fn a_valid_file_exits_0_with_and_without_playbooks() {
    let outcome = with_playbooks()
        .file("hooks.yaml", TRIGGERS)
        .args([
            "triggers",
            "validate",
            "hooks.yaml",
            "--playbooks",
            "playbooks",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "note: 1 playbook file in playbooks does not validate and is not known here; \
         `runbook validate playbooks` shows why\nchecked 1 file: all valid\n"
    );

    let alone = Test::new()
        .file("hooks.yaml", TRIGGERS)
        .args(["triggers", "validate", "hooks.yaml"])
        .run();
    assert_eq!(alone.code, 0, "{}", alone.stderr);
    assert_eq!(
        alone.stderr,
        "note: without --playbooks DIR, each trigger's `playbook` and `inputs` are not checked\n\
         checked 1 file: all valid\n"
    );
}

#[test]
fn every_problem_is_reported_and_the_secret_never_printed() {
    let outcome = with_playbooks()
        .file("hooks.yaml", BROKEN_TRIGGERS)
        .args([
            "triggers",
            "validate",
            "hooks.yaml",
            "--playbooks",
            "playbooks",
        ])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("hunter2"), "{}", outcome.stdout);
    for expected in [
        "error[RB046]: hook path `/splunk` is not allowed",
        "error[RB049]: there is no playbook named `tag-suspect-hots`",
        "= help: did you mean `tag-suspect-host`?",
        "error[RB047]: `token` is written in the triggers file",
        "error[RB006]: `bearer` is missing `token_env`",
        "error[RB017]: `payload` is not defined in a trigger's templates",
    ] {
        assert!(
            outcome.stdout.contains(expected),
            "{expected}\n{}",
            outcome.stdout
        );
    }
    assert!(
        outcome
            .stderr
            .ends_with("checked 1 file: 5 errors, 0 warnings\n"),
        "{}",
        outcome.stderr
    );

    let json = with_playbooks()
        .file("hooks.yaml", BROKEN_TRIGGERS)
        .args(["triggers", "validate", "hooks.yaml", "--format", "json"])
        .run();
    assert_eq!(json.code, 1);
    let diagnostics: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let codes: Vec<&str> = diagnostics
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["code"].as_str().expect("code"))
        .collect();
    // Without --playbooks, RB049 is not reported.
    assert_eq!(
        codes,
        ["RB046", "RB006", "RB047", "RB017"],
        "{}",
        json.stdout
    );

    let github = Test::new()
        .file("hooks.yaml", BROKEN_TRIGGERS)
        .args(["triggers", "validate", "hooks.yaml", "--format", "github"])
        .run();
    assert_eq!(github.code, 1);
    assert!(
        github
            .stdout
            .starts_with("::error file=hooks.yaml,line=4,col=11,"),
        "{}",
        github.stdout
    );
}

#[test]
fn usage_errors_exit_2() {
    let missing = Test::new()
        .args(["triggers", "validate", "nope.yaml"])
        .run();
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("runbook: cannot read nope.yaml: no such file `nope.yaml`"),
        "{}",
        missing.stderr
    );
    let no_folder = Test::new()
        .file("hooks.yaml", TRIGGERS)
        .args([
            "triggers",
            "validate",
            "hooks.yaml",
            "--playbooks",
            "nowhere",
        ])
        .run();
    assert_eq!(no_folder.code, 2, "{}", no_folder.stderr);
    assert_eq!(
        no_folder.stderr,
        "runbook: --playbooks `nowhere` is not a folder\n"
    );
}

#[test]
fn the_schema_command_prints_the_committed_schema() {
    let outcome = Test::new().args(["triggers", "schema"]).run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let committed = std::fs::read_to_string(workspace_root().join("schema/triggers.schema.json"))
        .expect("committed schema");
    assert_eq!(outcome.stdout, committed);
}

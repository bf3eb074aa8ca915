//! End-to-end tests of `runbook validate DIR` on a folder where playbooks sit next to other
//! YAML: each file recognised by its top-level keys, playbooks and schedules files checked with
//! their own rules, the rest skipped with a note, `--exclude GLOB`, and files named on the
//! command line. The fixture folder is `tests/data/validate-folder`.

use std::path::Path;

use runbook_tests::{Test, workspace_root};

/// A test whose folder holds a copy of `tests/data/validate-folder` under `into`.
fn with_fixture(into: &str) -> Test {
    fn copy(test: Test, from: &Path, into: &str) -> Test {
        let mut entries: Vec<_> = std::fs::read_dir(from)
            .expect("fixture folder")
            .map(|entry| entry.expect("fixture entry").path())
            .collect();
        entries.sort();
        entries.into_iter().fold(test, |test, path| {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .expect("utf-8 name");
            let target = format!("{into}/{name}");
            if path.is_dir() {
                copy(test, &path, &target)
            } else {
                test.file(&target, std::fs::read(&path).expect("fixture file"))
            }
        })
    }
    copy(
        Test::new(),
        &workspace_root().join("tests/data/validate-folder"),
        into,
    )
}

#[test]
fn a_mixed_folder_is_checked_by_kind_and_the_rest_skipped_with_a_note() {
    let outcome = with_fixture("book")
        .args(["validate", "book", "--exclude", "drafts"])
        .run();
    assert_eq!(outcome.code, 1, "{}\n{}", outcome.stdout, outcome.stderr);
    // Neither the inputs file, the fleet file nor docker-compose.yml is read as a playbook.
    for skipped in [
        "inputs.yaml",
        "fleet.yaml",
        "docker-compose.yml",
        "hooks.yaml",
    ] {
        assert!(
            !outcome.stdout.contains(&format!("--> book/{skipped}")),
            "{skipped}:\n{}",
            outcome.stdout
        );
    }
    insta::assert_snapshot!("mixed_folder_human_stdout", outcome.stdout);
    insta::assert_snapshot!("mixed_folder_human_stderr", outcome.stderr);
}

#[test]
fn json_is_the_array_of_diagnostics_and_the_notes_stay_on_stderr() {
    let outcome = with_fixture("book")
        .args([
            "validate",
            "book",
            "--exclude",
            "drafts",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    // The first wave's contract: an array of diagnostics, whatever the folder holds.
    let diagnostics: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("JSON output");
    let mut files: Vec<&str> = diagnostics
        .as_array()
        .expect("an array")
        .iter()
        .map(|diagnostic| diagnostic["file"].as_str().expect("file"))
        .collect();
    files.dedup();
    assert_eq!(
        files,
        ["book/schedules.yaml", "book/typo.yaml"],
        "{diagnostics}"
    );
    for note in [
        "note: book/docker-compose.yml: skipped: not a runbook file",
        "note: book/fleet.yaml: skipped: looks like a simulator fleet file",
        "note: book/hooks.yaml: checked as a triggers file",
        "note: book/inputs.yaml: skipped: looks like an inputs file",
        "note: book/schedules.yaml: checked as a schedules file",
        "note: book/tag-host.test.yaml: checked as a test file, against its playbook",
        "note: book/drafts: excluded",
        "checked 5 files (3 skipped, 1 excluded): 5 errors, 0 warnings",
    ] {
        assert!(outcome.stderr.contains(note), "{note}\n{}", outcome.stderr);
    }
    insta::assert_snapshot!("mixed_folder_json", outcome.stdout);
}

#[test]
fn without_the_exclude_the_draft_is_checked() {
    let outcome = with_fixture("book").args(["validate", "book"]).run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .contains("error[RB005]: unknown key `lgo` in step `a`\n --> book/drafts/wip.yaml:6:5"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stderr
            .ends_with("checked 6 files (3 skipped): 6 errors, 0 warnings\n"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn playbooks_next_to_inputs_and_fleet_files_are_all_valid() {
    // The report of issue 12: these files made 21 "unknown key" errors.
    let outcome = with_fixture("book")
        .args([
            "validate",
            "book",
            "--exclude",
            "typo.yaml",
            "--exclude",
            "schedules.yaml",
            "--exclude",
            "drafts/**",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert!(
        outcome
            .stderr
            .ends_with("checked 3 files (3 skipped, 3 excluded): all valid\n"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_named_file_is_checked_as_a_playbook_unless_another_runbook_kind() {
    // An inputs file named on the command line is checked as a playbook, as before, with a
    // note saying what it looks like.
    let inputs = with_fixture("book")
        .args(["validate", "book/inputs.yaml"])
        .run();
    assert_eq!(inputs.code, 1, "{}", inputs.stderr);
    assert!(
        inputs
            .stdout
            .contains("error[RB005]: unknown key `hostname` in the playbook"),
        "{}",
        inputs.stdout
    );
    assert!(
        inputs.stderr.contains(
            "note: book/inputs.yaml: looks like an inputs file; checked as a playbook, as it was named"
        ),
        "{}",
        inputs.stderr
    );

    // A schedules file is checked as one, its playbooks relative to it.
    let schedules = with_fixture("book")
        .args(["validate", "book/schedules.yaml"])
        .run();
    assert_eq!(schedules.code, 1, "{}", schedules.stderr);
    assert!(
        schedules
            .stdout
            .contains("error[RB043]: cannot read playbook `missing.yaml`"),
        "{}",
        schedules.stdout
    );
    assert!(
        schedules.stdout.contains("--> book/typo.yaml:4:1"),
        "{}",
        schedules.stdout
    );
    assert!(
        !schedules.stdout.contains("unknown key `schedules`"),
        "{}",
        schedules.stdout
    );

    // A triggers file named alone is checked with its own rules; with no playbooks next to
    // it, its `playbook` is not checked, and the note says so.
    let hooks = with_fixture("book")
        .args(["validate", "book/hooks.yaml"])
        .run();
    assert_eq!(hooks.code, 0, "{}", hooks.stderr);
    assert_eq!(hooks.stdout, "");
    assert_eq!(
        hooks.stderr,
        "note: book/hooks.yaml: checked as a triggers file; no valid playbooks here, so each \
         trigger's `playbook` and `inputs` were not checked\n\
         checked 1 file: all valid\n"
    );
    // Named with its playbook, a trigger naming another playbook is reported.
    let wrong = with_fixture("book")
        .file(
            "book/hooks.yaml",
            std::fs::read_to_string(workspace_root().join("tests/data/validate-folder/hooks.yaml"))
                .expect("fixture")
                .replace("playbook: tag-host", "playbook: tag-hosts"),
        )
        .args(["validate", "book/hooks.yaml", "book/tag-host.yaml"])
        .run();
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong
            .stdout
            .contains("error[RB049]: there is no playbook named `tag-hosts`"),
        "{}",
        wrong.stdout
    );
}

#[test]
fn excludes_match_names_at_any_depth_and_paths_from_the_folder() {
    const VALID: &str = "version: 1\nname: NAME\nsteps:\n  - id: a\n    log: hi\n";
    const BROKEN: &str = "version: 1\nname: broken\nsteps:\n  - id: a\n    lgo: hi\n";
    let outcome = Test::new()
        .file("book/a.yaml", VALID.replace("NAME", "a"))
        .file("book/lab.fleet.yaml", BROKEN)
        .file("book/deep/er/lab.fleet.yaml", BROKEN)
        .file("book/ops/draft-1.yaml", BROKEN)
        .file("book/ops/sub/draft-2.yaml", VALID.replace("NAME", "d2"))
        .file("book/draft-3.yaml", VALID.replace("NAME", "d3"))
        .args([
            "validate",
            "book",
            "--exclude",
            "*.fleet.yaml",
            "--exclude",
            "ops/*.yaml",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    for excluded in [
        "book/deep/er/lab.fleet.yaml",
        "book/lab.fleet.yaml",
        "book/ops/draft-1.yaml",
    ] {
        assert!(
            outcome
                .stderr
                .contains(&format!("note: {excluded}: excluded")),
            "{excluded}\n{}",
            outcome.stderr
        );
    }
    for kept in [
        "book/a.yaml",
        "book/draft-3.yaml",
        "book/ops/sub/draft-2.yaml",
    ] {
        assert!(
            !outcome.stderr.contains(&format!("note: {kept}: excluded")),
            "{}",
            outcome.stderr
        );
    }
    assert!(
        outcome.stderr.contains("checked 3 files (3 excluded)"),
        "{}",
        outcome.stderr
    );

    let everything = Test::new()
        .file("book/a.yaml", VALID.replace("NAME", "a"))
        .args(["validate", "book", "--exclude", "*.yaml"])
        .run();
    assert_eq!(everything.code, 2, "{}", everything.stderr);
    assert_eq!(
        everything.stderr,
        "note: book/a.yaml: excluded\nrunbook: no playbooks, schedules or triggers files to check (1 excluded)\n"
    );

    let bad = Test::new()
        .file("book/a.yaml", VALID.replace("NAME", "a"))
        .args(["validate", "book", "--exclude", "[oops"])
        .run();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.starts_with("runbook: --exclude `[oops`: "),
        "{}",
        bad.stderr
    );
}

#[test]
fn github_annotations_stay_on_stdout_and_notes_on_stderr() {
    let outcome = with_fixture("book")
        .args([
            "validate",
            "book",
            "--exclude",
            "drafts",
            "--format",
            "github",
        ])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .lines()
            .all(|line| line.starts_with("::error ")),
        "{}",
        outcome.stdout
    );
    assert_eq!(outcome.stdout.lines().count(), 5, "{}", outcome.stdout);
    assert!(
        outcome
            .stderr
            .contains("note: book/inputs.yaml: skipped: looks like an inputs file\n"),
        "{}",
        outcome.stderr
    );
}

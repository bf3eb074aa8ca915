//! End-to-end tests of `runbook validate` and `runbook schema` through the binary: exit codes,
//! the three formats, folders, and usage errors.

use runbook_tests::{Test, workspace_root};

const VALID: &str = "version: 1\nname: hello\nsteps:\n  - id: greet\n    log: hi\n";
const BROKEN: &str =
    "version: 1\nname: broken\nsteps:\n  - id: greet\n    lgo: hi\n    timeout: 5 min\n";
const WARNING: &str = "version: 1\nname: warns\ninputs:\n  x: { type: string, required: false }\nsteps:\n  - id: a\n    when: \"{{ inputs.x }}\"\n    set: { v: 1 }\n  - id: b\n    log: \"{{ steps.a.v }}\"\n";

#[test]
fn example_playbooks_are_valid() {
    let outcome = Test::new()
        .args([
            "validate".into(),
            workspace_root().join("playbooks").into_os_string(),
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert!(outcome.stderr.contains("all valid"), "{}", outcome.stderr);
}

#[test]
fn a_broken_playbook_exits_1_with_located_errors() {
    let outcome = Test::new()
        .file("broken.yaml", BROKEN)
        .args(["validate", "broken.yaml"])
        .run();
    assert_eq!(outcome.code, 1);
    insta::assert_snapshot!(outcome.stdout, @r"
    error[RB005]: unknown key `lgo` in step `greet`
     --> broken.yaml:5:5
      |
    5 |     lgo: hi
      |     ^^^
      = help: did you mean `log`?

    error[RB014]: `timeout`: `min` in `5 min` is not a unit: use ms, s, m, h or d
     --> broken.yaml:6:14
      |
    6 |     timeout: 5 min
      |              ^^^^^
      = help: durations are one number and one unit: `500ms`, `30s`, `10m`, `2h`, `1d`
    ");
    assert_eq!(outcome.stderr, "checked 1 file: 2 errors, 0 warnings\n");
}

#[test]
fn folders_are_searched_recursively_for_yaml_and_yml() {
    let outcome = Test::new()
        .file("book/a.yaml", VALID)
        .file("book/nested/b.yml", VALID.replace("hello", "other"))
        .file("book/nested/c.yaml", BROKEN)
        .file("book/notes.txt", "not a playbook")
        .file("book/.hidden/d.yaml", "not: [valid")
        .args(["validate", "book", "--format", "json"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let diagnostics: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("JSON output");
    let files: Vec<&str> = diagnostics
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d["file"].as_str().expect("file"))
        .collect();
    assert_eq!(files, ["book/nested/c.yaml", "book/nested/c.yaml"]);
    for diagnostic in diagnostics.as_array().expect("array") {
        for key in ["file", "line", "column", "severity", "code", "message"] {
            assert!(
                diagnostic.get(key).is_some(),
                "missing {key} in {diagnostic}"
            );
        }
    }
    assert!(
        outcome.stderr.contains("checked 3 files"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn github_format_prints_annotations() {
    let outcome = Test::new()
        .file("broken.yaml", BROKEN)
        .args(["validate", "--format", "github", "broken.yaml"])
        .run();
    assert_eq!(outcome.code, 1);
    insta::assert_snapshot!(outcome.stdout, @r"
    ::error file=broken.yaml,line=5,col=5,title=RB005::unknown key `lgo` in step `greet`%0Ahelp: did you mean `log`?
    ::error file=broken.yaml,line=6,col=14,title=RB014::`timeout`: `min` in `5 min` is not a unit: use ms, s, m, h or d%0Ahelp: durations are one number and one unit: `500ms`, `30s`, `10m`, `2h`, `1d`
    ");
}

#[test]
fn warnings_pass_unless_denied() {
    let allowed = Test::new()
        .file("w.yaml", WARNING)
        .args(["validate", "w.yaml"])
        .run();
    assert_eq!(allowed.code, 0, "{}", allowed.stdout);
    assert!(
        allowed.stdout.contains("warning[RB032]"),
        "{}",
        allowed.stdout
    );
    let denied = Test::new()
        .file("w.yaml", WARNING)
        .args(["validate", "--deny-warnings", "w.yaml"])
        .run();
    assert_eq!(denied.code, 1);
}

#[test]
fn duplicate_names_in_one_folder_are_errors() {
    let outcome = Test::new()
        .file("book/a.yaml", VALID)
        .file("book/b.yaml", VALID)
        .file("other/c.yaml", VALID)
        .args(["validate", "book", "other"])
        .run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stdout
            .contains("error[RB034]: playbook name `hello` is already used by book/a.yaml"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("--> book/b.yaml:2:7"),
        "{}",
        outcome.stdout
    );
    assert!(
        !outcome.stdout.contains("other/c.yaml"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let missing = Test::new().args(["validate", "nope.yaml"]).run();
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("cannot read `nope.yaml`"),
        "{}",
        missing.stderr
    );
    assert!(!missing.stderr.contains("panicked"));

    let no_args = Test::new().args(["validate"]).run();
    assert_eq!(no_args.code, 2);
    assert!(no_args.stderr.contains("<PATH>"), "{}", no_args.stderr);

    let empty_folder = Test::new()
        .file("empty/readme.txt", "x")
        .args(["validate", "empty"])
        .run();
    assert_eq!(empty_folder.code, 2);
    assert!(
        empty_folder.stderr.contains("no `*.yaml` or `*.yml` files"),
        "{}",
        empty_folder.stderr
    );

    let bad_format = Test::new()
        .file("a.yaml", VALID)
        .args(["validate", "--format", "xml", "a.yaml"])
        .run();
    assert_eq!(bad_format.code, 2);

    // A file that exists but cannot be read as text is an error of that file (exit 1, and
    // never "all valid"); tests/tests/hardening.rs has the other unreadable files.
    let not_utf8 = Test::new()
        .file("bin.yaml", [0xff, 0xfe, 0x00])
        .args(["validate", "bin.yaml"])
        .run();
    assert_eq!(not_utf8.code, 1);
    assert!(
        not_utf8.stderr.contains("bin.yaml: not UTF-8 text"),
        "{}",
        not_utf8.stderr
    );
    assert!(
        not_utf8
            .stderr
            .contains("checked 1 file: 1 error, 0 warnings"),
        "{}",
        not_utf8.stderr
    );
}

#[test]
fn colour_only_when_forced() {
    let plain = Test::new()
        .file("broken.yaml", BROKEN)
        .args(["validate", "broken.yaml"])
        .run();
    assert!(!plain.stdout.contains('\u{1b}'));
    let forced = Test::new()
        .file("broken.yaml", BROKEN)
        .env("NO_COLOR", "")
        .env("CLICOLOR_FORCE", "1")
        .args(["validate", "broken.yaml"])
        .run();
    assert!(forced.stdout.contains('\u{1b}'), "{}", forced.stdout);
}

#[test]
fn schema_prints_the_committed_schema() {
    let outcome = Test::new().args(["schema"]).run();
    assert_eq!(outcome.code, 0);
    let committed = std::fs::read_to_string(workspace_root().join("schema/playbook.schema.json"))
        .expect("committed schema");
    assert_eq!(outcome.stdout, committed);
}

//! Test files: data-driven fixtures (`tests/data/testfile/{ok,err}/*.yaml`, each error fixture
//! reporting the code its name starts with, its rendering pinned by a snapshot), the checks
//! against the playbook in `tests/data/testfile/playbooks`, the committed JSON Schema, the
//! docs' example, and arbitrary input never panicking the loader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use runbook_playbook::{
    ApprovalChoice, Diagnostic, ExpectedStatus, ExpectedStepState, FileKind, FleetChoice, Playbook,
    TestFile, check_against_playbook, classify, codes, load, load_test_file, render_human,
    render_json, test_file_json_schema,
};

mod common;
use common::stem;

fn data() -> PathBuf {
    common::data("testfile")
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    common::yaml_files(&data().join(kind))
}

/// The playbook a test file names, read relative to `folder`.
fn playbook_of(folder: &Path, test: &TestFile) -> Playbook {
    let path = folder.join(&test.playbook.value);
    let source = std::fs::read_to_string(&path).expect("the playbook under test");
    let loaded = load(&path.display().to_string(), &source);
    loaded.playbook.expect("fixture playbooks are valid")
}

/// What `runbook test` will do before running anything: load the file, then, when it is
/// valid, check it against its playbook. Returns the file (when both passed) and every
/// diagnostic.
fn validate(shown: &str, source: &str, folder: &Path) -> (Option<TestFile>, Vec<Diagnostic>) {
    let loaded = load_test_file(shown, source);
    let mut diagnostics = loaded.diagnostics;
    let Some(file) = loaded.file else {
        return (None, diagnostics);
    };
    diagnostics.extend(check_against_playbook(
        &file,
        &playbook_of(folder, &file),
        shown,
        source,
    ));
    let valid = !diagnostics.iter().any(Diagnostic::is_error);
    (valid.then_some(file), diagnostics)
}

fn validate_fixture(kind: &str, path: &Path) -> (Option<TestFile>, Vec<Diagnostic>) {
    let source = std::fs::read_to_string(path).expect("fixture text");
    let shown = format!("{kind}/{}.yaml", stem(path));
    validate(&shown, &source, &data().join(kind))
}

#[test]
fn ok_fixtures_are_clean() {
    let files = fixtures("ok");
    assert!(files.len() >= 2);
    for path in files {
        let (file, diagnostics) = validate_fixture("ok", &path);
        assert!(
            diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render_human(&diagnostics, false)
        );
        assert!(file.is_some(), "{}", path.display());
    }
}

#[test]
fn the_full_fixture_is_read_with_every_value() {
    let (file, _) = validate_fixture("ok", &data().join("ok/full.yaml"));
    let file = file.expect("valid");
    assert_eq!(file.version, 1);
    assert_eq!(file.playbook.value, "../playbooks/tag-suspect-host.yaml");
    assert_eq!(
        (file.playbook.span.line, file.playbook.span.column),
        (3, 11)
    );
    assert_eq!(file.cases.len(), 5);

    let granted = file.case("tags one host after approval").expect("case 1");
    assert_eq!(granted.inputs["hostname"], serde_json::json!("WIN-DC01"));
    assert_eq!(granted.secrets["SOAR_TICKET_TOKEN"], "test-token");
    assert_eq!(granted.sim.fleet, FleetChoice::Default);
    assert_eq!(
        granted.sim.approval,
        ApprovalChoice::After(Duration::from_secs(120))
    );
    assert_eq!(granted.sim.failure_share, Some(0.0));
    assert_eq!(granted.sim.faults.status_503_share, Some(0.1));
    assert_eq!(granted.sim.faults.status_429_share, Some(0.05));
    assert_eq!(granted.sim.faults.drop_share, Some(0.0));
    assert_eq!(granted.sim.faults.latency, Some(Duration::from_millis(50)));
    assert_eq!(granted.sim.time_scale, Some(600.0));
    assert_eq!(granted.expect.status, Some(ExpectedStatus::Succeeded));
    assert_eq!(granted.expect.outputs["completed"], serde_json::json!(1));
    assert_eq!(granted.expect.steps["undo"], ExpectedStepState::Skipped);
    let post = &granted.expect.requests[0];
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/api/v2/actions")
    );
    assert_eq!(post.count, Some(1));
    assert_eq!(
        post.body,
        Some(serde_json::json!({ "name": "IR tag WIN-DC01" }))
    );
    assert_eq!(granted.expect.requests[1].count, None);
    assert_eq!(granted.replay, None);

    let denied = file
        .case("a denied approval fails the run")
        .expect("case 2");
    assert_eq!(denied.sim.approval, ApprovalChoice::Deny);
    assert_eq!(denied.expect.error_contains.as_deref(), Some("denied"));
    assert_eq!(denied.expect.steps["approved"], ExpectedStepState::Failed);

    let failing = file.case("the endpoint's action fails").expect("case 3");
    let FleetChoice::Endpoints(endpoints) = &failing.sim.fleet else {
        panic!("a listed fleet: {:?}", failing.sim.fleet);
    };
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints[0]["running_processes"][2], "nginx");
    assert_eq!(endpoints[1]["online"], false);
    assert_eq!(failing.sim.fail, ["web-01"]);
    assert_eq!(failing.expect.requests[1].count, Some(0));

    let replayed = file.case("replays a recorded run").expect("case 4");
    let replay = replayed.replay.as_ref().expect("a replay");
    assert_eq!(replay.value, "recordings/dc01.json");
    assert_eq!(replayed.sim, Default::default());

    let bare = file.cases.last().expect("case 5");
    assert_eq!(bare.expect, Default::default());
    assert_eq!(bare.sim.approval, ApprovalChoice::NotNeeded);
}

#[test]
fn err_fixtures_report_their_code_and_match_snapshots() {
    let files = fixtures("err");
    assert!(files.len() >= 18, "only {} error fixtures", files.len());
    for path in files {
        let name = stem(&path);
        let (file, diagnostics) = validate_fixture("err", &path);
        if let Some(code) = name.strip_prefix("rb").and_then(|rest| rest.get(..3)) {
            let code = format!("RB{code}");
            assert!(
                diagnostics.iter().any(|d| d.code == code),
                "{name} should report {code}:\n{}",
                render_human(&diagnostics, false)
            );
        }
        assert!(
            diagnostics.iter().any(Diagnostic::is_error),
            "{name} has no error"
        );
        assert!(file.is_none(), "{name} has errors but a file");
        insta::assert_snapshot!(
            format!("testfile_{name}"),
            render_human(&diagnostics, false)
        );
    }
}

#[test]
fn every_test_file_code_has_an_error_fixture() {
    let names: Vec<String> = fixtures("err").iter().map(|path| stem(path)).collect();
    for (code, summary) in codes::TESTS {
        let prefix = code.to_lowercase();
        assert!(
            names.iter().any(|name| name.starts_with(&prefix)),
            "no fixture for {code} ({summary})"
        );
    }
}

#[test]
fn test_file_codes_are_new_and_distinct() {
    let mut seen: Vec<&str> = codes::ALL
        .iter()
        .chain(&codes::SCHEDULES)
        .chain(&codes::TRIGGERS)
        .map(|(code, _)| *code)
        .collect();
    for (code, _) in codes::TESTS {
        assert!(!seen.contains(&code), "{code} is already used");
        seen.push(code);
    }
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let path = data().join("err/many_problems_in_one_pass.yaml");
    let (_, diagnostics) = validate_fixture("err", &path);
    let found: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    for expected in [
        "RB005", "RB014", "RB015", "RB027", "RB060", "RB061", "RB065",
    ] {
        assert!(
            found.contains(&expected),
            "{expected} missing from {found:?}"
        );
    }
    insta::assert_snapshot!("testfile_many_problems_json", render_json(&diagnostics));
}

#[test]
fn names_the_playbook_lacks_are_suggested_and_located() {
    let path = data().join("err/rb063_unknown_step_and_output.yaml");
    let (_, diagnostics) = validate_fixture("err", &path);
    let helps: Vec<(u32, &str, Option<&str>)> = diagnostics
        .iter()
        .map(|d| (d.line, d.message.as_str(), d.help.as_deref()))
        .collect();
    assert!(helps.contains(&(
        8,
        "playbook `tag-suspect-host` has no step `aproved`",
        Some("did you mean `approved`?")
    )));
    // A step inside a `for_each` is a step of the playbook too.
    assert!(helps.contains(&(
        8,
        "playbook `tag-suspect-host` has no step `note_extras`",
        Some("did you mean `note_extra`?")
    )));
    assert!(helps.contains(&(
        7,
        "playbook `tag-suspect-host` has no output `complete`",
        Some("did you mean `completed`?")
    )));
    assert!(
        diagnostics
            .iter()
            .all(|d| d.code == codes::UNKNOWN_EXPECTATION)
    );
}

#[test]
fn the_playbook_checks_need_a_valid_file_and_point_into_it() {
    let source = std::fs::read_to_string(data().join("err/rb064_inputs_and_secrets.yaml"))
        .expect("fixture text");
    let alone = load_test_file("t.test.yaml", &source);
    assert!(alone.diagnostics.is_empty(), "{:?}", alone.diagnostics);
    let file = alone.file.expect("valid on its own");
    let playbook = playbook_of(&data().join("err"), &file);
    let diagnostics = check_against_playbook(&file, &playbook, "t.test.yaml", &source);
    assert!(diagnostics.iter().all(|d| d.file == "t.test.yaml"));
    let missing: Vec<u32> = diagnostics
        .iter()
        .filter(|d| d.message.contains("requires input `hostname`"))
        .map(|d| d.line)
        .collect();
    // At the case's `inputs`, or at its name when it has none.
    assert_eq!(missing, [10, 11]);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.help.as_deref() == Some("did you mean `SOAR_TICKET_TOKEN`?"))
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&test_file_json_schema()).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_current() {
    let path = workspace_root().join("schema/testfile.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != schema_text() {
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, schema_text()).expect("write schema");
        } else {
            panic!(
                "{} is out of date: run this test with RUNBOOK_UPDATE_SCHEMA=1",
                path.display()
            );
        }
    }
}

#[test]
fn the_schema_accepts_the_ok_fixtures_and_refuses_bad_shapes() {
    let schema = test_file_json_schema();
    let validator = jsonschema::draft7::new(&schema).expect("the schema is valid draft-07");
    for path in fixtures("ok") {
        let source = std::fs::read_to_string(&path).expect("read");
        let instance: serde_json::Value = serde_saphyr::from_str(&source).expect("YAML parses");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    let head = "version: 1\nplaybook: p.yaml\ncases:\n";
    for case in [
        "  - { inputs: {} }\n",
        "  - { name: a, sim: {}, replay: r.json }\n",
        "  - { name: a, sim: { approval: { deny: false } } }\n",
        "  - { name: a, sim: { approval: { after: 1m, deny: true } } }\n",
        "  - { name: a, sim: { fleet: all } }\n",
        "  - { name: a, sim: { failure_share: 1.5 } }\n",
        "  - { name: a, sim: { faults: { latency: 5 } } }\n",
        "  - { name: a, sim: { fleet: [ { online: true } ] } }\n",
        "  - { name: a, expect: { status: done } }\n",
        "  - { name: a, expect: { steps: { x: passed } } }\n",
        "  - { name: a, expect: { requests: [ { method: post, path: /a } ] } }\n",
        "  - { name: a, expect: { requests: [ { method: POST, path: a } ] } }\n",
        "  - { name: a, expect: { requests: [ { method: GET, path: /a, body: {} } ] } }\n",
        "  - { name: a, expect: { requests: [ { method: GET, path: /a, count: -1 } ] } }\n",
        "  - { name: a, tmeout: 1m }\n",
    ] {
        let source = format!("{head}{case}");
        let instance: serde_json::Value = serde_saphyr::from_str(&source).expect("YAML parses");
        assert!(!validator.is_valid(&instance), "schema accepted:\n{source}");
        assert!(
            load_test_file("x.test.yaml", &source).has_errors(),
            "validator accepted:\n{source}"
        );
    }
    for source in [
        "version: 2\nplaybook: p.yaml\ncases: [ { name: a } ]\n",
        "version: 1\nplaybook: p.yaml\ncases: []\n",
    ] {
        let instance: serde_json::Value = serde_saphyr::from_str(source).expect("YAML parses");
        assert!(!validator.is_valid(&instance), "schema accepted:\n{source}");
        assert!(load_test_file("x.test.yaml", source).has_errors());
    }
}

#[test]
fn the_docs_list_every_code_and_their_example_is_valid() {
    let docs = std::fs::read_to_string(workspace_root().join("docs/testing.md")).expect("docs");
    for (code, summary) in codes::TESTS {
        assert!(
            docs.contains(&format!("| {code} |")),
            "docs/testing.md does not list {code} ({summary})"
        );
    }
    let example = docs
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a YAML example");
    // The example tests the repository's `playbooks/tag-suspect-host.yaml`.
    let (file, diagnostics) = validate(
        "docs/testing.md",
        example,
        &workspace_root().join("playbooks"),
    );
    assert!(
        diagnostics.is_empty(),
        "{}",
        render_human(&diagnostics, false)
    );
    assert_eq!(file.expect("valid").cases.len(), 5);
}

#[test]
fn the_fixtures_are_classified_as_test_files() {
    for path in fixtures("ok") {
        let source = std::fs::read_to_string(&path).expect("read");
        assert_eq!(classify(&source), FileKind::Tests, "{}", path.display());
    }
}

/// YAML-ish text built from the tokens test files are made of, so that the generator reaches
/// deep into the checks rather than failing at the first byte.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("version: 1\n".to_owned()),
        Just("playbook: ../playbooks/tag-suspect-host.yaml\n".to_owned()),
        Just("cases:\n".to_owned()),
        Just("  - name: a\n".to_owned()),
        Just("    inputs: { hostname: WIN-DC01 }\n".to_owned()),
        Just("    sim:\n".to_owned()),
        Just("      approval: { after: 2m, deny: true }\n".to_owned()),
        Just("      fleet: [ { computer_name: a, logging_level: 200 } ]\n".to_owned()),
        Just("      faults: { drop_share: 2 }\n".to_owned()),
        Just("    replay: r.json\n".to_owned()),
        Just("    expect:\n".to_owned()),
        Just("      steps: { aproved: ok }\n".to_owned()),
        Just("      requests: [ { method: GET, path: x, body: &b {}, count: *b } ]\n".to_owned()),
        Just("- [\n".to_owned()),
        Just("\t".to_owned()),
        Just("---\n".to_owned()),
        "[ -~]{0,12}",
        "[a-z_]{1,8}: [a-z0-9{}%\\[\\]]{0,8}\n",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let loaded = load_test_file("fuzz.test.yaml", &text);
        prop_assert!(loaded.file.is_some() || !loaded.diagnostics.is_empty());
    }

    /// Every diagnostic points inside the file, and the playbook checks never panic either.
    #[test]
    fn arbitrary_yaml_never_panics(text in yamlish()) {
        let loaded = load_test_file("fuzz.test.yaml", &text);
        prop_assert_eq!(loaded.file.is_some(), !loaded.has_errors());
        let mut diagnostics = loaded.diagnostics;
        // Generated text may name another playbook: only the fixture one is read.
        if let Some(file) = loaded.file.filter(|file| file.playbook.value.ends_with("tag-suspect-host.yaml")) {
            let playbook = playbook_of(&data().join("ok"), &file);
            diagnostics.extend(check_against_playbook(&file, &playbook, "fuzz.test.yaml", &text));
        }
        let lines = text.lines().count().max(1) as u32;
        for diagnostic in &diagnostics {
            prop_assert!(diagnostic.line >= 1 && diagnostic.line <= lines + 1, "{diagnostic:?}");
            prop_assert!(diagnostic.column >= 1);
        }
    }

    /// Any text is either read or refused with located diagnostics; never a panic.
    #[test]
    fn arbitrary_text_never_panics(source in "(version: 1\nplaybook: p.yaml\ncases:\n)?[ -~\n]{0,200}") {
        let loaded = load_test_file("t.test.yaml", &source);
        for diagnostic in &loaded.diagnostics {
            prop_assert!(diagnostic.line >= 1 && diagnostic.column >= 1);
        }
        prop_assert_eq!(loaded.file.is_some(), !loaded.has_errors());
    }

    /// Case-shaped YAML with arbitrary values in every slot never panics either, checked
    /// against the playbook too when it loads.
    #[test]
    fn arbitrary_case_values_never_panic(
        values in proptest::collection::vec("[ -~]{0,24}", 9),
    ) {
        let quoted: Vec<String> = values
            .iter()
            .map(|value| serde_json::to_string(value).expect("a JSON string"))
            .collect();
        let source = format!(
            "version: 1\nplaybook: ../playbooks/tag-suspect-host.yaml\ncases:\n  - name: {}\n    inputs: {{ hostname: {} }}\n    sim:\n      approval: {{ after: {} }}\n      fleet: [ {{ computer_name: {} }} ]\n      faults: {{ latency: {} }}\n    expect:\n      status: {}\n      steps: {{ {}: succeeded }}\n      requests:\n        - {{ method: {}, path: {} }}\n",
            quoted[0], quoted[1], quoted[2], quoted[3], quoted[4], quoted[5], quoted[6], quoted[7], quoted[8]
        );
        let (file, diagnostics) = validate("t.test.yaml", &source, &data().join("ok"));
        prop_assert_eq!(file.is_some(), !diagnostics.iter().any(Diagnostic::is_error));
    }
}

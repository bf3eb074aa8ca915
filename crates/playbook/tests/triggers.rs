//! Triggers files: data-driven fixtures (`tests/data/triggers/{ok,err}/*.yaml`, each error
//! fixture reporting the code its name starts with, its rendering pinned by a snapshot), the
//! playbook checks against `tests/data/triggers/playbooks`, the committed JSON Schema, and
//! arbitrary input never panicking the loader.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use runbook_playbook::{
    Encoding, LoadedTriggers, Playbook, TriggerAuth, codes, load, load_triggers,
    load_triggers_with_playbooks, render_human, render_json, triggers_json_schema,
};

mod common;
use common::stem;

fn data() -> PathBuf {
    common::data("triggers")
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    common::yaml_files(&data().join(kind))
}

fn playbooks() -> Vec<Playbook> {
    fixtures("playbooks")
        .iter()
        .map(|path| {
            let source = std::fs::read_to_string(path).expect("playbook text");
            let loaded = load(&stem(path), &source);
            loaded.playbook.expect("fixture playbooks are valid")
        })
        .collect()
}

fn load_fixture(kind: &str, path: &Path) -> LoadedTriggers {
    let source = std::fs::read_to_string(path).expect("fixture text");
    let shown = format!("{kind}/{}.yaml", stem(path));
    load_triggers_with_playbooks(&shown, &source, &playbooks())
}

#[test]
fn ok_fixtures_are_clean() {
    let files = fixtures("ok");
    assert!(files.len() >= 4);
    for path in files {
        let loaded = load_fixture("ok", &path);
        assert!(
            loaded.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render_human(&loaded.diagnostics, false)
        );
        assert!(loaded.file.is_some(), "{}", path.display());
    }
}

#[test]
fn the_full_fixture_is_read_with_every_value() {
    let loaded = load_fixture("ok", &data().join("ok/full.yaml"));
    let file = loaded.file.expect("valid");
    let splunk = file.trigger("splunk-suspect-host").expect("first trigger");
    let TriggerAuth::Hmac {
        secret_env,
        header,
        prefix,
        encoding,
        timestamp,
    } = &splunk.auth
    else {
        panic!("hmac expected: {:?}", splunk.auth);
    };
    assert_eq!(
        (secret_env.as_str(), header.as_str(), prefix.as_str()),
        ("SPLUNK_HOOK_SECRET", "X-Signature", "sha256=")
    );
    assert_eq!(*encoding, Encoding::Base64);
    let timestamp = timestamp.as_ref().expect("signed timestamp");
    assert_eq!(timestamp.header, "X-Timestamp");
    assert_eq!(timestamp.max_skew.as_secs(), 120);
    assert_eq!(splunk.dedup.as_deref(), Some("{{ body.sid }}"));
    assert_eq!(splunk.dedup_window.as_secs(), 12 * 3600);
    assert_eq!(splunk.path, "/hooks/splunk");
    let siem = file.trigger("siem_bearer").expect("second trigger");
    assert_eq!(siem.auth.env_variable(), "SIEM_HOOK_TOKEN");
    assert_eq!(siem.when, None);
    assert_eq!(siem.inputs["tag"], serde_json::json!("Quarantine"));
    assert_eq!(siem.dedup_window.as_secs(), 86_400);
}

#[test]
fn err_fixtures_report_their_code_and_match_snapshots() {
    let files = fixtures("err");
    assert!(files.len() >= 20, "only {} error fixtures", files.len());
    for path in files {
        let name = stem(&path);
        let loaded = load_fixture("err", &path);
        if let Some(code) = name.strip_prefix("rb").and_then(|rest| rest.get(..3)) {
            let code = format!("RB{code}");
            assert!(
                loaded.diagnostics.iter().any(|d| d.code == code),
                "{name} should report {code}:\n{}",
                render_human(&loaded.diagnostics, false)
            );
        }
        assert!(loaded.has_errors(), "{name} has no error");
        assert!(loaded.file.is_none(), "{name} has errors but a file");
        insta::assert_snapshot!(
            format!("triggers_{name}"),
            render_human(&loaded.diagnostics, false)
        );
    }
}

#[test]
fn every_trigger_code_has_an_error_fixture() {
    let names: Vec<String> = fixtures("err").iter().map(|path| stem(path)).collect();
    for (code, summary) in codes::TRIGGERS {
        let prefix = code.to_lowercase();
        assert!(
            names.iter().any(|name| name.starts_with(&prefix)),
            "no fixture for {code} ({summary})"
        );
    }
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let path = data().join("err/many_problems_in_one_pass.yaml");
    let loaded = load_fixture("err", &path);
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    for expected in [
        "RB009", "RB046", "RB047", "RB027", "RB017", "RB028", "RB005", "RB039", "RB048", "RB049",
        "RB050",
    ] {
        assert!(
            codes.contains(&expected),
            "{expected} missing from {codes:?}"
        );
    }
    insta::assert_snapshot!(
        "triggers_many_problems_json",
        render_json(&loaded.diagnostics)
    );
}

#[test]
fn without_playbooks_the_playbook_checks_are_skipped() {
    let source = std::fs::read_to_string(data().join("err/rb049_unknown_playbook.yaml"))
        .expect("fixture text");
    let alone = load_triggers("t.yaml", &source);
    assert!(alone.diagnostics.is_empty(), "{:?}", alone.diagnostics);
    assert!(alone.file.is_some());
    let checked = load_triggers_with_playbooks("t.yaml", &source, &playbooks());
    assert_eq!(checked.diagnostics.len(), 1);
    assert_eq!(
        checked.diagnostics[0].help.as_deref(),
        Some("did you mean `tag-suspect-host`?")
    );
}

#[test]
fn a_secret_written_in_the_file_is_refused_with_its_remedy() {
    let loaded = load_fixture("err", &data().join("err/rb047_secret_in_file.yaml"));
    let secret = loaded
        .diagnostics
        .iter()
        .find(|d| d.code == codes::TRIGGER_AUTH)
        .expect("RB047");
    assert_eq!(secret.message, "`secret` is written in the triggers file");
    assert!(secret.help.as_deref().unwrap_or("").contains("secret_env"));
    for diagnostic in &loaded.diagnostics {
        assert!(
            !diagnostic.source_line.contains("s3cr3t"),
            "{}",
            diagnostic.source_line
        );
        assert!(diagnostic.source_line.contains("[REDACTED]"));
    }
    // `secret_env` is missing too: the same pass says so.
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.code == codes::MISSING_KEY)
    );
}

#[test]
fn a_secret_input_comes_from_the_request_never_from_the_file() {
    let loaded = load_fixture("err", &data().join("err/rb050_inputs_do_not_fit.yaml"));
    let secret = loaded
        .diagnostics
        .iter()
        .find(|d| d.message.contains("is secret"))
        .expect("the secret input given in clear");
    assert_eq!(secret.source_line, "    inputs: { api_key: [REDACTED] }");
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| !d.source_line.contains("hunter2")),
        "{:?}",
        loaded.diagnostics
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
        serde_json::to_string_pretty(&triggers_json_schema()).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn the_docs_list_every_code_and_their_example_is_valid() {
    let docs = std::fs::read_to_string(workspace_root().join("docs/triggers.md")).expect("docs");
    for (code, summary) in codes::TRIGGERS {
        assert!(
            docs.contains(&format!("| {code} |")),
            "docs/triggers.md does not list {code} ({summary})"
        );
    }
    let example = docs
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a YAML example");
    let loaded = load_triggers_with_playbooks("docs/triggers.md", example, &playbooks());
    assert!(
        loaded.diagnostics.is_empty(),
        "{}",
        render_human(&loaded.diagnostics, false)
    );
    assert_eq!(loaded.file.expect("valid").triggers.len(), 2);
}

#[test]
fn committed_schema_is_current() {
    let path = workspace_root().join("schema/triggers.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != schema_text() {
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, schema_text()).expect("write schema");
        } else {
            panic!(
                "{} is out of date: run `cargo run -p runbook -- triggers schema > schema/triggers.schema.json` \
                 (or this test with RUNBOOK_UPDATE_SCHEMA=1)",
                path.display()
            );
        }
    }
}

#[test]
fn the_schema_accepts_the_ok_fixtures_and_refuses_bad_shapes() {
    let schema = triggers_json_schema();
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
    let hook = "name: a, path: /hooks/a, playbook: p";
    let bearer = "auth: { bearer: { token_env: T } }";
    for source in [
        format!("version: 1\ntriggers:\n  - {{ {hook} }}\n"),
        format!("version: 1\ntriggers:\n  - {{ name: a, path: /a, playbook: p, {bearer} }}\n"),
        format!(
            "version: 1\ntriggers:\n  - {{ {hook}, auth: {{ bearer: {{ token_env: t }} }} }}\n"
        ),
        format!("version: 1\ntriggers:\n  - {{ {hook}, {bearer}, dedup_window: 1h }}\n"),
        format!(
            "version: 1\ntriggers:\n  - {{ {hook}, auth: {{ hmac: {{ secret_env: S, header: X, encoding: hexa }} }} }}\n"
        ),
        format!(
            "version: 1\ntriggers:\n  - {{ {hook}, auth: {{ hmac: {{ secret_env: S, header: X }}, bearer: {{ token_env: T }} }} }}\n"
        ),
        format!("version: 1\ntriggers:\n  - {{ {hook}, {bearer}, when: always }}\n"),
        "version: 2\ntriggers: []\n".to_owned(),
    ] {
        let instance: serde_json::Value = serde_saphyr::from_str(&source).expect("YAML parses");
        assert!(!validator.is_valid(&instance), "schema accepted:\n{source}");
        assert!(
            load_triggers("x.yaml", &source).has_errors(),
            "validator accepted:\n{source}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any text is either read or refused with located diagnostics; never a panic.
    #[test]
    fn arbitrary_text_never_panics(source in "(version: 1\ntriggers:\n)?[ -~\n]{0,200}") {
        let loaded = load_triggers("t.yaml", &source);
        for diagnostic in &loaded.diagnostics {
            prop_assert!(diagnostic.line >= 1);
        }
        prop_assert_eq!(loaded.file.is_some(), !loaded.has_errors());
    }

    /// Trigger-shaped YAML with arbitrary values in every slot never panics either.
    #[test]
    fn arbitrary_trigger_values_never_panic(
        values in proptest::collection::vec("[ -~]{0,24}", 8),
    ) {
        let quoted: Vec<String> = values
            .iter()
            .map(|value| serde_json::to_string(value).expect("a JSON string"))
            .collect();
        let source = format!(
            "version: 1\ntriggers:\n  - name: {}\n    path: {}\n    playbook: {}\n    auth:\n      hmac: {{ secret_env: {}, header: {}, timestamp_header: X-T, max_skew: {} }}\n    when: {}\n    inputs: {{ hostname: {} }}\n",
            quoted[0], quoted[1], quoted[2], quoted[3], quoted[4], quoted[5], quoted[6], quoted[7]
        );
        let loaded = load_triggers_with_playbooks("t.yaml", &source, &playbooks());
        prop_assert_eq!(loaded.file.is_some(), !loaded.has_errors());
    }
}

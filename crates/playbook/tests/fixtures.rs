//! Data-driven tests: every `tests/data/ok/*.yaml` loads without diagnostics, and every
//! `tests/data/err/*.yaml` fails with the code its file name starts with (`rb005_...` must
//! report RB005), its human rendering pinned by an insta snapshot.

use std::path::{Path, PathBuf};

use runbook_playbook::{codes, load, render_human, render_json};

mod common;
use common::stem;

fn data() -> PathBuf {
    common::data("")
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    common::yaml_files(&data().join(kind))
}

fn load_fixture(kind: &str, path: &Path) -> runbook_playbook::Loaded {
    let source = std::fs::read_to_string(path).expect("fixture text");
    load(&format!("{kind}/{}.yaml", stem(path)), &source)
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
        assert!(loaded.playbook.is_some());
    }
}

#[test]
fn err_fixtures_report_their_code_and_match_snapshots() {
    let files = fixtures("err");
    assert!(files.len() >= 30, "only {} error fixtures", files.len());
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
        let only_warnings = loaded.diagnostics.iter().all(|d| !d.is_error());
        if only_warnings {
            assert!(!loaded.diagnostics.is_empty(), "{name} reports nothing");
            assert!(
                loaded.playbook.is_some(),
                "warnings alone keep the playbook"
            );
        } else {
            assert!(
                loaded.playbook.is_none(),
                "{name} has errors but a playbook"
            );
        }
        insta::assert_snapshot!(name, render_human(&loaded.diagnostics, false));
    }
}

#[test]
fn every_code_checked_by_load_has_an_error_fixture() {
    let names: Vec<String> = fixtures("err").iter().map(|path| stem(path)).collect();
    for (code, summary) in codes::ALL {
        // Duplicate names span several files; the CLI's end-to-end tests cover it.
        if code == codes::DUPLICATE_PLAYBOOK_NAME {
            continue;
        }
        let prefix = code.to_lowercase();
        assert!(
            names.iter().any(|name| name.starts_with(&prefix)),
            "no fixture for {code} ({summary})"
        );
    }
}

#[test]
fn every_problem_is_reported_in_one_pass_as_json() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/err/many_problems_in_one_pass.yaml");
    let loaded = load_fixture("err", &path);
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    for expected in [
        "RB009", "RB027", "RB017", "RB020", "RB018", "RB030", "RB014", "RB011", "RB015",
    ] {
        assert!(
            codes.contains(&expected),
            "{expected} missing from {codes:?}"
        );
    }
    insta::assert_snapshot!("many_problems_json", render_json(&loaded.diagnostics));
}

#[test]
fn diagnostics_point_at_the_offending_token() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/err/rb005_unknown_poll_key.yaml");
    let loaded = load_fixture("err", &path);
    let diagnostic = &loaded.diagnostics[0];
    assert_eq!(
        (diagnostic.line, diagnostic.column, diagnostic.length),
        (7, 7, 14)
    );
    assert_eq!(diagnostic.source_line, "      untill_percent: 90");
    assert_eq!(
        diagnostic.help.as_deref(),
        Some("did you mean `until_percent`?")
    );
}

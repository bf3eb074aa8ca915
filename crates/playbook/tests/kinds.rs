//! `classify` never hides a mistake: every playbook fixture, broken ones included, is read as a
//! playbook, and every schedules fixture as a schedules file, so `runbook validate DIR` checks
//! each with its own rules and reports what the fixture is there to show.

use std::path::{Path, PathBuf};

use runbook_playbook::{FileKind, classify};

fn yaml_files(folder: &str) -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("fixture folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn kinds_of(folder: &str) -> Vec<(String, FileKind)> {
    yaml_files(folder)
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).expect("fixture text");
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .expect("utf-8 name")
                .to_owned();
            (name, classify(&source))
        })
        .collect()
}

#[test]
fn every_playbook_fixture_is_a_playbook() {
    let mut seen = 0;
    for folder in ["ok", "err", "schedules/playbooks"] {
        for (name, kind) in kinds_of(folder) {
            assert_eq!(kind, FileKind::Playbook, "{folder}/{name}");
            seen += 1;
        }
    }
    assert!(seen > 60, "only {seen} playbook fixtures");
}

#[test]
fn every_schedules_fixture_is_a_schedules_file() {
    let mut seen = 0;
    for folder in ["schedules/ok", "schedules/err"] {
        for (name, kind) in kinds_of(folder) {
            // An empty file says nothing of what it is: it is read as a playbook, whose check
            // reports it empty.
            let expected = if name == "rb006_empty_file.yaml" {
                FileKind::Playbook
            } else {
                FileKind::Schedules
            };
            assert_eq!(kind, expected, "{folder}/{name}");
            seen += 1;
        }
    }
    assert!(seen > 15, "only {seen} schedules fixtures");
}

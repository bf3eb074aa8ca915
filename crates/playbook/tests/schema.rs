//! The committed `schema/playbook.schema.json` is what `json_schema()` produces, and every
//! playbook under `playbooks/` (and every ok fixture) passes both the schema and validation.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&runbook_playbook::json_schema()).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_current() {
    let path = workspace_root().join("schema/playbook.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != schema_text() {
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, schema_text()).expect("write schema");
        } else {
            panic!(
                "{} is out of date: run `cargo run -p runbook -- schema > schema/playbook.schema.json` \
                 (or this test with RUNBOOK_UPDATE_SCHEMA=1)",
                path.display()
            );
        }
    }
}

fn yaml_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        // Test files (`*.test.yaml`) sit next to the playbooks they test.
        .filter(|path| {
            !path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.contains(".test."))
        })
        .collect();
    files.sort();
    files
}

fn check_against_schema_and_validator(files: &[PathBuf]) {
    let schema = runbook_playbook::json_schema();
    let validator = jsonschema::draft7::new(&schema).expect("the schema is valid draft-07");
    for path in files {
        let source = std::fs::read_to_string(path).expect("read playbook");
        let instance: serde_json::Value = serde_saphyr::from_str(&source).expect("YAML parses");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} fails the schema:\n{}",
            path.display(),
            errors.join("\n")
        );
        let loaded = runbook_playbook::load(&path.display().to_string(), &source);
        assert!(
            loaded.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            runbook_playbook::render_human(&loaded.diagnostics, false)
        );
    }
}

#[test]
fn example_playbooks_pass_schema_and_validation() {
    let files = yaml_files(&workspace_root().join("playbooks"));
    assert!(files.len() >= 4, "expected at least four example playbooks");
    check_against_schema_and_validator(&files);
}

#[test]
fn ok_fixtures_pass_the_schema_too() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ok");
    check_against_schema_and_validator(&yaml_files(&folder));
}

#[test]
fn the_schema_refuses_what_the_validator_refuses() {
    let schema = runbook_playbook::json_schema();
    let validator = jsonschema::draft7::new(&schema).expect("valid schema");
    for source in [
        "version: 1\nname: x\nsteps:\n  - id: a\n    log: hi\n    set: { b: 1 }\n",
        "version: 1\nname: x\nsteps:\n  - id: a\n    tmeout: 5m\n    log: hi\n",
        "version: 1\nname: x\nsteps:\n  - id: a\n    poll: { action: 1, until_percent: 150 }\n",
        "version: 1\nname: x\nsteps:\n  - id: a\n    target: { text: \"x {{ y }}\" }\n",
        "version: 2\nname: x\nsteps:\n  - id: a\n    log: hi\n",
        "version: 1\nname: x\nsteps:\n  - id: a\n    issue: { name: n, target: 1, package: 2, action_group: Default }\n",
    ] {
        let instance: serde_json::Value = serde_saphyr::from_str(source).expect("YAML parses");
        assert!(!validator.is_valid(&instance), "schema accepted:\n{source}");
        assert!(
            runbook_playbook::load("x.yaml", source).has_errors(),
            "validator accepted:\n{source}"
        );
    }
}

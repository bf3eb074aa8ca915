//! Binding a run's inputs: CLI text parsed by type, file values checked, defaults filled in,
//! every problem reported together.

use indexmap::IndexMap;
use runbook_playbook::{InputError, bind_inputs, load};
use serde_json::json;

fn playbook() -> runbook_playbook::Playbook {
    let source = r#"
version: 1
name: inputs
inputs:
  host: { type: string, pattern: "^[A-Za-z0-9.-]+$" }
  ip: { type: string, required: false }
  level: { type: integer, minimum: 0, maximum: 99, default: 1 }
  ratio: { type: number, required: false }
  verbose: { type: boolean, default: false }
  hosts: { type: list, required: false }
  mode: { type: string, enum: [fast, slow], default: fast }
  token: { type: string, secret: true, required: false, pattern: "^tok_" }
steps:
  - id: a
    log: "{{ inputs.host }}"
"#;
    load("inputs.yaml", source)
        .playbook
        .expect("valid playbook")
}

fn cli(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn values_are_parsed_by_type_and_defaults_filled_in() {
    let bound = bind_inputs(
        &playbook(),
        &cli(&[
            ("host", "WIN-DC01"),
            ("level", "41"),
            ("ratio", "0.5"),
            ("verbose", "true"),
            ("hosts", "a, b"),
        ]),
        &IndexMap::new(),
    )
    .expect("valid inputs");
    assert_eq!(bound["host"], json!("WIN-DC01"));
    assert_eq!(bound["level"], json!(41));
    assert_eq!(bound["ratio"], json!(0.5));
    assert_eq!(bound["verbose"], json!(true));
    assert_eq!(bound["hosts"], json!(["a", "b"]));
    assert_eq!(bound["ip"], json!(null));
    assert_eq!(bound["mode"], json!("fast"));
    assert_eq!(bound.len(), 8, "every declared input is present");
}

#[test]
fn cli_wins_over_file_values() {
    let mut file = IndexMap::new();
    file.insert("host".to_owned(), json!("from-file"));
    file.insert("hosts".to_owned(), json!(["x"]));
    let bound = bind_inputs(&playbook(), &cli(&[("host", "from-cli")]), &file).expect("valid");
    assert_eq!(bound["host"], json!("from-cli"));
    assert_eq!(bound["hosts"], json!(["x"]));
    let json_list = bind_inputs(
        &playbook(),
        &cli(&[("host", "h"), ("hosts", "[1, 2]")]),
        &IndexMap::new(),
    )
    .expect("valid");
    assert_eq!(json_list["hosts"], json!([1, 2]));
}

#[test]
fn every_problem_is_reported_together() {
    let mut file = IndexMap::new();
    file.insert("level".to_owned(), json!("high"));
    let errors = bind_inputs(
        &playbook(),
        &cli(&[
            ("hots", "x"),
            ("mode", "medium"),
            ("verbose", "maybe"),
            ("token", "hunter2"),
        ]),
        &file,
    )
    .expect_err("invalid inputs");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        errors.contains(&InputError::Missing {
            name: "host".into()
        }),
        "{text:?}"
    );
    assert!(
        errors.contains(&InputError::Undeclared {
            name: "hots".into(),
            suggestion: Some("host".into())
        }),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("`level`") && e.contains("not an integer")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("`medium` is not one of")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("`maybe` is not a boolean")),
        "{text:?}"
    );
    // A secret's value never appears in an error.
    assert!(
        text.iter().any(|e| e.starts_with("input `token`")),
        "{text:?}"
    );
    assert!(text.iter().all(|e| !e.contains("hunter2")), "{text:?}");
    assert_eq!(errors.len(), 6, "{text:?}");
}

#[test]
fn ranges_are_enforced() {
    let decl = &playbook().inputs["level"];
    assert!(decl.parse_cli_value("100").is_err());
    assert!(decl.parse_cli_value("-1").is_err());
    assert_eq!(decl.parse_cli_value(" 99 "), Ok(json!(99)));
    assert!(
        decl.check(&json!(1.5)).is_err(),
        "an integer input refuses fractions"
    );
}

//! Every recorded fixture under `tests/data/fixtures/` and every JSON example of Tanium's
//! own documentation (the seed, `tests/data/seed/`) decodes, with the values that matter checked.

use std::path::PathBuf;

use runbook_tanium::lenient::{Node, collection_items};
use runbook_tanium::parameters::{self, ParameterKind};
use runbook_tanium::{
    Action, ActionState, Group, NewAction, Package, QuestionProgress, Ref, TargetGroupRef,
    parse_action_results, requests,
};
use serde_json::{Value, json};

/// Recorded answers and Tanium's actions API documentation (the seed), kept in the repository
/// so that the tests run on any clone (`data/fixtures/SOURCES.md` says where each comes from).
fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = shared_dir().join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// The JSON examples of the seed text, in order. Each starts at a line that is `{` or ends
/// with `--data-raw '{`; one example in the seed is cut off and does not parse, so it is left
/// out (and counted by the caller).
fn seed_examples() -> Vec<Value> {
    let dir = shared_dir().join("seed");
    let mut texts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    texts.sort();
    let mut examples = Vec::new();
    for path in texts {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut offset = 0;
        let mut skip_until = 0;
        for line in text.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            if start < skip_until {
                continue;
            }
            let trimmed = line.trim_end();
            let brace = if trimmed == "{" {
                Some(start + line.find('{').unwrap_or(0))
            } else if trimmed.ends_with("--data-raw '{") {
                Some(start + trimmed.len() - 1)
            } else {
                None
            };
            let Some(brace) = brace else { continue };
            let mut stream =
                serde_json::Deserializer::from_str(&text[brace..]).into_iter::<Value>();
            if let Some(Ok(value)) = stream.next() {
                skip_until = brace + stream.byte_offset();
                examples.push(value);
            }
        }
    }
    examples
}

#[test]
fn xsoar_action_results_count_one_completed_machine() {
    let recorded = fixture("demisto-content__Tanium_v2__test_data__action_results.json");
    let body = serde_json::to_vec(&recorded["action_raw_response"]).unwrap_or_default();
    let results = parse_action_results(&body, false, 10).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!((results.mr_tested, results.estimated_total), (2, 2));
    assert_eq!(results.succeeded, 1);
    assert_eq!(results.statuses.get("Completed"), Some(&1));
    assert_eq!(results.rows[0].computer_name, "EC2AMAZ-KGMRO60");
    assert_eq!(results.rows[0].status, "Completed");
    // With verification on, Completed is not yet success.
    let verified = parse_action_results(&body, true, 10).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!((verified.succeeded, verified.running), (0, 1));
}

#[test]
fn all_computers_group_is_trimmed_with_mixed_flags() {
    let recorded = fixture(
        "demisto-content__TaniumThreatResponseV2__test_data__get_computer_group_name_raw_response.json",
    );
    let group = Group::from_data(&recorded["data"]).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        group,
        Group {
            id: 1,
            name: "All Computers".to_owned(),
            text: "All Computers".to_owned(),
            filter_flag: true,
        }
    );
    let node = Node::root(&recorded["data"], "data");
    assert_eq!(
        node.flag_or_false("track_computer_id_flag").ok(),
        Some(false)
    );
    assert_eq!(
        node.flag_or_false("management_rights_flag").ok(),
        Some(true)
    );
}

#[test]
fn system_status_drops_statistics_and_cache_objects() {
    let recorded =
        fixture("demisto-content__TaniumThreatResponseV2__test_data__get_system_status.json");
    let items = recorded["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 4);
    let real = collection_items(&items);
    assert_eq!(real.len(), 2);
    assert_eq!(real[1]["host_name"], json!("host2"));
}

#[test]
fn question_without_selects_has_no_columns_and_overshoots() {
    let body = fixture_bytes("py_tanrestapi__response.json");
    let results = parse_action_results(&body, false, 10).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        (results.mr_tested, results.estimated_total, results.passed),
        (57, 56, 57)
    );
    assert_eq!(results.reporting_percent, 100.0);
    assert_eq!(results.rows_read, 0);
    let recorded = fixture("py_tanrestapi__response.json");
    let progress = QuestionProgress::from_data(&recorded["data"]["result_sets"][0]);
    let progress = progress.unwrap_or_else(|err| panic!("{err}"));
    assert!(progress.is_complete());
    assert_eq!(progress.passed, 57);
}

#[test]
fn bare_result_set_of_28_completed_rows_with_large_ids() {
    let body = fixture_bytes("py_tanrestapi__result.json");
    let results = parse_action_results(&body, false, 100).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(results.rows_read, 28);
    assert_eq!(results.succeeded, 28);
    assert_eq!(results.statuses.len(), 1);
    assert_eq!((results.mr_tested, results.estimated_total), (168, 167));
    assert_eq!(results.reporting_percent, 100.0);
    assert_eq!(results.rows[0].computer_name, "Hyper-V-lab.ritalab1.local");
    let truncated = parse_action_results(&body, false, 5).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        (
            truncated.rows.len(),
            truncated.rows_truncated,
            truncated.succeeded
        ),
        (5, true, 28)
    );
    // Row ids and computer ids above 2^31 read as u64.
    let recorded = fixture("py_tanrestapi__result.json");
    let row = Node::root(&recorded["rows"][2], "rows[2]");
    assert_eq!(row.req_u64("cid").ok(), Some(4_267_031_002));
    let column = Node::root(&recorded["columns"][0], "columns[0]");
    assert_eq!(column.req_u64("hash").ok(), Some(3_409_330_187));
}

#[test]
fn complete_question_is_not_a_finished_action() {
    let body = fixture_bytes("py_tanrestapi__results.json");
    let results = parse_action_results(&body, false, 10).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        (results.mr_tested, results.estimated_total, results.passed),
        (167, 167, 91)
    );
    assert_eq!(results.reporting_percent, 100.0);
    assert_eq!(results.machines(), 0);
    assert!(results.rows.is_empty());
}

#[test]
fn all_parameter_types_decode_and_resolve() {
    let definition = fixture("pytan__doc__example_of_all_package_parameters.json");
    let defs = parameters::decode(&definition.to_string()).unwrap_or_else(|err| panic!("{err}"));
    let kinds: Vec<&str> = defs
        .iter()
        .map(|d| match &d.kind {
            ParameterKind::TextInput { .. } => "text",
            ParameterKind::DropDown { .. } => "dropdown",
            ParameterKind::CheckBox => "checkbox",
            ParameterKind::Numeric { .. } => "numeric",
            ParameterKind::DateTime => "datetime",
            ParameterKind::DateTimeRange => "daterange",
            ParameterKind::List { .. } => "list",
            ParameterKind::TextArea { .. } => "textarea",
            ParameterKind::Other { .. } => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "dropdown",
            "checkbox",
            "numeric",
            "datetime",
            "daterange",
            "list",
            "textarea"
        ]
    );
    assert_eq!(
        defs[3].kind,
        ParameterKind::Numeric {
            minimum: Some(1.0),
            maximum: Some(8.0),
            step_size: Some(4.0),
        }
    );
    assert!(
        matches!(&defs[0].kind, ParameterKind::TextInput { max_chars: 10, validations } if validations[0].expression == r"\S")
    );

    // Nothing given: the date, range and list have no default, and the text area's default
    // fails its own validation expression (\W): all four are reported at once.
    let problems = parameters::resolve(&defs, &[]).err().unwrap_or_default();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["$5", "$6", "$7", "$8"]);
    assert!(problems[3].message.contains("textarea") && problems[3].message.contains("word"));

    let given: Vec<(String, String)> = [
        ("datetime", "1420174800000"),
        ("$6", "1417159750000|1417332550000"),
        ("list", "a"),
        ("textarea", "two words"),
        ("numeric", "5"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let values =
        parameters::resolve(&defs, &given).unwrap_or_else(|problems| panic!("{problems:?}"));
    assert_eq!(
        values,
        [
            ("$1", "defaulttex"),
            ("$2", "v1"),
            ("$3", "1"),
            ("$4", "5"),
            ("$5", "1420174800000"),
            ("$6", "1417159750000|1417332550000"),
            ("$7", "a"),
            ("$8", "two words"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn har_of_session_validate_decodes() {
    let har = fixture("graph-tanium__validate-invocation__recording.har");
    let entry = &har["log"]["entries"][0];
    assert_eq!(entry["request"]["method"], json!("POST"));
    assert!(
        entry["request"]["url"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/api/v2/session/validate")
    );
    assert_eq!(entry["response"]["status"], json!(200));
    let content: Value = serde_json::from_str(
        entry["response"]["content"]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert!(content.get("session").is_some());
}

#[test]
fn seed_examples_decode() {
    let examples = seed_examples();
    // The `TEST_SetClientLogLevel` body is cut off in the seed, so only its parameter entry
    // parses on its own: 8 examples.
    assert_eq!(examples.len(), 8, "{examples:#?}");

    // The ad-hoc group: request text, then the answer's id.
    assert!(
        examples[0]["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Computer Name equals")
    );
    assert_eq!(examples[1]["data"]["id"], json!(2543696));

    // Our issue_action body has every key Tanium's examples send, with the same values.
    let ours = requests::issue_action(&NewAction {
        name: "TestTargeting".to_owned(),
        action_group_id: Ref::Id(2543851),
        target_group: TargetGroupRef {
            id: Ref::Id(2543696),
            filter_flag: false,
        },
        package_id: Ref::Id(173205),
        parameters: vec![("$1".to_owned(), "TestTag".to_owned())],
        expire_seconds: 43200,
        distribute_seconds: 0,
        issue_seconds: Some(0),
        start_time: None,
        expiration_time: None,
    })
    .body
    .unwrap_or_default();
    let theirs = &examples[3];
    assert_eq!(ours["name"], theirs["name"]);
    assert_eq!(ours["package_spec"], theirs["package_spec"]);
    assert_eq!(ours["expire_seconds"], theirs["expire_seconds"]);
    assert_eq!(ours["target_group"]["id"], theirs["target_group"]["id"]);
    // The seed sends the action group id as a string; the id is the same number.
    assert_eq!(
        Node::root(&theirs["action_group"], "action_group")
            .req_u64("id")
            .ok(),
        Some(2543851)
    );
    assert_eq!(examples[2]["target_group"]["filter_flag"], json!(true));

    // A window travels under the names Tanium gives an action's times, in the same format
    // (RFC 3339 in UTC, whole seconds), and `expire_seconds` is its span.
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-02T19:00:00+01:00")
        .unwrap_or_else(|err| panic!("{err}"))
        .with_timezone(&chrono::Utc);
    let windowed = requests::issue_action(&NewAction {
        name: "TestTargeting".to_owned(),
        action_group_id: Ref::Id(2543851),
        target_group: TargetGroupRef {
            id: Ref::Id(2543696),
            filter_flag: false,
        },
        package_id: Ref::Id(173205),
        parameters: Vec::new(),
        expire_seconds: 1800,
        distribute_seconds: 0,
        issue_seconds: None,
        start_time: Some(runbook_tanium::action_time(start)),
        expiration_time: Some(runbook_tanium::action_time(
            start + chrono::Duration::seconds(1800),
        )),
    })
    .body
    .unwrap_or_default();
    for key in ["start_time", "expiration_time"] {
        let recorded = examples[4]["data"][key].as_str().unwrap_or_default();
        let sent = windowed[key].as_str().unwrap_or_default();
        assert_eq!(sent.len(), recorded.len(), "{key}: {sent} vs {recorded}");
        assert!(sent.ends_with('Z') && recorded.ends_with('Z'), "{key}");
        assert!(ours.get(key).is_none(), "{key} is sent only with a window");
    }
    assert_eq!(windowed["start_time"], json!("2026-12-02T18:00:00Z"));
    assert_eq!(windowed["expiration_time"], json!("2026-12-02T18:30:00Z"));

    // The created action: pending, with the 2001 null date as expiration.
    let action = Action::from_data(&examples[4]["data"]).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(action.id, 1362688);
    assert_eq!(action.status, ActionState::Pending);
    assert_eq!(action.saved_action_id, Some(134373));
    assert_eq!(action.expiration_time, None);
    assert_eq!(action.package_id, Some(234169));
    assert_eq!(action.target_group_id, Some(2543696));
    assert!(!action.stopped_flag);

    // The package with one numeric parameter in a JSON string.
    let package = Package::from_data(&examples[5]["data"]).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        (package.id, package.expire_seconds, package.verify),
        (15, 900, false)
    );
    assert_eq!(package.parameters.len(), 1);
    assert_eq!(package.parameters[0].label, "Log Level (0-99)");
    assert_eq!(
        package.parameters[0].kind,
        ParameterKind::Numeric {
            minimum: Some(0.0),
            maximum: Some(99.0),
            step_size: Some(1.0),
        }
    );
    let given = [("$1".to_owned(), "50".to_owned())];
    assert_eq!(
        parameters::resolve(&package.parameters, &given),
        Ok(vec![("$1".to_owned(), "50".to_owned())])
    );
    assert!(
        parameters::resolve(&package.parameters, &[("$1".to_owned(), "100".to_owned())]).is_err()
    );
    assert!(parameters::substitute_command(&package.command, &given).contains("/d 50 /f"));

    // Tanium's example sends the value as a number; we always send strings (docs/tanium-api.md).
    assert_eq!(examples[6], json!({"key": "$1", "value": 50}));

    // The result data: 103 of 100 reported, one Completed machine.
    let body = serde_json::to_vec(&examples[7]).unwrap_or_default();
    let results = parse_action_results(&body, false, 10).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        (results.mr_tested, results.estimated_total, results.passed),
        (103, 100, 96)
    );
    assert_eq!(results.reporting_percent, 100.0);
    assert_eq!(results.rows[0].computer_name, "SomeComputerName");
    assert_eq!(results.succeeded, 1);
}

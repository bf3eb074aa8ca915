//! The question-answer reader against recorded answers (`data/fixtures/`, whose result sets have
//! the shape of every `result_data` route), and properties over arbitrary cell texts.

use std::path::PathBuf;

use proptest::prelude::*;
use runbook_tanium::question_results::{QuestionReader, parse_question_results};
use runbook_tanium::results::CellText;
use serde_json::{Value, json};

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

#[test]
fn recorded_question_without_selects_reads_as_no_columns_and_no_rows() {
    let body = fixture_bytes("py_tanrestapi__response.json");
    let results = parse_question_results(&body, 1000).unwrap_or_else(|err| panic!("{err}"));
    assert!(results.columns.is_empty());
    assert!(!results.counted);
    assert!(results.rows.is_empty());
    assert_eq!((results.row_count, results.unavailable), (0, 0));
    assert_eq!(
        (results.mr_tested, results.estimated_total, results.passed),
        (57, 56, 57)
    );
}

#[test]
fn recorded_bare_result_set_reads_28_rows_with_counts() {
    let body = fixture_bytes("py_tanrestapi__result.json");
    let results = parse_question_results(&body, 1000).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        results.column_names(),
        ["Computer Name", "Action Statuses", "Count"]
    );
    assert_eq!((results.row_count, results.machines), (28, 28));
    assert_eq!(results.rows.len(), 28);
    assert!(!results.rows_truncated);
    assert_eq!(results.special_texts.total(), 0);
    assert_eq!(
        results.json_rows()[0],
        json!({"Computer Name": "Hyper-V-lab.ritalab1.local", "Action Statuses": "5529091:Completed.", "Count": 1})
    );
    let truncated = parse_question_results(&body, 5).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        (
            truncated.rows.len(),
            truncated.rows_truncated,
            truncated.row_count
        ),
        (5, true, 28)
    );
}

#[test]
fn recorded_complete_answer_without_rows_is_empty_with_columns() {
    let body = fixture_bytes("py_tanrestapi__results.json");
    let results = parse_question_results(&body, 1000).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(results.column_names().len(), 3);
    assert!(results.rows.is_empty());
    assert_eq!(
        (results.mr_tested, results.estimated_total, results.passed),
        (167, 167, 91)
    );
}

#[test]
fn recorded_enveloped_answer_is_read_inside_another_document() {
    let recorded: Value = serde_json::from_slice(&fixture_bytes(
        "demisto-content__Tanium_v2__test_data__action_results.json",
    ))
    .unwrap_or_else(|err| panic!("{err}"));
    let body = serde_json::to_vec(&recorded["action_raw_response"]).unwrap_or_default();
    let mut reader = QuestionReader::new(10);
    let page = reader.add_page(&body).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(page.rows, 1);
    let results = reader.finish();
    assert_eq!(
        results.json_rows(),
        [
            json!({"Computer Name": "EC2AMAZ-KGMRO60", "Action Statuses": "350385:Completed.", "Count": 1})
        ]
    );
}

/// A cell text: mostly special texts in their spellings (with case and spaces varied), texts
/// that look like them, and arbitrary text.
fn cell_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[no results]".to_owned()),
        Just(" [No Results] ".to_owned()),
        Just("[current results unavailable]".to_owned()),
        Just("[current result unavailable]".to_owned()),
        Just("[results currently unavailable]".to_owned()),
        Just("[Current Results Unavailable]".to_owned()),
        "TSE-Error:[ -~]{0,20}",
        "\\[[a-z ]{0,8}unavailable[a-z ]{0,8}\\]",
        "\\[?[a-zA-Z0-9 .:\\\\\"-]{0,12}\\]?",
        any::<String>(),
    ]
}

/// Rows of two sensors' cells (each zero to three texts) and a count.
fn rows() -> impl Strategy<Value = Vec<(Vec<String>, Vec<String>, u8)>> {
    let cell = || prop::collection::vec(cell_text(), 0..4);
    prop::collection::vec((cell(), cell(), 1u8..20), 0..40)
}

fn page(rows: &[(Vec<String>, Vec<String>, u8)]) -> Vec<u8> {
    let texts =
        |cell: &Vec<String>| -> Vec<Value> { cell.iter().map(|t| json!({"text": t})).collect() };
    let rows: Vec<Value> = rows
        .iter()
        .map(|(first, second, count)| {
            json!({"id": 1, "cid": 2, "data": [texts(first), texts(second), [{"text": count.to_string()}]]})
        })
        .collect();
    let body = json!({"data": {"result_sets": [{"row_count": rows.len(), "cache_id": "7",
        "columns": [{"name": "Computer Name"}, {"name": "Tags"}, {"hash": 0, "name": "Count"}],
        "rows": rows}]}});
    serde_json::to_vec(&body).unwrap_or_default()
}

fn is_special(text: &str) -> bool {
    !matches!(CellText::classify(text.into()), CellText::Value(_))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn special_texts_never_reach_the_rows(rows in rows(), max_rows in 0usize..50, page_size in 1usize..16) {
        let mut reader = QuestionReader::new(max_rows);
        for window in rows.chunks(page_size) {
            let info = reader.add_page(&page(window));
            prop_assert_eq!(info.ok().map(|info| info.rows), Some(window.len() as u64));
        }
        let results = reader.finish();
        for row in &results.rows {
            for cell in row.cells.iter() {
                for value in cell.values() {
                    prop_assert!(!is_special(value), "special text {:?} kept as data", value);
                }
            }
        }
        for row in results.json_rows() {
            let object = row.as_object().cloned().unwrap_or_default();
            prop_assert_eq!(object.len(), 3);
            for (name, value) in object.iter().filter(|(name, _)| name.as_str() != "Count") {
                let texts: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for text in texts {
                    prop_assert!(text.is_null() || text.as_str().is_some_and(|t| !is_special(t)), "{}: {}", name, text);
                }
            }
        }
        let specials = rows.iter().flat_map(|(a, b, _)| a.iter().chain(b)).filter(|t| is_special(t)).count();
        prop_assert_eq!(results.special_texts.total(), specials as u64);
        let data_rows: Vec<_> = rows
            .iter()
            .filter(|(a, b, _)| a.iter().chain(b).any(|t| !is_special(t)))
            .collect();
        prop_assert_eq!(results.row_count, data_rows.len() as u64);
        prop_assert_eq!(results.unavailable, (rows.len() - data_rows.len()) as u64);
        prop_assert_eq!(results.rows.len(), data_rows.len().min(max_rows));
        prop_assert_eq!(results.rows_truncated, data_rows.len() > max_rows);
        let machines: u64 = data_rows.iter().map(|(_, _, count)| u64::from(*count)).sum();
        prop_assert_eq!(results.machines, machines);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_question_results(&bytes, 10);
    }

    #[test]
    fn damaged_answers_never_panic(rows in rows(), cut in any::<prop::sample::Index>()) {
        let body = page(&rows);
        let _ = parse_question_results(&body[..cut.index(body.len() + 1)], 10);
    }
}

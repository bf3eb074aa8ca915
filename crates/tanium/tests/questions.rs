//! Questions against a scripted server answering in the shapes real servers send
//! (docs/tanium-api.md, ../shared/TANIUM.md sections 3.7, 4 and 7) and with the recorded
//! question answers of `tests/data/fixtures/`:
//!
//! - a question is asked in the hand-built form: each sensor read by name once, named by its
//!   hash (a parameterised one by `source_hash`, every parameter sent under `||key||` with the
//!   defaults filled in), the `from` clauses a structured group escaped as `target` escapes them;
//! - nothing is asked when a sensor is missing (all the missing ones named) or a parameter is
//!   unknown;
//! - a saved question by name or id gives its newest question;
//! - progress numbers are read leniently and kept raw (`mr_tested` above `estimated_total`);
//! - answers are read page by page with the first page's `cache_id`, every page counted, the
//!   first `max_rows` data rows kept; a transient 404 is asked again once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runbook_tanium::question_requests::{QuestionFilter, SensorChoice};
use runbook_tanium::targeting::{Clause, ClauseValue, Combine, NEVER, Operator};
use runbook_tanium::{Auth, ClientConfig, Error, RetryPolicy, TaniumClient, Tuning};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the scripted server received.
#[derive(Debug, Clone)]
struct Served {
    method: String,
    path: String,
    options: Option<Value>,
    body: Option<Value>,
}

type Script = dyn Fn(&Served) -> (u16, String) + Send + Sync;

/// A server answering each request with `script`, recording what it received.
async fn scripted(script: Arc<Script>) -> (String, Arc<Mutex<Vec<Served>>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let address = listener.local_addr().unwrap_or_else(|err| panic!("{err}"));
    let served = Arc::new(Mutex::new(Vec::new()));
    let log = served.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut stream).await else {
                    return;
                };
                log.lock().unwrap().push(request.clone());
                let (status, body) = script(&request);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{address}"), served)
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Served> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(n) if n > 0 => bytes.extend_from_slice(&buffer[..n]),
            _ => return None,
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut length = 0;
    let mut options = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "tanium-options" => options = serde_json::from_str(value.trim()).ok(),
            _ => {}
        }
    }
    while bytes.len() < head_end + length {
        match stream.read(&mut buffer).await {
            Ok(n) if n > 0 => bytes.extend_from_slice(&buffer[..n]),
            _ => return None,
        }
    }
    let body = serde_json::from_slice(&bytes[head_end..head_end + length]).ok();
    Some(Served {
        method,
        path,
        options,
        body,
    })
}

fn client(base_url: String, page_size: u64) -> TaniumClient {
    let mut config = ClientConfig::new(base_url, Auth::Token("token-test".into()));
    config.request_timeout = Duration::from_secs(10);
    config.retry = RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };
    let tuning = Tuning {
        page_size,
        question_poll_interval: Duration::from_millis(20),
        ..Tuning::default()
    };
    TaniumClient::with_tuning(config, tuning).unwrap_or_else(|err| panic!("{err}"))
}

fn must<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

fn data(value: Value) -> (u16, String) {
    (200, json!({ "data": value }).to_string())
}

fn not_found() -> (u16, String) {
    (
        404,
        r#"{"text":"404 Item Not Found: not found"}"#.to_owned(),
    )
}

fn fixture_text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `Folder Contents`, a sensor with two parameters whose keys are names (one with a default),
/// its definition a JSON string as servers send it, its hash a string as some clients see it.
fn folder_contents() -> Value {
    let definition = json!({
        "parameterType": "com.tanium.components.parameters::ParametersArray",
        "model": "com.tanium.components.parameters::ParametersArray",
        "parameters": [
            {"key": "folderPath", "label": "Folder Path", "defaultValue": "",
             "parameterType": "com.tanium.components.parameters::TextInputParameter",
             "model": "com.tanium.components.parameters::TextInputParameter",
             "maxChars": 0, "validationExpressions": [{"expression": "\\S", "flags": "", "helpString": "You must enter a value"}]},
            {"key": "numOutput", "label": "Max results", "defaultValue": "5",
             "parameterType": "com.tanium.components.parameters::NumericParameter",
             "model": "com.tanium.components.parameters::NumericParameter",
             "minimum": 1, "maximum": 50, "stepSize": 1, "snapInterval": 1},
        ],
    });
    json!({"id": 77, "name": "Folder Contents", "hash": "2736221093",
           "parameter_definition": definition.to_string(), "category": "File System"})
}

/// The sensors the scripted server knows, by name ignoring case (as Tanium compares names).
fn sensors(path: &str) -> Option<Value> {
    match path.to_lowercase().as_str() {
        "/api/v2/sensors/by-name/computer%20name" => Some(
            json!({"id": 1, "name": "Computer Name", "hash": 3409330187u64, "parameter_definition": ""}),
        ),
        // A by-name lookup answered as a one-item list, as some versions do.
        "/api/v2/sensors/by-name/custom%20tags" => Some(
            json!([{"id": 2, "name": "Custom Tags", "hash": 1092986182}, {"cache_id": 1, "page_row_count": 1}]),
        ),
        "/api/v2/sensors/by-name/folder%20contents" => Some(folder_contents()),
        _ => None,
    }
}

fn question_server(query_text: &'static str) -> Arc<Script> {
    Arc::new(move |request: &Served| {
        if let Some(sensor) = sensors(&request.path) {
            return data(sensor);
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/v2/questions") => data(
                json!({"id": 481524545454u64, "query_text": query_text, "expire_seconds": 600}),
            ),
            _ => not_found(),
        }
    })
}

fn clause(sensor: &str, op: Operator, value: ClauseValue) -> Clause {
    Clause {
        sensor: sensor.to_owned(),
        op,
        value,
    }
}

fn choice(name: &str, params: &[(&str, &str)]) -> SensorChoice {
    SensorChoice {
        name: name.to_owned(),
        params: params
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

#[tokio::test]
async fn a_question_is_asked_with_hashes_parameters_and_a_structured_filter() {
    let (url, served) = scripted(question_server("")).await;
    let client = client(url, 5000);
    let filter = QuestionFilter {
        combine: Combine::All,
        clauses: vec![
            clause(
                "Computer Name",
                Operator::StartsWith,
                ClauseValue::One("db.(1)".to_owned()),
            ),
            clause(
                "custom tags",
                Operator::NotEquals,
                ClauseValue::AnyOf(vec!["quarantined".to_owned(), "say \"hi\"".to_owned()]),
            ),
            clause("Custom Tags", Operator::Equals, ClauseValue::AnyOf(vec![])),
        ],
    };
    let asked = must(
        client
            .ask_question(
                &[
                    choice("Computer Name", &[]),
                    choice("Folder Contents", &[("||folderPath||", "C:\\a, b [x]")]),
                ],
                Some(&filter),
            )
            .await,
    );
    assert_eq!(asked.id, 481524545454);
    // The server sent no text: the console's form, the filter written as target writes it.
    assert_eq!(
        asked.text,
        concat!(
            r#"Get Computer Name and Folder Contents[C:\a, b [x],5] from all machines with "#,
            r#"Computer Name starts with "db\.\(1\)" and "#,
            r#"(custom tags not equals "quarantined" and custom tags not equals "say ""hi""") and "#,
            r#"Custom Tags matches "\b\B""#
        )
    );
    let served = served.lock().unwrap().clone();
    let paths: Vec<&str> = served.iter().map(|r| r.path.as_str()).collect();
    // Each sensor read once, names compared ignoring case; then the question.
    assert_eq!(
        paths,
        [
            "/api/v2/sensors/by-name/Computer%20Name",
            "/api/v2/sensors/by-name/Folder%20Contents",
            "/api/v2/sensors/by-name/custom%20tags",
            "/api/v2/questions",
        ]
    );
    let tags = json!({"name": "custom tags", "hash": 1092986182});
    let tags_exact = json!({"name": "Custom Tags", "hash": 1092986182});
    let name = json!({"name": "Computer Name", "hash": 3409330187u64});
    let filter = |sensor: &Value, operator: &str, value: &str, not_flag: bool| json!({"sensor": sensor, "operator": operator, "value": value, "not_flag": not_flag, "ignore_case_flag": true});
    assert_eq!(
        served[3].body,
        Some(json!({
            "selects": [
                {"sensor": {"name": "Computer Name", "hash": 3409330187u64}},
                {"sensor": {"name": "Folder Contents", "source_hash": 2736221093u64, "parameters": [
                    {"key": "||folderPath||", "value": "C:\\a, b [x]"},
                    {"key": "||numOutput||", "value": "5"},
                ]}},
            ],
            "expire_seconds": 600,
            "group": {
                "and_flag": true,
                "not_flag": false,
                "filters": [
                    filter(&name, "RegexMatch", "db\\.\\(1\\).*", false),
                    filter(&tags_exact, "RegexMatch", NEVER, false),
                ],
                "sub_groups": [{
                    "and_flag": true, "not_flag": false, "sub_groups": [],
                    "filters": [
                        filter(&tags, "Equal", "quarantined", true),
                        filter(&tags, "Equal", "say \"hi\"", true),
                    ],
                }],
            },
        }))
    );
}

#[tokio::test]
async fn the_servers_question_text_is_kept_when_it_sends_one() {
    let (url, _) = scripted(question_server(
        "Get Computer Name from all machines with Computer Name contains \"web\"",
    ))
    .await;
    let client = client(url, 5000);
    let asked = must(
        client
            .ask_question(&[choice("computer name", &[])], None)
            .await,
    );
    assert_eq!(
        asked.text,
        "Get Computer Name from all machines with Computer Name contains \"web\""
    );
}

#[tokio::test]
async fn nothing_is_asked_for_a_missing_sensor_or_a_wrong_parameter() {
    let (url, served) = scripted(question_server("")).await;
    let client = client(url, 5000);

    let missing = client
        .ask_question(
            &[choice("Computer Name", &[]), choice("No Such Sensor", &[])],
            Some(&QuestionFilter {
                combine: Combine::Any,
                clauses: vec![clause(
                    "Nor This One",
                    Operator::Equals,
                    ClauseValue::One("x".to_owned()),
                )],
            }),
        )
        .await;
    match missing {
        Err(error @ Error::NotFound { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with("sensor \"No Such Sensor\" was not found"),
                "{message}"
            );
            assert!(
                message.contains("sensor \"Nor This One\" was not found either"),
                "{message}"
            );
        }
        other => panic!("expected the missing sensors, got {other:?}"),
    }

    let wrong = client
        .ask_question(
            &[choice(
                "Folder Contents",
                &[("folder", "C:\\"), ("numOutput", "500")],
            )],
            None,
        )
        .await;
    match wrong {
        Err(Error::InvalidRequest(message)) => {
            assert!(
                message.contains("sensor \"Folder Contents\": unknown parameter \"folder\"; it takes folderPath (\"Folder Path\"), numOutput (\"Max results\")"),
                "{message}"
            );
        }
        other => panic!("expected the unknown parameter, got {other:?}"),
    }
    let out_of_range = client
        .ask_question(&[choice("Folder Contents", &[("numOutput", "500")])], None)
        .await;
    match out_of_range {
        Err(Error::InvalidRequest(message)) => {
            // Both problems at once: the value over the maximum, the required path left empty.
            assert!(message.contains("\"Max results\" (numOutput)"), "{message}");
            assert!(
                message.contains("\"Folder Path\" (folderPath)"),
                "{message}"
            );
        }
        other => panic!("expected the parameter problems, got {other:?}"),
    }
    let plain_with_parameter = client
        .ask_question(&[choice("Computer Name", &[("x", "1")])], None)
        .await;
    assert!(
        matches!(&plain_with_parameter, Err(Error::InvalidRequest(message)) if message.contains("it takes no parameters")),
        "{plain_with_parameter:?}"
    );
    let bad_clause = client
        .ask_question(
            &[choice("Computer Name", &[])],
            Some(&QuestionFilter {
                combine: Combine::All,
                clauses: vec![clause(
                    "Computer Name",
                    Operator::Equals,
                    ClauseValue::One("a\nb".to_owned()),
                )],
            }),
        )
        .await;
    assert!(
        matches!(&bad_clause, Err(Error::InvalidRequest(message)) if message.starts_with("from: clause 1")),
        "{bad_clause:?}"
    );
    assert!(
        served
            .lock()
            .unwrap()
            .iter()
            .all(|request| request.method == "GET"),
        "a question was asked"
    );
}

#[tokio::test]
async fn a_saved_question_gives_its_newest_question() {
    let script: Arc<Script> = Arc::new(|request: &Served| match request.path.as_str() {
        "/api/v2/saved_questions/by-name/Hosts%20With%20Unsigned%20Drivers%20%2F%20x64" => data(
            json!({"id": "195532", "name": "Hosts With Unsigned Drivers / x64",
                        "question": {"id": 6338700}, "most_recent_question_id": 6338702,
                        "query_text": "Get Unsigned Drivers from all machines"}),
        ),
        "/api/v2/saved_questions/195532" => data(json!([
            {"id": 195532, "name": "Hosts With Unsigned Drivers / x64", "question": {"id": 6338703}},
            {"cache_id": 5, "page_row_count": 1},
        ])),
        "/api/v2/saved_questions/42" => {
            data(json!({"id": 42, "name": "Never Asked", "question": {"id": 0}}))
        }
        _ => not_found(),
    });
    let (url, _) = scripted(script).await;
    let client = client(url, 5000);
    let by_name = must(
        client
            .saved_question_latest("Hosts With Unsigned Drivers / x64")
            .await,
    );
    assert_eq!(by_name.id, 6338702);
    assert_eq!(by_name.text, "Hosts With Unsigned Drivers / x64");
    let by_id = must(client.saved_question_latest(" 195532 ").await);
    assert_eq!(by_id.id, 6338703);
    let never = client.saved_question_latest("42").await;
    assert!(
        matches!(&never, Err(Error::InvalidRequest(message)) if message.contains("\"Never Asked\" (id 42) has no question yet")),
        "{never:?}"
    );
    let missing = client.saved_question_latest("Nothing Like It").await;
    assert!(
        matches!(&missing, Err(error @ Error::NotFound { .. }) if error.to_string().starts_with("saved question \"Nothing Like It\" was not found")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn progress_is_read_leniently_and_kept_raw() {
    let script: Arc<Script> = Arc::new(|request: &Served| match request.path.as_str() {
        "/api/v2/result_info/question/7" => data(json!({"result_infos": [
            {"id": 7, "question_id": 7, "tested": "168", "passed": 158, "mr_tested": "168",
             "mr_passed": 168, "estimated_total": 167.0, "row_count": 28}
        ]})),
        _ => not_found(),
    });
    let (url, _) = scripted(script).await;
    let client = client(url, 5000);
    let progress = must(client.question_progress(7).await);
    assert_eq!((progress.mr_tested, progress.estimated_total), (168, 167));
    assert!(matches!(
        client.question_progress(8).await,
        Err(Error::NotFound { .. })
    ));
}

/// A page of a question's answers, rows `start..end` of `rows` (names, and `None` for a row of
/// machines that have not answered), in the shape of the recorded answers.
fn answer_page(rows: &[Option<&str>], start: usize, count: usize) -> Value {
    let window: Vec<Value> = rows
        .iter()
        .skip(start)
        .take(count)
        .enumerate()
        .map(|(index, row)| {
            let (name, tags) = match row {
                Some(name) => (
                    json!([{"text": name}]),
                    json!([{"text": "a"}, {"text": "[no results]"}, {"text": "b"}]),
                ),
                None => (
                    json!([{"text": "[current results unavailable]"}]),
                    json!([{"text": "[current results unavailable]"}]),
                ),
            };
            json!({"id": 2147483648u64 + (start + index) as u64, "cid": 4267031002u64,
                   "data": [name, tags, [{"text": if row.is_some() { "2" } else { "7" }}]]})
        })
        .collect();
    json!({"now": "2024/05/01 12:00:00 GMT-0000", "max_available_age": "", "result_sets": [{
        "id": 9, "question_id": 9, "tested": 40, "passed": 40, "mr_tested": 41, "mr_passed": 41,
        "estimated_total": 40,
        "columns": [{"hash": 3409330187u64, "name": "Computer Name", "type": 1},
                    {"hash": 1092986182, "name": "Custom Tags", "type": 1},
                    {"hash": 0, "name": "Count", "type": 3}],
        "row_count": window.len(), "filtered_row_count": rows.len(), "item_count": window.len(),
        "rows": window, "cache_id": "3891494157"}]})
}

#[tokio::test]
async fn answers_are_read_page_by_page_with_the_first_pages_cache() {
    const ROWS: [Option<&str>; 5] = [Some("web-01"), None, Some("web-02"), Some("db-01"), None];
    let script: Arc<Script> = Arc::new(|request: &Served| {
        if request.path != "/api/v2/result_data/question/9" {
            return not_found();
        }
        let options = request.options.clone().unwrap_or_default();
        let start = options["row_start"].as_u64().unwrap_or(0) as usize;
        let count = options["row_count"].as_u64().unwrap_or(100) as usize;
        data(answer_page(&ROWS, start, count))
    });
    let (url, served) = scripted(script).await;
    let client = client(url, 2);
    let answer = must(client.question_answer(9, 2).await);
    assert_eq!(
        answer.column_names(),
        ["Computer Name", "Custom Tags", "Count"]
    );
    assert_eq!(
        answer.json_rows(),
        [
            json!({"Computer Name": "web-01", "Custom Tags": ["a", "b"], "Count": 2}),
            json!({"Computer Name": "web-02", "Custom Tags": ["a", "b"], "Count": 2}),
        ]
    );
    assert_eq!(answer.row_count, 3);
    assert!(answer.rows_truncated);
    assert_eq!(answer.unavailable, 2);
    assert_eq!((answer.mr_tested, answer.estimated_total), (41, 40));
    let options: Vec<Value> = served
        .lock()
        .unwrap()
        .iter()
        .map(|request| request.options.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        options,
        [
            json!({"row_start": 0, "row_count": 2}),
            json!({"row_start": 2, "row_count": 2, "cache_id": 3891494157u64}),
            json!({"row_start": 4, "row_count": 2, "cache_id": 3891494157u64}),
        ]
    );
}

#[tokio::test]
async fn a_server_that_ignores_paging_is_read_once() {
    const ROWS: [Option<&str>; 3] = [Some("a"), Some("b"), Some("c")];
    let script: Arc<Script> = Arc::new(|_: &Served| data(answer_page(&ROWS, 0, 100)));
    let (url, served) = scripted(script).await;
    let client = client(url, 2);
    let answer = must(client.question_answer(9, 10).await);
    assert_eq!(answer.row_count, 3);
    assert_eq!(served.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_transient_404_is_asked_again_once() {
    let script: Arc<Script> = Arc::new({
        let calls = Mutex::new(0u32);
        move |request: &Served| {
            let mut calls = calls.lock().unwrap();
            *calls += 1;
            match (request.path.as_str(), *calls) {
                ("/api/v2/result_data/question/9", 1) => (
                    404,
                    r#"{"text":"404 Item Not Found: REST Object Not Found Exception: SensorNotFound"}"#
                        .to_owned(),
                ),
                ("/api/v2/result_data/question/9", _) => data(answer_page(&[Some("a")], 0, 10)),
                _ => not_found(),
            }
        }
    });
    let (url, served) = scripted(script).await;
    let client = client(url, 5000);
    let answer = must(client.question_answer(9, 10).await);
    assert_eq!(answer.row_count, 1);
    assert_eq!(served.lock().unwrap().len(), 2);
    // A question that is not there is reported after the one retry.
    let before = served.lock().unwrap().len();
    assert!(matches!(
        client.question_answer(10, 10).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(served.lock().unwrap().len() - before, 2);
}

#[tokio::test]
async fn recorded_question_answers_are_read() {
    let script: Arc<Script> = Arc::new(|request: &Served| match request.path.as_str() {
        // Tanium Cloud, a question without selects: no columns and no rows keys at all.
        "/api/v2/result_data/question/14639814" => {
            (200, fixture_text("py_tanrestapi__response.json"))
        }
        // The result set of a question (an action's history question), sent bare.
        "/api/v2/result_data/question/24085821" => {
            (200, fixture_text("py_tanrestapi__result.json"))
        }
        // A complete question whose rows have not arrived yet.
        "/api/v2/result_data/question/23674922" => {
            (200, fixture_text("py_tanrestapi__results.json"))
        }
        _ => not_found(),
    });
    let (url, served) = scripted(script).await;
    let client = client(url, 5000);

    let no_selects = must(client.question_answer(14639814, 100).await);
    assert!(no_selects.column_names().is_empty());
    assert_eq!((no_selects.row_count, no_selects.unavailable), (0, 0));
    assert_eq!((no_selects.mr_tested, no_selects.estimated_total), (57, 56));

    let recorded = must(client.question_answer(24085821, 10).await);
    assert_eq!(recorded.row_count, 28);
    assert_eq!(recorded.rows.len(), 10);
    assert!(recorded.rows_truncated);
    assert_eq!((recorded.mr_tested, recorded.estimated_total), (168, 167));
    let first = &recorded.json_rows()[0];
    assert_eq!(first["Action Statuses"], json!("5529091:Completed."));

    let empty = must(client.question_answer(23674922, 10).await);
    assert_eq!((empty.row_count, empty.rows.len()), (0, 0));
    assert_eq!((empty.mr_tested, empty.estimated_total), (167, 167));
    // Each answer was one short page.
    assert_eq!(served.lock().unwrap().len(), 3);
}

mod plans {
    use std::collections::BTreeMap;

    use runbook_engine::{
        ClauseValue, Combine, Operator, PlanValue, Platform, QuestionFilter, QuestionRequest,
        SensorSelect, TargetClause,
    };
    use runbook_tanium::TaniumPlatform;
    use serde_json::json;

    fn sensors_request(value: &str) -> QuestionRequest {
        QuestionRequest::Sensors {
            get: vec![
                SensorSelect {
                    sensor: "Computer Name".to_owned(),
                    params: BTreeMap::new(),
                },
                SensorSelect {
                    sensor: "File Exists".to_owned(),
                    params: BTreeMap::from([("path".to_owned(), "C:\\evil.exe".to_owned())]),
                },
            ],
            from: Some(QuestionFilter {
                combine: Combine::All,
                clauses: vec![TargetClause {
                    sensor: "computer name".to_owned(),
                    op: Operator::Contains,
                    value: ClauseValue::AnyOf(vec![value.to_owned(), "b".to_owned()]),
                }],
            }),
        }
    }

    #[test]
    fn a_plan_shows_the_sensors_read_the_question_and_its_reads() {
        let planned =
            TaniumPlatform::offline().plan_question(&PlanValue::Known(sensors_request("a.b")));
        let lines: Vec<String> = planned
            .iter()
            .map(|request| format!("{} {}", request.method, request.path))
            .collect();
        assert_eq!(
            lines,
            [
                "GET /api/v2/sensors/by-name/Computer%20Name",
                "GET /api/v2/sensors/by-name/File%20Exists",
                "POST /api/v2/questions",
                "GET /api/v2/result_info/question/<question.id>",
                "GET /api/v2/result_data/question/<question.id>",
            ]
        );
        let body = planned[2].body.clone().unwrap_or_default();
        assert_eq!(
            body["selects"][1],
            json!({"sensor": {"name": "File Exists", "source_hash": "<File Exists.hash>",
                   "parameters": [{"key": "||path||", "value": "C:\\evil.exe"}]}})
        );
        assert_eq!(
            body["group"]["sub_groups"][0]["filters"][0]["value"],
            json!(".*a\\.b.*")
        );
        assert_eq!(
            body["group"]["sub_groups"][0]["filters"][0]["sensor"]["hash"],
            json!("<computer name.hash>")
        );
    }

    #[test]
    fn a_plan_never_shows_a_question_without_the_filter_it_could_not_write() {
        let planned =
            TaniumPlatform::offline().plan_question(&PlanValue::Known(sensors_request("a\nb")));
        let ask = &planned[2];
        assert_eq!(ask.path, "/api/v2/questions");
        assert!(
            ask.body
                .as_ref()
                .is_some_and(|body| body.get("group").is_none())
        );
        let note = ask.note.clone().unwrap_or_default();
        assert!(
            note.starts_with("not sent: the from clauses cannot be written (clause 1:"),
            "{note}"
        );
    }

    #[test]
    fn a_plan_of_a_saved_question_reads_it_then_its_newest_question() {
        let platform = TaniumPlatform::offline();
        let by_id = platform.plan_question(&PlanValue::Known(QuestionRequest::Saved {
            name_or_id: "195532".to_owned(),
        }));
        assert_eq!(by_id[0].path, "/api/v2/saved_questions/195532");
        let unknown = platform.plan_question(&PlanValue::Placeholder("inputs.saved".to_owned()));
        assert_eq!(
            unknown[0].path,
            "/api/v2/saved_questions/by-name/%3Cinputs.saved%3E"
        );
        assert_eq!(unknown.len(), 3);
    }
}

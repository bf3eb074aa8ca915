//! Every answer has the field names and JSON types of the recorded responses in
//! `tests/fixtures/` (recorded answers, and the answers printed in Tanium's actions API
//! documentation; `tests/fixtures/SOURCES.md` says where each comes from).

use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `expected` is in `actual` with the same JSON type, recursively; array items
/// of `actual` are compared with the first item of `expected`. Returns the differences.
fn shape_differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    if kind(expected) != kind(actual) {
        out.push(format!(
            "{path}: expected {}, got {} ({actual})",
            kind(expected),
            kind(actual)
        ));
        return;
    }
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, expected_value) in expected {
                match actual.get(key) {
                    Some(actual_value) => shape_differences(
                        expected_value,
                        actual_value,
                        &format!("{path}.{key}"),
                        out,
                    ),
                    None => out.push(format!("{path}.{key}: missing")),
                }
            }
        }
        (Value::Array(expected), Value::Array(actual)) => {
            if let Some(first) = expected.first() {
                for (index, item) in actual.iter().enumerate() {
                    shape_differences(first, item, &format!("{path}[{index}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn assert_shape(expected: &Value, actual: &Value) {
    let mut differences = Vec::new();
    shape_differences(expected, actual, "$", &mut differences);
    assert!(
        differences.is_empty(),
        "shape differences:\n{}\nactual: {actual:#}",
        differences.join("\n")
    );
}

#[test]
fn the_shape_check_can_fail() {
    let mut differences = Vec::new();
    shape_differences(
        &json!({"a": 1, "b": [{"c": "x"}]}),
        &json!({"a": "1", "b": [{"d": 1}]}),
        "$",
        &mut differences,
    );
    assert_eq!(differences.len(), 2, "{differences:?}");
}

struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    async fn start(config: SimConfig) -> (RunningSim, Session) {
        let sim = Simulator::start(config).await.unwrap();
        let session = Session {
            http: reqwest::Client::new(),
            base: format!("{}/api/v2", sim.base_url()),
            token: sim.api_token(),
        };
        (sim, session)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("session", &self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("session", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "POST {path}");
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn group_by_id_matches_the_recorded_all_computers() {
    let (sim, session) = Session::start(SimConfig::default()).await;
    let recorded = fixture(
        "demisto-content__TaniumThreatResponseV2__test_data__get_computer_group_name_raw_response.json",
    );
    let ours = session.get("/groups/1").await;
    assert_shape(&recorded, &ours);
    assert_eq!(ours["data"]["text"], " All Computers");
    let by_name = session.get("/groups/by-name/All%20Computers").await;
    assert_eq!(by_name, ours);
    sim.shutdown().await;
}

#[tokio::test]
async fn created_group_and_package_match_the_seed() {
    let (sim, session) = Session::start(SimConfig::default()).await;
    let created = session
        .post("/groups", json!({ "text": "Computer Name equals DESKTOP-IV7QEMU and IP Address equals \"fe80::fd89:64e2:73b:3074\" and IP Address equals 10.100.26.1 and Operating System equals Windows 10 Enterprise " }))
        .await;
    assert_shape(&fixture("seed__create_group_response.json"), &created);

    let recorded = fixture("seed__package_by_name.json");
    let ours = session
        .get("/packages/by-name/Set%20Windows%20Tanium%20Client%20Logging%20Level")
        .await;
    assert_shape(&recorded, &ours);
    // The definition is the seed's string, byte for byte.
    assert_eq!(
        ours["data"]["parameter_definition"],
        recorded["data"]["parameter_definition"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn created_action_matches_the_seed_including_pending_placeholders() {
    let config = SimConfig {
        approval_required: true,
        ..SimConfig::default()
    };
    let (sim, session) = Session::start(config).await;
    let group = session
        .post(
            "/groups",
            json!({ "text": "Computer Name equals WIN-DC01" }),
        )
        .await;
    let action = session
        .post(
            "/actions",
            json!({
                // Ids as strings and a numeric parameter value, exactly as the seed sends them.
                "action_group": { "id": session.get("/action_groups/by-name/All%20Computers").await["data"]["id"].to_string() },
                "name": "TestTargeting",
                "target_group": { "id": group["data"]["id"], "management_rights_flag": false, "not_flag": false },
                "package_spec": { "source_id": 15, "parameters": [{ "key": "$1", "value": 50 }] },
                "expire_seconds": 43200,
            }),
        )
        .await;
    let recorded = fixture("seed__create_action_response.json");
    assert_shape(&recorded, &action);
    let data = &action["data"];
    assert_eq!(data["status"], recorded["data"]["status"]);
    assert_eq!(data["start_time"], recorded["data"]["start_time"]);
    assert_eq!(data["expiration_time"], recorded["data"]["expiration_time"]);
    assert_eq!(data["package_spec"]["parameters"][0]["value"], "50");
    assert_eq!(data["package_spec"]["source_id"], 15);
    assert_ne!(data["package_spec"]["id"], 15);
    let id = data["id"].as_u64().unwrap();
    let read = session.get(&format!("/actions/{id}")).await;
    assert_shape(&recorded, &read);
    let saved = session
        .get(&format!("/saved_actions/{}", data["saved_action"]["id"]))
        .await;
    assert_eq!(saved["data"]["approved_flag"], false);
    assert_eq!(saved["data"]["last_action"]["start_time"], "Never");
    assert_eq!(saved["data"]["status"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn action_result_data_matches_every_recorded_result_set() {
    let config = SimConfig {
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    };
    let (sim, session) = Session::start(config).await;
    let all = session.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
    let action = session
        .post("/actions", json!({ "name": "shape", "action_group": { "id": all }, "package_spec": { "source_id": 243 } }))
        .await;
    let id = action["data"]["id"].as_u64().unwrap();

    tokio::time::sleep(Duration::from_millis(60)).await;
    let later = session.get(&format!("/result_data/action/{id}")).await;
    let recorded = fixture("demisto-content__Tanium_v2__test_data__action_results.json");
    // Compared on result_sets: that file's data-level `"id": "350385"` is absent from the
    // seed's answer of the same endpoint, so it looks like the integration's own addition.
    assert_shape(
        &recorded["action_raw_response"]["data"]["result_sets"],
        &later["data"]["result_sets"],
    );
    assert_shape(&fixture("seed__result_data_action.json"), &later);
    assert_shape(
        &fixture("py_tanrestapi__result.json"),
        &later["data"]["result_sets"][0],
    );
    let set = &later["data"]["result_sets"][0];
    assert!(set["row_count"].as_u64().unwrap() > 0);
    assert_eq!(set["rows"][0]["data"][2][0]["text"], "1");
    assert!(set["cache_id"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn first_action_poll_is_a_complete_question_without_rows() {
    // At ten sim seconds per real second no machine has picked the action up yet.
    let config = SimConfig {
        time_scale: 10.0,
        ..SimConfig::default()
    };
    let (sim, session) = Session::start(config).await;
    let all = session.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
    let action = session
        .post("/actions", json!({ "name": "early", "action_group": { "id": all }, "package_spec": { "source_id": 243 } }))
        .await;
    let id = action["data"]["id"].as_u64().unwrap();
    let early = session.get(&format!("/result_data/action/{id}")).await;
    let early_set = &early["data"]["result_sets"][0];
    assert_shape(&fixture("py_tanrestapi__results.json"), early_set);
    assert_eq!(early_set["row_count"], 0);
    assert_eq!(early_set["rows"], json!([]));
    assert!(
        early_set["mr_tested"].as_u64().unwrap() >= early_set["estimated_total"].as_u64().unwrap()
    );
    assert!(early_set["passed"].as_u64().unwrap() > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn question_without_selects_has_no_columns_or_rows() {
    let config = SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    };
    let (sim, session) = Session::start(config).await;
    let question = session
        .post("/questions", json!({ "context_group": { "id": 3 } }))
        .await;
    let id = question["data"]["id"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let result = session.get(&format!("/result_data/question/{id}")).await;
    let recorded = fixture("py_tanrestapi__response.json");
    assert_shape(&recorded, &result);
    let set = &result["data"]["result_sets"][0];
    assert!(
        set.get("columns").is_none() && set.get("rows").is_none(),
        "{set}"
    );
    let info = session.get(&format!("/result_info/question/{id}")).await;
    assert_shape(
        &recorded["data"]["result_sets"][0],
        &info["data"]["result_infos"][0],
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn collections_end_with_the_recorded_cache_object() {
    let (sim, session) = Session::start(SimConfig::default()).await;
    let recorded =
        fixture("demisto-content__TaniumThreatResponseV2__test_data__get_system_status.json");
    let recorded_cache = recorded["data"].as_array().unwrap().last().unwrap().clone();
    for path in [
        "/packages",
        "/groups",
        "/action_groups",
        "/actions",
        "/saved_action_approvals",
    ] {
        let list = session.get(path).await;
        let items = list["data"].as_array().unwrap();
        let cache = items.last().unwrap();
        assert_shape(&recorded_cache, cache);
        assert!(cache.get("id").is_none(), "{path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn system_status_matches_the_recorded_answer_and_tells_offline_clients_apart() {
    let config = SimConfig::default();
    let fleet = config.fleet.clone();
    let (sim, session) = Session::start(config).await;
    let recorded =
        fixture("demisto-content__TaniumThreatResponseV2__test_data__get_system_status.json");
    let recorded = recorded["data"].as_array().unwrap();
    let answer = session.get("/system_status").await;
    let items = answer["data"].as_array().unwrap();
    // Every endpoint is a registered client, then the statistics and cache-info objects.
    assert_eq!(items.len(), fleet.len() + 2);
    let (clients, trailers) = items.split_at(fleet.len());
    for client in clients {
        assert_shape(&recorded[0], client);
    }
    assert_shape(&recorded[recorded.len() - 2], &trailers[0]);
    assert_shape(&recorded[recorded.len() - 1], &trailers[1]);
    assert_eq!(trailers[1]["cache_row_count"], fleet.len());
    // Online clients registered within the last 90 seconds, offline ones an hour ago or more.
    let newest = clients.iter().map(registered).max().unwrap();
    for (client, endpoint) in clients.iter().zip(&fleet) {
        assert_eq!(client["host_name"], endpoint.computer_name.as_str());
        let behind = newest - registered(client);
        if endpoint.online {
            assert!(behind < chrono::Duration::seconds(90), "{client}");
        } else {
            assert!(behind > chrono::Duration::minutes(55), "{client}");
        }
    }
    // Paged like any collection.
    let page = session.get("/system_status?row_start=30&row_count=4").await;
    let page = page["data"].as_array().unwrap();
    assert_eq!(page.len(), 4 + 2);
    assert_eq!(page[0]["host_name"], fleet[30].computer_name.as_str());
    sim.shutdown().await;
}

fn registered(client: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(client["last_registration"].as_str().unwrap())
        .unwrap()
        .into()
}

#[tokio::test]
async fn parse_question_gives_one_candidate_with_the_xsoar_group_shape() {
    let (sim, session) = Session::start(SimConfig::default()).await;
    let text = "Get Computer Name from all machines with Computer Name contains \"equals\"";
    let parsed = session
        .post("/parse_question", json!({ "text": text }))
        .await;
    let candidates = parsed["data"].as_array().unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0]["question_text"], text);
    assert!(candidates[0]["sensor_references"][0]["start_char"].is_string());
    // The group XSOAR's test recorded for this text.
    let recorded = json!({ "and_flag": true, "sub_groups": [], "filters": [{
        "operator": "RegexMatch", "value": ".*equals.*", "value_type": "String", "ignore_case_flag": true,
        "sensor": { "hash": 3409330187u64, "id": 3, "name": "Computer Name" } }] });
    assert_shape(&recorded, &candidates[0]["group"]);
    let filter = &candidates[0]["group"]["filters"][0];
    assert_eq!(filter["value"], ".*equals.*");
    assert_eq!(filter["sensor"], recorded["filters"][0]["sensor"]);
    sim.shutdown().await;
}

/// The result set of `path` once every online endpoint has answered.
async fn settled(session: &Session, path: &str) -> Value {
    for _ in 0..500 {
        let answer = session.get(path).await;
        let set = &answer["data"]["result_sets"][0];
        if set["mr_tested"] == set["estimated_total"]
            && !answer.to_string().contains("[current results unavailable]")
        {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never settled");
}

#[tokio::test]
async fn question_answers_match_the_recorded_result_sets() {
    let config = SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    };
    let (sim, session) = Session::start(config).await;
    let question = session
        .post(
            "/questions",
            json!({ "query_text": "Get Computer Name and Running Processes from all machines" }),
        )
        .await;
    let id = question["data"]["id"].as_u64().unwrap();
    let answer = settled(&session, &format!("/result_data/question/{id}")).await;
    // The envelope and result set of the seed's result data, and of a recorded result set.
    assert_shape(&fixture("seed__result_data_action.json"), &answer);
    let set = &answer["data"]["result_sets"][0];
    assert_shape(&fixture("py_tanrestapi__result.json"), set);
    assert!(set["cache_id"].is_string());
    assert_eq!(
        set["columns"][2],
        json!({ "hash": 0, "name": "Count", "type": 3 })
    );
    // Several values in one cell, each a {"text"} object like the single ones.
    let cells = set["rows"][0]["data"][1].as_array().unwrap();
    assert!(cells.len() > 3, "{cells:?}");
    let info = session.get(&format!("/result_info/question/{id}")).await;
    assert_shape(
        &fixture("py_tanrestapi__response.json")["data"]["result_sets"][0],
        &info["data"]["result_infos"][0],
    );
    // A saved question answers in the same shape.
    let saved = settled(&session, "/result_data/saved_question/1005").await;
    assert_shape(&fixture("seed__result_data_action.json"), &saved);
    assert_shape(
        &fixture("py_tanrestapi__result.json"),
        &saved["data"]["result_sets"][0],
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn counts_only_action_results_keep_the_recorded_shape() {
    let config = SimConfig {
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    };
    let (sim, session) = Session::start(config).await;
    let all = session.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
    let action = session
        .post("/actions", json!({ "name": "counted", "action_group": { "id": all }, "package_spec": { "source_id": 243 } }))
        .await;
    let id = action["data"]["id"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let counts = session
        .get(&format!("/result_data/action/{id}?row_counts_only_flag=1"))
        .await;
    assert_shape(&fixture("seed__result_data_action.json"), &counts);
    let set = &counts["data"]["result_sets"][0];
    let seen: u64 = set["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row["data"][1][0]["text"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(seen, set["filtered_row_count_machines"].as_u64().unwrap());
    assert!(seen > 0);
    sim.shutdown().await;
}

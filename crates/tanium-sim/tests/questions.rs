//! Sensors, questions and saved questions over real HTTP: the forms a question is asked in,
//! answers arriving over simulated time (offline endpoints never), several values in a cell,
//! identical answers grouped with a `Count`, special texts, and paging with a cache id.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn start(config: SimConfig) -> (RunningSim, Client) {
        let sim = Simulator::start(config).await.unwrap();
        let client = Client {
            http: reqwest::Client::new(),
            base: format!("{}/api/v2", sim.base_url()),
            token: sim.api_token(),
        };
        (sim, client)
    }

    async fn get_with(&self, path: &str, options: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("session", &self.token);
        if let Some(options) = options {
            request = request.header("tanium-options", options.to_string());
        }
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_with(path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body["data"].clone()
    }

    async fn post_status(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("session", &self.token)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ask(&self, body: Value) -> u64 {
        let (status, answer) = self.post_status("/questions", body.clone()).await;
        assert_eq!(status, 200, "POST /questions {body}: {answer}");
        answer["data"]["id"].as_u64().expect("a question id")
    }

    /// The question's result set once every online endpoint has answered and no cell is
    /// `[current results unavailable]` any more.
    async fn settled(&self, path: &str) -> Value {
        let started = Instant::now();
        loop {
            let set = self.get(path).await["result_sets"][0].clone();
            let complete = set["mr_tested"] == set["estimated_total"];
            if complete && !set.to_string().contains("[current results unavailable]") {
                return set;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "never settled: {set}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn fast() -> SimConfig {
    SimConfig {
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    }
}

fn online(config: &SimConfig) -> usize {
    config.fleet.iter().filter(|e| e.online).count()
}

/// The texts of one cell.
fn texts(cell: &Value) -> Vec<&str> {
    cell.as_array()
        .expect("a cell is a list")
        .iter()
        .map(|text| text["text"].as_str().expect("a text"))
        .collect()
}

/// Rows as (first text of each column but Count, Count).
fn rows(set: &Value) -> Vec<(Vec<Vec<String>>, u64)> {
    set["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let cells = row["data"].as_array().unwrap();
            let (count, data) = cells.split_last().unwrap();
            let data = data
                .iter()
                .map(|cell| texts(cell).into_iter().map(str::to_owned).collect())
                .collect();
            (data, texts(count)[0].parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn sensors_are_found_by_name_and_id_and_unknown_ones_are_404() {
    let (sim, client) = Client::start(fast()).await;
    let sensor = client.get("/sensors/by-name/File%20Exists").await;
    assert_eq!(sensor["name"], "File Exists");
    assert!(sensor["hash"].as_u64().unwrap() > 1 << 31);
    let definition: Value =
        serde_json::from_str(sensor["parameter_definition"].as_str().unwrap()).unwrap();
    assert_eq!(definition["parameters"][0]["key"], "path");
    let by_id = client.get(&format!("/sensors/{}", sensor["id"])).await;
    assert_eq!(by_id, sensor);
    let computer_name = client.get("/sensors/by-name/computer%20name").await;
    assert_eq!(computer_name["hash"], 3_409_330_187u64);
    assert_eq!(computer_name["parameter_definition"], "");
    for path in ["/sensors/by-name/Shoe%20Size", "/sensors/424242"] {
        let (status, body) = client.get_with(path, None).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("404 Item Not Found"),
            "{body}"
        );
    }
    let list = client.get("/sensors").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        14 + 1,
        "the sensors, then the cache object"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn every_form_of_a_question_is_answered_alike() {
    let (sim, client) = Client::start(fast()).await;
    let text = "Get Computer Name and File Exists[\"C:\\Users\\Public\\evil.exe\"] from all machines with OS Platform equals Windows";
    let by_text = client.ask(json!({ "query_text": text })).await;
    let parsed = client
        .post_status("/parse_question", json!({ "text": text }))
        .await
        .1["data"][0]
        .clone();
    assert_eq!(
        parsed["selects"][1]["sensor"]["parameters"][0]["key"],
        "||path||"
    );
    let mut candidate = parsed.clone();
    candidate["expire_seconds"] = json!(600);
    let by_candidate = client.ask(candidate).await;
    let file_exists = client.get("/sensors/by-name/File%20Exists").await;
    let by_hand = client
        .ask(json!({
            "selects": [
                { "sensor": { "name": "Computer Name" } },
                { "sensor": { "source_hash": file_exists["hash"],
                  "parameters": [{ "key": "||path||", "value": "C:\\Users\\Public\\evil.exe" }] } },
            ],
            "group": { "and_flag": true, "filters": [{
                "operator": "Equal", "value": "Windows", "not_flag": false,
                "sensor": { "name": "OS Platform" } }], "sub_groups": [] },
            "expire_seconds": 600,
        }))
        .await;
    let mut answers = Vec::new();
    for id in [by_text, by_candidate, by_hand] {
        let set = client.settled(&format!("/result_data/question/{id}")).await;
        assert_eq!(set["columns"][1]["name"], "File Exists");
        let mut found: Vec<(String, String)> = rows(&set)
            .into_iter()
            .map(|(cells, _)| (cells[0][0].clone(), cells[1][0].clone()))
            .collect();
        found.sort();
        answers.push(found);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    let present: Vec<&str> = answers[0]
        .iter()
        .filter(|(_, answer)| answer.starts_with("File Exists: "))
        .map(|(name, _)| name.as_str())
        .collect();
    // WIN-LAPTOP-0051 has the file too, but it is offline.
    assert_eq!(
        present,
        vec!["WIN-APP01", "WIN-LAPTOP-0042", "WIN-LAPTOP-0057"]
    );
    assert!(
        answers[0]
            .iter()
            .all(|(_, a)| a.starts_with("File Exists: ") || a == "File does not exist")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_sensors_and_parameters_are_refused() {
    let (sim, client) = Client::start(fast()).await;
    for body in [
        json!({ "query_text": "Get Shoe Size from all machines" }),
        json!({ "selects": [{ "sensor": { "name": "Shoe Size" } }] }),
        json!({ "selects": [{ "sensor": { "hash": 12345 } }] }),
        json!({ "selects": [{ "sensor": { "name": "File Exists",
            "parameters": [{ "key": "||folder||", "value": "x" }] } }] }),
        json!({ "query_text": "Get Computer Name from all machines with Shoe Size equals 9" }),
    ] {
        let (status, answer) = client.post_status("/questions", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let text = answer["text"].as_str().unwrap();
        assert!(text.starts_with("400 Bad Request"), "{text}");
        assert!(
            text.contains("Shoe Size") || text.contains("12345") || text.contains("||path||"),
            "{text}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn answers_arrive_over_time_and_offline_endpoints_never_answer() {
    let config = SimConfig {
        time_scale: 4.0,
        ..SimConfig::default()
    };
    let expected = online(&config);
    let offline: HashSet<String> = config
        .fleet
        .iter()
        .filter(|e| !e.online)
        .map(|e| e.computer_name.clone())
        .collect();
    let (sim, client) = Client::start(config).await;
    let id = client
        .ask(json!({ "query_text": "Get Computer Name from all machines" }))
        .await;
    let mut seen = Vec::new();
    let started = Instant::now();
    loop {
        let info =
            client.get(&format!("/result_info/question/{id}")).await["result_infos"][0].clone();
        assert_eq!(info["estimated_total"], expected);
        let tested = info["mr_tested"].as_u64().unwrap();
        seen.push(tested);
        if tested as usize == expected || started.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
    assert!(
        seen[0] < expected as u64,
        "the first look comes before everyone: {seen:?}"
    );
    assert_eq!(*seen.last().unwrap(), expected as u64, "{seen:?}");
    // Much later, still nobody offline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let set = client.get(&format!("/result_data/question/{id}")).await["result_sets"][0].clone();
    assert_eq!(set["mr_tested"], expected);
    let names: HashSet<String> = rows(&set)
        .into_iter()
        .map(|(c, _)| c[0][0].clone())
        .collect();
    assert_eq!(names.len(), expected);
    assert!(names.is_disjoint(&offline), "{names:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn several_values_share_a_cell_and_identical_answers_a_row() {
    let (sim, client) = Client::start(fast()).await;
    let id = client
        .ask(json!({ "query_text": "Get Computer Name and Running Processes and Custom Tags from all machines" }))
        .await;
    let set = client.settled(&format!("/result_data/question/{id}")).await;
    let by_name: BTreeMap<String, Vec<Vec<String>>> = rows(&set)
        .into_iter()
        .map(|(cells, _)| (cells[0][0].clone(), cells))
        .collect();
    let laptop = &by_name["WIN-LAPTOP-0042"];
    assert!(laptop[1].len() > 5, "{laptop:?}");
    assert!(laptop[1].iter().any(|p| p == "evil.exe"));
    assert_eq!(
        by_name["WIN-DC01"][2],
        vec!["Production", "DomainController"]
    );
    // Untagged, and a slow sensor that fails on one endpoint.
    assert_eq!(by_name["WIN-LAPTOP-0039"][2], vec!["[no results]"]);
    let error = &by_name["WIN-LAPTOP-0072"][1];
    assert!(
        error.len() == 1 && error[0].starts_with("TSE-Error: "),
        "{error:?}"
    );

    let id = client
        .ask(json!({ "query_text": "Get Tanium Client Logging Level from all machines" }))
        .await;
    let set = client.settled(&format!("/result_data/question/{id}")).await;
    assert_eq!(set["columns"][0]["type"], 9);
    let levels: BTreeMap<String, u64> = rows(&set)
        .into_iter()
        .map(|(cells, count)| (cells[0][0].clone(), count))
        .collect();
    assert_eq!(levels.len(), 3, "{levels:?}");
    assert_eq!(levels["1"], 29);
    assert_eq!(
        levels.values().sum::<u64>(),
        set["passed"].as_u64().unwrap()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_sensors_are_unavailable_for_a_while_on_some_endpoints() {
    let config = SimConfig {
        time_scale: 20.0,
        ..SimConfig::with_generated_fleet(200)
    };
    let (sim, client) = Client::start(config).await;
    let id = client
        .ask(json!({ "query_text": "Get Computer Name and Installed Applications from all machines" }))
        .await;
    let path = format!("/result_data/question/{id}");
    let mut unavailable_seen = 0;
    let started = Instant::now();
    loop {
        let set = client.get(&path).await["result_sets"][0].clone();
        let unavailable = rows(&set)
            .iter()
            .filter(|(cells, _)| cells[1] == vec!["[current results unavailable]"])
            .count();
        unavailable_seen = unavailable_seen.max(unavailable);
        let done = set["mr_tested"] == set["estimated_total"] && unavailable == 0;
        if done && unavailable_seen > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "saw {unavailable_seen} unavailable cells, at last {set}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn pages_of_a_large_answer_read_one_snapshot_through_the_cache_id() {
    let config = SimConfig {
        time_scale: 20.0,
        ..SimConfig::with_generated_fleet(1000)
    };
    let (sim, client) = Client::start(config).await;
    let id = client
        .ask(json!({ "query_text": "Get Computer Name and Running Processes from all machines" }))
        .await;
    // Read while answers are still arriving: the cache holds the first page's time.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let path = format!("/result_data/question/{id}");
    let (_, first) = client
        .get_with(&path, Some(json!({ "row_start": 0, "row_count": 40 })))
        .await;
    let set = &first["data"]["result_sets"][0];
    let cache_id = set["cache_id"]
        .as_str()
        .expect("a cache id as a string")
        .to_owned();
    let total = set["filtered_row_count"].as_u64().unwrap() as usize;
    let passed = set["passed"].clone();
    assert!(total > 40, "{total}");
    let mut names: Vec<String> = rows(set)
        .into_iter()
        .map(|(c, _)| c[0][0].clone())
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut start = 40;
    while start < total {
        let options = json!({ "row_start": start, "row_count": 40, "cache_id": cache_id.parse::<u64>().unwrap() });
        let (status, page) = client.get_with(&path, Some(options)).await;
        assert_eq!(status, 200);
        let page_set = &page["data"]["result_sets"][0];
        assert_eq!(page_set["cache_id"], cache_id.as_str());
        assert_eq!(page_set["filtered_row_count"], total, "the same snapshot");
        assert_eq!(page_set["passed"], passed);
        names.extend(rows(page_set).into_iter().map(|(c, _)| c[0][0].clone()));
        start += 40;
    }
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), total, "every row once");
    // Without the cache id, a read sees the later time.
    let (_, fresh) = client.get_with(&path, None).await;
    let fresh = &fresh["data"]["result_sets"][0];
    assert_ne!(fresh["cache_id"], cache_id.as_str());
    assert!(fresh["mr_tested"].as_u64() >= set["mr_tested"].as_u64());
    sim.shutdown().await;
}

#[tokio::test]
async fn saved_questions_answer_their_latest_issue() {
    let (sim, client) = Client::start(fast()).await;
    let saved = client
        .get("/saved_questions/by-name/Hosts%20Running%20Evil")
        .await;
    assert_eq!(saved["id"], 1001);
    assert_eq!(
        client.get("/saved_questions/1001").await["name"],
        "Hosts Running Evil"
    );
    for path in [
        "/saved_questions/by-name/Nope",
        "/saved_questions/77",
        "/result_data/saved_question/77",
    ] {
        assert_eq!(client.get_with(path, None).await.0, 404, "{path}");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let set = client.settled("/result_data/saved_question/1001").await;
    assert_eq!(set["saved_question_id"], 1001);
    let names: Vec<String> = rows(&set)
        .into_iter()
        .map(|(c, _)| c[0][0].clone())
        .collect();
    assert_eq!(names, vec!["WIN-APP01", "WIN-LAPTOP-0042"]);
    assert_eq!(set["columns"][1]["name"], "IP Address");
    let info = client.get("/result_info/saved_question/1001").await["result_infos"][0].clone();
    assert_eq!(info["passed"], 2);
    // The question behind it is a question like any other.
    let question_id = set["question_id"].as_u64().unwrap();
    let question = client.get(&format!("/questions/{question_id}")).await;
    assert_eq!(question["saved_question"]["id"], 1001);
    let again = client
        .settled(&format!("/result_data/question/{question_id}"))
        .await;
    assert_eq!(rows(&again).len(), 2);
    let list = client.get("/saved_questions").await;
    assert_eq!(list.as_array().unwrap().len(), 5 + 1);
    sim.shutdown().await;
}

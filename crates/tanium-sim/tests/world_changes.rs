//! Completed actions change the fleet: the tagging packages add and remove Custom Tags and
//! the logging package sets the Tanium Client Logging Level, so that a question asked
//! afterwards (and an action targeting by tag) sees it, also after a restart on a state file.
//! And `row_counts_only_flag` on action results.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(sim: &RunningSim) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("{}/api/v2", sim.base_url()),
            token: sim.api_token(),
        }
    }

    async fn get_with(&self, path: &str, options: Option<Value>) -> Value {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("session", &self.token);
        if let Some(options) = options {
            request = request.header("tanium-options", options.to_string());
        }
        let response = request.send().await.expect("an answer");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json::<Value>().await.unwrap()["data"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        self.get_with(path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("session", &self.token)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "POST {path}: {body}");
        body["data"].clone()
    }

    /// Issues `package` with `$1 = value` on the machines the text matches; returns its id.
    async fn issue(&self, package: u64, value: &str, text: &str) -> u64 {
        let group = self.post("/groups", json!({ "text": text })).await["id"].clone();
        let all = self.get("/action_groups/by-name/All%20Computers").await["id"].clone();
        let action = self
            .post(
                "/actions",
                json!({ "name": format!("{package} {value}"), "action_group": { "id": all },
                        "target_group": { "id": group },
                        "package_spec": { "source_id": package, "parameters": [{ "key": "$1", "value": value }] } }),
            )
            .await;
        action["id"].as_u64().unwrap()
    }

    /// Waits until `expected` machines report the action `Completed`.
    async fn completed(&self, action: u64, expected: usize) {
        let started = Instant::now();
        loop {
            let set =
                self.get(&format!("/result_data/action/{action}")).await["result_sets"][0].clone();
            let done = set["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|row| {
                    row["data"][1][0]["text"]
                        .as_str()
                        .unwrap()
                        .ends_with(":Completed.")
                })
                .count();
            if done == expected {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{set}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The answers of a question once all have come in, as (cells) per row.
    async fn answers(&self, id: u64) -> Vec<Vec<Vec<String>>> {
        let started = Instant::now();
        loop {
            let set =
                self.get(&format!("/result_data/question/{id}")).await["result_sets"][0].clone();
            let text = set.to_string();
            if set["mr_tested"] == set["estimated_total"]
                && !text.contains("[current results unavailable]")
            {
                return set["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|row| {
                        row["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|cell| {
                                cell.as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|t| t["text"].as_str().unwrap().to_owned())
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{set}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn ask(&self, text: &str) -> u64 {
        self.post("/questions", json!({ "query_text": text })).await["id"]
            .as_u64()
            .unwrap()
    }

    /// The tags of WIN-DC01 as a question asked now sees them.
    async fn dc01_tags(&self) -> Vec<String> {
        let id = self
            .ask("Get Custom Tags from all machines with Computer Name equals WIN-DC01")
            .await;
        self.answers(id).await[0][0].clone()
    }
}

fn fast() -> SimConfig {
    SimConfig {
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    }
}

const ADD_TAGS: u64 = 173_205;
const REMOVE_TAGS: u64 = 173_206;
const LOGGING: u64 = 15;

#[tokio::test]
async fn a_tag_added_by_an_action_shows_in_later_questions_and_targets() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim);
    assert_eq!(
        client.dc01_tags().await,
        vec!["Production", "DomainController"]
    );
    let before = client
        .ask("Get Custom Tags from all machines with Computer Name equals WIN-DC01")
        .await;
    let action = client
        .issue(ADD_TAGS, "IR-suspect", "Computer Name equals WIN-DC01")
        .await;
    client.completed(action, 1).await;
    assert_eq!(
        client.dc01_tags().await,
        vec!["Production", "DomainController", "IR-suspect"]
    );
    // A question asked before the action keeps the answers of its time.
    assert_eq!(
        client.answers(before).await[0][0],
        vec!["Production", "DomainController"]
    );
    // Targeting by the new tag finds the host: questions and actions alike.
    let tagged = client
        .ask("Get Computer Name from all machines with Custom Tags equals IR-suspect")
        .await;
    assert_eq!(
        client.answers(tagged).await,
        vec![vec![vec!["WIN-DC01".to_owned()], vec!["1".to_owned()]]]
    );
    let follow_up = client
        .issue(REMOVE_TAGS, "production", "Custom Tags equals IR-suspect")
        .await;
    let issued = sim.inspect().actions;
    let targeted = &issued
        .iter()
        .find(|a| a.id == follow_up)
        .unwrap()
        .targeted_computer_names;
    assert_eq!(targeted, &vec!["WIN-DC01".to_owned()]);
    client.completed(follow_up, 1).await;
    assert_eq!(
        client.dc01_tags().await,
        vec!["DomainController", "IR-suspect"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_logging_package_sets_the_logging_level() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim);
    let action = client
        .issue(LOGGING, "41", "Computer Name starts with web-0")
        .await;
    client.completed(action, 3).await;
    let id = client
        .ask("Get Computer Name and Tanium Client Logging Level from all machines with Computer Name starts with web-0")
        .await;
    let answers = client.answers(id).await;
    assert_eq!(answers.len(), 3);
    assert!(
        answers.iter().all(|row| row[1] == vec!["41"]),
        "{answers:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_or_unfinished_action_changes_nothing() {
    let config = SimConfig {
        failure_share: 1.0,
        ..fast()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim);
    let action = client
        .issue(ADD_TAGS, "Never", "Computer Name equals WIN-DC01")
        .await;
    let started = Instant::now();
    loop {
        let set =
            client.get(&format!("/result_data/action/{action}")).await["result_sets"][0].clone();
        if set.to_string().contains(":Failed.") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{set}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        client.dc01_tags().await,
        vec!["Production", "DomainController"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn row_counts_only_collates_action_results_by_status() {
    let config = fast();
    let windows = config
        .fleet
        .iter()
        .filter(|e| e.online && e.os_platform == "Windows")
        .count();
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim);
    let action = client
        .issue(ADD_TAGS, "Counted", "OS Platform equals Windows")
        .await;
    client.completed(action, windows).await;
    let path = format!("/result_data/action/{action}");
    let by_header = client
        .get_with(&path, Some(json!({ "row_counts_only_flag": 1 })))
        .await["result_sets"][0]
        .clone();
    let by_query =
        client.get(&format!("{path}?row_counts_only_flag=1")).await["result_sets"][0].clone();
    for set in [&by_header, &by_query] {
        let columns: Vec<&str> = set["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, vec!["Action Statuses", "Count"]);
        let rows = set["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{set}");
        assert_eq!(
            rows[0]["data"][0][0]["text"],
            format!("{action}:Completed.")
        );
        assert_eq!(rows[0]["data"][1][0]["text"], windows.to_string());
    }
    let full = client.get(&path).await["result_sets"][0].clone();
    assert_eq!(full["rows"].as_array().unwrap().len(), windows);
    sim.shutdown().await;
}

async fn start_with_state(path: &Path) -> RunningSim {
    Simulator::start_with_state(fast(), SocketAddr::from(([127, 0, 0, 1], 0)), path)
        .await
        .expect("the simulator starts with its state file")
}

#[tokio::test]
async fn changes_and_questions_survive_a_restart_on_a_state_file() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("sim-state.json");
    let sim = start_with_state(&path).await;
    let client = Client::new(&sim);
    let action = client
        .issue(ADD_TAGS, "Kept", "Computer Name equals WIN-DC01")
        .await;
    client.completed(action, 1).await;
    let question = client
        .post(
            "/questions",
            json!({ "selects": [
                { "sensor": { "name": "Computer Name" } },
                { "sensor": { "name": "File Exists",
                  "parameters": [{ "key": "||path||", "value": "C:\\Users\\Public\\evil.exe" }] } },
            ] }),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let answered = client.answers(question).await;
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["version"], 2);
    assert_eq!(
        file["state"]["questions"][0]["selects"][1],
        json!({ "sensor": "File Exists", "params": ["C:\\Users\\Public\\evil.exe"] })
    );
    drop(client);
    sim.shutdown().await;

    let sim = start_with_state(&path).await;
    let client = Client::new(&sim);
    assert!(client.dc01_tags().await.contains(&"Kept".to_owned()));
    assert_eq!(client.answers(question).await, answered);
    sim.shutdown().await;
}

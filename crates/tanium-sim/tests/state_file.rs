//! A simulator started with a state file, over real HTTP: every change is in the file before
//! its answer leaves, and a simulator started again with the file goes on where the first one
//! was (same ids, approvals, stops, sessions and groups; actions keep progressing).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

fn config() -> SimConfig {
    SimConfig {
        approval_required: true,
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    }
}

async fn start(path: &Path) -> RunningSim {
    Simulator::start_with_state(config(), SocketAddr::from(([127, 0, 0, 1], 0)), path)
        .await
        .expect("the simulator starts with its state file")
}

async fn call(sim: &RunningSim, session: &str, method: &str, path: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v2{path}", sim.base_url());
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&body),
    };
    let response = request
        .header("session", session)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{method} {path}: {body}");
    body["data"].clone()
}

/// The state file as JSON, as it is on disk now.
fn on_disk(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("the state file")).expect("JSON")
}

fn saved_action(file: &Value, id: u64) -> &Value {
    file["state"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|action| action["id"] == id)
        .unwrap_or_else(|| panic!("action {id} is not in the file: {file}"))
}

#[tokio::test]
async fn a_restarted_simulator_goes_on_where_the_first_one_was() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("sim-state.json");
    let sim = start(&path).await;
    assert!(!sim.state().unwrap().restored);
    let token = sim.api_token();
    let approver = sim.approver_token();
    let (user, password) = sim.credentials();
    let session = call(
        &sim,
        "",
        "POST",
        "/session/login",
        json!({ "username": user, "password": password }),
    )
    .await["session"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &sim,
        &token,
        "POST",
        "/groups",
        json!({ "name": "Restart Web", "text": "Computer Name starts with web" }),
    )
    .await;
    let issue = |name: &str| {
        json!({
            "name": name,
            "action_group": { "name": "All Computers" },
            "target_group": { "text": "Computer Name starts with WIN-DC" },
            "package_spec": { "source_id": 243 },
        })
    };
    let first = call(&sim, &session, "POST", "/actions", issue("first")).await;
    let id = first["id"].as_u64().unwrap();
    // In the file before the answer arrived.
    assert_eq!(saved_action(&on_disk(&path), id)["name"], "first");
    let saved_id = first["saved_action"]["id"].as_u64().unwrap();
    call(
        &sim,
        &approver,
        "POST",
        "/saved_action_approvals",
        json!({ "id": saved_id, "approved_flag": 1 }),
    )
    .await;
    assert!(saved_action(&on_disk(&path), id)["approved_at"].is_number());
    let second = call(&sim, &token, "POST", "/actions", issue("second")).await;
    let second_id = second["id"].as_u64().unwrap();
    call(
        &sim,
        &token,
        "POST",
        "/action_stops",
        json!({ "action": { "id": second_id } }),
    )
    .await;
    assert!(saved_action(&on_disk(&path), second_id)["stopped_at"].is_number());
    let before = call(&sim, &token, "GET", &format!("/actions/{id}"), json!(null)).await;
    sim.shutdown().await;

    let sim = start(&path).await;
    let status = sim.state().unwrap();
    assert!(status.restored);
    assert_eq!(status.actions, 2);
    // The login session of the first simulator still works.
    let after = call(
        &sim,
        &session,
        "GET",
        &format!("/actions/{id}"),
        json!(null),
    )
    .await;
    for key in [
        "name",
        "creation_time",
        "target_group",
        "saved_action",
        "approver",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    let stopped = call(
        &sim,
        &token,
        "GET",
        &format!("/actions/{second_id}"),
        json!(null),
    )
    .await;
    assert_eq!(stopped["status"], "Stopped");
    let group = call(
        &sim,
        &token,
        "GET",
        "/groups/by-name/Restart%20Web",
        json!(null),
    )
    .await;
    assert_eq!(group["text"], " Computer Name starts with web");
    // Ids go on from where they were.
    let third = call(&sim, &token, "POST", "/actions", issue("third")).await;
    assert_eq!(third["id"].as_u64().unwrap(), second_id + 1);
    assert_eq!(sim.inspect().actions.len(), 3);
    // The approved action keeps progressing on the restored clock until it completes.
    let mut rows = Vec::new();
    for _ in 0..400 {
        let data = call(
            &sim,
            &token,
            "GET",
            &format!("/result_data/action/{id}"),
            json!(null),
        )
        .await;
        rows = data["result_sets"][0]["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let done = |row: &Value| {
            row["data"][1][0]["text"]
                .as_str()
                .is_some_and(|text| text.ends_with(":Completed."))
        };
        if rows.len() == 2 && rows.iter().all(done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rows.len(), 2, "WIN-DC01 and WIN-DC02 report: {rows:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_change_that_cannot_be_written_is_answered_500_saying_why() {
    let folder = tempfile::tempdir().unwrap();
    let state = folder.path().join("gone");
    std::fs::create_dir(&state).unwrap();
    let path = state.join("sim-state.json");
    let sim = start(&path).await;
    std::fs::remove_dir_all(&state).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v2/groups", sim.base_url()))
        .header("session", sim.api_token())
        .json(&json!({ "name": "Lost", "text": "Computer Name equals x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let body: Value = response.json().await.unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("cannot write the simulator state file") && text.contains("sim-state.json"),
        "{text}"
    );
    // Reads need no write.
    let read = reqwest::Client::new()
        .get(format!("{}/api/v2/packages", sim.base_url()))
        .header("session", sim.api_token())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    sim.shutdown().await;
}

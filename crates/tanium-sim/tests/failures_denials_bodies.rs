//! Endpoints that fail by name, approvals the simulated approver denies, and the request
//! bodies the inspector keeps, over real HTTP.

use std::time::Duration;

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Client {
    fn new(sim: &RunningSim, session: String) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("{}/api/v2", sim.base_url()),
            session,
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("session", &self.session)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("session", &self.session)
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status().as_u16(), 200, "POST {path}");
        response.json().await.expect("JSON")
    }

    async fn issue(&self, name: &str) -> (u64, Value) {
        let all = self.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
        let body = json!({
            "name": name,
            "action_group": { "id": all },
            "package_spec": { "source_id": 243 },
        });
        let answer = self.post("/actions", body).await;
        let id = answer["data"]["id"].as_u64().expect("action id");
        (id, answer["data"].clone())
    }

    /// (computer name, status) of every machine that reported.
    async fn rows(&self, action_id: u64) -> Vec<(String, String)> {
        let body = self.get(&format!("/result_data/action/{action_id}")).await;
        body["data"]["result_sets"][0]["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                let cell = |column: usize| {
                    row["data"][column][0]["text"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                };
                (cell(0), cell(1))
            })
            .collect()
    }

    async fn action(&self, id: u64) -> Value {
        self.get(&format!("/actions/{id}")).await["data"].clone()
    }
}

fn fast() -> SimConfig {
    SimConfig {
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn an_endpoint_named_failing_ends_failed_and_the_others_complete() {
    let mut config = fast();
    let online: Vec<String> = config
        .fleet
        .iter()
        .filter(|endpoint| endpoint.online)
        .map(|endpoint| endpoint.computer_name.clone())
        .collect();
    let failing = online[1].clone();
    config.failing_endpoints = vec![failing.to_ascii_lowercase()];
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, _) = client.issue("fail one").await;
    let mut rows = Vec::new();
    for _ in 0..600 {
        rows = client.rows(id).await;
        let done = rows
            .iter()
            .all(|(_, status)| status.ends_with(":Completed.") || status.ends_with(":Failed."));
        if rows.len() == online.len() && done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(rows.len(), online.len(), "{rows:?}");
    for (name, status) in &rows {
        let expected = if *name == failing {
            "Failed"
        } else {
            "Completed"
        };
        assert_eq!(*status, format!("{id}:{expected}."), "{name}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_approval_not_given_in_time_is_denied_and_reads_back_stopped() {
    let config = SimConfig {
        approval_required: true,
        auto_deny_after: Some(Duration::from_secs(200)),
        ..fast()
    };
    let sim = Simulator::start(config).await.unwrap();
    let issuer = Client::new(&sim, sim.api_token());
    let approver = Client::new(&sim, sim.approver_token());
    let (id, created) = issuer.issue("denied").await;
    assert_eq!(created["status"], "Pending");
    assert_eq!(created["stopped_flag"], false);
    let saved_id = created["saved_action"]["id"].as_u64().unwrap();
    let mut action = Value::Null;
    for _ in 0..500 {
        action = issuer.action(id).await;
        if action["status"] == "Stopped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(action["status"], "Stopped", "{action}");
    assert_eq!(action["stopped_flag"], true);
    assert_eq!(action["approver"]["id"], 0);
    let saved = issuer.get(&format!("/saved_actions/{saved_id}")).await;
    assert_eq!(saved["data"]["approved_flag"], false);
    let pending = issuer.get("/saved_action_approvals").await;
    assert!(
        !pending["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["id"] == saved_id),
        "{pending}"
    );
    // Too late: an approval now does not count, and nothing ever runs.
    let late = approver
        .post(
            "/saved_action_approvals",
            json!({ "id": saved_id, "approved_flag": 1 }),
        )
        .await;
    assert_eq!(late["data"]["approved_flag"], false);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(issuer.action(id).await["status"], "Stopped");
    assert!(issuer.rows(id).await.is_empty());
    let inspected = &sim.inspect().actions[0];
    assert!(!inspected.approved);
    assert!(inspected.stopped);
    assert_eq!(inspected.status, "Stopped");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_approval_before_the_denial_runs_the_action() {
    let config = SimConfig {
        approval_required: true,
        auto_deny_after: Some(Duration::from_secs(200)),
        ..fast()
    };
    let sim = Simulator::start(config).await.unwrap();
    let issuer = Client::new(&sim, sim.api_token());
    let approver = Client::new(&sim, sim.approver_token());
    let (id, created) = issuer.issue("approved in time").await;
    let saved_id = created["saved_action"]["id"].as_u64().unwrap();
    let approval = approver
        .post(
            "/saved_action_approvals",
            json!({ "id": saved_id, "approved_flag": 1 }),
        )
        .await;
    assert_eq!(approval["data"]["approved_flag"], true);
    // Past the deadline: still approved, not stopped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let action = issuer.action(id).await;
    assert_ne!(action["status"], "Stopped", "{action}");
    assert_eq!(action["stopped_flag"], false);
    assert!(!issuer.rows(id).await.is_empty());
    assert!(sim.inspect().actions[0].approved);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_inspector_keeps_the_bodies_of_requests_but_gets() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, created) = client.issue("with a body").await;
    // The handler got the body whole.
    assert_eq!(created["name"], "with a body");
    let not_json = client
        .http
        .post(format!("{}/parse_question", client.base))
        .header("session", &client.session)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);
    client
        .post("/action_stops", json!({ "action": { "id": id } }))
        .await;
    let bodies = sim.inspect().bodies;
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[0].method, "POST");
    assert_eq!(bodies[0].path, "/api/v2/actions");
    assert_eq!(bodies[0].body["name"], "with a body");
    assert_eq!(bodies[0].body["package_spec"], json!({ "source_id": 243 }));
    assert!(bodies[0].body["action_group"]["id"].is_u64());
    assert_eq!(bodies[1].path, "/api/v2/parse_question");
    assert_eq!(bodies[1].body, Value::Null);
    assert_eq!(bodies[2].path, "/api/v2/action_stops");
    assert_eq!(bodies[2].body, json!({ "action": { "id": id } }));
    // Keyed as the request counts are.
    let inspector = sim.inspect();
    for body in &inspector.bodies {
        assert!(inspector.request_count(&body.method, &body.path) >= 1);
    }
    sim.shutdown().await;
}

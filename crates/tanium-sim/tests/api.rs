//! End-to-end behaviour of the simulator over real HTTP on loopback.

use std::time::Duration;

use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};
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

    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, None).await
    }

    async fn get_with(&self, path: &str, options: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("session", &self.session);
        if let Some(options) = options {
            request = request.header("tanium-options", options.to_string());
        }
        let response = request.send().await.expect("request reaches the simulator");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("session", &self.session)
            .json(&body)
            .send()
            .await
            .expect("request reaches the simulator");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn fast() -> SimConfig {
    SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> (RunningSim, Client) {
    let sim = Simulator::start(config).await.expect("simulator starts");
    let client = Client::new(&sim, sim.api_token());
    (sim, client)
}

async fn create_group(client: &Client, text: &str) -> u64 {
    let (status, body) = client.post("/groups", json!({ "text": text })).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["id"].as_u64().expect("group id")
}

async fn issue(client: &Client, package_id: u64, target_group: u64, parameters: Value) -> Value {
    let (status, body) = client
        .post(
            "/actions",
            json!({
                "name": "test action",
                "action_group": { "id": action_group_id(client, "All Computers").await },
                "target_group": { "id": target_group },
                "package_spec": { "source_id": package_id, "parameters": parameters },
                "expire_seconds": 3600,
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn action_group_id(client: &Client, name: &str) -> u64 {
    let (status, body) = client
        .get(&format!(
            "/action_groups/by-name/{}",
            name.replace(' ', "%20")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["id"].as_u64().expect("action group id")
}

fn statuses(result: &Value) -> Vec<String> {
    result["data"]["result_sets"][0]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row["data"][1][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn package_by_name_is_url_decoded_and_definition_is_a_string() {
    let (sim, client) = start(fast()).await;
    let (status, body) = client
        .get("/packages/by-name/Set%20Windows%20Tanium%20Client%20Logging%20Level")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["id"], 15);
    let definition = body["data"]["parameter_definition"]
        .as_str()
        .expect("a JSON string");
    let parsed: Value = serde_json::from_str(definition).unwrap();
    assert_eq!(parsed["parameters"][0]["label"], "Log Level (0-99)");
    let (status, body) = client.get("/packages/by-name/No%20Such%20Package").await;
    assert_eq!(status, 404);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("404 Item Not Found"),
        "{body}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn groups_from_text_select_the_real_machines() {
    let (sim, client) = start(fast()).await;
    let dotted = create_group(&client, "Computer Name contains \"\\.\"").await;
    let created = sim.inspect().groups;
    let group = created.iter().find(|g| g.id == dotted).unwrap();
    assert!(!group.computer_names.is_empty());
    assert!(
        group.computer_names.iter().all(|name| name.contains('.')),
        "{group:?}"
    );

    // Tanium's rewrite is not escaped: "." is a regex and reaches every machine.
    let everything = create_group(&client, "Computer Name contains \".\"").await;
    let fleet_size = SimConfig::default().fleet.len();
    let created = sim.inspect().groups;
    assert_eq!(
        created
            .iter()
            .find(|g| g.id == everything)
            .unwrap()
            .computer_names
            .len(),
        fleet_size
    );

    let (status, body) = client
        .post(
            "/groups",
            json!({ "text": "Computer Name equals \"unterminated" }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("400 Bad Request: "),
        "{body}"
    );
    assert!(
        body["text"].as_str().unwrap().contains("unterminated"),
        "{body}"
    );

    let (status, body) = client
        .post("/groups", json!({ "text": "Favourite Colour equals blue" }))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["text"].as_str().unwrap().contains("Favourite Colour"),
        "{body}"
    );

    let (status, body) = client.get(&format!("/groups/{dotted}")).await;
    assert_eq!(status, 200);
    assert!(body["data"]["text"].as_str().unwrap().starts_with(' '));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_action_runs_to_final_statuses_and_is_inspectable() {
    let (sim, client) = start(SimConfig {
        failure_share: 0.0,
        ..fast()
    })
    .await;
    let group = create_group(&client, "OS Platform equals Linux").await;
    let action = issue(
        &client,
        173_205,
        group,
        json!([{ "key": "$1", "value": "Quarantined" }]),
    )
    .await;
    let id = action["id"].as_u64().unwrap();
    assert_eq!(action["status"], "Active");
    assert!(action["saved_action"]["id"].as_u64().unwrap() > 0);

    let inspected = sim.inspect();
    assert_eq!(inspected.actions.len(), 1);
    let issued = &inspected.actions[0];
    assert_eq!(
        issued.parameters,
        vec![("$1".to_owned(), "Quarantined".to_owned())]
    );
    assert!(!issued.targeted_computer_names.is_empty());
    assert!(
        issued
            .targeted_computer_names
            .iter()
            .all(|n| !n.starts_with("WIN") && !n.starts_with("mac"))
    );
    let online_linux = SimConfig::default()
        .fleet
        .iter()
        .filter(|e| e.os_platform == "Linux" && e.online)
        .count();

    let mut last = Vec::new();
    for _ in 0..100 {
        let (status, body) = client.get(&format!("/result_data/action/{id}")).await;
        assert_eq!(status, 200);
        last = statuses(&body);
        if last.len() == online_linux && last.iter().all(|s| s.ends_with(":Completed.")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last.len(), online_linux, "{last:?}");
    assert!(
        last.iter().all(|s| *s == format!("{id}:Completed.")),
        "{last:?}"
    );
    assert_eq!(sim.inspect().request_count("POST", "/api/v2/actions"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_distinguishes_tokens_and_sessions() {
    let (sim, client) = start(fast()).await;
    let anonymous = Client::new(&sim, String::new());
    assert_eq!(anonymous.get("/packages/15").await.0, 401);
    let bad_token = Client::new(&sim, "token-0000".to_owned());
    assert_eq!(bad_token.get("/packages/15").await.0, 401);
    let stale_session = Client::new(&sim, "1-99-abcdef".to_owned());
    assert_eq!(stale_session.get("/packages/15").await.0, 403);

    let (username, password) = sim.credentials();
    let (status, body) = client
        .post(
            "/session/login",
            json!({ "username": username, "password": password }),
        )
        .await;
    assert_eq!(status, 200);
    let session = body["data"]["session"].as_str().unwrap().to_owned();
    assert!(session.starts_with("1-"));
    let logged_in = Client::new(&sim, session.clone());
    assert_eq!(logged_in.get("/packages/15").await.0, 200);
    let (status, body) = logged_in
        .post("/session/validate", json!({ "session": session }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["session"], session.as_str());

    sim.set_faults(Faults {
        refuse_token: true,
        ..Faults::default()
    });
    assert_eq!(client.get("/packages/15").await.0, 401);
    assert_eq!(logged_in.get("/packages/15").await.0, 200);
    sim.shutdown().await;
}

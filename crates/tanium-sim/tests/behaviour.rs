//! Behaviour over (scaled) time, approval, paging, questions and faults, over real HTTP.

use std::collections::HashSet;
use std::time::{Duration, Instant};

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

    async fn get_with(&self, path: &str, options: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("session", &self.session);
        if let Some(options) = options {
            request = request.header("tanium-options", options.to_string());
        }
        let response = request.send().await.expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_with(path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post_status(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("session", &self.session)
            .json(&body)
            .send()
            .await
            .expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post_status(path, body).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }

    async fn issue(&self, body: Value) -> (u64, Value) {
        let mut body = body;
        if body.get("action_group").is_none() {
            let all =
                self.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
            body["action_group"] = json!({ "id": all });
        }
        let answer = self.post("/actions", body).await;
        (
            answer["data"]["id"].as_u64().expect("action id"),
            answer["data"].clone(),
        )
    }

    async fn statuses(&self, action_id: u64) -> Vec<String> {
        let body = self.get(&format!("/result_data/action/{action_id}")).await;
        body["data"]["result_sets"][0]["rows"]
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

    /// Polls until every status satisfies `done` and there are `expected` rows.
    async fn wait_for(
        &self,
        action_id: u64,
        expected: usize,
        done: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut last = Vec::new();
        for _ in 0..300 {
            last = self.statuses(action_id).await;
            if last.len() == expected && last.iter().all(|status| done(status)) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("action {action_id} never settled: {last:?}");
    }
}

fn fast() -> SimConfig {
    SimConfig {
        time_scale: 1000.0,
        failure_share: 0.0,
        ..SimConfig::default()
    }
}

fn online(config: &SimConfig, platform: Option<&str>) -> usize {
    config
        .fleet
        .iter()
        .filter(|e| e.online && platform.is_none_or(|p| e.os_platform == p))
        .count()
}

#[tokio::test]
async fn approval_gates_the_action_and_only_another_user_may_approve() {
    let config = SimConfig {
        approval_required: true,
        ..fast()
    };
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let issuer = Client::new(&sim, sim.api_token());
    let approver = Client::new(&sim, sim.approver_token());
    let (id, action) = issuer
        .issue(json!({ "name": "gated", "package_spec": { "source_id": 243 } }))
        .await;
    assert_eq!(action["status"], "Pending");
    let saved_id = action["saved_action"]["id"].as_u64().unwrap();

    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        issuer.statuses(id).await.is_empty(),
        "nothing runs before approval"
    );
    assert_eq!(
        issuer.get(&format!("/saved_actions/{saved_id}")).await["data"]["approved_flag"],
        false
    );
    let pending = issuer.get("/saved_action_approvals").await;
    assert_eq!(pending["data"][0]["id"], saved_id);

    let (status, body) = issuer
        .post_status(
            "/saved_action_approvals",
            json!({ "id": saved_id, "approved_flag": 1 }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("403 Forbidden: ")
    );

    approver
        .post(
            "/saved_action_approvals",
            json!({ "id": saved_id, "approved_flag": 1 }),
        )
        .await;
    let saved = issuer.get(&format!("/saved_actions/{saved_id}")).await;
    assert_eq!(saved["data"]["approved_flag"], true);
    assert_eq!(
        issuer.get(&format!("/actions/{id}")).await["data"]["status"],
        "Active"
    );
    let final_statuses = issuer
        .wait_for(id, expected, |s| s.ends_with(":Completed."))
        .await;
    assert_eq!(final_statuses.len(), expected);
    assert!(sim.inspect().actions[0].approved);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_colleague_approves_after_the_configured_sim_time() {
    let config = SimConfig {
        approval_required: true,
        auto_approve_after: Some(Duration::from_secs(20)),
        ..fast()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, action) = client
        .issue(json!({ "name": "auto", "package_spec": { "source_id": 243 } }))
        .await;
    assert_eq!(action["status"], "Pending");
    tokio::time::sleep(Duration::from_millis(40)).await;
    let read = client.get(&format!("/actions/{id}")).await;
    assert_eq!(read["data"]["status"], "Active");
    assert_ne!(read["data"]["start_time"], "2001-01-01T00:00:00Z");
    sim.shutdown().await;
}

#[tokio::test]
async fn verification_packages_report_completed_then_verified() {
    let config = fast();
    let expected = online(&config, Some("Windows"));
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let package = client.get("/packages/242").await;
    assert_ne!(package["data"]["verify_group"]["id"], 0);
    let (id, _) = client
        .issue(json!({ "name": "verify", "target_group": { "name": "All Windows" }, "package_spec": { "source_id": 242 } }))
        .await;
    let mut saw_completed = false;
    for _ in 0..300 {
        let statuses = client.statuses(id).await;
        saw_completed |= statuses.iter().any(|s| s.ends_with(":Completed."));
        if statuses.len() == expected && statuses.iter().all(|s| s.ends_with(":Verified.")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(saw_completed, "Completed comes before Verified");
    client
        .wait_for(id, expected, |s| s.ends_with(":Verified."))
        .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn expiry_turns_unfinished_machines_expired() {
    let config = fast();
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    // Three sim seconds: no machine finishes in time.
    let (id, _) = client
        .issue(
            json!({ "name": "short", "expire_seconds": 3, "package_spec": { "source_id": 243 } }),
        )
        .await;
    client
        .wait_for(id, expected, |s| s.ends_with(":Expired."))
        .await;
    assert_eq!(
        client.get(&format!("/actions/{id}")).await["data"]["status"],
        "Expired"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn stopping_an_action_stops_unfinished_machines() {
    let config = SimConfig {
        time_scale: 1.0,
        ..fast()
    };
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, _) = client
        .issue(json!({ "name": "stop me", "package_spec": { "source_id": 243 } }))
        .await;
    let stop = client
        .post("/action_stops", json!({ "action": { "id": id } }))
        .await;
    assert_eq!(stop["data"]["action"]["id"], id);
    let read = client.get(&format!("/actions/{id}")).await;
    assert_eq!(read["data"]["stopped_flag"], true);
    assert_eq!(read["data"]["status"], "Stopped");
    client
        .wait_for(id, expected, |s| s.ends_with(":Stopped."))
        .await;
    let (status, _) = client
        .post_status("/action_stops", json!({ "action": { "id": 999_999 } }))
        .await;
    assert_eq!(status, 404);

    let (other, _) = client
        .issue(json!({ "name": "operator", "package_spec": { "source_id": 243 } }))
        .await;
    sim.stop_action(other);
    assert_eq!(sim.inspect().actions[1].status, "Stopped");
    sim.shutdown().await;
}

#[tokio::test]
async fn failure_share_and_distribution_window_are_honoured() {
    let config = SimConfig {
        failure_share: 1.0,
        ..fast()
    };
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, _) = client
        .issue(json!({ "name": "fail", "package_spec": { "source_id": 243 } }))
        .await;
    client
        .wait_for(id, expected, |s| s.ends_with(":Failed."))
        .await;

    // Spread over ten thousand sim seconds, only a few machines have started after ~30.
    let (spread, _) = client
        .issue(json!({ "name": "spread", "distribute_seconds": 10000, "package_spec": { "source_id": 243 } }))
        .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let started = client.statuses(spread).await.len();
    assert!(started < expected / 2, "{started} of {expected} started");
    sim.shutdown().await;
}

#[tokio::test]
async fn offline_machines_never_report_and_default_reaches_nobody() {
    let config = fast();
    let offline: HashSet<String> = config
        .fleet
        .iter()
        .filter(|e| !e.online)
        .map(|e| e.computer_name.clone())
        .collect();
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, _) = client
        .issue(json!({ "name": "all", "package_spec": { "source_id": 243 } }))
        .await;
    client
        .wait_for(id, expected, |s| s.ends_with(":Completed."))
        .await;
    let body = client.get(&format!("/result_data/action/{id}")).await;
    let names: Vec<&str> = body["data"]["result_sets"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["data"][0][0]["text"].as_str().unwrap())
        .collect();
    assert!(names.iter().all(|name| !offline.contains(*name)));
    assert_eq!(body["data"]["result_sets"][0]["estimated_total"], expected);

    let default = client.get("/action_groups/by-name/Default").await["data"]["id"].clone();
    let (nobody, _) = client
        .issue(json!({ "name": "nobody", "action_group": { "id": default }, "package_spec": { "source_id": 243 } }))
        .await;
    let issued = sim
        .inspect()
        .actions
        .into_iter()
        .find(|a| a.id == nobody)
        .unwrap();
    assert!(issued.targeted_computer_names.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn actions_are_found_by_name_through_cache_filters() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    client
        .issue(json!({ "name": "first run-1", "package_spec": { "source_id": 243 } }))
        .await;
    let (second, _) = client
        .issue(json!({ "name": "second run-2", "package_spec": { "source_id": 243 } }))
        .await;
    let options = json!({ "cache_filters": [{ "field": "name", "operator": "Equal", "value": "second run-2" }] });
    let (status, body) = client.get_with("/actions", Some(options)).await;
    assert_eq!(status, 200);
    let items = body["data"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one action and the cache object: {body}");
    assert_eq!(items[0]["id"], second);
    assert!(items[1].get("cache_id").is_some());
    assert_eq!(
        client.get("/actions/by-name/second%20run-2").await["data"]["id"],
        second
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn parameters_must_exist_in_the_package_definition() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let all = client.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
    let (status, body) = client
        .post_status(
            "/actions",
            json!({ "name": "x", "action_group": { "id": all },
                    "package_spec": { "source_id": 173205, "parameters": [{ "key": "$2", "value": "a" }] } }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["text"].as_str().unwrap().contains("$2"), "{body}");
    assert!(sim.inspect().actions.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn result_data_pages_through_a_large_fleet_with_a_stable_cache() {
    let config = SimConfig {
        time_scale: 10_000.0,
        failure_share: 0.0,
        ..SimConfig::with_generated_fleet(5000)
    };
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (id, _) = client
        .issue(json!({ "name": "big", "package_spec": { "source_id": 243 } }))
        .await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    let path = format!("/result_data/action/{id}");
    let (_, first) = client
        .get_with(&path, Some(json!({ "row_start": 0, "row_count": 1000 })))
        .await;
    let set = &first["data"]["result_sets"][0];
    let cache_id: u64 = set["cache_id"].as_str().unwrap().parse().unwrap();
    let total = set["filtered_row_count"].as_u64().unwrap() as usize;
    let mut names: HashSet<String> = HashSet::new();
    let mut add_rows = |body: &Value| {
        for row in body["data"]["result_sets"][0]["rows"].as_array().unwrap() {
            names.insert(row["data"][0][0]["text"].as_str().unwrap().to_owned());
        }
    };
    add_rows(&first);
    let mut start = 1000;
    while start < total {
        // Alternate between the header and query-parameter forms.
        let (status, page) = if start % 2000 == 0 {
            client
                .get_with(
                    &path,
                    Some(json!({ "row_start": start, "row_count": 1000, "cache_id": cache_id })),
                )
                .await
        } else {
            client
                .get_with(
                    &format!("{path}?row_start={start}&row_count=1000&cache_id={cache_id}"),
                    None,
                )
                .await
        };
        assert_eq!(status, 200);
        assert_eq!(
            page["data"]["result_sets"][0]["filtered_row_count"], total,
            "the cache freezes the read"
        );
        add_rows(&page);
        start += 1000;
    }
    assert_eq!(names.len(), total);
    assert!(total <= expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hundred_thousand_machines_answer_in_reasonable_time() {
    let config = SimConfig {
        time_scale: 10_000.0,
        ..SimConfig::with_generated_fleet(100_000)
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let started = Instant::now();
    let (id, _) = client
        .issue(json!({ "name": "huge", "package_spec": { "source_id": 243 } }))
        .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (status, page) = client
        .get_with(
            &format!("/result_data/action/{id}"),
            Some(json!({ "row_start": 0, "row_count": 500 })),
        )
        .await;
    assert_eq!(status, 200);
    let set = &page["data"]["result_sets"][0];
    assert_eq!(set["rows"].as_array().unwrap().len(), 500);
    assert!(set["filtered_row_count"].as_u64().unwrap() > 90_000);
    eprintln!(
        "100,000-machine issue and first page: {:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn questions_progress_to_every_answering_machine() {
    let config = fast();
    let macs = online(&config, Some("Mac"));
    let total = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let question = client
        .post("/questions", json!({ "query_text": "Get Computer Name from all machines with OS Platform equals Mac" }))
        .await;
    let id = question["data"]["id"].as_u64().unwrap();
    let mut info = Value::Null;
    for _ in 0..100 {
        info = client.get(&format!("/result_info/question/{id}")).await["data"]["result_infos"][0]
            .clone();
        if info["mr_tested"] == info["estimated_total"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(info["estimated_total"], total);
    assert_eq!(info["mr_tested"], total);
    assert_eq!(info["passed"], macs);
    let data = client.get(&format!("/result_data/question/{id}")).await;
    let set = &data["data"]["result_sets"][0];
    assert_eq!(set["columns"][0]["name"], "Computer Name");
    assert_eq!(set["rows"].as_array().unwrap().len(), macs);
    assert!(
        set["rows"][0]["data"][0][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("mac-")
    );

    let (status, body) = client
        .post_status(
            "/questions",
            json!({ "query_text": "Get Shoe Size from all machines" }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["text"].as_str().unwrap().contains("Shoe Size"),
        "{body}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_inspector_is_also_served_over_http() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    client
        .issue(json!({ "name": "seen", "target_group": { "text": "Computer Name equals \"x\"\" or Computer Name contains \"\"\"" },
                       "package_spec": { "source_id": 243 } }))
        .await;
    let http = reqwest::Client::new();
    let actions: Value = http
        .get(format!("{}/sim/actions", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(actions.as_array().unwrap().len(), 1);
    assert_eq!(actions[0]["name"], "seen");
    assert_eq!(
        actions[0]["targeted_computer_names"],
        json!([]),
        "the hostile name targets nobody"
    );
    let requests: Value = http
        .get(format!("{}/sim/requests", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["method"] == "POST" && r["path"] == "/api/v2/actions")
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn server_errors_and_rate_limits_come_at_the_configured_rates() {
    let mut config = fast();
    config.faults = Faults {
        error_share: 0.2,
        rate_limit_share: 0.1,
        ..Faults::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let (mut errors, mut limited) = (0, 0);
    for _ in 0..500 {
        let response = client
            .http
            .get(format!("{}/packages/15", client.base))
            .header("session", &client.session)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            503 => errors += 1,
            429 => {
                assert_eq!(response.headers()["retry-after"], "1");
                limited += 1;
            }
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((70..130).contains(&errors), "{errors} server errors in 500");
    assert!((25..75).contains(&limited), "{limited} rate limits in 500");
    sim.set_faults(Faults::default());
    assert_eq!(client.get_with("/packages/15", None).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_and_drops_after_create() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    let all = client.get("/action_groups/by-name/All%20Computers").await["data"]["id"].clone();
    sim.set_faults(Faults {
        drop_share: 1.0,
        ..Faults::default()
    });
    let dropped = client
        .http
        .get(format!("{}/packages/15", client.base))
        .header("session", &client.session)
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");

    sim.set_faults(Faults {
        drop_after_create_share: 1.0,
        ..Faults::default()
    });
    let cut = client
        .http
        .post(format!("{}/actions", client.base))
        .header("session", &client.session)
        .json(&json!({ "name": "created anyway", "action_group": { "id": all }, "package_spec": { "source_id": 243 } }))
        .send()
        .await;
    assert!(cut.is_err(), "{cut:?}");
    let actions = sim.inspect().actions;
    assert_eq!(
        actions.len(),
        1,
        "the action exists although the answer was lost"
    );
    assert_eq!(actions[0].name, "created anyway");
    sim.shutdown().await;
}

#[tokio::test]
async fn login_sessions_expire_with_403_and_latency_is_added() {
    let mut config = fast();
    config.faults = Faults {
        login_session_ttl: Some(Duration::from_secs(600)),
        ..Faults::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let anonymous = Client::new(&sim, String::new());
    let (username, password) = sim.credentials();
    let login = anonymous
        .post(
            "/session/login",
            json!({ "username": username, "password": password }),
        )
        .await;
    let session = Client::new(&sim, login["data"]["session"].as_str().unwrap().to_owned());
    assert_eq!(session.get_with("/packages/15", None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(session.get_with("/packages/15", None).await.0, 403);
    let (status, _) = anonymous
        .post_status(
            "/session/login",
            json!({ "username": username, "password": "wrong" }),
        )
        .await;
    assert_eq!(status, 401);

    sim.set_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let token = Client::new(&sim, sim.api_token());
    let started = Instant::now();
    assert_eq!(token.get_with("/packages/15", None).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(40));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_action_waits_for_its_start_time_and_ends_at_its_expiration_time() {
    let config = fast();
    let expected = online(&config, None);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::new(&sim, sim.api_token());
    // The simulator's clock runs 1000 times faster than the wall clock: read its date from an
    // action's creation time.
    let (_, first) = client
        .issue(json!({ "name": "clock", "package_spec": { "source_id": 243 } }))
        .await;
    let now = chrono::DateTime::parse_from_rfc3339(first["creation_time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let text = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // Starts 1500 sim seconds (1.5 s) from now, ends 300 sim seconds after that.
    let start = text(now + chrono::Duration::seconds(1500));
    let end = text(now + chrono::Duration::seconds(1800));
    let (id, action) = client
        .issue(json!({
            "name": "windowed",
            "package_spec": { "source_id": 243 },
            "start_time": start,
            "expiration_time": end,
            "expire_seconds": 300,
        }))
        .await;
    assert_eq!(action["status"], "Pending", "{action}");
    assert_eq!(action["start_time"], json!(start));
    assert_eq!(action["expiration_time"], json!(end));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let read = client.get(&format!("/actions/{id}")).await["data"].clone();
    assert_eq!(read["status"], "Pending", "{read}");
    assert_eq!(read["start_time"], json!(start));
    assert_eq!(read["expiration_time"], json!(end));
    assert!(
        client.statuses(id).await.is_empty(),
        "nothing runs before its start time"
    );
    // Then it runs, and every online machine completes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(&format!("/actions/{id}")).await["data"]["status"] == "Pending" {
        assert!(Instant::now() < deadline, "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .wait_for(id, expected, |s| s.ends_with(":Completed."))
        .await;
    // Past its expiration time, it is over (closed: every machine had finished).
    loop {
        let status = client.get(&format!("/actions/{id}")).await["data"]["status"].clone();
        if status != "Active" {
            assert_eq!(status, "Closed");
            break;
        }
        assert!(Instant::now() < deadline, "never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A time that is not one is refused.
    let (status, body) = client
        .post_status(
            "/actions",
            json!({ "name": "bad", "package_spec": { "source_id": 243 },
                    "action_group": { "id": 1 }, "start_time": "tomorrow" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    sim.shutdown().await;
}

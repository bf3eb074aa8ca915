//! The lookup by name with as few requests as exactly-once allows, and the approver read from
//! the saved action.
//!
//! - Before a step's first send (nothing of it can exist yet) a by-name 404 is final: one
//!   request.
//! - Where the action may exist (a resume, an ambiguous send) a by-name 404 is confirmed with
//!   the list filtered by name, until this server's by-name route has answered an action.
//! - A server whose by-name route missed an action the list found is asked with the list only.
//! - The saved action says whether the action is approved and who approved it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runbook_engine::Lookup;
use runbook_tanium::{
    Auth, ClientConfig, Error, NewAction, Ref, RetryPolicy, TaniumClient, TargetGroupRef, Tuning,
    encode_segment,
};
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A package of the simulator that takes no parameter.
const NO_PARAMETERS: u64 = 243;

fn must<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

async fn simulator(approval_required: bool) -> RunningSim {
    Simulator::start(SimConfig {
        time_scale: 1000.0,
        approval_required,
        ..SimConfig::default()
    })
    .await
    .unwrap_or_else(|err| panic!("simulator did not start: {err}"))
}

fn client(base_url: String, token: String) -> TaniumClient {
    let mut config = ClientConfig::new(base_url, Auth::Token(token.into()));
    config.request_timeout = Duration::from_secs(10);
    config.retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };
    let tuning = Tuning {
        question_poll_interval: Duration::from_millis(20),
        ..Tuning::default()
    };
    TaniumClient::with_tuning(config, tuning).unwrap_or_else(|err| panic!("{err}"))
}

fn sim_client(sim: &RunningSim) -> TaniumClient {
    client(sim.base_url(), sim.api_token())
}

/// Issues an action named `name` to one host; returns its id and its saved action's id.
async fn issue(client: &TaniumClient, name: &str) -> (u64, u64) {
    let group_id = must(
        client
            .create_group("Computer Name equals \"WIN-DC01\"")
            .await,
    );
    let action_group = must(client.action_group("All Computers").await);
    let action = must(
        client
            .issue_action(&NewAction {
                name: name.to_owned(),
                action_group_id: Ref::Id(action_group.id),
                target_group: TargetGroupRef {
                    id: Ref::Id(group_id),
                    filter_flag: false,
                },
                package_id: Ref::Id(NO_PARAMETERS),
                parameters: Vec::new(),
                expire_seconds: 3600,
                distribute_seconds: 0,
                issue_seconds: None,
                start_time: None,
                expiration_time: None,
            })
            .await,
    );
    let saved_action_id = action
        .saved_action_id
        .unwrap_or_else(|| panic!("no saved action: {action:?}"));
    (action.id, saved_action_id)
}

fn by_name_path(name: &str) -> String {
    format!("/api/v2/actions/by-name/{}", encode_segment(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_send_a_by_name_miss_is_final() {
    let sim = simulator(false).await;
    let client = sim_client(&sim);
    let name = "never issued [runbook run-1 tag]";
    let found = must(
        client
            .find_action_by_name(name, Lookup::BeforeFirstSend)
            .await,
    );
    assert_eq!(found, None);
    let seen = sim.inspect();
    assert_eq!(seen.request_count("GET", &by_name_path(name)), 1);
    assert_eq!(
        seen.request_count("GET", "/api/v2/actions"),
        0,
        "no list confirms the miss: {:?}",
        seen.requests
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_where_the_action_may_exist_is_confirmed_until_the_by_name_route_answered() {
    let sim = simulator(false).await;
    let client = sim_client(&sim);

    // A fresh client does not know whether this server has the by-name route: its 404 is
    // confirmed with the list.
    let missing = "not issued yet [runbook run-2 tag]";
    assert_eq!(
        must(client.find_action_by_name(missing, Lookup::MayExist).await),
        None
    );
    assert_eq!(sim.inspect().request_count("GET", "/api/v2/actions"), 1);

    // The route answers an action by name: it exists on this server.
    let name = "issued [runbook run-2 tag]";
    let (action_id, _) = issue(&client, name).await;
    let found = must(client.find_action_by_name(name, Lookup::MayExist).await);
    assert_eq!(found.map(|action| action.id), Some(action_id));

    // From then on its 404 is a real miss, with no list to confirm it.
    let other = "another never issued [runbook run-2 tag]";
    assert_eq!(
        must(client.find_action_by_name(other, Lookup::MayExist).await),
        None
    );
    let seen = sim.inspect();
    assert_eq!(seen.request_count("GET", &by_name_path(other)), 1);
    assert_eq!(
        seen.request_count("GET", "/api/v2/actions"),
        1,
        "{:?}",
        seen.requests
    );

    // Clones share what the client learnt (one server, one connection pool).
    let clone = client.clone();
    assert_eq!(
        must(clone.find_action_by_name(missing, Lookup::MayExist).await),
        None
    );
    assert_eq!(sim.inspect().request_count("GET", "/api/v2/actions"), 1);
    sim.shutdown().await;
}

/// A server whose `GET actions/by-name/...` is not a route (404 for every name) while the
/// filtered list holds `existing`; records the request lines it served.
async fn server_without_the_by_name_route(
    existing: &'static str,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let address = listener.local_addr().unwrap_or_else(|err| panic!("{err}"));
    let served = Arc::new(Mutex::new(Vec::new()));
    let log = served.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(n) if n > 0 => request.extend_from_slice(&buffer[..n]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&request).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let (status, body) = if line.starts_with("GET /api/v2/actions ") {
                    (
                        "200 OK",
                        format!(
                            r#"{{"data":[{{"id":41,"name":"{existing}","status":"Active","saved_action":{{"id":9}}}},{{"cache_id":1,"page_row_count":1,"filtered_row_count":1,"cache_row_count":1}}]}}"#
                        ),
                    )
                } else {
                    (
                        "404 Not Found",
                        r#"{"text":"404 Not Found: no such route"}"#.to_owned(),
                    )
                };
                log.lock().unwrap().push(line);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{address}"), served)
}

#[tokio::test]
async fn a_server_without_the_by_name_route_is_asked_with_the_list() {
    let existing = "sent before a crash [runbook run-3 tag]";
    let (url, served) = server_without_the_by_name_route(existing).await;
    let client = client(url, "token-test".to_owned());

    // Where the action may exist, the by-name 404 is not trusted: the list finds it.
    let found = must(client.find_action_by_name(existing, Lookup::MayExist).await);
    assert_eq!(found.map(|action| action.id), Some(41));
    let first: Vec<String> = std::mem::take(&mut *served.lock().unwrap());
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first[0].starts_with("GET /api/v2/actions/by-name/"),
        "{first:?}"
    );
    assert!(first[1].starts_with("GET /api/v2/actions "), "{first:?}");

    // The route missed an action that exists: from then on the list alone is asked, before a
    // first send too (where a by-name 404 would say nothing on this server).
    for lookup in [Lookup::MayExist, Lookup::BeforeFirstSend] {
        let found = must(client.find_action_by_name(existing, lookup).await);
        assert_eq!(found.map(|action| action.id), Some(41));
        assert_eq!(
            must(client.find_action_by_name("something else", lookup).await),
            None
        );
    }
    let later: Vec<String> = std::mem::take(&mut *served.lock().unwrap());
    assert_eq!(later.len(), 4, "{later:?}");
    assert!(
        later
            .iter()
            .all(|line| line.starts_with("GET /api/v2/actions ")),
        "{later:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_saved_action_names_its_approver() {
    let sim = simulator(true).await;
    let client = sim_client(&sim);
    let (_, saved_action_id) = issue(&client, "needs approval [runbook run-4 tag]").await;

    let waiting = must(client.saved_action_approval(saved_action_id).await);
    assert!(!waiting.approved);
    assert_eq!(waiting.approver, None);

    // The second user approves (POST saved_action_approvals, as an operator would).
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v2/saved_action_approvals", sim.base_url()))
        .header("session", sim.approver_token())
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"id": {saved_action_id}, "approved_flag": 1}}"#
        ))
        .send()
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(answer.status().is_success(), "{answer:?}");

    let approved = must(client.saved_action_approval(saved_action_id).await);
    assert!(approved.approved);
    assert_eq!(approved.approver.as_deref(), Some("approver"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_colleague_approves_as_the_approver_and_no_approval_names_nobody() {
    let sim = Simulator::start(SimConfig {
        time_scale: 1000.0,
        approval_required: true,
        auto_approve_after: Some(Duration::from_secs(5)),
        ..SimConfig::default()
    })
    .await
    .unwrap_or_else(|err| panic!("simulator did not start: {err}"));
    let client = sim_client(&sim);
    let (_, saved_action_id) = issue(&client, "auto approved [runbook run-5 tag]").await;
    // 5 simulated seconds are 5 ms at this clock.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let approved = must(client.saved_action_approval(saved_action_id).await);
    assert!(approved.approved);
    assert_eq!(approved.approver.as_deref(), Some("approver"));
    sim.shutdown().await;

    let sim = simulator(false).await;
    let client = sim_client(&sim);
    let (_, saved_action_id) = issue(&client, "no approval needed [runbook run-6 tag]").await;
    let approval = must(client.saved_action_approval(saved_action_id).await);
    assert!(approval.approved);
    assert_eq!(approval.approver, None);
    sim.shutdown().await;
}

//! `runbook serve --http` end to end: every route with every role (allowed, 401, 403), the
//! error statuses of SPEC-2 (no secret value echoed), idempotency replays, cursor paging, a run started through the API
//! and followed to its end over Server-Sent Events, the audit trail with the client's address,
//! rate limits, and a graceful stop that answers 503 while a request in flight finishes.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use runbook_tests::http_serve::{HttpServe, NOTE, ServeOptions};
use serde_json::{Value, json};

const VAULT: &str = r#"version: 1
name: vault-lookup
inputs:
  api_key:
    type: string
    secret: true
steps:
  - id: note
    assert:
      that: "{{ inputs.api_key | length == 22 }}"
      message: the key was not opened
"#;

const BROKEN: &str = "version: 1\nname: broken\nsteps:\n  - id: say\n    lgo: hi\n";

fn options(args: &[&str]) -> ServeOptions {
    ServeOptions {
        playbooks: vec![
            ("note.yaml".to_owned(), NOTE.to_owned()),
            ("broken.yaml".to_owned(), BROKEN.to_owned()),
            ("vault.yaml".to_owned(), VAULT.to_owned()),
        ],
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        ..ServeOptions::default()
    }
}

struct Api {
    serve: HttpServe,
    client: Client,
}

impl Api {
    fn start(folder: &std::path::Path, args: &[&str]) -> Api {
        Api {
            serve: HttpServe::start(folder, &options(args)),
            client: Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.serve.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }
}

/// Every route, the roles that may call it, and what it is called with.
fn routes(run_id: &str) -> Vec<(Method, String, Option<Value>, &'static [&'static str])> {
    const ALL: &[&str] = &["viewer", "operator", "approver", "admin"];
    vec![
        (Method::GET, "/api/v1/runs".to_owned(), None, ALL),
        (
            Method::POST,
            "/api/v1/runs".to_owned(),
            Some(json!({"playbook": "note-host", "inputs": {"hostname": "web-01"}})),
            &["operator", "admin"],
        ),
        (Method::GET, format!("/api/v1/runs/{run_id}"), None, ALL),
        (
            Method::GET,
            format!("/api/v1/runs/{run_id}/events"),
            None,
            ALL,
        ),
        (
            Method::POST,
            format!("/api/v1/runs/{run_id}/cancel"),
            Some(json!({})),
            &["operator", "admin"],
        ),
        (Method::GET, "/api/v1/approvals".to_owned(), None, ALL),
        (
            Method::POST,
            format!("/api/v1/approvals/{run_id}/review"),
            Some(json!({"decision": "approve"})),
            &["approver", "admin"],
        ),
        (Method::GET, "/api/v1/playbooks".to_owned(), None, ALL),
        (Method::GET, "/api/v1/schedules".to_owned(), None, ALL),
        (Method::GET, "/api/v1/openapi.json".to_owned(), None, ALL),
        (Method::GET, "/api/v1/audit".to_owned(), None, &["admin"]),
        (Method::GET, "/metrics".to_owned(), None, ALL),
    ]
}

#[tokio::test]
async fn every_route_answers_401_403_or_its_answer_for_each_role() {
    let folder = tempfile::tempdir().expect("folder");
    // No workers: runs stay queued, so that each role can cancel one.
    let api = Api::start(folder.path(), &["--workers", "0"]);
    let mut tokens = Vec::new();
    for role in ["viewer", "operator", "approver", "admin"] {
        tokens.push((role, api.serve.token(&format!("{role}-token"), role)));
    }
    let admin = tokens[3].1.clone();
    let mut checked = 0;
    for (role, token) in &tokens {
        // A queued run of its own for each role, for the routes that name a run.
        let (status, started) = api
            .call(
                Method::POST,
                "/api/v1/runs",
                Some(&admin),
                Some(json!({"playbook": "note-host", "inputs": {"hostname": "web-01"}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let run_id = started["run_id"].as_str().expect("run id").to_owned();
        for (method, path, body, allowed) in routes(&run_id) {
            let (status, answer) = api.call(method.clone(), &path, None, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {answer}"
            );
            assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");
            let (status, answer) = api
                .call(method.clone(), &path, Some("rbk_not-a-token"), body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {answer}"
            );

            let (status, answer) = api.call(method.clone(), &path, Some(token), body).await;
            if allowed.contains(role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {status} {answer}"
                );
                assert!(
                    status.is_success() || status == StatusCode::NOT_FOUND,
                    "{role} {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {answer}"
                );
                assert_eq!(answer["error"]["code"], "forbidden");
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(&format!("has role {role}")), "{message}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * 12);
    // /healthz needs no token.
    let (status, body) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn errors_are_json_with_their_status_and_echo_no_secret() {
    let folder = tempfile::tempdir().expect("folder");
    let api = Api::start(folder.path(), &["--workers", "0"]);
    let secret = api.serve.token("ops", "operator");
    let token = Some(secret.as_str());

    let response = api
        .client
        .post(format!("{}/api/v1/runs", api.serve.base))
        .bearer_auth(&secret)
        .body("{\"playbook\": ")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_json", "{body}");

    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            token,
            Some(json!({"playbook": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            token,
            Some(json!({"playbook": "broken"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("broken.yaml:") && message.contains("[RB0"),
        "{message}"
    );

    let (status, body) = api
        .call(Method::GET, "/api/v1/runs/no-such-run", token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // 422: each problem named, no value echoed (the secret least of all).
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            token,
            Some(json!({"playbook": "note-host", "inputs": {
                "hostname": "bad host; rm -rf",
                "severity": "urgent",
                "colour": "red",
            }})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unfit_inputs");
    let problems = body["error"]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 3, "{problems:?}");
    let text = body.to_string();
    for needle in ["hostname", "severity", "colour"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // A value that is not secret may be shown (it helps); a secret one never is.
    assert!(text.contains("rm -rf"), "{text}");
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            token,
            Some(json!({"playbook": "vault-lookup", "inputs": {"api_key": ["hunter2-secret-value"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("api_key"), "{body}");
    assert!(!body.to_string().contains("hunter2-secret-value"), "{body}");

    // A secret input needs RUNBOOK_SECRET_KEY in this process: a clear refusal, nothing stored.
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            token,
            Some(
                json!({"playbook": "vault-lookup", "inputs": {"api_key": "hunter2-secret-value"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "no_secret_key", "{body}");
    assert!(body.to_string().contains("RUNBOOK_SECRET_KEY"), "{body}");

    // 413: a body over 1 MiB.
    let big = format!(
        "{{\"playbook\": \"note-host\", \"inputs\": {{\"hostname\": \"{}\"}}}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let response = api
        .client
        .post(format!("{}/api/v1/runs", api.serve.base))
        .bearer_auth(&secret)
        .body(big)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // 409: cancelling a run that ended.
    let (_, started) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            token,
            Some(json!({"playbook": "note-host", "inputs": {"hostname": "web-01"}})),
        )
        .await;
    let run_id = started["run_id"].as_str().expect("id");
    let cancel = format!("/api/v1/runs/{run_id}/cancel");
    let (status, body) = api.call(Method::POST, &cancel, token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    let (status, body) = api.call(Method::POST, &cancel, token, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, body) = api.call(Method::GET, "/api/v1/nowhere", token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!api.serve.log_text().contains("hunter2-secret-value"));
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_run_and_refuses_another_request() {
    let folder = tempfile::tempdir().expect("folder");
    let api = Api::start(folder.path(), &["--workers", "0"]);
    let token = api.serve.token("bot", "operator");
    let send = |key: &'static str, hostname: &'static str| {
        api.client
            .post(format!("{}/api/v1/runs", api.serve.base))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&json!({"playbook": "note-host", "inputs": {"hostname": hostname}}))
            .send()
    };
    let first = send("ticket-42", "web-01").await.expect("answer");
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("json");
    let again = send("ticket-42", "web-01").await.expect("answer");
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(again["replayed"], true);
    let other = send("ticket-42", "web-02").await.expect("answer");
    assert_eq!(other.status(), StatusCode::CONFLICT);
    let fresh = send("ticket-43", "web-02").await.expect("answer");
    assert_eq!(fresh.status(), StatusCode::ACCEPTED);

    // Two runs queued in all; the list pages through them with its cursor.
    let (status, page) = api
        .call(Method::GET, "/api/v1/runs?limit=1", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(1));
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, second) = api
        .call(
            Method::GET,
            &format!("/api/v1/runs?limit=1&cursor={cursor}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(second["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["next_cursor"], Value::Null);
    assert_ne!(second["runs"][0]["run_id"], page["runs"][0]["run_id"]);
    let (status, filtered) = api
        .call(
            Method::GET,
            "/api/v1/runs?status=succeeded&playbook=note-host&since=1h",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(filtered["runs"], json!([]));
    let (status, _) = api
        .call(Method::GET, "/api/v1/runs?status=done", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_run_started_through_the_api_streams_its_events_to_the_end() {
    let folder = tempfile::tempdir().expect("folder");
    let api = Api::start(folder.path(), &[]);
    let operator = api.serve.token("ops", "operator");
    let admin = api.serve.token("root", "admin");
    let (status, started) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            Some(&operator),
            Some(json!({"playbook": "note-host", "inputs": {"hostname": "web-01"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let run_id = started["run_id"].as_str().expect("id").to_owned();

    let mut response = api
        .client
        .get(format!("{}/api/v1/runs/{run_id}/events", api.serve.base))
        .bearer_auth(&operator)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("a stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = response.chunk().await.expect("a chunk") {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end:\n{text}");
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"), "{text}");
    assert_eq!(kinds.last(), Some(&"end"), "{text}");
    assert!(text.contains("data: {\"status\":\"succeeded\"}"), "{text}");
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.parse().expect("a sequence"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");

    // A client that comes back with Last-Event-ID gets only what came after, then `end`.
    let last = ids.last().copied().expect("ids");
    let resumed = api
        .client
        .get(format!("{}/api/v1/runs/{run_id}/events", api.serve.base))
        .bearer_auth(&operator)
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", last.to_string())
        .send()
        .await
        .expect("a stream")
        .text()
        .await
        .expect("text");
    assert!(!resumed.contains("id: "), "{resumed}");
    assert!(resumed.contains("event: end"), "{resumed}");

    // Without text/event-stream: the events as JSON.
    let (status, events) = api
        .call(
            Method::GET,
            &format!("/api/v1/runs/{run_id}/events"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events["status"], "succeeded");
    assert_eq!(events["events"].as_array().map(Vec::len), Some(ids.len()));

    let (_, run) = api
        .call(
            Method::GET,
            &format!("/api/v1/runs/{run_id}"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["started_by"], "api:ops");

    // The audit log names the token and the client's address.
    let (status, audit) = api
        .call(
            Method::GET,
            "/api/v1/audit?action=run.started",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert_eq!(audit[0]["actor"], "ops", "{audit}");
    assert_eq!(audit[0]["target"], run_id.as_str());
    let address = audit[0]["remote_addr"].as_str().unwrap_or_default();
    assert!(address.starts_with("127.0.0.1:"), "{audit}");
}

#[tokio::test]
async fn the_playbooks_route_lists_broken_ones_with_their_problems() {
    let folder = tempfile::tempdir().expect("folder");
    let api = Api::start(folder.path(), &["--workers", "0"]);
    let token = api.serve.token("console", "viewer");
    let (status, listed) = api
        .call(Method::GET, "/api/v1/playbooks", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["name"], "broken");
    assert_eq!(listed[0]["offered"], false);
    assert_eq!(listed[1]["name"], "note-host");
    assert_eq!(listed[1]["offered"], true);
    assert_eq!(listed[1]["inputs"][1]["name"], "severity");
    assert_eq!(listed[1]["inputs"][1]["default"], "high");
    assert_eq!(listed[2]["name"], "vault-lookup");
    assert_eq!(listed[2]["inputs"][0]["secret"], true);
    let log = api.serve.log_text();
    assert!(log.contains("not offered"), "{log}");
}

#[tokio::test]
async fn a_token_over_its_rate_is_answered_429_with_retry_after() {
    let folder = tempfile::tempdir().expect("folder");
    let api = Api::start(folder.path(), &["--workers", "0", "--api-rate", "1"]);
    let token = api.serve.token("chatty", "viewer");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = api
            .client
            .get(format!("{}/api/v1/runs", api.serve.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answer");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// A raw request whose body is sent in two parts, so that it is in flight while the process
/// is told to stop.
#[test]
fn a_stop_answers_503_to_new_requests_and_finishes_the_one_in_flight() {
    let folder = tempfile::tempdir().expect("folder");
    let serve = HttpServe::start(folder.path(), &options(&["--workers", "0"]));
    let token = serve.token("ops", "operator");
    let address = serve.base.trim_start_matches("http://").to_owned();
    let body = r#"{"playbook": "note-host", "inputs": {"hostname": "web-01"}}"#;
    let mut slow = TcpStream::connect(&address).expect("connect");
    write!(
        slow,
        "POST /api/v1/runs HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .expect("first part");
    std::thread::sleep(Duration::from_millis(300));
    serve.terminate();
    std::thread::sleep(Duration::from_millis(300));

    let mut late = TcpStream::connect(&address).expect("still accepting while draining");
    write!(
        late,
        "GET /api/v1/runs HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    late.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("shutting_down"), "{answer}");

    slow.write_all(&body.as_bytes()[10..]).expect("the rest");
    let mut answer = String::new();
    slow.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let status = serve.stop(Duration::from_secs(30)).expect("it stopped");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_secret_input_given_to_the_api_is_sealed_and_the_run_reads_it() {
    let folder = tempfile::tempdir().expect("folder");
    let key = "7f".repeat(32);
    let mut with_key = options(&[]);
    with_key
        .env
        .push(("RUNBOOK_SECRET_KEY".to_owned(), key.clone()));
    let api = Api {
        serve: HttpServe::start(folder.path(), &with_key),
        client: Client::new(),
    };
    let token = api.serve.token("ops", "operator");
    let secret = "hunter2-sealed-api-key";
    let (status, started) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            Some(&token),
            Some(json!({"playbook": "vault-lookup", "inputs": {"api_key": secret}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let run_id = started["run_id"].as_str().expect("id").to_owned();
    let mut run = Value::Null;
    for _ in 0..200 {
        (_, run) = api
            .call(
                Method::GET,
                &format!("/api/v1/runs/{run_id}"),
                Some(&token),
                None,
            )
            .await;
        if run["status"] == "succeeded" || run["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["inputs"]["api_key"], "[REDACTED]", "{run}");
    // Neither the secret nor the key in the answers, the log or the store's files.
    assert!(!run.to_string().contains(secret));
    let log = api.serve.log_text();
    assert!(!log.contains(secret) && !log.contains(&key), "{log}");
    for entry in std::fs::read_dir(folder.path()).expect("folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("runs.db") {
            let bytes = std::fs::read(&path).expect("store file");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(secret), "{name} holds the secret");
        }
    }
}

//! Webhook triggers end to end through `runbook serve --http --triggers FILE`: a request signed
//! the way a sender signs it (HMAC-SHA256 over `<timestamp>.<body>`, hex, `sha256=`) queues one
//! run that succeeds with the inputs its templates made; each refusal answers its SPEC-2
//! status and body and queues nothing; a dedup key returns the first run within its window and
//! a new one after it; the secrets are in no log, answer or audit entry; serve refuses to start
//! without a trigger's secret or with a trigger of a playbook it does not offer; and (with
//! `RUNBOOK_TEST_POSTGRES_URL`) two serve processes on one store start one run per dedup key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, StatusCode};
use runbook_tests::http_serve::{HttpServe, NOTE, ServeOptions, serve_to_exit};
use runbook_tests::postgres::PostgresDatabase;
use serde_json::{Value, json};
use sha2::Sha256;

/// The HMAC secret of the `splunk` trigger and the bearer token of the `siem` trigger: each
/// test searches every log, answer and audit entry for them.
const HMAC_SECRET: &str = "hmac-secret-5d1f0c9a7e3b";
const BEARER_TOKEN: &str = "bearer-token-8c2a6e4f1d07";

/// The triggers file, with the `splunk` trigger's dedup window.
fn triggers(dedup_window: &str) -> String {
    format!(
        r#"version: 1
triggers:
  - name: splunk
    path: /hooks/splunk
    playbook: note-host
    auth:
      hmac:
        secret_env: SPLUNK_HOOK_SECRET
        header: X-Signature
        prefix: "sha256="
        encoding: hex
        timestamp_header: X-Timestamp
        max_skew: 5m
    when: "{{{{ body.severity in ['high', 'critical'] }}}}"
    inputs:
      hostname: "{{{{ body.result.host }}}}"
      severity: "{{{{ body.severity }}}}"
    dedup: "{{{{ body.sid }}}}"
    dedup_window: {dedup_window}
  - name: siem
    path: /hooks/siem/v1
    playbook: note-host
    auth:
      bearer: {{ token_env: SIEM_HOOK_TOKEN }}
    inputs:
      hostname: "{{{{ body.host }}}}"
      severity: low
"#
    )
}

fn options(dedup_window: &str, store: Option<String>) -> ServeOptions {
    ServeOptions {
        playbooks: vec![("note.yaml".to_owned(), NOTE.to_owned())],
        triggers: Some(triggers(dedup_window)),
        env: vec![
            ("SPLUNK_HOOK_SECRET".to_owned(), HMAC_SECRET.to_owned()),
            ("SIEM_HOOK_TOKEN".to_owned(), BEARER_TOKEN.to_owned()),
        ],
        store,
        ..ServeOptions::default()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// What a sender puts in `X-Signature`: `sha256=` and the hex HMAC-SHA256 of
/// `<timestamp>.<body>` with the shared secret.
fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// The headers of a request to `/hooks/splunk` signed now with the right secret.
fn signed_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = now().to_string();
    vec![
        ("X-Signature", sign(HMAC_SECRET, &timestamp, body)),
        ("X-Timestamp", timestamp),
    ]
}

fn alert(sid: &str, severity: &str, host: &str) -> Vec<u8> {
    json!({"sid": sid, "severity": severity, "result": {"host": host}})
        .to_string()
        .into_bytes()
}

fn bad_signature() -> Value {
    json!({"error": {"code": "unauthorized", "message": "bad or missing signature"}})
}

/// A serving process with a viewer and an admin token, and every answer it gave (for the
/// search for secrets).
struct Hooks {
    serve: HttpServe,
    client: Client,
    viewer: String,
    admin: String,
    answers: Arc<Mutex<Vec<String>>>,
}

impl Hooks {
    fn start(folder: &std::path::Path, options: &ServeOptions) -> Hooks {
        let serve = HttpServe::start(folder, options);
        let viewer = serve.token("console", "viewer");
        let admin = serve.token("root", "admin");
        Hooks {
            serve,
            client: Client::new(),
            viewer,
            admin,
            answers: Arc::default(),
        }
    }

    async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: impl Into<Vec<u8>>,
    ) -> (StatusCode, Value) {
        post(
            &self.client,
            &self.serve.base,
            path,
            headers,
            body.into(),
            &self.answers,
        )
        .await
    }

    /// A POST to `/hooks/splunk` signed now with the right secret.
    async fn signed(&self, body: &[u8]) -> (StatusCode, Value) {
        self.post("/hooks/splunk", &signed_headers(body), body.to_vec())
            .await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.serve.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status();
        let text = response.text().await.expect("a body");
        self.answers.lock().expect("answers").push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The ids of every run in the store, newest first.
    async fn run_ids(&self) -> Vec<String> {
        run_ids(&self.client, &self.serve.base, &self.viewer).await
    }

    /// The run once it has ended (within 20 s).
    async fn ended(&self, run_id: &str) -> Value {
        ended(&self.client, &self.serve.base, &self.viewer, run_id).await
    }

    /// The audit entries with `action`, newest first.
    async fn audit(&self, action: &str) -> Vec<Value> {
        let (status, entries) = self
            .get(
                &format!("/api/v1/audit?action={action}&limit=500"),
                Some(&self.admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{entries}");
        entries.as_array().expect("a list").clone()
    }

    /// Neither secret in the log or in any answer so far.
    fn assert_no_secret_anywhere(&self) {
        let log = self.serve.log_text();
        assert!(!log.is_empty());
        for secret in [HMAC_SECRET, BEARER_TOKEN] {
            assert!(!log.contains(secret), "{secret} in the log:\n{log}");
            for answer in self.answers.lock().expect("answers").iter() {
                assert!(!answer.contains(secret), "{secret} in an answer: {answer}");
            }
        }
    }
}

async fn post(
    client: &Client,
    base: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    answers: &Mutex<Vec<String>>,
) -> (StatusCode, Value) {
    let mut request = client.post(format!("{base}{path}")).body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status();
    let text = response.text().await.expect("a body");
    answers.lock().expect("answers").push(text.clone());
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get_json(client: &Client, url: &str, token: &str) -> Value {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.expect("JSON")
}

async fn run_ids(client: &Client, base: &str, viewer: &str) -> Vec<String> {
    let page = get_json(client, &format!("{base}/api/v1/runs?limit=500"), viewer).await;
    assert_eq!(page["next_cursor"], Value::Null, "{page}");
    page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| run["run_id"].as_str().expect("an id").to_owned())
        .collect()
}

async fn ended(client: &Client, base: &str, viewer: &str, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = get_json(client, &format!("{base}/api/v1/runs/{run_id}"), viewer).await;
        let status = run["status"].as_str().unwrap_or_default();
        if !["queued", "running"].contains(&status) {
            return run;
        }
        assert!(Instant::now() < deadline, "the run did not end: {run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn run_id_of(answer: &Value) -> String {
    answer["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a run id in {answer}"))
        .to_owned()
}

#[tokio::test]
async fn a_signed_request_queues_one_run_that_succeeds_with_the_inputs_its_templates_made() {
    let folder = tempfile::tempdir().expect("folder");
    let hooks = Hooks::start(folder.path(), &options("2s", None));
    assert_eq!(hooks.run_ids().await, Vec::<String>::new());

    let (status, answer) = hooks
        .signed(&alert("sid-1", "critical", "web-01.corp"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let run_id = run_id_of(&answer);
    assert_eq!(answer, json!({"run_id": run_id}));
    assert_eq!(hooks.run_ids().await, vec![run_id.clone()]);
    let run = hooks.ended(&run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["playbook_name"], "note-host", "{run}");
    assert_eq!(
        run["steps"][0]["request_summary"], "suspect web-01.corp (critical)",
        "{run}"
    );
    assert_eq!(
        run["inputs"],
        json!({"hostname": "web-01.corp", "severity": "critical"}),
        "{run}"
    );
    assert_eq!(run["started_by"], "hook:splunk", "{run}");

    // The bearer trigger: the token as `Authorization: Bearer`, a constant input beside a
    // template; no dedup, so the same body twice is two runs.
    let body = json!({"host": "db-7"}).to_string();
    let bearer = [("Authorization", format!("Bearer {BEARER_TOKEN}"))];
    let (status, first) = hooks.post("/hooks/siem/v1", &bearer, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, second) = hooks.post("/hooks/siem/v1", &bearer, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    assert_ne!(first["run_id"], second["run_id"]);
    for answer in [&first, &second] {
        let run = hooks.ended(&run_id_of(answer)).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(
            run["inputs"],
            json!({"hostname": "db-7", "severity": "low"}),
            "{run}"
        );
        assert_eq!(run["started_by"], "hook:siem", "{run}");
    }
    assert_eq!(hooks.run_ids().await.len(), 3);
    hooks.assert_no_secret_anywhere();
}

#[tokio::test]
async fn every_refusal_answers_its_status_and_queues_nothing() {
    let folder = tempfile::tempdir().expect("folder");
    let hooks = Hooks::start(folder.path(), &options("2s", None));
    let (_, audit_before) = hooks
        .get("/api/v1/audit?limit=500", Some(&hooks.admin))
        .await;
    let audit_before = audit_before.as_array().map_or(0, Vec::len);

    let body = alert("sid-1", "high", "web-01");
    let timestamp = now().to_string();
    let good = sign(HMAC_SECRET, &timestamp, &body);
    let stale_at = (now() - 301).to_string();
    let future_at = (now() + 301).to_string();
    let other_body = alert("sid-1", "high", "web-02");
    let unauthorized: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "another secret",
            vec![
                ("X-Signature", sign("not-the-secret", &timestamp, &body)),
                ("X-Timestamp", timestamp.clone()),
            ],
        ),
        (
            "a signature over another body",
            vec![
                ("X-Signature", sign(HMAC_SECRET, &timestamp, &other_body)),
                ("X-Timestamp", timestamp.clone()),
            ],
        ),
        (
            "a signature over another timestamp",
            vec![
                ("X-Signature", sign(HMAC_SECRET, &stale_at, &body)),
                ("X-Timestamp", timestamp.clone()),
            ],
        ),
        (
            "a stale timestamp, correctly signed",
            vec![
                ("X-Signature", sign(HMAC_SECRET, &stale_at, &body)),
                ("X-Timestamp", stale_at.clone()),
            ],
        ),
        (
            "a timestamp too far ahead, correctly signed",
            vec![
                ("X-Signature", sign(HMAC_SECRET, &future_at, &body)),
                ("X-Timestamp", future_at.clone()),
            ],
        ),
        (
            "no signature header",
            vec![("X-Timestamp", timestamp.clone())],
        ),
        ("no timestamp header", vec![("X-Signature", good.clone())]),
        ("no header at all", vec![]),
        (
            "the signature without its prefix's value",
            vec![
                ("X-Signature", "sha256=".to_owned()),
                ("X-Timestamp", timestamp.clone()),
            ],
        ),
        (
            "the secret itself as the signature",
            vec![
                ("X-Signature", format!("sha256={HMAC_SECRET}")),
                ("X-Timestamp", timestamp.clone()),
            ],
        ),
        (
            "a timestamp that is not a number",
            vec![
                ("X-Signature", sign(HMAC_SECRET, "soon", &body)),
                ("X-Timestamp", "soon".to_owned()),
            ],
        ),
    ];
    for (what, headers) in &unauthorized {
        let (status, answer) = hooks.post("/hooks/splunk", headers, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert_eq!(answer, bad_signature(), "{what}");
    }
    let bearer_body = json!({"host": "db-7"}).to_string();
    for (what, headers) in [
        (
            "a wrong bearer token",
            vec![("Authorization", "Bearer not-the-token".to_owned())],
        ),
        (
            "the token with another scheme",
            vec![("Authorization", format!("Basic {BEARER_TOKEN}"))],
        ),
        ("no bearer token", vec![]),
        (
            "the HMAC secret as the token",
            vec![("Authorization", format!("Bearer {HMAC_SECRET}"))],
        ),
    ] {
        let (status, answer) = hooks
            .post("/hooks/siem/v1", &headers, bearer_body.clone())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert_eq!(answer, bad_signature(), "{what}");
    }

    // 422: the request makes inputs the playbook refuses, or none at all (the value that does
    // not fit is not secret: it may be shown).
    let (status, answer) = hooks
        .signed(&alert("sid-2", "high", "web-01; rm -rf /"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        answer,
        json!({"error": {
            "code": "unfit_inputs",
            "message": "the inputs do not fit playbook `note-host`",
            "problems": ["input `hostname`: `web-01; rm -rf /` does not match the pattern `^[A-Za-z0-9.-]+$`"],
        }})
    );
    let no_host = json!({"sid": "sid-3", "severity": "high", "result": {}})
        .to_string()
        .into_bytes();
    let (status, answer) = hooks.signed(&no_host).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        answer,
        json!({"error": {
            "code": "unfit_inputs",
            "message": "the request does not make inputs for playbook `note-host`",
            "problems": ["inputs.hostname: `body.result.host` is undefined"],
        }})
    );

    // 413: a 2 MiB body, even correctly signed.
    let big = json!({"sid": "sid-5", "severity": "high", "result": {"host": "web-01"},
        "padding": "a".repeat(2 * 1024 * 1024)})
    .to_string()
    .into_bytes();
    let (status, answer) = hooks.signed(&big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(
        answer,
        json!({"error": {"code": "too_large", "message": "the request body is larger than 1024 KiB"}})
    );

    // 400: correctly signed, but not JSON.
    let (status, answer) = hooks.signed(b"severity=high&host=web-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer,
        json!({"error": {"code": "bad_json", "message": "the body is not JSON (line 1 column 1)"}})
    );

    // 202 ignored: `when` is false (it compares case and all: `Critical` is not `critical`).
    for severity in ["low", "Critical"] {
        let (status, answer) = hooks.signed(&alert("sid-6", severity, "web-01")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer, json!({"ignored": true}));
    }

    // 404: no trigger has the path.
    let (status, answer) = hooks
        .post("/hooks/nope", &signed_headers(&body), body.clone())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(
        answer,
        json!({"error": {"code": "not_found", "message": "no trigger has the path /hooks/nope"}})
    );

    assert_eq!(hooks.run_ids().await, Vec::<String>::new());
    // Every request to a trigger was audited (not the one to a path no trigger has).
    let (_, audit_after) = hooks
        .get("/api/v1/audit?limit=500", Some(&hooks.admin))
        .await;
    let audit_after = audit_after.as_array().map_or(0, Vec::len);
    assert_eq!(
        audit_after - audit_before,
        unauthorized.len() + 4 + 2 + 1 + 1 + 2
    );
    hooks.assert_no_secret_anywhere();
}

/// docs/api.md: "Every refusal is JSON: `{"error": {"code": "...", "message": "..."}}`".
#[tokio::test]
async fn a_hook_answers_get_with_405_allow_post_and_a_json_error() {
    let folder = tempfile::tempdir().expect("folder");
    let hooks = Hooks::start(folder.path(), &options("2s", None));
    for path in ["/hooks/splunk", "/hooks/siem/v1"] {
        let response = hooks
            .client
            .get(format!("{}{path}", hooks.serve.base))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|allow| allow.to_str().ok()),
            Some("POST"),
            "{path}"
        );
        let text = response.text().await.expect("a body");
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("GET {path}: 405 with a body that is not JSON: {text:?}"));
        assert!(answer["error"]["code"].is_string(), "{answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    assert_eq!(hooks.run_ids().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_dedup_key_within_its_window_returns_the_first_run_and_after_it_starts_another() {
    let folder = tempfile::tempdir().expect("folder");
    let hooks = Hooks::start(folder.path(), &options("2s", None));

    let (status, first) = hooks.signed(&alert("sid-42", "high", "web-01")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let first_id = run_id_of(&first);
    let window_start = Instant::now();
    // The same key with another body (the sender retried with more detail): the first run.
    for body in [
        alert("sid-42", "high", "web-01"),
        alert("sid-42", "critical", "web-02"),
    ] {
        let (status, again) = hooks.signed(&body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again, json!({"run_id": first_id, "duplicate": true}));
    }
    // Another key is another run.
    let (status, other) = hooks.signed(&alert("sid-43", "high", "web-03")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{other}");
    let other_id = run_id_of(&other);
    assert_ne!(other_id, first_id);
    assert!(
        window_start.elapsed() < Duration::from_millis(1500),
        "too slow for the window"
    );
    let mut ids = hooks.run_ids().await;
    ids.sort();
    let mut expected = vec![first_id.clone(), other_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    // After the window: a new run, which later duplicates name.
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(window_start.elapsed())).await;
    let (status, later) = hooks.signed(&alert("sid-42", "high", "web-01")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{later}");
    let later_id = run_id_of(&later);
    assert_eq!(later, json!({"run_id": later_id}));
    assert_ne!(later_id, first_id);
    let (status, again) = hooks.signed(&alert("sid-42", "high", "web-01")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, json!({"run_id": later_id, "duplicate": true}));

    // A key whose requests were refused (422), ignored (`when`) or unsigned (401) was not
    // taken: the first valid request with it queues.
    let (status, _) = hooks.signed(&alert("sid-7", "high", "bad host")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = hooks.signed(&alert("sid-7", "low", "web-01")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let body = alert("sid-7", "high", "web-01");
    let timestamp = now().to_string();
    let wrong = [
        ("X-Signature", sign("not-the-secret", &timestamp, &body)),
        ("X-Timestamp", timestamp.clone()),
    ];
    let (status, _) = hooks.post("/hooks/splunk", &wrong, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Uppercase hex and prefix are the same signature.
    let upper = [
        (
            "X-Signature",
            sign(HMAC_SECRET, &timestamp, &body).to_uppercase(),
        ),
        ("X-Timestamp", timestamp),
    ];
    let (status, seventh) = hooks.post("/hooks/splunk", &upper, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{seventh}");
    let seventh_id = run_id_of(&seventh);

    // Ten at once with one new key: one run, every answer names it.
    let body = alert("sid-burst", "high", "web-09");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (client, base, body) = (hooks.client.clone(), hooks.serve.base.clone(), body.clone());
        let answers = hooks.answers.clone();
        tasks.spawn(async move {
            post(
                &client,
                &base,
                "/hooks/splunk",
                &signed_headers(&body),
                body.clone(),
                &answers,
            )
            .await
        });
    }
    let burst = tasks.join_all().await;
    let queued: Vec<&Value> = burst
        .iter()
        .filter(|(status, _)| *status == StatusCode::ACCEPTED)
        .map(|(_, answer)| answer)
        .collect();
    assert_eq!(queued.len(), 1, "{burst:?}");
    let burst_id = run_id_of(queued[0]);
    for (status, answer) in &burst {
        if *status != StatusCode::ACCEPTED {
            assert_eq!(*status, StatusCode::OK, "{answer}");
            assert_eq!(answer, &json!({"run_id": burst_id, "duplicate": true}));
        }
    }

    assert_eq!(hooks.run_ids().await.len(), 5);
    for run_id in [&first_id, &other_id, &later_id, &seventh_id, &burst_id] {
        assert_eq!(hooks.ended(run_id).await["status"], "succeeded");
    }
    hooks.assert_no_secret_anywhere();
}

#[tokio::test]
async fn the_secrets_are_in_no_log_answer_or_audit_entry_and_every_hook_request_is_audited() {
    let folder = tempfile::tempdir().expect("folder");
    let hooks = Hooks::start(folder.path(), &options("2s", None));
    let body = alert("sid-1", "high", "web-01");
    let headers = signed_headers(&body);
    let signature = headers[0].1.trim_start_matches("sha256=").to_owned();
    let (status, accepted) = hooks.post("/hooks/splunk", &headers, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run_id = run_id_of(&accepted);
    // A signature over another body, sent with the right timestamp: refused, and neither it
    // nor the one it should have been is written anywhere.
    let body = alert("sid-9", "high", "web-01");
    let timestamp = now().to_string();
    let expected = sign(HMAC_SECRET, &timestamp, &body);
    let presented = sign(HMAC_SECRET, &timestamp, b"{}");
    let (status, _) = hooks
        .post(
            "/hooks/splunk",
            &[
                ("X-Signature", presented.clone()),
                ("X-Timestamp", timestamp),
            ],
            body,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hooks.signed(&alert("sid-1", "high", "web-01")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = hooks.signed(&alert("sid-2", "low", "web-01")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let body = alert("sid-3", "high", "web-01");
    let timestamp = now().to_string();
    let (status, _) = hooks
        .post(
            "/hooks/splunk",
            &[
                ("X-Signature", format!("sha256={HMAC_SECRET}")),
                ("X-Timestamp", timestamp),
            ],
            body,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hooks
        .post(
            "/hooks/siem/v1",
            &[("Authorization", format!("Bearer {HMAC_SECRET}"))],
            json!({"host": "db-7"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, bearer) = hooks
        .post(
            "/hooks/siem/v1",
            &[("Authorization", format!("bearer {BEARER_TOKEN}"))],
            json!({"host": "db-7"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{bearer}");
    assert_eq!(hooks.ended(&run_id).await["status"], "succeeded");

    let accepted = hooks.audit("webhook.accepted").await;
    assert_eq!(accepted.len(), 3, "{accepted:?}");
    // Newest first: the bearer run, the duplicate, the first run.
    assert_eq!(accepted[0]["actor"], "hook:siem");
    assert_eq!(accepted[0]["target"], bearer["run_id"]);
    assert_eq!(
        accepted[0]["detail"],
        json!({"duplicate": false, "playbook": "note-host"})
    );
    assert_eq!(accepted[1]["actor"], "hook:splunk");
    assert_eq!(accepted[1]["target"], run_id.as_str());
    assert_eq!(
        accepted[1]["detail"],
        json!({"duplicate": true, "playbook": "note-host"})
    );
    assert_eq!(accepted[2]["target"], run_id.as_str());
    assert_eq!(
        accepted[2]["detail"],
        json!({"duplicate": false, "playbook": "note-host"})
    );
    let ignored = hooks.audit("webhook.ignored").await;
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0]["actor"], "hook:splunk");
    assert_eq!(ignored[0]["target"], "splunk");
    assert_eq!(ignored[0]["detail"], json!({}));
    let refused = hooks.audit("webhook.refused").await;
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(refused[0]["actor"], "hook:siem");
    assert_eq!(refused[0]["target"], "siem");
    for entry in &refused[1..] {
        assert_eq!(entry["actor"], "hook:splunk");
        assert_eq!(entry["target"], "splunk");
    }
    for entry in &refused {
        assert_eq!(
            entry["detail"],
            json!({"status": 401, "reason": "bad or missing signature"})
        );
    }
    for entry in accepted.iter().chain(&ignored).chain(&refused) {
        let address = entry["remote_addr"].as_str().unwrap_or_default();
        assert!(address.starts_with("127.0.0.1:"), "{entry}");
    }
    let (status, everything) = hooks
        .get("/api/v1/audit?limit=500", Some(&hooks.admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let everything = everything.to_string();
    let signatures = [
        signature.as_str(),
        expected.trim_start_matches("sha256="),
        presented.trim_start_matches("sha256="),
    ];
    for secret in [HMAC_SECRET, BEARER_TOKEN].iter().chain(&signatures) {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
    let log = hooks.serve.log_text();
    for signature in signatures {
        assert!(!log.contains(signature), "{signature} in the log:\n{log}");
    }
    // `runbook audit` reads the same store: nothing there either.
    let output = std::process::Command::new(runbook_tests::runbook_binary())
        .args(["audit", "--format", "json", "--store", &hooks.serve.store])
        .output()
        .expect("runbook audit");
    assert!(output.status.success());
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.contains("webhook.refused"), "{listed}");
    for secret in [HMAC_SECRET, BEARER_TOKEN] {
        assert!(!listed.contains(secret), "{secret} in {listed}");
    }
    let log = hooks.serve.log_text();
    assert!(log.contains("webhook refused"), "{log}");
    hooks.assert_no_secret_anywhere();
}

#[test]
fn serve_refuses_to_start_without_a_triggers_secret_naming_the_variable_not_a_value() {
    let folder = tempfile::tempdir().expect("folder");
    for unset in [None, Some(String::new())] {
        let mut options = options("2s", None);
        options.env.retain(|(name, _)| name != "SPLUNK_HOOK_SECRET");
        if let Some(empty) = &unset {
            options
                .env
                .push(("SPLUNK_HOOK_SECRET".to_owned(), empty.clone()));
        }
        let (code, stderr) = serve_to_exit(folder.path(), &options, Duration::from_secs(30));
        assert_eq!(code, Some(2), "{unset:?}: {stderr}");
        assert!(stderr.contains("SPLUNK_HOOK_SECRET"), "{stderr}");
        assert!(stderr.contains("`splunk`"), "{stderr}");
        assert!(!stderr.contains("SIEM_HOOK_TOKEN"), "{stderr}");
        assert!(!stderr.contains(BEARER_TOKEN), "{stderr}");
        assert!(!stderr.contains("http at"), "{stderr}");
    }
}

#[test]
fn serve_refuses_to_start_with_a_trigger_of_a_playbook_not_in_its_folder() {
    let folder = tempfile::tempdir().expect("folder");
    let mut options = options("2s", None);
    options.triggers =
        Some(triggers("2s").replacen("playbook: note-host", "playbook: tag-suspect-host", 1));
    let (code, stderr) = serve_to_exit(folder.path(), &options, Duration::from_secs(30));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("RB049"), "{stderr}");
    assert!(stderr.contains("tag-suspect-host"), "{stderr}");
    assert!(stderr.contains("triggers.yaml:5:15"), "{stderr}");
    assert!(!stderr.contains("http at"), "{stderr}");
    for secret in [HMAC_SECRET, BEARER_TOKEN] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

#[tokio::test]
async fn two_serve_processes_on_postgres_start_one_run_for_one_dedup_key() {
    let Some(database) = PostgresDatabase::create() else {
        return;
    };
    let folder = tempfile::tempdir().expect("folder");
    let (one, two) = (folder.path().join("one"), folder.path().join("two"));
    std::fs::create_dir_all(&one).expect("folder one");
    std::fs::create_dir_all(&two).expect("folder two");
    let first = Hooks::start(&one, &options("10m", Some(database.url.clone())));
    let second = HttpServe::start(&two, &options("10m", Some(database.url.clone())));
    let bases = [first.serve.base.clone(), second.base.clone()];
    let body = alert("sid-shared", "critical", "web-01");
    let answers: Arc<Mutex<Vec<String>>> = Arc::default();

    // Four one after the other, alternating; then sixteen at once, alternating.
    let mut results = Vec::new();
    for index in 0..4 {
        results.push(
            post(
                &first.client,
                &bases[index % 2],
                "/hooks/splunk",
                &signed_headers(&body),
                body.clone(),
                &answers,
            )
            .await,
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..16 {
        let client = first.client.clone();
        let base = bases[index % 2].clone();
        let body = body.clone();
        let answers = answers.clone();
        tasks.spawn(async move {
            post(
                &client,
                &base,
                "/hooks/splunk",
                &signed_headers(&body),
                body.clone(),
                &answers,
            )
            .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("a request task"));
    }
    assert_eq!(results.len(), 20);
    let queued: Vec<&(StatusCode, Value)> = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::ACCEPTED)
        .collect();
    assert_eq!(queued.len(), 1, "{results:?}");
    let run_id = run_id_of(&queued[0].1);
    for (status, answer) in &results {
        if *status == StatusCode::OK {
            assert_eq!(answer, &json!({"run_id": run_id, "duplicate": true}));
        } else {
            assert_eq!(*status, StatusCode::ACCEPTED, "{answer}");
            assert_eq!(answer, &json!({"run_id": run_id}));
        }
    }
    for base in &bases {
        assert_eq!(
            run_ids(&first.client, base, &first.viewer).await,
            vec![run_id.clone()]
        );
    }
    let run = first.ended(&run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let accepted = first.audit("webhook.accepted").await;
    assert_eq!(accepted.len(), 20, "{accepted:?}");
    for log in [first.serve.log_text(), second.log_text()] {
        assert!(!log.contains(HMAC_SECRET));
    }
    for answer in answers.lock().expect("answers").iter() {
        assert!(!answer.contains(HMAC_SECRET), "{answer}");
    }
}

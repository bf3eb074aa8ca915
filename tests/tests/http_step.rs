//! The `http` step through the `runbook` binary, against a receiver on loopback (allowed by
//! name with `--http-allow 127.0.0.1`): each method with its body and headers, JSON and text
//! answers, status expectations, the size limit, a timeout, refusals that send nothing (a host
//! not allowed, a redirect to one, the Tanium server), secrets absent from everything runbook
//! writes, and runs killed between sending and recording: no silent resend on resume.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::{is_stopped, runbook_against, runbook_binary};
use serde_json::{Value, json};

/// What the receiver saw, one JSON object per request.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Value>>>,
    port: u16,
}

impl Receiver {
    fn seen(&self) -> Vec<Value> {
        self.seen.lock().expect("seen").clone()
    }
}

/// Answers by path: `/text` plain text, `/big` 2 MiB, `/slow` after 3 s, `/away` a redirect
/// to `localhost` (another name for the same server, not allowed), `/status/N` that status,
/// `/slack/...` Slack's `ok`; anything else echoes the request as JSON.
async fn answer(
    State(receiver): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            )
        })
        .collect();
    let request = json!({
        "method": method.as_str(),
        "path": uri.path(),
        "headers": header_map,
        "body": String::from_utf8_lossy(&body),
    });
    receiver.seen.lock().expect("seen").push(request.clone());
    let path = uri.path().to_owned();
    match path.as_str() {
        "/text" => ([(header::CONTENT_TYPE, "text/plain")], "plain answer").into_response(),
        "/big" => vec![b'x'; 2 << 20].into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late".into_response()
        }
        "/away" => {
            Redirect::temporary(&format!("http://localhost:{}/echo", receiver.port)).into_response()
        }
        _ if path.starts_with("/status/") => {
            let code = path["/status/".len()..].parse().unwrap_or(500);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, format!("nope {code}")).into_response()
        }
        _ if path.starts_with("/slack/") => {
            ([(header::CONTENT_TYPE, "text/plain")], "ok").into_response()
        }
        _ => axum::Json(request).into_response(),
    }
}

async fn receiver() -> (String, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("its address").port();
    let receiver = Receiver {
        seen: Arc::default(),
        port,
    };
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(receiver.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://127.0.0.1:{port}"), receiver)
}

async fn simulator() -> RunningSim {
    Simulator::start(SimConfig {
        time_scale: 600.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Folder {
    temp: tempfile::TempDir,
}

impl Folder {
    fn new() -> Self {
        Folder {
            temp: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn playbook(&self, source: &str) -> PathBuf {
        let path = self.temp.path().join("notify.yaml");
        std::fs::write(&path, source).expect("playbook written");
        path
    }

    fn store(&self) -> String {
        format!("sqlite://{}", self.temp.path().join("runs.db").display())
    }

    fn database(&self) -> PathBuf {
        self.temp.path().join("runs.db")
    }
}

/// `runbook` against the simulator, recording into the folder's store, with `allow` as the
/// hosts `http` steps may reach (nothing when empty).
fn runbook(sim: &RunningSim, folder: &Folder, allow: &str) -> Command {
    let mut command = runbook_against(&sim.base_url(), &sim.api_token(), &folder.store());
    command
        .env_remove("RUNBOOK_TEST_PAUSE_AT")
        .env_remove("RUNBOOK_HTTP_ALLOW");
    if !allow.is_empty() {
        command.env("RUNBOOK_HTTP_ALLOW", allow);
    }
    command
}

fn run(sim: &RunningSim, folder: &Folder, allow: &str, source: &str, extra: &[&str]) -> Output {
    let path = folder.playbook(source);
    runbook(sim, folder, allow)
        .arg("run")
        .arg(&path)
        .arg("--json")
        .args(extra)
        .output()
        .expect("runbook ran")
}

/// The `run_finished` event of a `--json` run.
fn finished(output: &Output) -> Value {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "run_finished")
        .unwrap_or_else(|| {
            panic!(
                "no run_finished:\n{}\n{}",
                text(&output.stdout),
                text(&output.stderr)
            )
        })
}

fn step_error(output: &Output) -> String {
    text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "step_failed")
        .map(|event| event["error"].as_str().unwrap_or("").to_owned())
        .unwrap_or_else(|| panic!("no step_failed:\n{}", text(&output.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_method_reaches_the_receiver_with_its_body_and_headers() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let source = format!(
        r#"version: 1
name: methods
inputs:
  word: {{ type: string, default: "héllo & <bye>" }}
steps:
  - id: get_json
    http: {{ url: "{base}/echo?q={{{{ inputs.word | urlencode }}}}" }}
  - id: get_text
    http: {{ url: "{base}/text" }}
  - id: post
    http:
      method: POST
      url: "{base}/echo"
      headers: {{ X-Case: "{{{{ inputs.word }}}}" }}
      json: {{ word: "{{{{ inputs.word }}}}", seen: "{{{{ steps.get_text.text }}}}" }}
  - id: put
    http:
      method: PUT
      url: "{base}/echo"
      body: "a,b"
      content_type: text/csv
  - id: patch
    http: {{ method: patch, url: "{base}/echo", json: [1, 2] }}
  - id: delete
    http: {{ method: DELETE, url: "{base}/echo", expect_status: 200 }}
  - id: teapot
    http: {{ url: "{base}/status/418", expect_status: [418] }}
outputs:
  get_method: "{{{{ steps.get_json.json.method }}}}"
  text: "{{{{ steps.get_text.text }}}}"
  text_json: "{{{{ steps.get_text.json }}}}"
  posted: "{{{{ steps.post.json.body }}}}"
  post_status: "{{{{ steps.post.status }}}}"
  content_type: "{{{{ steps.post.headers['content-type'] }}}}"
  teapot: "{{{{ steps.teapot.text }}}}"
"#
    );
    let output = run(&sim, &folder, "127.0.0.1", &source, &[]);
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    let outputs = &event["outputs"];
    assert_eq!(outputs["get_method"], "GET");
    assert_eq!(outputs["text"], "plain answer");
    assert_eq!(outputs["text_json"], Value::Null);
    assert_eq!(outputs["post_status"], 200);
    assert_eq!(outputs["content_type"], "application/json");
    assert_eq!(outputs["teapot"], "nope 418");
    let posted: Value =
        serde_json::from_str(outputs["posted"].as_str().unwrap_or("")).expect("the body posted");
    assert_eq!(
        posted,
        json!({"word": "héllo & <bye>", "seen": "plain answer"})
    );

    let seen = receiver.seen();
    let methods: Vec<&str> = seen.iter().filter_map(|r| r["method"].as_str()).collect();
    assert_eq!(
        methods,
        ["GET", "GET", "POST", "PUT", "PATCH", "DELETE", "GET"]
    );
    assert_eq!(seen[0]["path"], "/echo");
    assert_eq!(seen[2]["headers"]["x-case"], "héllo & <bye>");
    assert_eq!(seen[2]["headers"]["content-type"], "application/json");
    assert_eq!(seen[3]["headers"]["content-type"], "text/csv");
    assert_eq!(seen[3]["body"], "a,b");
    assert_eq!(seen[4]["body"], "[1,2]");
    // Changing requests carry an Idempotency-Key of their own; reads do not.
    let keys: Vec<Option<&str>> = seen
        .iter()
        .map(|request| request["headers"]["idempotency-key"].as_str())
        .collect();
    assert!(
        keys[0].is_none() && keys[1].is_none() && keys[6].is_none(),
        "{keys:?}"
    );
    let sent: std::collections::BTreeSet<&str> = keys[2..6].iter().flatten().copied().collect();
    assert_eq!(sent.len(), 4, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_say_what_happened() {
    let (base, _receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let one =
        |step: &str| format!("version: 1\nname: failing\nsteps:\n  - id: call\n    http: {step}\n");
    let cases = [
        (
            format!(r#"{{ method: POST, url: "{base}/status/500" }}"#),
            "POST http://127.0.0.1",
            "answered 500, expected any 2xx: nope 500",
        ),
        (
            format!(r#"{{ url: "{base}/big", max_response: 1MiB }}"#),
            "GET http://127.0.0.1",
            "larger than",
        ),
        (
            format!(r#"{{ method: POST, url: "{base}/slow", timeout: 1s }}"#),
            "POST http://127.0.0.1",
            "may have reached the receiver",
        ),
    ];
    for (step, says, reason) in &cases {
        let output = run(&sim, &folder, "127.0.0.1", &one(step), &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{step}: {}",
            text(&output.stderr)
        );
        let error = step_error(&output);
        assert!(
            error.contains(says) && error.contains(reason),
            "{step}: {error}"
        );
    }
    // A status outside the expected ones leaves the answer for `on_failure`.
    let source = format!(
        r#"version: 1
name: failing
steps:
  - id: call
    http: {{ url: "{base}/status/404" }}
on_failure:
  - id: said
    log: "the receiver said {{{{ steps.call.status }}}}: {{{{ steps.call.text }}}}"
"#
    );
    let output = run(&sim, &folder, "127.0.0.1", &source, &[]);
    assert!(
        text(&output.stdout).contains("the receiver said 404: nope 404"),
        "{}",
        text(&output.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_send_nothing() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let one = |url: &str| {
        format!(
            "version: 1\nname: refused\nsteps:\n  - id: call\n    http: {{ method: POST, url: \"{url}\" }}\n"
        )
    };
    // Nothing allowed.
    let output = run(&sim, &folder, "", &one(&format!("{base}/echo")), &[]);
    assert_eq!(output.status.code(), Some(1));
    let error = step_error(&output);
    assert!(
        error.contains("was not sent") && error.contains("--http-allow"),
        "{error}"
    );
    // Another host than the one allowed.
    let output = run(
        &sim,
        &folder,
        "hooks.slack.com",
        &one(&format!("{base}/echo")),
        &[],
    );
    assert!(
        step_error(&output).contains("127.0.0.1"),
        "{}",
        step_error(&output)
    );
    // Loopback allowed only by a wildcard.
    let output = run(&sim, &folder, "*", &one(&format!("{base}/echo")), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    assert!(receiver.seen().is_empty(), "{:?}", receiver.seen());

    // A redirect to a host not allowed is not followed: the first request went, no other.
    let source = format!(
        "version: 1\nname: refused\nsteps:\n  - id: call\n    http: {{ url: \"{base}/away\" }}\n"
    );
    let output = run(&sim, &folder, "127.0.0.1", &source, &[]);
    assert_eq!(output.status.code(), Some(1));
    let error = step_error(&output);
    assert!(
        error.contains("localhost") && error.contains("redirect"),
        "{error}"
    );
    let paths: Vec<Value> = receiver.seen().iter().map(|r| r["path"].clone()).collect();
    assert_eq!(paths, [json!("/away")]);

    // The Tanium server is never reached, even on an allowed host.
    let output = run(
        &sim,
        &folder,
        "127.0.0.1",
        &one(&format!("{}/api/v2/actions", sim.base_url())),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let error = step_error(&output);
    assert!(error.contains("Tanium"), "{error}");
    let inspector = sim.inspect();
    assert_eq!(inspector.request_count("POST", "/api/v2/actions"), 0);
    assert!(inspector.actions.is_empty());
}

/// A secret and what templates compute from it, in the URL, a header and the body; the
/// receiver echoes the body, so the answer holds the secret too.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_absent_from_everything_runbook_writes() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let secret = "sEcReT-tok-93817";
    let source = format!(
        r#"version: 1
name: secretive
secrets: [HOOK_TOKEN]
steps:
  - id: notify
    http:
      method: POST
      url: "{base}/slack/{{{{ secrets.HOOK_TOKEN }}}}"
      headers: {{ Authorization: "Bearer {{{{ secrets.HOOK_TOKEN | upper }}}}" }}
      json: {{ text: "hello", token: "{{{{ secrets.HOOK_TOKEN }}}}" }}
  - id: echo
    http:
      method: POST
      url: "{base}/echo"
      json: {{ token: "{{{{ secrets.HOOK_TOKEN }}}}" }}
  - id: said
    log: "echoed {{{{ steps.echo.json.body }}}}"
outputs:
  answer: "{{{{ steps.notify.text }}}}"
  echoed: "{{{{ steps.echo.json.body }}}}"
"#
    );
    let path = folder.playbook(&source);
    let mut everything = String::new();
    for format in [&["--json"][..], &["-v"][..]] {
        let output = runbook(&sim, &folder, "127.0.0.1")
            .env("HOOK_TOKEN", secret)
            .arg("run")
            .arg(&path)
            .args(format)
            .output()
            .expect("runbook ran");
        assert!(output.status.success(), "{}", text(&output.stderr));
        everything.push_str(&text(&output.stdout));
        everything.push_str(&text(&output.stderr));
    }
    assert!(everything.contains("/slack/[REDACTED]"), "{everything}");
    let listed = runbook(&sim, &folder, "")
        .args(["runs", "list", "--json"])
        .output()
        .expect("runs list");
    let runs: Value = serde_json::from_slice(&listed.stdout).expect("runs");
    for run in runs.as_array().expect("runs") {
        let id = run["run_id"].as_str().expect("id");
        for format in [&["--json"][..], &[][..]] {
            let shown = runbook(&sim, &folder, "")
                .args(["runs", "show", id])
                .args(format)
                .output()
                .expect("runs show");
            everything.push_str(&text(&shown.stdout));
            everything.push_str(&text(&shown.stderr));
        }
    }
    let plan = runbook(&sim, &folder, "127.0.0.1")
        .arg("plan")
        .arg(&path)
        .output()
        .expect("plan");
    everything.push_str(&text(&plan.stdout));
    assert!(
        text(&plan.stdout).contains("/slack/<secrets.HOOK_TOKEN>"),
        "{}",
        text(&plan.stdout)
    );
    let database = std::fs::read(folder.database()).expect("the store");
    everything.push_str(&String::from_utf8_lossy(&database));
    for wal in ["runs.db-wal", "runs.db-shm"] {
        if let Ok(bytes) = std::fs::read(folder.temp.path().join(wal)) {
            everything.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    for leaked in [secret, &secret.to_uppercase(), &secret[4..]] {
        assert!(
            !everything.contains(leaked),
            "`{leaked}` leaked:\n{everything}"
        );
    }
    // The receiver did get it: it was sent, only never written down.
    let seen = receiver.seen();
    assert_eq!(seen[0]["path"], format!("/slack/{secret}"));
    assert_eq!(
        seen[0]["headers"]["authorization"],
        format!("Bearer {}", secret.to_uppercase())
    );
}

/// Starts the run, lets it stop itself at `point` and kills it there; the run's id.
fn run_and_kill_at(sim: &RunningSim, folder: &Folder, path: &Path, point: &str) -> String {
    let mut child = runbook(sim, folder, "127.0.0.1")
        .env("RUNBOOK_TEST_PAUSE_AT", point)
        .arg("run")
        .arg(path)
        .arg("--json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runbook started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !is_stopped(&child) {
        assert!(Instant::now() < deadline, "the run never reached {point}");
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "the run ended before {point}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let listed = runbook(sim, folder, "")
        .args(["runs", "list", "--json"])
        .output()
        .expect("runs list");
    let runs: Value = serde_json::from_slice(&listed.stdout).expect("runs");
    runs[0]["run_id"].as_str().expect("a run id").to_owned()
}

fn resume(sim: &RunningSim, folder: &Folder, run_id: &str) -> Output {
    runbook(sim, folder, "127.0.0.1")
        .args(["runs", "resume", run_id, "--json"])
        .output()
        .expect("runs resume")
}

fn posting(base: &str, resend: bool) -> String {
    format!(
        r#"version: 1
name: posting
steps:
  - id: open_ticket
    http:
      method: POST
      url: "{base}/echo"
      json: {{ summary: "host tagged" }}
      resend_on_resume: {resend}
outputs:
  status: "{{{{ steps.open_ticket.status }}}}"
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_may_have_been_sent_is_not_sent_again_on_resume() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let path = folder.playbook(&posting(&base, false));
    let run_id = run_and_kill_at(&sim, &folder, &path, "http_answered");
    assert_eq!(receiver.seen().len(), 1);
    // Before the resume, `runs show` says where the request stands.
    let shown = runbook(&sim, &folder, "")
        .args(["runs", "show", &run_id])
        .output()
        .expect("runs show");
    assert!(
        text(&shown.stdout).contains("POST http://127.0.0.1")
            && text(&shown.stdout).contains("sent, no answer recorded"),
        "{}",
        text(&shown.stdout)
    );
    let output = resume(&sim, &folder, &run_id);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let error = step_error(&output);
    assert!(
        error.contains("may have been sent") && error.contains("resend_on_resume"),
        "{error}"
    );
    assert_eq!(
        receiver.seen().len(),
        1,
        "sent again: {:?}",
        receiver.seen()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resend_on_resume_sends_again_with_the_same_idempotency_key() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let path = folder.playbook(&posting(&base, true));
    let run_id = run_and_kill_at(&sim, &folder, &path, "http_answered");
    let output = resume(&sim, &folder, &run_id);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0]["headers"]["idempotency-key"],
        seen[1]["headers"]["idempotency-key"]
    );
    assert!(seen[0]["headers"]["idempotency-key"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_answer_stands_on_resume() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let path = folder.playbook(&posting(&base, false));
    let run_id = run_and_kill_at(&sim, &folder, &path, "http_recorded");
    let output = resume(&sim, &folder, &run_id);
    assert!(output.status.success(), "{}", text(&output.stdout));
    assert_eq!(finished(&output)["outputs"]["status"], 200);
    assert!(
        text(&output.stdout).contains("its recorded answer stands"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(
        receiver.seen().len(),
        1,
        "sent again: {:?}",
        receiver.seen()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_notify_slack_example_posts_its_summary() {
    let (base, receiver) = receiver().await;
    let root = runbook_tests::workspace_root();
    let output = Command::new(runbook_binary())
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .env("SLACK_PATH", "T000/B000/XXXX")
        .env_remove("RUNBOOK_HTTP_ALLOW")
        .env_remove("RUNBOOK_DATABASE_URL")
        .args([
            "run",
            "playbooks/notify-slack.yaml",
            "--sim",
            "--sim-time-scale",
            "600",
            "--json",
            "--http-allow",
            "127.0.0.1",
            "--input",
            "hostname=WIN-DC01",
            "--input",
        ])
        .arg(format!("slack_url={base}/slack"))
        .stdin(Stdio::null())
        .output()
        .expect("runbook ran");
    let event = finished(&output);
    assert_eq!(
        event["status"],
        "succeeded",
        "{event}\n{}",
        text(&output.stderr)
    );
    assert_eq!(event["outputs"]["slack"], "ok");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["path"], "/slack/T000/B000/XXXX");
    assert!(
        seen[0]["body"]
            .as_str()
            .unwrap_or("")
            .contains("Tagged 1 of 1 host(s)"),
        "{seen:?}"
    );
    assert!(!text(&output.stdout).contains("XXXX"));
}

/// A run queued for `runbook serve` sends its `http` step through the serve process's egress
/// (its `RUNBOOK_HTTP_ALLOW`), as `runbook run` does.
#[tokio::test(flavor = "multi_thread")]
async fn a_queued_run_posts_through_the_serve_processs_egress() {
    let (base, receiver) = receiver().await;
    let sim = simulator().await;
    let folder = Folder::new();
    let path = folder.playbook(&posting(&base, false));
    let queued = runbook(&sim, &folder, "")
        .arg("enqueue")
        .arg(&path)
        .output()
        .expect("enqueue");
    assert!(queued.status.success(), "{}", text(&queued.stderr));
    let run_id = text(&queued.stdout).trim().to_owned();
    let mut server = runbook(&sim, &folder, "127.0.0.1")
        .args(["serve", "--workers", "1", "--poll-interval", "100ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve started");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let listed = runbook(&sim, &folder, "")
            .args(["runs", "list", "--json"])
            .output()
            .expect("runs list");
        let runs: Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
        let status = runs[0]["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" || status == "failed" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, "succeeded", "run {run_id}");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["method"], "POST");
    assert!(seen[0]["headers"]["idempotency-key"].is_string());
}

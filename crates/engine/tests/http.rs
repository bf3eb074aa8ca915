//! The `http` step in the engine, with a scripted receiver standing in for the egress: what is
//! sent (the `Idempotency-Key` of changing requests), which failures send a `GET` again and
//! which never send anything twice, `retry` on a `POST`, and secrets in the request absent from
//! every event. The real egress and its policy are tested in runbook-egress and end to end
//! (tests/tests/http_step.rs).

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use runbook_engine::{
    Egress, EgressError, EgressErrorKind, Event, HttpAnswer, HttpRequest, RunStatus,
};

use common::run_with_egress;

/// Answers each request with the next scripted answer (the last one again when they run
/// out), keeping the requests.
#[derive(Debug)]
struct Scripted {
    answers: Mutex<VecDeque<Result<HttpAnswer, EgressError>>>,
    requests: Mutex<Vec<HttpRequest>>,
}

impl Scripted {
    fn new(answers: Vec<Result<HttpAnswer, EgressError>>) -> Arc<Self> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            requests: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().expect("requests").clone()
    }
}

fn status(code: u16, body: &str) -> Result<HttpAnswer, EgressError> {
    Ok(HttpAnswer {
        status: code,
        headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
        body: body.as_bytes().to_vec(),
    })
}

fn failure(kind: EgressErrorKind) -> Result<HttpAnswer, EgressError> {
    Err(EgressError::new(
        kind,
        "connection reset by tickets.example.com",
    ))
}

#[async_trait]
impl Egress for Scripted {
    fn check_url(&self, url: &str) -> Result<(), EgressError> {
        if url.contains("forbidden.example.com") {
            return Err(EgressError::new(
                EgressErrorKind::Refused,
                "`forbidden.example.com` is not allowed",
            ));
        }
        Ok(())
    }

    async fn send(&self, request: &HttpRequest) -> Result<HttpAnswer, EgressError> {
        self.requests
            .lock()
            .expect("requests")
            .push(request.clone());
        let mut answers = self.answers.lock().expect("answers");
        if answers.len() > 1 {
            answers.pop_front().unwrap_or_else(|| status(200, "ok"))
        } else {
            answers
                .front()
                .cloned()
                .unwrap_or_else(|| status(200, "ok"))
        }
    }
}

fn playbook(step: &str) -> String {
    format!(
        "version: 1\nname: http\nsecrets: [API_KEY]\nsteps:\n  - id: call\n{step}\noutputs:\n  status: \"{{{{ steps.call.status }}}}\"\n"
    )
}

fn error_of(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|event| match event {
            Event::StepFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_get_is_sent_again_while_its_failure_may_pass() {
    let egress = Scripted::new(vec![
        failure(EgressErrorKind::NotSent),
        status(503, "busy"),
        status(200, "fine"),
    ]);
    let source = playbook("    http: { url: \"https://intel.example.com/v1/hosts\" }");
    let (_, outcome) = run_with_egress(&source, &[], egress.clone()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(egress.requests().len(), 3);
    // A GET carries no Idempotency-Key.
    assert!(egress.requests()[0].headers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_post_is_sent_once_unless_the_step_says_retry() {
    let egress = Scripted::new(vec![
        failure(EgressErrorKind::MaybeSent),
        status(201, "made"),
    ]);
    let source = playbook(
        "    http: { method: POST, url: \"https://tickets.example.com/api\", json: { a: 1 } }",
    );
    let (events, outcome) = run_with_egress(&source, &[], egress.clone()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(egress.requests().len(), 1);
    assert!(
        error_of(&events).contains("may have reached the receiver"),
        "{}",
        error_of(&events)
    );

    let egress = Scripted::new(vec![
        failure(EgressErrorKind::MaybeSent),
        status(201, "made"),
    ]);
    let source = playbook(
        "    retry: { attempts: 2, backoff: 1s }\n    http: { method: POST, url: \"https://tickets.example.com/api\", json: { a: 1 } }",
    );
    let (_, outcome) = run_with_egress(&source, &[], egress.clone()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let requests = egress.requests();
    assert_eq!(requests.len(), 2);
    let key = |request: &HttpRequest| {
        request
            .headers
            .iter()
            .find(|(name, _)| name == "Idempotency-Key")
            .map(|(_, value)| value.clone())
    };
    assert!(key(&requests[0]).is_some());
    assert_eq!(
        key(&requests[0]),
        key(&requests[1]),
        "the same key each attempt"
    );
    assert_eq!(
        requests[0].body.as_deref(),
        Some(&b"{\"a\":1}"[..]),
        "the JSON body as sent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_url_is_never_sent() {
    let egress = Scripted::new(vec![status(200, "ok")]);
    let source = playbook("    http: { method: POST, url: \"https://forbidden.example.com/x\" }");
    let (events, outcome) = run_with_egress(&source, &[], egress.clone()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(egress.requests().is_empty());
    assert!(
        error_of(&events).contains("was not sent"),
        "{}",
        error_of(&events)
    );
}

#[tokio::test(start_paused = true)]
async fn an_unexpected_status_fails_and_keeps_the_answer() {
    let egress = Scripted::new(vec![status(409, "already there")]);
    let source = playbook(
        "    continue_on_error: true\n    http: { method: PUT, url: \"https://tickets.example.com/api\", body: x, expect_status: [200, 201] }",
    );
    let (events, outcome) = run_with_egress(&source, &[], egress).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["status"], 409);
    assert!(
        error_of(&events).contains("answered 409, expected 200 or 201: already there"),
        "{}",
        error_of(&events)
    );
}

#[tokio::test(start_paused = true)]
async fn secrets_in_the_request_never_reach_an_event() {
    let egress = Scripted::new(vec![status(500, "rejected s3cr3t-value")]);
    let source = playbook(
        "    http:\n      method: POST\n      url: \"https://hooks.example.com/services/{{ secrets.API_KEY }}\"\n      headers: { Authorization: \"Bearer {{ secrets.API_KEY | upper }}\" }\n      json: { key: \"{{ secrets.API_KEY[:6] }}\" }",
    );
    let (events, outcome) = run_with_egress(&source, &[], egress.clone()).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let everything = serde_json::to_string(&events).expect("events as JSON");
    for secret in ["s3cr3t-value", "S3CR3T-VALUE", "s3cr3t"] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
    assert!(
        everything.contains("POST https://hooks.example.com/services/[REDACTED]"),
        "{everything}"
    );
    // It was sent all the same.
    assert!(egress.requests()[0].url.ends_with("/s3cr3t-value"));
}

#[tokio::test(start_paused = true)]
async fn without_an_egress_nothing_is_sent() {
    let source = playbook("    http: { url: \"https://intel.example.com/v1/hosts\" }");
    let loaded = runbook_playbook::load("http.yaml", &source);
    let playbook = loaded.playbook.expect("valid");
    let engine = runbook_engine::Engine::new(
        Arc::new(common::Scripted::default()),
        Arc::new(runbook_engine::NoEvents),
    );
    let request = runbook_engine::RunRequest::new(Arc::new(playbook), Default::default());
    let outcome = engine.run(&request).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no HTTP requests"),
        "{:?}",
        outcome.error
    );
}

#[tokio::test(start_paused = true)]
async fn each_loop_item_sends_once_with_a_key_of_its_own() {
    let egress = Scripted::new(vec![status(201, "made")]);
    let source = "version: 1\nname: http\nsteps:\n  - id: each\n    for_each:\n      items: [a, b, c]\n      concurrency: 3\n      steps:\n        - id: call\n          http: { method: POST, url: \"https://tickets.example.com/{{ item }}\", json: { item: \"{{ item }}\" } }\noutputs:\n  succeeded: \"{{ steps.each.succeeded }}\"\n";
    let (_, outcome) = run_with_egress(source, &[], egress.clone()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let requests = egress.requests();
    assert_eq!(requests.len(), 3);
    let keys: std::collections::BTreeSet<String> = requests
        .iter()
        .filter_map(|request| {
            request
                .headers
                .iter()
                .find(|(name, _)| name == "Idempotency-Key")
                .map(|(_, value)| value.clone())
        })
        .collect();
    assert_eq!(keys.len(), 3, "a key per item: {keys:?}");
}

#[tokio::test(start_paused = true)]
async fn a_secret_across_the_quoted_cut_leaves_no_prefix() {
    // The error quotes 200 characters of the answer; the secret starts at 195.
    let body = format!("{}s3cr3t-value and more", "a".repeat(195));
    let egress = Scripted::new(vec![status(500, &body)]);
    let source = playbook(
        "    http:\n      method: POST\n      url: \"https://hooks.example.com/x\"\n      json: { key: \"{{ secrets.API_KEY }}\" }",
    );
    let (events, outcome) = run_with_egress(&source, &[], egress).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = error_of(&events);
    assert!(error.contains("answered 500"), "{error}");
    assert!(!error.contains("s3cr3"), "{error}");
}

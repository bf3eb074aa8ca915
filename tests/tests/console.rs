//! The web console of `runbook serve --http`, without a browser (the browser test is
//! console_browser.rs): every page for each role, with the buttons and forms the role may use
//! and the server refusing the others anyway; sign-in, sign-out, session cookies and CSRF
//! tokens; the security headers; texts from playbooks, inputs and Tanium shown as text; the
//! live stream of a run's page.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use runbook_tests::http_serve::{HttpServe, ServeOptions};
use serde_json::json;

/// Waits at an `approve` gate, then logs. `<b>` in the description is text, not markup.
const GATED: &str = r#"version: 1
name: gated-note
description: "Asks first, then notes <b>bold</b>"
inputs:
  note: { type: string, default: hello }
steps:
  - id: review
    approve:
      summary: "Note {{ inputs.note }}?"
  - id: say
    log: "note {{ inputs.note }}"
outputs:
  note: "{{ inputs.note }}"
"#;

/// Asks the simulated fleet for its computer names (a Tanium text) and echoes an input.
const ECHO: &str = r#"version: 1
name: tanium-echo
description: Names every machine and echoes a note.
inputs:
  note: { type: string }
  count: { type: number, default: 1 }
  api_key: { type: string, secret: true, default: "sk-default-42" }
steps:
  - id: names
    question:
      get: [Computer Name]
      until_percent: 100
      timeout: 1m
  - id: say
    log: "{{ inputs.note }}"
outputs:
  note: "{{ inputs.note }}"
  names: "{{ steps.names.rows | map(attribute='Computer Name') | list }}"
"#;

/// A fleet one of whose machines has markup for a name.
const FLEET: &str = r#"endpoints:
  - computer_name: "<script>alert('tanium')</script>"
    ip_address: 10.0.0.66
    operating_system: Windows 11
  - computer_name: WIN-DC01
    ip_address: 10.0.0.10
    operating_system: Windows Server 2022
"#;

struct Console {
    serve: HttpServe,
    client: Client,
    _folder: tempfile::TempDir,
}

/// A signed-in browser, as far as the server can tell: its session cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    char::from(byte).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of cookie `name` set by a response.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let (pair, _) = value.split_once(';').unwrap_or((value, ""));
            let (key, cookie) = pair.split_once('=')?;
            (key == name).then(|| cookie.to_owned())
        })
}

fn hidden_csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("its value")
        .to_owned()
}

impl Console {
    fn start() -> Console {
        let folder = tempfile::tempdir().expect("a folder");
        std::fs::write(folder.path().join("fleet.yaml"), FLEET).expect("the fleet");
        let fleet = folder.path().join("fleet.yaml").display().to_string();
        let serve = HttpServe::start(
            folder.path(),
            &ServeOptions {
                playbooks: vec![
                    ("gated.yaml".to_owned(), GATED.to_owned()),
                    ("echo.yaml".to_owned(), ECHO.to_owned()),
                ],
                args: vec!["--sim-fleet".to_owned(), fleet],
                env: vec![("RUNBOOK_SECRET_KEY".to_owned(), "ab".repeat(32))],
                ..ServeOptions::default()
            },
        );
        Console {
            serve,
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .expect("a client"),
            _folder: folder,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.serve.base)
    }

    async fn sign_in(&self, token: &str) -> Session {
        let form = self
            .client
            .get(self.url("/login"))
            .send()
            .await
            .expect("login form");
        assert_eq!(form.status(), StatusCode::OK);
        let login = set_cookie(&form, "runbook_login").expect("the sign-in cookie");
        let html = form.text().await.expect("the form");
        assert_eq!(hidden_csrf(&html), login);
        let signed = self
            .post_form(
                "/login",
                &format!("runbook_login={login}"),
                &[("token", token), ("csrf", &login), ("next", "/runs")],
            )
            .await;
        assert_eq!(signed.status(), StatusCode::SEE_OTHER);
        assert_eq!(signed.headers()[LOCATION], "/runs");
        let id = set_cookie(&signed, "runbook_session").expect("a session cookie");
        let cookie = format!("runbook_session={id}");
        let page = self.get("/runs", &cookie).await;
        assert_eq!(page.0, StatusCode::OK, "{}", page.1);
        Session {
            csrf: hidden_csrf(&page.1),
            cookie,
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .expect("an answer");
        let status = response.status();
        (status, response.text().await.expect("a body"))
    }

    async fn post_form(
        &self,
        path: &str,
        cookie: &str,
        pairs: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_encode(pairs))
            .send()
            .await
            .expect("an answer")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_for_each_role_with_only_what_the_role_may_do() {
    let console = Console::start();
    let operator = console.serve.token("ops", "operator");
    let tokens = [
        ("viewer", console.serve.token("watcher", "viewer")),
        ("operator", operator.clone()),
        ("approver", console.serve.token("lead", "approver")),
        ("admin", console.serve.token("root", "admin")),
    ];
    let started = console
        .serve
        .api(
            reqwest::Method::POST,
            "/api/v1/runs",
            &operator,
            Some(json!({"playbook": "gated-note", "inputs": {"note": "first"}})),
        )
        .await;
    let run_id = started["run_id"].as_str().expect("a run id").to_owned();
    console.serve.wait_for_gate(&run_id, &operator).await;

    for (role, token) in &tokens {
        let session = console.sign_in(token).await;
        let may_decide = matches!(*role, "approver" | "admin");
        let may_start = matches!(*role, "operator" | "admin");
        for (path, expected) in [
            ("/runs", run_id.as_str()),
            (&format!("/runs/{run_id}"), "Waiting for approval: review"),
            ("/approvals", "Note first?"),
            ("/schedules", "This server fires no schedules"),
            ("/playbooks", "tanium-echo"),
            (
                "/playbooks/gated-note",
                "Asks first, then notes &lt;b&gt;bold&lt;&#x2f;b&gt;",
            ),
            ("/runs?status=queued", run_id.as_str()),
            ("/runs?playbook=tanium-echo", "No run matches."),
        ] {
            let (status, html) = console.get(path, &session.cookie).await;
            assert_eq!(status, StatusCode::OK, "{role} {path}: {html}");
            assert!(
                html.contains(expected),
                "{role} {path}: no {expected:?} in\n{html}"
            );
            assert!(
                html.contains(&format!(
                    "{} <small class=\"role\">{role}</small>",
                    match *role {
                        "viewer" => "watcher",
                        "operator" => "ops",
                        "approver" => "lead",
                        _ => "root",
                    }
                )),
                "{role} {path}: who is signed in"
            );
        }
        let (_, approvals) = console.get("/approvals", &session.cookie).await;
        assert_eq!(
            approvals.contains("value=\"approve\""),
            may_decide,
            "{role}: approve button"
        );
        let (_, playbook) = console.get("/playbooks/gated-note", &session.cookie).await;
        assert_eq!(
            playbook.contains("Start run"),
            may_start,
            "{role}: start form"
        );
        let (_, run) = console
            .get(&format!("/runs/{run_id}"), &session.cookie)
            .await;
        assert_eq!(
            run.contains("Cancel run"),
            may_start,
            "{role}: cancel button"
        );

        // The server refuses what the page does not offer, even with a valid CSRF token.
        if !may_decide {
            let refused = console
                .post_form(
                    &format!("/approvals/{run_id}/review"),
                    &session.cookie,
                    &[("csrf", &session.csrf), ("decision", "approve")],
                )
                .await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{role} decides");
            let text = refused.text().await.expect("a page");
            assert!(text.contains("may not decide approvals"), "{text}");
        }
        if !may_start {
            let refused = console
                .post_form(
                    "/playbooks/gated-note/start",
                    &session.cookie,
                    &[("csrf", &session.csrf)],
                )
                .await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{role} starts");
            let refused = console
                .post_form(
                    &format!("/runs/{run_id}/cancel"),
                    &session.cookie,
                    &[("csrf", &session.csrf)],
                )
                .await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{role} cancels");
        }
    }

    // The approver decides from the console: the run goes on to its end.
    let lead = console.sign_in(&tokens[2].1).await;
    let decided = console
        .post_form(
            &format!("/approvals/{run_id}/review"),
            &lead.cookie,
            &[
                ("csrf", &lead.csrf),
                ("decision", "approve"),
                ("comment", "ok <i>go</i>"),
            ],
        )
        .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        decided.headers()[LOCATION],
        format!("/runs/{run_id}").as_str()
    );
    let run = console
        .serve
        .wait_for_status(&run_id, "succeeded", &operator)
        .await;
    assert_eq!(run["outputs"]["note"], "first", "{run}");
    let (_, approvals) = console.get("/approvals", &lead.cookie).await;
    assert!(
        approvals.contains("Nothing waits for a decision."),
        "{approvals}"
    );
    assert!(approvals.contains("lead: approve at"), "{approvals}");
    assert!(
        approvals.contains("ok &lt;i&gt;go&lt;&#x2f;i&gt;"),
        "{approvals}"
    );

    // An operator starts a run from the form; an admin cancels one.
    let ops = console.sign_in(&operator).await;
    let started = console
        .post_form(
            "/playbooks/gated-note/start",
            &ops.cookie,
            &[("csrf", &ops.csrf), ("input.note", "second")],
        )
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let second = started.headers()[LOCATION]
        .to_str()
        .expect("text")
        .strip_prefix("/runs/")
        .expect("a run page")
        .to_owned();
    let queued = console
        .serve
        .wait_for_status(&second, "queued", &operator)
        .await;
    assert_eq!(queued["started_by"], "console:ops", "{queued}");
    let root = console.sign_in(&tokens[3].1).await;
    let cancelled = console
        .post_form(
            &format!("/runs/{second}/cancel"),
            &root.cookie,
            &[("csrf", &root.csrf)],
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    console
        .serve
        .wait_for_status(&second, "cancelled", &operator)
        .await;

    let audit = console
        .serve
        .api(reqwest::Method::GET, "/api/v1/audit", &tokens[3].1, None)
        .await;
    let actions: Vec<(String, String)> = audit
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default().to_owned(),
                entry["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("approval.decided", "lead"),
        ("run.started", "ops"),
        ("run.cancelled", "root"),
        ("console.signed_in", "watcher"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(action, actor)| (action.as_str(), actor.as_str()) == expected),
            "{expected:?} not in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_sessions_and_csrf_tokens_hold() {
    let console = Console::start();
    let token = console.serve.token("ops", "operator");

    // Without a session, a page sends the browser to sign in, and back after.
    let response = console
        .client
        .get(console.url("/runs?status=failed"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=/runs%3Fstatus%3Dfailed"
    );
    // Every answer carries the headers; the policy allows no inline script or style.
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("text");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    // The API does not take the console's cookie.
    let session = console.sign_in(&token).await;
    let api = console
        .client
        .get(console.url("/api/v1/runs"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .expect("an answer");
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // The sign-in form's token must match its cookie; a wrong token is refused.
    let forged = console
        .post_form(
            "/login",
            "runbook_login=abc",
            &[("token", &token), ("csrf", "xyz")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "runbook_session").is_none());
    let wrong = format!("rbk_{}", "0".repeat(64));
    let refused = console
        .post_form(
            "/login",
            "runbook_login=abc",
            &[("token", &wrong), ("csrf", "abc")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let page = refused.text().await.expect("a page");
    assert!(page.contains("That token was not accepted"), "{page}");
    assert!(!page.contains(&wrong), "the token is echoed");

    // The session cookie: HttpOnly, SameSite=Strict, an expiry; Secure behind a TLS proxy.
    for (forwarded, secure) in [(None, false), (Some("https"), true)] {
        let mut request = console
            .client
            .post(console.url("/login"))
            .header(COOKIE, "runbook_login=abc")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_encode(&[("token", &token), ("csrf", "abc")]));
        if let Some(proto) = forwarded {
            request = request.header("x-forwarded-proto", proto);
        }
        let signed = request.send().await.expect("an answer");
        let cookie = signed
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("text").to_owned())
            .find(|value| value.starts_with("runbook_session="))
            .expect("a session cookie");
        assert!(
            cookie.ends_with("; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict")
                || (secure && cookie.ends_with("; HttpOnly; SameSite=Strict; Secure")),
            "{cookie}"
        );
        assert_eq!(cookie.ends_with("; Secure"), secure, "{cookie}");
    }
    // Only a path of this console is followed after signing in.
    let elsewhere = console
        .post_form(
            "/login",
            "runbook_login=abc",
            &[
                ("token", &token),
                ("csrf", "abc"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(elsewhere.headers()[LOCATION], "/runs");

    // A form without this session's CSRF token changes nothing.
    let other = console.sign_in(&token).await;
    for csrf in [None, Some(other.csrf.as_str()), Some("")] {
        let mut pairs = vec![("input.note", "x")];
        if let Some(csrf) = csrf {
            pairs.push(("csrf", csrf));
        }
        let refused = console
            .post_form("/playbooks/tanium-echo/start", &session.cookie, &pairs)
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{csrf:?}");
        let text = refused.text().await.expect("a page");
        assert!(text.contains("CSRF token"), "{text}");
    }
    // A form that cannot be read is answered with a page, and changes nothing either.
    let unreadable = console
        .post_form(
            "/approvals/01a23a2f/review",
            &other.cookie,
            &[("csrf", &other.csrf)],
        )
        .await;
    assert_eq!(unreadable.status(), StatusCode::BAD_REQUEST);
    let text = unreadable.text().await.expect("a page");
    assert!(text.contains("the form could not be read"), "{text}");
    let runs = console
        .serve
        .api(reqwest::Method::GET, "/api/v1/runs", &token, None)
        .await;
    assert_eq!(runs["runs"], json!([]), "a forged form started a run");

    // Signing out ends the session in the store; a revoked token ends its sessions too.
    let out = console
        .post_form("/logout", &session.cookie, &[("csrf", &session.csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()[LOCATION], "/login");
    let (status, _) = console.get("/runs", &session.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = console.get("/runs", &other.cookie).await;
    assert_eq!(status, StatusCode::OK);
    let revoked = std::process::Command::new(runbook_tests::runbook_binary())
        .args(["tokens", "revoke", "ops", "--store", &console.serve.store])
        .output()
        .expect("tokens revoke");
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let (status, _) = console.get("/runs", &other.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread")]
async fn texts_from_playbooks_inputs_and_tanium_show_as_text() {
    let console = Console::start();
    let token = console.serve.token("ops", "operator");
    let session = console.sign_in(&token).await;

    // Inputs that do not fit come back on the form, each problem named, no secret echoed.
    let unfit = console
        .post_form(
            "/playbooks/tanium-echo/start",
            &session.cookie,
            &[
                ("csrf", &session.csrf),
                ("input.note", "<script>alert('kept')</script>"),
                ("input.count", "many"),
                ("input.api_key", "sk-live-0123456789"),
            ],
        )
        .await;
    assert_eq!(unfit.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = unfit.text().await.expect("a page");
    assert!(
        page.contains("The inputs do not fit the playbook"),
        "{page}"
    );
    assert!(page.contains("count"), "{page}");
    assert!(
        !page.contains("sk-live-0123456789"),
        "the secret is echoed: {page}"
    );
    assert!(!page.contains("<script>alert('kept')"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&#x27;kept&#x27;)&lt;&#x2f;script&gt;"),
        "{page}"
    );

    let started = console
        .post_form(
            "/playbooks/tanium-echo/start",
            &session.cookie,
            &[
                ("csrf", &session.csrf),
                ("input.note", "<script>alert('input')</script>"),
                ("input.api_key", "sk-live-0123456789"),
            ],
        )
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let run_id = started.headers()[LOCATION]
        .to_str()
        .expect("text")
        .trim_start_matches("/runs/")
        .to_owned();
    let run = console
        .serve
        .wait_for_status(&run_id, "succeeded", &token)
        .await;
    let names = run["outputs"]["names"].to_string();
    assert!(names.contains("<script>alert('tanium')</script>"), "{run}");

    let (status, html) = console
        .get(&format!("/runs/{run_id}"), &session.cookie)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !html.contains("<script>alert("),
        "markup from data in the page:\n{html}"
    );
    assert!(!html.contains("sk-live-0123456789"), "a secret in the page");
    for escaped in [
        "&lt;script&gt;alert(&#x27;input&#x27;)&lt;&#x2f;script&gt;",
        "&lt;script&gt;alert(\\u0027tanium\\u0027)&lt;&#x2f;script&gt;",
    ] {
        assert!(
            html.contains(escaped) || html.contains(&escaped.replace("\\u0027", "&#x27;")),
            "{escaped} not in\n{html}"
        );
    }
    // The default of a secret input is not in the playbook's source as the page shows it.
    let (_, playbook) = console.get("/playbooks/tanium-echo", &session.cookie).await;
    assert!(!playbook.contains("sk-default-42"), "{playbook}");
    assert!(
        playbook.contains("secret: true, default: &quot;********&quot;"),
        "{playbook}"
    );

    // The page of a finished run does not follow a stream; only scripts of this origin load.
    assert!(!html.contains("data-live"), "{html}");
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains("<script src=\"/static/console.js\" defer></script>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_run_page_follows_the_live_stream_to_its_end() {
    let console = Console::start();
    let operator = console.serve.token("ops", "operator");
    let approver = console.serve.token("lead", "approver");
    let started = console
        .serve
        .api(
            reqwest::Method::POST,
            "/api/v1/runs",
            &operator,
            Some(json!({"playbook": "gated-note"})),
        )
        .await;
    let run_id = started["run_id"].as_str().expect("a run id").to_owned();
    console.serve.wait_for_gate(&run_id, &operator).await;
    let session = console.sign_in(&operator).await;
    let (_, html) = console
        .get(&format!("/runs/{run_id}"), &session.cookie)
        .await;
    assert!(
        html.contains(&format!("data-live=\"/runs/{run_id}/live?after=")),
        "{html}"
    );

    // Without a session the stream is not given.
    let (status, _) = console.get(&format!("/runs/{run_id}/live"), "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let stream = console
        .client
        .get(console.url(&format!("/runs/{run_id}/live")))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()[CONTENT_TYPE]
            .to_str()
            .expect("text")
            .starts_with("text/event-stream")
    );
    console
        .serve
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/approvals/{run_id}/review"),
            &approver,
            Some(json!({"decision": "approve"})),
        )
        .await;
    let text = tokio::time::timeout(Duration::from_secs(60), stream.text())
        .await
        .expect("the stream ends with the run")
        .expect("a body");
    // Unnamed events (one handler takes them all), then `end` with the status.
    let named: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("event:"))
        .collect();
    assert_eq!(named, ["event: end"], "{text}");
    assert!(text.contains("\"event\":\"run_finished\""), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"status\":\"succeeded\"}"),
        "{text}"
    );

    // The page of the ended run follows nothing; a stream asked from its last event has
    // nothing but `end`.
    let (_, html) = console
        .get(&format!("/runs/{run_id}"), &session.cookie)
        .await;
    assert!(!html.contains("data-live"), "{html}");
    let last = text.lines().filter(|line| line.starts_with("id:")).count();
    let rest = console
        .get(
            &format!("/runs/{run_id}/live?after={last}"),
            &session.cookie,
        )
        .await
        .1;
    let events: Vec<&str> = rest
        .lines()
        .filter(|line| line.starts_with("data:"))
        .collect();
    assert_eq!(events, ["data: {\"status\":\"succeeded\"}"], "{rest}");
}

//! The web console in a real headless browser: Debian's `chromium`, driven through
//! `chromedriver` (package `chromium-driver`, installed by `.ci/run`) with the fantoccini
//! WebDriver client, against `runbook serve --http --sim`.
//!
//! One walk through the console, as its users would: an operator signs in, starts a run from
//! a playbook's form and watches it wait at its gate, then advance to `succeeded` without
//! reloading; an approver decides a pending gate with a comment and sees the run continue; a
//! viewer sees no approve button and is refused when posting a decision anyway; a form without
//! its CSRF token is refused; signing out ends the session. Screenshots of every page at 1280
//! and 390 px go to `target/tmp/console-screenshots/` (and to `docs/console/` with
//! `RUNBOOK_UPDATE_SCREENSHOTS=1`, for docs/console.md).
//!
//! Without `chromedriver` on the PATH the test says so and passes, unless `CI` is set: CI
//! always has it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use runbook_tests::http_serve::{HttpServe, ServeOptions};
use serde_json::json;

/// Waits at an `approve` gate, then issues one tagging action to the host.
const GATED: &str = r#"version: 1
name: gated-tag
description: Tag a host once a lead approves.
inputs:
  hostname: { type: string, default: WIN-DC01 }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.hostname }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR-reviewed }
  - id: review
    approve:
      summary: "Tag {{ inputs.hostname }} as IR-reviewed"
  - id: tag
    issue:
      name: "IR review {{ inputs.hostname }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
outputs:
  action: "{{ steps.tag.action_id }}"
  decided_by: "{{ steps.review.decided_by }}"
"#;

const SCHEDULES: &str = r#"version: 1
schedules:
  - name: nightly-review
    playbook: playbooks/gated.yaml
    cron: "0 2 * * *"
    timezone: Europe/Berlin
"#;

/// `chromedriver` on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|folder| folder.join("chromedriver"))
            .find(|candidate| candidate.is_file())
    })
}

async fn start_driver(binary: PathBuf) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver started");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        if let Ok(answer) = client.get(format!("{}/status", driver.url)).send().await
            && answer.status().is_success()
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    let mut options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ]
    });
    if std::path::Path::new("/usr/bin/chromium").is_file() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// A walk through the console: the browser, the server and the tokens.
struct Walk {
    browser: Client,
    serve: HttpServe,
    screenshots: Vec<PathBuf>,
}

impl Walk {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.serve.base)
    }

    async fn path(&self) -> String {
        let url = self.browser.current_url().await.expect("the url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
            .text()
            .await
            .expect("its text")
    }

    async fn count(&self, css: &str) -> usize {
        self.browser
            .find_all(Locator::Css(css))
            .await
            .expect("a search")
            .len()
    }

    async fn click(&self, css: &str) {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("clicking {css}: {error}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
            .send_keys(text)
            .await
            .expect("typed");
    }

    /// Waits (up to 60 s) until `css`'s text is `expected`, without touching the page.
    async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(element) = self.browser.find(Locator::Css(css)).await
                && element.text().await.is_ok_and(|text| text == expected)
            {
                return;
            }
            if Instant::now() > deadline {
                let source = self.browser.source().await.unwrap_or_default();
                panic!("{css} never read {expected:?}:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 30 s) until the browser is at `expected` (a path and query).
    async fn wait_for_path(&self, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = self.path().await;
            if path == expected {
                return;
            }
            if Instant::now() > deadline {
                let source = self.browser.source().await.unwrap_or_default();
                panic!("the browser is at {path}, not {expected}:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn sign_in(&self, token: &str) {
        self.browser
            .goto(&self.url("/runs"))
            .await
            .expect("the runs page");
        assert_eq!(self.path().await, "/login?next=/runs");
        self.type_into("#token", token).await;
        self.click(".signin button[type=submit]").await;
        self.wait_for_path("/runs").await;
    }

    async fn sign_out(&self) {
        self.click("form.who button[type=submit]").await;
        self.wait_for_path("/login").await;
    }

    /// Saves a screenshot of the page at each width, named `name-1280.png`, `name-390.png`.
    async fn screenshots(&mut self, name: &str) {
        let folder = screenshot_folder();
        std::fs::create_dir_all(&folder).expect("the screenshot folder");
        for (width, height) in [(1280, 900), (390, 844)] {
            self.browser
                .set_window_size(width, height)
                .await
                .expect("the window resized");
            let png = self.browser.screenshot().await.expect("a screenshot");
            assert!(png.starts_with(b"\x89PNG"), "not a PNG");
            let path = folder.join(format!("{name}-{width}.png"));
            std::fs::write(&path, png).expect("the screenshot saved");
            self.screenshots.push(path);
        }
        self.browser
            .set_window_size(1280, 900)
            .await
            .expect("the window resized");
    }
}

fn screenshot_folder() -> PathBuf {
    if std::env::var_os("RUNBOOK_UPDATE_SCREENSHOTS").is_some() {
        runbook_tests::workspace_root().join("docs/console")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn analysts_watch_runs_and_decide_approvals_in_a_browser() {
    let Some(binary) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is not on the PATH (Debian: apt-get install chromium chromium-driver)"
        );
        eprintln!("skipping the browser test: chromedriver is not on the PATH");
        return;
    };
    let driver = start_driver(binary).await;
    let folder = tempfile::tempdir().expect("a folder");
    std::fs::write(folder.path().join("schedules.yaml"), SCHEDULES).expect("schedules");
    let serve = HttpServe::start(
        folder.path(),
        &ServeOptions {
            playbooks: vec![("gated.yaml".to_owned(), GATED.to_owned())],
            args: vec![
                "--schedules".to_owned(),
                folder.path().join("schedules.yaml").display().to_string(),
            ],
            ..ServeOptions::default()
        },
    );
    let operator = serve.token("ops", "operator");
    let approver = serve.token("lead", "approver");
    let viewer = serve.token("watcher", "viewer");
    let mut walk = Walk {
        browser: browser(&driver).await,
        serve,
        screenshots: Vec::new(),
    };
    walk.browser
        .goto(&walk.url("/login"))
        .await
        .expect("the sign-in page");
    walk.screenshots("login").await;

    // The operator starts a run from the playbook's form and lands on its page.
    walk.sign_in(&operator).await;
    walk.browser
        .goto(&walk.url("/playbooks/gated-tag"))
        .await
        .expect("the playbook page");
    walk.type_into("#input-hostname", "WIN-DC01").await;
    walk.click("form.start button[type=submit]").await;
    let run_path = walk.path().await;
    let run_id = run_path
        .strip_prefix("/runs/")
        .unwrap_or_else(|| panic!("not a run page: {run_path}"))
        .to_owned();
    walk.serve.wait_for_gate(&run_id, &operator).await;
    // It waits at its gate; the page says so once it follows the run.
    walk.wait_for_text(".gate h2", "Waiting for approval: review")
        .await;
    // A mark on this page: it is still there after the run ends only if nothing reloaded it.
    walk.browser
        .execute("window.runbookMark = 'kept'; return true;", Vec::new())
        .await
        .expect("the mark set");
    walk.screenshots("run-waiting").await;
    walk.serve
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/approvals/{run_id}/review"),
            &approver,
            Some(json!({"decision": "approve", "comment": "from the API"})),
        )
        .await;
    walk.wait_for_text("#run-status", "succeeded").await;
    let mark = walk
        .browser
        .execute("return window.runbookMark || null;", Vec::new())
        .await
        .expect("the mark read");
    assert_eq!(mark, json!("kept"), "the page was reloaded");
    assert_eq!(walk.path().await, run_path);
    assert_eq!(
        walk.count(".actions tbody tr").await,
        1,
        "one action issued"
    );
    walk.screenshots("run").await;
    walk.browser.goto(&walk.url("/runs")).await.expect("runs");
    walk.screenshots("runs").await;
    walk.browser
        .goto(&walk.url("/playbooks"))
        .await
        .expect("playbooks");
    walk.screenshots("playbooks").await;
    walk.browser
        .goto(&walk.url("/playbooks/gated-tag"))
        .await
        .expect("a playbook");
    walk.screenshots("playbook").await;
    walk.browser
        .goto(&walk.url("/schedules"))
        .await
        .expect("schedules");
    assert!(
        walk.text("table.schedules")
            .await
            .contains("nightly-review")
    );
    walk.screenshots("schedules").await;
    walk.sign_out().await;

    // Two more runs wait at their gates.
    let mut waiting = Vec::new();
    for host in ["WIN-DC01", "web-01.corp.example"] {
        let started = walk
            .serve
            .api(
                reqwest::Method::POST,
                "/api/v1/runs",
                &operator,
                Some(json!({"playbook": "gated-tag", "inputs": {"hostname": host}})),
            )
            .await;
        let run_id = started["run_id"].as_str().expect("a run id").to_owned();
        walk.serve.wait_for_gate(&run_id, &operator).await;
        waiting.push(run_id);
    }

    // A viewer sees the gates but no button, and the server refuses a decision anyway.
    walk.sign_in(&viewer).await;
    walk.browser
        .goto(&walk.url("/approvals"))
        .await
        .expect("approvals");
    assert_eq!(walk.count("article.approval").await, 2);
    assert_eq!(
        walk.count("button[value=approve]").await,
        0,
        "a viewer's approve button"
    );
    let status = walk
        .browser
        .execute(
            "const csrf = document.querySelector('form.who input[name=csrf]').value;
             return fetch(arguments[0], {
               method: 'POST',
               headers: {'Content-Type': 'application/x-www-form-urlencoded'},
               body: 'decision=approve&csrf=' + encodeURIComponent(csrf),
             }).then((answer) => answer.status);",
            vec![json!(format!("/approvals/{}/review", waiting[0]))],
        )
        .await
        .expect("a decision posted");
    assert_eq!(status, json!(403), "a viewer decided");
    walk.sign_out().await;

    // The approver decides one gate with a comment and sees the run continue.
    walk.sign_in(&approver).await;
    walk.browser
        .goto(&walk.url("/approvals"))
        .await
        .expect("approvals");
    assert_eq!(walk.count("button[value=approve]").await, 2);
    walk.screenshots("approvals").await;
    let gate = format!("#gate-{}-review", waiting[0]);
    walk.type_into(
        &format!("{gate} textarea[name=comment]"),
        "checked with the owner",
    )
    .await;
    walk.click(&format!("{gate} button[value=approve]")).await;
    walk.wait_for_path(&format!("/runs/{}", waiting[0])).await;
    walk.wait_for_text("#run-status", "succeeded").await;
    let run = walk
        .serve
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/runs/{}", waiting[0]),
            &viewer,
            None,
        )
        .await;
    assert_eq!(run["outputs"]["decided_by"], json!(["lead"]), "{run}");

    // A form without its CSRF token is refused, and changes nothing.
    walk.browser
        .goto(&walk.url("/approvals"))
        .await
        .expect("approvals");
    let gate = format!("#gate-{}-review", waiting[1]);
    walk.browser
        .execute(
            "document.querySelector(arguments[0] + ' input[name=csrf]').remove(); return true;",
            vec![json!(gate)],
        )
        .await
        .expect("the token taken out");
    walk.click(&format!("{gate} button[value=approve]")).await;
    assert!(
        walk.text("main").await.contains("CSRF token"),
        "{}",
        walk.browser.source().await.unwrap_or_default()
    );
    let pending = walk
        .serve
        .api(reqwest::Method::GET, "/api/v1/approvals", &viewer, None)
        .await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");

    // Signing out ends the session: the pages send the browser to sign in again.
    walk.browser.goto(&walk.url("/runs")).await.expect("runs");
    walk.sign_out().await;
    walk.browser
        .goto(&walk.url("/approvals"))
        .await
        .expect("approvals");
    assert_eq!(walk.path().await, "/login?next=/approvals");

    assert_eq!(walk.screenshots.len(), 16);
    let browser = walk.browser.clone();
    browser.close().await.expect("the browser closed");
    drop(driver);
}

//! A `runbook serve --http` process for a test: on the built-in simulator, on a store of the
//! test's own (a SQLite file in its folder, or a PostgreSQL URL), with the playbooks and the
//! triggers file the test gives, logging JSON lines to a file the test can read and search.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::runbook_binary;

/// A playbook that runs on the simulator in milliseconds (one `log` step), with a patterned
/// input and an enumerated one with a default: `note-host`.
pub const NOTE: &str = r#"version: 1
name: note-host
description: Write a note about a host.
inputs:
  hostname:
    type: string
    pattern: "^[A-Za-z0-9.-]+$"
  severity:
    type: string
    enum: [low, high, critical]
    default: high
steps:
  - id: note
    log: "suspect {{ inputs.hostname }} ({{ inputs.severity }})"
"#;

/// What to start `runbook serve --http` with.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Playbook files (name, text) written to `playbooks/`.
    pub playbooks: Vec<(String, String)>,
    /// The triggers file's text, written to `triggers.yaml`.
    pub triggers: Option<String>,
    /// Environment variables of the process (hook secrets, `RUNBOOK_SECRET_KEY`).
    pub env: Vec<(String, String)>,
    /// More arguments (`--api-rate 1`, `--workers 0`).
    pub args: Vec<String>,
    /// The store; a SQLite file in the folder unless given.
    pub store: Option<String>,
}

/// A serving process; stopped (SIGTERM, then killed) when dropped.
#[derive(Debug)]
pub struct HttpServe {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its stderr: JSON log lines.
    pub log: PathBuf,
    /// Its store URL (for `runbook tokens create`, `runs list`).
    pub store: String,
    /// The folder its files are in (kept alive as long as the process).
    pub folder: PathBuf,
}

impl HttpServe {
    /// Writes the files into `folder` and starts serving; waits (up to 60 s) for the HTTP
    /// address in the log.
    ///
    /// # Panics
    /// When the process exits or does not say where it serves in time (its log is shown).
    pub fn start(folder: &Path, options: &ServeOptions) -> HttpServe {
        let (mut command, store) = serve_command(folder, options);
        let log = folder.join(format!("serve-{}.log", random_suffix()));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("a log file"))
            .spawn()
            .expect("runbook serve started");
        let mut serve = HttpServe {
            child: Some(child),
            base: String::new(),
            log,
            store,
            folder: folder.to_owned(),
        };
        serve.base = format!("http://{}", serve.wait_for_address());
        serve
    }

    fn wait_for_address(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for line in self.log_text().lines() {
                let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let message = value["message"].as_str().unwrap_or_default();
                if message.starts_with("http at ")
                    && let Some(address) = value["address"].as_str()
                {
                    return address.to_owned();
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "runbook serve exited ({status}) before serving:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "runbook serve did not say where it serves:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new API token with `role`, made with `runbook tokens create` on its store.
    ///
    /// # Panics
    /// When the command fails.
    pub fn token(&self, name: &str, role: &str) -> String {
        let output = Command::new(runbook_binary())
            .args([
                "tokens",
                "create",
                name,
                "--role",
                role,
                "--store",
                &self.store,
            ])
            .env("USER", "test")
            .output()
            .expect("runbook tokens create");
        assert!(
            output.status.success(),
            "tokens create: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Sends SIGTERM (the process answers 503 from then on and finishes what is in flight).
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }

    /// SIGTERM, then waits up to `limit` for the exit.
    pub fn stop(mut self, limit: Duration) -> Option<ExitStatus> {
        self.terminate();
        let mut child = self.child.take()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Calls of the API of a serving process, for tests that drive it as a client would.
impl HttpServe {
    /// `method path` as `token`, with a JSON `body`; the answer's JSON.
    ///
    /// # Panics
    /// When the answer is not a success or not JSON (the status and body are shown).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Waits (up to 60 s) until run `run_id`'s status is `status`; the run as the API shows it.
    ///
    /// # Panics
    /// When it is not by then.
    pub async fn wait_for_status(
        &self,
        run_id: &str,
        status: &str,
        token: &str,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let path = format!("/api/v1/runs/{run_id}");
            let run = self.api(reqwest::Method::GET, &path, token, None).await;
            if run["status"] == status {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} is not {status}: {run}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 60 s) until run `run_id` waits at an approval gate.
    ///
    /// # Panics
    /// When it does not by then.
    pub async fn wait_for_gate(&self, run_id: &str, token: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let pending = self
                .api(reqwest::Method::GET, "/api/v1/approvals", token, None)
                .await;
            if pending
                .as_array()
                .is_some_and(|gates| gates.iter().any(|gate| gate["run_id"] == run_id))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} never waited at its gate"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `runbook serve --http` with `options`, run to its end: for a start that must be refused.
/// Returns its exit code (`None` when killed by a signal) and its stderr. The process is killed
/// if it is still running after `limit` (it started serving: the code is then `None`).
///
/// # Panics
/// When the process cannot be started.
pub fn serve_to_exit(
    folder: &Path,
    options: &ServeOptions,
    limit: Duration,
) -> (Option<i32>, String) {
    let (mut command, _) = serve_command(folder, options);
    let log = folder.join(format!("refused-{}.log", random_suffix()));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("a log file"))
        .spawn()
        .expect("runbook serve started");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.and_then(|status| status.code()),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

/// The `runbook serve --http` command for `options`, its files written into `folder`, and its
/// store URL.
fn serve_command(folder: &Path, options: &ServeOptions) -> (Command, String) {
    let playbooks = folder.join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("playbooks folder");
    for (name, text) in &options.playbooks {
        std::fs::write(playbooks.join(name), text).expect("a playbook");
    }
    let store = options
        .store
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", folder.join("runs.db").display()));
    let mut command = Command::new(runbook_binary());
    command
        .current_dir(folder)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("RUNBOOK_SECRET_KEY")
        .args(["serve", "--sim", "--http", "127.0.0.1:0", "--playbooks"])
        .arg(&playbooks)
        .args(["--store", &store, "--log-format", "json"])
        .args(["--poll-interval", "100ms"]);
    if !options.args.iter().any(|arg| arg == "--workers") {
        command.args(["--workers", "2"]);
    }
    if let Some(triggers) = &options.triggers {
        let path = folder.join("triggers.yaml");
        std::fs::write(&path, triggers).expect("the triggers file");
        command.arg("--triggers").arg(path);
    }
    command.args(&options.args);
    for (key, value) in &options.env {
        command.env(key, value);
    }
    (command, store)
}

impl Drop for HttpServe {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn random_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default()
}

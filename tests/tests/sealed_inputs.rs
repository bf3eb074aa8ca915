//! Secret inputs of queued runs, sealed with `RUNBOOK_SECRET_KEY` (docs/playbooks.md,
//! Secrets; docs/deploy.md), end to end against a simulator in this process:
//!
//! - `runbook enqueue` with the key queues a run whose secret input a `runbook serve` with the
//!   same key opens and runs to success; the value is nowhere in the SQLite files nor in
//!   serve's log.
//! - Without the key, `enqueue` refuses (exit 2) naming the variable; an invalid key is refused
//!   without being echoed.
//! - A serve with another key fails the run with a clear message, the value nowhere.
//! - `runbook runs resume` opens the sealed inputs with the key from the environment, and
//!   without it asks for them again.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::runbook_binary;
use serde_json::Value;

/// Uses its secret input (its length, so that the marker `[REDACTED]` would fail the assert)
/// and asks the simulator about a host.
const PLAYBOOK: &str = r#"version: 1
name: sealed
inputs:
  host: { type: string }
  password: { type: string, secret: true }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: check
    assert:
      that: "{{ inputs.password | length == 14 }}"
  - id: note
    log: "the password is {{ inputs.password }}"
"#;

const SECRET: &str = "Swordfish-4417";
const KEY: &str = "5a1f0c9e3b7d2846a0e1f3c5b7d9e2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4f6";
const OTHER_KEY: &str = "Jm3hY0c1m2V4dC1rZXktZm9yLXRoZS10ZXN0cy0wMDE=";

struct Setup {
    folder: tempfile::TempDir,
    store: String,
    playbook: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let folder = tempfile::tempdir().expect("temp folder");
        let playbook = folder.path().join("sealed.yaml");
        std::fs::write(&playbook, PLAYBOOK).expect("playbook written");
        let store = format!("sqlite://{}", folder.path().join("runs.db").display());
        Setup {
            folder,
            store,
            playbook,
        }
    }

    fn runbook(&self, sim: &RunningSim, key: Option<&str>) -> Command {
        let mut command = Command::new(runbook_binary());
        command
            .env("TANIUM_URL", sim.base_url())
            .env("TANIUM_TOKEN", sim.api_token())
            .env("RUNBOOK_DATABASE_URL", &self.store)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env_remove("RUNBOOK_SECRET_KEY")
            .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
            .stdin(Stdio::null());
        if let Some(key) = key {
            command.env("RUNBOOK_SECRET_KEY", key);
        }
        command
    }

    fn enqueue(&self, sim: &RunningSim, key: Option<&str>) -> Output {
        self.runbook(sim, key)
            .arg("enqueue")
            .arg(&self.playbook)
            .args(["--input", "host=WIN-DC01", "--input"])
            .arg(format!("password={SECRET}"))
            .output()
            .expect("runbook enqueue ran")
    }

    fn enqueued(&self, sim: &RunningSim, key: &str) -> String {
        let output = self.enqueue(sim, Some(key));
        assert!(
            output.status.success(),
            "enqueue failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout).trim().to_owned()
    }

    /// A serve with one worker, its log (JSON lines) in `serve.log`.
    fn serve(&self, sim: &RunningSim, key: Option<&str>) -> Child {
        self.runbook(sim, key)
            .args([
                "serve",
                "--workers",
                "1",
                "--log-format",
                "json",
                "--heartbeat",
                "500ms",
                "--stale-after",
                "5s",
                "--poll-interval",
                "100ms",
            ])
            .stdout(Stdio::null())
            .stderr(File::create(self.log()).expect("a log file"))
            .spawn()
            .expect("runbook serve started")
    }

    fn log(&self) -> PathBuf {
        self.folder.path().join("serve.log")
    }

    /// The run's record (`runs show --json`).
    fn show(&self, sim: &RunningSim, run_id: &str) -> Value {
        let output = self
            .runbook(sim, None)
            .args(["runs", "show", run_id, "--json"])
            .output()
            .expect("runs show ran");
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("runs show --json is JSON")
    }

    /// Waits until the run has ended, then stops serve; the record.
    fn wait_end(&self, sim: &RunningSim, server: &mut Child, run_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        let record = loop {
            let record = self.show(sim, run_id);
            if record["status"] != "queued" && record["status"] != "running" {
                break record;
            }
            assert!(
                Instant::now() < deadline,
                "the run did not end: {record}\n{}",
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        stop(server);
        record
    }

    /// Every byte of the store's files (the database and any journal beside it).
    fn store_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.folder.path()).expect("the folder") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with("runs.db") {
                bytes.extend(std::fs::read(&path).expect("a store file"));
            }
        }
        assert!(!bytes.is_empty(), "the store has files");
        bytes
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn stop(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill ran");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait on serve").is_none() {
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn simulator() -> Arc<RunningSim> {
    let sim = Simulator::start(SimConfig {
        time_scale: 300.0,
        failure_share: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    Arc::new(sim)
}

/// Runs a blocking scenario beside the simulator's runtime, its panics as the test's.
async fn scenario(sim: Arc<RunningSim>, body: impl FnOnce(&RunningSim) + Send + 'static) {
    let outcome = tokio::task::spawn_blocking(move || body(&sim)).await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_secret_input_is_sealed_at_rest_and_opened_by_serve() {
    scenario(simulator().await, |sim| {
        let setup = Setup::new();
        let run_id = setup.enqueued(sim, KEY);
        assert!(!holds(&setup.store_bytes(), SECRET), "sealed before serve");

        let mut server = setup.serve(sim, Some(KEY));
        let record = setup.wait_end(sim, &mut server, &run_id);
        assert_eq!(record["status"], "succeeded", "{record}");
        assert_eq!(record["inputs"]["password"], "[REDACTED]", "{record}");
        assert_eq!(record["inputs"]["host"], "WIN-DC01", "{record}");

        let log = std::fs::read_to_string(setup.log()).expect("the log");
        assert!(
            log.contains("RUNBOOK_SECRET_KEY is set"),
            "serve says it can open sealed inputs: {log}"
        );
        assert!(!log.contains(KEY), "{log}");
        assert!(!log.contains(SECRET), "{log}");
        assert!(
            log.contains(r#""message":"[REDACTED]","run_id""#),
            "the log step read it, shown redacted: {log}"
        );
        let bytes = setup.store_bytes();
        assert!(!holds(&bytes, SECRET), "the secret is in the store's bytes");
        assert!(!holds(&bytes, KEY), "the key is in the store's bytes");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_refuses_secret_inputs_without_a_valid_key() {
    scenario(simulator().await, |sim| {
        let setup = Setup::new();
        let refused = setup.enqueue(sim, None);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
        let stderr = text(&refused.stderr);
        assert!(stderr.contains("set RUNBOOK_SECRET_KEY"), "{stderr}");
        assert!(stderr.contains("secret input(s) password"), "{stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");

        let bad_key = "not-a-key-Marlin-7731";
        let refused = setup.enqueue(sim, Some(bad_key));
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
        let stderr = text(&refused.stderr);
        assert!(stderr.contains("RUNBOOK_SECRET_KEY"), "{stderr}");
        assert!(!stderr.contains(bad_key), "{stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");

        if let Ok(bytes) = std::fs::read(setup.folder.path().join("runs.db")) {
            assert!(!holds(&bytes, SECRET));
        }
        let listed = setup
            .runbook(sim, None)
            .args(["runs", "list", "--json"])
            .output()
            .expect("runs list ran");
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap_or(Value::Null);
        assert!(
            listed.as_array().is_none_or(Vec::is_empty),
            "nothing was queued: {listed}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_another_key_fails_the_run_clearly() {
    scenario(simulator().await, |sim| {
        let setup = Setup::new();
        let run_id = setup.enqueued(sim, KEY);
        let mut server = setup.serve(sim, Some(OTHER_KEY));
        let record = setup.wait_end(sim, &mut server, &run_id);
        assert_eq!(record["status"], "failed", "{record}");
        let error = record["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("wrong RUNBOOK_SECRET_KEY or a damaged record"),
            "{record}"
        );
        let log = std::fs::read_to_string(setup.log()).expect("the log");
        assert!(
            log.contains("wrong RUNBOOK_SECRET_KEY or a damaged record"),
            "{log}"
        );
        for text in [&log, &record.to_string()] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains(OTHER_KEY), "{text}");
        }
        assert!(sim.inspect().actions.is_empty(), "nothing was sent");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_resume_opens_sealed_inputs_with_the_key_from_the_environment() {
    scenario(simulator().await, |sim| {
        let setup = Setup::new();
        let run_id = setup.enqueued(sim, KEY);
        let resume = |key: Option<&str>| {
            setup
                .runbook(sim, key)
                .args(["runs", "resume", &run_id])
                .output()
                .expect("runs resume ran")
        };
        let without = resume(None);
        assert_eq!(without.status.code(), Some(2), "{}", text(&without.stderr));
        let stderr = text(&without.stderr);
        assert!(stderr.contains("give them again with --input"), "{stderr}");
        assert!(stderr.contains("RUNBOOK_SECRET_KEY"), "{stderr}");

        let wrong = resume(Some(OTHER_KEY));
        assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong.stderr));
        assert!(
            text(&wrong.stderr).contains("wrong RUNBOOK_SECRET_KEY or a damaged record"),
            "{}",
            text(&wrong.stderr)
        );

        let resumed = resume(Some(KEY));
        assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
        for output in [&without, &wrong, &resumed] {
            assert!(!text(&output.stdout).contains(SECRET));
            assert!(!text(&output.stderr).contains(SECRET));
        }
        assert_eq!(setup.show(sim, &run_id)["status"], "succeeded");
        assert!(!holds(&setup.store_bytes(), SECRET));
    })
    .await;
}

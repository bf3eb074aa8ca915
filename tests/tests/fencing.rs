//! Fencing end to end: a process that lost its run never issues a second action and never
//! writes the run's record again.
//!
//! - Two `runbook serve` processes on one PostgreSQL database (skipped, saying so, when
//!   `RUNBOOK_TEST_POSTGRES_URL` is absent). Process A stops itself (SIGSTOP, through the
//!   debug builds' pause points) at one point of an `issue` step: before the intent, after the
//!   intent and before the POST, while the POST is in flight (the simulator holds it), after
//!   the answer and before it is recorded. Process B takes the run over and finishes it; A is
//!   continued afterwards. Ten times per point: one action per run, the run ends succeeded,
//!   A logs that it lost the run, and no event of A's claim follows one of B's.
//! - Fifty `runbook runs resume` of one run whose process died, started at once: exactly one
//!   drives the run, one action in all.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};
use runbook_tests::is_stopped;
use runbook_tests::postgres::PostgresDatabase;
use runbook_tests::runbook_binary;
use serde_json::Value;

const PLAYBOOK: &str = r#"version: 1
name: fenced
inputs:
  host: { type: string }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: fenced }
  - id: tag
    issue:
      name: "fenced {{ inputs.host }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      interval: 100ms
      max_interval: 300ms
      timeout: 10m
"#;

/// How many times each pause point is hit.
const HITS_PER_POINT: usize = 10;

fn runbook(sim: &RunningSim, store: &str) -> Command {
    let mut command = Command::new(runbook_binary());
    command
        .env("TANIUM_URL", sim.base_url())
        .env("TANIUM_TOKEN", sim.api_token())
        .env("RUNBOOK_DATABASE_URL", store)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
        .env_remove("RUNBOOK_TEST_PAUSE_AT")
        .stdin(Stdio::null());
    command
}

/// A serve process with a short lease: heartbeat 200 ms, stale after 1 s, requests given
/// 1 s (so a takeover holds off 2.1 s before acting on an unresolved intent).
fn serve(sim: &RunningSim, store: &str, poll: &str, pause_at: Option<&str>, log: &Path) -> Child {
    let mut command = runbook(sim, store);
    command.args([
        "serve",
        "--workers",
        "1",
        "--log-format",
        "json",
        "--heartbeat",
        "200ms",
        "--stale-after",
        "1s",
        "--poll-interval",
        poll,
        "--request-timeout",
        "1",
    ]);
    if let Some(point) = pause_at {
        command.env("RUNBOOK_TEST_PAUSE_AT", point);
    }
    command
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("a log file"))
        .spawn()
        .expect("runbook serve started")
}

/// A child process killed (and reaped) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill ran");
    assert!(status.success(), "kill -{name}");
}

fn psql(url: &str, query: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-tAq", "-v", "ON_ERROR_STOP=1", "-c", query])
        .output()
        .expect("psql ran");
    assert!(
        output.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn enqueue(sim: &RunningSim, store: &str, playbook: &Path, host: &str) -> String {
    let output = runbook(sim, store)
        .arg("enqueue")
        .arg(playbook)
        .args(["--input", &format!("host={host}")])
        .output()
        .expect("runbook enqueue ran");
    assert!(
        output.status.success(),
        "enqueue failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Actions the simulator holds for one run (their unique names carry the run id).
fn actions_of(sim: &RunningSim, run_id: &str) -> Vec<String> {
    sim.inspect()
        .actions
        .iter()
        .filter(|action| action.name.contains(run_id))
        .map(|action| action.name.clone())
        .collect()
}

fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn log_mentions(log: &Path, run_id: &str, message: &str) -> bool {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| {
            line["message"]
                .as_str()
                .is_some_and(|text| text.contains(message))
                && line.to_string().contains(run_id)
        })
}

fn one_point(sim: &RunningSim, database: &PostgresDatabase, folder: &Path, point: &str) {
    let store = database.url.as_str();
    let playbook = folder.join("fenced.yaml");
    let log_a = folder.join(format!("a-{point}.log"));
    let log_b = folder.join(format!("b-{point}.log"));
    // A looks at the queue every 20 ms, B every 300 ms: A claims new runs first.
    // Killed when this function ends, pass or fail: a failed assertion must not leave serve
    // processes holding database connections.
    let paused = Killed(serve(sim, store, "20ms", Some(point), &log_a));
    let _b = Killed(serve(sim, store, "300ms", None, &log_b));
    let a = &paused.0;
    let mut hits = 0;
    let mut attempts = 0;
    while hits < HITS_PER_POINT {
        attempts += 1;
        assert!(attempts <= HITS_PER_POINT * 3, "{point}: only {hits} hits");
        let run_id = enqueue(sim, store, &playbook, "WIN-DC01");
        let status = |run_id: &str| {
            psql(
                store,
                &format!("SELECT status FROM runs WHERE run_id = '{run_id}'"),
            )
        };
        let paused = wait_until(Duration::from_secs(60), || {
            is_stopped(a) || status(&run_id) == "succeeded" || status(&run_id) == "failed"
        });
        assert!(paused, "{point}: run {run_id} neither paused A nor ended");
        if !is_stopped(a) {
            // B claimed this one first: no pause, nothing to check beyond one action.
            assert_eq!(actions_of(sim, &run_id).len(), 1, "{point}: run {run_id}");
            continue;
        }
        hits += 1;
        // B takes the run over (A's heartbeat goes stale) and finishes it while A is stopped.
        let finished = wait_until(Duration::from_secs(60), || status(&run_id) == "succeeded");
        assert!(
            finished,
            "{point}: B did not finish run {run_id}: {}",
            status(&run_id)
        );
        signal(a, "CONT");
        let stopped_quietly = wait_until(Duration::from_secs(30), || {
            log_mentions(&log_a, &run_id, "lost the claim")
        });
        assert!(
            stopped_quietly,
            "{point}: A never said it lost run {run_id}"
        );
        // Let A do whatever it still would, then look at what it did.
        std::thread::sleep(Duration::from_millis(300));
        let actions = actions_of(sim, &run_id);
        assert_eq!(actions.len(), 1, "{point}: run {run_id} issued {actions:?}");
        assert_eq!(status(&run_id), "succeeded", "{point}: run {run_id}");
        let epochs: Vec<i64> = psql(
            store,
            &format!("SELECT claim_epoch FROM events WHERE run_id = '{run_id}' ORDER BY sequence"),
        )
        .lines()
        .map(|line| line.trim().parse().expect("an epoch"))
        .collect();
        assert!(
            epochs.windows(2).all(|pair| pair[0] <= pair[1]),
            "{point}: run {run_id}: an event of an older claim after a newer one: {epochs:?}"
        );
        assert!(
            epochs.last() > epochs.first(),
            "{point}: run {run_id} was not taken over: {epochs:?}"
        );
    }
}

fn simulator_config() -> SimConfig {
    SimConfig {
        time_scale: 1000.0,
        faults: Faults {
            // The POST /actions is in flight that long; the request timeout is 1 s.
            create_latency: Duration::from_millis(400),
            ..Faults::default()
        },
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_loses_its_run_and_neither_sends_nor_writes_again() {
    let _serial = ONE_AT_A_TIME.lock().await;
    if std::env::var("RUNBOOK_TEST_POSTGRES_URL").is_err() {
        runbook_tests::postgres::skipped("RUNBOOK_TEST_POSTGRES_URL is not set");
        return;
    }
    let sim = Simulator::start(simulator_config())
        .await
        .expect("simulator");
    let folder = tempfile::tempdir().expect("a folder");
    std::fs::write(folder.path().join("fenced.yaml"), PLAYBOOK).expect("playbook written");
    let sim = std::sync::Arc::new(sim);
    // The four points at once, each with its own pair of processes and its own database:
    // they spend most of their time waiting for leases to run out.
    let mut points = Vec::new();
    for point in ["before_intent", "before_post", "in_post", "after_post"] {
        let sim = sim.clone();
        let path = folder.path().to_path_buf();
        points.push(tokio::task::spawn_blocking(move || {
            let database = PostgresDatabase::create().expect("a database");
            one_point(&sim, &database, &path, point);
            println!("{point}: paused {HITS_PER_POINT} times, one action per run");
        }));
    }
    for point in points {
        point.await.expect("a pause point's test");
    }
}

/// The two tests of this file start many processes on one PostgreSQL server (whose default
/// limit is 100 connections): one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_fifty_resumes_started_at_once_exactly_one_drives_the_run() {
    // Fifty processes at once on a SQLite file; on PostgreSQL (where the race was found)
    // sixteen, which its default connection limit holds (each process opens a few).
    let _serial = ONE_AT_A_TIME.lock().await;
    let folder = tempfile::tempdir().expect("a folder");
    let sqlite = format!("sqlite://{}", folder.path().join("runs.db").display());
    resume_race(sqlite, 50).await;
    if let Some(database) = PostgresDatabase::create() {
        let url = database.url.clone();
        resume_race(url, 16).await;
        drop(database);
    }
}

/// Leaves a run whose process died before its intent, starts `processes` resumes of it at
/// once: exactly one drives it, the others are refused, and it issues one action.
async fn resume_race(store: String, processes: usize) {
    let config = SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    };
    let sim = std::sync::Arc::new(Simulator::start(config).await.expect("simulator"));
    let folder = tempfile::tempdir().expect("a folder");
    let playbook = folder.path().join("fenced.yaml");
    std::fs::write(&playbook, PLAYBOOK).expect("playbook written");
    let shared = sim.clone();
    tokio::task::spawn_blocking(move || {
        let sim = shared;
        // A run whose process stops itself before the intent, then dies.
        let mut first = runbook(&sim, &store)
            .arg("run")
            .arg(&playbook)
            .args(["--input", "host=WIN-DC01", "--json"])
            .env("RUNBOOK_TEST_PAUSE_AT", "before_intent")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("runbook run started");
        assert!(
            wait_until(Duration::from_secs(60), || is_stopped(&first)),
            "the run never reached its pause point"
        );
        signal(&first, "KILL");
        let _ = first.wait();
        let listed = runbook(&sim, &store)
            .args(["runs", "list", "--json"])
            .output()
            .expect("runs list");
        let runs: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
        let run_id = runs[0]["run_id"].as_str().expect("a run").to_owned();

        let resumes: Vec<Child> = (0..processes)
            .map(|_| {
                runbook(&sim, &store)
                    .args(["runs", "resume", &run_id, "--json"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("runs resume started")
            })
            .collect();
        let mut drove = 0;
        let mut refused = 0;
        for resume in resumes {
            let output = resume.wait_with_output().expect("resume finished");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stdout.contains("\"run_finished\"") || stdout.contains("run_started") {
                drove += 1;
                assert!(output.status.success(), "the driver failed: {stderr}");
            } else {
                refused += 1;
                assert!(
                    stderr.contains("is being run by") || stderr.contains("already succeeded"),
                    "a resume that did not drive said: {stderr}"
                );
            }
        }
        assert_eq!(drove, 1, "resumes that drove the run ({refused} refused)");
        assert_eq!(
            actions_of(&sim, &run_id).len(),
            1,
            "actions of run {run_id}"
        );
        println!(
            "{processes} resumes at once ({}): 1 drove the run, {refused} refused; one action",
            store.split(':').next().unwrap_or_default()
        );
    })
    .await
    .expect("the test body");
}

//! `runbook serve` and `runbook enqueue` end to end, against a simulator in this process.
//!
//! - Three serve processes share one fresh PostgreSQL database (skipped, saying so, when
//!   `RUNBOOK_TEST_POSTGRES_URL` is absent): 200 runs queued with `runbook enqueue`, plus two
//!   schedules firing every few seconds, against a simulator answering some 503s and 429s; one
//!   process is killed with SIGKILL midway. Every run ends succeeded, each firing key made one
//!   run, each run issued exactly one action.
//! - SIGTERM to a serve whose run waits for approval: exit 0, the run back in the queue.
//! - The benchmark (ignored; run with `--ignored`): scheduling latency and runs per minute with 1,
//!   2 and 4 workers; figures in docs/PERFORMANCE.md, section "Serve".

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};
use runbook_tests::postgres::PostgresDatabase;
use runbook_tests::runbook_binary;
use serde_json::Value;

/// Targets one machine, issues an action to it, waits for approval and results.
const PLAYBOOK: &str = r#"version: 1
name: served
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
      params: { $1: served }
  - id: tag
    issue:
      name: "served {{ inputs.host }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: approved
    await_approval:
      action: "{{ steps.tag.action_id }}"
      interval: 100ms
      timeout: 1h
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      interval: 100ms
      max_interval: 300ms
      timeout: 10m
  - id: check
    assert:
      that: "{{ steps.results.completed == steps.tag.targeted }}"
outputs:
  completed: "{{ steps.results.completed }}"
"#;

/// One log step: what the queue itself costs, with no Tanium exchange.
const TRIVIAL: &str = r#"version: 1
name: trivial
steps:
  - id: hello
    log: "hello from {{ run.id }}"
"#;

const HOSTS: [&str; 3] = ["WIN-DC01", "WIN-FS01", "web-01.corp.example"];

fn runbook(sim: &RunningSim, store: &str) -> Command {
    let mut command = Command::new(runbook_binary());
    command
        .env("TANIUM_URL", sim.base_url())
        .env("TANIUM_TOKEN", sim.api_token())
        .env("RUNBOOK_DATABASE_URL", store)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("RUNBOOK_SECRET_KEY")
        .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
        .stdin(Stdio::null());
    command
}

/// A `runbook serve` with short heartbeats, logging JSON lines to `log`.
fn serve(
    sim: &RunningSim,
    store: &str,
    schedules: Option<&Path>,
    workers: usize,
    log: &Path,
) -> Child {
    let mut command = runbook(sim, store);
    command.args([
        "serve",
        "--workers",
        &workers.to_string(),
        "--log-format",
        "json",
        "--heartbeat",
        "500ms",
        "--stale-after",
        "5s",
        "--poll-interval",
        "100ms",
    ]);
    if let Some(schedules) = schedules {
        command.arg("--schedules").arg(schedules);
    }
    command
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("a log file"))
        .spawn()
        .expect("runbook serve started")
}

fn enqueue(sim: &RunningSim, store: &str, playbook: &Path, inputs: &[String]) -> String {
    let mut command = runbook(sim, store);
    command.arg("enqueue").arg(playbook);
    for input in inputs {
        command.args(["--input", input]);
    }
    let output = command.output().expect("runbook enqueue ran");
    assert!(
        output.status.success(),
        "enqueue failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn runs(sim: &RunningSim, store: &str) -> Vec<Value> {
    let output = runbook(sim, store)
        .args(["runs", "list", "--json", "--limit", "100000"])
        .output()
        .expect("runs list ran");
    assert!(
        output.status.success(),
        "runs list: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout)
        .expect("runs list --json is JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count_by_status(runs: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for run in runs {
        *counts
            .entry(run["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

/// The JSON lines of a serve log (lines that are not JSON, like the simulator banner, are
/// skipped).
fn log_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

fn with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| line["message"] == message)
        .collect()
}

/// Seconds since midnight UTC of a log timestamp (`2026-11-29T20:43:12.006166Z`).
fn seconds_of_day(timestamp: &str) -> Option<f64> {
    let time = timestamp.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill ran");
    assert!(status.success());
}

/// Waits for a child to exit, at most `limit`; None when it did not.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait on child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn schedules_file(folder: &Path, enabled: bool) -> String {
    format!(
        r#"version: 1
schedules:
  - name: every-three
    playbook: served.yaml
    cron: "*/3 * * * * *"
    inputs: {{ host: WIN-DC01 }}
    overlap: allow
    enabled: {enabled}
  - name: every-five
    playbook: {}
    cron: "*/5 * * * * *"
    inputs: {{ host: WIN-FS01 }}
    overlap: queue
    enabled: {enabled}
"#,
        folder.join("served.yaml").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_processes_share_a_postgres_queue_through_a_kill() {
    let Some(database) = PostgresDatabase::create() else {
        return;
    };
    let sim = Simulator::start(SimConfig {
        time_scale: 300.0,
        // Every endpoint completes its action, so that the playbook's assertion holds.
        failure_share: 0.0,
        faults: Faults {
            error_share: 0.03,
            rate_limit_share: 0.02,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let sim = Arc::new(sim);
    let scenario = {
        let sim = sim.clone();
        let store = database.url.clone();
        tokio::task::spawn_blocking(move || shared_queue_scenario(&sim, &store))
    };
    let outcome = scenario.await;
    drop(database);
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

fn shared_queue_scenario(sim: &RunningSim, store: &str) {
    let started = Instant::now();
    let folder = tempfile::tempdir().expect("temp folder");
    let playbook = folder.path().join("served.yaml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let schedules = folder.path().join("schedules.yaml");
    std::fs::write(&schedules, schedules_file(folder.path(), true)).unwrap();
    // The first enqueue creates the schema, so that the serve processes start on it at once.
    let first = enqueue(sim, store, &playbook, &[format!("host={}", HOSTS[0])]);

    let logs: Vec<PathBuf> = (0..3)
        .map(|index| folder.path().join(format!("serve-{index}.log")))
        .collect();
    let mut servers: Vec<Child> = logs
        .iter()
        .map(|log| serve(sim, store, Some(&schedules), 4, log))
        .collect();

    // 199 more runs, queued from four threads while the servers work.
    let queued: Vec<String> = std::thread::scope(|scope| {
        let lanes: Vec<_> = (0..4)
            .map(|lane| {
                let playbook = &playbook;
                scope.spawn(move || {
                    (0..199)
                        .filter(|number| number % 4 == lane)
                        .map(|number| {
                            let host = HOSTS[number % HOSTS.len()];
                            enqueue(sim, store, playbook, &[format!("host={host}")])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        lanes
            .into_iter()
            .flat_map(|lane| lane.join().expect("an enqueue lane"))
            .collect()
    });
    let mut queued: BTreeSet<String> = queued.into_iter().collect();
    queued.insert(first);
    assert_eq!(queued.len(), 200, "200 distinct run ids");
    println!("queued 200 runs in {:?}", started.elapsed());

    // Midway: SIGKILL the second process while it holds runs.
    let midway = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = count_by_status(&runs(sim, store));
        let done = counts.get("succeeded").copied().unwrap_or(0);
        if done >= 60 || Instant::now() > midway {
            println!("killing serve 1 with {counts:?}");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    servers[1].kill().expect("SIGKILL");
    let _ = servers[1].wait();

    // Let the schedules fire a few more times, then switch them off in the file: the
    // scheduler reads it again at its next firing and stops firing.
    std::thread::sleep(Duration::from_secs(6));
    std::fs::write(&schedules, schedules_file(folder.path(), false)).unwrap();
    std::thread::sleep(Duration::from_secs(6));

    let deadline = Instant::now() + Duration::from_secs(60);
    let final_runs = loop {
        let all = runs(sim, store);
        let counts = count_by_status(&all);
        let active = counts.get("queued").copied().unwrap_or(0)
            + counts.get("running").copied().unwrap_or(0);
        if active == 0 {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "runs still active after the deadline: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    for index in [0, 2] {
        sigterm(&servers[index]);
        let status = wait_exit(&mut servers[index], Duration::from_secs(20))
            .unwrap_or_else(|| panic!("serve {index} did not stop on SIGTERM"));
        assert!(status.success(), "serve {index} exited {status:?}");
    }

    // Every run ended succeeded.
    let counts = count_by_status(&final_runs);
    let failed: Vec<String> = final_runs
        .iter()
        .filter(|run| run["status"] != "succeeded")
        .map(|run| format!("{} {}: {}", run["run_id"], run["status"], run["error"]))
        .collect();
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        vec!["succeeded"],
        "{counts:?}\n{}",
        failed.join("\n")
    );
    let ids: BTreeSet<String> = final_runs
        .iter()
        .map(|run| run["run_id"].as_str().expect("run id").to_owned())
        .collect();
    assert!(queued.is_subset(&ids), "every queued run was recorded");

    // Each firing key made exactly one run: no key was fired twice across the three
    // processes, and the scheduled runs in the store are exactly the fired ones.
    let lines: Vec<Value> = logs.iter().flat_map(|log| log_lines(log)).collect();
    let mut fired: BTreeMap<String, String> = BTreeMap::new();
    for line in with_message(&lines, "fired") {
        let key = line["firing_key"].as_str().expect("firing key").to_owned();
        let run_id = line["run_id"].as_str().expect("run id").to_owned();
        if let Some(other) = fired.insert(key.clone(), run_id.clone()) {
            panic!("firing {key} made two runs: {other} and {run_id}");
        }
    }
    let scheduled: BTreeSet<String> = ids.difference(&queued).cloned().collect();
    let fired_runs: BTreeSet<String> = fired.values().cloned().collect();
    assert!(
        fired.len() >= 4,
        "the schedules fired a few times: {fired:?}"
    );
    // A firing logged by the killed process may have been cut before its log line was
    // flushed; every scheduled run must still come from a firing seen somewhere.
    assert!(
        fired_runs.is_subset(&scheduled),
        "fired runs are in the store"
    );
    assert!(
        scheduled.len() - fired_runs.len() <= 1,
        "scheduled runs without a logged firing: {:?}",
        scheduled.difference(&fired_runs).collect::<Vec<_>>()
    );

    // Each run issued exactly one action, whatever the kill and the faults did.
    let actions = sim.inspect().actions;
    for run_id in &ids {
        let count = actions
            .iter()
            .filter(|action| action.name.contains(run_id.as_str()))
            .count();
        assert_eq!(count, 1, "run {run_id} issued {count} actions");
    }
    let taken_over = with_message(&lines, "claimed run")
        .into_iter()
        .filter(|line| line["resumed"] == true)
        .count();
    println!(
        "{} runs ({} queued, {} fired by schedules), {} actions, {} runs taken over after the kill, in {:?}",
        ids.len(),
        queued.len(),
        scheduled.len(),
        actions.len(),
        taken_over,
        started.elapsed()
    );
    assert!(
        taken_over >= 1,
        "the killed process held runs that others resumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_waiting_run_at_a_checkpoint_and_gives_it_back() {
    let sim = Simulator::start(SimConfig {
        time_scale: 300.0,
        approval_required: true,
        auto_approve_after: None,
        failure_share: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let sim = Arc::new(sim);
    let scenario = {
        let sim = sim.clone();
        tokio::task::spawn_blocking(move || {
            let folder = tempfile::tempdir().expect("temp folder");
            let playbook = folder.path().join("served.yaml");
            std::fs::write(&playbook, PLAYBOOK).unwrap();
            let store = format!("sqlite://{}", folder.path().join("runs.db").display());
            let run_id = enqueue(&sim, &store, &playbook, &["host=WIN-DC01".to_owned()]);
            let log = folder.path().join("serve.log");
            let mut server = serve(&sim, &store, None, 2, &log);

            // Wait until the action is issued and the run waits for an approval that never
            // comes.
            let deadline = Instant::now() + Duration::from_secs(30);
            while with_message(&log_lines(&log), "action issued").is_empty() {
                assert!(Instant::now() < deadline, "no action was issued");
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_millis(300));
            sigterm(&server);
            let status = wait_exit(&mut server, Duration::from_secs(10))
                .expect("serve stops within 10 s of SIGTERM");
            assert!(status.success(), "serve exited {status:?}");

            let lines = log_lines(&log);
            assert!(
                !with_message(&lines, "stopped at a checkpoint and went back to the queue")
                    .is_empty(),
                "the run was released: {lines:?}"
            );
            let all = runs(&sim, &store);
            assert_eq!(all.len(), 1);
            assert_eq!(all[0]["run_id"], run_id.as_str());
            // Back in the queue, claimed by nobody (release clears the claim with the status).
            assert_eq!(all[0]["status"], "queued", "{all:?}");
            // Its issue step is recorded, so the next worker adopts the action by name.
            let shown = runbook(&sim, &store)
                .args(["runs", "show", &run_id, "--json"])
                .output()
                .expect("runs show");
            let record: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
            let tag = record["steps"]
                .as_array()
                .and_then(|steps| steps.iter().find(|step| step["step_id"] == "tag"))
                .expect("the tag step is recorded");
            assert_eq!(tag["status"], "succeeded");
            assert_eq!(sim.inspect().actions.len(), 1);
        })
    };
    if let Err(failure) = scenario.await {
        std::panic::resume_unwind(failure.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_refuses_what_a_worker_could_not_run() {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let folder = tempfile::tempdir().expect("temp folder");
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let secret = folder.path().join("secret.yaml");
    std::fs::write(
        &secret,
        "version: 1\nname: secretive\ninputs:\n  password: { type: string, secret: true }\nsteps:\n  - id: hello\n    log: hi\n",
    )
    .unwrap();
    let output = runbook(&sim, &store)
        .arg("enqueue")
        .arg(&secret)
        .args(["--input", "password=hunter2"])
        .output()
        .expect("enqueue ran");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("secret input(s) password"), "{stderr}");

    let playbook = folder.path().join("served.yaml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let output = runbook(&sim, &store)
        .arg("enqueue")
        .arg(&playbook)
        .output()
        .expect("enqueue ran");
    assert_eq!(output.status.code(), Some(2), "a missing input is refused");
    assert!(runs(&sim, &store).is_empty(), "nothing was queued");
}

/// Figures for docs/PERFORMANCE.md ("Serve"); a benchmark, not a test: run with
/// `cargo test --release -p runbook --test serve serve_benchmark -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it with --ignored (docs/PERFORMANCE.md, Serve)"]
async fn serve_benchmark() {
    let with_postgres = std::env::var("RUNBOOK_TEST_POSTGRES_URL").is_ok();
    let sim = Arc::new(
        Simulator::start(SimConfig {
            time_scale: 300.0,
            failure_share: 0.0,
            ..SimConfig::default()
        })
        .await
        .expect("simulator"),
    );
    let scenario = {
        let sim = sim.clone();
        tokio::task::spawn_blocking(move || benchmark(&sim, with_postgres))
    };
    if let Err(failure) = scenario.await {
        std::panic::resume_unwind(failure.into_panic());
    }
}

fn benchmark(sim: &RunningSim, with_postgres: bool) {
    let folder = tempfile::tempdir().expect("temp folder");
    std::fs::write(folder.path().join("served.yaml"), PLAYBOOK).unwrap();
    std::fs::write(folder.path().join("trivial.yaml"), TRIVIAL).unwrap();
    let mut backends = vec!["sqlite"];
    if with_postgres {
        backends.push("postgres");
    }
    println!("| store | workers | playbook | runs | runs/min | latency p50 | p95 | max |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut round = 0;
    for backend in backends {
        for workers in [1usize, 2, 4] {
            for (playbook, runs_queued) in [("trivial", 300usize), ("served", 60)] {
                round += 1;
                // Each round on a fresh store, so that no run of an earlier round competes.
                let database = if backend == "postgres" {
                    PostgresDatabase::create()
                } else {
                    None
                };
                let store = match &database {
                    Some(database) => database.url.clone(),
                    None => format!(
                        "sqlite://{}",
                        folder.path().join(format!("bench-{round}.db")).display()
                    ),
                };
                let (rate, latencies) = bench_round(
                    sim,
                    &store,
                    folder.path(),
                    round,
                    workers,
                    playbook,
                    runs_queued,
                );
                drop(database);
                let (p50, p95, max) = percentiles(&latencies);
                println!(
                    "| {backend} | {workers} | {playbook} | {runs_queued} | {rate:.0} | {p50:.0} ms | {p95:.0} ms | {max:.0} ms |"
                );
            }
        }
    }
}

/// Queues `runs_queued` runs, starts serve with `workers` and a schedule firing every second,
/// and returns runs per minute (first claim to last finish, from the logs) and the scheduling
/// latencies (firing time to first step start) of the scheduled runs, in ms.
fn bench_round(
    sim: &RunningSim,
    store: &str,
    folder: &Path,
    round: usize,
    workers: usize,
    playbook: &str,
    runs_queued: usize,
) -> (f64, Vec<f64>) {
    let playbook_path = folder.join(format!("{playbook}.yaml"));
    let inputs: Vec<String> = if playbook == "served" {
        vec!["host=WIN-DC01".to_owned()]
    } else {
        Vec::new()
    };
    let mut ids = BTreeSet::new();
    for _ in 0..runs_queued {
        ids.insert(enqueue(sim, store, &playbook_path, &inputs));
    }
    let log = folder.join(format!("bench-{round}.log"));
    let mut server = serve(sim, store, None, workers, &log);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let finished = with_message(&log_lines(&log), "run finished")
            .into_iter()
            .filter(|line| {
                line["run_id"]
                    .as_str()
                    .is_some_and(|run_id| ids.contains(run_id))
            })
            .count();
        if finished >= runs_queued {
            break;
        }
        assert!(Instant::now() < deadline, "round {round} did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Then the latency: a schedule firing every second into an idle queue, for 10 s.
    let schedules = folder.join(format!("bench-{round}.yaml"));
    std::fs::write(
        &schedules,
        format!(
            "version: 1\nschedules:\n  - name: bench-{round}\n    playbook: {}\n    cron: \"* * * * * *\"\n    overlap: allow\n{}",
            playbook_path.display(),
            if inputs.is_empty() {
                String::new()
            } else {
                "    inputs: { host: WIN-DC01 }\n".to_owned()
            }
        ),
    )
    .unwrap();
    sigterm(&server);
    let status = wait_exit(&mut server, Duration::from_secs(20)).expect("serve stopped");
    assert!(status.success());
    let lines = log_lines(&log);

    let latency_log = folder.join(format!("bench-{round}-latency.log"));
    let mut scheduler = serve(sim, store, Some(&schedules), workers, &latency_log);
    std::thread::sleep(Duration::from_secs(10));
    sigterm(&scheduler);
    let status = wait_exit(&mut scheduler, Duration::from_secs(20)).expect("serve stopped");
    assert!(status.success());
    let latencies: Vec<f64> = with_message(&log_lines(&latency_log), "first step started")
        .into_iter()
        .filter_map(|line| line["latency_ms"].as_f64())
        .collect();

    let claimed: Vec<f64> = with_message(&lines, "claimed run")
        .into_iter()
        .filter(|line| {
            line["run_id"]
                .as_str()
                .is_some_and(|run_id| ids.contains(run_id))
        })
        .filter_map(|line| seconds_of_day(line["timestamp"].as_str()?))
        .collect();
    let finished: Vec<f64> = with_message(&lines, "run finished")
        .into_iter()
        .filter(|line| {
            line["run_id"]
                .as_str()
                .is_some_and(|run_id| ids.contains(run_id))
        })
        .filter_map(|line| seconds_of_day(line["timestamp"].as_str()?))
        .collect();
    let first = claimed.iter().copied().fold(f64::INFINITY, f64::min);
    let last = finished.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut elapsed = last - first;
    if elapsed < 0.0 {
        elapsed += 86_400.0; // the round crossed midnight UTC
    }
    let rate = runs_queued as f64 / elapsed.max(0.001) * 60.0;
    (rate, latencies)
}

fn percentiles(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |share: f64| sorted[((sorted.len() - 1) as f64 * share).round() as usize];
    (at(0.5), at(0.95), sorted[sorted.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_playbook_skips_its_firings_and_missed_firings_are_caught_up() {
    let sim = Arc::new(
        Simulator::start(SimConfig::default())
            .await
            .expect("simulator"),
    );
    let scenario = {
        let sim = sim.clone();
        tokio::task::spawn_blocking(move || {
            let folder = tempfile::tempdir().expect("temp folder");
            std::fs::write(folder.path().join("good.yaml"), TRIVIAL).unwrap();
            std::fs::write(
                folder.path().join("broken.yaml"),
                "version: 1\nname: broken\nsteps:\n  - id: oops\n    lgo: typo\n",
            )
            .unwrap();
            let schedules = folder.path().join("schedules.yaml");
            std::fs::write(
                &schedules,
                "version: 1\nschedules:\n  - name: good\n    playbook: good.yaml\n    cron: \"* * * * * *\"\n    catch_up: latest\n    overlap: allow\n  - name: broken\n    playbook: broken.yaml\n    cron: \"* * * * * *\"\n",
            )
            .unwrap();
            let store = format!("sqlite://{}", folder.path().join("runs.db").display());

            let first_log = folder.path().join("first.log");
            let mut first = serve(&sim, &store, Some(&schedules), 1, &first_log);
            std::thread::sleep(Duration::from_millis(2500));
            sigterm(&first);
            let status = wait_exit(&mut first, Duration::from_secs(10)).expect("serve stopped");
            assert!(
                status.success(),
                "a broken playbook does not stop the service"
            );
            let lines = log_lines(&first_log);
            assert!(
                !with_message(
                    &lines,
                    "schedule loaded, but its playbook cannot run; its firings are skipped until it is fixed"
                )
                .is_empty(),
                "the broken playbook is reported at start: {lines:?}"
            );
            let skipped = with_message(&lines, "firing skipped: the playbook cannot run");
            assert!(!skipped.is_empty(), "{lines:?}");
            assert!(skipped.iter().all(|line| line["schedule"] == "broken"));
            let fired = with_message(&lines, "fired");
            assert!(!fired.is_empty(), "the good schedule fired: {lines:?}");
            assert!(fired.iter().all(|line| line["schedule"] == "good"));

            // Down for a while: firings are missed. `catch_up: latest` runs the latest once.
            std::thread::sleep(Duration::from_millis(2500));
            let second_log = folder.path().join("second.log");
            let mut second = serve(&sim, &store, Some(&schedules), 1, &second_log);
            let deadline = Instant::now() + Duration::from_secs(10);
            let caught_up = loop {
                let lines = log_lines(&second_log);
                let caught = with_message(
                    &lines,
                    "catching up a firing missed while no serve process was up",
                );
                if let Some(line) = caught.first() {
                    break (*line).clone();
                }
                assert!(Instant::now() < deadline, "no catch-up: {lines:?}");
                std::thread::sleep(Duration::from_millis(100));
            };
            std::thread::sleep(Duration::from_millis(500));
            sigterm(&second);
            let status = wait_exit(&mut second, Duration::from_secs(10)).expect("serve stopped");
            assert!(status.success());
            assert_eq!(caught_up["schedule"], "good");
            let key = format!(
                "good@{}",
                caught_up["firing"].as_str().expect("firing time")
            )
            .replace("+00:00", "Z");
            let fired_keys: Vec<String> = with_message(&log_lines(&second_log), "fired")
                .iter()
                .chain(with_message(&lines, "fired").iter())
                .filter_map(|line| line["firing_key"].as_str().map(str::to_owned))
                .collect();
            assert!(
                fired_keys.contains(&key),
                "the caught-up firing {key} made a run: {fired_keys:?}"
            );
            let distinct: BTreeSet<&String> = fired_keys.iter().collect();
            assert_eq!(distinct.len(), fired_keys.len(), "{fired_keys:?}");
            // A run in flight at a SIGTERM goes back to the queue; none failed or is left running.
            let all = runs(&sim, &store);
            assert!(
                all.iter()
                    .all(|run| run["status"] == "succeeded" || run["status"] == "queued"),
                "{all:?}"
            );
            assert!(all.iter().all(|run| run["playbook_name"] == "trivial"));
        })
    };
    if let Err(failure) = scenario.await {
        std::panic::resume_unwind(failure.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_schedules_file_stops_serve_at_start() {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let folder = tempfile::tempdir().expect("temp folder");
    let schedules = folder.path().join("schedules.yaml");
    std::fs::write(
        &schedules,
        "version: 1\nschedules:\n  - name: nightly\n    playbook: p.yaml\n    cron: \"61 * * * *\"\n",
    )
    .unwrap();
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let output = runbook(&sim, &store)
        .arg("serve")
        .arg("--schedules")
        .arg(&schedules)
        .output()
        .expect("serve ran");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a valid schedules file"), "{stderr}");
    assert!(stderr.contains("61"), "the diagnostics are shown: {stderr}");
}

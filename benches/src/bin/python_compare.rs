//! The status quo: a minimal Python `requests` script against runbook, same simulator.
//!
//! Starts one simulator child (20 ms latency, 100x clock by default), runs
//! `benches/python/seed_flow.py` for N runs in a row, then runbook for the same N runs in a
//! row and N runs at once, and prints runs per second and CPU per run of each with the ratios.
//! The Python script sends fewer requests per run (no endpoint count, no approval check, no
//! duplicate-name lookup, no stopped or expired check): the request counts are printed, with
//! runbook's per route, so the comparison stays honest.
//!
//! `cargo run --release -p runbook-benches --bin python_compare -- [RUNS] [LATENCY_MS] [TIME_SCALE]`
//! (defaults 200, 20, 100; needs `python3` with `requests`).

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_benches::proc_stats;
use runbook_benches::scenario::{self, RequestCounter};
use runbook_benches::{BenchError, SimChild, SimOptions};
use runbook_engine::{Engine, RunStatus};
use serde_json::Value;

const HOSTNAME: &str = "WIN-DC01";

fn main() -> ExitCode {
    runbook_benches::serve_sim_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: f64| -> Option<f64> {
        match args.get(index) {
            None => Some(default),
            Some(text) => text.parse::<f64>().ok().filter(|value| *value > 0.0),
        }
    };
    let (Some(runs), Some(latency_ms), Some(time_scale)) =
        (number(0, 200.0), number(1, 20.0), number(2, 100.0))
    else {
        eprintln!("usage: python_compare [RUNS] [LATENCY_MS] [TIME_SCALE]");
        return ExitCode::from(2);
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(BenchError::from)
        .and_then(|runtime| runtime.block_on(measure(runs as u64, latency_ms as u64, time_scale)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("python_compare: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One way of doing N runs.
#[derive(Debug)]
struct Figures {
    label: &'static str,
    runs: u64,
    failures: u64,
    wall: Duration,
    cpu: Duration,
    requests: u64,
}

impl Figures {
    fn runs_per_second(&self) -> f64 {
        self.runs as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }

    fn cpu_ms_per_run(&self) -> f64 {
        1000.0 * self.cpu.as_secs_f64() / self.runs.max(1) as f64
    }
}

async fn measure(runs: u64, latency_ms: u64, time_scale: f64) -> Result<(), BenchError> {
    let sim = SimChild::spawn(&SimOptions {
        time_scale,
        latency_ms,
    })?;
    let python = python_runs(&sim, runs, time_scale).await?;

    let counter = Arc::new(RequestCounter::default());
    let client = scenario::client(&sim, time_scale, Some(counter.clone()))?;
    let engine = Arc::new(scenario::engine(&client, time_scale));
    let playbook = scenario::playbook()?;

    let cpu_before = proc_stats::cpu_time()?;
    let sent_before = counter.count();
    let routes_before = counter.routes();
    let started = Instant::now();
    let mut failures = 0;
    for _ in 0..runs {
        let outcome = engine.run(&scenario::request(&playbook, HOSTNAME)?).await;
        if outcome.status != RunStatus::Succeeded {
            failures += 1;
        }
    }
    let sequential = Figures {
        label: "runbook, in a row",
        runs,
        failures,
        wall: started.elapsed(),
        cpu: proc_stats::cpu_time()?.since(&cpu_before).total(),
        requests: counter.count() - sent_before,
    };
    let routes_in_a_row = counter.routes();

    let cpu_before = proc_stats::cpu_time()?;
    let sent_before = counter.count();
    let started = Instant::now();
    let concurrent = run_at_once(&engine, &playbook, runs).await?;
    let at_once = Figures {
        label: "runbook, at once",
        runs,
        failures: concurrent,
        wall: started.elapsed(),
        cpu: proc_stats::cpu_time()?.since(&cpu_before).total(),
        requests: counter.count() - sent_before,
    };

    println!(
        "python_compare: {runs} runs each; simulator child process {}, clock {time_scale}x, {latency_ms} ms latency",
        sim.pid()
    );
    for figures in [&python, &sequential, &at_once] {
        println!(
            "  {:<20} {:>8.2} s wall, {:>7.2} runs/s, CPU {:>7.3} ms/run, {:>5.1} requests/run, {} failed",
            figures.label,
            figures.wall.as_secs_f64(),
            figures.runs_per_second(),
            figures.cpu_ms_per_run(),
            figures.requests as f64 / figures.runs.max(1) as f64,
            figures.failures
        );
    }
    for figures in [&sequential, &at_once] {
        println!(
            "  {} / python: {:.2}x the runs per second, {:.2}x the CPU per run",
            figures.label,
            figures.runs_per_second() / python.runs_per_second().max(f64::EPSILON),
            figures.cpu_ms_per_run() / python.cpu_ms_per_run().max(f64::EPSILON)
        );
    }
    println!("  runbook's requests per run in a row, by route and status:");
    for (route, count) in &routes_in_a_row {
        let before = routes_before.get(route).copied().unwrap_or(0);
        if *count > before {
            println!(
                "    {:>6.2}  {route}",
                (*count - before) as f64 / runs.max(1) as f64
            );
        }
    }
    Ok(())
}

async fn run_at_once(
    engine: &Arc<Engine>,
    playbook: &Arc<runbook_playbook::Playbook>,
    runs: u64,
) -> Result<u64, BenchError> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let engine = engine.clone();
        let request = scenario::request(playbook, HOSTNAME)?;
        tasks.spawn(async move { engine.run(&request).await.status });
    }
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        if !matches!(joined, Ok(RunStatus::Succeeded)) {
            failures += 1;
        }
    }
    Ok(failures)
}

/// Runs the Python script (blocking, off the runtime's threads) and reads its last line.
async fn python_runs(sim: &SimChild, runs: u64, time_scale: f64) -> Result<Figures, BenchError> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/seed_flow.py");
    let mut command = Command::new("python3");
    command
        .arg(&script)
        .args(["--url", sim.url(), "--token", sim.token()])
        .args(["--runs", &runs.to_string()])
        .args(["--time-scale", &time_scale.to_string()])
        .args(["--hostname", HOSTNAME]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|error| BenchError::Flow(format!("python task: {error}")))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(BenchError::Flow(format!(
            "python3 {} failed ({}): {}{}",
            script.display(),
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let last: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| BenchError::Flow(format!("no JSON line from the script: {stdout}")))?;
    let field = |name: &str| last[name].as_f64().unwrap_or(0.0);
    Ok(Figures {
        label: "python requests",
        runs: field("runs") as u64,
        failures: field("failures") as u64,
        wall: Duration::from_secs_f64(field("seconds").max(0.0)),
        cpu: Duration::from_secs_f64(field("cpu_seconds").max(0.0)),
        requests: field("requests") as u64,
    })
}

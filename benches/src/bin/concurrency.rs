//! Concurrency: 10,000 runs at once in one process (budget: under 500 MB resident).
//!
//! Every run is a tokio task running the six-step playbook through one shared engine and one
//! shared client (one connection pool), against a simulator in a child process that adds
//! 20 ms of latency to every answer. Prints the completion time, this process's peak resident
//! memory (`VmHWM`: the engine, the client and the runtime, not the simulator), the requests
//! sent, and the simulator's own CPU and memory for reference.
//!
//! `cargo run --release -p runbook-benches --bin concurrency -- [--by-name-only]
//! [--max-in-flight N] [RUNS] [LATENCY_MS] [TIME_SCALE]` (defaults 10000, 20, 100).
//!
//! The two options apply `scenario::LoadOptions`: `--by-name-only` takes a by-name miss as
//! final even where the action may exist, after a timed-out `POST /actions` (the lookup before
//! each first send does so anyway; the simulator once answered the confirming list in time
//! proportional to the actions it held, so 10,000 runs measured the simulator), and
//! `--max-in-flight N` caps the platform calls in flight (the client keeps one HTTP/1.1
//! connection per request in flight, so without a cap the sockets dominate the memory).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_benches::proc_stats::{self, mib};
use runbook_benches::scenario::{self, LoadOptions, RequestCounter, STEPS};
use runbook_benches::{BenchError, SimChild, SimOptions};
use runbook_engine::RunStatus;

/// Hosts of the simulator's default fleet the runs spread over (all online).
const HOSTS: &[&str] = &["WIN-DC01", "WIN-DC02", "WIN-FS01", "WIN-SQL01"];

fn main() -> ExitCode {
    runbook_benches::serve_sim_if_asked();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = LoadOptions::default();
    if let Some(at) = args.iter().position(|arg| arg == "--by-name-only") {
        options.by_name_only = true;
        args.remove(at);
    }
    if let Some(at) = args.iter().position(|arg| arg == "--max-in-flight") {
        match args.get(at + 1).and_then(|text| text.parse::<usize>().ok()) {
            Some(permits) if permits > 0 => options.max_in_flight = Some(permits),
            _ => {
                eprintln!("--max-in-flight needs a positive number");
                return ExitCode::from(2);
            }
        }
        args.drain(at..at + 2);
    }
    let number = |index: usize, default: f64| -> Option<f64> {
        match args.get(index) {
            None => Some(default),
            Some(text) => text.parse::<f64>().ok().filter(|value| *value > 0.0),
        }
    };
    let (Some(runs), Some(latency_ms), Some(time_scale)) =
        (number(0, 10_000.0), number(1, 20.0), number(2, 100.0))
    else {
        eprintln!(
            "usage: concurrency [--by-name-only] [--max-in-flight N] [RUNS] [LATENCY_MS] [TIME_SCALE]"
        );
        return ExitCode::from(2);
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(BenchError::from)
        .and_then(|runtime| {
            runtime.block_on(measure(runs as u64, latency_ms as u64, time_scale, options))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("concurrency: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn measure(
    runs: u64,
    latency_ms: u64,
    time_scale: f64,
    options: LoadOptions,
) -> Result<(), BenchError> {
    let sim = SimChild::spawn(&SimOptions {
        time_scale,
        latency_ms,
    })?;
    let counter = Arc::new(RequestCounter::default());
    let client = scenario::client(&sim, time_scale, Some(counter.clone()))?;
    let engine = Arc::new(if options == LoadOptions::default() {
        scenario::engine(&client, time_scale)
    } else {
        scenario::load_engine(&client, time_scale, options)
    });
    let playbook = scenario::playbook()?;
    let requests: Vec<_> = (0..runs)
        .map(|index| scenario::request(&playbook, HOSTS[index as usize % HOSTS.len()]))
        .collect::<Result<_, _>>()?;
    let rss_before = proc_stats::rss_kib()?;
    let cpu_before = proc_stats::cpu_time()?;
    let sim_cpu_before = sim.cpu_time()?;

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for request in requests {
        let engine = engine.clone();
        tasks.spawn(async move { engine.run(&request).await });
    }
    // A sampler shows progress on stderr, so a stall is visible while it runs.
    let sampler = tokio::spawn({
        let counter = counter.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!(
                    "  … {:.0} s: {} requests sent, RSS {:.0} MiB",
                    started.elapsed().as_secs_f64(),
                    counter.count(),
                    proc_stats::rss_kib().map(mib).unwrap_or(0.0)
                );
            }
        }
    });
    let mut succeeded = 0u64;
    let mut first_failure = None;
    let mut last_finished = Duration::ZERO;
    let mut first_finished = None;
    while let Some(joined) = tasks.join_next().await {
        let elapsed = started.elapsed();
        first_finished.get_or_insert(elapsed);
        last_finished = elapsed;
        match joined {
            Ok(outcome) if outcome.status == RunStatus::Succeeded => succeeded += 1,
            Ok(outcome) => {
                first_failure.get_or_insert(format!("{:?}: {:?}", outcome.status, outcome.error));
            }
            Err(error) => {
                first_failure.get_or_insert(format!("task failed: {error}"));
            }
        }
    }
    sampler.abort();
    let cpu = proc_stats::cpu_time()?.since(&cpu_before);
    let sim_cpu = sim.cpu_time()?.since(&sim_cpu_before);
    let peak = proc_stats::peak_rss_kib()?;

    println!("concurrency: {runs} runs at once of a {STEPS}-step playbook, one engine, one client");
    println!(
        "  simulator: child process {}, clock {time_scale}x, {latency_ms} ms latency per answer",
        sim.pid()
    );
    println!("  succeeded:      {succeeded} of {runs}");
    if let Some(failure) = &first_failure {
        println!("  first failure:  {failure}");
    }
    println!(
        "  completion:     {:.2} s for all (first run done after {:.2} s); {:.0} runs/s",
        last_finished.as_secs_f64(),
        first_finished.unwrap_or_default().as_secs_f64(),
        runs as f64 / last_finished.as_secs_f64().max(f64::EPSILON)
    );
    println!(
        "  requests:       {} sent by the client ({:.1} per run), {} served by the simulator",
        counter.count(),
        counter.count() as f64 / runs.max(1) as f64,
        sim.requests_served().await?
    );
    // Exactly once, under load too: every action name (unique per run) issued at most once.
    let names = sim.action_names().await?;
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    println!(
        "  actions:        {} issued for {runs} runs; {} names issued more than once",
        names.len(),
        names.len() - distinct.len()
    );
    println!(
        "  peak RSS:       {:.1} MiB (VmHWM of this process; {:.1} MiB before the runs started)  budget: under 500 MB",
        mib(peak),
        mib(rss_before)
    );
    println!(
        "  CPU:            runbook {:.2} s (user {:.2}, sys {:.2}) = {:.3} ms/run; simulator {:.2} s",
        cpu.total().as_secs_f64(),
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64(),
        1000.0 * cpu.total().as_secs_f64() / runs.max(1) as f64,
        sim_cpu.total().as_secs_f64()
    );
    println!(
        "  simulator peak RSS: {:.1} MiB (separate process, not counted above)",
        mib(sim.peak_rss_kib()?)
    );
    if first_failure.is_some() {
        return Err(BenchError::Flow(format!(
            "{} of {runs} runs did not succeed",
            runs - succeeded
        )));
    }
    Ok(())
}

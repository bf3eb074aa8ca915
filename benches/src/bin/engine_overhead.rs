//! Engine overhead: CPU per step beyond the HTTP exchange (budget: under 1 ms).
//!
//! Runs the six-step playbook N times in a row through the engine, and N times the very same
//! requests through the bare client (`scenario::bare_flow`), against a simulator in a child
//! process with no latency and a 1000x clock. The difference of this process's CPU time
//! (user + system, `/proc/self/stat`) divided by the steps run is the engine's cost per step.
//! The two modes alternate in blocks so that a busy machine weighs on both alike.
//!
//! `cargo run --release -p runbook-benches --bin engine_overhead -- [RUNS]` (default 1000; CPU times come in 10 ms ticks, so totals need many runs).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_benches::proc_stats::{self, CpuTime};
use runbook_benches::scenario::{self, RequestCounter, STEPS};
use runbook_benches::{BenchError, SimChild, SimOptions};
use runbook_engine::RunStatus;

const TIME_SCALE: f64 = 1000.0;
const BLOCKS: u64 = 4;
const WARM_UP_RUNS: u64 = 10;

fn main() -> ExitCode {
    runbook_benches::serve_sim_if_asked();
    let runs = match std::env::args().nth(1).map(|arg| arg.parse::<u64>()) {
        None => 1000,
        Some(Ok(runs)) if runs >= BLOCKS => runs,
        Some(_) => {
            eprintln!("usage: engine_overhead [RUNS >= {BLOCKS}]");
            return ExitCode::from(2);
        }
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(BenchError::from)
        .and_then(|runtime| runtime.block_on(measure(runs)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("engine_overhead: {error}");
            ExitCode::FAILURE
        }
    }
}

/// CPU, wall time and requests of one mode, summed over its blocks.
#[derive(Debug, Default)]
struct Totals {
    runs: u64,
    cpu: CpuTime,
    wall: Duration,
}

impl Totals {
    fn add(&mut self, runs: u64, cpu: CpuTime, wall: Duration) {
        self.runs += runs;
        self.cpu.user += cpu.user;
        self.cpu.system += cpu.system;
        self.wall += wall;
    }
}

async fn measure(runs: u64) -> Result<(), BenchError> {
    let sim = SimChild::spawn(&SimOptions {
        time_scale: TIME_SCALE,
        latency_ms: 0,
    })?;
    let engine_requests = Arc::new(RequestCounter::default());
    let bare_requests = Arc::new(RequestCounter::default());
    let engine_client = scenario::client(&sim, TIME_SCALE, Some(engine_requests.clone()))?;
    let bare_client = scenario::client(&sim, TIME_SCALE, Some(bare_requests.clone()))?;
    let engine = scenario::engine(&engine_client, TIME_SCALE);
    let playbook = scenario::playbook()?;
    let hostname = "WIN-DC01";

    // Warm up both paths (connections, allocator, lazy statics); not counted.
    for number in 0..WARM_UP_RUNS {
        run_engine(&engine, &playbook, hostname).await?;
        scenario::bare_flow(&bare_client, hostname, number, TIME_SCALE).await?;
    }
    let engine_warm_up_requests = engine_requests.count();
    let bare_warm_up_requests = bare_requests.count();

    let mut engine_totals = Totals::default();
    let mut bare_totals = Totals::default();
    let per_block = runs / BLOCKS;
    let mut bare_number = WARM_UP_RUNS;
    for _ in 0..BLOCKS {
        let (cpu, wall) = timed(async {
            for _ in 0..per_block {
                run_engine(&engine, &playbook, hostname).await?;
            }
            Ok(())
        })
        .await?;
        engine_totals.add(per_block, cpu, wall);

        let (cpu, wall) = timed(async {
            for _ in 0..per_block {
                scenario::bare_flow(&bare_client, hostname, bare_number, TIME_SCALE).await?;
                bare_number += 1;
            }
            Ok(())
        })
        .await?;
        bare_totals.add(per_block, cpu, wall);
    }
    let engine_sent = engine_requests.count() - engine_warm_up_requests;
    let bare_sent = bare_requests.count() - bare_warm_up_requests;

    let steps = engine_totals.runs * STEPS;
    let engine_cpu = engine_totals.cpu.total().as_secs_f64();
    let bare_cpu = bare_totals.cpu.total().as_secs_f64();
    let bare_per_request = bare_cpu / bare_sent.max(1) as f64;
    // The poll loop's request count depends on timing; charging the engine's requests at the
    // bare client's price per request removes that from the difference.
    let normalised = engine_cpu - bare_per_request * engine_sent as f64;

    println!("engine_overhead: {runs} runs per mode of a {STEPS}-step playbook, sequential");
    println!(
        "  simulator: child process {}, clock {TIME_SCALE}x, no latency; served {} requests",
        sim.pid(),
        sim.requests_served().await?
    );
    report("engine", &engine_totals, engine_sent);
    report("bare client", &bare_totals, bare_sent);
    println!(
        "  engine - bare, per step:               {:.3} ms  ((engine CPU - bare CPU) / {steps} steps)",
        1000.0 * (engine_cpu - bare_cpu) / steps as f64
    );
    println!(
        "  engine - bare, per step, per request:  {:.3} ms  (bare CPU per request {:.3} ms charged for each of the engine's requests)",
        1000.0 * normalised / steps as f64,
        1000.0 * bare_per_request
    );
    println!("  budget: under 1 ms per step");
    Ok(())
}

fn report(label: &str, totals: &Totals, requests: u64) {
    let runs = totals.runs.max(1) as f64;
    println!(
        "  {label:<12} CPU {:>7.3} s (user {:.3}, sys {:.3}) = {:.3} ms/run; {requests} requests = {:.1}/run; wall {:.2} s",
        totals.cpu.total().as_secs_f64(),
        totals.cpu.user.as_secs_f64(),
        totals.cpu.system.as_secs_f64(),
        1000.0 * totals.cpu.total().as_secs_f64() / runs,
        requests as f64 / runs,
        totals.wall.as_secs_f64(),
    );
}

async fn run_engine(
    engine: &runbook_engine::Engine,
    playbook: &Arc<runbook_playbook::Playbook>,
    hostname: &str,
) -> Result<(), BenchError> {
    let outcome = engine.run(&scenario::request(playbook, hostname)?).await;
    if outcome.status == RunStatus::Succeeded {
        Ok(())
    } else {
        Err(BenchError::Flow(format!(
            "an engine run ended {:?}: {:?}",
            outcome.status, outcome.error
        )))
    }
}

/// This process's CPU time and the wall time of `work`.
async fn timed(
    work: impl std::future::Future<Output = Result<(), BenchError>>,
) -> Result<(CpuTime, Duration), BenchError> {
    let cpu_before = proc_stats::cpu_time()?;
    let started = Instant::now();
    work.await?;
    let wall = started.elapsed();
    Ok((proc_stats::cpu_time()?.since(&cpu_before), wall))
}

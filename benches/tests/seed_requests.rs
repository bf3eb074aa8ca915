//! The seed flow's requests per run against the simulator, counted: at most 12 (issue 12,
//! point 12; docs/PERFORMANCE.md, "Against a Python requests script").
//!
//! The benchmark's six-step playbook (target, parameterize, issue, await approval, poll,
//! assert) runs against a simulator in this process, as `python_compare` runs it: every
//! endpoint succeeds, a 100x clock, with and without the 20 ms of latency before each answer.
//! Every check stays (the count before issuing, the lookup by name, the approval, the
//! stopped or expired check while results stall); what a run may not do is send more
//! requests than that. This counts requests, it does not time anything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runbook_benches::scenario::{self, route};
use runbook_engine::RunStatus;
use runbook_tanium::RequestObserver;
use runbook_tanium_sim::{Faults, SimConfig, Simulator};

/// The most requests one run of the seed flow may send.
const MOST_PER_RUN: usize = 12;

/// Runs per setting: the count varies a little with timing (how many looks the count and the
/// poll take), so one run would prove little.
const RUNS: usize = 8;

/// The simulator's clock, as in `python_compare`.
const TIME_SCALE: f64 = 100.0;

/// Every request, in order, as `METHOD route status`.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl RequestObserver for Recorder {
    fn exchange(&self, method: &str, path: &str, status: Option<u16>, _elapsed: Duration) {
        let status = status.map_or_else(|| "-".to_owned(), |status| status.to_string());
        self.0
            .lock()
            .unwrap()
            .push(format!("{method} {} {status}", route(path)));
    }
}

/// Runs the seed flow `RUNS` times in a row against a simulator with `latency` before every
/// answer; returns each run's requests.
async fn seed_runs(latency: Duration) -> Vec<Vec<String>> {
    let sim = Simulator::start(SimConfig {
        time_scale: TIME_SCALE,
        failure_share: 0.0,
        faults: Faults {
            latency,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");
    let recorder = Arc::new(Recorder::default());
    let client = scenario::client_for(
        &sim.base_url(),
        &sim.api_token(),
        TIME_SCALE,
        Some(recorder.clone()),
    )
    .expect("a client for the simulator");
    let engine = scenario::engine(&client, TIME_SCALE);
    let playbook = scenario::playbook().expect("the benchmark playbook is valid");
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let request = scenario::request(&playbook, "WIN-DC01").expect("inputs bind");
        let outcome = engine.run(&request).await;
        let sent = recorder.take();
        assert_eq!(
            outcome.status,
            RunStatus::Succeeded,
            "{:?}; requests: {sent:#?}",
            outcome.error
        );
        runs.push(sent);
    }
    sim.shutdown().await;
    runs
}

fn assert_at_most_twelve(runs: &[Vec<String>]) {
    let counts: Vec<usize> = runs.iter().map(Vec::len).collect();
    eprintln!(
        "requests per run: {counts:?}; the first run's:\n{}",
        runs[0].join("\n")
    );
    for sent in runs {
        assert!(
            sent.len() <= MOST_PER_RUN,
            "a seed-flow run sent {} requests, more than {MOST_PER_RUN}:\n{}",
            sent.len(),
            sent.join("\n")
        );
    }
    // The checks are all still there: what a run must send at least once.
    for needed in [
        "POST /api/v2/questions 200",
        "GET /api/v2/actions/by-name/{name} 404",
        "POST /api/v2/actions 200",
        "GET /api/v2/saved_actions/{id} 200",
        "GET /api/v2/result_data/action/{id} 200",
    ] {
        assert!(
            runs.iter()
                .all(|sent| sent.iter().any(|line| line == needed)),
            "every run sends {needed}: {runs:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_flow_sends_at_most_twelve_requests_per_run() {
    let runs = seed_runs(Duration::ZERO).await;
    assert_at_most_twelve(&runs);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_flow_sends_at_most_twelve_requests_per_run_with_latency() {
    let runs = seed_runs(Duration::from_millis(20)).await;
    assert_at_most_twelve(&runs);
}

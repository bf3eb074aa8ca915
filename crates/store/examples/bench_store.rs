//! Store overhead of a 6-step run, on SQLite and (when `RUNBOOK_TEST_POSTGRES_URL` is set)
//! PostgreSQL: create_run, 6 × (step_started + step_finished), 12 events, finish_run, as the
//! engine makes them, one after the other. Then, apart, what an `issue` step adds: its
//! intent (flushed to disk before the action is sent) and the intent's resolution.
//!
//! ```text
//! RUNBOOK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p runbook-store --example bench_store [RUNS]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{PostgresDatabase, SqliteDatabase, finished_step, log_event, new_run, running_step};
use runbook_engine::{RunStatus, Store};
use runbook_store::SqlStore;
use serde_json::json;

const STEPS: u32 = 6;

#[derive(Debug, Default)]
struct Timings {
    create_run: Duration,
    step_started: Duration,
    step_finished: Duration,
    append_event: Duration,
    finish_run: Duration,
    whole_runs: Duration,
    record_intent: Duration,
    intent_resolved: Duration,
}

async fn one_run(store: &SqlStore, timings: &mut Timings) {
    let begun = Instant::now();
    let run_id = uuid::Uuid::now_v7().to_string();
    let started = Instant::now();
    store
        .create_run(&new_run(&run_id, "bench"))
        .await
        .expect("create_run");
    timings.create_run += started.elapsed();
    for step_index in 0..STEPS {
        let step_id = format!("step{step_index}");
        let started = Instant::now();
        store
            .step_started(&run_id, &running_step(step_index, &step_id, "issue"))
            .await
            .expect("step_started");
        timings.step_started += started.elapsed();

        let started = Instant::now();
        store
            .append_event(&run_id, &log_event(&step_id, "step started"))
            .await
            .expect("append_event");
        store
            .append_event(&run_id, &log_event(&step_id, "step finished"))
            .await
            .expect("append_event");
        timings.append_event += started.elapsed();

        let started = Instant::now();
        store
            .step_finished(&run_id, &finished_step(step_index, &step_id, "issue"))
            .await
            .expect("step_finished");
        timings.step_finished += started.elapsed();
    }
    let started = Instant::now();
    store
        .finish_run(&run_id, RunStatus::Succeeded, &json!({"ok": true}), None)
        .await
        .expect("finish_run");
    timings.finish_run += started.elapsed();
    timings.whole_runs += begun.elapsed();

    let started = Instant::now();
    store
        .record_intent(
            &run_id,
            "step2",
            &format!("Deploy [runbook {run_id} step2]"),
        )
        .await
        .expect("record_intent");
    timings.record_intent += started.elapsed();
    let started = Instant::now();
    store
        .intent_resolved(&run_id, "step2", 4242)
        .await
        .expect("intent_resolved");
    timings.intent_resolved += started.elapsed();
}

async fn bench(label: &str, url: &str, runs: u32) {
    let store = SqlStore::open(url).await.expect("open the store");
    // Warm up: connections, prepared statements, the first pages of each table.
    let mut warm_up = Timings::default();
    for _ in 0..20 {
        one_run(&store, &mut warm_up).await;
    }
    let mut timings = Timings::default();
    for _ in 0..runs {
        one_run(&store, &mut timings).await;
    }
    store.close().await;

    let per_run = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(runs);
    let run_us = per_run(timings.whole_runs);
    println!(
        "{label}: {runs} runs of {STEPS} steps (26 store calls each): {:.0} µs per run, \
         {:.0} µs per step",
        run_us,
        run_us / f64::from(STEPS)
    );
    println!(
        "  per call: create_run {:.0} µs, step_started {:.0} µs, step_finished {:.0} µs, \
         append_event {:.0} µs, finish_run {:.0} µs",
        per_run(timings.create_run),
        per_run(timings.step_started) / f64::from(STEPS),
        per_run(timings.step_finished) / f64::from(STEPS),
        per_run(timings.append_event) / f64::from(2 * STEPS),
        per_run(timings.finish_run),
    );
    println!(
        "  an issue step adds: record_intent {:.0} µs (flushed), intent_resolved {:.0} µs",
        per_run(timings.record_intent),
        per_run(timings.intent_resolved),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runs = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(500);

    let sqlite = SqliteDatabase::new();
    bench(
        "SQLite (WAL; synchronous NORMAL, FULL for intents)",
        &sqlite.url,
        runs,
    )
    .await;

    if let Some(postgres) = PostgresDatabase::create().await {
        bench("PostgreSQL (loopback)", &postgres.url, runs).await;
        postgres.drop_database().await;
    }
}

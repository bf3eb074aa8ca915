//! Store overhead of a 6-step run, on SQLite and (when `RUNBOOK_TEST_POSTGRES_URL` is set)
//! PostgreSQL: create_run, 6 × (step_started + step_finished), 12 events, finish_run, as the
//! engine makes them, one after the other. Then, apart, what an `issue` step adds: its
//! intent (flushed to disk before the action is sent), the lease check before the action
//! leaves (`may_send`) and the intent's resolution.
//!
//! Each run is made twice over, alternately on the same database: through the plain
//! `SqlStore`, and through a `FencedStore` as a claimed run is driven (created under claim 1,
//! every later write conditional on holder and epoch in the same statement, `may_send`
//! checking the lease), so that both see the same load and the same table sizes.
//!
//! ```text
//! RUNBOOK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p runbook-store --example bench_store [RUNS]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{PostgresDatabase, SqliteDatabase, finished_step, log_event, new_run, running_step};
use runbook_engine::{Lease, NewRun, RunStatus, Store};
use runbook_store::{FencedStore, SqlStore};
use serde_json::json;

const STEPS: u32 = 6;
/// Store calls of a run: create_run, 6 × (step_started + step_finished), 12 events, finish_run.
const CALLS: u32 = 2 + 4 * STEPS;
const HOLDER: &str = "bench:holder";

#[derive(Debug, Default)]
struct Timings {
    create_run: Duration,
    step_started: Duration,
    step_finished: Duration,
    append_event: Duration,
    finish_run: Duration,
    whole_runs: Duration,
    record_intent: Duration,
    may_send: Duration,
    intent_resolved: Duration,
}

async fn one_run(store: &impl Store, run: &NewRun, timings: &mut Timings) {
    let begun = Instant::now();
    let run_id = run.run_id.as_str();
    let started = Instant::now();
    store.create_run(run).await.expect("create_run");
    timings.create_run += started.elapsed();
    for step_index in 0..STEPS {
        let step_id = format!("step{step_index}");
        let started = Instant::now();
        store
            .step_started(run_id, &running_step(step_index, &step_id, "issue"))
            .await
            .expect("step_started");
        timings.step_started += started.elapsed();

        let started = Instant::now();
        store
            .append_event(run_id, &log_event(&step_id, "step started"))
            .await
            .expect("append_event");
        store
            .append_event(run_id, &log_event(&step_id, "step finished"))
            .await
            .expect("append_event");
        timings.append_event += started.elapsed();

        let started = Instant::now();
        store
            .step_finished(run_id, &finished_step(step_index, &step_id, "issue"))
            .await
            .expect("step_finished");
        timings.step_finished += started.elapsed();
    }
    let started = Instant::now();
    store
        .finish_run(run_id, RunStatus::Succeeded, &json!({"ok": true}), None)
        .await
        .expect("finish_run");
    timings.finish_run += started.elapsed();
    timings.whole_runs += begun.elapsed();

    // In the engine's order: the intent, the last check before the request leaves, then the
    // action id once the server answered.
    let started = Instant::now();
    store
        .record_intent(run_id, "step2", &format!("Deploy [runbook {run_id} step2]"))
        .await
        .expect("record_intent");
    timings.record_intent += started.elapsed();
    let started = Instant::now();
    store.may_send(run_id).await.expect("may_send");
    timings.may_send += started.elapsed();
    let started = Instant::now();
    store
        .intent_resolved(run_id, "step2", 4242)
        .await
        .expect("intent_resolved");
    timings.intent_resolved += started.elapsed();
}

async fn plain_run(store: &SqlStore, timings: &mut Timings) {
    let run_id = uuid::Uuid::now_v7().to_string();
    one_run(store, &new_run(&run_id, "bench"), timings).await;
}

/// A run driven under a claim, as `runbook run` drives one: its own lease, claim 1 taken
/// when the run is created.
async fn fenced_run(store: &SqlStore, timings: &mut Timings) {
    let run_id = uuid::Uuid::now_v7().to_string();
    let lease = Lease::new(
        run_id.clone(),
        HOLDER,
        1,
        Duration::from_secs(30),
        tokio::time::Instant::now(),
    );
    let fenced = FencedStore::new(store.clone(), lease, Some(Duration::from_secs(67)));
    let run = NewRun {
        claimed_by: Some(HOLDER.to_owned()),
        ..new_run(&run_id, "bench")
    };
    one_run(&fenced, &run, timings).await;
}

fn report(label: &str, runs: u32, timings: &Timings, fenced: bool) {
    let per_run = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(runs);
    let run_us = per_run(timings.whole_runs);
    println!(
        "{label}: {runs} runs of {STEPS} steps ({CALLS} store calls each): {:.0} µs per run, \
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
    if fenced {
        println!(
            "  an issue step adds: record_intent {:.0} µs (flushed), may_send {:.1} µs, \
             intent_resolved {:.0} µs",
            per_run(timings.record_intent),
            per_run(timings.may_send),
            per_run(timings.intent_resolved),
        );
    } else {
        println!(
            "  an issue step adds: record_intent {:.0} µs (flushed), intent_resolved {:.0} µs",
            per_run(timings.record_intent),
            per_run(timings.intent_resolved),
        );
    }
}

async fn bench(label: &str, url: &str, runs: u32) {
    let store = SqlStore::open(url).await.expect("open the store");
    // Warm up: connections, prepared statements, the first pages of each table.
    let mut warm_up = Timings::default();
    for _ in 0..20 {
        plain_run(&store, &mut warm_up).await;
        fenced_run(&store, &mut warm_up).await;
    }
    // Alternately, so that a change in the machine's load weighs on both alike.
    let mut plain = Timings::default();
    let mut fenced = Timings::default();
    for _ in 0..runs {
        plain_run(&store, &mut plain).await;
        fenced_run(&store, &mut fenced).await;
    }
    store.close().await;

    report(label, runs, &plain, false);
    report(&format!("{label}, fenced"), runs, &fenced, true);
    let added = |fenced: Duration, plain: Duration| {
        (fenced.as_secs_f64() - plain.as_secs_f64()) * 1e6 / f64::from(runs)
    };
    let run_added = added(fenced.whole_runs, plain.whole_runs);
    println!(
        "  fencing adds: {:+.0} µs per run, {:+.1} µs per write ({CALLS} writes); \
         intent {:+.0} µs, may_send {:+.1} µs, resolution {:+.0} µs per issue step",
        run_added,
        run_added / f64::from(CALLS),
        added(fenced.record_intent, plain.record_intent),
        added(fenced.may_send, plain.may_send),
        added(fenced.intent_resolved, plain.intent_resolved),
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

//! The run queue (enqueue, claim, heartbeat, release, schedule bookkeeping), written once and
//! run against SQLite and PostgreSQL like the store suite. PostgreSQL tests need
//! `RUNBOOK_TEST_POSTGRES_URL` and say that they skip when it is absent.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{new_run, new_run_id, running_step};
use runbook_engine::{RunStatus, Store};
use runbook_store::{Enqueued, QueueEntry, SqlStore};
use serde_json::json;

backend_tests!(
    queued_runs_are_claimed_oldest_first_and_once,
    a_firing_key_makes_one_run,
    racing_claimers_claim_each_run_once,
    a_run_whose_worker_stopped_heart_beating_is_taken_over,
    a_released_run_goes_back_to_the_queue_with_its_steps,
    heartbeats_keep_a_claim_and_count_the_runs_held,
    runs_started_outside_the_queue_are_never_claimed,
    a_queued_run_of_a_serial_schedule_waits_for_the_previous_one,
    racing_claimers_start_one_run_of_a_serial_schedule_at_a_time,
    schedules_count_active_runs_and_remember_their_latest_firing,
    counts_by_status_and_queue_depth,
);

const LONG: Duration = Duration::from_secs(3600);

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
}

async fn queue(store: &SqlStore, playbook: &str) -> String {
    let run_id = new_run_id();
    let queued = store
        .enqueue(&new_run(&run_id, playbook), None, None)
        .await
        .expect("enqueue");
    assert_eq!(queued, Enqueued::Queued(run_id.clone()));
    run_id
}

async fn queued_runs_are_claimed_oldest_first_and_once(url: &str) {
    let store = open(url).await;
    let first = queue(&store, "first").await;
    let second = queue(&store, "second").await;
    let record = store.run(&first).await.expect("read").expect("recorded");
    assert_eq!(record.status, "queued");
    assert_eq!(
        record.inputs,
        json!({"hostname": "WIN-DC01", "api_key": "[REDACTED]"})
    );

    let claimed = store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("a queued run");
    assert_eq!(claimed.record.run_id, first);
    assert_eq!(claimed.record.status, "running");
    assert!(claimed.record.steps.is_empty());
    assert!(claimed.queued_at.is_some());
    let state = store
        .queue_state(&first)
        .await
        .expect("state")
        .expect("run");
    assert_eq!(state.claimed_by.as_deref(), Some("worker-a"));
    assert!(state.heartbeat_at.is_some());

    let next = store.claim_next("worker-b", LONG).await.expect("claim");
    assert_eq!(next.map(|claimed| claimed.record.run_id), Some(second));
    assert!(
        store
            .claim_next("worker-c", LONG)
            .await
            .expect("claim")
            .is_none(),
        "both runs are claimed and fresh"
    );

    // A finished run is not claimable, and keeps who ran it.
    store
        .finish_run(&first, RunStatus::Succeeded, &json!({}), None)
        .await
        .expect("finish");
    assert!(
        store
            .claimed_runs("worker-a")
            .await
            .expect("claimed")
            .is_empty()
    );
    store.close().await;
}

async fn a_firing_key_makes_one_run(url: &str) {
    let store = open(url).await;
    let key = "sweep@2026-03-08T07:00:00Z";
    let first = new_run_id();
    let queued = store
        .enqueue(&new_run(&first, "sweep"), Some("sweep"), Some(key))
        .await
        .expect("first firing");
    assert_eq!(queued, Enqueued::Queued(first.clone()));
    // A second serve process fires the same firing with a run id of its own.
    let again = store
        .enqueue(&new_run(&new_run_id(), "sweep"), Some("sweep"), Some(key))
        .await
        .expect("a duplicate firing is not an error");
    assert_eq!(again, Enqueued::AlreadyFired);
    assert!(store.has_fired(key).await.expect("has fired"));
    assert!(
        !store
            .has_fired("sweep@2026-03-08T07:01:00Z")
            .await
            .expect("has fired")
    );
    let runs = store
        .list_runs(&runbook_engine::RunFilter::default())
        .await
        .expect("list");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id, first);
    let state = store
        .queue_state(&first)
        .await
        .expect("state")
        .expect("run");
    assert_eq!(state.firing_key.as_deref(), Some(key));
    assert_eq!(state.schedule_name.as_deref(), Some("sweep"));
    store.close().await;
}

async fn racing_claimers_claim_each_run_once(url: &str) {
    let store = Arc::new(open(url).await);
    let runs = 60;
    let mut queued = BTreeSet::new();
    for index in 0..runs {
        queued.insert(queue(&store, &format!("race-{index}")).await);
    }
    // Four claimers on one pool, and on PostgreSQL two more on a second store (another
    // process, as far as the database can tell).
    let mut stores = vec![store.clone()];
    if store.backend_name() == "postgres" {
        stores.push(Arc::new(open(url).await));
    }
    let mut handles = Vec::new();
    for claimer in 0..6 {
        let store = stores[claimer % stores.len()].clone();
        handles.push(tokio::spawn(async move {
            let worker = format!("worker-{claimer}");
            let mut mine = Vec::new();
            while let Some(claimed) = store.claim_next(&worker, LONG).await.expect("claim") {
                mine.push(claimed.record.run_id);
                tokio::task::yield_now().await;
            }
            (worker, mine)
        }));
    }
    let mut claimed = Vec::new();
    for handle in handles {
        let (worker, mine) = handle.await.expect("a claimer ran");
        let held = store.claimed_runs(&worker).await.expect("claimed runs");
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(held, sorted, "{worker} holds what it claimed");
        claimed.extend(mine);
    }
    assert_eq!(claimed.len(), runs, "every run claimed exactly once");
    let distinct: BTreeSet<String> = claimed.into_iter().collect();
    assert_eq!(distinct, queued);
    for store in stores {
        store.close().await;
    }
}

async fn a_run_whose_worker_stopped_heart_beating_is_taken_over(url: &str) {
    let store = open(url).await;
    let run_id = queue(&store, "takeover").await;
    let claimed = store
        .claim_next("worker-dead", LONG)
        .await
        .expect("claim")
        .expect("run");
    store
        .step_started(&claimed.record.run_id, &running_step(0, "scope", "target"))
        .await
        .expect("step started");
    // Fresh: nobody else may take it.
    assert!(
        store
            .claim_next("worker-alive", Duration::from_secs(60))
            .await
            .expect("claim")
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let taken = store
        .claim_next("worker-alive", Duration::from_millis(10))
        .await
        .expect("claim")
        .expect("the stale run is taken over");
    assert_eq!(taken.record.run_id, run_id);
    assert_eq!(
        taken.record.steps.len(),
        1,
        "its steps come along, to resume"
    );
    assert!(
        store
            .claimed_runs("worker-dead")
            .await
            .expect("held")
            .is_empty()
    );
    assert_eq!(
        store.claimed_runs("worker-alive").await.expect("held"),
        vec![run_id.clone()]
    );
    // The dead worker's late release changes nothing.
    assert!(
        !store
            .release(&run_id, "worker-dead")
            .await
            .expect("release")
    );
    store.close().await;
}

async fn a_released_run_goes_back_to_the_queue_with_its_steps(url: &str) {
    let store = open(url).await;
    let run_id = queue(&store, "release").await;
    store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    store
        .step_started(&run_id, &running_step(0, "approved", "await_approval"))
        .await
        .expect("step");
    assert!(store.release(&run_id, "worker-a").await.expect("release"));
    let state = store
        .queue_state(&run_id)
        .await
        .expect("state")
        .expect("run");
    assert_eq!(state.status, "queued");
    assert_eq!(state.claimed_by, None);
    assert_eq!(state.heartbeat_at, None);
    assert!(
        store
            .claimed_runs("worker-a")
            .await
            .expect("held")
            .is_empty()
    );
    // Released twice: nothing more to do.
    assert!(!store.release(&run_id, "worker-a").await.expect("release"));

    let again = store
        .claim_next("worker-b", LONG)
        .await
        .expect("claim")
        .expect("claimable at once, without waiting to go stale");
    assert_eq!(again.record.run_id, run_id);
    assert_eq!(again.record.steps.len(), 1);

    // release_all gives back whatever a worker still holds.
    let other = queue(&store, "release-all").await;
    store
        .claim_next("worker-b", LONG)
        .await
        .expect("claim")
        .expect("run");
    assert_eq!(store.release_all("worker-b").await.expect("release all"), 2);
    assert_eq!(
        store
            .queue_state(&other)
            .await
            .expect("state")
            .expect("run")
            .status,
        "queued"
    );
    store.close().await;
}

async fn heartbeats_keep_a_claim_and_count_the_runs_held(url: &str) {
    let store = open(url).await;
    queue(&store, "one").await;
    queue(&store, "two").await;
    store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    assert_eq!(store.heartbeat("worker-a").await.expect("heartbeat"), 2);
    assert_eq!(
        store.heartbeat("worker-nobody").await.expect("heartbeat"),
        0
    );
    // A stale-after longer than the time since the heartbeat: nothing to take over.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(store.heartbeat("worker-a").await.expect("heartbeat"), 2);
    assert!(
        store
            .claim_next("worker-b", Duration::from_secs(5))
            .await
            .expect("claim")
            .is_none()
    );
    store.close().await;
}

async fn runs_started_outside_the_queue_are_never_claimed(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "interactive"))
        .await
        .expect("create");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        store
            .claim_next("worker-a", Duration::from_millis(1))
            .await
            .expect("claim")
            .is_none(),
        "a `runbook run` in progress belongs to its own process"
    );
    store.close().await;
}

async fn a_queued_run_of_a_serial_schedule_waits_for_the_previous_one(url: &str) {
    let store = open(url).await;
    let entry = |key: &'static str| QueueEntry {
        schedule_name: Some("serial"),
        firing_key: Some(key),
        waits_for_previous: true,
        ..QueueEntry::default()
    };
    let first = new_run_id();
    let second = new_run_id();
    store
        .enqueue_entry(
            &new_run(&first, "serial"),
            &entry("serial@2026-01-01T00:00:00Z"),
        )
        .await
        .expect("first");
    store
        .enqueue_entry(
            &new_run(&second, "serial"),
            &entry("serial@2026-01-01T00:01:00Z"),
        )
        .await
        .expect("second");
    let unrelated = queue(&store, "unrelated").await;

    let claimed = store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    assert_eq!(claimed.record.run_id, first);
    let claimed = store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    assert_eq!(
        claimed.record.run_id, unrelated,
        "the second firing waits while the first runs; other runs go ahead"
    );
    assert!(
        store
            .claim_next("worker-a", LONG)
            .await
            .expect("claim")
            .is_none()
    );
    store
        .finish_run(&first, RunStatus::Succeeded, &json!({}), None)
        .await
        .expect("finish");
    let claimed = store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    assert_eq!(claimed.record.run_id, second);
    store.close().await;
}

async fn schedules_count_active_runs_and_remember_their_latest_firing(url: &str) {
    let store = open(url).await;
    assert_eq!(store.latest_firing("nightly").await.expect("latest"), None);
    assert_eq!(
        store
            .active_runs_of_schedule("nightly")
            .await
            .expect("active"),
        0
    );
    let mut ids = Vec::new();
    for key in [
        "nightly@2026-03-07T07:30:00Z",
        "nightly@2026-03-09T06:30:00Z",
        "nightly@2026-03-08T07:00:00Z",
    ] {
        let run_id = new_run_id();
        store
            .enqueue(&new_run(&run_id, "nightly"), Some("nightly"), Some(key))
            .await
            .expect("enqueue");
        ids.push(run_id);
    }
    // Another schedule whose name starts the same way does not count.
    store
        .enqueue(
            &new_run(&new_run_id(), "nightly-2"),
            Some("nightly-2"),
            Some("nightly-2@2027-01-01T00:00:00Z"),
        )
        .await
        .expect("enqueue");
    assert_eq!(
        store.latest_firing("nightly").await.expect("latest"),
        Some(Utc.with_ymd_and_hms(2026, 3, 9, 6, 30, 0).unwrap())
    );
    assert_eq!(
        store
            .active_runs_of_schedule("nightly")
            .await
            .expect("active"),
        3
    );
    store
        .finish_run(&ids[0], RunStatus::Failed, &json!({}), Some("boom"))
        .await
        .expect("finish");
    store.cancel_run(&ids[1]).await.expect("cancel");
    assert_eq!(
        store
            .active_runs_of_schedule("nightly")
            .await
            .expect("active"),
        1
    );
    store.close().await;
}

async fn counts_by_status_and_queue_depth(url: &str) {
    let store = open(url).await;
    assert_eq!(store.queue_depth().await.expect("depth"), 0);
    for index in 0..3 {
        queue(&store, &format!("count-{index}")).await;
    }
    let claimed = store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    store
        .finish_run(
            &claimed.record.run_id,
            RunStatus::Succeeded,
            &json!({}),
            None,
        )
        .await
        .expect("finish");
    store
        .claim_next("worker-a", LONG)
        .await
        .expect("claim")
        .expect("run");
    let counts = store.run_counts().await.expect("counts");
    assert_eq!(counts["queued"], 1);
    assert_eq!(counts["running"], 1);
    assert_eq!(counts["succeeded"], 1);
    assert_eq!(counts["failed"], 0);
    assert_eq!(counts["cancelled"], 0);
    assert_eq!(store.queue_depth().await.expect("depth"), 1);
    store.close().await;
}

async fn racing_claimers_start_one_run_of_a_serial_schedule_at_a_time(url: &str) {
    let store = Arc::new(open(url).await);
    for round in 0..10 {
        for firing in 0..3 {
            let key = format!("serial@2026-01-01T00:{round:02}:{firing:02}Z");
            let entry = QueueEntry {
                schedule_name: Some("serial"),
                firing_key: Some(&key),
                waits_for_previous: true,
                ..QueueEntry::default()
            };
            store
                .enqueue_entry(&new_run(&new_run_id(), "serial"), &entry)
                .await
                .expect("enqueue");
        }
        // Four claimers at once: one gets the oldest run, the others nothing.
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let mut handles = Vec::new();
        for claimer in 0..4 {
            let store = store.clone();
            let barrier = barrier.clone();
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                store
                    .claim_next(&format!("worker-{claimer}"), LONG)
                    .await
                    .expect("claim")
            }));
        }
        let mut claimed = Vec::new();
        for handle in handles {
            if let Some(run) = handle.await.expect("a claimer ran") {
                claimed.push(run);
            }
        }
        assert_eq!(claimed.len(), 1, "round {round}: one serial run at a time");
        // Finish everything of this round before the next.
        let mut current = claimed.pop();
        while let Some(run) = current {
            store
                .finish_run(&run.record.run_id, RunStatus::Succeeded, &json!({}), None)
                .await
                .expect("finish");
            current = store.claim_next("worker-0", LONG).await.expect("claim");
        }
    }
    store.close().await;
}

//! What the HTTP API needs of the store: keyed enqueues, sealed inputs, cursor paging and
//! events after a point, on SQLite and PostgreSQL (see store_suite.rs for how the backends are
//! chosen).

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{log_event, new_run, new_run_id};
use runbook_engine::Store;
use runbook_store::{Enqueued, QueueEntry, RunKey, RunPage, SqlStore};

backend_tests!(
    a_keyed_enqueue_queues_one_run_per_key_within_its_window,
    racing_keyed_enqueues_make_one_run,
    sealed_inputs_travel_with_a_queued_run_to_whoever_claims_it,
    runs_are_paged_newest_first_by_cursor_and_filters_combine,
    events_after_a_sequence_number_come_in_order_per_run,
    a_pruned_run_frees_its_key,
);

const HOUR: Duration = Duration::from_secs(3600);

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
}

async fn keyed(store: &SqlStore, scope: &str, key: &str, window: Duration) -> (String, Enqueued) {
    let run_id = new_run_id();
    let key = RunKey { scope, key, window };
    let queued = store
        .enqueue_keyed(
            &new_run(&run_id, "tag-suspect-host"),
            &QueueEntry::default(),
            &key,
        )
        .await
        .expect("enqueue_keyed");
    (run_id, queued)
}

/// Runs one statement on a connection of its own (the store has no API for what it does).
async fn execute(url: &str, sql: &'static str) {
    use sqlx::Connection as _;
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(sql)
            .execute(&mut connection)
            .await
            .expect("statement");
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(sql)
            .execute(&mut connection)
            .await
            .expect("statement");
    }
}

async fn key_rows(url: &str) -> Vec<(String, String, String)> {
    use sqlx::Connection as _;
    let sql = "SELECT scope, key_hash, run_id FROM run_keys ORDER BY scope, key_hash";
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_as(sql)
            .fetch_all(&mut connection)
            .await
            .expect("query")
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_as(sql)
            .fetch_all(&mut connection)
            .await
            .expect("query")
    }
}

async fn a_keyed_enqueue_queues_one_run_per_key_within_its_window(url: &str) {
    let store = open(url).await;
    // A dedup key made of alert data: long, and not to be stored in clear.
    let alert_key = format!("splunk-sid-{}", "WIN-DC01:4624:".repeat(40));
    let (first, queued) = keyed(&store, "hook:splunk", &alert_key, HOUR).await;
    assert_eq!(queued, Enqueued::Queued(first.clone()));
    let (second, again) = keyed(&store, "hook:splunk", &alert_key, HOUR).await;
    assert_eq!(again, Enqueued::Duplicate(first.clone()));
    assert_eq!(
        store.run(&second).await.expect("read"),
        None,
        "a duplicate queues nothing"
    );
    assert_eq!(store.queue_depth().await.expect("depth"), 1);

    // The same key in another scope, and another key in the same scope, are other runs.
    let (other_scope, queued) = keyed(&store, "api:console", &alert_key, HOUR).await;
    assert_eq!(queued, Enqueued::Queued(other_scope));
    let (other_key, queued) = keyed(&store, "hook:splunk", "splunk-sid-2", HOUR).await;
    assert_eq!(queued, Enqueued::Queued(other_key));
    assert_eq!(store.queue_depth().await.expect("depth"), 3);

    // Only the key's SHA-256 is kept.
    let rows = key_rows(url).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, hash, _)| hash.len() == 64
        && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
        && !alert_key.contains(hash.as_str())));
    assert!(rows.contains(&(
        "hook:splunk".to_owned(),
        runbook_store::auth::token_hash(&alert_key),
        first.clone()
    )));

    // Once its window ends, the key makes a new run, and holds that one from then on.
    let (short, queued) = keyed(&store, "api:console", "retry-1", Duration::from_millis(300)).await;
    assert_eq!(queued, Enqueued::Queued(short.clone()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (renewed, queued) = keyed(&store, "api:console", "retry-1", HOUR).await;
    assert_eq!(queued, Enqueued::Queued(renewed.clone()));
    assert_ne!(renewed, short);
    let (_, again) = keyed(&store, "api:console", "retry-1", HOUR).await;
    assert_eq!(again, Enqueued::Duplicate(renewed));
    assert!(
        store.run(&short).await.expect("read").is_some(),
        "the first run stays"
    );

    // A keyed run with a firing key that fired already is not queued either.
    let run_id = new_run_id();
    let entry = QueueEntry {
        firing_key: Some("nightly@2026-12-02T02:00:00Z"),
        ..QueueEntry::default()
    };
    let key = RunKey {
        scope: "api:console",
        key: "fired",
        window: HOUR,
    };
    let fired = store
        .enqueue_keyed(&new_run(&run_id, "nightly"), &entry, &key)
        .await
        .expect("first firing");
    assert_eq!(fired, Enqueued::Queued(run_id));
    let key = RunKey {
        key: "fired-again",
        ..key
    };
    let again = store
        .enqueue_keyed(&new_run(&new_run_id(), "nightly"), &entry, &key)
        .await
        .expect("second firing");
    assert_eq!(again, Enqueued::AlreadyFired);
    assert_eq!(
        key_rows(url).await.len(),
        5,
        "the refused firing took no key"
    );
    store.close().await;
}

async fn racing_keyed_enqueues_make_one_run(url: &str) {
    const CALLERS: usize = 20;
    // Four stores: four pools, as four processes would have.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(open(url).await));
    }
    let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut handles = Vec::new();
    for caller in 0..CALLERS {
        let store = stores[caller % stores.len()].clone();
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            keyed(&store, "api:splunk", "Idempotency-Key: 7f3a", HOUR).await
        }));
    }
    let mut queued = Vec::new();
    let mut duplicates = Vec::new();
    for handle in handles {
        match handle.await.expect("a caller ran") {
            (run_id, Enqueued::Queued(queued_id)) => {
                assert_eq!(run_id, queued_id);
                queued.push(run_id);
            }
            (_, Enqueued::Duplicate(first)) => duplicates.push(first),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(queued.len(), 1, "exactly one run queued: {queued:?}");
    assert_eq!(duplicates.len(), CALLERS - 1);
    assert!(duplicates.iter().all(|first| *first == queued[0]));
    let store = &stores[0];
    assert_eq!(store.queue_depth().await.expect("depth"), 1);

    // The window ends (the key's expiry moved into the past): the next caller queues anew.
    execute(
        url,
        "UPDATE run_keys SET expires_at = '2000-01-01T00:00:00.000000Z'",
    )
    .await;
    let (run_id, next) = keyed(store, "api:splunk", "Idempotency-Key: 7f3a", HOUR).await;
    assert_eq!(next, Enqueued::Queued(run_id.clone()));
    let (_, again) = keyed(store, "api:splunk", "Idempotency-Key: 7f3a", HOUR).await;
    assert_eq!(again, Enqueued::Duplicate(run_id));
    assert_eq!(store.queue_depth().await.expect("depth"), 2);
    for store in stores {
        store.close().await;
    }
}

async fn sealed_inputs_travel_with_a_queued_run_to_whoever_claims_it(url: &str) {
    let store = open(url).await;
    let sealed_run = new_run_id();
    let entry = QueueEntry {
        sealed_inputs: Some("v1.nonce.c2VhbGVk"),
        ..QueueEntry::default()
    };
    store
        .enqueue_entry(&new_run(&sealed_run, "with-secrets"), &entry)
        .await
        .expect("enqueue");
    let plain_run = new_run_id();
    store
        .enqueue(&new_run(&plain_run, "without-secrets"), None, None)
        .await
        .expect("enqueue");

    assert_eq!(
        store.sealed_inputs(&sealed_run).await.expect("read"),
        Some("v1.nonce.c2VhbGVk".to_owned())
    );
    assert_eq!(store.sealed_inputs(&plain_run).await.expect("read"), None);
    assert_eq!(
        store.sealed_inputs(&new_run_id()).await.expect("read"),
        None
    );

    let claimed = store
        .claim_next("worker-a", HOUR)
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!(claimed.record.run_id, sealed_run);
    assert_eq!(claimed.sealed_inputs.as_deref(), Some("v1.nonce.c2VhbGVk"));
    let taken = store
        .take_over_run(&sealed_run, "worker-b", ("worker-a", claimed.epoch), None)
        .await
        .expect("take over")
        .expect("taken");
    assert_eq!(taken.sealed_inputs.as_deref(), Some("v1.nonce.c2VhbGVk"));
    let plain = store
        .claim_run(&plain_run, "cli:host:1", HOUR, None)
        .await
        .expect("claim")
        .expect("claimed");
    assert_eq!(plain.sealed_inputs, None);

    // A keyed enqueue keeps them too.
    let keyed_run = new_run_id();
    let key = RunKey {
        scope: "api:console",
        key: "k",
        window: HOUR,
    };
    store
        .enqueue_keyed(&new_run(&keyed_run, "with-secrets"), &entry, &key)
        .await
        .expect("enqueue_keyed");
    assert_eq!(
        store.sealed_inputs(&keyed_run).await.expect("read"),
        Some("v1.nonce.c2VhbGVk".to_owned())
    );
    store.close().await;
}

async fn runs_are_paged_newest_first_by_cursor_and_filters_combine(url: &str) {
    let store = open(url).await;
    let mut created = Vec::new();
    for index in 0..25 {
        let run_id = new_run_id();
        let playbook = if index % 2 == 0 { "even" } else { "odd" };
        let schedule = (index % 5 == 0).then_some("nightly");
        let mut run = new_run(&run_id, playbook);
        run.started_by = format!("api:token-{index}");
        let entry = QueueEntry {
            schedule_name: schedule,
            ..QueueEntry::default()
        };
        store.enqueue_entry(&run, &entry).await.expect("enqueue");
        if index % 3 == 0 {
            store.cancel_run(&run_id).await.expect("cancel");
        }
        created.push(run_id);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let pages = pages_of(&store, RunPage::default(), 10).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    let paged: Vec<String> = pages.into_iter().flatten().map(|run| run.0).collect();
    assert_eq!(paged, newest_first, "every run once, newest first");

    let everything = store
        .page_runs(&RunPage {
            limit: 100,
            ..RunPage::default()
        })
        .await
        .expect("page");
    let fifth = everything
        .iter()
        .find(|run| run.run_id == created[5])
        .expect("listed");
    assert_eq!(fifth.started_by, "api:token-5");
    assert_eq!(fifth.schedule_name.as_deref(), Some("nightly"));
    assert_eq!(fifth.playbook_name, "odd");
    let sixth = everything
        .iter()
        .find(|run| run.run_id == created[6])
        .expect("listed");
    assert_eq!(sixth.status, "cancelled");
    assert_eq!(sixth.schedule_name, None);

    // Filters combine, and paging keeps them.
    let since = everything
        .iter()
        .find(|run| run.run_id == created[8])
        .expect("listed")
        .started_at
        .clone();
    let filter = RunPage {
        status: Some("queued".into()),
        playbook: Some("even".into()),
        since: Some(since.clone()),
        ..RunPage::default()
    };
    let expected: Vec<String> = everything
        .iter()
        .filter(|run| {
            run.status == "queued" && run.playbook_name == "even" && run.started_at >= since
        })
        .map(|run| run.run_id.clone())
        .collect();
    // Runs 8..24, even, not a multiple of 3: 8, 10, 14, 16, 20, 22.
    assert_eq!(expected.len(), 6, "{expected:?}");
    let filtered: Vec<String> = pages_of(&store, filter, 4)
        .await
        .into_iter()
        .flatten()
        .map(|run| run.0)
        .collect();
    assert_eq!(filtered, expected);

    // Past the oldest run, and with an unknown status, pages are empty.
    let none = store
        .page_runs(&RunPage {
            before: Some(created[0].clone()),
            limit: 10,
            ..RunPage::default()
        })
        .await
        .expect("page");
    assert!(none.is_empty());
    let none = store
        .page_runs(&RunPage {
            status: Some("paused".into()),
            limit: 10,
            ..RunPage::default()
        })
        .await
        .expect("page");
    assert!(none.is_empty());
    store.close().await;
}

/// Every page of `filter`, `size` runs each, by following the cursor; each run as its id and
/// status.
async fn pages_of(store: &SqlStore, filter: RunPage, size: u32) -> Vec<Vec<(String, String)>> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .page_runs(&RunPage {
                before: before.clone(),
                limit: size,
                ..filter.clone()
            })
            .await
            .expect("page");
        let last = page.len() < size as usize;
        before = page.last().map(|run| run.run_id.clone());
        if !page.is_empty() {
            pages.push(
                page.into_iter()
                    .map(|run| (run.run_id, run.status.as_str().to_owned()))
                    .collect(),
            );
        }
        if last {
            return pages;
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

async fn events_after_a_sequence_number_come_in_order_per_run(url: &str) {
    let store = open(url).await;
    let first = new_run_id();
    let second = new_run_id();
    for run_id in [&first, &second] {
        store
            .create_run(&new_run(run_id, "events"))
            .await
            .expect("create_run");
    }
    for index in 1..=7 {
        store
            .append_event(&first, &log_event("log", &format!("first {index}")))
            .await
            .expect("append");
        if index <= 2 {
            store
                .append_event(&second, &log_event("log", &format!("second {index}")))
                .await
                .expect("append");
        }
    }
    let messages = |events: &[(i64, runbook_store::StoredEvent)]| -> Vec<(i64, String)> {
        events
            .iter()
            .map(|(sequence, stored)| match &stored.event {
                runbook_engine::Event::Log { message, .. } => (*sequence, message.clone()),
                other => panic!("unexpected event {other:?}"),
            })
            .collect()
    };

    let all = store.events_after(&first, 0, 100).await.expect("events");
    assert_eq!(
        messages(&all),
        (1..=7)
            .map(|index| (index, format!("first {index}")))
            .collect::<Vec<_>>()
    );
    assert!(all.iter().all(|(_, stored)| !stored.recorded_at.is_empty()));
    let middle = store.events_after(&first, 3, 2).await.expect("events");
    assert_eq!(
        messages(&middle),
        [(4, "first 4".to_owned()), (5, "first 5".to_owned())]
    );
    assert!(
        store
            .events_after(&first, 7, 10)
            .await
            .expect("events")
            .is_empty()
    );
    // Sequence numbers are per run: the second run's start at 1 too.
    let other = store.events_after(&second, 0, 10).await.expect("events");
    assert_eq!(
        messages(&other),
        [(1, "second 1".to_owned()), (2, "second 2".to_owned())]
    );
    assert!(
        store
            .events_after(&new_run_id(), 0, 10)
            .await
            .expect("events")
            .is_empty()
    );

    // Polling from the last number seen picks up what came since, once.
    let mut seen = BTreeSet::new();
    let mut after = 0;
    for round in 0..3 {
        store
            .append_event(&first, &log_event("log", &format!("more {round}")))
            .await
            .expect("append");
        for (sequence, _) in store.events_after(&first, after, 3).await.expect("events") {
            assert!(seen.insert(sequence), "event {sequence} seen twice");
            after = sequence;
        }
    }
    while let Some((sequence, _)) = store
        .events_after(&first, after, 3)
        .await
        .expect("events")
        .last()
        .cloned()
    {
        for number in after + 1..=sequence {
            assert!(seen.insert(number));
        }
        after = sequence;
    }
    assert_eq!(seen, (1..=10).collect::<BTreeSet<i64>>());
    store.close().await;
}

async fn a_pruned_run_frees_its_key(url: &str) {
    let store = open(url).await;
    let (first, queued) = keyed(&store, "hook:splunk", "sid-42", HOUR).await;
    assert_eq!(queued, Enqueued::Queued(first.clone()));
    store.cancel_run(&first).await.expect("cancel");
    // The key goes with its run: a repeat cannot be answered with a run that is gone.
    let pruned = store
        .prune_finished("2999-01-01T00:00:00.000000Z")
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    assert!(key_rows(url).await.is_empty());
    let (second, queued) = keyed(&store, "hook:splunk", "sid-42", HOUR).await;
    assert_eq!(queued, Enqueued::Queued(second));
    store.close().await;
}

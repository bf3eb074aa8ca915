//! The store test suite, written once and run against SQLite and PostgreSQL.
//!
//! Each test is an async fn taking the URL of a fresh, empty database; `backend_tests!` calls
//! it from a `#[tokio::test]` per backend. PostgreSQL tests need `RUNBOOK_TEST_POSTGRES_URL`
//! and say that they skip when it is absent.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::{finished_step, log_event, new_run, new_run_id, running_step};
use runbook_engine::{Event, RecordedStatus, RunFilter, RunStatus, StepStatus, Store};
use runbook_store::{CancelOutcome, SqlStore};
use serde_json::json;

backend_tests!(
    a_run_round_trips_with_steps_intents_events_and_outputs,
    list_filters_by_status_and_playbook_newest_first_with_a_limit,
    intents_and_steps_survive_reopening_the_store,
    a_resumed_step_counts_attempts_and_keeps_its_deadline,
    a_succeeded_step_is_never_started_again,
    intents_never_change_their_action,
    writes_for_a_run_that_is_not_recorded_fail_clearly,
    cancelling_is_final,
    concurrent_writers_lose_nothing,
    a_database_from_a_newer_runbook_is_refused,
    a_foreign_database_is_refused,
    a_second_run_with_the_same_id_is_refused,
    stores_opened_at_once_on_a_fresh_database_all_work,
    operator_reads_list_claims_find_prefixes_time_events_and_prune_finished_runs,
    step_progress_is_replaced_and_read_back_with_the_run,
);

async fn step_progress_is_replaced_and_read_back_with_the_run(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "staged"))
        .await
        .expect("create_run");
    let first = json!({"names": ["b", "a"], "waves": []});
    store
        .save_progress(&run_id, "deploy", &first)
        .await
        .expect("first progress");
    let record = store.run(&run_id).await.expect("read").expect("recorded");
    assert_eq!(record.progress.get("deploy"), Some(&first));
    let second = json!({"names": ["b", "a"], "waves": [{"action_id": 7}]});
    store
        .save_progress(&run_id, "deploy", &second)
        .await
        .expect("second progress");
    store
        .save_progress(&run_id, "other", &json!({"n": 1}))
        .await
        .expect("another step's progress");
    let record = store.run(&run_id).await.expect("read").expect("recorded");
    assert_eq!(record.progress.len(), 2);
    assert_eq!(record.progress.get("deploy"), Some(&second));
    let refused = store
        .save_progress("no-such-run", "deploy", &first)
        .await
        .expect_err("progress of a run that is not recorded");
    assert!(!refused.is_lost_claim(), "{refused}");

    // Under a claim: written while it holds, refused once another process took the run over.
    let claimed_run = new_run_id();
    store
        .create_run(&runbook_engine::NewRun {
            claimed_by: Some("cli:first:1".to_owned()),
            ..new_run(&claimed_run, "staged")
        })
        .await
        .expect("claimed run");
    let lease = runbook_engine::Lease::new(
        claimed_run.clone(),
        "cli:first:1",
        1,
        std::time::Duration::from_secs(30),
        tokio::time::Instant::now(),
    );
    let fenced = runbook_store::FencedStore::new(store.clone(), lease, None);
    fenced
        .save_progress(&claimed_run, "deploy", &first)
        .await
        .expect("saved under the claim");
    store
        .take_over_run(&claimed_run, "cli:second:2", ("cli:first:1", 1), None)
        .await
        .expect("take over")
        .expect("taken");
    let lost = fenced
        .save_progress(&claimed_run, "deploy", &second)
        .await
        .expect_err("an old claim saves nothing");
    assert!(lost.is_lost_claim(), "{lost}");
    let record = store
        .run(&claimed_run)
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(record.progress.get("deploy"), Some(&first));
}

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
}

async fn a_run_round_trips_with_steps_intents_events_and_outputs(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    let new = new_run(&run_id, "isolate-host");
    store.create_run(&new).await.expect("create_run");

    store
        .step_started(&run_id, &running_step(0, "find", "target"))
        .await
        .expect("step 0 started");
    store
        .step_finished(&run_id, &finished_step(0, "find", "target"))
        .await
        .expect("step 0 finished");
    let mut issue = running_step(1, "isolate", "issue");
    store
        .step_started(&run_id, &issue)
        .await
        .expect("step 1 started");
    let action_name = runbook_engine::unique_action_name("Isolate", &run_id, "isolate");
    store
        .record_intent(&run_id, "isolate", &action_name)
        .await
        .expect("record_intent");
    store
        .intent_resolved(&run_id, "isolate", 4242)
        .await
        .expect("intent_resolved");
    issue.status = StepStatus::Failed;
    issue.error = Some("approval timed out".into());
    issue.finished_at = Some("2026-11-29T10:05:00.000000Z".into());
    store
        .step_finished(&run_id, &issue)
        .await
        .expect("step 1 finished");
    // A skipped step is recorded without having started.
    let mut skipped = finished_step(2, "notify", "log");
    skipped.status = StepStatus::Skipped;
    skipped.outputs = None;
    store
        .step_finished(&run_id, &skipped)
        .await
        .expect("step 2 skipped");

    let events = vec![
        Event::RunStarted {
            run_id: run_id.clone(),
            playbook: "isolate-host".into(),
            inputs: new.inputs.clone(),
        },
        Event::ActionIssued {
            step_id: "isolate".into(),
            action_id: 4242,
            name: action_name.clone(),
            targeted: 3,
            adopted: false,
        },
        Event::PollProgress {
            step_id: "isolate".into(),
            action_id: 4242,
            percent: 66.5,
            finished_percent: 50.0,
            mr_tested: 3,
            estimated_total: 3,
            finished: 2,
            expected: 3,
            statuses: BTreeMap::from([("Completed".to_owned(), 2)]),
            until_percent: 90,
            left_seconds: Some(600),
        },
        log_event("notify", "done"),
    ];
    for event in &events {
        store
            .append_event(&run_id, event)
            .await
            .expect("append_event");
    }
    let outputs = json!({"isolated": ["WIN-DC01"], "zeta": 1, "alpha": 2});
    store
        .finish_run(
            &run_id,
            RunStatus::Failed,
            &outputs,
            Some("step isolate failed"),
        )
        .await
        .expect("finish_run");

    let record = store
        .run(&run_id)
        .await
        .expect("run")
        .expect("run is recorded");
    assert_eq!(record.run_id, run_id);
    assert_eq!(record.playbook_name, new.playbook_name);
    assert_eq!(record.playbook_source, new.playbook_source);
    assert_eq!(record.playbook_hash, new.playbook_hash);
    assert_eq!(record.playbook_path, new.playbook_path);
    assert_eq!(record.inputs, new.inputs);
    assert_eq!(record.started_by, new.started_by);
    assert_eq!(record.status, "failed");
    assert_eq!(record.error.as_deref(), Some("step isolate failed"));
    assert_eq!(record.outputs.as_ref(), Some(&outputs));
    // Object keys come back in the order they were written (no JSONB reordering).
    assert_eq!(
        serde_json::to_string(&record.outputs).expect("json"),
        r#"{"isolated":["WIN-DC01"],"zeta":1,"alpha":2}"#
    );
    assert!(record.finished_at.is_some());
    assert!(record.started_at <= record.finished_at.clone().unwrap_or_default());

    assert_eq!(record.steps.len(), 3);
    assert_eq!(record.steps[0], finished_step(0, "find", "target"));
    assert_eq!(record.steps[1], issue);
    assert_eq!(record.steps[2], skipped);

    assert_eq!(record.intents.len(), 1);
    assert_eq!(record.intents[0].step_id, "isolate");
    assert_eq!(record.intents[0].action_name, action_name);
    assert_eq!(record.intents[0].action_id, Some(4242));

    assert_eq!(store.events(&run_id).await.expect("events"), events);
    assert_eq!(store.run(&new_run_id()).await.expect("run"), None);
    store.close().await;
}

async fn list_filters_by_status_and_playbook_newest_first_with_a_limit(url: &str) {
    let store = open(url).await;
    let mut created = Vec::new();
    for (index, (playbook, status)) in [
        ("isolate-host", Some(RunStatus::Succeeded)),
        ("collect-logs", Some(RunStatus::Failed)),
        ("isolate-host", None),
        ("isolate-host", Some(RunStatus::Failed)),
        ("collect-logs", None),
    ]
    .into_iter()
    .enumerate()
    {
        let run_id = new_run_id();
        store
            .create_run(&new_run(&run_id, playbook))
            .await
            .expect("create_run");
        if let Some(status) = status {
            store
                .finish_run(&run_id, status, &json!({"index": index}), None)
                .await
                .expect("finish_run");
        }
        created.push((run_id, playbook, status));
    }
    let ids = |summaries: Vec<runbook_engine::RunSummary>| {
        summaries
            .into_iter()
            .map(|summary| summary.run_id)
            .collect::<Vec<_>>()
    };
    let newest_first: Vec<String> = created.iter().rev().map(|(id, _, _)| id.clone()).collect();

    let all = store.list_runs(&RunFilter::default()).await.expect("list");
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].status, "running");
    assert_eq!(all[0].playbook_name, "collect-logs");
    assert_eq!(ids(all), newest_first);

    let failed = store
        .list_runs(&RunFilter {
            status: Some(RecordedStatus::Failed),
            ..RunFilter::default()
        })
        .await
        .expect("list failed");
    assert_eq!(
        ids(failed),
        vec![created[3].0.clone(), created[1].0.clone()]
    );

    let isolate = store
        .list_runs(&RunFilter {
            playbook: Some("isolate-host".into()),
            ..RunFilter::default()
        })
        .await
        .expect("list isolate-host");
    assert_eq!(
        ids(isolate),
        vec![
            created[3].0.clone(),
            created[2].0.clone(),
            created[0].0.clone()
        ]
    );

    let both = store
        .list_runs(&RunFilter {
            status: Some(RecordedStatus::Running),
            playbook: Some("isolate-host".into()),
            limit: None,
        })
        .await
        .expect("list running isolate-host");
    assert_eq!(ids(both), vec![created[2].0.clone()]);

    let limited = store
        .list_runs(&RunFilter {
            limit: Some(2),
            ..RunFilter::default()
        })
        .await
        .expect("list with a limit");
    assert_eq!(ids(limited), newest_first[..2].to_vec());

    // A status is a type now: an unknown one cannot be asked for (the cli refuses the text).
    assert_eq!(RecordedStatus::parse("exploded"), None);
    store.close().await;
}

async fn intents_and_steps_survive_reopening_the_store(url: &str) {
    let run_id = new_run_id();
    let action_name = runbook_engine::unique_action_name("Quarantine", &run_id, "quarantine");
    {
        let store = open(url).await;
        store
            .create_run(&new_run(&run_id, "quarantine"))
            .await
            .expect("create_run");
        store
            .step_started(&run_id, &running_step(0, "quarantine", "issue"))
            .await
            .expect("step_started");
        store
            .record_intent(&run_id, "quarantine", &action_name)
            .await
            .expect("record_intent");
        // The process dies here: the action may or may not have been sent.
        store.close().await;
    }
    let store = open(url).await;
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.status, "running");
    assert_eq!(record.intents.len(), 1);
    assert_eq!(record.intents[0].action_name, action_name);
    assert_eq!(record.intents[0].action_id, None);
    assert_eq!(record.steps[0].status, StepStatus::Running);

    // Resume: same intent again is accepted, then resolved by the lookup by name.
    store
        .record_intent(&run_id, "quarantine", &action_name)
        .await
        .expect("the same intent again");
    store
        .intent_resolved(&run_id, "quarantine", 77)
        .await
        .expect("intent_resolved");
    store.close().await;
    let store = open(url).await;
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.intents[0].action_id, Some(77));
    store.close().await;
}

async fn a_resumed_step_counts_attempts_and_keeps_its_deadline(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "wait"))
        .await
        .expect("create_run");
    let mut wait = running_step(0, "approve", "await_approval");
    wait.deadline = Some("2026-11-29T11:00:00.000000Z".into());
    store
        .step_started(&run_id, &wait)
        .await
        .expect("first start");

    // After a crash the engine starts the step again, unaware of the first attempt.
    let mut again = running_step(0, "approve", "await_approval");
    again.started_at = "2026-11-29T10:30:00.000000Z".into();
    again.deadline = Some("2026-11-29T11:30:00.000000Z".into());
    store
        .step_started(&run_id, &again)
        .await
        .expect("second start");
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.steps[0].attempts, 2);
    assert_eq!(
        record.steps[0].deadline.as_deref(),
        Some("2026-11-29T11:00:00.000000Z")
    );
    assert_eq!(record.steps[0].started_at, "2026-11-29T10:30:00.000000Z");

    // A retry the engine counts itself (attempt 5) is taken as it says.
    let mut retry = running_step(0, "approve", "await_approval");
    retry.attempts = 5;
    store.step_started(&run_id, &retry).await.expect("retry");
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.steps[0].attempts, 5);

    let mut failed = retry.clone();
    failed.status = StepStatus::Failed;
    failed.attempts = 1;
    failed.error = Some("approval timed out".into());
    store
        .step_finished(&run_id, &failed)
        .await
        .expect("finished");
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.steps[0].attempts, 5, "attempts never go down");
    assert_eq!(record.steps[0].status, StepStatus::Failed);
    assert!(record.steps[0].finished_at.is_some());
    store.close().await;
}

async fn a_succeeded_step_is_never_started_again(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "once"))
        .await
        .expect("create_run");
    store
        .step_started(&run_id, &running_step(0, "issue", "issue"))
        .await
        .expect("started");
    store
        .step_finished(&run_id, &finished_step(0, "issue", "issue"))
        .await
        .expect("finished");
    let error = store
        .step_started(&run_id, &running_step(0, "issue", "issue"))
        .await
        .expect_err("a succeeded step is not started again");
    assert!(error.message.contains("already succeeded"), "{error}");
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.steps[0], finished_step(0, "issue", "issue"));
    store.close().await;
}

async fn intents_never_change_their_action(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "intents"))
        .await
        .expect("create_run");
    store
        .record_intent(&run_id, "issue", "Deploy [runbook a issue]")
        .await
        .expect("record_intent");
    let renamed = store
        .record_intent(&run_id, "issue", "Deploy [runbook b issue]")
        .await
        .expect_err("a different action name is refused");
    assert!(
        renamed.message.contains("Deploy [runbook a issue]"),
        "{renamed}"
    );

    store
        .intent_resolved(&run_id, "issue", 10)
        .await
        .expect("resolved");
    store
        .intent_resolved(&run_id, "issue", 10)
        .await
        .expect("the same action again is fine");
    let other = store
        .intent_resolved(&run_id, "issue", 11)
        .await
        .expect_err("a second action for one intent is refused");
    assert!(
        other.message.contains("already resolved to action 10"),
        "{other}"
    );

    let missing = store
        .intent_resolved(&run_id, "never-recorded", 12)
        .await
        .expect_err("resolving an intent that was not recorded fails");
    assert!(
        missing.message.contains("no intent was recorded"),
        "{missing}"
    );
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.intents.len(), 1);
    assert_eq!(record.intents[0].action_id, Some(10));
    store.close().await;
}

async fn writes_for_a_run_that_is_not_recorded_fail_clearly(url: &str) {
    let store = open(url).await;
    let ghost = new_run_id();
    let checks = [
        store
            .step_started(&ghost, &running_step(0, "a", "log"))
            .await
            .expect_err("step_started"),
        store
            .step_finished(&ghost, &finished_step(0, "a", "log"))
            .await
            .expect_err("step_finished"),
        store
            .record_intent(&ghost, "a", "A [runbook x a]")
            .await
            .expect_err("record_intent"),
        store
            .append_event(&ghost, &log_event("a", "hello"))
            .await
            .expect_err("append_event"),
    ];
    for error in checks {
        assert!(
            error
                .message
                .contains(&format!("run {ghost} is not recorded")),
            "{error}"
        );
    }
    let finish = store
        .finish_run(&ghost, RunStatus::Succeeded, &json!({}), None)
        .await
        .expect_err("finish_run");
    assert!(finish.message.contains("not recorded"), "{finish}");
    assert!(
        store
            .list_runs(&RunFilter::default())
            .await
            .expect("list")
            .is_empty()
    );
    store.close().await;
}

async fn cancelling_is_final(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "cancel"))
        .await
        .expect("create_run");
    assert_eq!(
        store.cancel_run(&run_id).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    // The engine, unaware, finishes the run: the cancellation stands.
    store
        .finish_run(&run_id, RunStatus::Succeeded, &json!({"late": true}), None)
        .await
        .expect("finish_run");
    let record = store.run(&run_id).await.expect("run").expect("recorded");
    assert_eq!(record.status, "cancelled");
    assert_eq!(record.outputs, Some(json!({"late": true})));
    assert_eq!(
        store.cancel_run(&run_id).await.expect("cancel again"),
        CancelOutcome::AlreadyFinished("cancelled".into())
    );
    assert_eq!(
        store
            .cancel_run(&new_run_id())
            .await
            .expect("cancel unknown"),
        CancelOutcome::NotFound
    );

    let done = new_run_id();
    store
        .create_run(&new_run(&done, "cancel"))
        .await
        .expect("create_run");
    store
        .finish_run(&done, RunStatus::Succeeded, &json!({}), None)
        .await
        .expect("finish_run");
    assert_eq!(
        store.cancel_run(&done).await.expect("cancel finished"),
        CancelOutcome::AlreadyFinished("succeeded".into())
    );
    store.close().await;
}

async fn operator_reads_list_claims_find_prefixes_time_events_and_prune_finished_runs(url: &str) {
    let store = open(url).await;
    let running = new_run_id();
    let mut claimed = new_run(&running, "operator");
    claimed.claimed_by = Some("cli:somewhere:42".into());
    store.create_run(&claimed).await.expect("create_run");
    store
        .append_event(&running, &log_event("find", "hello"))
        .await
        .expect("event");
    let done = new_run_id();
    store
        .create_run(&new_run(&done, "operator"))
        .await
        .expect("create_run");
    store
        .finish_run(&done, RunStatus::Failed, &json!({}), Some("boom"))
        .await
        .expect("finish_run");

    let listed = store
        .list_runs_with_claims(&RunFilter::default(), None)
        .await
        .expect("list");
    let mine = listed
        .iter()
        .find(|run| run.run_id == running)
        .expect("listed");
    assert_eq!(mine.claimed_by.as_deref(), Some("cli:somewhere:42"));
    assert!(mine.heartbeat_at.is_some(), "{mine:?}");
    let future = store
        .list_runs_with_claims(&RunFilter::default(), Some("2999-01-01T00:00:00.000000Z"))
        .await
        .expect("list since");
    assert!(future.is_empty(), "{future:?}");

    let prefix = &running[..running.len() - 4];
    assert_eq!(
        store.runs_with_prefix(prefix, 10).await.expect("prefix"),
        vec![running.clone()]
    );
    let both = store.runs_with_prefix("0", 10).await.expect("prefix");
    assert!(both.contains(&running) && both.contains(&done), "{both:?}");
    assert!(store.runs_with_prefix("%", 10).await.expect("%").is_empty());

    let events = store.events_with_times(&running).await.expect("events");
    assert_eq!(events.len(), 1);
    assert!(events[0].recorded_at.ends_with('Z'), "{events:?}");
    assert_eq!(events[0].event, log_event("find", "hello"));

    // A resume is recorded under its own claim, and refused under a claim it lost.
    let claimed = store
        .take_over_run(&running, "cli:here:7", ("cli:somewhere:42", 1), None)
        .await
        .expect("take over")
        .expect("taken");
    let fence = runbook_store::Fence {
        holder: "cli:here:7".into(),
        epoch: claimed.epoch,
    };
    store
        .record_resume(&running, &fence, "cli:alice", None)
        .await
        .expect("resume recorded");
    let stale = runbook_store::Fence {
        holder: "cli:somewhere:42".into(),
        epoch: 1,
    };
    let refused = store
        .record_resume(&running, &stale, "cli:bob", None)
        .await
        .expect_err("an old claim records nothing");
    assert!(refused.is_lost_claim(), "{refused}");
    // The server is recorded under the claim, and only under it.
    assert_eq!(store.server_of(&running).await.expect("server"), None);
    store
        .record_server(&running, &fence, "https://tanium.example.com")
        .await
        .expect("server recorded");
    assert!(
        store
            .record_server(&running, &stale, "https://elsewhere.example.com")
            .await
            .expect_err("an old claim records nothing")
            .is_lost_claim()
    );
    assert_eq!(
        store.server_of(&running).await.expect("server").as_deref(),
        Some("https://tanium.example.com")
    );
    let resumes = store.resumes(&running).await.expect("resumes");
    assert_eq!(resumes.len(), 1, "{resumes:?}");
    assert_eq!(resumes[0].resumed_by, "cli:alice");
    assert_eq!(resumes[0].claim_epoch, 2);

    // Only the finished run goes, however old the running one is.
    assert_eq!(
        store
            .prune_finished("2999-01-01T00:00:00.000000Z")
            .await
            .expect("prune"),
        1
    );
    assert!(store.run(&done).await.expect("read").is_none());
    assert!(store.run(&running).await.expect("read").is_some());
    assert_eq!(
        store
            .prune_finished("2999-01-01T00:00:00.000000Z")
            .await
            .expect("prune again"),
        0
    );
    store.close().await;
}

/// Eight writers at once, half through a shared store and half through stores of their own
/// (as separate processes would), each writing a whole 6-step run.
async fn concurrent_writers_lose_nothing(url: &str) {
    const WRITERS: usize = 8;
    const STEPS: u32 = 6;
    let shared = open(url).await;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let url = url.to_owned();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let store = if writer % 2 == 0 {
                shared
            } else {
                open(&url).await
            };
            let run_id = new_run_id();
            store
                .create_run(&new_run(&run_id, &format!("writer-{writer}")))
                .await
                .expect("create_run");
            for step_index in 0..STEPS {
                let step_id = format!("step{step_index}");
                store
                    .step_started(&run_id, &running_step(step_index, &step_id, "log"))
                    .await
                    .expect("step_started");
                store
                    .append_event(&run_id, &log_event(&step_id, "started"))
                    .await
                    .expect("append_event");
                store
                    .step_finished(&run_id, &finished_step(step_index, &step_id, "log"))
                    .await
                    .expect("step_finished");
                store
                    .append_event(&run_id, &log_event(&step_id, "finished"))
                    .await
                    .expect("append_event");
            }
            store
                .finish_run(
                    &run_id,
                    RunStatus::Succeeded,
                    &json!({"writer": writer}),
                    None,
                )
                .await
                .expect("finish_run");
            if writer % 2 == 1 {
                store.close().await;
            }
            run_id
        }));
    }
    let mut run_ids = Vec::new();
    for task in tasks {
        run_ids.push(task.await.expect("writer task"));
    }
    let listed = shared.list_runs(&RunFilter::default()).await.expect("list");
    assert_eq!(listed.len(), WRITERS);
    for run_id in run_ids {
        let record = shared.run(&run_id).await.expect("run").expect("recorded");
        assert_eq!(record.status, "succeeded");
        assert_eq!(record.steps.len(), STEPS as usize);
        assert!(
            record
                .steps
                .iter()
                .all(|step| step.status == StepStatus::Succeeded)
        );
        let events = shared.events(&run_id).await.expect("events");
        assert_eq!(events.len(), 2 * STEPS as usize);
        assert_eq!(events[0], log_event("step0", "started"));
        assert_eq!(events[11], log_event("step5", "finished"));
    }
    shared.close().await;
}

async fn a_database_from_a_newer_runbook_is_refused(url: &str) {
    open(url).await.close().await;
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
               execution_time) VALUES (9999, 'from the future', TRUE, $1, 0)";
    execute_raw(url, sql, Some(vec![0u8; 48])).await;
    let error = SqlStore::open(url)
        .await
        .expect_err("a database from a newer runbook is refused");
    println!("{error}");
    assert!(error.message.contains("newer runbook"), "{error}");
    assert!(error.message.contains("version 9999"), "{error}");
    let latest = latest_migration();
    assert!(
        error.message.contains(&format!("up to {latest}")),
        "{error}"
    );
}

/// The highest version among the embedded migrations (the SQLite and PostgreSQL folders hold
/// the same versions).
fn latest_migration() -> u32 {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    std::fs::read_dir(&folder)
        .expect("the migrations folder")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.split('_').next()?.parse::<u32>().ok()
        })
        .max()
        .expect("at least one migration")
}

async fn a_foreign_database_is_refused(url: &str) {
    execute_raw(
        url,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
        None,
    )
    .await;
    let error = SqlStore::open(url)
        .await
        .expect_err("a foreign database is refused");
    assert!(
        error.message.contains("is not a runbook run store"),
        "{error}"
    );
    assert!(error.message.contains("customers"), "{error}");
}

async fn a_second_run_with_the_same_id_is_refused(url: &str) {
    let store = open(url).await;
    let run_id = new_run_id();
    store
        .create_run(&new_run(&run_id, "twice"))
        .await
        .expect("first");
    let error = store
        .create_run(&new_run(&run_id, "twice"))
        .await
        .expect_err("the same id twice is refused");
    assert!(error.message.contains("already recorded"), "{error}");
    store.close().await;
}

/// Workers (or two `runbook run`s) starting together on a fresh database all migrate it or
/// find it migrated; none fails on "table already exists".
async fn stores_opened_at_once_on_a_fresh_database_all_work(url: &str) {
    const OPENERS: usize = 8;
    let mut openings = Vec::new();
    for _ in 0..OPENERS {
        let url = url.to_owned();
        openings.push(tokio::spawn(async move { SqlStore::open(&url).await }));
    }
    let mut stores = Vec::new();
    for opening in openings {
        stores.push(opening.await.expect("task").expect("open at once"));
    }
    for store in &stores {
        let run_id = new_run_id();
        store
            .create_run(&new_run(&run_id, "together"))
            .await
            .expect("create_run");
    }
    let listed = stores[0]
        .list_runs(&RunFilter::default())
        .await
        .expect("list");
    assert_eq!(listed.len(), OPENERS);
    for store in stores {
        store.close().await;
    }
}

/// Runs one statement on the database behind `url` without the store (to set a scene).
async fn execute_raw(url: &str, sql: &'static str, blob: Option<Vec<u8>>) {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .connect()
            .await
            .expect("a SQLite connection");
        let mut query = sqlx::query(sql);
        if let Some(blob) = blob {
            query = query.bind(blob);
        }
        query.execute(&mut connection).await.expect("raw statement");
        connection.close().await.expect("close");
    } else {
        let mut connection = sqlx::postgres::PgConnectOptions::from_str(url)
            .expect("a PostgreSQL URL")
            .connect()
            .await
            .expect("a PostgreSQL connection");
        let mut query = sqlx::query(sql);
        if let Some(blob) = blob {
            query = query.bind(blob);
        }
        query.execute(&mut connection).await.expect("raw statement");
        connection.close().await.expect("close");
    }
}

#[test]
fn postgres_urls_get_their_database_replaced() {
    assert_eq!(
        common::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        common::with_database("postgres://u:p@host/db?sslmode=disable", "x"),
        "postgres://u:p@host/x?sslmode=disable"
    );
    assert_eq!(
        common::with_database("postgresql://host:5433", "x"),
        "postgresql://host:5433/x"
    );
}

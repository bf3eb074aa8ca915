//! `for_each` in the engine: results in item order whatever order items end in, each item's
//! own outputs, `max_failures` stopping new items (the rest `skipped`) while the handlers still
//! read how far each item got, item ids in events, secret items kept secret, and `items` that
//! is not a list. (Exactly once across kills, and concurrency against the simulator, are tested
//! end to end in tests/tests/loops.rs.)

mod common;

use common::{Scripted, run};
use runbook_engine::{Event, RunStatus};
use serde_json::{Value, json};

const ORDERED: &str = r#"version: 1
name: ordered
inputs:
  numbers: { type: list }
steps:
  - id: each
    for_each:
      items: "{{ inputs.numbers }}"
      as: n
      concurrency: 5
      steps:
        - id: calc
          set:
            double: "{{ n * 2 }}"
            index: "{{ loop.index }}"
        - id: again
          set:
            seen: "{{ steps.calc.double + 1 }}"
outputs:
  doubles: "{{ steps.each.results | map(attribute='outputs') | map(attribute='calc') | map(attribute='double') | list }}"
  indexes: "{{ steps.each.results | map(attribute='outputs') | map(attribute='calc') | map(attribute='index') | list }}"
  seen: "{{ steps.each.results | map(attribute='outputs') | map(attribute='again') | map(attribute='seen') | list }}"
  counts: "{{ [steps.each.succeeded, steps.each.failed, steps.each.skipped] }}"
"#;

#[tokio::test(start_paused = true)]
async fn results_come_in_item_order_with_each_items_own_outputs() {
    let numbers: Vec<u64> = (1..=12).collect();
    let (_, events, outcome) = run(
        Scripted::default(),
        ORDERED,
        &[("numbers", &serde_json::to_string(&numbers).unwrap())],
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let doubles: Vec<Value> = numbers.iter().map(|n| json!(n * 2)).collect();
    assert_eq!(outcome.outputs["doubles"], Value::Array(doubles));
    let indexes: Vec<Value> = (0..12).map(|index| json!(index)).collect();
    assert_eq!(outcome.outputs["indexes"], Value::Array(indexes));
    let seen: Vec<Value> = numbers.iter().map(|n| json!(n * 2 + 1)).collect();
    assert_eq!(outcome.outputs["seen"], Value::Array(seen));
    assert_eq!(outcome.outputs["counts"], json!([12, 0, 0]));
    // Each item's steps report under `<loop>[<index>].<step>`; one `loop_item` per item.
    let finished: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            Event::StepFinished { step_id, .. } => Some(step_id.as_str()),
            _ => None,
        })
        .collect();
    for index in 0..12 {
        assert!(finished.contains(&format!("each[{index}].calc").as_str()));
        assert!(finished.contains(&format!("each[{index}].again").as_str()));
    }
    let items = events
        .iter()
        .filter(|event| matches!(event, Event::LoopItem { .. }))
        .count();
    assert_eq!(items, 12);
}

const FAILING: &str = r#"version: 1
name: failing
inputs:
  numbers: { type: list }
steps:
  - id: each
    for_each:
      items: "{{ inputs.numbers }}"
      as: n
      max_failures: 1
      steps:
        - id: check
          assert:
            that: "{{ n != 2 and n != 3 }}"
            message: "{{ n }} is not welcome"
        - id: after
          set:
            ok: "{{ n }}"
  - id: never
    log: "not reached"
on_failure:
  - id: report
    log: "{{ steps.each.succeeded }} ok, {{ steps.each.failed }} failed, {{ steps.each.skipped }} skipped; statuses {{ steps.each.results | map(attribute='status') | join(',') }}"
"#;

#[tokio::test(start_paused = true)]
async fn more_failures_than_tolerated_stop_new_items_and_the_handlers_see_how_far_each_got() {
    let (_, events, outcome) = run(
        Scripted::default(),
        FAILING,
        &[("numbers", "[1, 2, 3, 4, 5, 6]")],
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.starts_with(
            "step `each` failed: 2 of 6 items failed (max_failures: 1); first: item 1 (2): step `check` failed: 2 is not welcome"
        ),
        "{error}"
    );
    let logged: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            Event::Log { step_id, message } => Some((step_id.as_str(), message.as_str())),
            _ => None,
        })
        .map(|(step, message)| {
            assert_ne!(step, "never", "the step after the failed loop did not run");
            message
        })
        .collect();
    assert_eq!(
        logged,
        ["1 ok, 2 failed, 3 skipped; statuses succeeded,failed,failed,skipped,skipped,skipped"]
    );
    // A failed item stops at its failing step.
    assert!(!events.iter().any(|event| matches!(
        event,
        Event::StepStarted { step_id, .. } if step_id == "each[1].after"
    )));
}

#[tokio::test(start_paused = true)]
async fn continue_on_error_keeps_an_item_going() {
    let source = r#"version: 1
name: going
steps:
  - id: each
    for_each:
      items: [a, b]
      steps:
        - id: check
          continue_on_error: true
          assert: { that: "{{ item == 'a' }}" }
        - id: after
          set: { reached: "{{ item }}" }
outputs:
  after: "{{ steps.each.results | map(attribute='outputs') | map(attribute='after') | map(attribute='reached') | list }}"
  statuses: "{{ steps.each.results | map(attribute='status') | list }}"
"#;
    let (_, _, outcome) = run(Scripted::default(), source, &[]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["after"], json!(["a", "b"]));
    assert_eq!(
        outcome.outputs["statuses"],
        json!(["succeeded", "succeeded"])
    );
}

#[tokio::test(start_paused = true)]
async fn items_that_are_not_a_list_fail_the_loop_with_its_line() {
    let source = r#"version: 1
name: not-a-list
inputs:
  count: { type: integer }
steps:
  - id: each
    for_each:
      items: "{{ inputs.count }}"
      steps:
        - id: note
          log: "{{ item }}"
"#;
    let (_, _, outcome) = run(Scripted::default(), source, &[("count", "3")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        outcome.error.as_deref(),
        Some("step `each` failed: line 8, column 14: `items` gave a number, not a list")
    );
}

#[tokio::test(start_paused = true)]
async fn secret_items_stay_secret() {
    let source = r#"version: 1
name: secret-items
inputs:
  passwords: { type: list, secret: true }
steps:
  - id: each
    for_each:
      items: "{{ inputs.passwords }}"
      as: password
      steps:
        - id: note
          log: "using {{ password }} at {{ loop.index }}"
        - id: keep
          set: { shout: "{{ password | upper }}" }
outputs:
  results: "{{ steps.each.results }}"
"#;
    let (_, events, outcome) = run(
        Scripted::default(),
        source,
        &[("passwords", r#"["hunter2-one", "hunter2-two"]"#)],
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let shown = format!(
        "{}{}",
        serde_json::to_string(&events).unwrap(),
        outcome.outputs
    );
    for secret in ["hunter2-one", "hunter2-two", "HUNTER2-ONE", "HUNTER2-TWO"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert!(
        !shown.contains("could not be redacted"),
        "every event still reads: {shown}"
    );
    let finished = events
        .iter()
        .find_map(|event| match event {
            Event::RunFinished { status, .. } => Some(*status),
            _ => None,
        })
        .expect("run_finished was emitted");
    assert_eq!(finished, RunStatus::Succeeded);
    assert_eq!(outcome.outputs["results"], "[REDACTED]");
}

#[tokio::test(start_paused = true)]
async fn short_secret_items_stay_secret_in_results_and_errors() {
    let source = r#"version: 1
name: secret-pins
inputs:
  pins: { type: list, secret: true }
steps:
  - id: each
    for_each:
      items: "{{ inputs.pins }}"
      as: pin
      steps:
        - id: check
          assert: { that: "{{ pin != 345 }}", message: refused }
"#;
    let (_, events, outcome) = run(Scripted::default(), source, &[("pins", "[12, 345]")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.contains("first: item 1 ([REDACTED]): step `check` failed: refused"),
        "{error}"
    );
    let finished = events
        .iter()
        .find_map(|event| match event {
            Event::StepFailed { step_id, error, .. } if step_id == "each" => Some(error.clone()),
            _ => None,
        })
        .expect("the loop failed");
    assert!(!finished.contains("345"), "{finished}");
}

/// A resumed loop whose `items` render another list than when it started refuses to go on (an
/// item is known by its index); the same list goes on.
#[tokio::test(start_paused = true)]
async fn a_resumed_loop_goes_on_only_with_the_items_it_started_with() {
    use std::sync::Arc;

    let source = r#"version: 1
name: resumed
inputs:
  hosts: { type: list }
steps:
  - id: each
    for_each:
      items: "{{ inputs.hosts }}"
      steps:
        - id: note
          log: "{{ item }}"
"#;
    let playbook = Arc::new(
        runbook_playbook::load("resumed.yaml", source)
            .playbook
            .expect("valid"),
    );
    let inputs = runbook_playbook::bind_inputs(
        &playbook,
        &[("hosts".to_owned(), r#"["a", "b"]"#.to_owned())],
        &Default::default(),
    )
    .expect("inputs bind");
    let same = runbook_engine::run::playbook_hash(r#"["a","b"]"#);
    for (digest, then, succeeds) in [("another list", 3, false), (same.as_str(), 2, true)] {
        let engine = runbook_engine::Engine::new(
            Arc::new(Scripted::default()),
            Arc::new(runbook_engine::CollectEvents::new()),
        )
        .with_store(Arc::new(common::ApprovingStore::default()));
        let mut request = runbook_engine::RunRequest::new(playbook.clone(), inputs.clone());
        request.run_id = "run-1".to_owned();
        let record = runbook_engine::RunRecord {
            run_id: "run-1".to_owned(),
            playbook_name: "resumed".to_owned(),
            playbook_source: source.to_owned(),
            playbook_hash: String::new(),
            playbook_path: None,
            inputs: json!({"hosts": ["a", "b"]}),
            started_by: "cli".to_owned(),
            status: runbook_engine::RecordedStatus::Running,
            outputs: None,
            error: None,
            started_at: "2026-12-02T10:00:00.000Z".to_owned(),
            finished_at: None,
            steps: Vec::new(),
            intents: Vec::new(),
            progress: [(
                "each".to_owned(),
                json!({"items": then, "items_digest": digest}),
            )]
            .into_iter()
            .collect(),
        };
        let outcome = engine.resume(&request, &record).await;
        if succeeds {
            assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
        } else {
            assert_eq!(outcome.status, RunStatus::Failed);
            let error = outcome.error.unwrap_or_default();
            assert!(
                error.contains(
                    "`items` gives another list than when the loop started (2 items now, 3 then)"
                ),
                "{error}"
            );
        }
    }
}

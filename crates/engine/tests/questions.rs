//! Ask, then act: the `question` step (its wait, its answer, its timeout), `values:` in clauses
//! (any of a list, the 500-value limit, an empty list) and the idempotent `stop_action` step,
//! against the scripted platform on a paused clock.

mod common;

use std::time::Duration;

use runbook_engine::{
    ClauseValue, Event, Operator, Planner, QuestionAnswer, QuestionRequest, RunStatus,
    TargetRequest,
};
use serde_json::json;

use common::{Scripted, answered, run};

const HITS: &str = r#"
version: 1
name: hits
inputs:
  process: { type: string, default: evil.exe }
steps:
  - id: hits
    question:
      get:
        - Computer Name
        - { sensor: File Exists, params: { "||path||": 'C:\evil.exe', depth: 2 } }
      from:
        any:
          - { sensor: Running Processes, op: contains, values: ["{{ inputs.process }}", other.exe] }
          - { sensor: Computer Name, op: equals, value: x, when: false }
      until_percent: 95
      timeout: 2m
outputs:
  rows: "{{ steps.hits.rows }}"
  row_count: "{{ steps.hits.row_count }}"
  percent: "{{ steps.hits.percent }}"
  columns: "{{ steps.hits.columns }}"
  question_id: "{{ steps.hits.question_id }}"
  unavailable: "{{ steps.hits.unavailable }}"
  truncated: "{{ steps.hits.rows_truncated }}"
"#;

fn answer(rows: serde_json::Value, row_count: u64) -> QuestionAnswer {
    QuestionAnswer {
        columns: vec!["Computer Name".into(), "File Exists".into()],
        rows: rows.as_array().cloned().unwrap_or_default(),
        row_count,
        rows_truncated: false,
        unavailable: 1,
        mr_tested: 20,
        estimated_total: 20,
    }
}

#[tokio::test(start_paused = true)]
async fn a_question_waits_for_its_share_then_reads_the_answer() {
    let platform = Scripted {
        question_progress: vec![
            answered(0, 0),
            answered(5, 20),
            answered(18, 20),
            answered(19, 20),
        ],
        answer: Some(answer(
            json!([{"Computer Name": "web-01", "File Exists": "yes", "Count": 1}]),
            1,
        )),
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, HITS, &[]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(
        *platform.progress_reads.lock().unwrap(),
        4,
        "done at 19 of 20 (95%), not before"
    );
    let asked = platform.questions.lock().unwrap().clone();
    let [QuestionRequest::Sensors { get, from }] = asked.as_slice() else {
        panic!("one question of sensors: {asked:?}");
    };
    assert_eq!(get[0].sensor, "Computer Name");
    assert_eq!(get[1].params["path"], "C:\\evil.exe");
    assert_eq!(get[1].params["depth"], "2");
    let from = from.as_ref().expect("a filter");
    assert_eq!(
        from.clauses.len(),
        1,
        "the clause whose `when` is false is left out"
    );
    assert_eq!(from.clauses[0].op, Operator::Contains);
    assert_eq!(
        from.clauses[0].value,
        ClauseValue::AnyOf(vec!["evil.exe".into(), "other.exe".into()])
    );
    assert_eq!(*platform.answer_max_rows.lock().unwrap(), [1000]);

    let outputs = &outcome.outputs;
    assert_eq!(
        outputs["rows"],
        json!([{"Computer Name": "web-01", "File Exists": "yes", "Count": 1}])
    );
    assert_eq!(outputs["row_count"], json!(1));
    assert_eq!(outputs["percent"], json!(100.0));
    assert_eq!(outputs["columns"], json!(["Computer Name", "File Exists"]));
    assert_eq!(outputs["question_id"], json!(4001));
    assert_eq!(outputs["unavailable"], json!(1));
    assert_eq!(outputs["truncated"], json!(false));

    let shares: Vec<(f64, u64, u64)> = events
        .iter()
        .filter_map(|event| match event {
            Event::QuestionProgress {
                percent,
                mr_tested,
                estimated_total,
                until_percent: 95,
                ..
            } => Some((*percent, *mr_tested, *estimated_total)),
            _ => None,
        })
        .collect();
    assert_eq!(
        shares,
        [(0.0, 0, 0), (25.0, 5, 20), (90.0, 18, 20), (95.0, 19, 20)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_question_that_never_reaches_its_share_times_out_with_the_share_it_reached() {
    let platform = Scripted {
        question_progress: vec![answered(3, 20), answered(13, 20)],
        ..Scripted::default()
    };
    let (platform, _, outcome) = run(platform, HITS, &[]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert!(
        error.contains("did not reach 95% answered within 2m: 65% answered (13 of 20 endpoints)"),
        "{error}"
    );
    assert!(
        platform.answer_max_rows.lock().unwrap().is_empty(),
        "no answer is read after a timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn a_question_checks_less_often_while_nothing_changes() {
    let platform = Scripted {
        question_progress: vec![
            answered(1, 20),
            answered(1, 20),
            answered(1, 20),
            answered(1, 20),
            answered(1, 20),
            answered(2, 20),
            answered(20, 20),
        ],
        ..Scripted::default()
    };
    let source = r#"
version: 1
name: slow
steps:
  - id: hits
    question: { saved: Hosts With Unsigned Drivers, interval: 4s, max_interval: 10s }
"#;
    let (platform, _, outcome) = run(platform, source, &[]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(
        *platform.questions.lock().unwrap(),
        [QuestionRequest::Saved {
            name_or_id: "Hosts With Unsigned Drivers".into()
        }]
    );
    let times = platform.progress_times.lock().unwrap().clone();
    let gaps: Vec<Duration> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let millis: Vec<u128> = gaps.iter().map(Duration::as_millis).collect();
    // 4s, then 1.5x while stalled (6s, 9s, capped at 10s), back to 4s after news.
    assert_eq!(millis, [4000, 6000, 9000, 10000, 10000, 4000]);
}

#[tokio::test(start_paused = true)]
async fn more_than_500_values_fail_before_anything_is_sent() {
    let hosts: Vec<String> = (0..501).map(|index| format!("host-{index}")).collect();
    let hosts = serde_json::to_string(&hosts).unwrap();
    let source = r#"
version: 1
name: many
inputs:
  hosts: { type: list }
steps:
  - id: scope
    target:
      any:
        - { sensor: Computer Name, op: equals, values: "{{ inputs.hosts }}" }
"#;
    let (platform, _, outcome) = run(Scripted::default(), source, &[("hosts", &hosts)]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert!(
        error.contains(
            "`values` of the clause `Computer Name equals` holds 501 different values; a clause takes at most 500: nothing was sent"
        ),
        "{error}"
    );
    assert!(platform.targets.lock().unwrap().is_empty());

    let source = source.replace(
        "    target:\n      any:",
        "    question:\n      get: [Computer Name]\n      from:\n        any:",
    );
    let source = source.replace(
        "        - { sensor: Computer Name, op: equals, values:",
        "          - { sensor: Computer Name, op: equals, values:",
    );
    let (platform, _, outcome) = run(Scripted::default(), &source, &[("hosts", &hosts)]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .unwrap()
            .contains("holds 501 different values"),
        "the same limit in `from`"
    );
    assert!(platform.questions.lock().unwrap().is_empty());

    // 500 are fine.
    let at_limit: Vec<String> = (0..500).map(|index| format!("host-{index}")).collect();
    let at_limit = serde_json::to_string(&at_limit).unwrap();
    let (platform, _, outcome) = run(Scripted::default(), &source, &[("hosts", &at_limit)]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(platform.questions.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_empty_values_list_is_sent_as_matching_nothing_with_a_warning() {
    let source = r#"
version: 1
name: empty
inputs:
  hosts: { type: list, default: [] }
steps:
  - id: scope
    target:
      any:
        - { sensor: Computer Name, op: equals, values: "{{ inputs.hosts }}" }
        - { sensor: Computer Name, op: not_equals, values: [] }
"#;
    let (platform, events, outcome) = run(Scripted::default(), source, &[]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let targets = platform.targets.lock().unwrap().clone();
    let [TargetRequest::Clauses { clauses, .. }] = targets.as_slice() else {
        panic!("one target of clauses: {targets:?}");
    };
    assert_eq!(clauses[0].value, ClauseValue::AnyOf(Vec::new()));
    assert_eq!(clauses[1].value, ClauseValue::AnyOf(Vec::new()));
    let warnings: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            Event::Warning { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        warnings,
        [
            "clause `Computer Name equals` has an empty `values` list: it matches no machine",
            "clause `Computer Name not_equals` has an empty `values` list: it matches every machine (none of no values)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn values_from_a_question_target_the_hosts_it_found() {
    let source = r#"
version: 1
name: ask-then-act
steps:
  - id: hits
    question: { get: [Computer Name] }
  - id: scope
    target:
      any:
        - { sensor: Computer Name, op: equals, values: "{{ steps.hits.rows | map(attribute='Computer Name') | list }}" }
"#;
    let platform = Scripted {
        answer: Some(answer(
            json!([
                {"Computer Name": "web-01", "Count": 1},
                {"Computer Name": "db \"main\"", "Count": 2},
                {"Computer Name": "web-01", "Count": 1}
            ]),
            3,
        )),
        ..Scripted::default()
    };
    let (platform, _, outcome) = run(platform, source, &[]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let targets = platform.targets.lock().unwrap().clone();
    let [TargetRequest::Clauses { clauses, .. }] = targets.as_slice() else {
        panic!("one target of clauses: {targets:?}");
    };
    assert_eq!(
        clauses[0].value,
        ClauseValue::AnyOf(vec!["web-01".into(), "db \"main\"".into()]),
        "each value once, as data (the platform quotes it)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_question_whose_filter_clauses_are_all_left_out_asks_every_machine() {
    let source = r#"
version: 1
name: optional-filter
inputs:
  host: { type: string, default: "" }
steps:
  - id: hits
    question:
      get: [Computer Name]
      from:
        all:
          - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}", when: "{{ inputs.host }}" }
"#;
    let (platform, _, outcome) = run(Scripted::default(), source, &[]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let asked = platform.questions.lock().unwrap().clone();
    assert!(
        matches!(
            asked.as_slice(),
            [QuestionRequest::Sensors { from: None, .. }]
        ),
        "{asked:?}"
    );
}

const STOP: &str = r#"
version: 1
name: stop
inputs:
  action: { type: integer }
steps:
  - id: stop
    stop_action: { action: "{{ inputs.action }}" }
outputs:
  stopped: "{{ steps.stop.stopped }}"
  status: "{{ steps.stop.status }}"
"#;

#[tokio::test(start_paused = true)]
async fn stopping_an_action_that_already_ended_succeeds() {
    for (status, stopped, summary) in [
        ("Stopped", true, "action 42 was already stopped"),
        (
            "Expired",
            false,
            "action 42 had already ended (Expired): nothing to stop",
        ),
        (
            "Closed",
            false,
            "action 42 had already ended (Closed): nothing to stop",
        ),
    ] {
        let platform = Scripted {
            action_status: Some(status.to_owned()),
            ..Scripted::default()
        };
        let (platform, events, outcome) = run(platform, STOP, &[("action", "42")]).await;
        assert_eq!(
            outcome.status,
            RunStatus::Succeeded,
            "{status}: {:?}",
            outcome.error
        );
        assert_eq!(
            *platform.stops.lock().unwrap(),
            [42],
            "the stop is sent once"
        );
        assert_eq!(outcome.outputs["stopped"], json!(stopped), "{status}");
        assert_eq!(outcome.outputs["status"], json!(status));
        assert!(
            events.iter().any(|event| matches!(
                event,
                Event::StepFinished { summary: text, .. } if text == summary
            )),
            "{status}: {events:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_running_action_is_stopped_and_read_back() {
    let (platform, _, outcome) = run(Scripted::default(), STOP, &[("action", "42")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(*platform.stops.lock().unwrap(), [42]);
    assert_eq!(*platform.action_reads.lock().unwrap(), 1);
    assert_eq!(outcome.outputs["stopped"], json!(true));
    assert_eq!(outcome.outputs["status"], json!("Active"));

    // A refused stop of an action that still runs is the platform's error.
    let platform = Scripted {
        action_status: Some("Active".to_owned()),
        ..Scripted::default()
    };
    let (_, _, outcome) = run(platform, STOP, &[("action", "42")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .unwrap()
            .contains("action 42 cannot be stopped: it is Active")
    );
}

#[tokio::test(start_paused = true)]
async fn a_plan_shows_the_question_and_a_live_plan_checks_its_sensors() {
    let playbook = runbook_playbook::load("hits.yaml", HITS)
        .playbook
        .expect("valid");
    let inputs = runbook_playbook::bind_inputs(&playbook, &[], &Default::default()).unwrap();
    let platform = Scripted {
        missing_sensors: vec!["File Exists".into()],
        ..Scripted::default()
    };
    let planner = Planner::new(&platform);
    let plan = planner.plan(&playbook, &inputs);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(
        plan.steps[0].details,
        [
            "clause `Computer Name equals` left out: its `when` is false",
            "question: get `Computer Name`, `File Exists` (path: C:\\evil.exe, depth: 2)",
            "from the machines where any of: Running Processes contains any of [\"evil.exe\",\"other.exe\"]",
            "wait until 95% of the endpoints answered, checking every 5s (growing to 30s while nothing changes), at most 2m; keep at most 1000 row(s)",
        ]
    );
    assert_eq!(plan.steps[0].requests[0].path, "/api/v2/questions");
    assert_eq!(plan.outputs["row_count"], json!("<steps.hits.row_count>"));

    let live = planner
        .plan_live(&playbook, &inputs, Duration::from_secs(1))
        .await;
    assert_eq!(
        live.problems,
        ["step `hits`: no sensor named `File Exists`"]
    );
    assert_eq!(live.steps[0].live, Some(json!({"question_exists": false})));
}

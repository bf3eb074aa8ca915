//! What the engine asks the platform for, and how often: no read that another read already
//! answered, and every check kept (issue 12, point 12).
//!
//! - The approval of an action this run issued is one read of its saved action; the action
//!   itself is read only while it waits (a stopped or expired action is never approved).
//! - A poll reads the action's state only when its results stall, show endpoints cut short,
//!   or time out.
//! - The lookup by name before a first send may be quick; after an ambiguous send it must be
//!   certain.

mod common;

use common::{Scripted, progress, run};
use runbook_engine::{Event, Lookup, RunStatus};
use serde_json::json;

const TAG_PLAYBOOK: &str = r#"
version: 1
name: tag-host
inputs:
  hostname: { type: string }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.hostname }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: "IR-{{ inputs.hostname }}" }
  - id: tag
    issue:
      name: "IR tag {{ inputs.hostname }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: approved
    await_approval:
      action: "{{ steps.tag.action_id }}"
      timeout: 10m
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      until_percent: 90
      timeout: 30m
outputs:
  approver: "{{ steps.approved.approver }}"
  completed: "{{ steps.results.completed }}"
"#;

/// The finished event of a step.
fn finished<'a>(events: &'a [Event], step: &str) -> (&'a str, &'a serde_json::Value) {
    events
        .iter()
        .find_map(|event| match event {
            Event::StepFinished {
                step_id,
                summary,
                outputs,
                ..
            } if step_id == step => Some((summary.as_str(), outputs)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no step_finished for {step}: {events:#?}"))
}

#[tokio::test(start_paused = true)]
async fn an_approved_action_and_moving_results_need_no_read_of_the_action() {
    let platform = Scripted {
        count: 2,
        progress: vec![
            progress(0, 2, &[]),
            progress(2, 2, &[("Running", 2)]),
            progress(2, 2, &[("Completed", 2)]),
        ],
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(*platform.approval_checks.lock().unwrap(), 1);
    assert_eq!(*platform.polls.lock().unwrap(), 3);
    assert_eq!(
        *platform.action_reads.lock().unwrap(),
        0,
        "the issue answer named the saved action, and the results never stalled"
    );
    assert_eq!(
        *platform.lookup_kinds.lock().unwrap(),
        vec![Lookup::BeforeFirstSend]
    );
    let (summary, outputs) = finished(&events, "approved");
    assert_eq!(outputs["approver"], json!(null));
    assert!(summary.contains("needs no approval"), "{summary}");
}

#[tokio::test(start_paused = true)]
async fn a_waiting_approval_reads_the_action_and_records_the_approver() {
    let platform = Scripted {
        count: 2,
        approve_after_checks: Some(2),
        progress: vec![
            progress(1, 2, &[("Running", 1)]),
            progress(2, 2, &[("Completed", 2)]),
        ],
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(*platform.approval_checks.lock().unwrap(), 3);
    assert_eq!(
        *platform.action_reads.lock().unwrap(),
        2,
        "one read of the action per check that found it waiting, none after"
    );
    let (summary, outputs) = finished(&events, "approved");
    assert_eq!(outputs["approver"], json!("approver"));
    assert_eq!(outputs["required"], json!(true));
    assert!(summary.contains("approved by approver"), "{summary}");
    assert_eq!(outcome.outputs["approver"], json!("approver"));
}

#[tokio::test(start_paused = true)]
async fn endpoints_reported_stopped_make_the_poll_read_the_action() {
    let platform = Scripted {
        count: 2,
        progress: vec![
            progress(1, 2, &[("Running", 1)]),
            progress(2, 2, &[("Completed", 1), ("Stopped", 1)]),
        ],
        stopped_after_polls: Some(2),
        ..Scripted::default()
    };
    let (platform, _, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("stopped before it finished"),
        "{:?}",
        outcome.error
    );
    assert_eq!(
        *platform.polls.lock().unwrap(),
        2,
        "found at the first Stopped row"
    );
    assert_eq!(*platform.action_reads.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn after_an_ambiguous_send_the_lookup_must_be_certain() {
    let platform = Scripted {
        count: 1,
        ambiguous_first_issue: true,
        progress: vec![progress(1, 1, &[("Completed", 1)])],
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(platform.issued.lock().unwrap().len(), 1, "sent once");
    assert_eq!(
        *platform.lookup_kinds.lock().unwrap(),
        vec![Lookup::BeforeFirstSend, Lookup::MayExist]
    );
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::ActionIssued { adopted: true, .. })),
        "the action the ambiguous send created is adopted"
    );
}

//! The `IssueGuard` of a run (`runbook run --plan` sets one): asked right before an `issue`
//! step sends, with what it is about to send; its refusal fails the step with nothing issued.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use runbook_engine::{CollectEvents, Engine, IssueCheck, IssueGuard, RunRequest, RunStatus};

use common::{Scripted, progress};

const PLAYBOOK: &str = r#"
version: 1
name: tag-host
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: x }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: IR-x }
  - id: tag
    issue:
      name: "IR tag x"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
"#;

/// Records what it was asked, and refuses when told to.
#[derive(Debug, Default)]
struct Recording {
    refuse: bool,
    checks: Mutex<Vec<IssueCheck>>,
}

#[async_trait]
impl IssueGuard for Recording {
    async fn before_issue(&self, check: &IssueCheck) -> Result<(), String> {
        self.checks.lock().unwrap().push(check.clone());
        if self.refuse {
            Err("the reviewed plan no longer holds:\n  - the count moved".to_owned())
        } else {
            Ok(())
        }
    }
}

async fn run_guarded(guard: Arc<Recording>) -> (Arc<Scripted>, runbook_engine::RunOutcome) {
    let playbook = runbook_playbook::load("test.yaml", PLAYBOOK)
        .playbook
        .expect("a valid playbook");
    let platform = Arc::new(Scripted {
        count: 3,
        progress: vec![progress(0, 0, &[])],
        ..Scripted::default()
    });
    let engine = Engine::new(platform.clone(), Arc::new(CollectEvents::new()));
    let mut request = RunRequest::new(Arc::new(playbook), Default::default());
    request.plan_digest = Some("d1g357".to_owned());
    request.issue_guard = Some(guard);
    let outcome = engine.run(&request).await;
    (platform, outcome)
}

#[tokio::test(start_paused = true)]
async fn the_guard_sees_what_an_issue_step_is_about_to_send() {
    let guard = Arc::new(Recording::default());
    let (platform, outcome) = run_guarded(guard.clone()).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(platform.issued.lock().unwrap().len(), 1);
    let checks = guard.checks.lock().unwrap().clone();
    assert_eq!(
        checks,
        [IssueCheck {
            step_id: "tag".to_owned(),
            package_id: 9,
            parameters: vec![("$1".to_owned(), "IR-x".to_owned())],
            action_group_id: 2,
            target_group_id: platform.issued.lock().unwrap()[0].target_group_id,
            target_step: Some("scope".to_owned()),
            target_text: Some("Computer Name equals \"x\"".to_owned()),
            targeted: 3,
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_fails_the_step_with_nothing_issued() {
    let guard = Arc::new(Recording {
        refuse: true,
        ..Recording::default()
    });
    let (platform, outcome) = run_guarded(guard).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.contains("the count moved") && error.contains("nothing was issued"),
        "{error}"
    );
    assert!(platform.issued.lock().unwrap().is_empty());
}

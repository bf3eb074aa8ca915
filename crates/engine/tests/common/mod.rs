//! A scripted platform for the engine's tests: a Tanium stand-in whose answers each test
//! sets, and a helper that runs a playbook against it.

#![allow(dead_code)] // Each test binary uses part of this module.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use runbook_engine::{
    ActionGroupOutcome, ActionInfo, ActionProgress, ActionSpec, Approval, CollectEvents, Engine,
    Event, Lookup, PackageOutcome, PackageSelector, PlanValue, PlannedActionSpec, PlannedRequest,
    Platform, PlatformError, PlatformErrorKind, RunRequest, TargetOutcome, TargetRequest,
    TargetSurvey,
};
use secrecy::SecretString;

/// A Tanium stand-in whose answers are scripted per test.
#[derive(Default)]
pub struct Scripted {
    pub targets: Mutex<Vec<TargetRequest>>,
    pub count: u64,
    pub issued: Mutex<Vec<ActionSpec>>,
    /// The first issue attempt fails ambiguously after creating the action.
    pub ambiguous_first_issue: bool,
    /// Every lookup by name fails after the first (the one before anything is sent).
    pub lookups_fail: bool,
    pub lookups: Mutex<u32>,
    /// Approval comes after this many checks (None: approved from the start).
    pub approve_after_checks: Option<u32>,
    pub approval_checks: Mutex<u32>,
    /// Poll answers in order; the last one repeats.
    pub progress: Vec<ActionProgress>,
    pub polls: Mutex<usize>,
    pub stopped_after_polls: Option<usize>,
    /// Reads of the action (`Platform::action`).
    pub action_reads: Mutex<u32>,
    /// How certain each lookup by name had to be, in order.
    pub lookup_kinds: Mutex<Vec<Lookup>>,
}

impl Scripted {
    fn action(&self, id: u64) -> ActionInfo {
        let issued = self.issued.lock().unwrap();
        let name = issued
            .first()
            .map(|spec| spec.name.clone())
            .unwrap_or_default();
        let polls = *self.polls.lock().unwrap();
        let stopped = self.stopped_after_polls.is_some_and(|after| polls >= after);
        ActionInfo {
            action_id: id,
            saved_action_id: 500,
            name,
            status: if stopped {
                "Stopped".into()
            } else {
                "Active".into()
            },
            stopped,
            expires_at: None,
            package_name: Some("Custom Tagging - Add Tags".into()),
            command: Some("add-tags".into()),
        }
    }
}

#[async_trait]
impl Platform for Scripted {
    async fn create_target(&self, request: &TargetRequest) -> Result<TargetOutcome, PlatformError> {
        self.targets.lock().unwrap().push(request.clone());
        Ok(TargetOutcome {
            group_id: 77,
            filter_flag: false,
            text: "Computer Name equals \"x\"".into(),
        })
    }
    async fn resolve_package(
        &self,
        package: &PackageSelector,
        params: &[(String, String)],
    ) -> Result<PackageOutcome, PlatformError> {
        match package {
            PackageSelector::Name(name) if name == "Custom Tagging - Add Tags" => {
                Ok(PackageOutcome {
                    package_id: 9,
                    package_name: name.clone(),
                    parameters: params.to_vec(),
                    command: "add-tags".into(),
                    verify: false,
                })
            }
            _ => Err(PlatformError::new(
                PlatformErrorKind::NotFound,
                "package not found",
            )),
        }
    }
    async fn resolve_action_group(
        &self,
        name_or_id: &str,
    ) -> Result<ActionGroupOutcome, PlatformError> {
        Ok(ActionGroupOutcome {
            id: 2,
            name: name_or_id.to_owned(),
        })
    }
    async fn count_targets(&self, _group_id: u64, _wait: Duration) -> Result<u64, PlatformError> {
        Ok(self.count)
    }
    async fn survey_target(
        &self,
        _request: &TargetRequest,
        _names: usize,
        _wait: Duration,
    ) -> Result<TargetSurvey, PlatformError> {
        Ok(TargetSurvey {
            matching: self.count,
            names: Vec::new(),
            offline: Ok(0),
        })
    }
    async fn issue_action(&self, spec: &ActionSpec) -> Result<ActionInfo, PlatformError> {
        let mut issued = self.issued.lock().unwrap();
        issued.push(spec.clone());
        if self.ambiguous_first_issue && issued.len() == 1 {
            return Err(PlatformError::new(
                PlatformErrorKind::Ambiguous,
                "connection cut",
            ));
        }
        drop(issued);
        Ok(self.action(1000))
    }
    async fn find_action(
        &self,
        name: &str,
        lookup: Lookup,
    ) -> Result<Option<ActionInfo>, PlatformError> {
        self.lookup_kinds.lock().unwrap().push(lookup);
        let mut lookups = self.lookups.lock().unwrap();
        *lookups += 1;
        if self.lookups_fail && *lookups > 1 {
            return Err(PlatformError::new(
                PlatformErrorKind::Unavailable,
                "503 Service Unavailable",
            ));
        }
        drop(lookups);
        let found = self
            .issued
            .lock()
            .unwrap()
            .iter()
            .any(|spec| spec.name == name);
        Ok(found.then(|| self.action(1000)))
    }
    async fn action(&self, action_id: u64) -> Result<ActionInfo, PlatformError> {
        *self.action_reads.lock().unwrap() += 1;
        Ok(self.action(action_id))
    }
    async fn approval(&self, _saved_action_id: u64) -> Result<Approval, PlatformError> {
        let mut checks = self.approval_checks.lock().unwrap();
        *checks += 1;
        let approved = self
            .approve_after_checks
            .is_none_or(|after| *checks > after);
        Ok(Approval {
            approved,
            approver: (approved && self.approve_after_checks.is_some())
                .then(|| "approver".to_owned()),
        })
    }
    async fn action_results(
        &self,
        _id: u64,
        _verify: bool,
        _max: usize,
    ) -> Result<ActionProgress, PlatformError> {
        let mut polls = self.polls.lock().unwrap();
        let answer = self.progress[(*polls).min(self.progress.len() - 1)].clone();
        *polls += 1;
        Ok(answer)
    }
    async fn action_verifies(&self, _action_id: u64) -> Result<bool, PlatformError> {
        Ok(false)
    }
    async fn stop_action(&self, _action_id: u64) -> Result<(), PlatformError> {
        Ok(())
    }
    fn plan_target(&self, _request: &TargetRequest) -> Result<Vec<PlannedRequest>, PlatformError> {
        Ok(Vec::new())
    }
    fn plan_package(&self, _package: &PlanValue<PackageSelector>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_action_group(&self, _name_or_id: &str) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_count(&self, _group_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_issue(&self, _spec: &PlannedActionSpec) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_approval(&self, _action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_poll(&self, _action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
}

pub fn progress(mr_tested: u64, estimated_total: u64, statuses: &[(&str, u64)]) -> ActionProgress {
    let statuses: BTreeMap<String, u64> = statuses
        .iter()
        .map(|(word, count)| ((*word).to_owned(), *count))
        .collect();
    let completed = statuses.get("Completed").copied().unwrap_or(0);
    let failed = statuses.get("Failed").copied().unwrap_or(0);
    ActionProgress {
        mr_tested,
        estimated_total,
        finished: completed + failed,
        completed,
        failed,
        statuses,
        rows: Vec::new(),
        rows_truncated: false,
    }
}

pub async fn run(
    platform: Scripted,
    source: &str,
    inputs: &[(&str, &str)],
) -> (Arc<Scripted>, Vec<Event>, runbook_engine::RunOutcome) {
    let loaded = runbook_playbook::load("test.yaml", source);
    let playbook = loaded
        .playbook
        .unwrap_or_else(|| panic!("invalid playbook: {:?}", loaded.diagnostics));
    let pairs: Vec<(String, String)> = inputs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let inputs =
        runbook_playbook::bind_inputs(&playbook, &pairs, &Default::default()).expect("inputs bind");
    let platform = Arc::new(platform);
    let events = Arc::new(CollectEvents::new());
    let engine = Engine::new(platform.clone(), events.clone());
    let mut request = RunRequest::new(Arc::new(playbook), inputs);
    request.secrets.insert(
        "API_KEY".into(),
        SecretString::from("s3cr3t-value".to_owned()),
    );
    let outcome = engine.run(&request).await;
    (platform, events.events(), outcome)
}

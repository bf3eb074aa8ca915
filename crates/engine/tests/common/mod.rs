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
    Platform, PlatformError, PlatformErrorKind, QuestionAnswer, QuestionAsked, QuestionProgress,
    QuestionRequest, RunRequest, TargetOutcome, TargetRequest, TargetSurvey,
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
    /// Questions asked, in order.
    pub questions: Mutex<Vec<QuestionRequest>>,
    /// Answers to `question_progress` in order; the last one repeats (all answered by default).
    pub question_progress: Vec<QuestionProgress>,
    pub progress_reads: Mutex<usize>,
    /// When each `question_progress` was read (on tokio's clock).
    pub progress_times: Mutex<Vec<tokio::time::Instant>>,
    /// The answer `question_answer` gives (no rows by default).
    pub answer: Option<QuestionAnswer>,
    /// The `max_rows` each `question_answer` asked for.
    pub answer_max_rows: Mutex<Vec<usize>>,
    /// Sensors (or saved questions) that `check_question` does not find.
    pub missing_sensors: Vec<String>,
    /// Actions the platform was asked to stop, in order.
    pub stops: Mutex<Vec<u64>>,
    /// The action's status when read (`Active` by default); `Stopped` makes it stopped. With
    /// it, `stop_action` fails as a server does for an action that already ended.
    pub action_status: Option<String>,
}

impl Scripted {
    fn action(&self, id: u64) -> ActionInfo {
        let issued = self.issued.lock().unwrap();
        let name = issued
            .first()
            .map(|spec| spec.name.clone())
            .unwrap_or_default();
        let polls = *self.polls.lock().unwrap();
        let stopped = self.stopped_after_polls.is_some_and(|after| polls >= after)
            || self.action_status.as_deref() == Some("Stopped");
        let status = match &self.action_status {
            Some(status) => status.clone(),
            None if stopped => "Stopped".into(),
            None => "Active".into(),
        };
        ActionInfo {
            action_id: id,
            saved_action_id: 500,
            name,
            status,
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
    async fn stop_action(&self, action_id: u64) -> Result<(), PlatformError> {
        self.stops.lock().unwrap().push(action_id);
        match &self.action_status {
            Some(status) => Err(PlatformError::new(
                PlatformErrorKind::Invalid,
                format!("action {action_id} cannot be stopped: it is {status}"),
            )),
            None => Ok(()),
        }
    }
    async fn ask_question(
        &self,
        request: &QuestionRequest,
    ) -> Result<QuestionAsked, PlatformError> {
        let mut questions = self.questions.lock().unwrap();
        questions.push(request.clone());
        Ok(QuestionAsked {
            question_id: 4000 + questions.len() as u64,
            text: format!("question {}", questions.len()),
        })
    }
    async fn question_progress(
        &self,
        _question_id: u64,
    ) -> Result<QuestionProgress, PlatformError> {
        self.progress_times
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        let mut reads = self.progress_reads.lock().unwrap();
        let answer = match self.question_progress.as_slice() {
            [] => QuestionProgress {
                mr_tested: 10,
                estimated_total: 10,
            },
            answers => answers[(*reads).min(answers.len() - 1)],
        };
        *reads += 1;
        Ok(answer)
    }
    async fn question_answer(
        &self,
        _question_id: u64,
        max_rows: usize,
    ) -> Result<QuestionAnswer, PlatformError> {
        self.answer_max_rows.lock().unwrap().push(max_rows);
        let last = *self.question_progress.last().unwrap_or(&QuestionProgress {
            mr_tested: 10,
            estimated_total: 10,
        });
        Ok(self.answer.clone().unwrap_or(QuestionAnswer {
            columns: vec!["Computer Name".into()],
            rows: Vec::new(),
            row_count: 0,
            rows_truncated: false,
            unavailable: 0,
            mr_tested: last.mr_tested,
            estimated_total: last.estimated_total,
        }))
    }
    async fn check_question(&self, request: &QuestionRequest) -> Result<(), PlatformError> {
        let names: Vec<String> = match request {
            QuestionRequest::Sensors { get, .. } => {
                get.iter().map(|select| select.sensor.clone()).collect()
            }
            QuestionRequest::Saved { name_or_id } => vec![name_or_id.clone()],
        };
        match names
            .iter()
            .find(|name| self.missing_sensors.contains(name))
        {
            Some(missing) => Err(PlatformError::new(
                PlatformErrorKind::NotFound,
                format!("no sensor named `{missing}`"),
            )),
            None => Ok(()),
        }
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
    fn plan_stop_action(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        vec![PlannedRequest {
            method: "POST".into(),
            path: "/api/v2/action_stops".into(),
            options: None,
            body: Some(serde_json::json!({ "action": { "id": action_id } })),
            note: None,
        }]
    }
    fn plan_question(&self, request: &PlanValue<QuestionRequest>) -> Vec<PlannedRequest> {
        vec![PlannedRequest {
            method: "POST".into(),
            path: "/api/v2/questions".into(),
            options: None,
            body: Some(serde_json::to_value(request).unwrap()),
            note: None,
        }]
    }
}

/// A question's progress: `mr_tested` of `estimated_total` answered.
pub fn answered(mr_tested: u64, estimated_total: u64) -> QuestionProgress {
    QuestionProgress {
        mr_tested,
        estimated_total,
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
    run_in(platform, source, inputs, None).await
}

/// A receiver of `http` steps standing in for the egress (the real one, with its policy, is
/// tested in runbook-egress and end to end): it keeps each request and answers `201` with the
/// request's method and URL as JSON.
#[derive(Debug, Default)]
pub struct EchoEgress {
    pub requests: Mutex<Vec<runbook_engine::HttpRequest>>,
}

#[async_trait]
impl runbook_engine::Egress for EchoEgress {
    fn check_url(&self, url: &str) -> Result<(), runbook_engine::EgressError> {
        if url.starts_with("https://") {
            Ok(())
        } else {
            Err(runbook_engine::EgressError::new(
                runbook_engine::EgressErrorKind::Refused,
                "only https:// here",
            ))
        }
    }

    async fn send(
        &self,
        request: &runbook_engine::HttpRequest,
    ) -> Result<runbook_engine::HttpAnswer, runbook_engine::EgressError> {
        self.requests
            .lock()
            .expect("requests")
            .push(request.clone());
        let body = serde_json::json!({"method": request.method.as_str(), "url": request.url});
        Ok(runbook_engine::HttpAnswer {
            status: 201,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        })
    }
}

/// A run store that keeps only `approve` gates, and has each gate approved by `bob` (with a
/// comment) as soon as it opens: what the engine's tests need of a store to run an `approve`
/// step. (The real stores and their rules are tested in runbook-store and end to end.)
#[derive(Debug, Default)]
pub struct ApprovingStore {
    pub gates: Mutex<Vec<runbook_engine::ApprovalGate>>,
}

#[async_trait]
impl runbook_engine::Store for ApprovingStore {
    async fn create_run(
        &self,
        _: &runbook_engine::NewRun,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn step_started(
        &self,
        _: &str,
        _: &runbook_engine::StepRecord,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn step_finished(
        &self,
        _: &str,
        _: &runbook_engine::StepRecord,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn record_intent(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn intent_resolved(
        &self,
        _: &str,
        _: &str,
        _: u64,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn append_event(&self, _: &str, _: &Event) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn save_progress(
        &self,
        _: &str,
        _: &str,
        _: &serde_json::Value,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn finish_run(
        &self,
        _: &str,
        _: runbook_engine::RunStatus,
        _: &serde_json::Value,
        _: Option<&str>,
    ) -> Result<(), runbook_engine::StoreError> {
        Ok(())
    }
    async fn run(
        &self,
        _: &str,
    ) -> Result<Option<runbook_engine::RunRecord>, runbook_engine::StoreError> {
        Ok(None)
    }
    async fn list_runs(
        &self,
        _: &runbook_engine::RunFilter,
    ) -> Result<Vec<runbook_engine::RunSummary>, runbook_engine::StoreError> {
        Ok(Vec::new())
    }
    async fn open_gate(
        &self,
        gate: &runbook_engine::ApprovalGate,
    ) -> Result<(), runbook_engine::StoreError> {
        self.gates.lock().expect("gates").push(gate.clone());
        Ok(())
    }
    async fn gate(
        &self,
        run_id: &str,
        step_id: &str,
    ) -> Result<Option<runbook_engine::GateState>, runbook_engine::StoreError> {
        let opened = self
            .gates
            .lock()
            .expect("gates")
            .iter()
            .any(|gate| gate.run_id == run_id && gate.step_id == step_id);
        Ok(opened.then(|| runbook_engine::GateState {
            status: "approved".to_owned(),
            decisions: vec![runbook_engine::GateDecision {
                decided_by: "bob".to_owned(),
                approve: true,
                comment: Some("looks right".to_owned()),
                at: "2026-12-02T10:00:00.000Z".to_owned(),
            }],
        }))
    }
}

/// [`run`], recording into `store`.
pub async fn run_with_store(
    platform: Scripted,
    source: &str,
    inputs: &[(&str, &str)],
    store: Arc<dyn runbook_engine::Store>,
) -> (Arc<Scripted>, Vec<Event>, runbook_engine::RunOutcome) {
    run_in(platform, source, inputs, Some(store)).await
}

/// Runs `source` with `inputs` (and the secret `API_KEY`), its `http` steps sent to `egress`.
pub async fn run_with_egress(
    source: &str,
    inputs: &[(&str, &str)],
    egress: Arc<dyn runbook_engine::Egress>,
) -> (Vec<Event>, runbook_engine::RunOutcome) {
    let (_, events, outcome) =
        run_on(Scripted::default(), source, inputs, None, Some(egress)).await;
    (events, outcome)
}

/// Runs `source` with `inputs` (and the secret `API_KEY`) against `platform`, recording into
/// `store` when there is one.
async fn run_in(
    platform: Scripted,
    source: &str,
    inputs: &[(&str, &str)],
    store: Option<Arc<dyn runbook_engine::Store>>,
) -> (Arc<Scripted>, Vec<Event>, runbook_engine::RunOutcome) {
    run_on(platform, source, inputs, store, None).await
}

async fn run_on(
    platform: Scripted,
    source: &str,
    inputs: &[(&str, &str)],
    store: Option<Arc<dyn runbook_engine::Store>>,
    egress: Option<Arc<dyn runbook_engine::Egress>>,
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
    let mut engine = Engine::new(platform.clone(), events.clone())
        .with_egress(egress.unwrap_or_else(|| Arc::new(EchoEgress::default())));
    if let Some(store) = store {
        engine = engine.with_store(store);
    }
    let mut request = RunRequest::new(Arc::new(playbook), inputs);
    request.secrets.insert(
        "API_KEY".into(),
        SecretString::from("s3cr3t-value".to_owned()),
    );
    let outcome = engine.run(&request).await;
    (platform, events.events(), outcome)
}

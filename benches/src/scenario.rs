//! The benchmark run: a six-step playbook, and the same requests without the engine.
//!
//! The playbook is the seed's flow as analysts write it: `target` one host, `parameterize`
//! the tagging package, `issue`, `await_approval`, `poll`, `assert`. [`bare_flow`] sends the
//! very same sequence of requests with the bare [`TaniumClient`] (the calls `TaniumPlatform`
//! makes for each step, in the engine's order), so that the difference in CPU time between
//! the two is what the engine itself costs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runbook_engine::{
    ActionGroupOutcome, ActionInfo, ActionProgress, ActionSpec, Approval, Engine, Lookup, NoEvents,
    Pace, PackageOutcome, PackageSelector, PlanValue, PlannedActionSpec, PlannedRequest, Platform,
    PlatformError, QuestionAnswer, QuestionAsked, QuestionProgress, QuestionRequest, RunRequest,
    TargetOutcome, TargetRequest, TargetSurvey,
};
use runbook_playbook::Playbook;
use runbook_tanium::targeting::{Clause, ClauseValue, Combine, Operator, build_text};
use runbook_tanium::{
    Action, ActionResults, Auth, ClientConfig, NewAction, Ref, RequestObserver, SecretString,
    TaniumClient, TaniumPlatform, TargetGroupRef, Tuning, parameters,
};

use crate::{BenchError, SimChild};

/// Steps in [`PLAYBOOK`].
pub const STEPS: u64 = 6;

/// The package the runs deploy (one of the simulator's defaults).
pub const PACKAGE: &str = "Custom Tagging - Add Tags";

/// The action group the runs issue under.
pub const ACTION_GROUP: &str = "All Computers";

/// Poll interval of the `poll` step (its default in docs/playbooks.md), in playbook time.
const POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Longest poll interval (the default `max_interval` in docs/playbooks.md).
const POLL_MAX_INTERVAL: Duration = Duration::from_secs(120);
/// How long the engine lets a counting question run (its `COUNT_WAIT`), in playbook time.
const COUNT_WAIT: Duration = Duration::from_secs(120);
/// The `poll` step's share to reach.
const UNTIL_PERCENT: f64 = 90.0;
/// Rows kept by the `poll` step (the default `max_rows` in docs/playbooks.md).
const MAX_ROWS: usize = 1_000;

/// The six-step playbook every benchmark run executes.
pub const PLAYBOOK: &str = r#"version: 1
name: bench-tag-host
description: The seed's flow - tag one host, wait for approval and results, check them.
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
      name: "bench tag {{ inputs.hostname }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: approved
    await_approval:
      action: "{{ steps.tag.action_id }}"
      timeout: 1h
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      until_percent: 90
      timeout: 2h
  - id: all_done
    assert:
      that: "{{ steps.results.failed == 0 }}"
      message: "{{ steps.results.failed }} endpoints failed"
outputs:
  completed: "{{ steps.results.completed }}"
"#;

/// [`PLAYBOOK`], loaded and validated.
pub fn playbook() -> Result<Arc<Playbook>, BenchError> {
    let loaded = runbook_playbook::load("bench.yaml", PLAYBOOK);
    loaded.playbook.map(Arc::new).ok_or_else(|| {
        BenchError::Playbook(format!(
            "refused by the validator: {:?}",
            loaded.diagnostics
        ))
    })
}

/// A run of [`PLAYBOOK`] for one host.
pub fn request(playbook: &Arc<Playbook>, hostname: &str) -> Result<RunRequest, BenchError> {
    let inputs = runbook_playbook::bind_inputs(
        playbook,
        &[("hostname".to_owned(), hostname.to_owned())],
        &Default::default(),
    )
    .map_err(|errors| BenchError::Playbook(format!("inputs refused: {errors:?}")))?;
    Ok(RunRequest::new(playbook.clone(), inputs))
}

/// A client for the child simulator, tuned as `runbook run --sim` tunes it: the counting
/// question is polled on the simulator's clock.
pub fn client(
    sim: &SimChild,
    time_scale: f64,
    observer: Option<Arc<dyn RequestObserver>>,
) -> Result<TaniumClient, BenchError> {
    client_for(sim.url(), sim.token(), time_scale, observer)
}

/// [`client`] for a simulator at `url` with the API token `token` (one in this process, say).
pub fn client_for(
    url: &str,
    token: &str,
    time_scale: f64,
    observer: Option<Arc<dyn RequestObserver>>,
) -> Result<TaniumClient, BenchError> {
    let tuning = Tuning {
        question_poll_interval: Tuning::default()
            .question_poll_interval
            .div_f64(time_scale.max(1.0)),
        ..Tuning::default()
    };
    let config = ClientConfig::new(url, Auth::Token(SecretString::from(token.to_owned())));
    let client = TaniumClient::with_tuning(config, tuning)?;
    Ok(match observer {
        Some(observer) => client.with_observer(observer),
        None => client,
    })
}

/// An engine over `client` whose waits run on the simulator's clock; events are dropped.
pub fn engine(client: &TaniumClient, time_scale: f64) -> Engine {
    Engine::new(
        Arc::new(TaniumPlatform::new(client.clone())),
        Arc::new(NoEvents),
    )
    .with_pace(Pace::scaled(time_scale))
}

/// Counts the HTTP exchanges a client makes, in all and per route.
#[derive(Debug, Default)]
pub struct RequestCounter {
    exchanges: AtomicU64,
    routes: Mutex<BTreeMap<String, u64>>,
}

impl RequestCounter {
    /// Exchanges so far.
    pub fn count(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Exchanges so far per route (see [`route`]), with their status, e.g.
    /// `GET /api/v2/actions/{id} 200`.
    pub fn routes(&self) -> BTreeMap<String, u64> {
        self.routes
            .lock()
            .map(|routes| routes.clone())
            .unwrap_or_default()
    }
}

impl RequestObserver for RequestCounter {
    fn exchange(&self, method: &str, path: &str, status: Option<u16>, _elapsed: Duration) {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        let status = status.map_or_else(|| "-".to_owned(), |status| status.to_string());
        if let Ok(mut routes) = self.routes.lock() {
            *routes
                .entry(format!("{method} {} {status}", route(path)))
                .or_default() += 1;
        }
    }
}

/// A request path with its ids and names replaced by `{id}` and `{name}`, so that the
/// requests of many runs add up per route: `/api/v2/actions/5001` is `/api/v2/actions/{id}`.
pub fn route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut segments: Vec<&str> = Vec::new();
    let mut after_by_name = false;
    for segment in path.split('/') {
        segments.push(if after_by_name {
            "{name}"
        } else if !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit()) {
            "{id}"
        } else {
            segment
        });
        after_by_name = segment == "by-name";
    }
    segments.join("/")
}

/// What one bare run ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct BareOutcome {
    pub action_id: u64,
    pub completed: u64,
}

/// The six steps' requests sent with the bare client, in the engine's order: create the
/// group; read the package and resolve its parameter; read the action group, count the
/// targets, look for an action of the same name (by name only, as before a first send),
/// issue; read the saved action's approval flag; then read the results until both shares
/// reach 90%, with the engine's growing interval, and the action's state when they stall or
/// show endpoints cut short; check that nothing failed.
pub async fn bare_flow(
    client: &TaniumClient,
    hostname: &str,
    run_number: u64,
    time_scale: f64,
) -> Result<BareOutcome, BenchError> {
    let pace = Pace::scaled(time_scale);
    let name = format!("bench tag {hostname} [bare {run_number}]");
    let issued = bare_issue(client, hostname, name, &pace).await?;
    let action = &issued.action;
    let saved_action_id = match action.saved_action_id {
        Some(id) => id,
        None => client.action(action.id).await?.saved_action_id.unwrap_or(0),
    };
    if !client
        .saved_action_approval(saved_action_id)
        .await?
        .approved
    {
        return Err(BenchError::Flow(format!(
            "action {} needs approval; the benchmark simulator runs without",
            action.id
        )));
    }
    let results = bare_poll(client, &issued, &pace).await?;
    if results.failed > 0 {
        return Err(BenchError::Flow(format!(
            "{} endpoints failed",
            results.failed
        )));
    }
    Ok(BareOutcome {
        action_id: action.id,
        completed: results.succeeded,
    })
}

/// An action issued by [`bare_issue`], with what polling it needs.
#[derive(Debug)]
pub struct BareIssued {
    pub action: Action,
    /// Whether the package verifies (how its results are read).
    pub verify: bool,
    /// The endpoints the target counted.
    pub expected: u64,
}

/// The engine's requests up to the action, with the bare client: create the group for
/// `hostname`; read the package and resolve its parameter; read the action group, count the
/// targets, look for an action named `name` (by name only, as before a first send), issue.
pub async fn bare_issue(
    client: &TaniumClient,
    hostname: &str,
    name: String,
    pace: &Pace,
) -> Result<BareIssued, BenchError> {
    let text = build_text(
        Combine::All,
        &[Clause {
            sensor: "Computer Name".to_owned(),
            op: Operator::Equals,
            value: ClauseValue::One(hostname.to_owned()),
        }],
    )
    .map_err(|error| BenchError::Flow(error.to_string()))?;
    let group_id = client.create_group(&text).await?;

    let package = client.package_by_name(PACKAGE).await?;
    let values = parameters::resolve(
        &package.parameters,
        &[("$1".to_owned(), format!("IR-{hostname}"))],
    )
    .map_err(|errors| BenchError::Flow(format!("{errors:?}")))?;
    let _command = parameters::substitute_command(&package.command, &values);

    let action_group = client.action_group(ACTION_GROUP).await?;
    let expected = client
        .count_group_endpoints(group_id, pace.real_duration(COUNT_WAIT))
        .await?;
    if client
        .find_action_by_name(&name, Lookup::BeforeFirstSend)
        .await?
        .is_some()
    {
        return Err(BenchError::Flow(format!("an action named {name} exists")));
    }
    let action = client
        .issue_action(&NewAction {
            name,
            action_group_id: Ref::Id(action_group.id),
            target_group: TargetGroupRef {
                id: Ref::Id(group_id),
                filter_flag: false,
            },
            package_id: Ref::Id(package.id),
            parameters: values,
            expire_seconds: 3600,
            distribute_seconds: 0,
            issue_seconds: None,
            start_time: None,
            expiration_time: None,
        })
        .await?;
    Ok(BareIssued {
        action,
        verify: package.verify,
        expected,
    })
}

/// Reads an issued action's results until both shares reach 90%, with the engine's growing
/// interval, and the action's state when they stall or show endpoints cut short; the results
/// that reached it.
pub async fn bare_poll(
    client: &TaniumClient,
    issued: &BareIssued,
    pace: &Pace,
) -> Result<ActionResults, BenchError> {
    let (action, expected) = (&issued.action, issued.expected);
    let mut interval = POLL_INTERVAL;
    let mut last_seen = None;
    // Bounded: at the base interval this is far beyond any action's life in the simulator.
    for _ in 0..10_000 {
        let results = client
            .action_results(action.id, issued.verify, MAX_ROWS)
            .await?;
        let seen = (results.mr_tested, results.statuses.clone());
        let stalled = last_seen.as_ref() == Some(&seen);
        let cut_short = ["Expired", "Stopped"]
            .iter()
            .any(|word| results.statuses.get(*word).is_some_and(|count| *count > 0));
        if (stalled || cut_short) && client.action(action.id).await?.stopped_flag {
            return Err(BenchError::Flow(format!("action {} stopped", action.id)));
        }
        let finished = results.succeeded + results.failed;
        let finished_percent = if expected == 0 {
            100.0
        } else {
            100.0 * finished as f64 / expected as f64
        };
        if expected == 0
            || (results.reporting_percent >= UNTIL_PERCENT && finished_percent >= UNTIL_PERCENT)
        {
            return Ok(results);
        }
        interval = if stalled {
            interval.mul_f64(1.5).min(POLL_MAX_INTERVAL)
        } else {
            POLL_INTERVAL
        };
        last_seen = Some(seen);
        pace.sleep(interval).await;
    }
    Err(BenchError::Flow(format!(
        "action {} never finished",
        action.id
    )))
}

/// Options of [`LoadPlatform`] for load runs against the simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// A miss of `GET /actions/by-name/{name}` is taken as final even where the action may
    /// exist (after an ambiguous send), without the adapter's confirming `GET /actions` list
    /// with a name filter. The lookup before each first send takes the by-name miss as final
    /// anyway; this option matters only for the retries after a timed-out `POST /actions`.
    pub by_name_only: bool,
    /// At most this many platform calls at once (each is one or a few HTTP exchanges). The
    /// client opens one HTTP/1.1 connection per request in flight and keeps it, so without a
    /// cap 10,000 runs hold as many sockets, and their buffers dominate the memory.
    pub max_in_flight: Option<usize>,
}

/// [`TaniumPlatform`] with the [`LoadOptions`] applied; with the default options it is
/// [`TaniumPlatform`] itself.
#[derive(Debug, Clone)]
pub struct LoadPlatform {
    inner: TaniumPlatform,
    options: LoadOptions,
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
}

impl LoadPlatform {
    pub fn new(client: TaniumClient, options: LoadOptions) -> Self {
        LoadPlatform {
            inner: TaniumPlatform::new(client),
            options,
            in_flight: options
                .max_in_flight
                .map(|permits| Arc::new(tokio::sync::Semaphore::new(permits.max(1)))),
        }
    }

    /// Waits for a slot when calls are capped. A closed semaphore (never closed here) would
    /// simply mean no cap.
    async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match &self.in_flight {
            Some(semaphore) => semaphore.acquire().await.ok(),
            None => None,
        }
    }
}

/// An engine over [`LoadPlatform`]; otherwise as [`engine`].
pub fn load_engine(client: &TaniumClient, time_scale: f64, options: LoadOptions) -> Engine {
    Engine::new(
        Arc::new(LoadPlatform::new(client.clone(), options)),
        Arc::new(NoEvents),
    )
    .with_pace(Pace::scaled(time_scale))
}

#[async_trait::async_trait]
impl Platform for LoadPlatform {
    async fn create_target(&self, request: &TargetRequest) -> Result<TargetOutcome, PlatformError> {
        let _slot = self.slot().await;
        self.inner.create_target(request).await
    }
    async fn resolve_package(
        &self,
        package: &PackageSelector,
        params: &[(String, String)],
    ) -> Result<PackageOutcome, PlatformError> {
        let _slot = self.slot().await;
        self.inner.resolve_package(package, params).await
    }
    async fn resolve_action_group(
        &self,
        name_or_id: &str,
    ) -> Result<ActionGroupOutcome, PlatformError> {
        let _slot = self.slot().await;
        self.inner.resolve_action_group(name_or_id).await
    }
    async fn count_targets(&self, group_id: u64, wait: Duration) -> Result<u64, PlatformError> {
        let _slot = self.slot().await;
        self.inner.count_targets(group_id, wait).await
    }
    async fn survey_target(
        &self,
        request: &TargetRequest,
        names: usize,
        wait: Duration,
    ) -> Result<TargetSurvey, PlatformError> {
        let _slot = self.slot().await;
        self.inner.survey_target(request, names, wait).await
    }
    async fn issue_action(&self, spec: &ActionSpec) -> Result<ActionInfo, PlatformError> {
        let _slot = self.slot().await;
        self.inner.issue_action(spec).await
    }
    async fn find_action(
        &self,
        name: &str,
        lookup: Lookup,
    ) -> Result<Option<ActionInfo>, PlatformError> {
        let _slot = self.slot().await;
        let lookup = if self.options.by_name_only {
            Lookup::BeforeFirstSend
        } else {
            lookup
        };
        self.inner.find_action(name, lookup).await
    }
    async fn action(&self, action_id: u64) -> Result<ActionInfo, PlatformError> {
        let _slot = self.slot().await;
        self.inner.action(action_id).await
    }
    async fn approval(&self, saved_action_id: u64) -> Result<Approval, PlatformError> {
        let _slot = self.slot().await;
        self.inner.approval(saved_action_id).await
    }
    async fn action_results(
        &self,
        action_id: u64,
        verify: bool,
        max_rows: usize,
    ) -> Result<ActionProgress, PlatformError> {
        let _slot = self.slot().await;
        self.inner.action_results(action_id, verify, max_rows).await
    }
    async fn action_verifies(&self, action_id: u64) -> Result<bool, PlatformError> {
        let _slot = self.slot().await;
        self.inner.action_verifies(action_id).await
    }
    async fn stop_action(&self, action_id: u64) -> Result<(), PlatformError> {
        let _slot = self.slot().await;
        self.inner.stop_action(action_id).await
    }
    async fn ask_question(
        &self,
        request: &QuestionRequest,
    ) -> Result<QuestionAsked, PlatformError> {
        let _slot = self.slot().await;
        self.inner.ask_question(request).await
    }
    async fn question_progress(&self, question_id: u64) -> Result<QuestionProgress, PlatformError> {
        let _slot = self.slot().await;
        self.inner.question_progress(question_id).await
    }
    async fn question_answer(
        &self,
        question_id: u64,
        max_rows: usize,
    ) -> Result<QuestionAnswer, PlatformError> {
        let _slot = self.slot().await;
        self.inner.question_answer(question_id, max_rows).await
    }
    async fn check_question(&self, request: &QuestionRequest) -> Result<(), PlatformError> {
        let _slot = self.slot().await;
        self.inner.check_question(request).await
    }
    fn plan_target(&self, request: &TargetRequest) -> Result<Vec<PlannedRequest>, PlatformError> {
        self.inner.plan_target(request)
    }
    fn plan_package(&self, package: &PlanValue<PackageSelector>) -> Vec<PlannedRequest> {
        self.inner.plan_package(package)
    }
    fn plan_action_group(&self, name_or_id: &str) -> Vec<PlannedRequest> {
        self.inner.plan_action_group(name_or_id)
    }
    fn plan_count(&self, group_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        self.inner.plan_count(group_id)
    }
    fn plan_issue(&self, spec: &PlannedActionSpec) -> Vec<PlannedRequest> {
        self.inner.plan_issue(spec)
    }
    fn plan_approval(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        self.inner.plan_approval(action_id)
    }
    fn plan_poll(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        self.inner.plan_poll(action_id)
    }
    fn plan_stop_action(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        self.inner.plan_stop_action(action_id)
    }
    fn plan_question(&self, request: &PlanValue<QuestionRequest>) -> Vec<PlannedRequest> {
        self.inner.plan_question(request)
    }
}

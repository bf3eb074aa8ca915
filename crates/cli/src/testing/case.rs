//! One case of a test file: its simulator world built, the playbook run against it in this
//! process on a fast clock, and what the run did compared with what the case expects.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_engine::{CollectEvents, Engine, Event, Pace, RunOutcome, RunRequest, RunStatus};
use runbook_playbook::{
    ApprovalChoice, ExpectedRequest, FleetChoice, Playbook, SimWorld, TestCase,
};
use runbook_tanium::{Auth, TaniumClient, TaniumPlatform};
use runbook_tanium_sim::{Faults, Inspector, SimConfig, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::replay::ReplayServer;
use crate::connect::{scaled_client, sim_client};

/// How much faster than the wall clock a case's simulated time runs unless it says.
pub const TIME_SCALE: f64 = 1000.0;

/// How long a case may run (real time) before it counts as failed.
const CASE_LIMIT: Duration = Duration::from_secs(120);

/// When a denied approval is decided (simulated time after the action was issued).
const DENY_AFTER: Duration = Duration::from_secs(60);

/// One difference between what a case expects and what its run did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// What was compared: `status`, `outputs.completed`, `steps.approved`,
    /// `requests POST /api/v2/actions`, `error`.
    pub what: String,
    pub expected: String,
    pub actual: String,
}

/// How a case went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseResult {
    pub name: String,
    /// Where the case is written (its `name`'s line), for annotations.
    pub line: u32,
    pub passed: bool,
    pub mismatches: Vec<Mismatch>,
    /// The run's end (`succeeded`, `failed`, ...) and error, for the report.
    pub status: String,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// What one run did, as a case compares it.
struct Observed {
    status: String,
    error: Option<String>,
    outputs: Value,
    steps: BTreeMap<String, &'static str>,
    inspector: Inspector,
    /// The first request a replay server did not have next in its recording.
    replay_mismatch: Option<String>,
    /// How many recorded exchanges a replay left unanswered (not a failure of its own).
    replay_unused: usize,
}

/// The simulator's world of a case.
pub fn sim_config(world: &SimWorld) -> Result<SimConfig, String> {
    let mut config = match &world.fleet {
        FleetChoice::Default => SimConfig::default(),
        FleetChoice::Endpoints(endpoints) => {
            let filled: Vec<Value> = endpoints
                .iter()
                .enumerate()
                .map(|(index, endpoint)| fill_endpoint(endpoint, index))
                .collect();
            let text = json!({ "endpoints": filled }).to_string();
            SimConfig::from_yaml_fleet(&text)
                .map_err(|error| format!("the case's fleet: {error}"))?
        }
    };
    config.time_scale = world.time_scale.unwrap_or(TIME_SCALE);
    // A case is deterministic: nothing fails unless it says so.
    config.failure_share = world.failure_share.unwrap_or(0.0);
    config.failing_endpoints = world.fail.clone();
    match &world.approval {
        ApprovalChoice::NotNeeded => config.approval_required = false,
        ApprovalChoice::After(after) => {
            config.approval_required = true;
            config.auto_approve_after = Some(*after);
        }
        ApprovalChoice::Deny => {
            config.approval_required = true;
            config.auto_approve_after = None;
            config.auto_deny_after = Some(DENY_AFTER);
        }
    }
    config.faults = Faults {
        latency: world.faults.latency.unwrap_or_default(),
        error_share: world.faults.status_503_share.unwrap_or(0.0),
        rate_limit_share: world.faults.status_429_share.unwrap_or(0.0),
        drop_share: world.faults.drop_share.unwrap_or(0.0),
        ..Faults::default()
    };
    Ok(config)
}

/// An endpoint of a case's fleet with what the simulator needs and the case left out.
fn fill_endpoint(endpoint: &Value, index: usize) -> Value {
    let mut endpoint = endpoint.clone();
    if let Value::Object(map) = &mut endpoint {
        map.entry("ip_address")
            .or_insert_with(|| json!(format!("10.99.{}.{}", index / 250, index % 250 + 1)));
        map.entry("operating_system")
            .or_insert_with(|| json!("Windows Server 2022"));
    }
    endpoint
}

/// Runs one case of a playbook and compares.
pub async fn run_case(playbook: Arc<Playbook>, case: &TestCase) -> CaseResult {
    let started = Instant::now();
    let observed = match tokio::time::timeout(CASE_LIMIT, observe(playbook, case)).await {
        Ok(observed) => observed,
        Err(_) => Err(format!(
            "the case did not end within {}s",
            CASE_LIMIT.as_secs()
        )),
    };
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let line = case.span.line;
    match observed {
        Ok(observed) => {
            let mut mismatches = compare(case, &observed);
            // Recorded exchanges left over are fine (a run may end sooner than the recorded
            // one), but worth knowing when the case fails anyway.
            if !mismatches.is_empty() && observed.replay_unused > 0 {
                mismatches.push(Mismatch {
                    what: "replay (note)".to_owned(),
                    expected: "the recording's exchanges used up".to_owned(),
                    actual: format!(
                        "{} recorded exchange(s) left unasked",
                        observed.replay_unused
                    ),
                });
            }
            CaseResult {
                name: case.name.clone(),
                line,
                passed: mismatches.is_empty(),
                mismatches,
                status: observed.status,
                error: observed.error,
                elapsed_ms,
            }
        }
        Err(problem) => CaseResult {
            name: case.name.clone(),
            line,
            passed: false,
            mismatches: vec![Mismatch {
                what: "the case".to_owned(),
                expected: "a run".to_owned(),
                actual: problem.clone(),
            }],
            status: "not run".to_owned(),
            error: Some(problem),
            elapsed_ms,
        },
    }
}

/// Runs the playbook against the case's own simulator, or its replay server.
async fn observe(playbook: Arc<Playbook>, case: &TestCase) -> Result<Observed, String> {
    if let Some(replay) = &case.replay {
        return observe_replay(playbook, case, Path::new(&replay.value)).await;
    }
    let config = sim_config(&case.sim)?;
    let scale = config.time_scale;
    let sim = Simulator::start(config)
        .await
        .map_err(|error| format!("the simulator did not start: {error}"))?;
    let client = sim_client(
        &sim,
        scale,
        Auth::Token(SecretString::from(sim.api_token())),
        Duration::from_secs(60),
    )
    .map_err(|error| format!("{error:#}"))?;
    let request = run_request(&playbook, case)?;
    let ran = run_engine(&request, client, sim.base_url(), scale).await;
    let inspector = sim.inspect();
    sim.shutdown().await;
    ran.map(|(outcome, events)| observed(outcome, &events, inspector, None, 0))
}

/// Runs the playbook against a server answering the recording at `path` in order.
async fn observe_replay(
    playbook: Arc<Playbook>,
    case: &TestCase,
    path: &Path,
) -> Result<Observed, String> {
    let recording = crate::recording::read(path)?;
    let request = run_request(&playbook, case)?;
    let server = ReplayServer::start(recording, &request.run_id).await?;
    // The replay server takes any token.
    let client = scaled_client(
        server.base_url(),
        TIME_SCALE,
        Auth::Token(SecretString::from("replay")),
        Duration::from_secs(60),
    )
    .map_err(|error| format!("{error:#}"))?;
    let ran = run_engine(&request, client, server.base_url(), TIME_SCALE).await;
    let replayed = server.finish().await;
    ran.map(|(outcome, events)| {
        observed(
            outcome,
            &events,
            replayed.inspector,
            replayed.mismatch,
            replayed.unused,
        )
    })
}

/// The case's run: its playbook with the case's inputs and secrets.
fn run_request(playbook: &Arc<Playbook>, case: &TestCase) -> Result<RunRequest, String> {
    let inputs = runbook_playbook::bind_inputs(playbook, &[], &case.inputs).map_err(|errors| {
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("inputs: {}", texts.join("; "))
    })?;
    let mut request = RunRequest::new(playbook.clone(), inputs);
    for name in &playbook.secrets {
        let value = case
            .secrets
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("test-secret-{name}"));
        request
            .secrets
            .insert(name.clone(), SecretString::from(value));
    }
    Ok(request)
}

/// Runs the engine in this process against the server at `base_url` on a clock `scale` times
/// faster than the wall clock.
async fn run_engine(
    request: &RunRequest,
    client: TaniumClient,
    base_url: String,
    scale: f64,
) -> Result<(RunOutcome, Vec<Event>), String> {
    let events = Arc::new(CollectEvents::new());
    let egress = runbook_egress::HttpEgress::new(runbook_egress::EgressConfig {
        allow: Vec::new(),
        tanium_url: Some(base_url),
        ca_cert_pem: None,
    })?;
    let engine = Engine::new(Arc::new(TaniumPlatform::new(client)), events.clone())
        .with_pace(Pace::scaled(scale))
        .with_egress(Arc::new(egress));
    let outcome = engine.run(request).await;
    Ok((outcome, events.events()))
}

fn observed(
    outcome: RunOutcome,
    events: &[Event],
    inspector: Inspector,
    replay_mismatch: Option<String>,
    replay_unused: usize,
) -> Observed {
    Observed {
        status: match outcome.status {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
        .to_owned(),
        error: outcome.error,
        outputs: outcome.outputs,
        steps: step_states(events),
        inspector,
        replay_mismatch,
        replay_unused,
    }
}

/// How each step ended, by id. A step inside a loop ran once per item (`each[2].tag`): it
/// `failed` when an item's failed, else `succeeded` when one succeeded, else `skipped`.
fn step_states(events: &[Event]) -> BTreeMap<String, &'static str> {
    let mut states: BTreeMap<String, &'static str> = BTreeMap::new();
    for event in events {
        let (id, state) = match event {
            Event::StepFinished { step_id, .. } | Event::StepRestored { step_id, .. } => {
                (step_id, "succeeded")
            }
            Event::StepFailed { step_id, .. } => (step_id, "failed"),
            Event::StepSkipped { step_id, .. } => (step_id, "skipped"),
            _ => continue,
        };
        let id = id.rsplit_once("].").map_or(id.as_str(), |(_, step)| step);
        let rank = |state: &str| match state {
            "failed" => 2,
            "succeeded" => 1,
            _ => 0,
        };
        let entry = states.entry(id.to_owned()).or_insert(state);
        if rank(state) > rank(entry) {
            *entry = state;
        }
    }
    states
}

/// Whether `actual` holds everything `expected` says: objects by their keys (a subset), lists
/// item by item, and numbers or texts that read as the same number.
pub fn holds(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(wanted), Value::Object(have)) => wanted
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|found| holds(value, found))),
        (Value::Array(wanted), Value::Array(have)) => {
            wanted.len() == have.len() && wanted.iter().zip(have).all(|(w, h)| holds(w, h))
        }
        (Value::Number(_), Value::String(text)) | (Value::String(text), Value::Number(_)) => {
            let number = if let Value::Number(number) = expected {
                number
            } else if let Value::Number(number) = actual {
                number
            } else {
                return false;
            };
            text.trim().parse::<f64>().ok() == number.as_f64()
        }
        (Value::Bool(flag), Value::String(text)) => text.trim() == flag.to_string(),
        _ => expected == actual,
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

/// What the run did that the case did not expect.
fn compare(case: &TestCase, observed: &Observed) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let mut differ = |what: String, expected: String, actual: String| {
        mismatches.push(Mismatch {
            what,
            expected,
            actual,
        });
    };
    if let Some(mismatch) = &observed.replay_mismatch {
        differ(
            "replay".to_owned(),
            "the recorded requests, in order".to_owned(),
            mismatch.clone(),
        );
    }
    let expect = &case.expect;
    if let Some(status) = &expect.status
        && status.as_str() != observed.status
    {
        let actual = match &observed.error {
            Some(error) => format!("{} ({error})", observed.status),
            None => observed.status.clone(),
        };
        differ("status".to_owned(), status.as_str().to_owned(), actual);
    }
    if let Some(text) = &expect.error_contains {
        let error = observed.error.clone().unwrap_or_default();
        if !error.contains(text.as_str()) {
            differ(
                "error".to_owned(),
                format!("to contain {text:?}"),
                if error.is_empty() {
                    "no error".to_owned()
                } else {
                    format!("{error:?}")
                },
            );
        }
    }
    for (name, wanted) in &expect.outputs {
        let actual = observed.outputs.get(name).cloned().unwrap_or(Value::Null);
        if !holds(wanted, &actual) {
            differ(format!("outputs.{name}"), shown(wanted), shown(&actual));
        }
    }
    for (id, wanted) in &expect.steps {
        // A step never reached (after a failure) counts as skipped.
        let actual = observed.steps.get(id).copied().unwrap_or("skipped");
        if wanted.as_str() != actual {
            differ(
                format!("steps.{id}"),
                wanted.as_str().to_owned(),
                actual.to_owned(),
            );
        }
    }
    for request in &expect.requests {
        let count = count_requests(request, &observed.inspector);
        let matches = match request.count {
            Some(wanted) => count == wanted,
            None => count > 0,
        };
        if !matches {
            let what = match &request.body {
                Some(body) => format!("requests {} {} with {body}", request.method, request.path),
                None => format!("requests {} {}", request.method, request.path),
            };
            let expected = request
                .count
                .map_or_else(|| "at least 1".to_owned(), |count| count.to_string());
            differ(what, expected, count.to_string());
        }
    }
    mismatches
}

/// How many requests of the simulator's log match: by method and path, and when a body is
/// given, those whose JSON body holds it.
fn count_requests(request: &ExpectedRequest, inspector: &Inspector) -> u64 {
    match &request.body {
        None => inspector.request_count(&request.method, &request.path),
        Some(body) => inspector
            .bodies
            .iter()
            .filter(|seen| {
                seen.method.eq_ignore_ascii_case(&request.method)
                    && seen.path == request.path
                    && holds(body, &seen.body)
            })
            .count() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_hold_and_numbers_read_alike() {
        assert!(holds(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!holds(&json!({"a": 1, "c": 3}), &json!({"a": 1, "b": 2})));
        assert!(holds(&json!(1), &json!("1")));
        assert!(holds(&json!("2"), &json!(2)));
        assert!(holds(&json!(true), &json!("true")));
        assert!(holds(&json!([1, {"x": 1}]), &json!([1, {"x": 1, "y": 2}])));
        assert!(!holds(&json!([1]), &json!([1, 2])));
        assert!(!holds(&json!("a"), &json!("b")));
    }

    #[test]
    fn loop_items_fold_into_their_step() {
        let event = |id: &str, kind: &str| match kind {
            "ok" => Event::StepFinished {
                step_id: id.to_owned(),
                kind: "set".to_owned(),
                summary: String::new(),
                outputs: json!({}),
                elapsed_ms: 0,
            },
            "skip" => Event::StepSkipped {
                step_id: id.to_owned(),
                kind: "set".to_owned(),
                reason: String::new(),
            },
            _ => Event::StepFailed {
                step_id: id.to_owned(),
                kind: "set".to_owned(),
                error: String::new(),
                elapsed_ms: 0,
                continued: false,
            },
        };
        let states = step_states(&[
            event("each[0].tag", "skip"),
            event("each[1].tag", "ok"),
            event("each[0].note", "ok"),
            event("each[1].note", "fail"),
            event("each", "ok"),
        ]);
        assert_eq!(states["tag"], "succeeded");
        assert_eq!(states["note"], "failed");
        assert_eq!(states["each"], "succeeded");
    }
}

//! The benchmark run: a six-step playbook, and the same requests without the engine.
//!
//! The playbook is the seed's flow as analysts write it: `target` one host, `parameterize`
//! the tagging package, `issue`, `await_approval`, `poll`, `assert`. [`bare_flow`] sends the
//! very same sequence of requests with the bare [`TaniumClient`] (the calls `TaniumPlatform`
//! makes for each step, in the engine's order), so that the difference in CPU time between
//! the two is what the engine itself costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use runbook_engine::{Engine, NoEvents, Pace, RunRequest};
use runbook_playbook::Playbook;
use runbook_tanium::targeting::{Clause, Combine, Operator, build_text};
use runbook_tanium::{
    Auth, ClientConfig, NewAction, Ref, RequestObserver, SecretString, TaniumClient,
    TaniumPlatform, TargetGroupRef, Tuning, parameters,
};

use crate::{BenchError, SimChild};

/// Steps in [`PLAYBOOK`].
pub const STEPS: u64 = 6;

/// The package the runs deploy (one of the simulator's defaults).
pub const PACKAGE: &str = "Custom Tagging - Add Tags";

/// The action group the runs issue under.
pub const ACTION_GROUP: &str = "All Computers";

/// Poll interval of the `poll` step (PLAYBOOK.md's default), in playbook time.
const POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Longest poll interval (PLAYBOOK.md's default `max_interval`).
const POLL_MAX_INTERVAL: Duration = Duration::from_secs(120);
/// How long the engine lets a counting question run (its `COUNT_WAIT`), in playbook time.
const COUNT_WAIT: Duration = Duration::from_secs(120);
/// The `poll` step's share to reach.
const UNTIL_PERCENT: f64 = 90.0;
/// Rows kept by the `poll` step (PLAYBOOK.md's default `max_rows`).
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
    let tuning = Tuning {
        question_poll_interval: Tuning::default()
            .question_poll_interval
            .div_f64(time_scale.max(1.0)),
        ..Tuning::default()
    };
    let config = ClientConfig::new(
        sim.url(),
        Auth::Token(SecretString::from(sim.token().to_owned())),
    );
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

/// Counts the HTTP exchanges a client makes.
#[derive(Debug, Default)]
pub struct RequestCounter {
    exchanges: AtomicU64,
}

impl RequestCounter {
    /// Exchanges so far.
    pub fn count(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }
}

impl RequestObserver for RequestCounter {
    fn exchange(&self, _method: &str, _path: &str, _status: Option<u16>, _elapsed: Duration) {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one bare run ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct BareOutcome {
    pub action_id: u64,
    pub completed: u64,
}

/// The six steps' requests sent with the bare client, in the engine's order: create the
/// group; read the package and resolve its parameter; read the action group, count the
/// targets, look for an action of the same name, issue; read the action and its saved
/// action's approval flag; then read the action and its results until both shares reach 90%,
/// with the engine's growing interval; check that nothing failed.
pub async fn bare_flow(
    client: &TaniumClient,
    hostname: &str,
    run_number: u64,
    time_scale: f64,
) -> Result<BareOutcome, BenchError> {
    let pace = Pace::scaled(time_scale);
    let text = build_text(
        Combine::All,
        &[Clause {
            sensor: "Computer Name".to_owned(),
            op: Operator::Equals,
            value: hostname.to_owned(),
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
    let name = format!("bench tag {hostname} [bare {run_number}]");
    if client.find_action_by_name(&name).await?.is_some() {
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
        })
        .await?;

    let current = client.action(action.id).await?;
    let saved_action_id = current.saved_action_id.unwrap_or(0);
    if !client.saved_action_approved(saved_action_id).await? {
        return Err(BenchError::Flow(format!(
            "action {} needs approval; the benchmark simulator runs without",
            action.id
        )));
    }

    let mut interval = POLL_INTERVAL;
    let mut last_seen = None;
    // Bounded: at the base interval this is far beyond any action's life in the simulator.
    for _ in 0..10_000 {
        let current = client.action(action.id).await?;
        if current.stopped_flag {
            return Err(BenchError::Flow(format!("action {} stopped", action.id)));
        }
        let results = client
            .action_results(action.id, package.verify, MAX_ROWS)
            .await?;
        let finished = results.succeeded + results.failed;
        let finished_percent = if expected == 0 {
            100.0
        } else {
            100.0 * finished as f64 / expected as f64
        };
        if expected == 0
            || (results.reporting_percent >= UNTIL_PERCENT && finished_percent >= UNTIL_PERCENT)
        {
            if results.failed > 0 {
                return Err(BenchError::Flow(format!(
                    "{} endpoints failed",
                    results.failed
                )));
            }
            return Ok(BareOutcome {
                action_id: action.id,
                completed: results.succeeded,
            });
        }
        let seen = (results.mr_tested, results.statuses);
        if last_seen.as_ref() == Some(&seen) {
            interval = interval.mul_f64(1.5).min(POLL_MAX_INTERVAL);
        } else {
            interval = POLL_INTERVAL;
        }
        last_seen = Some(seen);
        pace.sleep(interval).await;
    }
    Err(BenchError::Flow(format!(
        "action {} never finished",
        action.id
    )))
}

//! `issue`: the one step that sends a side effect, an action, exactly once.
//!
//! Before anything leaves: the action group is checked (never `Default`), the target counted
//! against the guard, and an intent recorded; `Store::may_send` checks the lease right before
//! the request. After an ambiguous send the action is looked up by its unique name before it
//! is sent again, and a resumed step adopts the action its intent names
//! (docs/durability.md).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use runbook_playbook::{
    ACTION_TIME_HELP, DEFAULT_ACTION_GROUP_HELP, DEFAULT_ACTION_GROUP_REFUSED, IssueStep, Playbook,
    Step, TemplateValue, is_default_action_group, parse_action_time,
};
use serde_json::{Map, Value, json};

use super::placeholders;
use crate::events::Event;
use crate::plan::{PlanStep, Planner, RUN_ID_PLACEHOLDER, Scope};
use crate::platform::{
    ActionGroupOutcome, ActionInfo, ActionSpec, Lookup, PackageSelector, PlanValue,
    PlannedActionSpec, PlatformErrorKind,
};
use crate::run::{Engine, IssuedAction, RunState, StepDone, StepError, store_error};
use crate::values::{
    as_u64, group_reference, humanize, package_reference, plan_group, plan_package_spec, value_text,
};

/// How many times an `issue` step sends its action when the send is ambiguous or the server
/// unavailable (each time after looking it up by name).
const ISSUE_ATTEMPTS: usize = 4;

/// Pause (playbook time) before sending an action again after the server was unavailable;
/// grows with each failure.
const ISSUE_BACKOFF: Duration = Duration::from_secs(2);

/// How long a process that lost its run while sending waits for the new holder to record
/// its action (real time).
const SETTLE_LOST_SEND: Duration = Duration::from_secs(180);

/// How long the pre-issue count may wait for endpoints to answer (playbook time).
const COUNT_WAIT: Duration = Duration::from_secs(120);

/// The name an action is issued under: the author's name plus this run's marker, so that a
/// resumed run (or a retry after an ambiguous send) finds its own action again.
pub fn unique_action_name(name: &str, run_id: &str, step_id: &str) -> String {
    format!("{name} [runbook {run_id} {step_id}]")
}

/// What an `issue` step sends, rendered and resolved.
pub(crate) struct Rendered {
    pub(crate) name: String,
    pub(crate) target_group_id: u64,
    pub(crate) target_filter_flag: bool,
    pub(crate) package_id: u64,
    pub(crate) parameters: Vec<(String, String)>,
    pub(crate) action_group: ActionGroupOutcome,
    /// `not_before`, rendered.
    pub(crate) not_before: Option<DateTime<Utc>>,
    /// `not_after`, rendered (in the future when rendered).
    pub(crate) not_after: Option<DateTime<Utc>>,
}

/// An `issue` time as Tanium is sent it and plans show it: RFC 3339 in UTC, whole seconds.
pub(crate) fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// How long the action stays active (`expire_seconds`): with `not_after`, the span of its
/// window, from `not_before` (as written, even if past) or else from `now` (when it is sent),
/// so that `start_time + expire_seconds` is the `expiration_time` sent; without, `expire`.
pub(crate) fn active_seconds(
    issue: &IssueStep,
    not_before: Option<DateTime<Utc>>,
    not_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> u64 {
    match not_after {
        Some(end) => u64::try_from((end - not_before.unwrap_or(now)).num_seconds()).unwrap_or(0),
        None => issue.expire.as_secs(),
    }
}

/// The window's own rules once its times are known: it ends after it starts, and is no
/// shorter than `distribute` (endpoints reached after it ended would never run the action).
fn check_window(
    issue: &IssueStep,
    not_before: Option<DateTime<Utc>>,
    not_after: Option<DateTime<Utc>>,
) -> Result<(), String> {
    let (Some(start), Some(end)) = (not_before, not_after) else {
        return Ok(());
    };
    if end <= start {
        return Err(format!(
            "`not_after` ({}) is not after `not_before` ({}): the action would end before it starts",
            time_text(end),
            time_text(start)
        ));
    }
    if (end - start)
        .to_std()
        .is_ok_and(|span| issue.distribute > span)
    {
        return Err(format!(
            "the window from `not_before` to `not_after` ({}) is shorter than `distribute` ({})",
            humanize((end - start).to_std().unwrap_or_default()),
            humanize(issue.distribute)
        ));
    }
    Ok(())
}

/// Reads a rendered `issue` time: RFC 3339 with an offset, or a message saying what it was.
fn read_time(key: &str, text: &str) -> Result<DateTime<Utc>, String> {
    parse_action_time(text).ok_or_else(|| {
        format!("`{key}` rendered `{text}`, which is not an RFC 3339 time with an offset ({ACTION_TIME_HELP})")
    })
}

/// What the plan says of `min_endpoints`.
fn fewer_than(min_endpoints: u64) -> String {
    match min_endpoints {
        0 => "; issue even if none match (min_endpoints 0)".to_owned(),
        minimum => format!("; refuse if fewer than {minimum} match (min_endpoints)"),
    }
}

/// Runs an `issue` step: checks, then issues the action (or adopts the one a previous attempt
/// of this step issued).
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    issue: &IssueStep,
) -> Result<StepDone, StepError> {
    if let Some(staged) = &issue.rollout {
        return rollout::run(engine, state, step, issue, staged).await;
    }
    let rendered = render(engine, state, issue).await?;
    let unique_name = unique_action_name(
        &rendered.name,
        &state.request.run_id,
        &state.action_key(&step.id),
    );
    let record_id = state.record_id(&step.id);
    // Resuming a step whose intent was recorded: the action may exist already. It is adopted
    // as it is (the guard was checked before it was issued).
    let resumed = recorded_action(engine, state, &record_id, &unique_name).await?;
    let targeted = count_and_guard(
        engine,
        state,
        step,
        issue.min_endpoints,
        &rendered,
        resumed.is_some(),
    )
    .await?;
    let verify = verifies(engine, state, &rendered).await?;
    if resumed.is_none() {
        guard_issue(engine, state, step, issue, &rendered, targeted).await?;
    }
    let spec = ActionSpec {
        name: unique_name.clone(),
        action_group_id: rendered.action_group.id,
        target_group_id: rendered.target_group_id,
        target_filter_flag: rendered.target_filter_flag,
        package_id: rendered.package_id,
        parameters: rendered.parameters.clone(),
        expire_seconds: active_seconds(issue, rendered.not_before, rendered.not_after, Utc::now()),
        distribute_seconds: issue.distribute.as_secs(),
        issue_seconds: issue.issue_seconds,
        start_time: rendered.not_before,
        expiration_time: rendered.not_after,
    };
    if resumed.is_none() && spec.expiration_time.is_some() && spec.expire_seconds == 0 {
        return Err(StepError::new(
            "`not_after` passed while the step checked the target: the action would have expired already; nothing was issued",
        ));
    }
    let (action, adopted) = match resumed {
        Some(existing) => (existing, true),
        None => send(engine, state, &record_id, &spec).await?,
    };
    record_answer(engine, state, &record_id, &action, adopted).await?;
    state.issued.insert(
        action.action_id,
        IssuedAction {
            targeted,
            verify: Some(verify),
            saved_action_id: action.saved_action_id,
        },
    );
    state.issued_order.push(action.action_id);
    engine.emit(
        state,
        Event::ActionIssued {
            step_id: step.id.clone(),
            action_id: action.action_id,
            name: action.name.clone(),
            targeted,
            adopted,
        },
    );
    Ok(done(state, issue, &rendered, &action, targeted, verify))
}

/// Renders what the step sends and resolves its action group, refusing `Default` (as
/// written, and as the platform names the group it resolved).
pub(crate) async fn render(
    engine: &Engine,
    state: &RunState<'_>,
    issue: &IssueStep,
) -> Result<Rendered, StepError> {
    let context = state.context();
    let name = value_text(&engine.render(state, &issue.name, &context)?);
    if name.trim().is_empty() {
        return Err(StepError::new("the action's `name` rendered empty"));
    }
    let (target_group_id, target_filter_flag) =
        group_reference(&engine.render(state, &issue.target, &context)?)?;
    let (package_id, parameters) =
        package_reference(&engine.render(state, &issue.package, &context)?)?;
    let action_group = value_text(&engine.render(state, &issue.action_group, &context)?);
    if is_default_action_group(&action_group) {
        return Err(default_action_group_error());
    }
    let action_group = engine
        .platform
        .resolve_action_group(action_group.trim())
        .await?;
    if is_default_action_group(&action_group.name) {
        return Err(default_action_group_error());
    }
    let time = |key: &str, value: Option<&TemplateValue>| -> Result<_, StepError> {
        value
            .map(|value| {
                let text = value_text(&engine.render(state, value, &context)?);
                read_time(key, text.trim())
                    .map_err(|why| StepError::new(format!("{why}; nothing was issued")))
            })
            .transpose()
    };
    let not_before = time("not_before", issue.not_before.as_deref())?;
    let not_after = time("not_after", issue.not_after.as_deref())?;
    check_window(issue, not_before, not_after)
        .map_err(|why| StepError::new(format!("{why}; nothing was issued")))?;
    if let Some(end) = not_after
        && end <= Utc::now()
    {
        return Err(StepError::new(format!(
            "`not_after` ({}) is in the past: the action would have expired already; nothing was issued",
            time_text(end)
        )));
    }
    Ok(Rendered {
        name,
        target_group_id,
        target_filter_flag,
        package_id,
        parameters,
        action_group,
        not_before,
        not_after,
    })
}

/// Records which action answered the intent recorded under `intent_key` (right after the
/// send, or on adopting it). When this process lost the run meanwhile, an action it sent
/// itself is settled with the process now driving the run (`settle_lost_send`).
pub(crate) async fn record_answer(
    engine: &Engine,
    state: &RunState<'_>,
    intent_key: &str,
    action: &ActionInfo,
    adopted: bool,
) -> Result<(), StepError> {
    crate::pause_points::reached("after_post");
    let Some(store) = &engine.store else {
        return Ok(());
    };
    let recorded = store
        .intent_resolved(state.run_id(), intent_key, action.action_id)
        .await;
    if let Err(error) = recorded {
        if error.is_lost_claim() && !adopted {
            settle_lost_send(engine, state, intent_key, action).await;
        }
        return Err(store_error(error));
    }
    Ok(())
}

/// The action a previous attempt of this step (or of this rollout wave: its intent key)
/// issued, when its intent was recorded: by the id the store recorded, or else by its unique
/// name.
pub(crate) async fn recorded_action(
    engine: &Engine,
    state: &RunState<'_>,
    intent_key: &str,
    unique_name: &str,
) -> Result<Option<ActionInfo>, StepError> {
    let Some(intent) = state.prior_intents.get(intent_key) else {
        return Ok(None);
    };
    if let Some(action_id) = intent.action_id {
        return Ok(Some(engine.platform.action(action_id).await?));
    }
    // The previous holder recorded the intent and may still have its `POST /actions` in
    // flight (it was paused, not dead): wait until that request has surely landed or timed
    // out before looking it up, so that it is adopted rather than issued a second time.
    if let Some(until) = engine
        .store
        .as_ref()
        .and_then(|store| store.hold_off_until())
    {
        engine.hold_off(until).await?;
    }
    engine
        .platform
        .find_action(unique_name, Lookup::MayExist)
        .await
        .map_err(|error| may_have_been_issued(unique_name, &error.message))
}

/// Counts what the target matches now, before anything is issued, and applies the guard and
/// `min_endpoints` (not to an action being adopted: they were checked before it was issued).
async fn count_and_guard(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    min_endpoints: u64,
    rendered: &Rendered,
    resumed: bool,
) -> Result<u64, StepError> {
    let targeted = engine
        .platform
        .count_targets(
            rendered.target_group_id,
            engine.pace.real_duration(COUNT_WAIT),
        )
        .await?;
    guard_count(engine, state, step, min_endpoints, targeted, resumed)?;
    Ok(targeted)
}

/// The guard's `max_endpoints` and the step's `min_endpoints` applied to what the target
/// matches (not to an action being adopted), and a warning when it matches no endpoint.
pub(crate) fn guard_count(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    min_endpoints: u64,
    targeted: u64,
    resumed: bool,
) -> Result<(), StepError> {
    if !resumed
        && let Some(limit) = state
            .request
            .playbook
            .guard
            .as_ref()
            .and_then(|guard| guard.max_endpoints)
        && targeted > limit
    {
        return Err(StepError::new(format!(
            "guard: the target matches {targeted} endpoints, more than max_endpoints {limit}; nothing was issued"
        )));
    }
    if !resumed && targeted < min_endpoints {
        return Err(StepError::new(format!(
            "{}; nothing was issued",
            too_few_endpoints(targeted, min_endpoints)
        )));
    }
    if targeted == 0 && !resumed {
        engine.emit(
            state,
            Event::Warning {
                step_id: Some(step.id.clone()),
                message: "the target matches no endpoint that answers now; offline endpoints still pick the action up before it expires".to_owned(),
            },
        );
    }
    Ok(())
}

/// Why an `issue` step whose target matches fewer than `min_endpoints` issues nothing.
pub(crate) fn too_few_endpoints(targeted: u64, min_endpoints: u64) -> String {
    let noun = if targeted == 1 {
        "endpoint"
    } else {
        "endpoints"
    };
    format!(
        "the target matches {targeted} {noun}; at least {min_endpoints} expected (min_endpoints)"
    )
}

/// The run's [`IssueGuard`](crate::run::IssueGuard), if any, asked with what is about to be
/// sent; its refusal fails the step before anything is issued.
pub(crate) async fn guard_issue(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    issue: &IssueStep,
    rendered: &Rendered,
    targeted: u64,
) -> Result<(), StepError> {
    let Some(guard) = &state.request.issue_guard else {
        return Ok(());
    };
    let target_step = engine
        .templates()
        .value_references(&issue.target.value)
        .iter()
        .find_map(|name| {
            name.strip_prefix("steps.")?
                .split('.')
                .next()
                .map(str::to_owned)
        });
    let target_text = target_step
        .as_ref()
        .and_then(|id| state.steps.get(id))
        .and_then(|outputs| outputs.get("text"))
        .and_then(Value::as_str)
        .map(|text| state.redactor.redact_text(text));
    // Inside a loop's item, its own steps are known by their record ids (as the plan shows
    // them).
    let shown_target = target_step.as_ref().map(|id| {
        if state.request.playbook.step(id).is_some() {
            id.clone()
        } else {
            state.record_id(id)
        }
    });
    let check = crate::run::IssueCheck {
        step_id: state.record_id(&step.id),
        package_id: rendered.package_id,
        parameters: rendered.parameters.clone(),
        action_group_id: rendered.action_group.id,
        target_group_id: rendered.target_group_id,
        target_step: shown_target,
        target_text,
        targeted,
    };
    guard
        .before_issue(&check)
        .await
        .map_err(|why| StepError::new(format!("{why}; nothing was issued")))
}

/// Whether the package verifies, which decides when the poll is done. A package that no
/// parameterize step of this run resolved (a resumed run, a package_spec written by hand) is
/// read once.
pub(crate) async fn verifies(
    engine: &Engine,
    state: &mut RunState<'_>,
    rendered: &Rendered,
) -> Result<bool, StepError> {
    if let std::collections::hash_map::Entry::Vacant(entry) =
        state.packages.entry(rendered.package_id)
    {
        let package = engine
            .platform
            .resolve_package(
                &PackageSelector::Id(rendered.package_id),
                &rendered.parameters,
            )
            .await?;
        entry.insert(package);
    }
    Ok(state
        .packages
        .get(&rendered.package_id)
        .is_some_and(|package| package.verify))
}

/// Sends the action, its intent (keyed by the step id, or a rollout wave's) durable first, so
/// that a crash between sending and recording the answer is followed by a lookup, not a
/// second action.
pub(crate) async fn send(
    engine: &Engine,
    state: &RunState<'_>,
    intent_key: &str,
    spec: &ActionSpec,
) -> Result<(ActionInfo, bool), StepError> {
    if let Some(store) = &engine.store {
        engine.flush(state).await?;
        crate::pause_points::reached("before_intent");
        store
            .record_intent(
                state.run_id(),
                intent_key,
                &state.redactor.redact_text(&spec.name),
            )
            .await
            .map_err(store_error)?;
    }
    crate::pause_points::reached("before_post");
    // With no intent recorded before this one, nothing of this step can exist yet (an intent
    // is durable before its action is sent): the lookup before the first send is a
    // cross-check, and the quickest one will do. After a resume it must be certain.
    let lookup = if state.prior_intents.contains_key(intent_key) {
        Lookup::MayExist
    } else {
        Lookup::BeforeFirstSend
    };
    issue_once(engine, state.run_id(), spec, lookup).await
}

/// The step's outputs and summary once its action exists.
fn done(
    state: &RunState<'_>,
    issue: &IssueStep,
    rendered: &Rendered,
    action: &ActionInfo,
    targeted: u64,
    verify: bool,
) -> StepDone {
    let expires_at = action
        .expires_at
        .clone()
        .unwrap_or_else(|| match rendered.not_after {
            Some(end) => time_text(end),
            None => {
                let start = rendered
                    .not_before
                    .map_or_else(Utc::now, |start| start.max(Utc::now()));
                let expiry = start
                    + chrono::Duration::from_std(issue.expire + issue.distribute)
                        .unwrap_or_default();
                time_text(expiry)
            }
        });
    let known_package = state.packages.get(&rendered.package_id);
    let summary = format!(
        "action {} issued to {targeted} endpoint{} under {} ({})",
        action.action_id,
        if targeted == 1 { "" } else { "s" },
        rendered.action_group.name,
        action.status
    );
    let outputs = Map::from_iter([
        ("action_id".to_owned(), json!(action.action_id)),
        ("saved_action_id".to_owned(), json!(action.saved_action_id)),
        ("name".to_owned(), json!(action.name)),
        ("status".to_owned(), json!(action.status)),
        (
            "package_name".to_owned(),
            json!(
                action
                    .package_name
                    .clone()
                    .or_else(|| known_package.map(|package| package.package_name.clone()))
            ),
        ),
        (
            "command".to_owned(),
            json!(
                action
                    .command
                    .clone()
                    .or_else(|| known_package.map(|package| package.command.clone()))
            ),
        ),
        ("targeted".to_owned(), json!(targeted)),
        ("expires_at".to_owned(), json!(expires_at)),
        // Recorded so that a resumed poll knows whether `Completed` is final without asking
        // the server about the action's (derived) package.
        ("verify".to_owned(), json!(verify)),
    ]);
    StepDone { outputs, summary }
}

/// On resume, a finished `issue` step's action is known again from its recorded outputs (for
/// the polls after it, and the run's list of issued actions).
pub(crate) fn restored(state: &mut RunState<'_>, outputs: &Value) {
    // A rollout's waves are each an action of this run (the last one is `action_id`).
    if let Some(waves) = outputs.get("waves").and_then(Value::as_array) {
        let verify = outputs.get("verify").and_then(Value::as_bool);
        for wave in waves {
            let Some(action_id) = wave.get("action_id").and_then(as_u64) else {
                continue;
            };
            if state.issued.contains_key(&action_id) {
                continue;
            }
            let targeted = wave.get("targeted").and_then(as_u64).unwrap_or(0);
            let last = outputs.get("action_id").and_then(as_u64) == Some(action_id);
            let saved_action_id = outputs
                .get("saved_action_id")
                .and_then(as_u64)
                .filter(|_| last)
                .unwrap_or(0);
            state.issued.insert(
                action_id,
                IssuedAction {
                    targeted,
                    verify,
                    saved_action_id,
                },
            );
            state.issued_order.push(action_id);
        }
        return;
    }
    let Some(action_id) = outputs.get("action_id").and_then(as_u64) else {
        return;
    };
    let targeted = outputs.get("targeted").and_then(as_u64).unwrap_or(0);
    let verify = outputs.get("verify").and_then(Value::as_bool);
    let saved_action_id = outputs.get("saved_action_id").and_then(as_u64).unwrap_or(0);
    state.issued.insert(
        action_id,
        IssuedAction {
            targeted,
            verify,
            saved_action_id,
        },
    );
    state.issued_order.push(action_id);
}

/// Issues the action exactly once: an existing action of this run with the same unique
/// name is adopted (looked up as `lookup` says), and after an ambiguous send the action is
/// looked up, with a certain miss, before anything is sent again.
///
/// A server that was unavailable (503, or a 502/504 from a proxy that may have passed the
/// request on) is treated like an ambiguous send: the client never repeats a `POST
/// /actions` blindly, so the engine looks the action up by name and only then sends it
/// again, a few times with a pause, rather than failing a run on one passing outage.
async fn issue_once(
    engine: &Engine,
    run_id: &str,
    spec: &ActionSpec,
    lookup: Lookup,
) -> Result<(ActionInfo, bool), StepError> {
    if let Some(existing) = engine.platform.find_action(&spec.name, lookup).await? {
        return Ok((existing, true));
    }
    let mut failures: Vec<String> = Vec::new();
    loop {
        // The last check before the request leaves: this process still holds the run and
        // its lease has time left (renewed with a fenced write after a pause). A process
        // that lost the run stops here, before sending.
        if let Some(store) = &engine.store {
            store.may_send(run_id).await.map_err(|error| {
                let mut stopped = store_error(error);
                if !failures.is_empty() {
                    stopped.message = format!(
                        "{}; an earlier attempt may have issued action `{}` (the process now driving the run looks it up)",
                        stopped.message, spec.name
                    );
                }
                stopped
            })?;
        }
        crate::pause_points::reached("before_post_sent");
        match engine.platform.issue_action(spec).await {
            Ok(action) => return Ok((action, false)),
            Err(error)
                if matches!(
                    error.kind,
                    PlatformErrorKind::Ambiguous | PlatformErrorKind::Unavailable
                ) && failures.len() + 1 < ISSUE_ATTEMPTS =>
            {
                failures.push(error.message);
                // Give a request the server may still be processing time to show up
                // before looking for it, so that it is adopted rather than sent again.
                let failed = u32::try_from(failures.len()).unwrap_or(u32::MAX);
                engine.pause(ISSUE_BACKOFF.saturating_mul(failed))
                    .await
                    .map_err(|mut error| {
                        error.message = format!(
                            "{}; the action `{}` may have been issued (the last send was ambiguous)",
                            error.message, spec.name
                        );
                        error
                    })?;
                let found = engine
                    .platform
                    .find_action(&spec.name, Lookup::MayExist)
                    .await
                    .map_err(|error| {
                        may_have_been_issued(
                            &spec.name,
                            &format!(
                                "{}; then looking it up failed: {}",
                                failures.join("; "),
                                error.message
                            ),
                        )
                    })?;
                if let Some(existing) = found {
                    return Ok((existing, true));
                }
            }
            Err(error) if failures.is_empty() => return Err(error.into()),
            Err(error) => {
                return Err(may_have_been_issued(
                    &spec.name,
                    &format!(
                        "issuing the action failed {} times ({}; then {error})",
                        failures.len() + 1,
                        failures.join("; ")
                    ),
                ));
            }
        }
    }
}

/// This process sent an action, then found that another process had taken the run over
/// meanwhile (it was paused past its lease between its last check and the send: the one
/// window fencing cannot close). The new holder either adopts this action (it finds it by
/// name) or issued its own before this one existed: wait for it to record which, and stop
/// this one if it is a duplicate. Nothing is written to the store (this process may not).
pub(crate) async fn settle_lost_send(
    engine: &Engine,
    state: &RunState<'_>,
    step_id: &str,
    action: &ActionInfo,
) {
    let Some(store) = &engine.store else {
        return;
    };
    let deadline = tokio::time::Instant::now() + SETTLE_LOST_SEND;
    while tokio::time::Instant::now() < deadline {
        let recorded = store
            .run(state.run_id())
            .await
            .ok()
            .flatten()
            .and_then(|run| {
                run.intents
                    .into_iter()
                    .find(|intent| intent.step_id == step_id)
                    .and_then(|intent| intent.action_id)
            });
        match recorded {
            Some(id) if id == action.action_id => return,
            Some(other) => {
                let stopped = engine.platform.stop_action(action.action_id).await;
                engine.sink.emit(&Event::Warning {
                    step_id: Some(step_id.to_owned()),
                    message: match stopped {
                        Ok(()) => format!(
                            "this process lost the run while sending: action {} duplicated action {other} of the process now driving the run, and was stopped",
                            action.action_id
                        ),
                        Err(error) => format!(
                            "this process lost the run while sending: action {} duplicates action {other} and could NOT be stopped ({}); stop it by hand",
                            action.action_id,
                            state.redactor.redact_text(&error.message)
                        ),
                    },
                });
                return;
            }
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    engine.sink.emit(&Event::Warning {
        step_id: Some(step_id.to_owned()),
        message: format!(
            "this process lost the run while sending action {}; the process now driving the run has not recorded its action yet: check that only one action named `{}` runs",
            action.action_id,
            state.redactor.redact_text(&action.name)
        ),
    });
}

/// An `issue` step that stopped while its action may exist: the error says so, with the name
/// to look for, wherever it is shown (human summary, `--json`, `runs show`).
fn may_have_been_issued(unique_name: &str, why: &str) -> StepError {
    StepError::new(format!(
        "{why}; the action MAY HAVE BEEN ISSUED: look in Tanium for an action named `{unique_name}` before running again (`runbook runs resume` looks it up and adopts it instead of issuing a second one)"
    ))
}

/// The `Default` action group refused: the validator's message and help.
fn default_action_group_error() -> StepError {
    StepError::new(format!(
        "{DEFAULT_ACTION_GROUP_REFUSED}; {DEFAULT_ACTION_GROUP_HELP}"
    ))
}

mod plan;
mod rollout;

pub(crate) use plan::plan;

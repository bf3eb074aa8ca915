//! `issue` with `rollout`: the action issued in cumulative waves, one action per wave.
//!
//! The endpoints the target matches are listed by name once (a question), ordered by a hash
//! of the run id and the name, and the order and the wave sizes saved in the store before
//! anything is issued: a resumed rollout continues with the same listing and split, never
//! listing again. Each wave is an action of its own, exactly once like any action: its own
//! intent (keyed `<step>@wave<k>`) and unique name, adopted by name on resume. A wave is done
//! when `until_percent` of its endpoints finished; beyond `max_failed_percent` failures (per
//! wave or overall) the rollout aborts, stopping the running wave's action with
//! `stop_on_abort`. Endpoints that join the target after the listing are not included.

use std::time::Duration;

use chrono::{DateTime, Utc};
use runbook_playbook::{IssueStep, Rollout, Step, rollout_defaults};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    COUNT_WAIT, Rendered, active_seconds, guard_count, guard_issue, record_answer, recorded_action,
    render, send, time_text, unique_action_name, verifies,
};
use crate::events::Event;
use crate::platform::{ActionInfo, ActionSpec};
use crate::run::{Engine, IssuedAction, RunState, StepDone, StepError, store_error};
use crate::steps::dead_word;
use crate::steps::stop_action::stop_action;
use crate::values::{round_tenth, share};

mod split;

pub(crate) use split::{wave_order, wave_slices, wave_target};

/// What a rollout saves in the store as it goes, so that a resumed rollout continues with the
/// same listing and split (and knows which waves are done).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Progress {
    /// The endpoints listed, in wave order.
    names: Vec<String>,
    /// The cumulative size of each wave.
    sizes: Vec<u64>,
    /// The waves issued so far, in order.
    waves: Vec<WaveRecord>,
    /// When the next wave may be issued (RFC 3339, real time): the end of the pause after
    /// the last finished wave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_wave_at: Option<String>,
    /// Why the rollout aborted, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aborted: Option<String>,
}

/// One wave issued, and how far it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WaveRecord {
    /// 1-based, as written in the playbook.
    wave: u32,
    action_id: u64,
    saved_action_id: u64,
    targeted: u64,
    completed: u64,
    failed: u64,
    finished: u64,
    /// Its `until_percent` finished (or it ended otherwise): it is not watched again.
    done: bool,
}

impl WaveRecord {
    fn output(&self) -> Value {
        json!({
            "wave": self.wave,
            "action_id": self.action_id,
            "targeted": self.targeted,
            "completed": self.completed,
            "failed": self.failed,
            "finished": self.finished,
        })
    }
}

/// How far a wave came when its watch ended.
struct WaveEnd {
    completed: u64,
    failed: u64,
    finished: u64,
    /// Why the wave ended short of its share: its action was stopped or expired.
    cut_short: Option<String>,
}

/// Runs an `issue` step with a `rollout`.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    issue: &IssueStep,
    rollout: &Rollout,
) -> Result<StepDone, StepError> {
    let rendered = render(engine, state, issue).await?;
    let verify = verifies(engine, state, &rendered).await?;
    let mut progress = match state.prior_progress.get(&step.id) {
        Some(saved) => {
            let saved = serde_json::from_value::<Progress>(saved.clone()).map_err(|error| {
                StepError::new(format!(
                    "the recorded progress of this rollout cannot be read ({error}); nothing more was issued"
                ))
            })?;
            // The listing is saved through the run's redactor: a name holding a secret was
            // saved hidden, and a wave built from it would miss its endpoint.
            if hides_names(&saved) {
                return Err(StepError::new(
                    "the recorded listing of this rollout holds names hidden as secrets (a secret is part of an endpoint's name), so its remaining waves cannot be targeted safely; nothing more was issued: run the playbook again to reach the endpoints left",
                ));
            }
            saved
        }
        None => list(engine, state, step, issue, rollout, &rendered).await?,
    };
    // Waves issued before a resume are this run's actions too (for polls after the step,
    // and the run's list of issued actions).
    for record in &progress.waves {
        remember(state, record, verify);
    }
    let wave_count = u32::try_from(progress.sizes.len()).unwrap_or(u32::MAX);
    if let Some(why) = progress.aborted.clone() {
        // The process stopped while aborting: stop again (stopping is idempotent) and fail.
        return Err(abort(engine, state, rollout, &progress, why).await);
    }
    let order = progress.names.clone();
    let sizes = progress.sizes.clone();
    let mut last_action: Option<ActionInfo> = None;
    for (index, names) in wave_slices(&order, &sizes).into_iter().enumerate() {
        let wave = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let done_before = progress
            .waves
            .iter()
            .any(|record| record.wave == wave && record.done);
        if names.is_empty() || done_before {
            continue;
        }
        wait_for_next_wave(engine, &progress).await?;
        let targeted = names.len() as u64;
        let (action, adopted) =
            issue_wave(engine, state, step, issue, &rendered, wave, names).await?;
        let record = WaveRecord {
            wave,
            action_id: action.action_id,
            saved_action_id: action.saved_action_id,
            targeted,
            completed: 0,
            failed: 0,
            finished: 0,
            done: false,
        };
        remember(state, &record, verify);
        progress.waves.retain(|earlier| earlier.wave != wave);
        progress.waves.push(record);
        progress.next_wave_at = None;
        save(engine, state, step, &progress).await?;
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
        engine.emit(
            state,
            Event::WaveStarted {
                step_id: step.id.clone(),
                wave,
                waves: wave_count,
                action_id: action.action_id,
                targeted,
                adopted,
            },
        );
        let active = Duration::from_secs(active_seconds(
            issue,
            rendered.not_before,
            rendered.not_after,
            Utc::now(),
        )) + issue.distribute;
        let end = watch_wave(
            engine, state, step, rollout, &action, verify, targeted, active,
        )
        .await?;
        let why = {
            let record = progress
                .waves
                .last_mut()
                .ok_or_else(|| StepError::new("the wave just issued is not recorded"))?;
            record.completed = end.completed;
            record.failed = end.failed;
            record.finished = end.finished;
            record.done = true;
            // Earlier waves go on after they were done (their last endpoints finish, or
            // fail): their counts are read again, so that the share over every wave is now.
            refresh_earlier(engine, &mut progress, verify).await?;
            abort_reason(rollout, &progress, end.cut_short)
        };
        engine.emit(
            state,
            Event::WaveFinished {
                step_id: step.id.clone(),
                wave,
                waves: wave_count,
                action_id: action.action_id,
                targeted,
                completed: end.completed,
                failed: end.failed,
                finished: end.finished,
                aborted: why.is_some(),
            },
        );
        if let Some(why) = why {
            progress.aborted = Some(why.clone());
            save(engine, state, step, &progress).await?;
            return Err(abort(engine, state, rollout, &progress, why).await);
        }
        if !rollout.pause.is_zero() {
            // A pause too long for the calendar waits as long as it can.
            let pause = chrono::Duration::from_std(engine.pace.real_duration(rollout.pause))
                .unwrap_or(chrono::Duration::MAX);
            let next = Utc::now()
                .checked_add_signed(pause)
                .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
            progress.next_wave_at = Some(time_text_precise(next));
        }
        save(engine, state, step, &progress).await?;
        last_action = Some(action);
    }
    refresh_earlier(engine, &mut progress, verify).await?;
    // The last wave's action as it is now (also after a resume that found every wave done).
    let last_action = match (last_action, progress.waves.last()) {
        (Some(action), _) => Some(
            engine
                .platform
                .action(action.action_id)
                .await
                .unwrap_or(action),
        ),
        (None, Some(record)) => Some(engine.platform.action(record.action_id).await?),
        (None, None) => None,
    };
    Ok(done(
        state,
        &rendered,
        &progress,
        last_action.as_ref(),
        verify,
    ))
}

/// Lists the endpoints the target matches by name, applies the guard and `min_endpoints` to
/// their number, orders them and saves the listing and the wave sizes before anything is
/// issued.
async fn list(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    issue: &IssueStep,
    rollout: &Rollout,
    rendered: &Rendered,
) -> Result<Progress, StepError> {
    let names = engine
        .platform
        .list_endpoints(
            rendered.target_group_id,
            engine.pace.real_duration(COUNT_WAIT),
        )
        .await?;
    let listed = names.len() as u64;
    guard_count(engine, state, step, issue.min_endpoints, listed, false)?;
    guard_issue(engine, state, step, issue, rendered, listed).await?;
    let progress = Progress {
        names: wave_order(state.run_id(), names),
        sizes: rollout.sizes(listed),
        ..Progress::default()
    };
    save(engine, state, step, &progress).await?;
    Ok(progress)
}

/// Saves the rollout's progress in the store (nothing without one: such a run cannot be
/// resumed anyway).
async fn save(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    progress: &Progress,
) -> Result<(), StepError> {
    let Some(store) = &engine.store else {
        return Ok(());
    };
    let value = serde_json::to_value(progress)
        .map_err(|error| StepError::new(format!("the rollout's progress: {error}")))?;
    store
        .save_progress(
            state.run_id(),
            &step.id,
            &state.redactor.redact_json(&value),
        )
        .await
        .map_err(store_error)
}

/// Waits out the pause after the last finished wave (what is left of it after a resume).
async fn wait_for_next_wave(engine: &Engine, progress: &Progress) -> Result<(), StepError> {
    let Some(at) = progress
        .next_wave_at
        .as_deref()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
    else {
        return Ok(());
    };
    let left = (at.with_timezone(&Utc) - Utc::now())
        .to_std()
        .unwrap_or_default();
    if left.is_zero() {
        return Ok(());
    }
    engine.pause_real(left).await
}

/// An RFC 3339 time to the millisecond (a pause may be short on a fast clock).
fn time_text_precise(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Issues one wave's action exactly once: adopted when a previous attempt recorded its
/// intent and the action exists, else sent to a group of the wave's names, its intent (keyed
/// by the wave) durable first.
async fn issue_wave(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    issue: &IssueStep,
    rendered: &Rendered,
    wave: u32,
    names: &[String],
) -> Result<(ActionInfo, bool), StepError> {
    let intent_key = format!("{}@wave{wave}", step.id);
    let unique_name = unique_action_name(&rendered.name, state.run_id(), &intent_key);
    let (action, adopted) = match recorded_action(engine, state, &intent_key, &unique_name).await? {
        Some(existing) => (existing, true),
        None => {
            let group = engine.platform.create_target(&wave_target(names)).await?;
            let spec = ActionSpec {
                name: unique_name,
                action_group_id: rendered.action_group.id,
                target_group_id: group.group_id,
                target_filter_flag: group.filter_flag,
                package_id: rendered.package_id,
                parameters: rendered.parameters.clone(),
                expire_seconds: active_seconds(
                    issue,
                    rendered.not_before,
                    rendered.not_after,
                    Utc::now(),
                ),
                distribute_seconds: issue.distribute.as_secs(),
                issue_seconds: issue.issue_seconds,
                start_time: rendered.not_before,
                expiration_time: rendered.not_after,
            };
            if spec.expiration_time.is_some() && spec.expire_seconds == 0 {
                return Err(StepError::new(format!(
                    "`not_after` passed before wave {wave} was issued: its action would have expired already; wave {wave} and those after it were not issued"
                )));
            }
            send(engine, state, &intent_key, &spec).await?
        }
    };
    record_answer(engine, state, &intent_key, &action, adopted).await?;
    Ok((action, adopted))
}

/// Reads a wave's results until `until_percent` of its endpoints finished, its failures are
/// surely beyond `max_failed_percent` (more failed than the share allows of the whole wave),
/// or its action ended (stopped or expired). Reads less often while nothing changes.
#[allow(clippy::too_many_arguments)]
async fn watch_wave(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    rollout: &Rollout,
    action: &ActionInfo,
    verify: bool,
    targeted: u64,
    active: Duration,
) -> Result<WaveEnd, StepError> {
    let action_id = action.action_id;
    let until = u64::from(rollout.until_percent);
    let most_failed = u64::from(rollout.max_failed_percent);
    let stopwatch = engine.pace.start();
    let mut interval = rollout.interval;
    let mut last_seen: Option<(u64, u64)> = None;
    loop {
        let results = engine.platform.action_results(action_id, verify, 1).await?;
        let end = WaveEnd {
            completed: results.completed,
            failed: results.failed,
            finished: results.finished,
            cut_short: None,
        };
        engine.emit(
            state,
            Event::PollProgress {
                step_id: step.id.clone(),
                action_id,
                percent: round_tenth(share(results.mr_tested, results.estimated_total)),
                finished_percent: round_tenth(share(results.finished, targeted)),
                mr_tested: results.mr_tested,
                estimated_total: results.estimated_total,
                finished: results.finished,
                expected: targeted,
                statuses: results.statuses.clone(),
                until_percent: rollout.until_percent,
                left_seconds: None,
            },
        );
        engine.flush(state).await?;
        let reached = results.finished * 100 >= until * targeted;
        let surely_beyond = results.failed * 100 > most_failed * targeted;
        if reached || surely_beyond {
            return Ok(end);
        }
        let stalled = last_seen == Some((results.mr_tested, results.finished));
        if stalled || stopwatch.elapsed() >= active {
            let now = engine.platform.action(action_id).await?;
            if now.is_dead() {
                return Ok(WaveEnd {
                    cut_short: Some(format!(
                        "action {action_id} was {} before {}% of its {targeted} endpoints finished ({} did)",
                        dead_word(&now),
                        rollout.until_percent,
                        results.finished
                    )),
                    ..end
                });
            }
        }
        interval = if stalled {
            interval
                .mul_f64(1.5)
                .min(rollout_defaults::MAX_INTERVAL.max(rollout.interval))
        } else {
            rollout.interval
        };
        last_seen = Some((results.mr_tested, results.finished));
        engine.pause(interval).await?;
    }
}

/// Reads the results of the waves before the last one again (each keeps running after it was
/// done) and updates their counts.
async fn refresh_earlier(
    engine: &Engine,
    progress: &mut Progress,
    verify: bool,
) -> Result<(), StepError> {
    let earlier = progress.waves.len().saturating_sub(1);
    for record in &mut progress.waves[..earlier] {
        let results = engine
            .platform
            .action_results(record.action_id, verify, 1)
            .await?;
        record.completed = results.completed;
        record.failed = results.failed;
        record.finished = results.finished;
    }
    Ok(())
}

/// Why the rollout stops after the wave just finished (the last of `progress.waves`): its
/// action ended short, or failures beyond `max_failed_percent` of the finished endpoints, in
/// one wave (this one, or an earlier one whose late endpoints failed) or over every wave.
fn abort_reason(
    rollout: &Rollout,
    progress: &Progress,
    cut_short: Option<String>,
) -> Option<String> {
    let wave = progress.waves.last()?.wave;
    if let Some(why) = cut_short {
        return Some(format!("rollout aborted at wave {wave}: {why}"));
    }
    let most = u64::from(rollout.max_failed_percent);
    for record in progress.waves.iter().rev() {
        if record.failed * 100 > most * record.finished {
            let whose = if record.wave == wave {
                "its".to_owned()
            } else {
                format!("wave {}'s", record.wave)
            };
            return Some(format!(
                "rollout aborted at wave {wave}: {} of {whose} {} finished endpoints failed ({:.1}%), more than max_failed_percent {most}%",
                record.failed,
                record.finished,
                round_tenth(share(record.failed, record.finished))
            ));
        }
    }
    let (failed, finished) = totals(progress);
    if failed * 100 > most * finished {
        return Some(format!(
            "rollout aborted at wave {wave}: {failed} of {finished} finished endpoints failed over all waves ({:.1}%), more than max_failed_percent {most}%",
            round_tenth(share(failed, finished))
        ));
    }
    None
}

/// Failed and finished endpoints over every wave so far.
fn totals(progress: &Progress) -> (u64, u64) {
    progress
        .waves
        .iter()
        .fold((0, 0), |(failed, finished), record| {
            (failed + record.failed, finished + record.finished)
        })
}

/// Whether a saved listing holds a name the run's redactor hid (a secret is part of it).
fn hides_names(progress: &Progress) -> bool {
    progress
        .names
        .iter()
        .any(|name| name.contains(crate::redact::REDACTED))
}

/// The failure of an aborted rollout: with `stop_on_abort`, the running wave's action is
/// stopped first. Its outputs say how far every wave came.
async fn abort(
    engine: &Engine,
    state: &RunState<'_>,
    rollout: &Rollout,
    progress: &Progress,
    why: String,
) -> StepError {
    let mut message = why;
    if let Some(record) = progress.waves.last() {
        let action_id = record.action_id;
        if rollout.stop_on_abort {
            match stop_action(engine.platform.as_ref(), action_id).await {
                Ok(stopped) if stopped.already_ended => message.push_str(&format!(
                    "; action {action_id} of wave {} had ended already ({})",
                    record.wave, stopped.status
                )),
                Ok(_) => message.push_str(&format!(
                    "; action {action_id} of wave {} was stopped",
                    record.wave
                )),
                Err(error) => message.push_str(&format!(
                    "; action {action_id} of wave {} could NOT be stopped ({}): stop it by hand",
                    record.wave,
                    state.redactor.redact_text(&error.message)
                )),
            }
        } else {
            message.push_str(&format!(
                "; action {action_id} of wave {} keeps running (stop_on_abort is false)",
                record.wave
            ));
        }
    }
    let mut outputs = rollout_outputs(progress, true);
    if let Some(record) = progress.waves.last() {
        outputs.insert("action_id".to_owned(), json!(record.action_id));
        outputs.insert("saved_action_id".to_owned(), json!(record.saved_action_id));
    }
    StepError::new(message).with_outputs(outputs)
}

/// The rollout's own outputs: every wave, the totals (`targeted` also on its own, as every
/// `issue` step has it), whether it aborted.
fn rollout_outputs(progress: &Progress, aborted: bool) -> Map<String, Value> {
    let sum = |field: fn(&WaveRecord) -> u64| progress.waves.iter().map(field).sum::<u64>();
    let targeted = sum(|record| record.targeted);
    Map::from_iter([
        (
            "waves".to_owned(),
            Value::Array(progress.waves.iter().map(WaveRecord::output).collect()),
        ),
        ("listed".to_owned(), json!(progress.names.len())),
        ("targeted".to_owned(), json!(targeted)),
        (
            "totals".to_owned(),
            json!({
                "targeted": targeted,
                "completed": sum(|record| record.completed),
                "failed": sum(|record| record.failed),
                "finished": sum(|record| record.finished),
            }),
        ),
        ("aborted".to_owned(), json!(aborted)),
    ])
}

/// Records a wave's action as issued by this run.
fn remember(state: &mut RunState<'_>, record: &WaveRecord, verify: bool) {
    let known = state
        .issued
        .insert(
            record.action_id,
            IssuedAction {
                targeted: record.targeted,
                verify: Some(verify),
                saved_action_id: record.saved_action_id,
            },
        )
        .is_some();
    if !known {
        state.issued_order.push(record.action_id);
    }
}

/// The outputs and summary of a rollout that went through every wave. The usual `issue`
/// outputs describe the last wave's action (`targeted` counts every wave).
fn done(
    state: &RunState<'_>,
    rendered: &Rendered,
    progress: &Progress,
    last: Option<&ActionInfo>,
    verify: bool,
) -> StepDone {
    let known_package = state.packages.get(&rendered.package_id);
    let mut outputs = rollout_outputs(progress, false);
    let field = |value: Option<String>| value.map_or(Value::Null, Value::String);
    outputs.insert(
        "action_id".to_owned(),
        json!(last.map(|action| action.action_id)),
    );
    outputs.insert(
        "saved_action_id".to_owned(),
        json!(last.map(|action| action.saved_action_id)),
    );
    outputs.insert(
        "name".to_owned(),
        field(last.map(|action| action.name.clone())),
    );
    outputs.insert(
        "status".to_owned(),
        field(last.map(|action| action.status.clone())),
    );
    outputs.insert(
        "package_name".to_owned(),
        field(
            last.and_then(|action| action.package_name.clone())
                .or_else(|| known_package.map(|package| package.package_name.clone())),
        ),
    );
    outputs.insert(
        "command".to_owned(),
        field(
            last.and_then(|action| action.command.clone())
                .or_else(|| known_package.map(|package| package.command.clone())),
        ),
    );
    outputs.insert(
        "expires_at".to_owned(),
        field(
            last.and_then(|action| action.expires_at.clone())
                .or_else(|| rendered.not_after.map(time_text)),
        ),
    );
    outputs.insert("verify".to_owned(), json!(verify));
    let issued = progress.waves.len();
    let (failed, finished) = totals(progress);
    let summary = format!(
        "rollout of {} endpoint{} in {issued} wave{} under {}: {finished} finished, {failed} failed",
        progress.names.len(),
        if progress.names.len() == 1 { "" } else { "s" },
        if issued == 1 { "" } else { "s" },
        rendered.action_group.name,
    );
    StepDone { outputs, summary }
}

#[cfg(test)]
mod tests;

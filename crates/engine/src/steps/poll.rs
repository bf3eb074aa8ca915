//! `poll`: reads an action's results until enough endpoints reported (`mr_tested` of
//! `estimated_total`) and enough of those expected finished, slower while nothing changes.
//! The action's state (stopped, expired) is read only when it may have ended: when the
//! results stall or show endpoints cut short, and before giving up.

use std::collections::BTreeMap;
use std::time::Duration;

use runbook_playbook::{PollStep, Step};
use serde_json::{Map, Value, json};

use super::{action_id, dead_word, placeholders};
use crate::events::Event;
use crate::plan::{PlanStep, Planner, Scope};
use crate::platform::ActionProgress;
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::values::{as_u64, humanize, plan_id, poll_reached, round_tenth, share, value_text};

/// Statuses of endpoints whose action ended before they finished it.
const CUT_SHORT: [&str; 2] = ["Expired", "Stopped"];

/// Runs a `poll` step: reads the action's results until enough endpoints reported and finished.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    poll: &PollStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let action_id = action_id(engine, state, &poll.action, &context)?;
    let issued = state.issued.get(&action_id).copied();
    let expected = match &poll.expected {
        Some(template) => as_u64(&engine.render(state, template, &context)?)
            .ok_or_else(|| StepError::new("`expected` must be a whole number"))?,
        None => issued.map(|issued| issued.targeted).ok_or_else(|| {
            StepError::new(format!(
                "action {action_id} was not issued by this run, so the number of endpoints to wait for is unknown: give `expected`"
            ))
        })?,
    };
    let verify = match issued.and_then(|issued| issued.verify) {
        Some(verify) => verify,
        None => engine.platform.action_verifies(action_id).await?,
    };
    let until = f64::from(poll.until_percent);
    // A resumed poll goes on to the deadline recorded when the step first started.
    let clock = engine.wait_clock(state, poll.timeout);
    let mut interval = poll.interval;
    let mut last_seen: Option<(u64, BTreeMap<String, u64>)> = None;
    loop {
        let progress = engine
            .platform
            .action_results(action_id, verify, poll.max_rows)
            .await?;
        let percent = share(progress.mr_tested, progress.estimated_total);
        let finished_percent = if expected == 0 {
            100.0
        } else {
            share(progress.finished, expected)
        };
        // Endpoints in a success status, over those expected: what "it worked" means.
        let succeeded_percent = if expected == 0 {
            100.0
        } else {
            share(progress.completed, expected)
        };
        // Judged on the exact shares; shown rounded to a tenth.
        let reached = poll_reached(
            progress.mr_tested,
            progress.estimated_total,
            progress.finished,
            expected,
            poll.until_percent,
        );
        let (percent, finished_percent) = (round_tenth(percent), round_tenth(finished_percent));
        let stalled = last_seen.as_ref().is_some_and(|(mr_tested, statuses)| {
            *mr_tested == progress.mr_tested && *statuses == progress.statuses
        });
        let timed_out = clock.expired();
        // The action's own state matters only when it may have ended: when its results stall,
        // when endpoints report it cut short (`Expired`, `Stopped`), or when the step is about
        // to end without its share. While results move, reading it every time would double
        // the requests for nothing.
        let cut_short = CUT_SHORT
            .iter()
            .any(|word| progress.statuses.get(*word).is_some_and(|count| *count > 0));
        if stalled || cut_short || (timed_out && !reached) {
            let action = engine.platform.action(action_id).await?;
            // A stopped action fails the step. One that expired after enough endpoints had
            // really finished (not merely been marked Expired or Stopped) is done.
            let really_finished = progress.finished.saturating_sub(
                CUT_SHORT
                    .iter()
                    .filter_map(|word| progress.statuses.get(*word))
                    .sum::<u64>(),
            );
            let stopped = action.stopped || action.status.eq_ignore_ascii_case("stopped");
            let done_before_expiry =
                expected == 0 || (percent >= until && share(really_finished, expected) >= until);
            if action.is_dead() && (stopped || !done_before_expiry) {
                return Err(StepError::new(format!(
                    "action {action_id} was {} before it finished",
                    dead_word(&action)
                )));
            }
        }
        engine.emit(
            state,
            Event::PollProgress {
                step_id: step.id.clone(),
                action_id,
                percent,
                finished_percent,
                mr_tested: progress.mr_tested,
                estimated_total: progress.estimated_total,
                finished: progress.finished,
                expected,
                statuses: progress.statuses.clone(),
                until_percent: poll.until_percent,
                left_seconds: Some(clock.left().as_secs()),
            },
        );
        engine.flush(state).await?;
        if reached || timed_out {
            if !reached && !poll.allow_partial {
                return Err(StepError::new(format!(
                    "action {action_id} did not reach {}% within {}: {:.0}% reporting, {} of {expected} endpoints finished",
                    poll.until_percent,
                    humanize(poll.timeout),
                    percent,
                    progress.finished
                )));
            }
            return Ok(done(
                &progress,
                expected,
                (percent, finished_percent, succeeded_percent),
                reached,
            ));
        }
        // Poll less often while nothing changes; go back to the base interval on news.
        if stalled {
            interval = interval
                .mul_f64(1.5)
                .min(poll.max_interval.max(poll.interval));
        } else {
            interval = poll.interval;
        }
        last_seen = Some((progress.mr_tested, progress.statuses));
        engine
            .pause(interval.min(clock.left()).max(Duration::from_millis(1)))
            .await?;
    }
}

/// The outputs of a poll that reached its share (or timed out with `allow_partial`); the
/// shares are (reporting, finished, succeeded) percent.
fn done(
    progress: &ActionProgress,
    expected: u64,
    (percent, finished_percent, succeeded_percent): (f64, f64, f64),
    reached: bool,
) -> StepDone {
    let rows: Vec<Value> = progress
        .rows
        .iter()
        .map(|row| json!({"computer_name": row.computer_name, "status": row.status, "count": row.count}))
        .collect();
    let summary = format!(
        "{} of {expected} endpoints finished ({} completed, {} failed), {:.0}% reporting{}",
        progress.finished,
        progress.completed,
        progress.failed,
        percent,
        if reached {
            ""
        } else {
            "; timed out, partial results"
        }
    );
    let outputs = Map::from_iter([
        ("percent".to_owned(), json!(percent)),
        ("finished_percent".to_owned(), json!(finished_percent)),
        (
            "succeeded_percent".to_owned(),
            json!(round_tenth(succeeded_percent)),
        ),
        ("mr_tested".to_owned(), json!(progress.mr_tested)),
        (
            "estimated_total".to_owned(),
            json!(progress.estimated_total),
        ),
        ("reached".to_owned(), json!(reached)),
        ("statuses".to_owned(), json!(progress.statuses)),
        ("completed".to_owned(), json!(progress.completed)),
        ("failed".to_owned(), json!(progress.failed)),
        ("rows".to_owned(), Value::Array(rows)),
        ("rows_truncated".to_owned(), json!(progress.rows_truncated)),
    ]);
    StepDone { outputs, summary }
}

/// Plans a `poll` step: the reads it would make, and when it stops.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    poll: &PollStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let action = plan_id(&planner.render_known(&poll.action, scope)?);
    let expected = match &poll.expected {
        Some(template) => value_text(&planner.render_known(template, scope)?),
        None => "the endpoints counted when the action was issued".to_owned(),
    };
    planned.details.push(format!(
        "poll action {action} every {} (growing to {} while nothing changes, at most {}) until {}% report and {}% of {expected} finished{}",
        humanize(poll.interval),
        humanize(poll.max_interval),
        humanize(poll.timeout),
        poll.until_percent,
        poll.until_percent,
        if poll.allow_partial { "; partial results allowed on timeout" } else { "" }
    ));
    planned.requests = planner.platform.plan_poll(&action);
    Ok(placeholders(step))
}

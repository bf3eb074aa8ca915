//! `question`: asks the endpoints (sensors with an optional filter, or a saved question),
//! waits until enough of them answered (`mr_tested` of `estimated_total`), checking less often
//! while nothing changes, then reads the answer. Only reads: a resumed run may ask again, and
//! the wait keeps the deadline recorded when the step first started.

use std::collections::BTreeMap;
use std::time::Duration;

use runbook_playbook::{Combine, Operator, QuestionAsk, QuestionStep, SensorGet, Step};
use serde_json::{Map, Value, json};

use super::{clauses, placeholders, platform_error_kind};
use crate::events::Event;
use crate::plan::{PlanStep, Planner, Scope};
use crate::platform::{
    ClauseValue, PlanValue, QuestionAnswer, QuestionFilter, QuestionProgress, QuestionRequest,
    SensorSelect, TargetClause,
};
use crate::run::{Engine, RunState, StepDone, StepError};
use crate::values::{humanize, question_reached, round_tenth, share, value_text};

/// Runs a `question` step: asks, waits for the answers, reads them.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    question: &QuestionStep,
) -> Result<StepDone, StepError> {
    let (request, secret) = render(engine, state, step, question)?;
    let asked = match engine.platform.ask_question(&request).await {
        Ok(asked) => asked,
        // The platform's message may quote the question in its own escaping, which the
        // redactor would not recognise.
        Err(error) if secret => {
            return Err(StepError::new(format!(
                "the question could not be asked ({}; details withheld: the question holds a value computed from a secret)",
                platform_error_kind(error.kind)
            )));
        }
        Err(error) => return Err(error.into()),
    };
    if secret {
        state.redactor.add(&asked.text);
    }
    let progress = wait(engine, state, step, question, asked.question_id).await?;
    let answer = engine
        .platform
        .question_answer(asked.question_id, question.max_rows)
        .await?;
    Ok(done(asked.question_id, &asked.text, progress, answer))
}

/// The request a run sends, and whether a value in it was computed from a secret.
fn render(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    question: &QuestionStep,
) -> Result<(QuestionRequest, bool), StepError> {
    let context = state.context();
    match &question.ask {
        QuestionAsk::Sensors { get, from } => {
            let mut secret = false;
            let mut selects = Vec::with_capacity(get.len());
            for sensor in get {
                let mut params = BTreeMap::new();
                for (key, template) in &sensor.params {
                    let value = engine.render_tracked(state, template, &context)?;
                    secret |= !value.taint.is_clean();
                    params.insert(key.clone(), value_text(&value.value));
                }
                selects.push(SensorSelect {
                    sensor: sensor.sensor.clone(),
                    params,
                });
            }
            // Every clause left out by its `when`: the question goes to every machine, which
            // only reads (a target would refuse).
            let from = match from {
                Some(from) => {
                    let rendered =
                        clauses::render(engine, state, &step.id, &from.clauses, &context)?;
                    secret |= rendered.secret;
                    (!rendered.clauses.is_empty()).then_some(QuestionFilter {
                        combine: from.combine,
                        clauses: rendered.clauses,
                    })
                }
                None => None,
            };
            Ok((QuestionRequest::Sensors { get: selects, from }, secret))
        }
        QuestionAsk::Saved(name) => {
            let value = engine.render_tracked(state, name, &context)?;
            let request = QuestionRequest::Saved {
                name_or_id: value_text(&value.value),
            };
            Ok((request, !value.taint.is_clean()))
        }
    }
}

/// Waits until `until_percent` of the endpoints answered, checking every `interval`, growing
/// by half while nothing changes (up to `max_interval`). Times out with the share reached.
async fn wait(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    question: &QuestionStep,
    question_id: u64,
) -> Result<QuestionProgress, StepError> {
    let clock = engine.wait_clock(state, question.timeout);
    let mut interval = question.interval;
    let mut last: Option<QuestionProgress> = None;
    loop {
        let progress = engine.platform.question_progress(question_id).await?;
        let reached = question_reached(
            progress.mr_tested,
            progress.estimated_total,
            question.until_percent,
        );
        let percent = round_tenth(share(progress.mr_tested, progress.estimated_total));
        engine.emit(
            state,
            Event::QuestionProgress {
                step_id: step.id.clone(),
                question_id,
                percent,
                mr_tested: progress.mr_tested,
                estimated_total: progress.estimated_total,
                until_percent: question.until_percent,
                left_seconds: Some(clock.left().as_secs()),
            },
        );
        engine.flush(state).await?;
        if reached {
            return Ok(progress);
        }
        if clock.expired() {
            return Err(StepError::new(format!(
                "question {question_id} did not reach {}% answered within {}: {percent}% answered ({} of {} endpoints){}",
                question.until_percent,
                humanize(question.timeout),
                progress.mr_tested,
                progress.estimated_total,
                if progress.estimated_total == 0 {
                    "; no endpoint was expected to answer"
                } else {
                    ""
                }
            )));
        }
        // Check less often while nothing changes; go back to the base interval on news.
        interval = if last == Some(progress) {
            interval.mul_f64(1.5).min(question.max_interval)
        } else {
            question.interval
        };
        last = Some(progress);
        engine
            .pause(interval.min(clock.left()).max(Duration::from_millis(1)))
            .await?;
    }
}

/// The outputs of an answered question. The counts come from the answer when it carries them
/// (it is read after the wait), else from the wait's last check.
fn done(
    question_id: u64,
    text: &str,
    progress: QuestionProgress,
    answer: QuestionAnswer,
) -> StepDone {
    let (mr_tested, estimated_total) = if answer.estimated_total > 0 {
        (answer.mr_tested, answer.estimated_total)
    } else {
        (progress.mr_tested, progress.estimated_total)
    };
    let percent = round_tenth(share(mr_tested, estimated_total));
    let mut summary = format!(
        "question {question_id} ({text}): {} row(s) from {mr_tested} of {estimated_total} endpoints ({percent:.0}% answered)",
        answer.row_count
    );
    if answer.rows_truncated {
        summary.push_str(&format!("; the first {} kept", answer.rows.len()));
    }
    if answer.unavailable > 0 {
        summary.push_str(&format!(
            "; {} row(s) without data (results unavailable, no results or errors)",
            answer.unavailable
        ));
    }
    let outputs = Map::from_iter([
        ("rows".to_owned(), Value::Array(answer.rows)),
        ("row_count".to_owned(), json!(answer.row_count)),
        ("rows_truncated".to_owned(), json!(answer.rows_truncated)),
        ("columns".to_owned(), json!(answer.columns)),
        ("percent".to_owned(), json!(percent)),
        ("mr_tested".to_owned(), json!(mr_tested)),
        ("estimated_total".to_owned(), json!(estimated_total)),
        ("question_id".to_owned(), json!(question_id)),
        ("unavailable".to_owned(), json!(answer.unavailable)),
    ]);
    StepDone { outputs, summary }
}

/// Plans a `question` step: what it asks, the requests it would send, and when it stops.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    question: &QuestionStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let mut secret = false;
    let mut lines = Vec::new();
    let request = match &question.ask {
        QuestionAsk::Sensors { get, from } => {
            let mut selects = Vec::with_capacity(get.len());
            for sensor in get {
                let mut params = BTreeMap::new();
                for (key, template) in &sensor.params {
                    let (value, taint) = planner.render_known_shown(template, scope)?;
                    secret |= !taint.is_clean();
                    params.insert(key.clone(), value_text(&value));
                }
                selects.push(SensorSelect {
                    sensor: sensor.sensor.clone(),
                    params,
                });
            }
            lines.push(format!("question: get {}", describe_selects(get, &selects)));
            let from = match from {
                Some(from) => {
                    let rendered =
                        clauses::plan(planner, &from.clauses, scope, &mut planned.details)?;
                    secret |= rendered.secret;
                    (!rendered.clauses.is_empty()).then_some(QuestionFilter {
                        combine: from.combine,
                        clauses: rendered.clauses,
                    })
                }
                None => None,
            };
            lines.push(match &from {
                Some(filter) => format!(
                    "from the machines where {} of: {}",
                    match filter.combine {
                        Combine::All => "all",
                        Combine::Any => "any",
                    },
                    describe_clauses(&filter.clauses)
                ),
                None => "from all machines".to_owned(),
            });
            QuestionRequest::Sensors { get: selects, from }
        }
        QuestionAsk::Saved(name) => {
            let (value, taint) = planner.render_known_shown(name, scope)?;
            secret |= !taint.is_clean();
            let name_or_id = value_text(&value);
            lines.push(format!("question: the saved question `{name_or_id}`"));
            QuestionRequest::Saved { name_or_id }
        }
    };
    for line in lines {
        // A line built from a secret value is a secret as a whole (as a target's text is).
        if secret {
            scope.secrets.add(&line);
        }
        planned.details.push(line);
    }
    planned.details.push(format!(
        "wait until {}% of the endpoints answered, checking every {} (growing to {} while nothing changes), at most {}; keep at most {} row(s)",
        question.until_percent,
        humanize(question.interval),
        humanize(question.max_interval),
        humanize(question.timeout),
        question.max_rows
    ));
    planned.requests = planner
        .platform
        .plan_question(&PlanValue::Known(request.clone()));
    planned.lookups.question = Some(request);
    Ok(placeholders(step))
}

/// The sensors of a plan's detail line: `Computer Name`, `File Exists` (path: C:\evil.exe).
fn describe_selects(written: &[SensorGet], selects: &[SensorSelect]) -> String {
    written
        .iter()
        .zip(selects)
        .map(|(written, select)| {
            if select.params.is_empty() {
                format!("`{}`", select.sensor)
            } else {
                // In the order written, which the request's map does not keep.
                let params: Vec<String> = written
                    .params
                    .keys()
                    .filter_map(|key| {
                        select
                            .params
                            .get(key)
                            .map(|value| format!("{key}: {value}"))
                    })
                    .collect();
                format!("`{}` ({})", select.sensor, params.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Clauses as a plan's detail line shows them: `Computer Name equals "a"`, or `any of
/// ["a", "b"]` for `values` (`none of` with `not_equals`).
pub(crate) fn describe_clauses(clauses: &[TargetClause]) -> String {
    clauses
        .iter()
        .map(|clause| {
            let value = match &clause.value {
                ClauseValue::One(value) => json!(value).to_string(),
                ClauseValue::AnyOf(values) if clause.op == Operator::NotEquals => {
                    format!("none of {}", json!(values))
                }
                ClauseValue::AnyOf(values) => format!("any of {}", json!(values)),
            };
            format!("{} {} {value}", clause.sensor, clause.op.as_str())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

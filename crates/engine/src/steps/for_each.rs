//! `for_each` steps: the nested steps run once per item, `concurrency` items at a time, each
//! item in a state of its own (`RunState::for_item`) that sees the item, `loop.index`, the
//! steps before the loop and its own earlier steps.
//!
//! Exactly once per item: an item's steps are recorded as `<loop>[<index>].<step>`, an action
//! issued in an item carries `<step>#<index>` in its unique name, and a resumed run goes
//! through every item again: finished steps are restored from the record, an issued action is
//! adopted by its name, a failed item stays failed. Items not started because the loop had
//! failed (more than `max_failures` items failed) are `skipped`.

mod plan;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::stream::{self, StreamExt};
use runbook_playbook::{ForEachStep, MAX_LOOP_ITEMS, Step};
use serde_json::{Map, Value, json};

pub(crate) use self::plan::plan;
use crate::events::Event;
use crate::run::{Engine, RunState, StepDone, StepError, StepsEnd};
use crate::template::Taint;

/// How one item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemStatus {
    Succeeded,
    Failed,
    /// Not started: the loop had failed, or was cancelled.
    Skipped,
    /// Stopped at a checkpoint (a shutdown, a lost claim, a parked gate): a resume runs it on.
    Interrupted,
    Cancelled,
}

impl ItemStatus {
    fn word(self) -> &'static str {
        match self {
            ItemStatus::Succeeded => "succeeded",
            ItemStatus::Failed => "failed",
            ItemStatus::Skipped => "skipped",
            ItemStatus::Interrupted => "interrupted",
            ItemStatus::Cancelled => "cancelled",
        }
    }
}

/// One item's end, and the state it ran in (to take back what the run needs of it).
struct ItemEnd<'a> {
    index: usize,
    item: Value,
    status: ItemStatus,
    error: Option<String>,
    outputs: Map<String, Value>,
    state: Option<RunState<'a>>,
}

/// What the items share while the loop runs.
#[derive(Default)]
struct Tally {
    failed: AtomicUsize,
    done: AtomicUsize,
    /// No more items start: too many failed, or the run was cancelled or is stopping.
    stop: AtomicBool,
}

/// Runs a `for_each` step.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    each: &ForEachStep,
) -> Result<StepDone, StepError> {
    let context = state.context();
    let rendered = engine.render_tracked(state, &each.items, &context)?;
    let items = match rendered.value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(StepError::new(format!(
                "line {}, column {}: `items` gave {}, not a list",
                each.items.span.line,
                each.items.span.column,
                crate::values::type_word(&other)
            )));
        }
    };
    if items.len() > MAX_LOOP_ITEMS {
        return Err(StepError::new(format!(
            "`items` gave {} items; a loop runs at most {MAX_LOOP_ITEMS}",
            items.len()
        )));
    }
    let total = items.len();
    // The loop's steps are recorded at the loop's position.
    let position = state
        .current
        .as_ref()
        .map_or(0, |record| record.step_index as usize);
    let tally = Tally::default();
    let parent: &RunState<'_> = state;
    let mut ends: Vec<ItemEnd<'_>> = stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| {
            let taint = rendered.taint.part(&index.to_string()).clone();
            run_item(
                engine,
                parent,
                step,
                each,
                position,
                (index, item, taint),
                &tally,
                total,
            )
        })
        .buffer_unordered(each.concurrency.max(1) as usize)
        .collect()
        .await;
    ends.sort_by_key(|end| end.index);

    let mut results = Vec::with_capacity(ends.len());
    let mut first_failure: Option<String> = None;
    let (mut succeeded, mut failed, mut skipped) = (0u64, 0u64, 0u64);
    let (mut interrupted, mut cancelled) = (false, false);
    for end in ends {
        match end.status {
            ItemStatus::Succeeded => succeeded += 1,
            ItemStatus::Failed => failed += 1,
            ItemStatus::Skipped => skipped += 1,
            ItemStatus::Interrupted => interrupted = true,
            ItemStatus::Cancelled => cancelled = true,
        }
        if end.status == ItemStatus::Failed && first_failure.is_none() {
            first_failure = Some(format!(
                "item {} ({}): {}",
                end.index,
                crate::values::value_text(&end.item),
                end.error.as_deref().unwrap_or("failed")
            ));
        }
        let mut result = Map::from_iter([
            ("item".to_owned(), end.item),
            ("status".to_owned(), Value::from(end.status.word())),
            ("outputs".to_owned(), Value::Object(end.outputs)),
        ]);
        if let Some(error) = end.error {
            result.insert("error".to_owned(), Value::from(error));
        }
        results.push(Value::Object(result));
        if let Some(item_state) = end.state {
            state.absorb(item_state);
        }
    }
    if cancelled {
        return Err(StepError::cancelled(
            "the run was cancelled (runbook runs cancel)",
        ));
    }
    if interrupted {
        return Err(StepError::interrupted());
    }
    let summary = format!(
        "{total} item{}: {succeeded} succeeded, {failed} failed, {skipped} skipped",
        if total == 1 { "" } else { "s" }
    );
    let outputs = Map::from_iter([
        ("results".to_owned(), Value::Array(results)),
        ("succeeded".to_owned(), json!(succeeded)),
        ("failed".to_owned(), json!(failed)),
        ("skipped".to_owned(), json!(skipped)),
    ]);
    if failed > u64::from(each.max_failures) {
        // The failure handlers (and the steps after it, with `continue_on_error`) still
        // read which items got how far: what to undo.
        state.partial = Some(
            engine
                .seal(state, step, StepDone { outputs, summary })
                .outputs,
        );
        return Err(StepError::new(format!(
            "{failed} of {total} items failed (max_failures: {}); first: {}",
            each.max_failures,
            first_failure.unwrap_or_default()
        )));
    }
    Ok(StepDone { outputs, summary })
}

/// Runs one item's steps in a state of its own, unless the loop stopped taking items.
#[allow(clippy::too_many_arguments)]
async fn run_item<'a>(
    engine: &Engine,
    parent: &RunState<'a>,
    step: &Step,
    each: &ForEachStep,
    position: usize,
    (index, item, taint): (usize, Value, Taint),
    tally: &Tally,
    total: usize,
) -> ItemEnd<'a> {
    let not_started = |status| ItemEnd {
        index,
        item: item.clone(),
        status,
        error: None,
        outputs: Map::new(),
        state: None,
    };
    if engine.stopping() {
        tally.stop.store(true, Ordering::SeqCst);
        return not_started(ItemStatus::Interrupted);
    }
    if tally.stop.load(Ordering::SeqCst) {
        let end = not_started(ItemStatus::Skipped);
        report(engine, parent, step, &end, tally, total);
        return end;
    }
    let mut child = parent.for_item(
        (&step.id, position),
        index,
        &each.item_name,
        item.clone(),
        taint,
    );
    let mut steps_end = StepsEnd::default();
    engine
        .step_list(&mut child, &each.steps, position, &mut steps_end)
        .await;
    let _ = engine.flush(&child).await;
    let status = if steps_end.cancelled {
        ItemStatus::Cancelled
    } else if steps_end.interrupted {
        ItemStatus::Interrupted
    } else if steps_end.failure.is_some() {
        ItemStatus::Failed
    } else {
        ItemStatus::Succeeded
    };
    match status {
        ItemStatus::Failed => {
            let failed = tally.failed.fetch_add(1, Ordering::SeqCst) + 1;
            if failed > each.max_failures as usize {
                tally.stop.store(true, Ordering::SeqCst);
            }
        }
        ItemStatus::Cancelled | ItemStatus::Interrupted => tally.stop.store(true, Ordering::SeqCst),
        ItemStatus::Succeeded | ItemStatus::Skipped => {}
    }
    let outputs: Map<String, Value> = each
        .steps
        .iter()
        .filter_map(|nested| {
            child
                .steps
                .get(&nested.id)
                .map(|outputs| (nested.id.clone(), outputs.clone()))
        })
        .collect();
    let end = ItemEnd {
        index,
        item,
        status,
        error: steps_end.failure,
        outputs,
        state: Some(child),
    };
    if !matches!(status, ItemStatus::Interrupted | ItemStatus::Cancelled) {
        report(engine, parent, step, &end, tally, total);
    }
    end
}

/// Emits that an item ended.
fn report(
    engine: &Engine,
    parent: &RunState<'_>,
    step: &Step,
    end: &ItemEnd<'_>,
    tally: &Tally,
    total: usize,
) {
    let done = tally.done.fetch_add(1, Ordering::SeqCst) + 1;
    engine.emit(
        parent,
        Event::LoopItem {
            step_id: step.id.clone(),
            index: end.index,
            status: end.status.word().to_owned(),
            error: end.error.clone(),
            done,
            total,
        },
    );
}

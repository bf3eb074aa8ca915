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

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::stream::{self, StreamExt};
use runbook_playbook::{ForEachStep, MAX_LOOP_ITEMS, Step};
use serde_json::{Map, Value, json};

pub(crate) use self::plan::plan;
use crate::events::Event;
use crate::redact::mask;
use crate::run::{Engine, ItemTakeaway, RunState, StepDone, StepError, StepsEnd};
use crate::store::StepStatus;
use crate::template::Taint;
use crate::values::{type_word, value_text};

/// How one item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemStatus {
    Succeeded,
    Failed,
    /// Not started: the loop had failed.
    Skipped,
    /// Stopped at a checkpoint (a shutdown, a lost claim, a parked gate), or not started
    /// because of one: a resume runs it on.
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

/// One item's end, and what the run keeps of its state.
struct ItemEnd {
    index: usize,
    item: Value,
    /// Which parts of the item are secret.
    taint: Taint,
    status: ItemStatus,
    error: Option<String>,
    outputs: Map<String, Value>,
    takeaway: Option<ItemTakeaway>,
}

/// What the items share while the loop runs.
#[derive(Default)]
struct Tally {
    failed: AtomicUsize,
    done: AtomicUsize,
    /// More items failed than `max_failures`: no more items start (they are `skipped`).
    failed_out: AtomicBool,
    /// Cancelled, stopping, or waiting for people: no more items start, and those are not
    /// reported (a resume runs them).
    halted: AtomicBool,
}

/// What the record says of the loop's items when the run is resumed: which had started,
/// and how many had failed (a resumed loop that had failed out starts no new item).
struct Prior {
    started: HashSet<usize>,
    failed: usize,
}

impl Prior {
    fn read(state: &RunState<'_>, step: &Step, each: &ForEachStep) -> Self {
        let prefix = format!("{}[", step.id);
        let mut started = HashSet::new();
        let mut failed = HashSet::new();
        for (id, record) in state.prior_steps.iter() {
            let Some((index, nested)) = id
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split_once("]."))
            else {
                continue;
            };
            let Ok(index) = index.parse::<usize>() else {
                continue;
            };
            started.insert(index);
            let tolerated = each
                .steps
                .iter()
                .any(|inner| inner.id == nested && inner.continue_on_error);
            if record.status == StepStatus::Failed && !tolerated {
                failed.insert(index);
            }
        }
        Prior {
            started,
            failed: failed.len(),
        }
    }
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
    let at = format!(
        "line {}, column {}",
        each.items.span.line, each.items.span.column
    );
    let items = match rendered.value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(StepError::new(format!(
                "{at}: `items` gave {}, not a list",
                type_word(&other)
            )));
        }
    };
    if items.len() > MAX_LOOP_ITEMS {
        return Err(StepError::new(format!(
            "{at}: `items` gave {} items; a loop runs at most {MAX_LOOP_ITEMS}",
            items.len()
        )));
    }
    same_items(engine, state, step, &items, &rendered.taint).await?;
    let total = items.len();
    // The loop's steps are recorded at the loop's position.
    let position = state
        .current
        .as_ref()
        .map_or(0, |record| record.step_index as usize);
    let prior = Prior::read(state, step, each);
    let tally = Tally::default();
    if prior.failed > each.max_failures as usize {
        tally.failed_out.store(true, Ordering::SeqCst);
    }
    let parent: &RunState<'_> = state;
    let mut ends: Vec<ItemEnd> = stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| {
            let taint = rendered.taint.part(&index.to_string()).clone();
            let loop_ = Loop {
                engine,
                parent,
                step,
                each,
                position,
                tally: &tally,
                prior: &prior,
                total,
            };
            async move { loop_.run_item(index, item, taint).await }
        })
        .buffer_unordered(each.concurrency.max(1) as usize)
        .collect()
        .await;
    ends.sort_by_key(|end| end.index);
    finish(engine, state, step, each, ends)
}

/// An item is known by its index, and a resumed run renders `items` again: the list must be
/// the one the loop started with, or a resume would take one item's records and actions for
/// another's. Its digest is saved as the loop's progress when it first starts and compared on
/// resume. Items computed from a secret are not digested (a digest of a short secret can be
/// guessed), so such a loop is not checked.
async fn same_items(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    items: &[Value],
    taint: &Taint,
) -> Result<(), StepError> {
    if !taint.is_clean() {
        return Ok(());
    }
    let text = serde_json::to_string(items).unwrap_or_default();
    let digest = crate::run::playbook_hash(&text);
    let key = state.record_id(&step.id);
    if let Some(saved) = state.prior_progress.get(&key) {
        if saved.get("items_digest").and_then(Value::as_str) == Some(digest.as_str()) {
            return Ok(());
        }
        return Err(StepError::new(format!(
            "`items` gives another list than when the loop started ({} items now, {} then): an item is known by its index, so resuming would act on other items than those recorded; nothing more was done",
            items.len(),
            saved
                .get("items")
                .map_or_else(|| "?".to_owned(), Value::to_string)
        )));
    }
    let Some(store) = &engine.store else {
        return Ok(());
    };
    let progress = json!({ "items": items.len(), "items_digest": digest });
    store
        .save_progress(state.run_id(), &key, &progress)
        .await
        .map_err(crate::run::store_error)
}

/// The loop's outputs from its items' ends, in item order; the error when it failed.
fn finish(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    each: &ForEachStep,
    ends: Vec<ItemEnd>,
) -> Result<StepDone, StepError> {
    let total = ends.len();
    let mut results = Vec::with_capacity(total);
    let mut results_taint = Taint::clean();
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
                value_text(&mask(&end.item, &end.taint)),
                end.error.as_deref().unwrap_or("failed")
            ));
        }
        // The item is as secret in the results as it was in `items`.
        if !end.taint.is_clean() {
            let mut entry = Taint::clean();
            entry.set_part("item", end.taint.clone());
            results_taint.set_part(&end.index.to_string(), entry);
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
        if let Some(takeaway) = end.takeaway {
            state.absorb(takeaway);
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
    let mut outputs_taint = Taint::clean();
    outputs_taint.set_part("results", results_taint);
    state.tainted.pending.merge(&outputs_taint);
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
        let sealed = engine.seal(state, step, StepDone { outputs, summary });
        return Err(StepError::new(format!(
            "{failed} of {total} items failed (max_failures: {}); first: {}",
            each.max_failures,
            first_failure.unwrap_or_default()
        ))
        .with_outputs(sealed.outputs));
    }
    Ok(StepDone { outputs, summary })
}

/// What every item of one loop shares.
#[derive(Clone, Copy)]
struct Loop<'l, 'a> {
    engine: &'l Engine,
    parent: &'l RunState<'a>,
    step: &'l Step,
    each: &'l ForEachStep,
    position: usize,
    tally: &'l Tally,
    prior: &'l Prior,
    total: usize,
}

impl Loop<'_, '_> {
    /// Runs one item's steps in a state of its own, unless the loop stopped taking items.
    async fn run_item(self, index: usize, item: Value, taint: Taint) -> ItemEnd {
        let Loop {
            engine,
            parent,
            step,
            each,
            position,
            tally,
            prior,
            ..
        } = self;
        let not_started = |status| ItemEnd {
            index,
            item: item.clone(),
            taint: taint.clone(),
            status,
            error: None,
            outputs: Map::new(),
            takeaway: None,
        };
        if engine.stopping() || tally.halted.load(Ordering::SeqCst) {
            tally.halted.store(true, Ordering::SeqCst);
            return not_started(ItemStatus::Interrupted);
        }
        // After the loop failed, an item that had started before a resume still runs (its
        // recorded steps restored, the rest finished as in the first run); no new one starts.
        if tally.failed_out.load(Ordering::SeqCst) && !prior.started.contains(&index) {
            let end = not_started(ItemStatus::Skipped);
            self.report(&end);
            return end;
        }
        let mut child = parent.for_item(
            (&step.id, position),
            index,
            &each.item_name,
            item.clone(),
            taint.clone(),
        );
        let mut steps_end = StepsEnd::default();
        engine
            .step_list(&mut child, &each.steps, position, &mut steps_end)
            .await;
        let mut status = if steps_end.cancelled {
            ItemStatus::Cancelled
        } else if steps_end.interrupted {
            ItemStatus::Interrupted
        } else if steps_end.failure.is_some() {
            ItemStatus::Failed
        } else {
            ItemStatus::Succeeded
        };
        // Counted before anything else waits, so that no other item starts in between.
        match status {
            ItemStatus::Failed => {
                let failed = tally.failed.fetch_add(1, Ordering::SeqCst) + 1;
                if failed > each.max_failures as usize {
                    tally.failed_out.store(true, Ordering::SeqCst);
                }
            }
            ItemStatus::Cancelled | ItemStatus::Interrupted => {
                tally.halted.store(true, Ordering::SeqCst);
            }
            ItemStatus::Succeeded | ItemStatus::Skipped => {}
        }
        if let Err(error) = engine.flush(&child).await
            && status != ItemStatus::Cancelled
        {
            // The item's last events could not be written: its records say how far it got,
            // and a resume goes on from there.
            tally.halted.store(true, Ordering::SeqCst);
            status = ItemStatus::Interrupted;
            engine.emit(
                parent,
                Event::Warning {
                    step_id: Some(format!("{}[{index}]", step.id)),
                    message: format!("the item's events could not be written: {}", error.message),
                },
            );
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
            taint,
            status,
            error: steps_end.failure,
            outputs,
            takeaway: Some(child.takeaway()),
        };
        if !matches!(status, ItemStatus::Interrupted | ItemStatus::Cancelled) {
            self.report(&end);
        }
        end
    }

    /// Emits that an item ended.
    fn report(&self, end: &ItemEnd) {
        let done = self.tally.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.engine.emit(
            self.parent,
            Event::LoopItem {
                step_id: self.step.id.clone(),
                index: end.index,
                status: end.status.word().to_owned(),
                error: end.error.clone(),
                done,
                total: self.total,
            },
        );
    }
}

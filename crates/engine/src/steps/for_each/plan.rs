//! A `for_each` step's plan: the loop's line (how many items, how many at once, the failures
//! it tolerates), then every item's steps with the requests they would send, shown as
//! `<loop>[<index>].<step>`. Items only a run can tell (a question's rows) are planned once,
//! as `<loop>[*].<step>`, with the item as a placeholder.

use runbook_playbook::{ForEachStep, MAX_LOOP_ITEMS, Playbook, Step};
use serde_json::{Value, json};

use crate::plan::{Planner, Planning, Rendered};
use crate::redact::revealing;
use crate::steps::placeholders;
use crate::template::Taint;
use crate::values::type_word;

/// Plans the loop's items; its own outputs are placeholders (only a run can tell how items
/// end).
pub(crate) fn plan(
    planner: &Planner<'_>,
    playbook: &Playbook,
    step: &Step,
    each: &ForEachStep,
    planning: &mut Planning<'_>,
    planned: &mut crate::plan::PlanStep,
) -> Result<Value, String> {
    let rendered = planner.render(&each.items, &planning.scope())?;
    let at_once = match each.concurrency {
        1 => "one at a time".to_owned(),
        many => format!("{many} at a time"),
    };
    let tolerated = match each.max_failures {
        0 => "the loop fails at the first failed item".to_owned(),
        many => format!("the loop fails after {} failed items", u64::from(many) + 1),
    };
    match rendered {
        Rendered::Known(Value::Array(items)) if items.len() <= MAX_LOOP_ITEMS => {
            planned.details.push(format!(
                "for each of {} item{} as `{}`, {at_once}; {tolerated}",
                items.len(),
                if items.len() == 1 { "" } else { "s" },
                each.item_name
            ));
            // Which items are secret: as the render says (a short number read from a secret
            // input is one), and whatever holds a registered secret.
            let mut taint = planner
                .render_known_shown(&each.items, &planning.scope())
                .map_or_else(|_| Taint::whole(), |(_, taint)| taint);
            taint.merge(&revealing(&Value::Array(items.clone()), planning.redactor));
            for (index, item) in items.into_iter().enumerate() {
                let item_taint = taint.part(&index.to_string()).clone();
                plan_item(
                    planner,
                    playbook,
                    step,
                    each,
                    planning,
                    (
                        index.to_string(),
                        item,
                        json!({ "index": index }),
                        item_taint,
                    ),
                );
            }
        }
        Rendered::Known(Value::Array(items)) if items.len() > MAX_LOOP_ITEMS => {
            return Err(format!(
                "`items` gives {} items; a loop runs at most {MAX_LOOP_ITEMS}",
                items.len()
            ));
        }
        Rendered::Known(Value::Null) => {
            planned
                .details
                .push("`items` is empty: the loop runs no item".to_owned());
        }
        Rendered::Known(other) => {
            return Err(format!("`items` gives {}, not a list", type_word(&other)));
        }
        Rendered::Unknown(expression) => {
            planned.details.push(format!(
                "for each item of <{expression}> as `{}`, {at_once}; {tolerated}; the items are known when the run gets there",
                each.item_name
            ));
            let item = Value::String(format!("<steps.{}.item>", step.id));
            let index = json!({ "index": format!("<steps.{}.index>", step.id) });
            // What reads the item (or `loop`) is unknown, like what reads a step's outputs.
            planning
                .unknowns
                .set_local_roots(Some(&[each.item_name.as_str(), "loop"]));
            plan_item(
                planner,
                playbook,
                step,
                each,
                planning,
                ("*".to_owned(), item, index, Taint::clean()),
            );
            planning.unknowns.set_local_roots(None);
        }
    }
    Ok(placeholders(step))
}

/// Plans one item's steps, in a scope that holds the item and its own steps' outputs; the
/// steps after the loop see none of them.
fn plan_item(
    planner: &Planner<'_>,
    playbook: &Playbook,
    step: &Step,
    each: &ForEachStep,
    planning: &mut Planning<'_>,
    (label, item, loop_names, item_taint): (String, Value, Value, Taint),
) {
    let saved_steps = planning.names.get("steps").cloned();
    let saved_taint = planning.steps_taint.clone();
    if let Some(names) = planning.names.as_object_mut() {
        names.insert(each.item_name.clone(), item);
        names.insert("loop".to_owned(), loop_names);
    }
    planning.locals_taint = Taint::clean();
    planning.locals_taint.set_part(&each.item_name, item_taint);
    let first = planning.steps.len();
    for nested in &each.steps {
        let shown = format!("{}[{label}].{}", step.id, nested.id);
        planner.plan_into(playbook, nested, planning, shown, None);
    }
    // An `issue` in the item targets its item's own `target` step.
    for planned in &mut planning.steps[first..] {
        if let Some(target) = &mut planned.lookups.target_step
            && each.steps.iter().any(|nested| nested.id == *target)
        {
            *target = format!("{}[{label}].{target}", step.id);
        }
    }
    if let Some(names) = planning.names.as_object_mut() {
        names.remove(&each.item_name);
        names.remove("loop");
        if let Some(steps) = saved_steps {
            names.insert("steps".to_owned(), steps);
        }
    }
    planning.steps_taint = saved_taint;
    planning.locals_taint = Taint::clean();
}

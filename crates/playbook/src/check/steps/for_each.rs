//! `for_each:` steps: `items` (a list, or a template giving one), `as` (the item's name,
//! default `item`), `concurrency` (1 to 200), `max_failures` and the nested `steps`.
//!
//! Nested steps are checked like top-level ones, in a scope of their own: the steps before
//! the loop, the loop's earlier steps, the item and `loop`. Their ids are unique in the
//! playbook (an item's action is named `<step>#<index>`); a loop inside a loop is refused
//! (RB053).

use std::collections::HashMap;

use crate::codes;
use crate::model::{
    ForEachStep, MAX_LOOP_CONCURRENCY, MAX_LOOP_ITEMS, Step, StepKind, TemplateValue,
};
use crate::templates::{GLOBAL_FUNCTIONS, Scope, Site};
use crate::yaml::{Entry, NodeKind};

use crate::check::names::is_identifier;
use crate::check::{Checker, Owner};

/// Names an item may not take: the roots templates already read.
const TAKEN_NAMES: [&str; 5] = ["inputs", "steps", "run", "secrets", "loop"];

impl Checker<'_> {
    pub(super) fn for_each(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
        loop_id: Option<&str>,
    ) -> Option<ForEachStep> {
        if let Some(outer) = &scope.enclosing {
            self.error(
                codes::NESTED_LOOP,
                entry.key_span,
                entry.key_length,
                format!("a `for_each` inside loop `{outer}`"),
            )
            .help = Some(
                "loops do not nest: flatten the list first (e.g. a `set` step building the pairs), or run a second playbook per item".into(),
            );
            return None;
        }
        let fields = self.fields(
            &entry.value,
            owner,
            &["items", "as", "concurrency", "max_failures", "steps"],
            &[
                ("in", "`items`"),
                ("list", "`items`"),
                ("item", "`as`"),
                ("parallel", "`concurrency`"),
                ("do", "`steps`"),
            ],
        )?;
        let mut ok = true;
        let items = self
            .required(
                &fields,
                "items",
                Some("e.g. `items: \"{{ inputs.hosts }}\"`".into()),
            )
            .and_then(|entry| self.loop_items(entry, scope, site));
        let item_name = self
            .optional(&fields, "as", &mut ok, Self::item_name)
            .unwrap_or_else(|| "item".to_owned());
        let concurrency = self
            .optional(&fields, "concurrency", &mut ok, |checker, entry| {
                checker.integer(entry, 1, i64::from(MAX_LOOP_CONCURRENCY))
            })
            .unwrap_or(1);
        let max_failures = self
            .optional(&fields, "max_failures", &mut ok, |checker, entry| {
                checker.integer(entry, 0, MAX_LOOP_ITEMS as i64)
            })
            .unwrap_or(0);
        let steps = self.loop_steps(&fields, scope, site, loop_id, &item_name);
        if !ok {
            return None;
        }
        Some(ForEachStep {
            items: items?,
            item_name,
            concurrency: u32::try_from(concurrency).ok()?,
            max_failures: u32::try_from(max_failures).ok()?,
            steps: steps?,
        })
    }

    /// `items`: a template (checked when the loop runs: it must give a list) or a list
    /// written out, of at most 10,000 items.
    fn loop_items(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Seq(items) if items.len() > MAX_LOOP_ITEMS => {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    format!(
                        "`items` lists {} items; a loop runs at most {MAX_LOOP_ITEMS}",
                        items.len()
                    ),
                );
                None
            }
            NodeKind::Seq(_) => Some(self.template_value(entry, scope, site)),
            NodeKind::Str(_) => self.scalar_template(entry, scope, site),
            _ => {
                self.wrong_type(
                    "items",
                    "a list, or a template giving one like \"{{ inputs.hosts }}\"",
                    &entry.value,
                );
                None
            }
        }
    }

    /// `as`: a name templates read the item by.
    fn item_name(&mut self, entry: &Entry) -> Option<String> {
        let name = self.string(entry)?;
        if !is_identifier(&name, false) {
            self.error(
                codes::INVALID_NAME,
                entry.value.span,
                entry.value.length,
                format!("`as: {name}` is not a name templates can read"),
            )
            .help = Some("use lowercase letters, digits and `_`, e.g. `as: host`".into());
            return None;
        }
        if TAKEN_NAMES.contains(&name.as_str()) || GLOBAL_FUNCTIONS.contains(&name.as_str()) {
            self.error(
                codes::INVALID_NAME,
                entry.value.span,
                entry.value.length,
                format!("`as: {name}` would hide `{name}` from the loop's templates"),
            )
            .help = Some("pick another name, e.g. `as: host`".into());
            return None;
        }
        Some(name)
    }

    /// The nested `steps`, checked in the loop's scope; their ids may not repeat an id of a
    /// step outside the loop.
    fn loop_steps(
        &mut self,
        fields: &crate::check::Fields<'_>,
        scope: &Scope,
        site: Site<'_>,
        loop_id: Option<&str>,
        item_name: &str,
    ) -> Option<Vec<Step>> {
        let entry = self.required(
            fields,
            "steps",
            Some("add the steps run for each item under `steps:`".into()),
        )?;
        let nodes = match &entry.value.kind {
            NodeKind::Seq(items) if items.is_empty() => {
                self.error(
                    codes::EMPTY_LIST,
                    entry.key_span,
                    entry.key_length,
                    "the loop's `steps` is empty",
                )
                .help = Some("a loop needs at least one step".into());
                return None;
            }
            NodeKind::Seq(items) => items,
            _ => {
                self.wrong_type("steps", "a list of steps", &entry.value);
                return None;
            }
        };
        let loop_index = site.step_index.unwrap_or(0);
        let inner_scope = self.loop_scope(scope, loop_id, loop_index, item_name, nodes);
        let mut seen_ids = HashMap::new();
        let steps =
            self.steps_from(nodes, loop_index, site.handler, &inner_scope, &mut seen_ids)?;
        let mut ok = true;
        for step in &steps {
            // An action issued in a loop is named `<step>#<index>`: two loops with a step of
            // one id would give their items' actions the same names.
            let other_loop = scope
                .inner
                .get(&step.id)
                .filter(|owner| Some(owner.as_str()) != loop_id);
            let place = match (scope.steps.get(&step.id), other_loop) {
                (Some(outer), _) if outer.index == loop_index => "is the loop's own id".to_owned(),
                (Some(_), _) => "is already a step outside the loop".to_owned(),
                (None, Some(owner)) => format!("is already a step of loop `{owner}`"),
                (None, None) => continue,
            };
            ok = false;
            self.error(
                codes::DUPLICATE_STEP_ID,
                step.span,
                u32::try_from(step.id.chars().count()).unwrap_or(1),
                format!("step id `{}` {place}", step.id),
            )
            .help = Some(
                "step ids are unique in the whole playbook, inside loops too (an item's action is named after its step's id and index)".into(),
            );
        }
        for step in &steps {
            // A rollout's waves are named and saved per step, not per item.
            if let StepKind::Issue(issue) = &step.kind
                && issue.rollout.is_some()
            {
                ok = false;
                let loop_name = loop_id.unwrap_or("the loop");
                self.error(
                    codes::NESTED_LOOP,
                    step.span,
                    u32::try_from(step.id.chars().count()).unwrap_or(1),
                    format!("step `{}` is a staged rollout inside loop `{loop_name}`", step.id),
                )
                .help = Some(
                    "roll out in waves over the whole target once, or issue one plain action per item".into(),
                );
            }
        }
        ok.then_some(steps)
    }
}

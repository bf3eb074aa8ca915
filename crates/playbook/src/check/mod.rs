//! Lowering the located YAML tree into a typed [`Playbook`], collecting every problem on the way.
//! A bad field never stops the walk: each field is checked on its own, and a step is only
//! assembled when all its fields were good.
//!
//! One module per area, each saying what it checks:
//! - `fields` and `values`: what every area shares (and the schedules file too): reading
//!   a mapping's keys, and one value (strings, numbers, durations, templates, conditions);
//! - `names`: the playbook name, step ids, keys that templates read as names, and the names
//!   in scope for templates;
//! - `inputs`, `secrets`, `guard`, `outputs`: the top-level sections;
//! - `steps`: the keys every step has, and a module per step kind.

mod fields;
mod guard;
mod inputs;
mod names;
mod outputs;
mod secrets;
mod steps;
mod values;

use indexmap::IndexMap;

use crate::model::Playbook;
use crate::templates::TemplateChecker;
use crate::yaml::{Node, Problem};

pub(crate) use fields::{Fields, Owner, written_string};

const TOP_LEVEL_KEYS: [&str; 10] = [
    "version",
    "name",
    "description",
    "inputs",
    "guard",
    "secrets",
    "steps",
    "on_failure",
    "finally",
    "outputs",
];

pub(crate) struct Checker<'s> {
    pub problems: Vec<Problem>,
    templates: TemplateChecker<'s>,
    /// The guard's `max_endpoints`, when it could be read: `issue.min_endpoints` may not
    /// exceed it.
    max_endpoints: Option<u64>,
}

impl<'s> Checker<'s> {
    pub fn new(source: &'s str) -> Self {
        Self {
            problems: Vec::new(),
            templates: TemplateChecker::new(source),
            max_endpoints: None,
        }
    }

    pub fn playbook(&mut self, root: &Node) -> Option<Playbook> {
        let owner = Owner::node("the playbook", root);
        let fields = self.fields(root, owner, &TOP_LEVEL_KEYS, &[])?;
        let version = self.version(&fields, "this runbook reads version 1");
        let name = self
            .required(&fields, "name", Some("add `name: my-playbook`".into()))
            .and_then(|entry| self.lowercase_name(entry, "playbook name"));
        let description = fields
            .get("description")
            .and_then(|entry| self.string(entry));
        let inputs = match fields.get("inputs") {
            Some(entry) => self.inputs(entry),
            None => Some(IndexMap::new()),
        };
        let guard = match fields.get("guard") {
            Some(entry) => self.guard(entry).map(Some),
            None => Some(None),
        };
        self.max_endpoints = guard
            .as_ref()
            .and_then(|guard| guard.as_ref())
            .and_then(|guard| guard.max_endpoints);
        let secrets = match fields.get("secrets") {
            Some(entry) => self.secrets(entry),
            None => Some(Vec::new()),
        };
        let step_nodes = self.step_list(&fields);
        let on_failure_nodes = self.handler_list(&fields, "on_failure");
        let finally_nodes = self.handler_list(&fields, "finally");
        // One list of every step for names: the handlers come after the main steps, so that
        // they see every main step and the main steps see none of them.
        let all_nodes: Vec<Node> = step_nodes
            .iter()
            .chain(on_failure_nodes)
            .chain(finally_nodes)
            .cloned()
            .collect();
        // Names in scope come from what could be read, even when parts of it were wrong, so
        // that one mistake does not hide the template problems behind it.
        let scope = self.scope(fields.get("inputs"), fields.get("secrets"), &all_nodes);
        let mut seen_ids = std::collections::HashMap::new();
        let steps = self
            .steps_from(step_nodes, 0, false, &scope, &mut seen_ids)
            .filter(|_| !step_nodes.is_empty());
        let on_failure = self.steps_from(
            on_failure_nodes,
            step_nodes.len(),
            true,
            &scope,
            &mut seen_ids,
        );
        let finally = self.steps_from(
            finally_nodes,
            step_nodes.len() + on_failure_nodes.len(),
            true,
            &scope,
            &mut seen_ids,
        );
        let outputs = match fields.get("outputs") {
            Some(entry) => self.outputs(entry, &scope),
            None => Some(IndexMap::new()),
        };
        Some(Playbook {
            version: version?,
            name: name?,
            description,
            inputs: inputs?,
            guard: guard?,
            secrets: secrets?,
            steps: steps?,
            on_failure: on_failure?,
            finally: finally?,
            outputs: outputs?,
        })
    }
}

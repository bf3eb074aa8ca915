//! Names: the playbook's own (and a schedule's), step ids (well-formed and unique), keys that
//! templates read as names (inputs, outputs, `set` values), and the references in scope for
//! templates (`inputs.*`, `secrets.*`, `steps.<id>.*`), gathered before the steps are checked.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::codes;
use crate::model::{STEP_KINDS, Span};
use crate::templates::{Scope, StepInfo};
use crate::yaml::{Entry, Node, NodeKind};

use super::fields::written_string;
use super::{Checker, Fields, Owner};

pub(super) fn is_identifier(text: &str, allow_upper: bool) -> bool {
    let mut chars = text.chars();
    let first_ok = chars.next().is_some_and(|c| {
        c == '_' || c.is_ascii_lowercase() || (allow_upper && c.is_ascii_uppercase())
    });
    first_ok
        && chars.all(|c| {
            c == '_'
                || c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || (allow_upper && c.is_ascii_uppercase())
        })
}

fn is_playbook_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn suggest_playbook_name(name: &str) -> String {
    let mut out: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with(['-', '_']) {
        out.remove(0);
    }
    if out.is_empty() {
        "my-playbook".to_owned()
    } else {
        out
    }
}

fn suggest_step_id(id: &str) -> String {
    let mut out: String = id
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        "step".to_owned()
    } else {
        out
    }
}

/// What to say when a key that templates read as a name is not an identifier.
pub(super) struct NameRule {
    /// The message for a bad key.
    pub message: fn(&str) -> String,
    /// The help for a bad key.
    pub help: &'static str,
}

impl Checker<'_> {
    /// A playbook or schedule name (`what` is "playbook name" or "schedule name"): lowercase
    /// letters, digits, `-` and `_`.
    pub(crate) fn lowercase_name(&mut self, entry: &Entry, what: &str) -> Option<String> {
        let name = self.string(entry)?;
        if is_playbook_name(&name) {
            return Some(name);
        }
        self.error(
            codes::INVALID_NAME,
            entry.value.span,
            entry.value.length,
            format!("{what} `{name}` is not allowed"),
        )
        .help = Some(format!(
            "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, e.g. `{}`",
            suggest_playbook_name(&name)
        ));
        None
    }

    /// The entries of a mapping whose keys templates read as names (letters, digits and `_`),
    /// each read with `read`. A key that is not such a name is reported with `rule`'s words
    /// and its value not read. `None` when any entry was
    /// bad.
    pub(super) fn named_entries<T>(
        &mut self,
        entries: &[Entry],
        rule: &NameRule,
        mut read: impl FnMut(&mut Self, &Entry) -> Option<T>,
    ) -> Option<IndexMap<String, T>> {
        let mut values = IndexMap::new();
        let mut ok = true;
        for entry in entries {
            if !is_identifier(&entry.key, true) {
                self.error(
                    codes::INVALID_NAME,
                    entry.key_span,
                    entry.key_length,
                    (rule.message)(&entry.key),
                )
                .help = Some(rule.help.to_owned());
                ok = false;
                continue;
            }
            match read(self, entry) {
                Some(value) => {
                    values.insert(entry.key.clone(), value);
                }
                None => ok = false,
            }
        }
        ok.then_some(values)
    }

    /// A step's `id`: present, a string, an identifier, and not used by an earlier step.
    pub(super) fn step_id(
        &mut self,
        fields: &Fields<'_>,
        owner: Owner<'_>,
        seen_ids: &mut HashMap<String, Span>,
    ) -> Option<String> {
        let Some(entry) = fields.get("id") else {
            self.missing(
                owner,
                "id",
                Some("give every step an `id`, e.g. `id: scope`".into()),
            );
            return None;
        };
        let NodeKind::Str(id) = &entry.value.kind else {
            self.wrong_type("id", "a string", &entry.value);
            return None;
        };
        if !is_identifier(id, false) {
            self.error(
                codes::INVALID_STEP_ID,
                entry.value.span,
                entry.value.length,
                format!("step id `{id}` is not allowed"),
            )
            .help = Some(format!(
                "ids are lowercase letters, digits and `_`, starting with a letter or `_` (templates read them as `steps.<id>`), e.g. `{}`",
                suggest_step_id(id)
            ));
            return None;
        }
        if let Some(first) = seen_ids.get(id) {
            self.error(
                codes::DUPLICATE_STEP_ID,
                entry.value.span,
                entry.value.length,
                format!("step id `{id}` is used twice"),
            )
            .help = Some(format!(
                "the first step with this id is on line {}; ids must be unique",
                first.line
            ));
            return None;
        }
        seen_ids.insert(id.clone(), entry.value.span);
        Some(id.clone())
    }

    /// The names templates may use, from what could be read, even when parts of it were
    /// wrong, so that one mistake does not hide the template problems behind it.
    pub(super) fn scope(
        &self,
        inputs: Option<&Entry>,
        secrets: Option<&Entry>,
        step_nodes: &[Node],
    ) -> Scope {
        let inputs = match inputs.map(|entry| &entry.value.kind) {
            Some(NodeKind::Map(entries)) => entries.iter().map(|entry| entry.key.clone()).collect(),
            _ => Vec::new(),
        };
        let secrets = match secrets.map(|entry| &entry.value.kind) {
            Some(NodeKind::Seq(items)) => items
                .iter()
                .filter_map(|item| match &item.kind {
                    NodeKind::Str(name) => Some(name.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut steps = HashMap::new();
        let mut step_order = Vec::new();
        let mut inner = HashMap::new();
        for (index, node) in step_nodes.iter().enumerate() {
            let (NodeKind::Map(entries), Some(id)) = (&node.kind, written_string(node, "id"))
            else {
                continue;
            };
            for nested in loop_step_nodes(entries) {
                if let Some(nested_id) = written_string(nested, "id") {
                    inner.entry(nested_id).or_insert_with(|| id.clone());
                }
            }
            // The first step with an id wins: a duplicate is reported on the second one.
            if let std::collections::hash_map::Entry::Vacant(slot) = steps.entry(id.clone()) {
                step_order.push(id);
                slot.insert(step_info(index, entries));
            }
        }
        Scope {
            inputs,
            secrets,
            steps,
            step_order,
            locals: Vec::new(),
            enclosing: None,
            inner,
        }
    }

    /// The names the steps of loop `loop_id` (the `loop_index`-th step) may use: what the
    /// steps before the loop may, the item (`item_name`) and `loop`, and the loop's own steps
    /// (numbered from `loop_index`, so that each sees only those before it).
    pub(super) fn loop_scope(
        &self,
        outer: &Scope,
        loop_id: Option<&str>,
        loop_index: usize,
        item_name: &str,
        nested: &[Node],
    ) -> Scope {
        let mut steps: HashMap<String, StepInfo> = outer
            .steps
            .iter()
            .filter(|(_, info)| info.index < loop_index)
            .map(|(id, info)| (id.clone(), info.clone()))
            .collect();
        let mut step_order: Vec<String> = outer
            .step_order
            .iter()
            .filter(|id| steps.contains_key(id.as_str()))
            .cloned()
            .collect();
        for (offset, node) in nested.iter().enumerate() {
            let (NodeKind::Map(entries), Some(id)) = (&node.kind, written_string(node, "id"))
            else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = steps.entry(id.clone()) {
                step_order.push(id);
                slot.insert(step_info(loop_index + offset, entries));
            }
        }
        Scope {
            inputs: outer.inputs.clone(),
            secrets: outer.secrets.clone(),
            steps,
            step_order,
            locals: vec![item_name.to_owned(), "loop".to_owned()],
            enclosing: loop_id.map(str::to_owned),
            inner: outer.inner.clone(),
        }
    }
}

/// The nested step nodes of a `for_each` step's entries (none for other kinds).
pub(super) fn loop_step_nodes(entries: &[Entry]) -> &[Node] {
    let body = entries.iter().find(|entry| entry.key == "for_each");
    let Some(NodeKind::Map(fields)) = body.map(|entry| &entry.value.kind) else {
        return &[];
    };
    match fields.iter().find(|entry| entry.key == "steps") {
        Some(entry) => match &entry.value.kind {
            NodeKind::Seq(items) => items,
            _ => &[],
        },
        None => &[],
    }
}

/// What later templates may read of the step at `index`: its kind, its `set` names, and
/// whether a `when` may skip it.
fn step_info(index: usize, entries: &[Entry]) -> StepInfo {
    let kind_entry = entries
        .iter()
        .find(|entry| STEP_KINDS.contains(&entry.key.as_str()));
    let kind =
        kind_entry.and_then(|entry| STEP_KINDS.iter().copied().find(|kind| *kind == entry.key));
    let set_keys = match kind_entry.map(|entry| (&entry.key, &entry.value.kind)) {
        Some((key, NodeKind::Map(set_entries))) if key == "set" => {
            set_entries.iter().map(|entry| entry.key.clone()).collect()
        }
        _ => Vec::new(),
    };
    let rollout = match kind_entry.map(|entry| (&entry.key, &entry.value.kind)) {
        Some((key, NodeKind::Map(issue_entries))) if key == "issue" => {
            issue_entries.iter().any(|entry| entry.key == "rollout")
        }
        _ => false,
    };
    // `when: true` never skips.
    let has_when = entries
        .iter()
        .any(|entry| entry.key == "when" && entry.value.kind != NodeKind::Bool(true));
    StepInfo {
        index,
        kind,
        set_keys,
        has_when,
        rollout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("tag_params", false));
        assert!(is_identifier("_x1", false));
        assert!(!is_identifier("1x", false));
        assert!(!is_identifier("Tag", false));
        assert!(is_identifier("Tag", true));
        assert!(!is_identifier("tag-params", true));
        assert!(is_playbook_name("tag-suspect-host"));
        assert!(!is_playbook_name("Tag Suspect"));
        assert_eq!(suggest_playbook_name("Tag Suspect"), "tag-suspect");
        assert_eq!(suggest_step_id("Tag-Params"), "tag_params");
    }
}

//! What a plan cannot know, and templates rendered around it.
//!
//! Offline, the values only a run can tell (the outputs of steps that ask the server, the run's
//! id and start, secrets) are placeholders such as `<steps.scope.group_id>`. A placeholder is
//! an opaque unknown, never the text it is shown as: a template that computes something from
//! one (iterates it, maps over it, measures it, filters it, indexes it, compares it) is not
//! evaluated, and its value is a placeholder naming its expression, e.g.
//! `<steps.results.rows | map(attribute='computer_name') | join(', ')>`. In mixed text only the
//! `{{ ... }}` tags that compute from an unknown are replaced, so that
//! `"{{ steps.results.failed }} failed: {{ steps.results.rows | length }}"` reads
//! `<steps.results.failed> failed: <steps.results.rows | length>`. A tag that only names an
//! unknown (`{{ steps.scope.group }}`) passes it on as it is, and a template with statements
//! (`{% ... %}`) that uses an unknown is a placeholder as a whole.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::template::{
    Rendered, TemplateContext, TemplateError, Templates, is_template, single_expression,
};

/// The name under which a rewritten template reads the placeholders of its unknown parts.
const UNKNOWN_NAME: &str = "__plan_unknown";

/// The roots of the names whose values may be unknown offline (inputs are always known).
const ROOTS: [&str; 3] = ["steps", "run", "secrets"];

/// How the placeholders the planner writes itself begin.
const MARKERS: [&str; 3] = ["<steps.", "<run.", "<secrets."];

/// The unknowns of one plan: the planner's own placeholders, and those its templates computed
/// (which name an expression, so need not begin like the planner's own).
#[derive(Debug, Default)]
pub(crate) struct Unknowns {
    computed: RefCell<BTreeSet<String>>,
    /// Names a loop item gives its steps while the items are only known at run time (the
    /// item, `loop`): read like `steps`.
    local_roots: RefCell<BTreeSet<String>>,
}

impl Unknowns {
    /// Whether a value holds a placeholder anywhere.
    pub(crate) fn is_unknown(&self, value: &Value) -> bool {
        match value {
            Value::String(text) => self.text_is_unknown(text),
            Value::Array(items) => items.iter().any(|item| self.is_unknown(item)),
            Value::Object(map) => map.values().any(|item| self.is_unknown(item)),
            _ => false,
        }
    }

    fn text_is_unknown(&self, text: &str) -> bool {
        MARKERS.iter().any(|marker| text.contains(marker))
            || self
                .computed
                .borrow()
                .iter()
                .any(|placeholder| text.contains(placeholder.as_str()))
    }

    /// Whether what a dotted name (`steps.scope.group_id`) reads is unknown offline: it holds a
    /// placeholder, goes through one, or is missing under `steps`, `run` or `secrets` (the
    /// outputs of a step that may be skipped at run time).
    pub(crate) fn name_is_unknown(&self, name: &str, names: &Value) -> bool {
        let mut parts = name.split('.');
        let Some(root) = parts
            .next()
            .filter(|root| ROOTS.contains(root) || self.local_roots.borrow().contains(*root))
        else {
            return false;
        };
        let mut value = names.get(root);
        for part in parts {
            match value {
                None => return true,
                // An attribute of a text: unknown when the text is.
                Some(Value::String(text)) => return self.text_is_unknown(text),
                Some(inner) => value = inner.get(part),
            }
        }
        value.is_none_or(|value| self.is_unknown(value))
    }

    /// While a loop's items are unknown: what reads these names (the item, `loop`) is
    /// unknown too. `None` forgets them again.
    pub(crate) fn set_local_roots(&self, roots: Option<&[&str]>) {
        let mut local_roots = self.local_roots.borrow_mut();
        local_roots.clear();
        local_roots.extend(
            roots
                .unwrap_or_default()
                .iter()
                .map(|root| (*root).to_owned()),
        );
    }

    /// Renders a template value offline: every string (maps and lists are walked) with the
    /// parts that compute from an unknown replaced by placeholders naming them.
    pub(crate) fn render(
        &self,
        templates: &Templates,
        value: &Value,
        context: &TemplateContext,
        names: &Value,
    ) -> Result<Rendered, TemplateError> {
        let mut placeholders = Vec::new();
        let rewritten = self.rewrite(templates, value, names, &mut placeholders);
        if placeholders.is_empty() {
            return templates.render_tracked(value, context);
        }
        let context = context.with_name(UNKNOWN_NAME, &Value::from(placeholders));
        templates.render_tracked(&rewritten, &context)
    }

    fn rewrite(
        &self,
        templates: &Templates,
        value: &Value,
        names: &Value,
        placeholders: &mut Vec<String>,
    ) -> Value {
        match value {
            Value::String(text) => {
                Value::String(self.rewrite_text(templates, text, names, placeholders))
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.rewrite(templates, item, names, placeholders))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        (
                            key.clone(),
                            self.rewrite(templates, item, names, placeholders),
                        )
                    })
                    .collect::<Map<String, Value>>(),
            ),
            other => other.clone(),
        }
    }

    fn rewrite_text(
        &self,
        templates: &Templates,
        text: &str,
        names: &Value,
        placeholders: &mut Vec<String>,
    ) -> String {
        if !is_template(text) {
            return text.to_owned();
        }
        if let Some(expression) = single_expression(text) {
            if self.expression_is_unknown(templates, expression, names) {
                return self.whole(expression, placeholders);
            }
            return text.to_owned();
        }
        let Some(tags) = expression_tags(text) else {
            // Statements or comments: the template is known or unknown as a whole.
            let unknown = templates
                .references(text)
                .iter()
                .any(|name| self.name_is_unknown(name, names));
            return if unknown {
                self.whole(text.trim(), placeholders)
            } else {
                text.to_owned()
            };
        };
        let mut rewritten = String::with_capacity(text.len());
        let mut copied = 0;
        for tag in tags {
            let expression = text[tag.clone()].trim();
            if self.expression_is_unknown(templates, expression, names) {
                rewritten.push_str(&text[copied..tag.start]);
                rewritten.push_str(&format!(" {UNKNOWN_NAME}[{}] ", placeholders.len()));
                placeholders.push(self.placeholder(expression));
                copied = tag.end;
            }
        }
        rewritten.push_str(&text[copied..]);
        rewritten
    }

    /// A template replaced as a whole by the placeholder of `shown`.
    fn whole(&self, shown: &str, placeholders: &mut Vec<String>) -> String {
        let index = placeholders.len();
        placeholders.push(self.placeholder(shown));
        format!("{{{{ {UNKNOWN_NAME}[{index}] }}}}")
    }

    fn placeholder(&self, shown: &str) -> String {
        let placeholder = format!("<{shown}>");
        self.computed.borrow_mut().insert(placeholder.clone());
        placeholder
    }

    /// Whether an expression computes from an unknown. One that only names a value that exists
    /// passes it on as it is, placeholders included.
    fn expression_is_unknown(
        &self,
        templates: &Templates,
        expression: &str,
        names: &Value,
    ) -> bool {
        if is_plain_name(expression) && lookup(expression, names).is_some() {
            return false;
        }
        templates
            .references(&format!("{{{{ {expression} }}}}"))
            .iter()
            .any(|name| self.name_is_unknown(name, names))
    }
}

/// A dotted name and nothing else (`steps.scope.group`).
fn is_plain_name(expression: &str) -> bool {
    expression.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn lookup<'v>(name: &str, names: &'v Value) -> Option<&'v Value> {
    name.split('.')
        .try_fold(names, |value, part| value.as_object()?.get(part))
}

/// The expressions of the `{{ ... }}` tags of a template without statements or comments: the
/// byte range of each, inside its delimiters and whitespace markers. None when the text holds
/// statements or comments, or a tag that does not end.
fn expression_tags(text: &str) -> Option<Vec<Range<usize>>> {
    if text.contains("{%") || text.contains("{#") {
        return None;
    }
    let bytes = text.as_bytes();
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(offset) = text[at..].find("{{") {
        let mut start = at + offset + 2;
        if matches!(bytes.get(start), Some(b'-' | b'+')) {
            start += 1;
        }
        let (end, after) = tag_end(bytes, start)?;
        tags.push(start..end);
        at = after;
    }
    Some(tags)
}

/// Where the expression starting at `start` ends, and where its tag ends: at `}}` (or `-}}`,
/// `+}}`) outside strings and brackets, as MiniJinja's lexer reads it.
fn tag_end(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let mut depth = 0isize;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            quote @ (b'"' | b'\'') => {
                index += 1;
                while index < bytes.len() && bytes[index] != quote {
                    if bytes[index] == b'\\' {
                        index += 1;
                    }
                    index += 1;
                }
            }
            b'-' | b'+' if depth == 0 && bytes.get(index + 1..index + 3) == Some(b"}}") => {
                return Some((index, index + 3));
            }
            b'}' if depth == 0 && bytes.get(index + 1) == Some(&b'}') => {
                return Some((index, index + 2));
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        index += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> Value {
        json!({
            "inputs": {"prefix": "web-", "hosts": ["a", "b"]},
            "steps": {
                "scope": {"skipped": false, "group": {"id": "<steps.scope.group_id>", "filter_flag": false},
                          "group_id": "<steps.scope.group_id>", "text": "Computer Name starts with \"web-\""},
                "results": {"skipped": false, "rows": "<steps.results.rows>", "failed": "<steps.results.failed>"},
                "values": {"skipped": false, "floor": 95},
                "off": {"skipped": true},
            },
            "run": {"id": "<run.id>", "playbook": "p"},
            "secrets": {"KEY": "<secrets.KEY>"},
        })
    }

    fn render(unknowns: &Unknowns, template: Value) -> Value {
        let names = names();
        let context = TemplateContext::new(&names);
        unknowns
            .render(&Templates::new(), &template, &context, &names)
            .unwrap_or_else(|error| panic!("{template}: {error}"))
            .value
    }

    #[test]
    fn a_placeholder_is_never_iterated_as_text() {
        let unknowns = Unknowns::default();
        for (template, shown) in [
            (
                "{{ steps.results.rows | map(attribute='computer_name') | list }}",
                "<steps.results.rows | map(attribute='computer_name') | list>",
            ),
            (
                "{{ steps.results.rows | length }}",
                "<steps.results.rows | length>",
            ),
            (
                "{{ steps.results.rows | first }}",
                "<steps.results.rows | first>",
            ),
            ("{{ steps.results.rows[0] }}", "<steps.results.rows[0]>"),
            (
                "{{ steps.results.failed == 0 }}",
                "<steps.results.failed == 0>",
            ),
            ("{{ secrets.KEY | int }}", "<secrets.KEY | int>"),
            ("{{ run.id | upper }}", "<run.id | upper>"),
            ("{{ steps | tojson }}", "<steps | tojson>"),
            (
                "{{- steps.results.rows | list -}}",
                "<steps.results.rows | list>",
            ),
        ] {
            assert_eq!(
                render(&unknowns, json!(template)),
                json!(shown),
                "{template}"
            );
        }
    }

    #[test]
    fn mixed_text_replaces_only_the_tags_that_compute_from_an_unknown() {
        let unknowns = Unknowns::default();
        assert_eq!(
            render(
                &unknowns,
                json!(
                    "{{ steps.results.failed }} failed: {{ steps.results.rows | selectattr('status', 'eq', 'Failed') | map(attribute='computer_name') | join(', ') }} ({{ inputs.prefix | upper }})"
                )
            ),
            json!(
                "<steps.results.failed> failed: <steps.results.rows | selectattr('status', 'eq', 'Failed') | map(attribute='computer_name') | join(', ')> (WEB-)"
            )
        );
        // Whitespace markers, strings and braces inside a tag.
        assert_eq!(
            render(
                &unknowns,
                json!("a  {{- steps.results.rows | join('}}') -}}  b {{ {'k': {'x': 1}}['k'].x }}")
            ),
            json!("a<steps.results.rows | join('}}')>b 1")
        );
    }

    #[test]
    fn naming_an_unknown_passes_it_on() {
        let unknowns = Unknowns::default();
        assert_eq!(
            render(&unknowns, json!("{{ steps.scope.group }}")),
            json!({"id": "<steps.scope.group_id>", "filter_flag": false})
        );
        assert_eq!(
            render(
                &unknowns,
                json!("group {{ steps.scope.group_id }}, floor {{ steps.values.floor + 1 }}")
            ),
            json!("group <steps.scope.group_id>, floor 96")
        );
        assert_eq!(
            render(
                &unknowns,
                json!({"a": ["{{ inputs.hosts | length }}", "{{ run.playbook }}"]})
            ),
            json!({"a": [2, "p"]})
        );
    }

    #[test]
    fn outputs_of_a_skipped_step_are_unknown_and_statements_are_replaced_whole() {
        let unknowns = Unknowns::default();
        assert_eq!(
            render(&unknowns, json!("{{ steps.off.group_id }}")),
            json!("<steps.off.group_id>")
        );
        let loop_text = "{% for row in steps.results.rows %}{{ row.computer_name }} {% endfor %}";
        assert_eq!(
            render(&unknowns, json!(format!(" {loop_text}\n"))),
            json!(format!("<{loop_text}>"))
        );
        assert_eq!(
            render(
                &unknowns,
                json!("{% for h in inputs.hosts %}{{ h }}{% endfor %}")
            ),
            json!("ab")
        );
    }

    #[test]
    fn a_computed_placeholder_stays_unknown_downstream() {
        let unknowns = Unknowns::default();
        let label = render(
            &unknowns,
            json!("{{ inputs.prefix ~ steps.scope.group_id }}"),
        );
        assert_eq!(label, json!("<inputs.prefix ~ steps.scope.group_id>"));
        let mut names = names();
        names["steps"]["values"]["label"] = label;
        assert!(unknowns.name_is_unknown("steps.values.label", &names));
        assert!(!unknowns.name_is_unknown("steps.values.floor", &names));
        assert!(!unknowns.name_is_unknown("inputs.prefix", &names));
        assert!(unknowns.name_is_unknown("steps.scope.group_id.x", &names));
        assert!(!unknowns.name_is_unknown("run.playbook", &names));
    }

    #[test]
    fn tags_are_found_as_minijinja_reads_them() {
        let text = "x {{ a }} y {{- b -}} z {{+ c(')}}', [1]) }}";
        let tags: Vec<&str> = expression_tags(text)
            .unwrap()
            .into_iter()
            .map(|range| text[range].trim())
            .collect();
        assert_eq!(tags, vec!["a", "b", "c(')}}', [1])"]);
        assert_eq!(expression_tags("{{ a "), None);
        assert_eq!(expression_tags("{% if a %}{% endif %}"), None);
    }
}

//! Checking a triggers file on its own: its keys and version, and each trigger's name and path
//! (valid, unique), playbook name, auth, templates (`when`, `inputs`, `dedup`: they parse and
//! read only `body` and `headers`) and durations. Every problem is collected.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::check::{Checker, Fields, Owner, written_string};
use crate::codes;
use crate::duration::{format_duration, parse_duration};
use crate::model::Span;
use crate::schedules::Mark;
use crate::suggest::did_you_mean;
use crate::yaml::{self, Entry, Node, NodeKind, Problem};

use super::templates::{TemplateCheck, check_template};
use super::{Trigger, TriggerMarks};

const TOP_LEVEL_KEYS: [&str; 2] = ["version", "triggers"];
const TRIGGER_KEYS: [&str; 8] = [
    "name",
    "path",
    "playbook",
    "auth",
    "when",
    "inputs",
    "dedup",
    "dedup_window",
];
const TRIGGER_ALIASES: [(&str, &str); 8] = [
    ("url", "`path`"),
    ("route", "`path`"),
    ("filter", "`when`"),
    ("condition", "`when`"),
    ("if", "`when`"),
    ("params", "`inputs`"),
    ("dedup_key", "`dedup`"),
    ("method", "nothing: hooks answer POST only"),
];
/// `dedup_window` when `dedup` is given without one.
pub(super) const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(86_400);
const DEDUP_WINDOW_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(30 * 86_400));

pub(super) fn mark_of_value(node: &Node) -> Mark {
    Mark {
        span: node.span,
        length: node.length.max(1),
    }
}

pub(super) fn mark_of_key(entry: &Entry) -> Mark {
    Mark {
        span: entry.key_span,
        length: entry.key_length.max(1),
    }
}

/// What the walk over the file found: the good triggers and every problem.
pub(super) struct ReadFile {
    pub version: Option<u32>,
    pub triggers: Vec<Trigger>,
    /// The playbook each entry names and the inputs it gives, read even when other parts of
    /// the entry are wrong.
    pub playbook_uses: Vec<PlaybookUse>,
    /// False when some entry or top-level key was bad.
    pub complete: bool,
    pub problems: Vec<Problem>,
    /// Where a secret is written in clear (`secret:`, `token:`): diagnostics never show it.
    pub secret_values: Vec<Mark>,
}

/// A playbook name and the inputs an entry gives it.
#[derive(Debug)]
pub(super) struct PlaybookUse {
    pub playbook: String,
    pub inputs: Vec<String>,
    /// The inputs given a constant rather than a template.
    pub constants: Vec<String>,
    pub marks: TriggerMarks,
}

pub(super) fn read_file(source: &str) -> ReadFile {
    let tree = yaml::parse(source, yaml::FileKind::Triggers);
    let mut walker = Walker {
        checker: Checker::new(source),
        templates: TemplateCheck::new(source),
        first_line_by_name: IndexMap::new(),
        first_line_by_path: IndexMap::new(),
        secret_values: Vec::new(),
    };
    walker.checker.problems = tree.problems;
    let mut read = ReadFile {
        version: None,
        triggers: Vec::new(),
        playbook_uses: Vec::new(),
        complete: false,
        problems: Vec::new(),
        secret_values: Vec::new(),
    };
    match &tree.root {
        Some(root) => walker.file(root, &mut read),
        None if walker.checker.problems.is_empty() => {
            walker.checker.problems.push(
                Problem::error(codes::MISSING_KEY, Span::new(1, 1), 1, "the file is empty")
                    .help("a triggers file needs `version: 1` and `triggers:`"),
            );
        }
        None => {}
    }
    read.problems = walker.checker.problems;
    read.secret_values = walker.secret_values;
    read
}

pub(super) struct Walker<'s> {
    pub(super) checker: Checker<'s>,
    templates: TemplateCheck<'s>,
    first_line_by_name: IndexMap<String, u32>,
    first_line_by_path: IndexMap<String, u32>,
    pub(super) secret_values: Vec<Mark>,
}

/// True when `fields` holds no key outside `allowed` (each was reported).
pub(super) fn only_known_keys(fields: &Fields<'_>, allowed: &[&str]) -> bool {
    !fields
        .entries
        .iter()
        .any(|entry| !allowed.contains(&entry.key.as_str()))
}

/// Why a hook path is not allowed, if it is not.
fn hook_path_problem(path: &str) -> Option<String> {
    let Some(rest) = path.strip_prefix("/hooks/") else {
        return Some("it must start with `/hooks/`".to_owned());
    };
    if rest.is_empty() {
        return Some("it needs a name after `/hooks/`".to_owned());
    }
    if let Some(bad) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Some(format!("`{bad}` is not allowed in a hook path"));
    }
    if rest
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Some("its segments must not be empty, `.` or `..`".to_owned());
    }
    None
}

impl Walker<'_> {
    fn file(&mut self, root: &Node, read: &mut ReadFile) {
        let owner = Owner::node("the triggers file", root);
        let Some(fields) = self.checker.fields(root, owner, &TOP_LEVEL_KEYS, &[]) else {
            return;
        };
        let mut complete = only_known_keys(&fields, &TOP_LEVEL_KEYS);
        read.version = self
            .checker
            .version(&fields, "this runbook reads triggers files of version 1");
        let help = Some("add `triggers:` with a list of hooks".into());
        let items: &[Node] = match self.checker.required(&fields, "triggers", help) {
            Some(entry) => match &entry.value.kind {
                NodeKind::Seq(items) => items,
                NodeKind::Null => &[],
                _ => {
                    self.checker
                        .wrong_type("triggers", "a list of triggers", &entry.value);
                    complete = false;
                    &[]
                }
            },
            None => {
                complete = false;
                &[]
            }
        };
        for (index, node) in items.iter().enumerate() {
            match self.trigger(node, index, &mut read.playbook_uses) {
                Some(trigger) => read.triggers.push(trigger),
                None => complete = false,
            }
        }
        read.complete = complete && read.version.is_some();
    }

    fn trigger(
        &mut self,
        node: &Node,
        index: usize,
        playbook_uses: &mut Vec<PlaybookUse>,
    ) -> Option<Trigger> {
        let what = match written_string(node, "name") {
            Some(name) => format!("trigger `{name}`"),
            None => format!("trigger {}", index + 1),
        };
        let owner = Owner::node(&what, node);
        let fields = self
            .checker
            .fields(node, owner, &TRIGGER_KEYS, &TRIGGER_ALIASES)?;
        let mut ok = only_known_keys(&fields, &TRIGGER_KEYS);
        let mut marks = TriggerMarks::default();

        let name = self.name(&fields, &mut marks);
        let path = self.path(&fields, &mut marks);
        let playbook = self.playbook(&fields, &mut marks);
        let auth = self
            .checker
            .required(
                &fields,
                "auth",
                Some(
                    "add `auth: { bearer: { token_env: HOOK_TOKEN } }` or `auth: { hmac: ... }`"
                        .into(),
                ),
            )
            .and_then(|entry| self.auth(entry, &what));
        let when = self
            .checker
            .optional(&fields, "when", &mut ok, |checker, entry| {
                template_only(checker, entry)
            });
        let when = self.check_templated(when, fields.get("when"), &mut ok);
        let inputs = match fields.get("inputs") {
            Some(entry) => self.inputs(entry, &mut marks),
            None => Some(IndexMap::new()),
        };
        let dedup = self
            .checker
            .optional(&fields, "dedup", &mut ok, |checker, entry| {
                template_only(checker, entry)
            });
        let dedup = self.check_templated(dedup, fields.get("dedup"), &mut ok);
        let dedup_window = match fields.get("dedup_window") {
            Some(entry) => {
                if dedup.is_none() && fields.get("dedup").is_none() {
                    self.only_with(entry, "dedup", "a window needs a `dedup` key to apply to");
                    None
                } else {
                    self.duration(entry, DEDUP_WINDOW_RANGE)
                }
            }
            None => Some(DEFAULT_DEDUP_WINDOW),
        };

        // A bad template leaves the input's name readable: the playbook is checked all the same.
        let inputs_named = inputs.is_some()
            || fields
                .get("inputs")
                .is_some_and(|entry| matches!(entry.value.kind, NodeKind::Map(_)));
        if let Some(playbook) = playbook.as_ref().filter(|_| inputs_named) {
            playbook_uses.push(PlaybookUse {
                playbook: playbook.clone(),
                inputs: marks.input_keys.keys().cloned().collect(),
                constants: constant_inputs(fields.get("inputs")),
                marks: marks.clone(),
            });
        }
        if !(ok && dedup_window.is_some()) {
            return None;
        }
        Some(Trigger {
            name: name?,
            path: path?,
            playbook: playbook?,
            auth: auth?,
            when,
            inputs: inputs?,
            dedup,
            dedup_window: dedup_window?,
            marks,
        })
    }

    /// Checks the template read by `template_only`; a bad one clears `ok`.
    fn check_templated(
        &mut self,
        text: Option<String>,
        entry: Option<&Entry>,
        ok: &mut bool,
    ) -> Option<String> {
        let (text, entry) = (text?, entry?);
        if check_template(
            &self.templates,
            &text,
            &entry.value,
            &mut self.checker.problems,
        ) {
            Some(text)
        } else {
            *ok = false;
            None
        }
    }

    fn name(&mut self, fields: &Fields<'_>, marks: &mut TriggerMarks) -> Option<String> {
        let help = Some("add `name: my-hook`; names identify triggers in runs and logs".into());
        let entry = self.checker.required(fields, "name", help)?;
        marks.name = mark_of_value(&entry.value);
        let name = self.checker.lowercase_name(entry, "trigger name")?;
        self.unique(entry, &name, "name")?;
        Some(name)
    }

    fn path(&mut self, fields: &Fields<'_>, marks: &mut TriggerMarks) -> Option<String> {
        let help = Some("add `path: /hooks/my-hook`".into());
        let entry = self.checker.required(fields, "path", help)?;
        marks.path = mark_of_value(&entry.value);
        let path = self.checker.string(entry)?;
        if let Some(reason) = hook_path_problem(&path) {
            self.checker
                .error(
                    codes::INVALID_HOOK_PATH,
                    entry.value.span,
                    entry.value.length,
                    format!("hook path `{path}` is not allowed: {reason}"),
                )
                .help = Some(
                "write `/hooks/` then letters, digits, `-`, `_`, `.` and `/`, e.g. `/hooks/splunk`"
                    .into(),
            );
            return None;
        }
        self.unique(entry, &path, "path")?;
        Some(path)
    }

    /// Reports `value` when an earlier trigger has the same `what` (name or path).
    fn unique(&mut self, entry: &Entry, value: &str, what: &str) -> Option<()> {
        let seen = if what == "name" {
            &mut self.first_line_by_name
        } else {
            &mut self.first_line_by_path
        };
        if let Some(first_line) = seen.get(value).copied() {
            self.checker
                .error(
                    codes::DUPLICATE_TRIGGER,
                    entry.value.span,
                    entry.value.length,
                    format!("trigger {what} `{value}` is already used"),
                )
                .help = Some(format!(
                "the first `{value}` is on line {first_line}; each trigger needs its own {what}"
            ));
            return None;
        }
        seen.insert(value.to_owned(), entry.value.span.line);
        Some(())
    }

    fn playbook(&mut self, fields: &Fields<'_>, marks: &mut TriggerMarks) -> Option<String> {
        let help = Some("add `playbook: <name>`, the `name:` of a playbook".into());
        let entry = self.checker.required(fields, "playbook", help)?;
        marks.playbook = mark_of_value(&entry.value);
        self.checker.lowercase_name(entry, "playbook name")
    }

    fn inputs(
        &mut self,
        entry: &Entry,
        marks: &mut TriggerMarks,
    ) -> Option<IndexMap<String, Value>> {
        marks.inputs = Some(mark_of_key(entry));
        let entries = match &entry.value.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => return Some(IndexMap::new()),
            _ => {
                let expected = "a mapping of input names to templates";
                self.checker.wrong_type("inputs", expected, &entry.value);
                return None;
            }
        };
        let mut inputs = IndexMap::new();
        let mut ok = true;
        for input in entries {
            marks
                .input_keys
                .insert(input.key.clone(), mark_of_key(input));
            marks
                .input_values
                .insert(input.key.clone(), mark_of_value(&input.value));
            let value = input.value.to_json();
            match &value {
                Value::String(text) => {
                    ok &= check_template(
                        &self.templates,
                        text,
                        &input.value,
                        &mut self.checker.problems,
                    );
                }
                Value::Number(_) | Value::Bool(_) => {}
                _ => {
                    let expected = "a template, a string, a number or a boolean";
                    self.checker.wrong_type(&input.key, expected, &input.value);
                    ok = false;
                }
            }
            inputs.insert(input.key.clone(), value);
        }
        ok.then_some(inputs)
    }

    /// `entry` is only meaningful next to `needed`, which is not there.
    pub(super) fn only_with(&mut self, entry: &Entry, needed: &str, why: &str) {
        self.checker
            .error(
                codes::CONFLICTING_KEYS,
                entry.key_span,
                entry.key_length,
                format!("`{}` without `{needed}`", entry.key),
            )
            .help = Some(format!("{why}: add `{needed}` or remove `{}`", entry.key));
    }

    /// A duration within `range`.
    pub(super) fn duration(
        &mut self,
        entry: &Entry,
        range: (Duration, Duration),
    ) -> Option<Duration> {
        let text = self.checker.string(entry)?;
        let (span, length) = (entry.value.span, entry.value.length);
        let duration = match parse_duration(&text) {
            Ok(duration) => duration,
            Err(error) => {
                self.checker
                    .error(
                        codes::INVALID_DURATION,
                        span,
                        length,
                        format!("`{}`: {error}", entry.key),
                    )
                    .help = Some("write one number and one unit: `30s`, `5m`, `24h`".into());
                return None;
            }
        };
        if duration < range.0 || duration > range.1 {
            let (low, high) = (format_duration(range.0), format_duration(range.1));
            self.checker
                .error(
                    codes::OUT_OF_RANGE,
                    span,
                    length,
                    format!("`{}` is {text}; it must be from {low} to {high}", entry.key),
                )
                .help = Some(format!("write a duration from {low} to {high}"));
            return None;
        }
        Some(duration)
    }

    /// One of a few words (`encoding`).
    pub(super) fn choice<T: Copy>(
        &mut self,
        entry: &Entry,
        words: &[(&'static str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
        let listed = names
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = self.checker.string(entry)?;
        if let Some((_, value)) = words.iter().find(|(word, _)| *word == text) {
            return Some(*value);
        }
        let help = match did_you_mean(&text, names.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("write one of {listed}"),
        };
        self.checker
            .error(
                codes::INVALID_CHOICE,
                entry.value.span,
                entry.value.length,
                format!("`{}` is `{text}`; it must be one of {listed}", entry.key),
            )
            .help = Some(help);
        None
    }
}

/// `when` and `dedup` are templates: a constant would filter nothing or dedup everything.
fn template_only(checker: &mut Checker<'_>, entry: &Entry) -> Option<String> {
    let text = checker.string(entry)?;
    if crate::templates::looks_like_template(&text) {
        return Some(text);
    }
    checker
        .error(
            codes::WRONG_TYPE,
            entry.value.span,
            entry.value.length,
            format!(
                "`{}` must be a template over `body` and `headers`",
                entry.key
            ),
        )
        .help = Some(format!(
        "write it in `{{{{ ... }}}}`, e.g. `{}: \"{{{{ body.id }}}}\"`",
        entry.key
    ));
    None
}

/// The names of the inputs written as constants (not templates).
fn constant_inputs(entry: Option<&Entry>) -> Vec<String> {
    let Some(NodeKind::Map(entries)) = entry.map(|entry| &entry.value.kind) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|input| match &input.value.kind {
            NodeKind::Str(text) => !crate::templates::looks_like_template(text),
            _ => true,
        })
        .map(|input| input.key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_paths() {
        assert_eq!(hook_path_problem("/hooks/splunk"), None);
        assert_eq!(hook_path_problem("/hooks/a/b.c_d-e"), None);
        assert!(hook_path_problem("/splunk").is_some());
        assert!(hook_path_problem("/hooks/").is_some());
        assert!(hook_path_problem("/hooks/a//b").is_some());
        assert!(hook_path_problem("/hooks/../admin").is_some());
        assert!(hook_path_problem("/hooks/a?b=1").is_some());
    }
}

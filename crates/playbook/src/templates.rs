//! Static checks of the MiniJinja templates inside a playbook: syntax, every name used
//! (declared input, earlier step, real output of that step's kind, `run.*`, listed secrets),
//! and the filters and tests used.

use std::collections::{BTreeSet, HashMap};

use minijinja::Environment;

use crate::codes;
use crate::model::Span;
use crate::suggest::did_you_mean;
use crate::yaml::Problem;

/// True when the text holds template syntax.
pub fn looks_like_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Names under `run.` in scope for every template. The engine's drift test checks them against
/// what it puts under `run`.
pub const RUN_FIELDS: [&str; 3] = ["id", "playbook", "started_at"];

/// What `run` also holds in `on_failure` and `finally` steps: how the main steps ended.
pub const HANDLER_RUN_FIELDS: [&str; 3] = ["status", "failed_step", "error"];

/// MiniJinja's global functions (default features), usable as bare names, and `loop` (inside
/// a `for`). The engine's drift test checks them against its environment.
pub const GLOBAL_FUNCTIONS: [&str; 5] = ["range", "dict", "debug", "namespace", "loop"];

/// MiniJinja's built-in filters with the features this workspace enables. The engine's drift
/// test checks them against its environment.
pub const BUILTIN_FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "pprint",
    "format",
    "tojson",
    "urlencode",
];

/// MiniJinja's built-in tests. The engine's drift test checks them against its environment.
pub const BUILTIN_TESTS: &[&str] = &[
    "undefined",
    "defined",
    "none",
    "safe",
    "escaped",
    "boolean",
    "odd",
    "even",
    "divisibleby",
    "number",
    "integer",
    "int",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "startingwith",
    "endingwith",
    "lower",
    "upper",
    "sameas",
    "eq",
    "equalto",
    "ne",
    "lt",
    "lessthan",
    "le",
    "gt",
    "greaterthan",
    "ge",
    "in",
    "true",
    "false",
    "filter",
    "test",
];

/// What a step offers to the templates of later steps.
#[derive(Debug, Clone)]
pub(crate) struct StepInfo {
    pub index: usize,
    pub kind: Option<&'static str>,
    /// Keys of a `set` step.
    pub set_keys: Vec<String>,
    pub has_when: bool,
    /// An `issue` step with a `rollout` (it has more outputs).
    pub rollout: bool,
}

/// Everything a template may name.
#[derive(Debug)]
pub(crate) struct Scope {
    pub inputs: Vec<String>,
    pub secrets: Vec<String>,
    pub steps: HashMap<String, StepInfo>,
    /// Step ids in order, for suggestions.
    pub step_order: Vec<String>,
    /// Names a loop gives its steps: the item's name and `loop`.
    pub locals: Vec<String>,
    /// Inside a `for_each`: the loop's id (its own outputs exist only after it).
    pub enclosing: Option<String>,
    /// The ids of steps inside loops, with their loop's id: read from outside, they are
    /// pointed at the loop's `results`.
    pub inner: HashMap<String, String>,
}

/// Where a template sits: which step (None for top-level outputs) and that step's `when`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    pub step_index: Option<usize>,
    pub step_when: Option<&'a str>,
    /// In an `on_failure` or `finally` step, where `run.status`, `run.failed_step` and
    /// `run.error` exist.
    pub handler: bool,
}

pub(crate) struct TemplateChecker<'s> {
    environment: Environment<'static>,
    source_lines: Vec<&'s str>,
}

impl std::fmt::Debug for TemplateChecker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateChecker").finish_non_exhaustive()
    }
}

impl<'s> TemplateChecker<'s> {
    pub fn new(source: &'s str) -> Self {
        Self {
            environment: Environment::new(),
            source_lines: source.lines().collect(),
        }
    }

    /// Checks every string inside `value` written at `span`.
    pub fn check_value(
        &self,
        value: &serde_json::Value,
        span: Span,
        scope: &Scope,
        site: Site<'_>,
        problems: &mut Vec<Problem>,
    ) {
        match value {
            serde_json::Value::String(text) => self.check_text(text, span, scope, site, problems),
            serde_json::Value::Array(items) => {
                for item in items {
                    self.check_value(item, span, scope, site, problems);
                }
            }
            serde_json::Value::Object(map) => {
                for item in map.values() {
                    self.check_value(item, span, scope, site, problems);
                }
            }
            _ => {}
        }
    }

    /// Where `needle` is written on the line of `span`, at or after its column; else `span`.
    fn locate(&self, span: Span, needle: &str) -> (Span, u32) {
        let length = u32::try_from(needle.chars().count()).unwrap_or(1).max(1);
        let Some(line) = self.source_lines.get(span.line.saturating_sub(1) as usize) else {
            return (span, length);
        };
        let skip = span.column.saturating_sub(1) as usize;
        let start_byte = line
            .char_indices()
            .nth(skip)
            .map_or(line.len(), |(at, _)| at);
        match line[start_byte..].find(needle) {
            Some(offset) => {
                let column_offset = line[start_byte..start_byte + offset].chars().count();
                let column = span.column + u32::try_from(column_offset).unwrap_or(0);
                (Span::new(span.line, column), length)
            }
            None => (span, length),
        }
    }

    /// True when `needle` is written exactly at `span`.
    fn line_has_at(&self, span: Span, needle: &str) -> bool {
        self.source_lines
            .get(span.line.saturating_sub(1) as usize)
            .and_then(|line| {
                let skip = span.column.saturating_sub(1) as usize;
                line.char_indices()
                    .nth(skip)
                    .map(|(at, _)| line[at..].starts_with(needle))
            })
            .unwrap_or(false)
    }

    pub fn check_text(
        &self,
        text: &str,
        span: Span,
        scope: &Scope,
        site: Site<'_>,
        problems: &mut Vec<Problem>,
    ) {
        if !looks_like_template(text) {
            return;
        }
        let template = match self.environment.template_from_str(text) {
            Ok(template) => template,
            Err(error) => {
                let detail = error.detail().unwrap_or("syntax error").to_owned();
                let (mut at, mut length) = self.locate(span, text.lines().next().unwrap_or(text));
                // On a one-line template found in the source, point at the offending token.
                if let Some(range) = error.range()
                    && !text.contains('\n')
                    && (at != span || self.line_has_at(span, text))
                    && let (Some(before), Some(token)) =
                        (text.get(..range.start), text.get(range.clone()))
                {
                    at.column += u32::try_from(before.chars().count()).unwrap_or(0);
                    length = u32::try_from(token.chars().count()).unwrap_or(1).max(1);
                }
                problems.push(
                    Problem::error(
                        codes::TEMPLATE_SYNTAX,
                        at,
                        length,
                        format!("template syntax error: {detail}"),
                    )
                    .help(if detail.contains("end of input") && detail.contains("variable block") {
                        "the expression is not closed: end it with `}}`"
                    } else if detail.contains("end of input") {
                        "a block is not closed: check for a missing `%}` or `{% endif %}` / `{% endfor %}`"
                    } else {
                        "templates use MiniJinja (Jinja2) syntax: `{{ expression }}`, `{% if ... %}`"
                    }),
                );
                return;
            }
        };
        let names: BTreeSet<String> = template.undeclared_variables(true).into_iter().collect();
        for name in &names {
            self.check_name(name, text, span, scope, site, problems);
        }
        self.check_filters_and_tests(text, span, problems);
    }

    fn check_name(
        &self,
        name: &str,
        text: &str,
        span: Span,
        scope: &Scope,
        site: Site<'_>,
        problems: &mut Vec<Problem>,
    ) {
        let parts: Vec<&str> = name.split('.').collect();
        let root = parts[0];
        let (at, length) = self.locate(span, name);
        match root {
            "inputs" => {
                let Some(input) = parts.get(1) else { return };
                if !scope.inputs.iter().any(|declared| declared == input) {
                    let mut problem = Problem::error(
                        codes::UNKNOWN_NAME,
                        at,
                        length,
                        format!("`inputs.{input}` is not a declared input"),
                    );
                    problem = match did_you_mean(input, scope.inputs.iter().map(String::as_str)) {
                        Some(close) => problem.help(format!("did you mean `inputs.{close}`?")),
                        None => problem.help(format!(
                            "declare it under `inputs:` as `{input}: {{ type: string }}`"
                        )),
                    };
                    problems.push(problem);
                }
            }
            "steps" => self.check_step_reference(&parts, text, at, length, scope, site, problems),
            root if scope.locals.iter().any(|local| local == root) => {}
            "run" => {
                let Some(field) = parts.get(1) else { return };
                if site.handler && HANDLER_RUN_FIELDS.contains(field) {
                    return;
                }
                if HANDLER_RUN_FIELDS.contains(field) {
                    problems.push(
                        Problem::error(
                            codes::UNKNOWN_NAME,
                            at,
                            length,
                            format!(
                                "`run.{field}` exists only in `on_failure` and `finally` steps"
                            ),
                        )
                        .help("the main steps run before the run has a status"),
                    );
                    return;
                }
                if !RUN_FIELDS.contains(field) {
                    let mut problem = Problem::error(
                        codes::UNKNOWN_NAME,
                        at,
                        length,
                        format!("`run.{field}` does not exist"),
                    );
                    problem = match did_you_mean(field, RUN_FIELDS) {
                        Some(close) => problem.help(format!("did you mean `run.{close}`?")),
                        None => problem.help("`run` has `id`, `playbook` and `started_at`"),
                    };
                    problems.push(problem);
                }
            }
            "secrets" => {
                let Some(secret) = parts.get(1) else { return };
                if !scope.secrets.iter().any(|listed| listed == secret) {
                    let mut problem = Problem::error(
                        codes::UNLISTED_SECRET,
                        at,
                        length,
                        format!("secret `{secret}` is not listed under `secrets:`"),
                    );
                    problem = match did_you_mean(secret, scope.secrets.iter().map(String::as_str)) {
                        Some(close) => problem.help(format!("did you mean `secrets.{close}`? Otherwise list `{secret}` under `secrets:`")),
                        None => problem.help(format!("list it: `secrets: [{secret}]`; a playbook reads only the environment variables it lists")),
                    };
                    problems.push(problem);
                }
            }
            root if GLOBAL_FUNCTIONS.contains(&root) => {}
            _ => {
                let mut problem = Problem::error(
                    codes::UNKNOWN_NAME,
                    at,
                    length,
                    format!("`{root}` is not defined in templates"),
                );
                problem = if scope.inputs.iter().any(|input| input == root) {
                    problem.help(format!("inputs are read as `inputs.{root}`"))
                } else if scope.steps.contains_key(root) {
                    problem.help(format!("step outputs are read as `steps.{root}.<output>`"))
                } else if let Some(close) =
                    did_you_mean(root, ["inputs", "steps", "run", "secrets"])
                {
                    problem.help(format!("did you mean `{close}`?"))
                } else {
                    problem.help("names in scope: `inputs.<name>`, `steps.<id>.<output>`, `run.id`, `run.playbook`, `run.started_at`, `secrets.<NAME>`")
                };
                problems.push(problem);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_step_reference(
        &self,
        parts: &[&str],
        text: &str,
        at: Span,
        length: u32,
        scope: &Scope,
        site: Site<'_>,
        problems: &mut Vec<Problem>,
    ) {
        let Some(step_id) = parts.get(1) else { return };
        if scope.enclosing.as_deref() == Some(*step_id) {
            problems.push(
                Problem::error(
                    codes::LOOP_SCOPE,
                    at,
                    length,
                    format!("a step inside loop `{step_id}` reads the loop's own outputs"),
                )
                .help("the loop's outputs exist after it; inside, read the item and `loop.index`, or the loop's earlier steps"),
            );
            return;
        }
        if let Some(loop_id) = scope.inner.get(*step_id)
            && !scope.steps.contains_key(*step_id)
        {
            problems.push(
                Problem::error(
                    codes::LOOP_SCOPE,
                    at,
                    length,
                    format!("step `{step_id}` runs inside loop `{loop_id}`, once per item"),
                )
                .help(format!(
                    "after the loop, read `steps.{loop_id}.results` (one entry per item, with `outputs.{step_id}`), or `steps.{loop_id}.succeeded` / `failed` / `skipped`"
                )),
            );
            return;
        }
        let Some(step) = scope.steps.get(*step_id) else {
            let mut problem = Problem::error(
                codes::UNKNOWN_STEP,
                at,
                length,
                format!("there is no step `{step_id}`"),
            );
            let earlier = scope
                .step_order
                .iter()
                .take(site.step_index.unwrap_or(usize::MAX))
                .map(String::as_str);
            if let Some(close) = did_you_mean(step_id, earlier) {
                problem = problem.help(format!("did you mean `steps.{close}`?"));
            }
            problems.push(problem);
            return;
        };
        if let Some(current) = site.step_index
            && step.index >= current
        {
            let message = if step.index == current {
                format!("step `{step_id}` refers to its own outputs")
            } else {
                format!("step `{step_id}` runs later, so its outputs do not exist yet")
            };
            problems.push(
                Problem::error(codes::FORWARD_REFERENCE, at, length, message).help(
                    "a step can only use the outputs of steps before it; move this step after it",
                ),
            );
            return;
        }
        let Some(output) = parts.get(2) else { return };
        if *output == "skipped" {
            return;
        }
        let known: Vec<&str> = match step.kind {
            Some("set") => step.set_keys.iter().map(String::as_str).collect(),
            Some("issue") if step.rollout => crate::model::ISSUE_ROLLOUT_OUTPUTS.to_vec(),
            Some(kind) => crate::model::outputs_of_kind(kind).to_vec(),
            None => return,
        };
        if !known.contains(output) {
            let kind = step.kind.unwrap_or("?");
            let mut problem = Problem::error(
                codes::UNKNOWN_OUTPUT,
                at,
                length,
                format!("step `{step_id}` ({kind}) has no output `{output}`"),
            );
            problem = match did_you_mean(output, known.iter().copied()) {
                Some(close) => problem.help(format!("did you mean `steps.{step_id}.{close}`?")),
                None if known.is_empty() => {
                    problem.help(format!("a `{kind}` step has no outputs besides `skipped`"))
                }
                None => problem.help(format!(
                    "a `{kind}` step's outputs are: {}, skipped",
                    known.join(", ")
                )),
            };
            problems.push(problem);
            return;
        }
        if step.has_when
            && !guards_skip(text, step_id)
            && !site
                .step_when
                .is_some_and(|when| guards_skip(when, step_id))
        {
            problems.push(Problem {
                code: codes::MAYBE_SKIPPED,
                severity: crate::diagnostic::Severity::Warning,
                message: format!("step `{step_id}` has a `when` and may be skipped, leaving `{output}` undefined"),
                span: at,
                length,
                help: Some(format!(
                    "give a fallback (`{{{{ steps.{step_id}.{output} | default(...) }}}}`), or add `when: \"{{{{ not steps.{step_id}.skipped }}}}\"` to this step"
                )),
            });
        }
    }

    /// A cheap lexical scan for `| name` (filters) and `is [not] name` (tests) inside template
    /// tags, skipping string literals, so that a typo in a filter fails validation instead of
    /// the run.
    fn check_filters_and_tests(&self, text: &str, span: Span, problems: &mut Vec<Problem>) {
        for (kind, name) in filters_and_tests(text) {
            let (known, what) = if kind == UseKind::Filter {
                (BUILTIN_FILTERS, "filter")
            } else {
                (BUILTIN_TESTS, "test")
            };
            if known.contains(&name.as_str()) {
                continue;
            }
            let (at, length) = self.locate(span, &name);
            let mut problem = Problem::error(
                codes::UNKNOWN_FILTER,
                at,
                length,
                format!("unknown {what} `{name}`"),
            );
            if let Some(close) = did_you_mean(&name, known.iter().copied()) {
                problem = problem.help(format!("did you mean `{close}`?"));
            }
            problems.push(problem);
        }
    }
}

/// True when `text` shows the author thought about the step being skipped.
fn guards_skip(text: &str, step_id: &str) -> bool {
    text.contains("default")
        || text.contains("is defined")
        || text.contains("is undefined")
        || text.contains(&format!("steps.{step_id}"))
            && (text.contains("skipped") || text.contains("not "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UseKind {
    Filter,
    Test,
}

/// Filters and tests named inside `{{ }}` and `{% %}` tags.
fn filters_and_tests(text: &str) -> Vec<(UseKind, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{']) {
        let after = &rest[open..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            rest = &after[1..];
            continue;
        };
        let body_start = 2;
        let Some(end) = after[body_start..].find(close) else {
            break;
        };
        scan_tag(&after[body_start..body_start + end], &mut found);
        rest = &after[body_start + end + 2..];
    }
    found
}

fn scan_tag(body: &str, found: &mut Vec<(UseKind, String)>) {
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            // Skip a string literal, honouring backslash escapes.
            while let Some(inner) = chars.next() {
                if inner == '\\' {
                    chars.next();
                } else if inner == c {
                    break;
                }
            }
            tokens.push("\"".to_owned());
        } else if c.is_alphanumeric() || c == '_' {
            let mut word = String::from(c);
            while let Some(&next) = chars.peek() {
                if next.is_alphanumeric() || next == '_' {
                    word.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(word);
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    for (index, token) in tokens.iter().enumerate() {
        let next = tokens.get(index + 1);
        if token == "|"
            && let Some(name) = next
            && is_identifier(name)
        {
            found.push((UseKind::Filter, name.clone()));
        }
        if token == "is"
            && let Some(mut name) = next
        {
            if name == "not"
                && let Some(after_not) = tokens.get(index + 2)
            {
                name = after_not;
            }
            if is_identifier(name) && name != "not" {
                found.push((UseKind::Test, name.clone()));
            }
        }
    }
}

fn is_identifier(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_filters_and_tests_outside_string_literals() {
        let found = filters_and_tests(
            "{{ x | lowr }} {% if y is not definedd %}{{ '|nope' ~ z|default('a') }}{% endif %}",
        );
        assert_eq!(
            found,
            vec![
                (UseKind::Filter, "lowr".to_owned()),
                (UseKind::Test, "definedd".to_owned()),
                (UseKind::Filter, "default".to_owned()),
            ]
        );
    }

    #[test]
    fn plain_text_is_not_a_template() {
        assert!(!looks_like_template("Computer Name"));
        assert!(looks_like_template("x {{ y }}"));
        assert!(looks_like_template("{% if a %}b{% endif %}"));
    }
}

//! A trigger's templates (`when`, `inputs`, `dedup`): checked by the playbook template checker
//! for syntax, filters and tests, and for names here: a hook's templates read only `body` (the
//! request's JSON) and `headers` (lowercase names).

use std::collections::{BTreeSet, HashMap};

use minijinja::Environment;

use crate::codes;
use crate::suggest::did_you_mean;
use crate::templates::{GLOBAL_FUNCTIONS, Scope, Site, TemplateChecker, looks_like_template};
use crate::yaml::{Node, Problem};

/// The names a hook's templates read.
pub const TRIGGER_NAMES: [&str; 2] = ["body", "headers"];

/// What checking a file's templates needs, built once per file (the source split in lines).
pub(super) struct TemplateCheck<'s> {
    source: &'s str,
    checker: TemplateChecker<'s>,
    scope: Scope,
    environment: Environment<'static>,
}

impl<'s> TemplateCheck<'s> {
    pub(super) fn new(source: &'s str) -> Self {
        Self {
            source,
            checker: TemplateChecker::new(source),
            scope: Scope {
                inputs: Vec::new(),
                secrets: Vec::new(),
                steps: HashMap::new(),
                step_order: Vec::new(),
                locals: Vec::new(),
                enclosing: None,
                inner: HashMap::new(),
            },
            environment: Environment::new(),
        }
    }
}

/// Checks `text`, written at `node`, adding its problems. True when it is good.
pub(super) fn check_template(
    check: &TemplateCheck<'_>,
    text: &str,
    node: &Node,
    problems: &mut Vec<Problem>,
) -> bool {
    if !looks_like_template(text) {
        return true;
    }
    let site = Site {
        step_index: None,
        step_when: None,
        handler: false,
    };
    let mut found = Vec::new();
    check
        .checker
        .check_text(text, node.span, &check.scope, site, &mut found);
    // The playbook checker knows playbook names only; names are checked below instead.
    found.retain(|problem| {
        ![
            codes::UNKNOWN_NAME,
            codes::UNKNOWN_STEP,
            codes::UNLISTED_SECRET,
        ]
        .contains(&problem.code)
    });
    let syntax_error = found
        .iter()
        .any(|problem| problem.code == codes::TEMPLATE_SYNTAX);
    let mut good = found.is_empty();
    problems.extend(found);
    if syntax_error {
        return false;
    }
    let Ok(template) = check.environment.template_from_str(text) else {
        return false;
    };
    let names: BTreeSet<String> = template.undeclared_variables(false).into_iter().collect();
    for name in names {
        if TRIGGER_NAMES.contains(&name.as_str()) || GLOBAL_FUNCTIONS.contains(&name.as_str()) {
            continue;
        }
        let help = match did_you_mean(&name, TRIGGER_NAMES) {
            Some(close) => format!("did you mean `{close}`?"),
            None => "a hook's templates read `body` (the request's JSON) and `headers` \
                     (lowercase names), e.g. `{{ body.result.host }}`"
                .to_owned(),
        };
        let (span, length) = locate(check.source, node, &name);
        problems.push(
            Problem::error(
                codes::UNKNOWN_NAME,
                span,
                length,
                format!("`{name}` is not defined in a trigger's templates"),
            )
            .help(help),
        );
        good = false;
    }
    good
}

/// Where `name` is written on the value's line, at or after the value; else the value.
fn locate(source: &str, node: &Node, name: &str) -> (crate::model::Span, u32) {
    let length = u32::try_from(name.chars().count()).unwrap_or(1).max(1);
    let span = node.span;
    let Some(line) = source.lines().nth(span.line.saturating_sub(1) as usize) else {
        return (span, length);
    };
    let skip = span.column.saturating_sub(1) as usize;
    let start = line
        .char_indices()
        .nth(skip)
        .map_or(line.len(), |(at, _)| at);
    let mut from = start;
    // The name as a whole word: not part of `body.name` or `my_name`.
    while let Some(offset) = line[from..].find(name) {
        let at = from + offset;
        let before = line[..at].chars().next_back();
        let after = line[at + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        if !word(before) && !after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            let column = span.column + u32::try_from(line[start..at].chars().count()).unwrap_or(0);
            return (crate::model::Span::new(span.line, column), length);
        }
        from = at + name.len();
    }
    (span, length)
}

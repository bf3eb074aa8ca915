//! Lowering the located YAML tree into a typed [`Playbook`], collecting every problem on the way.
//! A bad field never stops the walk: each field is checked on its own, and a step is only
//! assembled when all its fields were good.

use std::collections::HashMap;
use std::time::Duration;

use crate::codes;
use crate::diagnostic::Severity;
use crate::duration::parse_duration;
use crate::model::*;
use crate::suggest::did_you_mean;
use crate::templates::{Scope, Site, StepInfo, TemplateChecker, looks_like_template};
use crate::yaml::{Entry, Node, NodeKind, Problem};
use indexmap::IndexMap;

const TOP_LEVEL_KEYS: [&str; 8] = [
    "version",
    "name",
    "description",
    "inputs",
    "guard",
    "secrets",
    "steps",
    "outputs",
];
const COMMON_STEP_KEYS: [&str; 6] = [
    "id",
    "name",
    "when",
    "timeout",
    "retry",
    "continue_on_error",
];
const INPUT_KEYS: [&str; 9] = [
    "type",
    "description",
    "default",
    "required",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "secret",
];

/// The key of a mapping entry, or of the mapping itself: where "missing key" errors point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner<'a> {
    pub what: &'a str,
    pub span: Span,
    pub length: u32,
}

/// The entries of one mapping, after unknown keys were reported.
pub(crate) struct Fields<'n> {
    pub entries: &'n [Entry],
    pub owner: Owner<'n>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }
}

pub(crate) struct Checker<'s> {
    pub problems: Vec<Problem>,
    templates: TemplateChecker<'s>,
}

fn is_identifier(text: &str, allow_upper: bool) -> bool {
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

pub(crate) fn is_playbook_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// What a value must be, for "wrong type" messages.
fn describe_expected(expected: &str, node: &Node) -> String {
    format!("must be {expected}, not {}", node.type_name())
}

impl<'s> Checker<'s> {
    pub fn new(source: &'s str) -> Self {
        Self {
            problems: Vec::new(),
            templates: TemplateChecker::new(source),
        }
    }

    pub(crate) fn error(
        &mut self,
        code: &'static str,
        span: Span,
        length: u32,
        message: impl Into<String>,
    ) -> &mut Problem {
        self.problems
            .push(Problem::error(code, span, length, message));
        let last = self.problems.len() - 1;
        &mut self.problems[last]
    }

    fn warning(
        &mut self,
        code: &'static str,
        span: Span,
        length: u32,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.problems.push(Problem {
            code,
            severity: Severity::Warning,
            message: message.into(),
            span,
            length,
            help,
        });
    }

    pub(crate) fn wrong_type(&mut self, key: &str, expected: &str, node: &Node) {
        self.error(
            codes::WRONG_TYPE,
            node.span,
            node.length,
            format!("`{key}` {}", describe_expected(expected, node)),
        );
    }

    /// Reads a mapping, reporting keys outside `allowed` (with a suggestion) and a non-mapping.
    pub(crate) fn fields<'n>(
        &mut self,
        node: &'n Node,
        owner: Owner<'n>,
        allowed: &[&str],
        aliases: &[(&str, &str)],
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            if !matches!(node.kind, NodeKind::Str(_))
                || !self
                    .problems
                    .iter()
                    .any(|p| p.code == codes::UNQUOTED_TEMPLATE && p.span == node.span)
            {
                self.error(
                    codes::WRONG_TYPE,
                    node.span,
                    node.length,
                    format!(
                        "{} must be a mapping (`key: value` lines), not {}",
                        owner.what,
                        node.type_name()
                    ),
                );
            }
            return None;
        };
        for entry in entries {
            if allowed.contains(&entry.key.as_str()) {
                continue;
            }
            // Words from other tools (`optional`, `values`, ...) get the format's own spelling.
            let alias = aliases
                .iter()
                .find(|(word, _)| *word == entry.key)
                .map(|(_, advice)| *advice);
            let help = match (alias, did_you_mean(&entry.key, allowed.iter().copied())) {
                (Some(advice), _) => format!("write {advice}"),
                (None, Some(close)) => format!("did you mean `{close}`?"),
                (None, None) => format!("known keys here: {}", allowed.join(", ")),
            };
            let message = format!("unknown key `{}` in {}", entry.key, owner.what);
            self.error(
                codes::UNKNOWN_KEY,
                entry.key_span,
                entry.key_length,
                message,
            )
            .help = Some(help);
        }
        Some(Fields { entries, owner })
    }

    fn missing(&mut self, owner: Owner<'_>, key: &str, help: Option<String>) {
        let message = format!("{} is missing `{key}`", owner.what);
        self.error(codes::MISSING_KEY, owner.span, owner.length, message)
            .help = help;
    }

    pub(crate) fn required<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &str,
        help: Option<String>,
    ) -> Option<&'n Entry> {
        let entry = fields.get(key);
        if entry.is_none() {
            self.missing(fields.owner, key, help);
        }
        entry
    }

    pub(crate) fn string(&mut self, entry: &Entry) -> Option<String> {
        match &entry.value.kind {
            NodeKind::Str(text) => Some(text.clone()),
            _ => {
                self.wrong_type(&entry.key, "a string", &entry.value);
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, entry: &Entry) -> Option<bool> {
        match &entry.value.kind {
            NodeKind::Bool(value) => Some(*value),
            _ => {
                self.wrong_type(&entry.key, "`true` or `false`", &entry.value);
                None
            }
        }
    }

    fn integer(&mut self, entry: &Entry, minimum: i64, maximum: i64) -> Option<i64> {
        match &entry.value.kind {
            NodeKind::Int(value) if (minimum..=maximum).contains(value) => Some(*value),
            NodeKind::Int(value) => {
                let range = if maximum == i64::MAX {
                    format!("at least {minimum}")
                } else {
                    format!("between {minimum} and {maximum}")
                };
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is {value}; it must be {range}", entry.key),
                );
                None
            }
            _ => {
                self.wrong_type(&entry.key, "an integer", &entry.value);
                None
            }
        }
    }

    fn number(&mut self, entry: &Entry) -> Option<f64> {
        match &entry.value.kind {
            NodeKind::Int(value) => Some(*value as f64),
            NodeKind::Float(value) if value.is_finite() => Some(*value),
            _ => {
                self.wrong_type(&entry.key, "a number", &entry.value);
                None
            }
        }
    }

    fn duration(&mut self, entry: &Entry) -> Option<Duration> {
        match &entry.value.kind {
            NodeKind::Str(text) => {
                match parse_duration(text) {
                    Ok(duration) => Some(duration),
                    Err(error) => {
                        self.error(
                        codes::INVALID_DURATION,
                        entry.value.span,
                        entry.value.length,
                        format!("`{}`: {error}", entry.key),
                    )
                    .help = Some("durations are one number and one unit: `500ms`, `30s`, `10m`, `2h`, `1d`".into());
                        None
                    }
                }
            }
            NodeKind::Int(value) => {
                self.error(
                    codes::INVALID_DURATION,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is a bare number; a duration needs a unit", entry.key),
                )
                .help = Some(format!(
                    "write `{value}s` for seconds, or `{value}m` for minutes"
                ));
                None
            }
            _ => {
                self.wrong_type(&entry.key, "a duration like `30s`", &entry.value);
                None
            }
        }
    }

    fn duration_or(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        default: Duration,
    ) -> Option<Duration> {
        match fields.get(key) {
            Some(entry) => self.duration(entry),
            None => Some(default),
        }
    }

    /// A value that may hold templates: any scalar, list or map (strings are templates).
    fn template_value(&mut self, entry: &Entry, scope: &Scope, site: Site<'_>) -> TemplateValue {
        let value = entry.value.to_json();
        self.templates
            .check_value(&value, entry.value.span, scope, site, &mut self.problems);
        TemplateValue {
            value,
            span: entry.value.span,
        }
    }

    /// A scalar (string, number or bool) that may hold templates.
    fn scalar_template(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Seq(_) | NodeKind::Map(_) => {
                self.wrong_type(&entry.key, "a single value or a template", &entry.value);
                None
            }
            NodeKind::Null => {
                self.error(
                    codes::WRONG_TYPE,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is empty", entry.key),
                );
                None
            }
            _ => Some(self.template_value(entry, scope, site)),
        }
    }

    /// A condition: a template expression or a boolean. Plain text would always be truthy,
    /// which is never what the author meant.
    fn condition(&mut self, entry: &Entry, scope: &Scope, site: Site<'_>) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Bool(_) => Some(self.template_value(entry, scope, site)),
            NodeKind::Str(text) if looks_like_template(text) => {
                Some(self.template_value(entry, scope, site))
            }
            NodeKind::Str(text) => {
                self.error(
                    codes::WRONG_TYPE,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is plain text, which is always true", entry.key),
                )
                .help = Some(format!(
                    "write the expression as a quoted template: `{}: \"{{{{ {text} }}}}\"`",
                    entry.key
                ));
                None
            }
            _ => {
                self.wrong_type(
                    &entry.key,
                    "a template expression like \"{{ inputs.x }}\"",
                    &entry.value,
                );
                None
            }
        }
    }

    pub fn playbook(&mut self, root: &Node) -> Option<Playbook> {
        let owner = Owner {
            what: "the playbook",
            span: root.span,
            length: 1,
        };
        let fields = self.fields(root, owner, &TOP_LEVEL_KEYS, &[])?;

        let version = match self.required(
            &fields,
            "version",
            Some("add `version: 1` at the top".into()),
        ) {
            Some(entry) => match &entry.value.kind {
                NodeKind::Int(1) => Some(1),
                NodeKind::Int(other) => {
                    self.error(
                        codes::UNSUPPORTED_VERSION,
                        entry.value.span,
                        entry.value.length,
                        format!("version {other} is not supported"),
                    )
                    .help = Some("this runbook reads version 1".into());
                    None
                }
                _ => {
                    self.wrong_type("version", "the integer 1", &entry.value);
                    None
                }
            },
            None => None,
        };

        let name = self
            .required(&fields, "name", Some("add `name: my-playbook`".into()))
            .and_then(|entry| {
                let name = self.string(entry)?;
                if is_playbook_name(&name) {
                    Some(name)
                } else {
                    self.error(
                        codes::INVALID_NAME,
                        entry.value.span,
                        entry.value.length,
                        format!("playbook name `{name}` is not allowed"),
                    )
                    .help = Some(format!(
                        "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, e.g. `{}`",
                        suggest_playbook_name(&name)
                    ));
                    None
                }
            });

        let description = fields
            .get("description")
            .and_then(|entry| self.string(entry));

        let inputs = match fields.get("inputs") {
            Some(entry) => self.inputs(entry),
            None => Some(IndexMap::new()),
        };

        let guard = fields.get("guard").and_then(|entry| {
            let owner = Owner {
                what: "`guard`",
                span: entry.key_span,
                length: entry.key_length,
            };
            let guard_fields = self.fields(&entry.value, owner, &["max_endpoints"], &[])?;
            let max_endpoints = match guard_fields.get("max_endpoints") {
                Some(max) => Some(Some(u64::try_from(self.integer(max, 1, i64::MAX)?).ok()?)),
                None => Some(None),
            };
            max_endpoints.map(|max_endpoints| Guard { max_endpoints })
        });
        let guard_ok = fields.get("guard").is_none() || guard.is_some();

        let secrets = match fields.get("secrets") {
            Some(entry) => self.secrets(entry),
            None => Some(Vec::new()),
        };

        // Names in scope come from what could be read, even when parts of it were wrong, so
        // that one mistake does not hide the template problems behind it.
        let steps_entry = self.required(
            &fields,
            "steps",
            Some("add `steps:` with at least one step".into()),
        );
        let step_nodes: &[Node] = match steps_entry.map(|entry| &entry.value.kind) {
            Some(NodeKind::Seq(items)) => {
                if items.is_empty()
                    && let Some(entry) = steps_entry
                {
                    self.error(
                        codes::EMPTY_LIST,
                        entry.key_span,
                        entry.key_length,
                        "`steps` is empty",
                    )
                    .help = Some("a playbook needs at least one step".into());
                }
                items
            }
            Some(_) => {
                if let Some(entry) = steps_entry {
                    self.wrong_type("steps", "a list of steps", &entry.value);
                }
                &[]
            }
            None => &[],
        };
        let scope = self.scope(fields.get("inputs"), fields.get("secrets"), step_nodes);

        let mut seen_ids: HashMap<String, Span> = HashMap::new();
        let mut steps = Vec::new();
        let mut steps_ok = steps_entry.is_some() && !step_nodes.is_empty();
        for (index, node) in step_nodes.iter().enumerate() {
            match self.step(node, index, &scope, &mut seen_ids) {
                Some(step) => steps.push(step),
                None => steps_ok = false,
            }
        }

        let outputs = match fields.get("outputs") {
            Some(entry) => self.outputs(entry, &scope),
            None => Some(IndexMap::new()),
        };

        Some(Playbook {
            version: version?,
            name: name?,
            description,
            inputs: inputs?,
            guard: if guard_ok { guard } else { return None },
            secrets: secrets?,
            steps: if steps_ok { steps } else { return None },
            outputs: outputs?,
        })
    }

    fn scope(&self, inputs: Option<&Entry>, secrets: Option<&Entry>, step_nodes: &[Node]) -> Scope {
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
        for (index, node) in step_nodes.iter().enumerate() {
            let NodeKind::Map(entries) = &node.kind else {
                continue;
            };
            let Some(id) = entries
                .iter()
                .find(|entry| entry.key == "id")
                .and_then(|entry| match &entry.value.kind {
                    NodeKind::Str(id) => Some(id.clone()),
                    _ => None,
                })
            else {
                continue;
            };
            let kind_entry = entries
                .iter()
                .find(|entry| STEP_KINDS.contains(&entry.key.as_str()));
            let kind = kind_entry
                .and_then(|entry| STEP_KINDS.iter().copied().find(|kind| *kind == entry.key));
            let set_keys = match kind_entry.map(|entry| (&entry.key, &entry.value.kind)) {
                Some((key, NodeKind::Map(set_entries))) if key == "set" => {
                    set_entries.iter().map(|entry| entry.key.clone()).collect()
                }
                _ => Vec::new(),
            };
            // `when: true` never skips.
            let has_when = entries
                .iter()
                .any(|entry| entry.key == "when" && entry.value.kind != NodeKind::Bool(true));
            // The first step with an id wins: a duplicate is reported on the second one.
            if let std::collections::hash_map::Entry::Vacant(slot) = steps.entry(id.clone()) {
                step_order.push(id);
                slot.insert(StepInfo {
                    index,
                    kind,
                    set_keys,
                    has_when,
                });
            }
        }
        Scope {
            inputs,
            secrets,
            steps,
            step_order,
        }
    }

    fn inputs(&mut self, entry: &Entry) -> Option<IndexMap<String, InputDecl>> {
        let NodeKind::Map(entries) = &entry.value.kind else {
            if !matches!(entry.value.kind, NodeKind::Null) {
                self.wrong_type(
                    "inputs",
                    "a mapping of input names to declarations",
                    &entry.value,
                );
                return None;
            }
            return Some(IndexMap::new());
        };
        let mut inputs = IndexMap::new();
        let mut all_ok = true;
        for input in entries {
            if !is_identifier(&input.key, true) {
                self.error(
                    codes::INVALID_NAME,
                    input.key_span,
                    input.key_length,
                    format!("input name `{}` cannot be used in templates", input.key),
                )
                .help = Some("use letters, digits and `_`, starting with a letter or `_`".into());
                all_ok = false;
                continue;
            }
            match self.input(input) {
                Some(decl) => {
                    inputs.insert(input.key.clone(), decl);
                }
                None => all_ok = false,
            }
        }
        all_ok.then_some(inputs)
    }

    fn input(&mut self, input: &Entry) -> Option<InputDecl> {
        let what = format!("input `{}`", input.key);
        let owner = Owner {
            what: &what,
            span: input.key_span,
            length: input.key_length,
        };
        let fields = self.fields(
            &input.value,
            owner,
            &INPUT_KEYS,
            &[
                ("values", "`enum`"),
                ("choices", "`enum`"),
                ("min", "`minimum`"),
                ("max", "`maximum`"),
                ("regex", "`pattern`"),
                ("optional", "`required: false`"),
            ],
        )?;
        let mut ok = true;
        let input_type = match self.required(
            &fields,
            "type",
            Some("add `type: string` (or integer, number, boolean, list)".into()),
        ) {
            Some(entry) => match &entry.value.kind {
                NodeKind::Str(word) => match InputType::from_name(word) {
                    Some(kind) => Some(kind),
                    None => {
                        let names = InputType::ALL.map(InputType::as_str);
                        let help = match did_you_mean(word, names) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!("use one of: {}", names.join(", ")),
                        };
                        self.error(
                            codes::INVALID_CHOICE,
                            entry.value.span,
                            entry.value.length,
                            format!("`{word}` is not an input type"),
                        )
                        .help = Some(help);
                        None
                    }
                },
                _ => {
                    self.wrong_type(
                        "type",
                        "one of string, integer, number, boolean, list",
                        &entry.value,
                    );
                    None
                }
            },
            None => None,
        };
        let description = fields.get("description").and_then(|entry| {
            let text = self.string(entry);
            ok &= text.is_some();
            text
        });
        let default = fields
            .get("default")
            .map(|entry| (entry.value.to_json(), entry));
        let explicit_required = match fields.get("required") {
            Some(entry) => {
                let value = self.boolean(entry);
                ok &= value.is_some();
                value
            }
            None => None,
        };
        let secret = match fields.get("secret") {
            Some(entry) => {
                let value = self.boolean(entry);
                ok &= value.is_some();
                value.unwrap_or(false)
            }
            None => false,
        };
        let allowed = match fields.get("enum") {
            Some(entry) => match &entry.value.kind {
                NodeKind::Seq(items) if !items.is_empty() => {
                    Some(items.iter().map(Node::to_json).collect::<Vec<_>>())
                }
                NodeKind::Seq(_) => {
                    self.error(
                        codes::EMPTY_LIST,
                        entry.value.span,
                        entry.value.length,
                        "`enum` is empty: no value could be accepted",
                    );
                    ok = false;
                    None
                }
                _ => {
                    self.wrong_type("enum", "a list of allowed values", &entry.value);
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let pattern = match fields.get("pattern") {
            Some(entry) => match self.string(entry) {
                Some(pattern) => match regex::Regex::new(&pattern) {
                    Ok(_) => Some(pattern),
                    Err(error) => {
                        let first_line = regex_reason(&error);
                        self.error(
                            codes::INVALID_INPUT_DECLARATION,
                            entry.value.span,
                            entry.value.length,
                            format!("`pattern` is not a valid regular expression: {first_line}"),
                        );
                        ok = false;
                        None
                    }
                },
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let minimum = fields.get("minimum").and_then(|entry| {
            let number = self.number(entry);
            ok &= number.is_some();
            number
        });
        let maximum = fields.get("maximum").and_then(|entry| {
            let number = self.number(entry);
            ok &= number.is_some();
            number
        });
        let input_type = input_type?;

        // Constraints that cannot apply to the declared type are mistakes, not no-ops.
        if let Some(entry) = fields.get("pattern")
            && input_type != InputType::String
        {
            self.error(
                codes::INVALID_INPUT_DECLARATION,
                entry.key_span,
                entry.key_length,
                format!(
                    "`pattern` applies to strings, but {what} is {}",
                    with_article(input_type.as_str())
                ),
            );
            ok = false;
        }
        for key in ["minimum", "maximum"] {
            if let Some(entry) = fields.get(key)
                && !matches!(input_type, InputType::Integer | InputType::Number)
            {
                self.error(
                    codes::INVALID_INPUT_DECLARATION,
                    entry.key_span,
                    entry.key_length,
                    format!(
                        "`{key}` applies to numbers, but {what} is {}",
                        with_article(input_type.as_str())
                    ),
                );
                ok = false;
            }
        }
        if let (Some(low), Some(high), Some(entry)) = (minimum, maximum, fields.get("maximum"))
            && low > high
        {
            self.error(
                codes::INVALID_INPUT_DECLARATION,
                entry.value.span,
                entry.value.length,
                format!("`maximum` {high} is below `minimum` {low}: no value could be accepted"),
            );
            ok = false;
        }
        let mut decl = InputDecl {
            input_type,
            description,
            default: None,
            required: explicit_required.unwrap_or(default.is_none()),
            allowed: None,
            pattern,
            minimum,
            maximum,
            secret,
            span: input.key_span,
        };
        // Each enum value must itself be a valid value of the type.
        if let (Some(values), Some(entry)) = (&allowed, fields.get("enum")) {
            for (index, value) in values.iter().enumerate() {
                if let Err(reason) = decl.check(value) {
                    let span = match &entry.value.kind {
                        NodeKind::Seq(items) => {
                            items.get(index).map_or(entry.value.span, |item| item.span)
                        }
                        _ => entry.value.span,
                    };
                    self.error(
                        codes::INVALID_INPUT_DECLARATION,
                        span,
                        1,
                        format!("`enum` value {reason}"),
                    );
                    ok = false;
                }
            }
        }
        decl.allowed = allowed;
        if let Some((value, entry)) = default {
            if let Err(reason) = decl.check(&value) {
                self.error(
                    codes::INVALID_DEFAULT,
                    entry.value.span,
                    entry.value.length,
                    format!("the default of {what} is invalid: {reason}"),
                );
                ok = false;
            }
            if explicit_required == Some(true)
                && let Some(required) = fields.get("required")
            {
                self.warning(
                    codes::REDUNDANT,
                    required.key_span,
                    required.key_length,
                    format!(
                        "`required: true` has no effect: {what} has a default, so it is never missing"
                    ),
                    Some("remove `required: true`, or remove the default to make the input mandatory".into()),
                );
            }
            decl.default = Some(value);
        }
        ok.then_some(decl)
    }

    fn secrets(&mut self, entry: &Entry) -> Option<Vec<String>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                "secrets",
                "a list of environment variable names",
                &entry.value,
            );
            return None;
        };
        let mut names: Vec<String> = Vec::new();
        let mut ok = true;
        for item in items {
            let NodeKind::Str(name) = &item.kind else {
                self.error(
                    codes::WRONG_TYPE,
                    item.span,
                    item.length,
                    format!("a secret name must be a string, not {}", item.type_name()),
                );
                ok = false;
                continue;
            };
            if !is_identifier(name, true) {
                self.error(
                    codes::INVALID_NAME,
                    item.span,
                    item.length,
                    format!("`{name}` is not an environment variable name"),
                )
                .help = Some("use letters, digits and `_`, e.g. `SLACK_WEBHOOK`".into());
                ok = false;
                continue;
            }
            if names.contains(name) {
                self.warning(
                    codes::REDUNDANT,
                    item.span,
                    item.length,
                    format!("secret `{name}` is listed twice"),
                    None,
                );
                continue;
            }
            names.push(name.clone());
        }
        ok.then_some(names)
    }

    fn outputs(&mut self, entry: &Entry, scope: &Scope) -> Option<IndexMap<String, TemplateValue>> {
        let NodeKind::Map(entries) = &entry.value.kind else {
            self.wrong_type(
                "outputs",
                "a mapping of output names to templates",
                &entry.value,
            );
            return None;
        };
        let site = Site {
            step_index: None,
            step_when: None,
        };
        let mut outputs = IndexMap::new();
        let mut ok = true;
        for output in entries {
            if !is_identifier(&output.key, true) {
                self.error(
                    codes::INVALID_NAME,
                    output.key_span,
                    output.key_length,
                    format!("output name `{}` is not allowed", output.key),
                )
                .help = Some("use letters, digits and `_`".into());
                ok = false;
                continue;
            }
            let value = self.template_value(output, scope, site);
            outputs.insert(output.key.clone(), value);
        }
        ok.then_some(outputs)
    }

    fn step(
        &mut self,
        node: &Node,
        index: usize,
        scope: &Scope,
        seen_ids: &mut HashMap<String, Span>,
    ) -> Option<Step> {
        let written_id = match &node.kind {
            NodeKind::Map(entries) => {
                entries
                    .iter()
                    .find(|entry| entry.key == "id")
                    .and_then(|entry| match &entry.value.kind {
                        NodeKind::Str(id) => Some(id.clone()),
                        _ => None,
                    })
            }
            _ => None,
        };
        let what = match written_id {
            Some(id) => format!("step `{id}`"),
            None => format!("step {}", index + 1),
        };
        let owner = Owner {
            what: &what,
            span: node.span,
            length: 1,
        };
        let mut allowed: Vec<&str> = COMMON_STEP_KEYS.to_vec();
        allowed.extend(STEP_KINDS);
        let fields = self.fields(
            node,
            owner,
            &allowed,
            &[
                ("package", "it inside a `parameterize:` step"),
                ("params", "it inside a `parameterize:` step"),
                ("action", "it inside an `await_approval:` or `poll:` step"),
                ("condition", "`when`"),
            ],
        )?;

        let id = match fields.get("id") {
            None => {
                self.missing(
                    owner,
                    "id",
                    Some("give every step an `id`, e.g. `id: scope`".into()),
                );
                None
            }
            Some(entry) => {
                let id = match &entry.value.kind {
                    NodeKind::Str(id) => Some(id.clone()),
                    _ => {
                        self.wrong_type("id", "a string", &entry.value);
                        None
                    }
                };
                id.and_then(|id| {
                    if !is_identifier(&id, false) {
                        self.error(codes::INVALID_STEP_ID, entry.value.span, entry.value.length, format!("step id `{id}` is not allowed"))
                            .help = Some(format!(
                            "ids are lowercase letters, digits and `_`, starting with a letter or `_` (templates read them as `steps.<id>`), e.g. `{}`",
                            suggest_step_id(&id)
                        ));
                        return None;
                    }
                    if let Some(first) = seen_ids.get(&id) {
                        self.error(codes::DUPLICATE_STEP_ID, entry.value.span, entry.value.length, format!("step id `{id}` is used twice"))
                            .help = Some(format!("the first step with this id is on line {}; ids must be unique", first.line));
                        return None;
                    }
                    seen_ids.insert(id.clone(), entry.value.span);
                    Some(id)
                })
            }
        };
        let span = fields.get("id").map_or(node.span, |entry| entry.value.span);

        let kinds: Vec<&Entry> = fields
            .entries
            .iter()
            .filter(|entry| STEP_KINDS.contains(&entry.key.as_str()))
            .collect();
        // A misspelt kind key already got "unknown key, did you mean `log`?"; saying "no
        // kind" on top of it would be noise.
        let misspelt_kind = fields.entries.iter().any(|entry| {
            !allowed.contains(&entry.key.as_str()) && did_you_mean(&entry.key, STEP_KINDS).is_some()
        });
        if kinds.is_empty() && !misspelt_kind {
            let label = id
                .as_deref()
                .map_or(what.clone(), |id| format!("step `{id}`"));
            let length = fields.get("id").map_or(1, |entry| entry.value.length);
            self.error(
                codes::MISSING_STEP_KIND,
                span,
                length,
                format!("{label} has no kind"),
            )
            .help = Some(format!("add exactly one of: {}", STEP_KINDS.join(", ")));
        }
        for extra in kinds.iter().skip(1) {
            self.error(
                codes::MULTIPLE_STEP_KINDS,
                extra.key_span,
                extra.key_length,
                format!(
                    "this step is already a `{}` step; a step has exactly one kind",
                    kinds[0].key
                ),
            )
            .help = Some(format!("move `{}` into a step of its own", extra.key));
        }

        let when_text = fields
            .get("when")
            .and_then(|entry| entry.value.to_json().as_str().map(str::to_owned));
        let site = Site {
            step_index: Some(index),
            step_when: when_text.as_deref(),
        };
        let mut ok = true;
        let name = fields.get("name").and_then(|entry| {
            let name = self.string(entry);
            ok &= name.is_some();
            name
        });
        let when = fields.get("when").and_then(|entry| {
            let when = self.condition(entry, scope, site);
            ok &= when.is_some();
            when
        });
        let timeout = fields.get("timeout").and_then(|entry| {
            let timeout = self.duration(entry);
            ok &= timeout.is_some();
            timeout
        });
        let continue_on_error = match fields.get("continue_on_error") {
            Some(entry) => {
                let value = self.boolean(entry);
                ok &= value.is_some();
                value.unwrap_or(false)
            }
            None => false,
        };
        let retry = fields.get("retry").and_then(|entry| {
            let retry = self.retry(entry);
            ok &= retry.is_some();
            retry
        });
        if let (Some(retry_entry), Some(kind)) = (fields.get("retry"), kinds.first())
            && kind.key == "issue"
        {
            self.error(
                codes::RETRY_NOT_ALLOWED,
                retry_entry.key_span,
                retry_entry.key_length,
                "`retry` is not allowed on an `issue` step: an action is never issued twice",
            )
            .help = Some("retry the read-only steps around it instead (target, parameterize, await_approval, poll)".into());
            ok = false;
        }

        let kind = kinds
            .first()
            .and_then(|entry| self.step_kind(entry, scope, site));
        if kinds.len() != 1 {
            return None;
        }
        let (Some(id), Some(kind), true) = (id, kind, ok) else {
            return None;
        };
        Some(Step {
            id,
            name,
            when,
            timeout,
            retry,
            continue_on_error,
            kind,
            span,
        })
    }

    fn retry(&mut self, entry: &Entry) -> Option<Retry> {
        let owner = Owner {
            what: "`retry`",
            span: entry.key_span,
            length: entry.key_length,
        };
        let fields = self.fields(&entry.value, owner, &["attempts", "backoff"], &[])?;
        let attempts = self
            .required(
                &fields,
                "attempts",
                Some("e.g. `retry: { attempts: 3, backoff: 10s }`".into()),
            )
            .and_then(|attempts| self.integer(attempts, 1, 100));
        let backoff = self.duration_or(&fields, "backoff", DEFAULT_RETRY_BACKOFF);
        Some(Retry {
            attempts: u32::try_from(attempts?).ok()?,
            backoff: backoff?,
        })
    }

    fn step_kind(&mut self, entry: &Entry, scope: &Scope, site: Site<'_>) -> Option<StepKind> {
        let what = format!("`{}`", entry.key);
        let owner = Owner {
            what: &what,
            span: entry.key_span,
            length: entry.key_length,
        };
        match entry.key.as_str() {
            "target" => self.target(entry, owner, scope, site).map(StepKind::Target),
            "parameterize" => self
                .parameterize(entry, owner, scope, site)
                .map(StepKind::Parameterize),
            "issue" => self.issue(entry, owner, scope, site).map(StepKind::Issue),
            "await_approval" => self
                .await_approval(entry, owner, scope, site)
                .map(StepKind::AwaitApproval),
            "poll" => self.poll(entry, owner, scope, site).map(StepKind::Poll),
            "assert" => self.assert(entry, owner, scope, site).map(StepKind::Assert),
            "log" => match &entry.value.kind {
                NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Null => {
                    self.wrong_type("log", "a message (text or template)", &entry.value);
                    None
                }
                _ => Some(StepKind::Log(self.template_value(entry, scope, site))),
            },
            "set" => self.set(entry, scope, site).map(StepKind::Set),
            _ => None,
        }
    }

    fn target(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TargetStep> {
        let choices = ["all", "any", "filter_group", "text"];
        let fields = self.fields(
            &entry.value,
            owner,
            &choices,
            &[
                ("clauses", "`all:` or `any:`"),
                ("group", "`filter_group`"),
                ("question", "`text`"),
            ],
        )?;
        let present: Vec<&Entry> = choices.iter().filter_map(|key| fields.get(key)).collect();
        match present.as_slice() {
            [] => {
                self.error(codes::CONFLICTING_KEYS, owner.span, owner.length, "`target` needs one of `all`, `any`, `filter_group` or `text`")
                    .help = Some("e.g. `target: { all: [ { sensor: Computer Name, op: equals, value: \"{{ inputs.hostname }}\" } ] }`".into());
                None
            }
            [one] => {
                let one = *one;
                match one.key.as_str() {
                    "all" | "any" => {
                        let combine = if one.key == "all" {
                            Combine::All
                        } else {
                            Combine::Any
                        };
                        self.clauses(one, scope, site)
                            .map(|clauses| TargetStep::Clauses { combine, clauses })
                    }
                    "filter_group" => self
                        .scalar_template(one, scope, site)
                        .map(TargetStep::FilterGroup),
                    _ => {
                        let text = self.string(one)?;
                        if looks_like_template(&text) {
                            self.error(
                                codes::TEMPLATE_IN_RAW_TEXT,
                                one.value.span,
                                one.value.length,
                                "`target.text` is sent to Tanium as written and may not hold templates",
                            )
                            .help = Some("put dynamic values in `all:`/`any:` clauses, which quote them safely".into());
                            return None;
                        }
                        Some(TargetStep::Text(Spanned {
                            value: text,
                            span: one.value.span,
                        }))
                    }
                }
            }
            [first, rest @ ..] => {
                for extra in rest {
                    self.error(
                        codes::CONFLICTING_KEYS,
                        extra.key_span,
                        extra.key_length,
                        format!("`target` already has `{}`; use only one of `all`, `any`, `filter_group`, `text`", first.key),
                    );
                }
                None
            }
        }
    }

    fn clauses(&mut self, entry: &Entry, scope: &Scope, site: Site<'_>) -> Option<Vec<Clause>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                &entry.key,
                "a list of clauses `{ sensor, op, value }`",
                &entry.value,
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.key_span,
                entry.key_length,
                format!("`{}` has no clauses", entry.key),
            )
            .help = Some("add at least one `{ sensor, op, value }` clause".into());
            return None;
        }
        let mut clauses = Vec::new();
        let mut ok = true;
        for item in items {
            let owner = Owner {
                what: "a clause",
                span: item.span,
                length: 1,
            };
            let Some(fields) = self.fields(
                item,
                owner,
                &["sensor", "op", "value", "when"],
                &[("operator", "`op`")],
            ) else {
                ok = false;
                continue;
            };
            let sensor = self.required(&fields, "sensor", Some("e.g. `sensor: Computer Name`".into())).and_then(|entry| {
                let sensor = self.string(entry)?;
                if looks_like_template(&sensor) {
                    self.error(codes::TEMPLATE_IN_RAW_TEXT, entry.value.span, entry.value.length, "a sensor name may not hold templates")
                        .help = Some("sensor names are part of the question's structure; only `value` may be dynamic".into());
                    return None;
                }
                Some(sensor)
            });
            let op = self
                .required(&fields, "op", Some("e.g. `op: equals`".into()))
                .and_then(|entry| {
                    let word = self.string(entry)?;
                    Operator::from_name(&word).or_else(|| {
                        let names = Operator::ALL.map(Operator::as_str);
                        let help = match did_you_mean(&word, names) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!("use one of: {}", names.join(", ")),
                        };
                        self.error(
                            codes::INVALID_CHOICE,
                            entry.value.span,
                            entry.value.length,
                            format!("`{word}` is not a clause operator"),
                        )
                        .help = Some(help);
                        None
                    })
                });
            let value = self
                .required(
                    &fields,
                    "value",
                    Some("e.g. `value: \"{{ inputs.hostname }}\"`".into()),
                )
                .and_then(|entry| self.scalar_template(entry, scope, site));
            if let (Some(Operator::Matches), Some(value), Some(entry)) =
                (op, &value, fields.get("value"))
                && let Some(pattern) = value.as_str()
                && !looks_like_template(pattern)
                && let Err(error) = regex::Regex::new(pattern)
            {
                let reason = regex_reason(&error);
                self.error(
                    codes::INVALID_REGEX,
                    entry.value.span,
                    entry.value.length,
                    format!("`matches` needs a regular expression: {reason}"),
                );
                ok = false;
            }
            let when = match fields.get("when") {
                Some(entry) => {
                    let when = self.condition(entry, scope, site);
                    ok &= when.is_some();
                    when
                }
                None => None,
            };
            match (sensor, op, value) {
                (Some(sensor), Some(op), Some(value)) => clauses.push(Clause {
                    sensor,
                    op,
                    value,
                    when,
                    span: item.span,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(clauses)
    }

    fn parameterize(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<ParameterizeStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["package", "package_id", "params"],
            &[
                ("parameters", "`params`"),
                ("name", "`package`"),
                ("id", "`package_id`"),
            ],
        )?;
        let package = match (fields.get("package"), fields.get("package_id")) {
            (Some(name), None) => self
                .scalar_template(name, scope, site)
                .map(PackageRef::Name),
            (None, Some(id)) => self.scalar_template(id, scope, site).map(PackageRef::Id),
            (None, None) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    owner.span,
                    owner.length,
                    "`parameterize` needs `package` (a name) or `package_id`",
                )
                .help = Some("e.g. `package: Custom Tagging - Add Tags`".into());
                None
            }
            (Some(_), Some(id)) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    id.key_span,
                    id.key_length,
                    "`parameterize` has both `package` and `package_id`; keep one",
                );
                None
            }
        };
        let params = match fields.get("params") {
            None => Some(IndexMap::new()),
            Some(params) => match &params.value.kind {
                NodeKind::Map(entries) => {
                    let mut map = IndexMap::new();
                    let mut ok = true;
                    for param in entries {
                        match self.scalar_template(param, scope, site) {
                            Some(value) => {
                                map.insert(param.key.clone(), value);
                            }
                            None => ok = false,
                        }
                    }
                    ok.then_some(map)
                }
                NodeKind::Null => Some(IndexMap::new()),
                _ => {
                    self.wrong_type("params", "a mapping like `$1: value`", &params.value);
                    None
                }
            },
        };
        Some(ParameterizeStep {
            package: package?,
            params: params?,
        })
    }

    fn issue(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IssueStep> {
        let keys = [
            "name",
            "target",
            "package",
            "action_group",
            "expire",
            "distribute",
            "issue_seconds",
        ];
        let fields = self.fields(
            &entry.value,
            owner,
            &keys,
            &[
                (
                    "expire_seconds",
                    "`expire` as a duration, e.g. `expire: 1h`",
                ),
                ("group", "`target` (the group) or `action_group`"),
            ],
        )?;
        let name = self
            .required(
                &fields,
                "name",
                Some("e.g. `name: \"IR tag {{ inputs.hostname }}\"`".into()),
            )
            .and_then(|entry| self.scalar_template(entry, scope, site));
        let target = self
            .required(
                &fields,
                "target",
                Some("usually `target: \"{{ steps.<target step>.group }}\"`".into()),
            )
            .and_then(|entry| self.scalar_template(entry, scope, site));
        let package = self
            .required(
                &fields,
                "package",
                Some("usually `package: \"{{ steps.<parameterize step>.package_spec }}\"`".into()),
            )
            .and_then(|entry| self.scalar_template(entry, scope, site));
        let action_group = self
            .required(&fields, "action_group", Some("e.g. `action_group: All Computers`".into()))
            .and_then(|entry| {
                let value = self.scalar_template(entry, scope, site)?;
                if value.as_str().is_some_and(|group| group.trim().eq_ignore_ascii_case("default")) {
                    self.error(
                        codes::DEFAULT_ACTION_GROUP,
                        entry.value.span,
                        entry.value.length,
                        "the `Default` action group holds no machines in Tanium, so the action would reach no endpoint",
                    )
                    .help = Some("name an action group that holds the endpoints, e.g. `All Computers`".into());
                    return None;
                }
                Some(value)
            });
        let expire = self.duration_or(&fields, "expire", defaults::ISSUE_EXPIRE);
        let distribute = self.duration_or(&fields, "distribute", defaults::ISSUE_DISTRIBUTE);
        if let (Some(expire), Some(distribute), Some(entry)) =
            (expire, distribute, fields.get("distribute"))
            && distribute > expire
        {
            self.error(codes::OUT_OF_RANGE, entry.value.span, entry.value.length, "`distribute` is longer than `expire`: endpoints would be reached after the action expired")
                .help = Some("make `distribute` shorter than `expire` (default 1h)".into());
            return None;
        }
        let issue_seconds = match fields.get("issue_seconds") {
            Some(entry) => Some(Some(self.integer(entry, 0, i64::MAX)?.unsigned_abs())),
            None => Some(None),
        };
        Some(IssueStep {
            name: name?,
            target: target?,
            package: package?,
            action_group: action_group?,
            expire: expire?,
            distribute: distribute?,
            issue_seconds: issue_seconds?,
        })
    }

    fn await_approval(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<AwaitApprovalStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["action", "timeout", "interval"],
            &[("action_id", "`action`")],
        )?;
        let action = self
            .required(
                &fields,
                "action",
                Some("usually `action: \"{{ steps.<issue step>.action_id }}\"`".into()),
            )
            .and_then(|entry| self.scalar_template(entry, scope, site));
        let timeout = self.duration_or(&fields, "timeout", defaults::APPROVAL_TIMEOUT);
        let interval = self.duration_or(&fields, "interval", defaults::APPROVAL_INTERVAL);
        self.positive(&fields, "interval", interval)?;
        Some(AwaitApprovalStep {
            action: action?,
            timeout: timeout?,
            interval: interval?,
        })
    }

    /// Refuses a zero polling interval, which would hammer the server.
    fn positive(&mut self, fields: &Fields<'_>, key: &str, value: Option<Duration>) -> Option<()> {
        if value == Some(Duration::ZERO)
            && let Some(entry) = fields.get(key)
        {
            self.error(
                codes::OUT_OF_RANGE,
                entry.value.span,
                entry.value.length,
                format!("`{key}` must be longer than 0s"),
            );
            return None;
        }
        Some(())
    }

    fn poll(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<PollStep> {
        let keys = [
            "action",
            "expected",
            "until_percent",
            "timeout",
            "interval",
            "max_interval",
            "allow_partial",
            "max_rows",
        ];
        let fields = self.fields(
            &entry.value,
            owner,
            &keys,
            &[("action_id", "`action`"), ("percent", "`until_percent`")],
        )?;
        let action = self
            .required(
                &fields,
                "action",
                Some("usually `action: \"{{ steps.<issue step>.action_id }}\"`".into()),
            )
            .and_then(|entry| self.scalar_template(entry, scope, site));
        let expected = match fields.get("expected") {
            Some(entry) => match &entry.value.kind {
                NodeKind::Int(count) if *count < 0 => {
                    self.error(
                        codes::OUT_OF_RANGE,
                        entry.value.span,
                        entry.value.length,
                        format!("`expected` is {count}; it must be 0 or more"),
                    );
                    None
                }
                NodeKind::Int(_) => Some(Some(self.template_value(entry, scope, site))),
                NodeKind::Str(text) if looks_like_template(text) => {
                    Some(Some(self.template_value(entry, scope, site)))
                }
                _ => {
                    self.wrong_type("expected", "an integer or a template", &entry.value);
                    None
                }
            },
            None => Some(None),
        };
        let until_percent = match fields.get("until_percent") {
            Some(entry) => self
                .integer(entry, 1, 100)
                .and_then(|percent| u8::try_from(percent).ok()),
            None => Some(defaults::POLL_UNTIL_PERCENT),
        };
        let timeout = self.duration_or(&fields, "timeout", defaults::POLL_TIMEOUT);
        let interval = self.duration_or(&fields, "interval", defaults::POLL_INTERVAL);
        self.positive(&fields, "interval", interval)?;
        let max_interval = self.duration_or(&fields, "max_interval", defaults::POLL_MAX_INTERVAL);
        if let (Some(interval), Some(max_interval)) = (interval, max_interval)
            && interval > max_interval
        {
            let at = fields.get("max_interval").or(fields.get("interval"));
            if let Some(entry) = at {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    "`interval` is longer than `max_interval` (default 2m)",
                )
                .help = Some("raise `max_interval` or lower `interval`".into());
            }
            return None;
        }
        let allow_partial = match fields.get("allow_partial") {
            Some(entry) => self.boolean(entry),
            None => Some(false),
        };
        let max_rows = match fields.get("max_rows") {
            Some(entry) => self
                .integer(entry, 1, 1_000_000)
                .and_then(|rows| usize::try_from(rows).ok()),
            None => Some(defaults::POLL_MAX_ROWS),
        };
        Some(PollStep {
            action: action?,
            expected: expected?,
            until_percent: until_percent?,
            timeout: timeout?,
            interval: interval?,
            max_interval: max_interval?,
            allow_partial: allow_partial?,
            max_rows: max_rows?,
        })
    }

    fn assert(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<AssertStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["that", "message"],
            &[
                ("condition", "`that`"),
                ("expr", "`that`"),
                ("msg", "`message`"),
            ],
        )?;
        let that = self
            .required(
                &fields,
                "that",
                Some("e.g. `that: \"{{ steps.results.failed == 0 }}\"`".into()),
            )
            .and_then(|entry| self.condition(entry, scope, site));
        let message = match fields.get("message") {
            Some(entry) => Some(Some(self.scalar_template(entry, scope, site)?)),
            None => Some(None),
        };
        Some(AssertStep {
            that: that?,
            message: message?,
        })
    }

    fn set(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IndexMap<String, TemplateValue>> {
        let NodeKind::Map(entries) = &entry.value.kind else {
            self.wrong_type("set", "a mapping of names to values", &entry.value);
            return None;
        };
        if entries.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.key_span,
                entry.key_length,
                "`set` names no values",
            );
            return None;
        }
        let mut values = IndexMap::new();
        let mut ok = true;
        for value in entries {
            if !is_identifier(&value.key, true) {
                self.error(
                    codes::INVALID_NAME,
                    value.key_span,
                    value.key_length,
                    format!(
                        "`{}` cannot be read as `steps.<id>.{}`",
                        value.key, value.key
                    ),
                )
                .help = Some("use letters, digits and `_`".into());
                ok = false;
                continue;
            }
            values.insert(value.key.clone(), self.template_value(value, scope, site));
        }
        ok.then_some(values)
    }
}

fn with_article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

/// The last line of a regex error is the reason; the lines above repeat the pattern.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or("").trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

pub(crate) fn suggest_playbook_name(name: &str) -> String {
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

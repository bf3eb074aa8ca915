//! A located YAML tree: every key and value keeps its line and column, so that each diagnostic
//! points at the exact token. Built from serde-saphyr's event parser (granit-parser) rather
//! than through serde, because serde hides where map keys were written.
//!
//! Limits make hostile input cheap to refuse: a size cap before parsing, a nesting cap (the
//! tree is built recursively), and a node budget that also bounds alias expansion ("billion
//! laughs").

use std::collections::HashMap;

use serde_saphyr::granit_parser::{
    ErrorKind, Event, Options, Parser, ScalarStyle, ScanError, Span as YamlSpan,
};

use crate::codes;
use crate::diagnostic::Severity;
use crate::model::Span;

/// Largest playbook source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Deepest nesting of lists and maps accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes (after alias expansion) accepted in one document.
pub const MAX_NODES: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// Characters covered on the first line, for the caret.
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub key_length: u32,
    pub value: Node,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The node as JSON (maps keep their order).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            NodeKind::Null => serde_json::Value::Null,
            NodeKind::Bool(value) => serde_json::Value::Bool(*value),
            NodeKind::Int(value) => serde_json::Value::from(*value),
            NodeKind::Float(value) => serde_json::Number::from_f64(*value)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            NodeKind::Str(value) => serde_json::Value::String(value.clone()),
            NodeKind::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            NodeKind::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A problem found while reading YAML or checking the playbook, before it gets a file name
/// and source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub length: u32,
    pub help: Option<String>,
}

impl Problem {
    pub fn error(code: &'static str, span: Span, length: u32, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            length,
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The tree (when the YAML could be read) and the problems met on the way. Duplicate keys and
/// unquoted templates are reported but do not stop the reading.
#[derive(Debug)]
pub(crate) struct Tree {
    pub root: Option<Node>,
    pub problems: Vec<Problem>,
}

enum Abort {
    Scan(ScanError),
    Limit(Problem),
}

struct Builder<'a, I> {
    events: I,
    source: &'a str,
    kind: FileKind,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    problems: Vec<Problem>,
}

fn to_span(marker_line: usize, marker_col: usize) -> Span {
    Span::new(
        u32::try_from(marker_line).unwrap_or(u32::MAX),
        u32::try_from(marker_col + 1).unwrap_or(u32::MAX),
    )
}

fn span_of(span: &YamlSpan) -> (Span, u32) {
    let start = to_span(span.start.line(), span.start.col());
    let length = if span.end.line() == span.start.line() {
        span.end.col().saturating_sub(span.start.col()).max(1)
    } else {
        1
    };
    (start, u32::try_from(length).unwrap_or(1))
}

/// What kind of file is read, for the wording of limit and document-count problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Playbook,
    Schedules,
    Triggers,
    Tests,
}

impl FileKind {
    /// "a playbook file", "a schedules file".
    fn file(self) -> &'static str {
        match self {
            FileKind::Playbook => "a playbook file",
            FileKind::Schedules => "a schedules file",
            FileKind::Triggers => "a triggers file",
            FileKind::Tests => "a test file",
        }
    }

    /// "playbooks", "schedules files".
    fn plural(self) -> &'static str {
        match self {
            FileKind::Playbook => "playbooks",
            FileKind::Schedules => "schedules files",
            FileKind::Triggers => "triggers files",
            FileKind::Tests => "test files",
        }
    }
}

/// Reads one YAML document into a located tree.
pub(crate) fn parse(source: &str, kind: FileKind) -> Tree {
    if source.len() > MAX_SOURCE_BYTES {
        return Tree {
            root: None,
            problems: vec![
                Problem::error(
                    codes::LIMIT,
                    Span::new(1, 1),
                    1,
                    format!(
                        "the file is {} bytes; {} are limited to {} bytes",
                        source.len(),
                        kind.plural(),
                        MAX_SOURCE_BYTES
                    ),
                )
                .help(match kind {
                    FileKind::Playbook => "split the playbook into smaller ones",
                    _ => "check for a large value pasted in by mistake",
                }),
            ],
        };
    }
    let mut options = Options::default();
    options.set_emit_comments(false);
    // The scanner counts nesting before any event reaches us; its refusal is reported as a
    // limit below, and our own depth check covers what the scanner counts differently.
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = MAX_DEPTH;
    let parser = Parser::new_from_str_with_options(source, options);
    let mut builder = Builder {
        events: parser,
        source,
        kind,
        anchors: HashMap::new(),
        nodes: 0,
        problems: Vec::new(),
    };
    let root = match builder.document() {
        Ok(root) => root,
        Err(Abort::Scan(error)) => {
            builder.problems.push(scan_problem(source, &error, kind));
            None
        }
        Err(Abort::Limit(problem)) => {
            builder.problems.push(problem);
            None
        }
    };
    Tree {
        root,
        problems: builder.problems,
    }
}

const UNQUOTED_STAR_HELP: &str = "YAML reads a value starting with `*` or `&` as an alias or anchor; quote it, e.g. `cron: \"*/5 * * * *\"`";

fn scan_problem(source: &str, error: &ScanError, kind: FileKind) -> Problem {
    let marker = error.marker();
    let span = to_span(marker.line().max(1), marker.col());
    if matches!(error.kind(), ErrorKind::RecursionLimitExceeded) {
        return Problem::error(
            codes::LIMIT,
            span,
            1,
            format!("the document nests lists and maps deeper than {MAX_DEPTH} levels"),
        )
        .help(format!(
            "{} need a handful of levels; flatten the structure",
            kind.plural()
        ));
    }
    let mut message = error.info();
    if message.is_empty() {
        message = "invalid YAML".to_owned();
    }
    // The scanner reports a tab where the scalar before it starts, often a line above: point
    // at the tab itself, and say what to do.
    if message.contains("found a tab")
        && let Some(tab) = first_tab_from(source, span.line)
    {
        return Problem::error(
            codes::YAML_SYNTAX,
            tab,
            1,
            "invalid YAML: a tab character; YAML indents and separates with spaces only",
        )
        .help(
            "replace the tab with spaces (set your editor to insert spaces for Tab in YAML files)",
        );
    }
    let line_text = source
        .lines()
        .nth(span.line.saturating_sub(1) as usize)
        .unwrap_or("");
    let problem = Problem::error(
        codes::YAML_SYNTAX,
        span,
        1,
        format!("invalid YAML: {message}"),
    );
    if has_unquoted_template(line_text) {
        problem.help(
            "a value that starts with a template must be quoted, e.g. `value: \"{{ inputs.name }}\"`",
        )
    } else if message.contains("anchor") || message.contains("alias") {
        // Nearly always an unquoted cron line (`cron: */5 * * * *`) or glob.
        problem.help(UNQUOTED_STAR_HELP)
    } else if line_text.contains('\t') {
        problem.help("YAML does not allow tabs for indentation; use spaces")
    } else if let Some(help) = indentation_help(source, span.line, &message) {
        problem.help(help)
    } else {
        problem
    }
}

/// The first tab on line `from` (1-based) or after it.
fn first_tab_from(source: &str, from: u32) -> Option<Span> {
    source
        .lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find_map(|(index, line)| {
            let column = line.chars().position(|c| c == '\t')?;
            Some(to_span(index + 1, column))
        })
}

/// Whether a line holds a `{{` or `{%` outside quotes (before any comment): YAML reads an
/// unquoted `{` as the start of a mapping. A template inside quotes is fine.
fn has_unquoted_template(line: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => return false,
            None if c == '{' && matches!(chars.peek(), Some('{' | '%')) => return true,
            None => {}
        }
        previous = c;
    }
    false
}

/// For the scanner's messages about a line that does not fit the structure around it (a key
/// indented more or less than its neighbours): the two indentations, side by side.
fn indentation_help(source: &str, line: u32, message: &str) -> Option<String> {
    let misplaced = ["did not find expected", "mapping values are not allowed"];
    if !misplaced.iter().any(|words| message.contains(words)) {
        return None;
    }
    let lines: Vec<&str> = source.lines().collect();
    let index = (line as usize).checked_sub(1)?;
    // Where a line's key starts: after its spaces, and after a list item's `- `.
    let indent = |text: &str| {
        let rest = text.trim_start_matches(' ');
        let key = rest
            .strip_prefix('-')
            .filter(|after| after.starts_with(' '))
            .map_or(rest, |after| after.trim_start_matches(' '));
        text.len() - key.len()
    };
    let here = indent(lines.get(index)?);
    let (before, above) = lines[..index].iter().enumerate().rev().find(|(_, text)| {
        let trimmed = text.trim();
        !trimmed.is_empty() && !trimmed.starts_with('#')
    })?;
    let there = indent(above);
    Some(format!(
        "check the indentation: this line starts at column {}, line {} at column {}; the keys of one mapping must start in the same column, and a nested value further right than its key",
        here + 1,
        before + 1,
        there + 1
    ))
}

impl<'a, I> Builder<'a, I>
where
    I: Iterator<Item = Result<(Event<'a>, YamlSpan), ScanError>>,
{
    fn next(&mut self) -> Result<Option<(Event<'a>, YamlSpan)>, Abort> {
        match self.events.next() {
            None => Ok(None),
            Some(Ok(event)) => Ok(Some(event)),
            Some(Err(error)) => Err(Abort::Scan(error)),
        }
    }

    fn expect_next(&mut self) -> Result<(Event<'a>, YamlSpan), Abort> {
        match self.next()? {
            Some(event) => Ok(event),
            None => Err(Abort::Limit(Problem::error(
                codes::YAML_SYNTAX,
                Span::new(1, 1),
                1,
                "invalid YAML: the document ends in the middle of a value",
            ))),
        }
    }

    fn document(&mut self) -> Result<Option<Node>, Abort> {
        let mut root = None;
        let mut documents = 0;
        while let Some((event, span)) = self.next()? {
            match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        let (start, length) = span_of(&span);
                        self.problems.push(
                            Problem::error(
                                codes::YAML_SYNTAX,
                                start,
                                length,
                                format!("{} holds one YAML document, this is a second one", self.kind.file()),
                            )
                            .help(match self.kind {
                                FileKind::Playbook => "remove the `---` line, or move the second playbook to a file of its own",
                                FileKind::Schedules => "remove the `---` line: one file holds all the schedules",
                                FileKind::Triggers => "remove the `---` line: one file holds all the triggers",
                                FileKind::Tests => "remove the `---` line: one file holds all the cases",
                            }),
                        );
                        return Ok(root);
                    }
                }
                Event::StreamStart | Event::DocumentEnd | Event::StreamEnd => {}
                event if event.is_node() || matches!(event, Event::Alias(_)) => {
                    root = Some(self.node(event, span, 1)?);
                }
                _ => {}
            }
        }
        Ok(root)
    }

    fn count_node(&mut self, span: Span) -> Result<(), Abort> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Abort::Limit(
                Problem::error(
                    codes::LIMIT,
                    span,
                    1,
                    format!("the document has more than {MAX_NODES} values (aliases included)"),
                )
                .help(format!(
                    "{} are small; check for aliases that expand to huge documents",
                    self.kind.plural()
                )),
            ));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, yaml_span: YamlSpan, depth: usize) -> Result<Node, Abort> {
        let (span, length) = span_of(&yaml_span);
        self.count_node(span)?;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let force_string = tag.as_ref().and_then(|tag| tag.core_suffix()) == Some("str");
                let kind = if style == ScalarStyle::Plain && !force_string {
                    resolve_plain(&text)
                } else {
                    NodeKind::Str(text.into_owned())
                };
                let node = Node { kind, span, length };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some(node) => {
                    let mut copy = node.clone();
                    let extra = count_nodes(&copy);
                    self.nodes += extra;
                    self.count_node(span)?;
                    copy.span = span;
                    Ok(copy)
                }
                None => Err(Abort::Limit(
                    Problem::error(
                        codes::YAML_SYNTAX,
                        span,
                        length,
                        "invalid YAML: alias to an unknown anchor",
                    )
                    .help(UNQUOTED_STAR_HELP),
                )),
            },
            Event::SequenceStart(_, anchor, _) => {
                self.check_depth(depth, span)?;
                let mut items = Vec::new();
                loop {
                    let (event, item_span) = self.expect_next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, item_span, depth + 1)?);
                }
                let node = Node {
                    kind: NodeKind::Seq(items),
                    span,
                    length: 1,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::MappingStart(_, anchor, _) => {
                self.check_depth(depth, span)?;
                let mut entries: Vec<Entry> = Vec::new();
                let mut unquoted_template = false;
                loop {
                    let (event, key_yaml_span) = self.expect_next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let (key_span, key_length) = span_of(&key_yaml_span);
                    let key = match event {
                        Event::Scalar(text, ..) => {
                            self.count_node(key_span)?;
                            Some(text.into_owned())
                        }
                        other => {
                            // A mapping used as a key: in a playbook this is nearly always an
                            // unquoted `{{ ... }}`, which YAML reads as a map inside a map.
                            let key_node = self.node(other, key_yaml_span, depth + 1)?;
                            if matches!(key_node.kind, NodeKind::Map(_)) {
                                unquoted_template = true;
                            } else {
                                self.problems.push(Problem::error(
                                    codes::WRONG_TYPE,
                                    key_span,
                                    key_length,
                                    format!("a key must be text, not {}", key_node.type_name()),
                                ));
                            }
                            None
                        }
                    };
                    let (value_event, value_span) = self.expect_next()?;
                    let value = self.node(value_event, value_span, depth + 1)?;
                    let Some(key) = key else { continue };
                    if let Some(first) = entries.iter().find(|entry| entry.key == key) {
                        self.problems.push(
                            Problem::error(
                                codes::DUPLICATE_KEY,
                                key_span,
                                key_length,
                                format!("duplicate key `{key}`"),
                            )
                            .help(format!(
                                "`{key}` is already set on line {}; keep one of them",
                                first.key_span.line
                            )),
                        );
                        continue;
                    }
                    entries.push(Entry {
                        key,
                        key_span,
                        key_length,
                        value,
                    });
                }
                if unquoted_template {
                    let raw = self.raw_braced_text(&yaml_span);
                    self.problems.push(
                        Problem::error(
                            codes::UNQUOTED_TEMPLATE,
                            span,
                            u32::try_from(raw.chars().count()).unwrap_or(1).max(1),
                            "YAML reads an unquoted `{{ ... }}` as a mapping, not as a template",
                        )
                        .help(format!("quote it: '{raw}' becomes \"{raw}\"")),
                    );
                    return Ok(Node {
                        kind: NodeKind::Str(raw),
                        span,
                        length,
                    });
                }
                let node = Node {
                    kind: NodeKind::Map(entries),
                    span,
                    length: 1,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            _ => Err(Abort::Limit(Problem::error(
                codes::YAML_SYNTAX,
                span,
                length,
                "invalid YAML: unexpected event",
            ))),
        }
    }

    fn check_depth(&self, depth: usize, span: Span) -> Result<(), Abort> {
        if depth > MAX_DEPTH {
            return Err(Abort::Limit(
                Problem::error(
                    codes::LIMIT,
                    span,
                    1,
                    format!("the document nests lists and maps deeper than {MAX_DEPTH} levels"),
                )
                .help(format!(
                    "{} need a handful of levels; flatten the structure",
                    self.kind.plural()
                )),
            ));
        }
        Ok(())
    }

    /// The source text of an unquoted `{{ ... }}`, from its first brace to the matching `}}`
    /// on the same line, for the hint.
    fn raw_braced_text(&self, span: &YamlSpan) -> String {
        let start = span.start.byte_offset().unwrap_or(0);
        let rest = self.source.get(start..).unwrap_or("");
        let line = rest.lines().next().unwrap_or("");
        match line.find("}}") {
            Some(end) => line[..end + 2].to_owned(),
            None => line.trim_end().to_owned(),
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|entry| 1 + count_nodes(&entry.value))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> NodeKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    let bytes = text.as_bytes();
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(value) = text.parse::<i64>() {
            return NodeKind::Int(value);
        }
        if let Ok(value) = text.parse::<f64>() {
            return NodeKind::Float(value);
        }
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(value) = i64::from_str_radix(hex, 16)
    {
        return NodeKind::Int(value);
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(value) = i64::from_str_radix(octal, 8)
    {
        return NodeKind::Int(value);
    }
    let looks_numeric = bytes
        .first()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(value) = text.parse::<f64>() {
        return NodeKind::Float(value);
    }
    NodeKind::Str(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(source: &str) -> Node {
        let tree = parse(source, FileKind::Playbook);
        assert!(tree.problems.is_empty(), "{:?}", tree.problems);
        tree.root.expect("a root node")
    }

    #[test]
    fn keys_and_values_keep_their_locations() {
        let node = root("a: 1\nb:\n  - x\n  - 'y'\n");
        let NodeKind::Map(entries) = &node.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[1].key, "b");
        assert_eq!(entries[1].key_span, Span::new(2, 1));
        let NodeKind::Seq(items) = &entries[1].value.kind else {
            panic!("not a list")
        };
        assert_eq!(items[1].span, Span::new(4, 5));
        assert_eq!(items[1].kind, NodeKind::Str("y".into()));
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        assert_eq!(resolve_plain("12"), NodeKind::Int(12));
        assert_eq!(resolve_plain("-3"), NodeKind::Int(-3));
        assert_eq!(resolve_plain("1.5"), NodeKind::Float(1.5));
        assert_eq!(resolve_plain("true"), NodeKind::Bool(true));
        assert_eq!(resolve_plain("~"), NodeKind::Null);
        assert_eq!(resolve_plain("30s"), NodeKind::Str("30s".into()));
        assert_eq!(resolve_plain("1e3"), NodeKind::Float(1000.0));
        assert_eq!(resolve_plain("yes"), NodeKind::Str("yes".into()));
        assert_eq!(resolve_plain("1.2.3"), NodeKind::Str("1.2.3".into()));
    }

    #[test]
    fn duplicate_keys_are_reported_on_the_second_key() {
        let tree = parse("a: 1\na: 2\n", FileKind::Playbook);
        assert_eq!(tree.problems.len(), 1);
        assert_eq!(tree.problems[0].code, codes::DUPLICATE_KEY);
        assert_eq!(tree.problems[0].span, Span::new(2, 1));
    }

    #[test]
    fn unquoted_templates_are_recovered_as_strings() {
        let tree = parse("value: {{ inputs.host }}\n", FileKind::Playbook);
        assert_eq!(tree.problems.len(), 1, "{:?}", tree.problems);
        assert_eq!(tree.problems[0].code, codes::UNQUOTED_TEMPLATE);
        assert_eq!(tree.problems[0].span, Span::new(1, 8));
        let NodeKind::Map(entries) = tree.root.expect("root").kind else {
            panic!("not a map")
        };
        assert_eq!(
            entries[0].value.kind,
            NodeKind::Str("{{ inputs.host }}".into())
        );
    }

    #[test]
    fn only_unquoted_templates_are_called_unquoted() {
        assert!(has_unquoted_template("  value: {{ inputs.name }}"));
        assert!(has_unquoted_template("- { op: equals, value: {{ x }} }"));
        assert!(has_unquoted_template("  when: {% if x %}"));
        assert!(!has_unquoted_template(
            "  action_group: \"{{ inputs.group }}\""
        ));
        assert!(!has_unquoted_template("  name: 'IR {{ inputs.host }}'"));
        assert!(!has_unquoted_template("  name: \"a \\\" {{ x }}\""));
        assert!(!has_unquoted_template("  log: hi  # {{ not a value }}"));
    }

    #[test]
    fn a_tab_is_pointed_at_where_it_is() {
        let tree = parse(
            "version: 1\nsteps:\n  - id: a\n    log: hi\n    \tx: 1\n",
            FileKind::Playbook,
        );
        let problem = &tree.problems[0];
        assert_eq!((problem.span.line, problem.span.column), (5, 5));
        assert!(problem.message.contains("tab"), "{}", problem.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let source = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let tree = parse(&source, FileKind::Playbook);
        assert!(tree.root.is_none());
        assert_eq!(tree.problems[0].code, codes::LIMIT);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut source = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = level - 1;
            source.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        let tree = parse(&source, FileKind::Playbook);
        assert!(tree.root.is_none());
        assert_eq!(tree.problems[0].code, codes::LIMIT);
    }
}

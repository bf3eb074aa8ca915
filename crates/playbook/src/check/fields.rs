//! Reading a mapping, shared by every area (and by the schedules file): unknown keys with a
//! suggestion, missing keys, wrong types, optional keys, and the `version` both formats start
//! with. Problems are recorded; nothing here stops the walk.

use crate::codes;
use crate::diagnostic::Severity;
use crate::model::Span;
use crate::suggest::did_you_mean;
use crate::yaml::{Entry, Node, NodeKind, Problem};

use super::Checker;

/// The key of a mapping entry, or of the mapping itself: where "missing key" errors point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner<'a> {
    pub what: &'a str,
    pub span: Span,
    pub length: u32,
}

impl<'a> Owner<'a> {
    /// The key of `entry`, called `what` in messages.
    pub fn key(what: &'a str, entry: &Entry) -> Self {
        Self {
            what,
            span: entry.key_span,
            length: entry.key_length,
        }
    }

    /// The node itself (a file's root, a list item), called `what` in messages.
    pub fn node(what: &'a str, node: &Node) -> Self {
        Self {
            what,
            span: node.span,
            length: 1,
        }
    }
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

/// The string value of `key` in a mapping node, when it has one: how a list item names itself
/// in messages before its fields are checked.
pub(crate) fn written_string(node: &Node, key: &str) -> Option<String> {
    let NodeKind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .find(|entry| entry.key == key)
        .and_then(|entry| match &entry.value.kind {
            NodeKind::Str(text) => Some(text.clone()),
            _ => None,
        })
}

/// What a value must be, for "wrong type" messages.
fn describe_expected(expected: &str, node: &Node) -> String {
    format!("must be {expected}, not {}", node.type_name())
}

impl Checker<'_> {
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

    pub(crate) fn warning(
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

    pub(crate) fn missing(&mut self, owner: Owner<'_>, key: &str, help: Option<String>) {
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

    /// Reads an optional key with `read`; a key that is there but bad clears `ok`.
    pub(crate) fn optional<'n, T>(
        &mut self,
        fields: &Fields<'n>,
        key: &str,
        ok: &mut bool,
        read: impl FnOnce(&mut Self, &'n Entry) -> Option<T>,
    ) -> Option<T> {
        let entry = fields.get(key)?;
        let value = read(self, entry);
        *ok &= value.is_some();
        value
    }

    /// The required `version: 1` of a playbook or schedules file; `reads` is the help for
    /// another version.
    pub(crate) fn version(&mut self, fields: &Fields<'_>, reads: &str) -> Option<u32> {
        let entry = self.required(
            fields,
            "version",
            Some("add `version: 1` at the top".into()),
        )?;
        match &entry.value.kind {
            NodeKind::Int(1) => Some(1),
            NodeKind::Int(other) => {
                self.error(
                    codes::UNSUPPORTED_VERSION,
                    entry.value.span,
                    entry.value.length,
                    format!("version {other} is not supported"),
                )
                .help = Some(reads.to_owned());
                None
            }
            _ => {
                self.wrong_type("version", "the integer 1", &entry.value);
                None
            }
        }
    }
}

//! `inputs:`: each declaration's keys and types, its constraints (`enum`, `pattern`,
//! `minimum`, `maximum`) and whether they fit the declared type, and its default.

use indexmap::IndexMap;
use serde_json::Value;

use crate::codes;
use crate::model::{InputDecl, InputType};
use crate::yaml::{Entry, Node, NodeKind};

use super::names::NameRule;
use super::values::regex_reason;
use super::{Checker, Fields, Owner};

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
/// Words other tools use, with this format's spelling.
const INPUT_ALIASES: [(&str, &str); 6] = [
    ("values", "`enum`"),
    ("choices", "`enum`"),
    ("min", "`minimum`"),
    ("max", "`maximum`"),
    ("regex", "`pattern`"),
    ("optional", "`required: false`"),
];
const INPUT_NAMES: NameRule = NameRule {
    message: |name| format!("input name `{name}` cannot be used in templates"),
    help: "use letters, digits and `_`, starting with a letter or `_`",
};

fn with_article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

impl Checker<'_> {
    pub(super) fn inputs(&mut self, entry: &Entry) -> Option<IndexMap<String, InputDecl>> {
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
        self.named_entries(entries, &INPUT_NAMES, Self::input)
    }

    fn input(&mut self, input: &Entry) -> Option<InputDecl> {
        let what = format!("input `{}`", input.key);
        let owner = Owner::key(&what, input);
        let fields = self.fields(&input.value, owner, &INPUT_KEYS, &INPUT_ALIASES)?;
        let mut ok = true;
        let input_type = self
            .required(
                &fields,
                "type",
                Some("add `type: string` (or integer, number, boolean, list)".into()),
            )
            .and_then(|entry| self.input_type(entry));
        let description = self.optional(&fields, "description", &mut ok, Self::string);
        let default = fields
            .get("default")
            .map(|entry| (entry.value.to_json(), entry));
        let explicit_required = self.optional(&fields, "required", &mut ok, Self::boolean);
        let secret = self
            .optional(&fields, "secret", &mut ok, Self::boolean)
            .unwrap_or(false);
        let allowed = self.optional(&fields, "enum", &mut ok, Self::allowed_values);
        let pattern = self.optional(&fields, "pattern", &mut ok, Self::pattern);
        let minimum = self.optional(&fields, "minimum", &mut ok, Self::number);
        let maximum = self.optional(&fields, "maximum", &mut ok, Self::number);
        let input_type = input_type?;

        ok &= self.constraints_fit(&fields, input_type, &what, minimum, maximum);
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
        if let (Some(values), Some(entry)) = (&allowed, fields.get("enum")) {
            ok &= self.allowed_values_fit(&decl, values, entry);
        }
        decl.allowed = allowed;
        if let Some((value, entry)) = default {
            ok &= self.default_fits(&decl, &value, entry, &what);
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

    fn input_type(&mut self, entry: &Entry) -> Option<InputType> {
        let NodeKind::Str(word) = &entry.value.kind else {
            self.wrong_type(
                "type",
                "one of string, integer, number, boolean, list",
                &entry.value,
            );
            return None;
        };
        let names = InputType::ALL.map(InputType::as_str);
        self.word(entry, word, &names, "an input type", InputType::from_name)
    }

    /// `enum`: a list of at least one value.
    fn allowed_values(&mut self, entry: &Entry) -> Option<Vec<Value>> {
        match &entry.value.kind {
            NodeKind::Seq(items) if !items.is_empty() => {
                Some(items.iter().map(Node::to_json).collect())
            }
            NodeKind::Seq(_) => {
                self.error(
                    codes::EMPTY_LIST,
                    entry.value.span,
                    entry.value.length,
                    "`enum` is empty: no value could be accepted",
                );
                None
            }
            _ => {
                self.wrong_type("enum", "a list of allowed values", &entry.value);
                None
            }
        }
    }

    /// `pattern`: a regular expression.
    fn pattern(&mut self, entry: &Entry) -> Option<String> {
        let pattern = self.string(entry)?;
        if let Err(error) = regex::Regex::new(&pattern) {
            let first_line = regex_reason(&error);
            self.error(
                codes::INVALID_INPUT_DECLARATION,
                entry.value.span,
                entry.value.length,
                format!("`pattern` is not a valid regular expression: {first_line}"),
            );
            return None;
        }
        Some(pattern)
    }

    /// Constraints that cannot apply to the declared type are mistakes, not no-ops, and so is
    /// a range no value fits. True when all fit.
    fn constraints_fit(
        &mut self,
        fields: &Fields<'_>,
        input_type: InputType,
        what: &str,
        minimum: Option<f64>,
        maximum: Option<f64>,
    ) -> bool {
        let mut ok = true;
        let numeric = matches!(input_type, InputType::Integer | InputType::Number);
        let applies = [
            ("pattern", "strings", input_type == InputType::String),
            ("minimum", "numbers", numeric),
            ("maximum", "numbers", numeric),
        ];
        for (key, values, fits) in applies {
            if let Some(entry) = fields.get(key)
                && !fits
            {
                self.error(
                    codes::INVALID_INPUT_DECLARATION,
                    entry.key_span,
                    entry.key_length,
                    format!(
                        "`{key}` applies to {values}, but {what} is {}",
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
        ok
    }

    /// Each `enum` value must itself be a valid value of the type. True when all are.
    fn allowed_values_fit(&mut self, decl: &InputDecl, values: &[Value], entry: &Entry) -> bool {
        let mut ok = true;
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
        ok
    }

    /// The default must be a valid value of the declaration. True when it is.
    fn default_fits(&mut self, decl: &InputDecl, value: &Value, entry: &Entry, what: &str) -> bool {
        let Err(reason) = decl.check(value) else {
            return true;
        };
        self.error(
            codes::INVALID_DEFAULT,
            entry.value.span,
            entry.value.length,
            format!("the default of {what} is invalid: {reason}"),
        );
        false
    }
}

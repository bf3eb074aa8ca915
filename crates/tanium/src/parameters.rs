//! Package parameter definitions: decoding, resolving user values, validating them.
//!
//! A package's `parameter_definition` is a JSON *string* holding
//! `{"parameters": [...], "parameterType": "...ParametersArray"}` (docs/tanium-api.md). Each
//! parameter has a key (`$1`, ...), a label and a type. Users give values by key or by label;
//! missing values fall back to the default as pytan's `build_param_objlist` does, and every value
//! is validated and sent as a string.

use regex::RegexBuilder;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::lenient::{Node, lenient_flag, lenient_u64};

/// One package parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterDefinition {
    /// The key sent with the value, e.g. `$1`.
    pub key: String,
    /// The label users see; may be empty.
    pub label: String,
    /// The help text, if any.
    pub help: String,
    /// The default value (`defaultValue`), possibly empty.
    pub default_value: String,
    /// The type and its constraints.
    pub kind: ParameterKind,
}

impl ParameterDefinition {
    /// The label, or the key when there is no label: what messages call the parameter.
    pub fn display_name(&self) -> &str {
        if self.label.is_empty() {
            &self.key
        } else {
            &self.label
        }
    }
}

/// A validation expression of a text parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// The regular expression the value must match somewhere.
    pub expression: String,
    /// The flags (`i` for case-insensitive).
    pub flags: String,
    /// What the expression asks for, in words.
    pub help: String,
}

/// The parameter types Tanium defines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ParameterKind {
    /// A one-line text; `max_chars` 0 means unlimited.
    TextInput {
        /// The most characters allowed (0: no limit).
        max_chars: u64,
        /// Expressions the value must match.
        validations: Vec<Validation>,
    },
    /// A multi-line text.
    TextArea {
        /// The most characters allowed (0: no limit).
        max_chars: u64,
        /// Expressions the value must match.
        validations: Vec<Validation>,
    },
    /// A choice among `values`.
    DropDown {
        /// The allowed values.
        values: Vec<String>,
        /// Whether a value must be chosen (the first is taken when there is no default).
        require_selection: bool,
    },
    /// A box, sent as `1` (checked) or an empty string.
    CheckBox,
    /// A number in a range.
    Numeric {
        /// The smallest value allowed.
        minimum: Option<f64>,
        /// The largest value allowed.
        maximum: Option<f64>,
        /// Values must be `minimum + k * step_size` when this is positive.
        step_size: Option<f64>,
    },
    /// A point in time, sent as Unix milliseconds.
    DateTime,
    /// A time range, sent as `<ms>|<ms>`.
    DateTimeRange,
    /// A list of values.
    List {
        /// Suggested values.
        values: Vec<String>,
        /// Whether an empty value is allowed.
        allow_empty: bool,
        /// Expressions the value must match.
        validations: Vec<Validation>,
    },
    /// A type this adapter does not know; its value is passed through unchecked.
    Other {
        /// The `parameterType` as sent.
        name: String,
    },
}

/// A problem with one parameter value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParameterError {
    /// The parameter's key (`$N`), or the unknown name the user gave.
    pub key: String,
    /// A sentence naming the parameter's label and saying what is allowed.
    pub message: String,
}

const PREFIX: &str = "com.tanium.components.parameters::";

/// Decodes a `parameter_definition` string. Empty text means no parameters; separators are
/// skipped (they carry no key and take no value).
pub fn decode(definition: &str) -> Result<Vec<ParameterDefinition>, Error> {
    if definition.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(definition)
        .map_err(|err| Error::decode("parameter_definition", format!("not valid JSON: {err}")))?;
    decode_value(&value)
}

/// Decodes an already parsed definition object.
pub fn decode_value(value: &Value) -> Result<Vec<ParameterDefinition>, Error> {
    let root = Node::root(value, "parameter_definition");
    let child = root.field("parameters");
    let Some(list) = child.node() else {
        return Ok(Vec::new());
    };
    let mut definitions = Vec::new();
    for index in 0..list.array()?.len() {
        let child = list.index(index);
        let node = child.required()?;
        let type_name = node
            .opt_string("parameterType")?
            .or(node.opt_string("model")?)
            .unwrap_or_default();
        let short_type = type_name
            .strip_prefix(PREFIX)
            .unwrap_or(&type_name)
            .to_owned();
        let key = node.opt_string("key")?.unwrap_or_default();
        if short_type == "SeparatorParameter" || key.is_empty() {
            continue;
        }
        let kind = match short_type.as_str() {
            "TextInputParameter" => ParameterKind::TextInput {
                max_chars: node.opt_u64("maxChars")?.unwrap_or(0),
                validations: validations(node)?,
            },
            "TextAreaParameter" => ParameterKind::TextArea {
                max_chars: node.opt_u64("maxChars")?.unwrap_or(0),
                validations: validations(node)?,
            },
            "DropDownParameter" => ParameterKind::DropDown {
                values: strings(node, "values")?,
                require_selection: node.flag_or_false("requireSelection")?,
            },
            "CheckBoxParameter" => ParameterKind::CheckBox,
            "NumericParameter" => ParameterKind::Numeric {
                minimum: number(node, "minimum")?,
                maximum: number(node, "maximum")?,
                step_size: number(node, "stepSize")?,
            },
            "DateTimeParameter" => ParameterKind::DateTime,
            "DateTimeRangeParameter" => ParameterKind::DateTimeRange,
            "ListParameter" => ParameterKind::List {
                values: strings(node, "values")?,
                allow_empty: node.flag_or_false("allowEmptyList")?,
                validations: validations(node)?,
            },
            _ => ParameterKind::Other { name: type_name },
        };
        definitions.push(ParameterDefinition {
            key,
            label: node.opt_string("label")?.unwrap_or_default(),
            help: node.opt_string("helpString")?.unwrap_or_default(),
            default_value: node.opt_string("defaultValue")?.unwrap_or_default(),
            kind,
        });
    }
    Ok(definitions)
}

fn validations(node: Node<'_>) -> Result<Vec<Validation>, Error> {
    let child = node.field("validationExpressions");
    let Some(list) = child.node() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for index in 0..list.array()?.len() {
        let child = list.index(index);
        let item = child.required()?;
        out.push(Validation {
            expression: item.opt_string("expression")?.unwrap_or_default(),
            flags: item.opt_string("flags")?.unwrap_or_default(),
            help: item.opt_string("helpString")?.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn strings(node: Node<'_>, name: &str) -> Result<Vec<String>, Error> {
    let child = node.field(name);
    let Some(list) = child.node() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for index in 0..list.array()?.len() {
        let child = list.index(index);
        out.push(child.required()?.as_string()?);
    }
    Ok(out)
}

fn number(node: Node<'_>, name: &str) -> Result<Option<f64>, Error> {
    let child = node.field(name);
    let Some(value) = child.node() else {
        return Ok(None);
    };
    match value.value() {
        Value::Number(number) => Ok(number.as_f64()),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => {
            text.trim().parse().map(Some).map_err(|_| {
                Error::decode(value.path(), format!("expected a number, found {text:?}"))
            })
        }
        _ => Err(Error::decode(value.path(), "expected a number")),
    }
}

/// Resolves user values against the definitions: keys or labels to `$N`, defaults filled,
/// every value validated. Returns `(key, value)` pairs in definition order, or every problem.
///
/// `given` holds `("$N" or label, value)`; labels match exactly first, then ignoring case.
pub fn resolve(
    definitions: &[ParameterDefinition],
    given: &[(String, String)],
) -> Result<Vec<(String, String)>, Vec<ParameterError>> {
    let mut problems = Vec::new();
    let mut values: Vec<Option<String>> = vec![None; definitions.len()];
    for (name, value) in given {
        let Some(position) = find_definition(definitions, name) else {
            problems.push(ParameterError {
                key: name.clone(),
                message: format!(
                    "unknown parameter {name:?}; this package takes {}",
                    describe_keys(definitions)
                ),
            });
            continue;
        };
        let definition = &definitions[position];
        if values[position].is_some() {
            problems.push(ParameterError {
                key: definition.key.clone(),
                message: format!(
                    "parameter {:?} ({}) is given more than once",
                    definition.display_name(),
                    definition.key
                ),
            });
            continue;
        }
        values[position] = Some(value.clone());
    }
    let mut resolved = Vec::with_capacity(definitions.len());
    for (definition, value) in definitions.iter().zip(values) {
        let value = value.unwrap_or_else(|| default_for(definition));
        match check(definition, &value) {
            Ok(value) => resolved.push((definition.key.clone(), value)),
            Err(message) => problems.push(ParameterError {
                key: definition.key.clone(),
                message: format!(
                    "parameter {:?} ({}): {message}",
                    definition.display_name(),
                    definition.key
                ),
            }),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

fn find_definition(definitions: &[ParameterDefinition], name: &str) -> Option<usize> {
    definitions
        .iter()
        .position(|d| d.key == name)
        .or_else(|| {
            definitions
                .iter()
                .position(|d| !d.label.is_empty() && d.label == name)
        })
        .or_else(|| {
            definitions
                .iter()
                .position(|d| !d.label.is_empty() && d.label.to_lowercase() == name.to_lowercase())
        })
}

fn describe_keys(definitions: &[ParameterDefinition]) -> String {
    if definitions.is_empty() {
        return "no parameters".to_owned();
    }
    definitions
        .iter()
        .map(|d| {
            if d.label.is_empty() {
                d.key.clone()
            } else {
                format!("{} ({:?})", d.key, d.label)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// pytan's fallback: the default value, or for a drop-down that requires a selection and has
/// no default, its first value.
fn default_for(definition: &ParameterDefinition) -> String {
    if !definition.default_value.is_empty() {
        return definition.default_value.clone();
    }
    match &definition.kind {
        ParameterKind::DropDown {
            values,
            require_selection: true,
        } => values.first().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Checks one value; returns the value to send (check boxes are normalised) or what is wrong.
fn check(definition: &ParameterDefinition, value: &str) -> Result<String, String> {
    match &definition.kind {
        ParameterKind::TextInput {
            max_chars,
            validations,
        }
        | ParameterKind::TextArea {
            max_chars,
            validations,
        } => {
            check_length(value, *max_chars)?;
            check_validations(value, validations)?;
            Ok(value.to_owned())
        }
        ParameterKind::List {
            allow_empty,
            validations,
            ..
        } => {
            if value.is_empty() && !allow_empty {
                return Err("a value is required (the list may not be empty)".to_owned());
            }
            if !value.is_empty() {
                check_validations(value, validations)?;
            }
            Ok(value.to_owned())
        }
        ParameterKind::DropDown { values, .. } => {
            if values.iter().any(|allowed| allowed == value) {
                Ok(value.to_owned())
            } else if value.is_empty() {
                Err(format!(
                    "a value is required; choose one of {}",
                    quoted_list(values)
                ))
            } else {
                Err(format!("{value:?} is not one of {}", quoted_list(values)))
            }
        }
        ParameterKind::CheckBox => match lenient_flag(&Value::String(value.to_owned())).or(
            match value.trim().to_ascii_lowercase().as_str() {
                "yes" | "on" | "checked" => Some(true),
                "no" | "off" | "unchecked" => Some(false),
                _ => None,
            },
        ) {
            // Tanium's check boxes use "1" and "" (docs/tanium-api.md).
            Some(true) => Ok("1".to_owned()),
            Some(false) => Ok(String::new()),
            None => Err(format!(
                "{value:?} is not a check box value; use true or false (1 or 0)"
            )),
        },
        ParameterKind::Numeric {
            minimum,
            maximum,
            step_size,
        } => check_numeric(value, *minimum, *maximum, *step_size).map(|()| value.trim().to_owned()),
        ParameterKind::DateTime => {
            if is_millis(value) {
                Ok(value.trim().to_owned())
            } else {
                Err(format!(
                    "{value:?} is not a time; give Unix time in milliseconds, e.g. 1417159750000"
                ))
            }
        }
        ParameterKind::DateTimeRange => {
            let parts: Vec<&str> = value.split('|').collect();
            let ordered = match parts.as_slice() {
                [start, end] if is_millis(start) && is_millis(end) => {
                    lenient_u64(&Value::String((*start).to_owned()))
                        <= lenient_u64(&Value::String((*end).to_owned()))
                }
                _ => {
                    return Err(format!(
                        "{value:?} is not a time range; give <start ms>|<end ms>, e.g. 1417159750000|1417332550000"
                    ));
                }
            };
            if ordered {
                Ok(value.trim().to_owned())
            } else {
                Err(format!("{value:?} ends before it starts"))
            }
        }
        ParameterKind::Other { .. } => Ok(value.to_owned()),
    }
}

fn is_millis(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_digit())
}

fn check_length(value: &str, max_chars: u64) -> Result<(), String> {
    let length = value.chars().count() as u64;
    if max_chars > 0 && length > max_chars {
        Err(format!(
            "is {length} characters long; at most {max_chars} are allowed"
        ))
    } else {
        Ok(())
    }
}

fn check_validations(value: &str, validations: &[Validation]) -> Result<(), String> {
    for validation in validations {
        if validation.expression.is_empty() {
            continue;
        }
        // Tanium's console evaluates these as JavaScript regexes; the common ones (`\S`, `\W`,
        // `^\d+$`) mean the same in Rust's syntax. One that does not compile here cannot be
        // checked, so it is left to the server rather than rejecting a value it would accept.
        let Ok(regex) = RegexBuilder::new(&validation.expression)
            .case_insensitive(validation.flags.contains('i'))
            .build()
        else {
            continue;
        };
        if !regex.is_match(value) {
            let help = if validation.help.is_empty() {
                format!("it must match the expression {:?}", validation.expression)
            } else {
                format!(
                    "{} (expression {:?})",
                    validation.help, validation.expression
                )
            };
            return Err(format!("{value:?} is not allowed: {help}"));
        }
    }
    Ok(())
}

fn check_numeric(
    value: &str,
    minimum: Option<f64>,
    maximum: Option<f64>,
    step: Option<f64>,
) -> Result<(), String> {
    let range = match (minimum, maximum) {
        (Some(min), Some(max)) => format!("a number from {min} to {max}"),
        (Some(min), None) => format!("a number of at least {min}"),
        (None, Some(max)) => format!("a number of at most {max}"),
        (None, None) => "a number".to_owned(),
    };
    let number: f64 = match value.trim().parse::<f64>() {
        Ok(number) if number.is_finite() => number,
        _ if value.trim().is_empty() => return Err(format!("a value is required; give {range}")),
        _ => return Err(format!("{value:?} is not a number; give {range}")),
    };
    if minimum.is_some_and(|min| number < min) || maximum.is_some_and(|max| number > max) {
        return Err(format!("{value} is out of range; give {range}"));
    }
    if let Some(step) = step.filter(|step| *step > 0.0) {
        let base = minimum.unwrap_or(0.0);
        let steps = (number - base) / step;
        if (steps - steps.round()).abs() > 1e-9 {
            return Err(format!(
                "{value} is not a multiple of the step {step} from {base}; give {range} in steps of {step}"
            ));
        }
    }
    Ok(())
}

fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts parameter values into a package command for display (`$1` → value). Longer keys win
/// (`$10` is not `$1` followed by `0`); keys without a value stay as they are.
pub fn substitute_command(command: &str, values: &[(String, String)]) -> String {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let mut replaced = false;
        for length in (1..=digits).rev() {
            let key = &rest[dollar..dollar + 1 + length];
            if let Some((_, value)) = values.iter().find(|(k, _)| k == key) {
                out.push_str(value);
                rest = &rest[dollar + 1 + length..];
                replaced = true;
                break;
            }
        }
        if !replaced {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_input(max_chars: u64, expression: &str) -> ParameterDefinition {
        ParameterDefinition {
            key: "$1".to_owned(),
            label: "Tag".to_owned(),
            help: String::new(),
            default_value: String::new(),
            kind: ParameterKind::TextInput {
                max_chars,
                validations: vec![Validation {
                    expression: expression.to_owned(),
                    flags: String::new(),
                    help: "You must enter a value".to_owned(),
                }],
            },
        }
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn messages(result: Result<Vec<(String, String)>, Vec<ParameterError>>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| p.message).collect(),
        }
    }

    #[test]
    fn text_input_table() {
        let def = vec![text_input(5, r"\S")];
        let cases: &[(&str, bool)] = &[
            ("abc", true),
            ("abcde", true),
            ("abcdef", false),
            ("", false),
            ("   ", false),
        ];
        for (value, ok) in cases {
            let result = resolve(&def, &given(&[("$1", value)]));
            assert_eq!(result.is_ok(), *ok, "value {value:?}: {result:?}");
        }
        let problems = messages(resolve(&def, &given(&[("Tag", "")])));
        assert!(
            problems[0].contains("\"Tag\"") && problems[0].contains("You must enter a value"),
            "{problems:?}"
        );
    }

    #[test]
    fn numeric_table() {
        let def = vec![ParameterDefinition {
            key: "$2".to_owned(),
            label: "Delay".to_owned(),
            help: String::new(),
            default_value: "30".to_owned(),
            kind: ParameterKind::Numeric {
                minimum: Some(0.0),
                maximum: Some(3600.0),
                step_size: Some(5.0),
            },
        }];
        let cases: &[(&str, Option<&str>)] = &[
            ("0", Some("0")),
            ("3600", Some("3600")),
            ("35", Some("35")),
            ("36", None),
            ("-5", None),
            ("3605", None),
            ("ten", None),
            ("", None),
        ];
        for (value, expected) in cases {
            let result = resolve(&def, &given(&[("$2", value)]));
            assert_eq!(
                result.as_ref().ok().map(|v| v[0].1.as_str()),
                *expected,
                "value {value:?}: {result:?}"
            );
        }
        assert_eq!(resolve(&def, &[]), Ok(given(&[("$2", "30")])));
        let problems = messages(resolve(&def, &given(&[("Delay", "9999")])));
        assert!(
            problems[0].contains("Delay") && problems[0].contains("from 0 to 3600"),
            "{problems:?}"
        );
    }

    #[test]
    fn drop_down_table() {
        let def = vec![ParameterDefinition {
            key: "$1".to_owned(),
            label: "Reboot".to_owned(),
            help: String::new(),
            default_value: String::new(),
            kind: ParameterKind::DropDown {
                values: vec!["yes".to_owned(), "no".to_owned()],
                require_selection: true,
            },
        }];
        assert_eq!(
            resolve(&def, &given(&[("$1", "no")])),
            Ok(given(&[("$1", "no")]))
        );
        // pytan: a required selection without a default takes the first value.
        assert_eq!(resolve(&def, &[]), Ok(given(&[("$1", "yes")])));
        let problems = messages(resolve(&def, &given(&[("reboot", "maybe")])));
        assert!(problems[0].contains(r#""yes", "no""#), "{problems:?}");
    }

    #[test]
    fn check_box_table() {
        let def = vec![ParameterDefinition {
            key: "$3".to_owned(),
            label: "Force".to_owned(),
            help: String::new(),
            default_value: "1".to_owned(),
            kind: ParameterKind::CheckBox,
        }];
        for (value, expected) in [
            ("true", Some("1")),
            ("1", Some("1")),
            ("false", Some("")),
            ("0", Some("")),
            ("", Some("")),
            ("perhaps", None),
        ] {
            let result = resolve(&def, &given(&[("$3", value)]));
            assert_eq!(
                result.as_ref().ok().map(|v| v[0].1.as_str()),
                expected,
                "value {value:?}"
            );
        }
        assert_eq!(resolve(&def, &[]), Ok(given(&[("$3", "1")])));
    }

    #[test]
    fn date_time_tables() {
        let date = ParameterDefinition {
            key: "$5".to_owned(),
            label: "When".to_owned(),
            help: String::new(),
            default_value: String::new(),
            kind: ParameterKind::DateTime,
        };
        let range = ParameterDefinition {
            key: "$6".to_owned(),
            label: "Window".to_owned(),
            kind: ParameterKind::DateTimeRange,
            ..date.clone()
        };
        let defs = vec![date, range];
        assert!(
            resolve(
                &defs,
                &given(&[
                    ("$5", "1420174800000"),
                    ("$6", "1417159750000|1417332550000")
                ])
            )
            .is_ok()
        );
        let problems = messages(resolve(&defs, &given(&[("$5", "tomorrow"), ("$6", "2|1")])));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("When") && problems[1].contains("ends before it starts"));
        assert_eq!(messages(resolve(&defs, &given(&[("$6", "1")]))).len(), 2);
    }

    #[test]
    fn list_and_text_area_tables() {
        let list = ParameterDefinition {
            key: "$7".to_owned(),
            label: "list".to_owned(),
            help: String::new(),
            default_value: String::new(),
            kind: ParameterKind::List {
                values: vec![String::new()],
                allow_empty: false,
                validations: Vec::new(),
            },
        };
        let area = ParameterDefinition {
            key: "$8".to_owned(),
            label: "notes".to_owned(),
            help: String::new(),
            default_value: "default text".to_owned(),
            kind: ParameterKind::TextArea {
                max_chars: 20,
                validations: Vec::new(),
            },
        };
        let defs = vec![list, area];
        assert_eq!(
            resolve(&defs, &given(&[("list", "a,b")])),
            Ok(given(&[("$7", "a,b"), ("$8", "default text")]))
        );
        let problems = messages(resolve(&defs, &given(&[("$8", "x".repeat(21).as_str())])));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].contains("at most 20"));
    }

    #[test]
    fn unknown_and_repeated_keys_are_reported_with_what_is_allowed() {
        let def = vec![text_input(0, "")];
        let problems = messages(resolve(
            &def,
            &given(&[("$9", "x"), ("$1", "a"), ("Tag", "b")]),
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("$1 (\"Tag\")"));
        assert!(problems[1].contains("more than once"));
    }

    #[test]
    fn commands_get_values_longest_key_first() {
        let values = given(&[("$1", "one"), ("$10", "ten")]);
        assert_eq!(
            substitute_command("run $1 $10 $2 $ $1x", &values),
            "run one ten $2 $ onex"
        );
    }

    #[test]
    fn separators_and_empty_definitions() {
        assert_eq!(decode("").ok(), Some(Vec::new()));
        let text = r#"{"parameters":[{"parameterType":"com.tanium.components.parameters::SeparatorParameter","key":null,"label":"--"},
            {"parameterType":"com.tanium.components.parameters::CheckBoxParameter","key":"$1","label":"x","defaultValue":""}]}"#;
        let defs = decode(text).unwrap_or_default();
        assert_eq!(defs.len(), 1);
        assert_eq!(defs[0].kind, ParameterKind::CheckBox);
        assert!(matches!(decode("{not json"), Err(Error::Decode { .. })));
    }
}

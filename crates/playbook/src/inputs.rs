//! Input values: parsing `--input name=value` text by the declared type, checking typed values
//! against their declarations, and binding every input of a run at once.

use indexmap::IndexMap;
use serde_json::Value;

use crate::model::{InputDecl, InputType, Playbook};

/// One problem with the inputs given to a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A required input was not given and has no default.
    #[error("input `{name}` is required")]
    Missing {
        /// Input name.
        name: String,
    },
    /// A value was given for an input the playbook does not declare.
    #[error("input `{name}` is not declared by this playbook{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    Undeclared {
        /// The name given.
        name: String,
        /// A declared name close to it.
        suggestion: Option<String>,
    },
    /// The value is of the wrong type or outside the declared constraints.
    #[error("input `{name}`: {reason}")]
    Invalid {
        /// Input name.
        name: String,
        /// What is wrong (never contains a secret input's value).
        reason: String,
    },
}

impl InputDecl {
    /// Parses `--input name=value` text by the declared type. A list is a JSON array or
    /// comma-separated text (items trimmed, kept as strings). The result is then checked with
    /// [`InputDecl::check`].
    ///
    /// ```
    /// # use runbook_playbook::{InputDecl, InputType, Span};
    /// let decl = InputDecl {
    ///     input_type: InputType::Integer, description: None, default: None, required: true,
    ///     allowed: None, pattern: None, minimum: Some(0.0), maximum: Some(99.0), secret: false,
    ///     span: Span::new(1, 1),
    /// };
    /// assert_eq!(decl.parse_cli_value("42"), Ok(serde_json::json!(42)));
    /// assert!(decl.parse_cli_value("100").is_err());
    /// ```
    pub fn parse_cli_value(&self, raw: &str) -> Result<Value, String> {
        let value = match self.input_type {
            InputType::String => Value::String(raw.to_owned()),
            InputType::Integer => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| self.redacted(raw, "is not an integer"))?,
            InputType::Number => {
                let number = raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| self.redacted(raw, "is not a number"))?;
                if number.fract() == 0.0 && number.abs() < 9.0e15 {
                    // Keep whole numbers integral so that `{{ x }}` renders `5`, not `5.0`.
                    Value::from(number as i64)
                } else {
                    serde_json::Number::from_f64(number)
                        .map(Value::Number)
                        .ok_or_else(|| self.redacted(raw, "is not a number"))?
                }
            }
            InputType::Boolean => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Value::Bool(true),
                "false" | "no" | "0" | "off" => Value::Bool(false),
                _ => return Err(self.redacted(raw, "is not a boolean (true or false)")),
            },
            InputType::List => {
                let trimmed = raw.trim();
                if trimmed.starts_with('[') {
                    let parsed: Value = serde_json::from_str(trimmed)
                        .map_err(|error| format!("is not a JSON list: {error}"))?;
                    if !parsed.is_array() {
                        return Err("is not a list".to_owned());
                    }
                    parsed
                } else if trimmed.is_empty() {
                    Value::Array(Vec::new())
                } else {
                    Value::Array(
                        trimmed
                            .split(',')
                            .map(|item| Value::String(item.trim().to_owned()))
                            .collect(),
                    )
                }
            }
        };
        self.check(&value)?;
        Ok(value)
    }

    fn redacted(&self, raw: &str, problem: &str) -> String {
        if self.secret {
            format!("the value given {problem}")
        } else {
            format!("`{raw}` {problem}")
        }
    }

    fn shown(&self, value: &Value) -> String {
        if self.secret {
            "the value given".to_owned()
        } else if let Some(text) = value.as_str() {
            format!("`{text}`")
        } else {
            format!("`{value}`")
        }
    }

    /// Checks a typed value (from `--inputs FILE`, a schedule or a default) against the
    /// declared type, `enum`, `pattern`, `minimum` and `maximum`. Messages never show the value
    /// of a secret input.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let type_ok = match self.input_type {
            InputType::String => value.is_string(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Number => value.is_number(),
            InputType::Boolean => value.is_boolean(),
            InputType::List => value.is_array(),
        };
        if !type_ok {
            let expected = match self.input_type {
                InputType::String => "a string",
                InputType::Integer => "an integer",
                InputType::Number => "a number",
                InputType::Boolean => "a boolean",
                InputType::List => "a list",
            };
            return Err(format!("{} is not {expected}", self.shown(value)));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|candidate| json_equal(candidate, value))
        {
            let choices: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!(
                "{} is not one of the allowed values: {}",
                self.shown(value),
                choices.join(", ")
            ));
        }
        if let (Some(pattern), Some(text)) = (&self.pattern, value.as_str()) {
            let regex = regex::Regex::new(pattern)
                .map_err(|error| format!("pattern `{pattern}` is not a valid regex: {error}"))?;
            if !regex.is_match(text) {
                return Err(format!(
                    "{} does not match the pattern `{pattern}`",
                    self.shown(value)
                ));
            }
        }
        if let Some(number) = value.as_f64() {
            if let Some(minimum) = self.minimum
                && number < minimum
            {
                return Err(format!(
                    "{} is below the minimum {minimum}",
                    self.shown(value)
                ));
            }
            if let Some(maximum) = self.maximum
                && number > maximum
            {
                return Err(format!(
                    "{} is above the maximum {maximum}",
                    self.shown(value)
                ));
            }
        }
        Ok(())
    }
}

// `1` and `1.0` are the same value to a user choosing from an `enum`.
fn json_equal(left: &Value, right: &Value) -> bool {
    match (left.as_f64(), right.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => left == right,
    }
}

/// Binds the inputs of a run: `cli` pairs (`--input name=value`, parsed by the declared type)
/// win over `file_values` (`--inputs FILE`, already typed), which win over defaults. Every
/// problem is reported together. On success every declared input is present, optional ones
/// not given as JSON null.
pub fn bind_inputs(
    playbook: &Playbook,
    cli: &[(String, String)],
    file_values: &IndexMap<String, Value>,
) -> Result<IndexMap<String, Value>, Vec<InputError>> {
    let mut errors = Vec::new();
    let declared = || playbook.inputs.keys().map(String::as_str);
    let undeclared = |name: &str| InputError::Undeclared {
        name: name.to_owned(),
        suggestion: crate::suggest::did_you_mean(name, declared()).map(str::to_owned),
    };
    let mut given: IndexMap<String, Value> = IndexMap::new();
    for (name, value) in file_values {
        match playbook.inputs.get(name) {
            None => errors.push(undeclared(name)),
            Some(decl) => match decl.check(value) {
                Ok(()) => {
                    given.insert(name.clone(), value.clone());
                }
                Err(reason) => errors.push(InputError::Invalid {
                    name: name.clone(),
                    reason,
                }),
            },
        }
    }
    for (name, raw) in cli {
        match playbook.inputs.get(name) {
            None => errors.push(undeclared(name)),
            Some(decl) => match decl.parse_cli_value(raw) {
                Ok(value) => {
                    given.insert(name.clone(), value);
                }
                Err(reason) => errors.push(InputError::Invalid {
                    name: name.clone(),
                    reason,
                }),
            },
        }
    }
    let mut bound = IndexMap::new();
    for (name, decl) in &playbook.inputs {
        let value = if let Some(value) = given.shift_remove(name) {
            value
        } else if let Some(default) = &decl.default {
            default.clone()
        } else if decl.required {
            let already_reported = errors.iter().any(|error| {
                matches!(error, InputError::Invalid { name: invalid, .. } if invalid == name)
            });
            if !already_reported {
                errors.push(InputError::Missing { name: name.clone() });
            }
            continue;
        } else {
            Value::Null
        };
        bound.insert(name.clone(), value);
    }
    if errors.is_empty() {
        Ok(bound)
    } else {
        Err(errors)
    }
}

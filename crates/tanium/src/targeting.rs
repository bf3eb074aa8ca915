//! Targeting text: structured clauses to the filter half of a Tanium question.
//!
//! The text goes to `POST /api/v2/groups {"text": ...}`. Every value is double-quoted with
//! inner quotes doubled (Tanium's documented escape), so no value can add a clause or widen the
//! target. `contains`, `starts with` and `ends with` values are regex-escaped because Tanium
//! turns them into the regexes `.*V.*`, `V.*` and `.*V` (docs/tanium-api.md); `matches` passes the
//! user's regex through. An empty clause list is refused: an empty group means every machine.

use serde::{Deserialize, Serialize};

/// The comparison in a clause and how clauses combine: the engine's types (defined once, in
/// the playbook's model).
pub use runbook_engine::{Combine, Operator};

/// An operator as written in question text.
pub fn operator_text(op: Operator) -> &'static str {
    match op {
        Operator::Equals => "equals",
        Operator::NotEquals => "not equals",
        Operator::Contains => "contains",
        Operator::StartsWith => "starts with",
        Operator::EndsWith => "ends with",
        Operator::Matches => "matches",
        Operator::GreaterThan => ">",
        Operator::LessThan => "<",
    }
}

/// Whether Tanium builds a regex from the value, so the value must be escaped: `contains`,
/// `starts with` and `ends with` (taken literally); `matches` takes a regular expression.
pub fn escapes_value(op: Operator) -> bool {
    matches!(
        op,
        Operator::Contains | Operator::StartsWith | Operator::EndsWith
    )
}

/// One condition on a sensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clause {
    /// The sensor name, e.g. `Computer Name`.
    pub sensor: String,
    /// The comparison.
    pub op: Operator,
    /// The value as the user meant it (a literal, or a regex for `matches`).
    pub value: String,
}

/// Why targeting text could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetingError {
    /// No clauses: Tanium reads an empty group as every machine, so this is never built.
    #[error("targeting needs at least one clause: an empty filter would target every machine")]
    NoClauses,
    /// The sensor name is empty or has characters a sensor name cannot have.
    #[error(
        "clause {index}: sensor name {sensor:?} is not valid (letters, digits, spaces, '-', '_' and '.' only)"
    )]
    BadSensor {
        /// The clause's position, from 1.
        index: usize,
        /// The sensor name as given.
        sensor: String,
    },
    /// A value holds a character that cannot travel in question text.
    #[error("clause {index}: the value for {sensor:?} contains a line break or control character")]
    BadValue {
        /// The clause's position, from 1.
        index: usize,
        /// The clause's sensor.
        sensor: String,
    },
}

/// Words that Tanium's parser reads as grammar; a sensor name containing one is quoted.
pub const RESERVED_WORDS: &[&str] = &[
    "all",
    "and",
    "any",
    "contain",
    "containing",
    "contains",
    "does",
    "ending",
    "ends",
    "equal",
    "equals",
    "from",
    "get",
    "greater",
    "having",
    "in",
    "is",
    "less",
    "machines",
    "match",
    "matches",
    "matching",
    "not",
    "or",
    "regex",
    "starting",
    "starts",
    "than",
    "with",
];

/// Builds the filter text for the clauses, e.g.
/// `Computer Name equals "web-01" or Computer Name starts with "db\-"`.
pub fn build_text(combine: Combine, clauses: &[Clause]) -> Result<String, TargetingError> {
    if clauses.is_empty() {
        return Err(TargetingError::NoClauses);
    }
    let joiner = match combine {
        Combine::All => " and ",
        Combine::Any => " or ",
    };
    let mut parts = Vec::with_capacity(clauses.len());
    for (position, clause) in clauses.iter().enumerate() {
        let index = position + 1;
        let sensor = sensor_text(&clause.sensor).ok_or_else(|| TargetingError::BadSensor {
            index,
            sensor: clause.sensor.clone(),
        })?;
        if clause.value.chars().any(char::is_control) {
            return Err(TargetingError::BadValue {
                index,
                sensor: clause.sensor.clone(),
            });
        }
        let value = if escapes_value(clause.op) {
            escape_regex(&clause.value)
        } else {
            clause.value.clone()
        };
        parts.push(format!(
            "{sensor} {} {}",
            operator_text(clause.op),
            quote(&value)
        ));
    }
    Ok(parts.join(joiner))
}

/// The value Tanium compares against for a clause: the regex it builds for `contains`,
/// `starts with` and `ends with`, the value itself otherwise. Useful to show a plan.
pub fn effective_value(op: Operator, value: &str) -> String {
    match op {
        Operator::Contains => format!(".*{}.*", escape_regex(value)),
        Operator::StartsWith => format!("{}.*", escape_regex(value)),
        Operator::EndsWith => format!(".*{}", escape_regex(value)),
        _ => value.to_owned(),
    }
}

/// Double-quotes a literal, doubling inner quotes (Tanium: `contains """test"""`).
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// Escapes every regex metacharacter with a backslash. Tanium's regexes are Boost/Perl
/// syntax, where a backslash before any punctuation means the character itself.
pub fn escape_regex(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        if matches!(
            character,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Validates a sensor name and quotes it when it holds a reserved word.
fn sensor_text(sensor: &str) -> Option<String> {
    let trimmed = sensor.trim();
    if trimmed.is_empty() || trimmed != sensor {
        return None;
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.');
    if !trimmed.chars().all(allowed) || trimmed.contains("  ") {
        return None;
    }
    let has_reserved = trimmed.split(' ').any(|word| {
        RESERVED_WORDS
            .iter()
            .any(|reserved| word.eq_ignore_ascii_case(reserved))
    });
    if has_reserved {
        Some(quote(trimmed))
    } else {
        Some(trimmed.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(sensor: &str, op: Operator, value: &str) -> Clause {
        Clause {
            sensor: sensor.to_owned(),
            op,
            value: value.to_owned(),
        }
    }

    #[test]
    fn values_are_quoted_escaped_and_joined() {
        let text = build_text(
            Combine::Any,
            &[
                clause("Computer Name", Operator::Equals, "web-01.corp"),
                clause("Computer Name", Operator::StartsWith, "db.(1)"),
                clause("Tag", Operator::Contains, "say \"hi\""),
                clause("OS", Operator::Matches, "^Win.*10$"),
                clause("Uptime", Operator::GreaterThan, "5"),
            ],
        );
        assert_eq!(
            text.as_deref(),
            Ok(concat!(
                r#"Computer Name equals "web-01.corp" or Computer Name starts with "db\.\(1\)" or "#,
                r#"Tag contains "say ""hi""" or OS matches "^Win.*10$" or Uptime > "5""#
            ))
        );
    }

    #[test]
    fn empty_clause_lists_are_refused() {
        assert_eq!(
            build_text(Combine::All, &[]),
            Err(TargetingError::NoClauses)
        );
    }

    #[test]
    fn sensor_names_are_checked_and_quoted_when_reserved() {
        let bad = build_text(
            Combine::All,
            &[clause("Name\" or 1", Operator::Equals, "x")],
        );
        assert!(matches!(
            bad,
            Err(TargetingError::BadSensor { index: 1, .. })
        ));
        let empty = build_text(Combine::All, &[clause("", Operator::Equals, "x")]);
        assert!(matches!(empty, Err(TargetingError::BadSensor { .. })));
        let reserved = build_text(
            Combine::All,
            &[clause("Is Virtual", Operator::Equals, "yes")],
        );
        assert_eq!(reserved.as_deref(), Ok(r#""Is Virtual" equals "yes""#));
    }

    #[test]
    fn control_characters_are_refused() {
        let text = build_text(
            Combine::All,
            &[clause("Computer Name", Operator::Equals, "a\nb")],
        );
        assert!(matches!(text, Err(TargetingError::BadValue { .. })));
    }

    #[test]
    fn effective_values_are_the_regexes_tanium_builds() {
        assert_eq!(effective_value(Operator::Contains, "a.b"), r".*a\.b.*");
        assert_eq!(effective_value(Operator::StartsWith, "x"), "x.*");
        assert_eq!(effective_value(Operator::EndsWith, "x"), ".*x");
        assert_eq!(effective_value(Operator::Matches, "a.b"), "a.b");
    }
}

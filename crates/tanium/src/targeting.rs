//! Targeting text: structured clauses to the filter half of a Tanium question.
//!
//! The text goes to `POST /api/v2/groups {"text": ...}`. Every value is double-quoted with
//! inner quotes doubled (Tanium's documented escape), so no value can add a clause or widen the
//! target. `contains`, `starts with` and `ends with` values are regex-escaped because Tanium
//! turns them into the regexes `.*V.*`, `V.*` and `.*V` (docs/tanium-api.md); `matches` passes the
//! user's regex through. An empty clause list is refused: an empty group means every machine.
//!
//! A clause may hold several values ([`ClauseValue::AnyOf`], the playbook's `values:`): it is
//! written as the clauses of each value, each quoted and escaped like a single one, OR-ed in
//! parentheses (for `not equals`, AND-ed: none of them). An empty list matches nothing (for
//! `not equals`, everything): see [`NEVER`].

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
    /// The value as the user meant it (a literal, or a regex for `matches`), or several.
    pub value: ClauseValue,
}

/// A clause's value: one, or any of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClauseValue {
    /// One value.
    One(String),
    /// Any of these values (for `not equals`: none of them). Empty, it matches nothing (for
    /// `not equals`, everything).
    AnyOf(Vec<String>),
}

impl From<&str> for ClauseValue {
    fn from(value: &str) -> Self {
        ClauseValue::One(value.to_owned())
    }
}

impl From<String> for ClauseValue {
    fn from(value: String) -> Self {
        ClauseValue::One(value)
    }
}

impl From<Vec<String>> for ClauseValue {
    fn from(values: Vec<String>) -> Self {
        ClauseValue::AnyOf(values)
    }
}

/// The most values one clause may hold. The engine refuses more before calling the adapter
/// (`MAX_CLAUSE_VALUES`); the adapter refuses them again rather than build an unbounded text.
pub const MAX_VALUES: usize = runbook_engine::MAX_CLAUSE_VALUES;

/// A regular expression that matches no text at all: a position that is a word boundary and
/// not one. Boost (Tanium's engine) and Rust's `regex` (the simulator's) both read it so.
/// `S matches NEVER` is how an empty list of values matches nothing, and `S does not match
/// NEVER` how an empty `not equals` list matches everything, including machines that have no
/// value for the sensor (a negated `.*` would wrongly match those for "nothing").
pub const NEVER: &str = r"\b\B";

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
    /// A clause holds more values than [`MAX_VALUES`].
    #[error("clause {index}: {count} values for {sensor:?}; at most {MAX_VALUES} are allowed")]
    TooManyValues {
        /// The clause's position, from 1.
        index: usize,
        /// The clause's sensor.
        sensor: String,
        /// How many values it held.
        count: usize,
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
/// `Computer Name equals "web-01" or Computer Name starts with "db\-"`. A clause with several
/// values becomes `(S equals "a" or S equals "b")`, with `not equals`
/// `(S not equals "a" and S not equals "b")`; with none, `S matches "\b\B"` (nothing) or, for
/// `not equals`, `S does not match "\b\B"` (everything).
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
        let checked = check_clause(position + 1, clause)?;
        let one = |value: &str| one_text(&checked.sensor, clause.op, value);
        parts.push(match checked.values {
            Values::One(value) => one(value),
            Values::Many(values) => {
                let texts: Vec<String> = values.iter().map(|value| one(value)).collect();
                let joiner = if clause.op == Operator::NotEquals {
                    " and "
                } else {
                    " or "
                };
                format!("({})", texts.join(joiner))
            }
            Values::Empty => {
                let op = if clause.op == Operator::NotEquals {
                    "does not match"
                } else {
                    "matches"
                };
                format!("{} {op} {}", checked.sensor, quote(NEVER))
            }
        });
    }
    Ok(parts.join(joiner))
}

/// One value's clause text: the value escaped when Tanium builds a regex from it, then quoted.
fn one_text(sensor: &str, op: Operator, value: &str) -> String {
    let value = if escapes_value(op) {
        escape_regex(value)
    } else {
        value.to_owned()
    };
    format!("{sensor} {} {}", operator_text(op), quote(&value))
}

/// A clause's values once checked: how many there are decides its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values<'a> {
    /// One value (or a list of one).
    One(&'a str),
    /// Two values or more.
    Many(&'a [String]),
    /// An empty list.
    Empty,
}

/// A clause checked for writing: its sensor as text (quoted when it holds a reserved word) and
/// its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedClause<'a> {
    /// The sensor name as question text writes it.
    pub sensor: String,
    /// The values.
    pub values: Values<'a>,
}

/// Checks a clause the same way for question text and for a question's structured filter: the
/// sensor name, no control characters in any value, at most [`MAX_VALUES`] values. `index`
/// is the clause's position from 1, for messages.
pub fn check_clause(index: usize, clause: &Clause) -> Result<CheckedClause<'_>, TargetingError> {
    let sensor = sensor_text(&clause.sensor).ok_or_else(|| TargetingError::BadSensor {
        index,
        sensor: clause.sensor.clone(),
    })?;
    let values = match &clause.value {
        ClauseValue::One(value) => Values::One(value),
        ClauseValue::AnyOf(values) if values.len() > MAX_VALUES => {
            return Err(TargetingError::TooManyValues {
                index,
                sensor: clause.sensor.clone(),
                count: values.len(),
            });
        }
        ClauseValue::AnyOf(values) => match values.as_slice() {
            [] => Values::Empty,
            [value] => Values::One(value),
            values => Values::Many(values),
        },
    };
    let all: &[String] = match &clause.value {
        ClauseValue::One(value) => std::slice::from_ref(value),
        ClauseValue::AnyOf(values) => values,
    };
    if all.iter().any(|value| value.chars().any(char::is_control)) {
        return Err(TargetingError::BadValue {
            index,
            sensor: clause.sensor.clone(),
        });
    }
    Ok(CheckedClause { sensor, values })
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
            value: value.into(),
        }
    }

    fn any_of(sensor: &str, op: Operator, values: &[&str]) -> Clause {
        Clause {
            sensor: sensor.to_owned(),
            op,
            value: ClauseValue::AnyOf(values.iter().map(|value| (*value).to_owned()).collect()),
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
    fn several_values_are_each_quoted_and_escaped_in_parentheses() {
        let text = build_text(
            Combine::All,
            &[
                any_of(
                    "Computer Name",
                    Operator::StartsWith,
                    &["db.(1)", "say \"hi\"", "a or b"],
                ),
                any_of("Custom Tags", Operator::NotEquals, &["quarantined", "x\"y"]),
                any_of("Is Virtual", Operator::Equals, &["yes"]),
            ],
        );
        assert_eq!(
            text.as_deref(),
            Ok(concat!(
                r#"(Computer Name starts with "db\.\(1\)" or Computer Name starts with "say ""hi""" or "#,
                r#"Computer Name starts with "a or b") and "#,
                r#"(Custom Tags not equals "quarantined" and Custom Tags not equals "x""y") and "#,
                r#""Is Virtual" equals "yes""#
            ))
        );
    }

    #[test]
    fn an_empty_list_matches_nothing_and_an_empty_not_equals_everything() {
        let nothing = build_text(
            Combine::Any,
            &[any_of("Computer Name", Operator::Equals, &[])],
        );
        assert_eq!(nothing.as_deref(), Ok(r#"Computer Name matches "\b\B""#));
        let everything = build_text(
            Combine::Any,
            &[any_of("Computer Name", Operator::NotEquals, &[])],
        );
        assert_eq!(
            everything.as_deref(),
            Ok(r#"Computer Name does not match "\b\B""#)
        );
        // The regex matches no text, anchored as Tanium's regex_match is or not.
        for pattern in [NEVER.to_owned(), format!("^(?:{NEVER})$")] {
            let regex = regex::RegexBuilder::new(&pattern)
                .case_insensitive(true)
                .build()
                .unwrap();
            for text in [
                "",
                " ",
                "a",
                "ab",
                "a b",
                "web-01.corp",
                "\n",
                "日本",
                "[no results]",
            ] {
                assert!(!regex.is_match(text), "{pattern} matched {text:?}");
            }
        }
    }

    #[test]
    fn lists_are_bounded_and_checked_like_one_value() {
        let values: Vec<String> = (0..=MAX_VALUES).map(|index| index.to_string()).collect();
        let too_many = Clause {
            sensor: "Computer Name".to_owned(),
            op: Operator::Equals,
            value: ClauseValue::AnyOf(values.clone()),
        };
        assert!(matches!(
            build_text(Combine::All, &[too_many]),
            Err(TargetingError::TooManyValues { index: 1, count, .. }) if count == MAX_VALUES + 1
        ));
        let most = Clause {
            sensor: "Computer Name".to_owned(),
            op: Operator::Equals,
            value: ClauseValue::AnyOf(values[..MAX_VALUES].to_vec()),
        };
        assert!(build_text(Combine::All, &[most]).is_ok());
        let control = any_of("Computer Name", Operator::Equals, &["fine", "bad\nline"]);
        assert!(matches!(
            build_text(
                Combine::All,
                &[clause("OS", Operator::Equals, "x"), control]
            ),
            Err(TargetingError::BadValue { index: 2, .. })
        ));
    }

    #[test]
    fn effective_values_are_the_regexes_tanium_builds() {
        assert_eq!(effective_value(Operator::Contains, "a.b"), r".*a\.b.*");
        assert_eq!(effective_value(Operator::StartsWith, "x"), "x.*");
        assert_eq!(effective_value(Operator::EndsWith, "x"), ".*x");
        assert_eq!(effective_value(Operator::Matches, "a.b"), "a.b");
    }
}

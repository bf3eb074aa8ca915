//! Property: whatever the values hold (quotes, `and`/`or`, parentheses, regex metacharacters,
//! unicode, nothing at all), the simulator's parser reads back exactly the clauses that were
//! built, so no value can add a clause or widen a target; a list of values reads back as the
//! clause of each value, OR-ed (AND-ed for not equals), and an empty list as the regex that
//! matches nothing.

use proptest::prelude::*;
use runbook_tanium::targeting::{
    Clause, ClauseValue, Combine, NEVER, Operator, build_text, escape_regex,
};
use runbook_tanium_sim::question::{self, Filter};

fn operator() -> impl Strategy<Value = Operator> {
    prop_oneof![
        Just(Operator::Equals),
        Just(Operator::NotEquals),
        Just(Operator::Contains),
        Just(Operator::StartsWith),
        Just(Operator::EndsWith),
        Just(Operator::Matches),
        Just(Operator::GreaterThan),
        Just(Operator::LessThan),
    ]
}

/// Values built from pieces that are dangerous in question text, plus arbitrary unicode.
fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\"".to_owned()),
        Just("\"\"".to_owned()),
        Just(" and ".to_owned()),
        Just(" or ".to_owned()),
        Just("not ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(".*".to_owned()),
        Just("\\".to_owned()),
        Just("$^|+?{}".to_owned()),
        Just(" equals ".to_owned()),
        Just("Computer Name contains ".to_owned()),
        Just(" ".to_owned()),
        Just("日本語é".to_owned()),
        "[a-zA-Z0-9.,:-]{0,6}",
        any::<String>().prop_map(|s| s.chars().filter(|c| !c.is_control()).collect()),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn sensor() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Computer Name".to_owned()),
        Just("IP Address".to_owned()),
        Just("Custom Tags".to_owned()),
        Just("Is Virtual".to_owned()),
        Just("Operating System".to_owned()),
        Just("does not match".to_owned()),
        "[A-Za-z][A-Za-z0-9_.-]{0,8}( [A-Za-z0-9_.-]{1,8}){0,2}",
    ]
}

fn clause() -> impl Strategy<Value = Clause> {
    let one = value().prop_map(ClauseValue::One);
    let several = prop::collection::vec(value(), 0..4).prop_map(ClauseValue::AnyOf);
    let value = prop_oneof![3 => one, 1 => several];
    (sensor(), operator(), value).prop_map(|(sensor, op, value)| Clause { sensor, op, value })
}

/// The filter Tanium would read for a clause of one value: the wire operator and the value as
/// Tanium uses it (the regex it builds for contains / starts with / ends with).
fn expected_one(sensor: &str, op: Operator, value: &str) -> Filter {
    use question::Operator as Wire;
    let (operator, value, negated) = match op {
        Operator::Equals => (Wire::Equal, value.to_owned(), false),
        Operator::NotEquals => (Wire::Equal, value.to_owned(), true),
        Operator::Contains => (
            Wire::RegexMatch,
            format!(".*{}.*", escape_regex(value)),
            false,
        ),
        Operator::StartsWith => (
            Wire::RegexMatch,
            format!("{}.*", escape_regex(value)),
            false,
        ),
        Operator::EndsWith => (
            Wire::RegexMatch,
            format!(".*{}", escape_regex(value)),
            false,
        ),
        Operator::Matches => (Wire::RegexMatch, value.to_owned(), false),
        Operator::GreaterThan => (Wire::Greater, value.to_owned(), false),
        Operator::LessThan => (Wire::Less, value.to_owned(), false),
    };
    let parsed = Filter::Clause(question::Clause {
        sensor: sensor.to_owned(),
        params: Vec::new(),
        operator,
        value,
    });
    if negated {
        Filter::Not(Box::new(parsed))
    } else {
        parsed
    }
}

/// The filter Tanium would read for a clause: several values any of them (for not equals,
/// none of them), an empty list the regex that matches nothing (negated for not equals).
fn expected(clause: &Clause) -> Filter {
    match &clause.value {
        ClauseValue::One(value) => expected_one(&clause.sensor, clause.op, value),
        ClauseValue::AnyOf(values) if values.is_empty() => {
            let never = Filter::Clause(question::Clause {
                sensor: clause.sensor.clone(),
                params: Vec::new(),
                operator: question::Operator::RegexMatch,
                value: NEVER.to_owned(),
            });
            if clause.op == Operator::NotEquals {
                Filter::Not(Box::new(never))
            } else {
                never
            }
        }
        ClauseValue::AnyOf(values) if values.len() == 1 => {
            expected_one(&clause.sensor, clause.op, &values[0])
        }
        ClauseValue::AnyOf(values) => {
            let each = values
                .iter()
                .map(|value| expected_one(&clause.sensor, clause.op, value))
                .collect();
            if clause.op == Operator::NotEquals {
                Filter::And(each)
            } else {
                Filter::Or(each)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_reads_back_exactly_the_built_clauses(
        clauses in prop::collection::vec(clause(), 1..5),
        any_of in any::<bool>(),
    ) {
        let combine = if any_of { Combine::Any } else { Combine::All };
        let text = build_text(combine, &clauses).map_err(|err| TestCaseError::fail(err.to_string()))?;
        let parsed = question::parse(&text)
            .map_err(|err| TestCaseError::fail(format!("{text:?} did not parse: {err}")))?;
        let mut filters: Vec<Filter> = clauses.iter().map(expected).collect();
        let wanted = if filters.len() == 1 {
            filters.remove(0)
        } else if any_of {
            Filter::Or(filters)
        } else {
            Filter::And(filters)
        };
        prop_assert_eq!(parsed, wanted, "text: {}", text);
    }

    #[test]
    fn escaped_values_match_only_themselves(value in value(), other in value()) {
        // The regex Tanium builds for `contains V` matches a text exactly when V is in it.
        let regex = regex::Regex::new(&format!("(?s)^.*{}.*$", escape_regex(&value)));
        let regex = regex.map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(regex.is_match(&other), other.contains(&value));
        let surrounded = format!("{other}{value}{other}");
        prop_assert!(regex.is_match(&surrounded));
    }
}

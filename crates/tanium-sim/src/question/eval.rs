//! Evaluation: a [`Filter`] compiled once (its regexes built) and run against each
//! endpoint's sensor answers, case-insensitively, numbers compared as numbers.

use regex::{Regex, RegexBuilder};

use super::{Clause, Filter, Operator, ParseError};

impl Filter {
    /// Compiles the regexes once so that the filter can be run over a large fleet.
    pub fn compile(&self) -> Result<CompiledFilter, ParseError> {
        Ok(match self {
            Filter::All => CompiledFilter::All,
            Filter::Group(name) => {
                return Err(ParseError {
                    message: format!("unknown computer group '{name}'"),
                    offset: 0,
                });
            }
            Filter::And(items) => CompiledFilter::And(
                items
                    .iter()
                    .map(Filter::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Or(items) => CompiledFilter::Or(
                items
                    .iter()
                    .map(Filter::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Not(inner) => CompiledFilter::Not(Box::new(inner.compile()?)),
            Filter::Clause(clause) => {
                let regex = if clause.operator == Operator::RegexMatch {
                    // Boost's regex_match semantics: the pattern must cover the whole value.
                    Some(
                        RegexBuilder::new(&format!("^(?:{})$", clause.value))
                            .case_insensitive(true)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|error| ParseError {
                                message: format!(
                                    "invalid regular expression '{}': {error}",
                                    clause.value
                                ),
                                offset: 0,
                            })?,
                    )
                } else {
                    None
                };
                CompiledFilter::Clause {
                    clause: clause.clone(),
                    regex,
                }
            }
        })
    }
}

/// A filter ready to run against endpoints.
#[derive(Debug, Clone)]
pub enum CompiledFilter {
    /// Every machine.
    All,
    /// All of these.
    And(Vec<CompiledFilter>),
    /// Any of these.
    Or(Vec<CompiledFilter>),
    /// The opposite.
    Not(Box<CompiledFilter>),
    /// One sensor test, its regex built.
    Clause {
        /// The clause.
        clause: Clause,
        /// The compiled regex for `RegexMatch`.
        regex: Option<Regex>,
    },
}

/// What a filter needs from an endpoint: the answers a sensor gives on it (several for
/// multi-valued sensors such as `Custom Tags`; none when the sensor has no answer there).
pub trait SensorSource {
    /// The sensor's answers on this machine, or `None` when the sensor does not exist.
    fn sensor_values(&self, sensor: &str, params: &[String]) -> Option<Vec<String>>;
}

impl CompiledFilter {
    /// Whether the endpoint passes. A clause passes when any of the sensor's answers
    /// passes; an unknown sensor passes nowhere.
    pub fn matches(&self, endpoint: &dyn SensorSource) -> bool {
        match self {
            CompiledFilter::All => true,
            CompiledFilter::And(items) => items.iter().all(|item| item.matches(endpoint)),
            CompiledFilter::Or(items) => items.iter().any(|item| item.matches(endpoint)),
            CompiledFilter::Not(inner) => !inner.matches(endpoint),
            CompiledFilter::Clause { clause, regex } => {
                let Some(values) = endpoint.sensor_values(&clause.sensor, &clause.params) else {
                    return false;
                };
                values
                    .iter()
                    .any(|value| clause_matches(clause, regex.as_ref(), value))
            }
        }
    }
}

fn clause_matches(clause: &Clause, regex: Option<&Regex>, value: &str) -> bool {
    match clause.operator {
        Operator::Equal => value.to_lowercase() == clause.value.to_lowercase(),
        Operator::RegexMatch => regex.is_some_and(|regex| regex.is_match(value)),
        Operator::Less => compare(value, &clause.value).is_lt(),
        Operator::LessEqual => compare(value, &clause.value).is_le(),
        Operator::Greater => compare(value, &clause.value).is_gt(),
        Operator::GreaterEqual => compare(value, &clause.value).is_ge(),
    }
}

/// Numbers compare as numbers, anything else as case-folded text.
fn compare(left: &str, right: &str) -> std::cmp::Ordering {
    match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
        (Ok(left), Ok(right)) => left.total_cmp(&right),
        _ => left.to_lowercase().cmp(&right.to_lowercase()),
    }
}

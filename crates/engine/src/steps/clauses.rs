//! Clauses in the target grammar, rendered for a run and for a plan: `target`'s `all:`/`any:`
//! and `question`'s `from`. A clause left out by its `when` is dropped; `value:` renders to one
//! text, `values:` to any of a list (each item one text, duplicates once), refused beyond
//! [`MAX_CLAUSE_VALUES`] before anything is sent. The platform quotes and escapes every value.

use runbook_playbook::{Clause, ClauseOperand};
use serde_json::Value;

use crate::events::Event;
use crate::plan::{Planner, Rendered, Scope};
use crate::platform::{ClauseValue, MAX_CLAUSE_VALUES, TargetClause};
use crate::run::{Engine, RunState, StepError};
use crate::template::{TemplateContext, condition_holds};
use crate::values::value_text;

/// Rendered clauses, and whether a value was computed from a secret (the platform quotes the
/// values into the question text, which is then a secret as a whole).
pub(crate) struct Clauses {
    pub(crate) clauses: Vec<TargetClause>,
    pub(crate) secret: bool,
    /// In a plan: whether a value is only known at run time (it holds a placeholder), so that
    /// asking the server what the clauses match now would answer for the placeholder's text.
    pub(crate) unknown: bool,
}

/// How a clause is named in messages: `Computer Name equals`.
fn clause_name(clause: &Clause) -> String {
    format!("{} {}", clause.sensor, clause.op.as_str())
}

/// Renders the clauses of a run; those whose `when` is false are left out. An empty `values`
/// list is a warning (the clause matches nothing), more than [`MAX_CLAUSE_VALUES`] an error.
pub(crate) fn render(
    engine: &Engine,
    state: &mut RunState<'_>,
    step_id: &str,
    clauses: &[Clause],
    context: &TemplateContext,
) -> Result<Clauses, StepError> {
    let mut rendered = Vec::with_capacity(clauses.len());
    let mut secret = false;
    for clause in clauses {
        if let Some(condition) = &clause.when
            && !engine.holds(condition, context)?
        {
            continue;
        }
        let (template, many) = match &clause.value {
            ClauseOperand::One(template) => (template, false),
            ClauseOperand::AnyOf(template) => (template, true),
        };
        let value = engine.render_tracked(state, template, context)?;
        secret |= !value.taint.is_clean();
        let value = if many {
            let values = any_of(&clause_name(clause), &value.value).map_err(StepError::new)?;
            if values.is_empty() {
                engine.emit(
                    state,
                    Event::Warning {
                        step_id: Some(step_id.to_owned()),
                        message: empty_values(clause),
                    },
                );
            }
            ClauseValue::AnyOf(values)
        } else {
            ClauseValue::One(value_text(&value.value))
        };
        rendered.push(TargetClause {
            sensor: clause.sensor.clone(),
            op: clause.op,
            value,
        });
    }
    Ok(Clauses {
        clauses: rendered,
        secret,
        unknown: false,
    })
}

/// Renders the clauses of a plan. A `when` that only a run can decide keeps its clause (with a
/// detail line saying so); a `values` that only a run can tell is one placeholder in the list.
pub(crate) fn plan(
    planner: &Planner<'_>,
    clauses: &[Clause],
    scope: &Scope<'_>,
    details: &mut Vec<String>,
) -> Result<Clauses, String> {
    let mut rendered = Vec::new();
    let mut secret = false;
    let mut unknown = false;
    for clause in clauses {
        if let Some(when) = &clause.when {
            match planner.condition(when, scope)? {
                Rendered::Known(value) if !condition_holds(&when.value, &value) => {
                    details.push(format!(
                        "clause `{}` left out: its `when` is false",
                        clause_name(clause)
                    ));
                    continue;
                }
                Rendered::Known(_) => {}
                Rendered::Unknown(expression) => details.push(format!(
                    "clause `{}` is kept only if {expression}",
                    clause_name(clause)
                )),
            }
        }
        let value = match &clause.value {
            ClauseOperand::One(template) => {
                let (value, taint) = planner.render_known_shown(template, scope)?;
                secret |= !taint.is_clean();
                unknown |= scope.unknowns.is_unknown(&value);
                ClauseValue::One(value_text(&value))
            }
            ClauseOperand::AnyOf(template) => {
                let (value, taint) = planner.render_known_shown(template, scope)?;
                secret |= !taint.is_clean();
                unknown |= scope.unknowns.is_unknown(&value);
                // The whole list only a run can tell: one placeholder. A written list keeps
                // its items, placeholders among them.
                if value.is_string() && scope.unknowns.is_unknown(&value) {
                    let placeholder = value_text(&value);
                    details.push(format!(
                        "clause `{}` takes any of {placeholder}, known at run time (at most {MAX_CLAUSE_VALUES} values)",
                        clause_name(clause)
                    ));
                    ClauseValue::AnyOf(vec![placeholder])
                } else {
                    let values = any_of(&clause_name(clause), &value)?;
                    if values.is_empty() {
                        details.push(empty_values(clause));
                    }
                    ClauseValue::AnyOf(values)
                }
            }
        };
        rendered.push(TargetClause {
            sensor: clause.sensor.clone(),
            op: clause.op,
            value,
        });
    }
    Ok(Clauses {
        clauses: rendered,
        secret,
        unknown,
    })
}

/// What an empty `values` list means, for a warning or a plan's detail line.
fn empty_values(clause: &Clause) -> String {
    let meaning = if clause.op == runbook_playbook::Operator::NotEquals {
        "it matches every machine (none of no values)"
    } else {
        "it matches no machine"
    };
    format!(
        "clause `{}` has an empty `values` list: {meaning}",
        clause_name(clause)
    )
}

/// The texts of a rendered `values`: a list of single values (texts, numbers, booleans), each
/// once, at most [`MAX_CLAUSE_VALUES`]. The messages never quote a value (it may be secret).
pub(crate) fn any_of(clause: &str, value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "`values` of the clause `{clause}` gave {}, not a list",
            kind_of(value)
        ));
    };
    let mut texts: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                let text = value_text(item);
                if !texts.contains(&text) {
                    texts.push(text);
                }
            }
            other => {
                return Err(format!(
                    "`values` of the clause `{clause}`: item {} is {}, not a single value{}",
                    index + 1,
                    kind_of(other),
                    if other.is_null() {
                        " (drop empty ones with `| reject('none') | list`)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    if texts.len() > MAX_CLAUSE_VALUES {
        return Err(format!(
            "`values` of the clause `{clause}` holds {} different values; a clause takes at most {MAX_CLAUSE_VALUES}: nothing was sent (target a filter group instead, or split the list)",
            texts.len()
        ));
    }
    Ok(texts)
}

/// A JSON value's kind, in words.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "none",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_become_texts_each_once() {
        let values = any_of("Computer Name equals", &json!(["a", 2, true, "a", "b"])).unwrap();
        assert_eq!(values, ["a", "2", "true", "b"]);
        assert!(
            any_of("Computer Name equals", &json!([]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn values_that_are_not_a_list_of_single_values_are_refused_without_quoting_them() {
        let error = any_of("Computer Name equals", &json!("web-01")).unwrap_err();
        assert_eq!(
            error,
            "`values` of the clause `Computer Name equals` gave a text, not a list"
        );
        let error = any_of("IP Address equals", &json!(["10.0.0.1", null])).unwrap_err();
        assert!(error.contains("item 2 is none"), "{error}");
        assert!(error.contains("reject('none')"), "{error}");
        let error = any_of("IP Address equals", &json!([["10.0.0.1", "10.0.0.2"]])).unwrap_err();
        assert!(error.contains("item 1 is a list"), "{error}");
        assert!(!error.contains("10.0.0"), "{error}");
    }

    #[test]
    fn more_than_the_limit_is_refused_and_duplicates_count_once() {
        let at_limit: Vec<String> = (0..MAX_CLAUSE_VALUES).map(|i| format!("h{i}")).collect();
        let mut with_duplicates = at_limit.clone();
        with_duplicates.extend(at_limit.iter().take(10).cloned());
        assert_eq!(
            any_of("Computer Name equals", &json!(with_duplicates))
                .unwrap()
                .len(),
            MAX_CLAUSE_VALUES
        );
        let mut over = at_limit;
        over.push("one-more".to_owned());
        let error = any_of("Computer Name equals", &json!(over)).unwrap_err();
        assert!(error.contains("holds 501 different values"), "{error}");
        assert!(error.contains("at most 500: nothing was sent"), "{error}");
    }
}

//! The values steps read and write: whole numbers and texts from rendered values, the
//! references a step passes to the next (a target's `group`, a parameterize step's
//! `package_spec`) read for a run and for a plan, and numbers and durations as messages show them.

use std::time::Duration;

use serde_json::Value;

use crate::platform::PlanValue;
use crate::run::StepError;
use crate::template::is_truthy;

/// `{id, filter_flag}` from a `target` step's `group`, or a bare group id.
pub(crate) fn group_reference(value: &Value) -> Result<(u64, bool), StepError> {
    if let Some(id) = as_u64(value) {
        return Ok((id, false));
    }
    if let Value::Object(map) = value
        && let Some(id) = map.get("id").and_then(as_u64)
    {
        let filter_flag = map.get("filter_flag").is_some_and(is_truthy);
        return Ok((id, filter_flag));
    }
    Err(StepError::new(
        "`target` must be a target step's group (`{{ steps.<id>.group }}`) or a group id",
    ))
}

/// `{source_id, parameters}` from a `parameterize` step's `package_spec`.
pub(crate) fn package_reference(value: &Value) -> Result<(u64, Vec<(String, String)>), StepError> {
    let invalid = || {
        StepError::new(
            "`package` must be a parameterize step's package_spec (`{{ steps.<id>.package_spec }}`)",
        )
    };
    let map = value.as_object().ok_or_else(invalid)?;
    let id = map.get("source_id").and_then(as_u64).ok_or_else(invalid)?;
    let mut parameters = Vec::new();
    if let Some(list) = map.get("parameters") {
        let list = list.as_array().ok_or_else(invalid)?;
        for item in list {
            let key = item
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(invalid)?;
            let value = item.get("value").map(parameter_text).ok_or_else(invalid)?;
            parameters.push((key.to_owned(), value));
        }
    }
    Ok((id, parameters))
}

/// A whole number from a JSON number or a numeric string.
pub(crate) fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// The text of a rendered value: strings as they are, other values as JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What kind of JSON value this is, in words for messages (`a text`, `a number`, ...).
pub(crate) fn type_word(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Package parameters are always sent as strings; a check box takes `1` or `0`.
pub(crate) fn parameter_text(value: &Value) -> String {
    match value {
        Value::Bool(true) => "1".to_owned(),
        Value::Bool(false) => "0".to_owned(),
        other => value_text(other),
    }
}

/// `part` as a percentage of `total`, capped at 100 (servers report `mr_tested` above
/// `estimated_total`).
pub fn share(part: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (100.0 * part as f64 / total as f64).min(100.0)
}

/// Whether a `poll` has what it waits for: `until_percent` of the endpoints reported
/// (`mr_tested` of `estimated_total`) and `until_percent` of the `expected` endpoints finished,
/// judged on the exact shares. With no endpoint expected there is nothing to wait for. The
/// poll step and the progress bar both use this rule.
pub fn poll_reached(
    mr_tested: u64,
    estimated_total: u64,
    finished: u64,
    expected: u64,
    until_percent: u8,
) -> bool {
    let until = f64::from(until_percent);
    expected == 0
        || (share(mr_tested, estimated_total) >= until && share(finished, expected) >= until)
}

/// Whether a `question` has its answers: `until_percent` of the endpoints it reached answered
/// (`mr_tested` of `estimated_total`), judged exactly. While no endpoint is expected to answer
/// (`estimated_total` 0, as right after the question is asked) it waits. The question step and
/// its progress bar both use this rule.
pub fn question_reached(mr_tested: u64, estimated_total: u64, until_percent: u8) -> bool {
    estimated_total > 0
        && u128::from(mr_tested) * 100
            >= u128::from(until_percent.min(100)) * u128::from(estimated_total)
}

/// How many of the `expected` endpoints must finish for a `poll` to reach `until_percent`:
/// the smallest whole number that is at least that share.
pub fn endpoints_needed(expected: u64, until_percent: u8) -> u64 {
    let product = u128::from(expected) * u128::from(until_percent.min(100));
    u64::try_from(product.div_ceil(100)).unwrap_or(expected)
}

/// A percentage rounded to a tenth, as shown.
pub(crate) fn round_tenth(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

/// `90s` → `1m30s`, for messages.
pub fn humanize(duration: Duration) -> String {
    let total = duration.as_secs();
    if total == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (days, rest) = (total / 86_400, total % 86_400);
    let (hours, rest) = (rest / 3_600, rest % 3_600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    let mut text = String::new();
    for (amount, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
        if amount > 0 {
            text.push_str(&format!("{amount}{unit}"));
        }
    }
    text
}

/// `<steps.scope.group_id>`: a value only the server can tell, in a plan.
pub(crate) fn is_placeholder(text: &str) -> bool {
    text.len() > 2
        && text.starts_with('<')
        && text.ends_with('>')
        && !text[1..text.len() - 1].contains(['<', '>'])
}

/// An id in a plan: known, or the placeholder that stands for it.
pub(crate) fn plan_id(value: &Value) -> PlanValue<u64> {
    match as_u64(value) {
        Some(id) => PlanValue::Known(id),
        None => {
            let text = value_text(value);
            if is_placeholder(&text) {
                PlanValue::Placeholder(text[1..text.len() - 1].to_owned())
            } else {
                PlanValue::Placeholder(text)
            }
        }
    }
}

/// [`group_reference`] in a plan: the group id may be a placeholder.
pub(crate) fn plan_group(value: &Value) -> (PlanValue<u64>, bool) {
    match value {
        Value::Object(map) => (
            map.get("id")
                .map(plan_id)
                .unwrap_or(PlanValue::Placeholder("target".to_owned())),
            map.get("filter_flag").is_some_and(is_truthy),
        ),
        other => (plan_id(other), false),
    }
}

/// [`package_reference`] in a plan: the package id may be a placeholder.
pub(crate) fn plan_package_spec(value: &Value) -> (PlanValue<u64>, Vec<(String, String)>) {
    let id = value
        .get("source_id")
        .map(plan_id)
        .unwrap_or_else(|| plan_id(value));
    let parameters = value
        .get("parameters")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some((
                        item.get("key")?.as_str()?.to_owned(),
                        value_text(item.get("value")?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    (id, parameters)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_question_is_answered_once_its_share_answered_and_never_while_nobody_is_expected() {
        assert!(question_reached(19, 20, 95));
        assert!(!question_reached(18, 20, 95));
        assert!(
            question_reached(57, 56, 100),
            "mr_tested may exceed estimated_total"
        );
        assert!(!question_reached(0, 0, 1));
        assert!(!question_reached(3, 0, 50));
        assert!(question_reached(1, 3, 33));
        assert!(!question_reached(1, 3, 34));
    }

    #[test]
    fn poll_targets_are_whole_endpoints() {
        assert_eq!(endpoints_needed(10, 90), 9);
        assert_eq!(endpoints_needed(11, 90), 10);
        assert_eq!(endpoints_needed(1, 100), 1);
        assert_eq!(endpoints_needed(1, 1), 1);
        assert_eq!(endpoints_needed(0, 90), 0);
        assert_eq!(endpoints_needed(u64::MAX, 100), u64::MAX);
        // Everyone reporting, nobody finished: not reached.
        assert!(!poll_reached(1, 1, 0, 1, 100));
        assert!(poll_reached(1, 1, 1, 1, 100));
        // Finished enough, but too few reported.
        assert!(!poll_reached(8, 10, 9, 10, 90));
        assert!(poll_reached(12, 10, 9, 10, 90));
        assert!(poll_reached(0, 0, 0, 0, 90));
        // The needed count is exactly where the finished share reaches the target.
        for expected in 1..200u64 {
            for until in [1u8, 50, 90, 99, 100] {
                let needed = endpoints_needed(expected, until);
                assert!(
                    share(needed, expected) >= f64::from(until),
                    "{needed}/{expected}"
                );
                assert!(
                    share(needed - 1, expected) < f64::from(until),
                    "{needed}/{expected}"
                );
            }
        }
    }

    #[test]
    fn shares_are_capped_and_rounded() {
        assert_eq!(share(103, 100), 100.0);
        assert_eq!(round_tenth(share(1, 3)), 33.3);
        // 89.96% does not reach 90%, though it shows as 90.0.
        assert!(share(8996, 10000) < 90.0);
        assert_eq!(share(5, 0), 0.0);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(humanize(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn group_references() {
        assert_eq!(
            group_reference(&json!({"id": 5, "filter_flag": true})).unwrap(),
            (5, true)
        );
        assert_eq!(group_reference(&json!("12")).unwrap(), (12, false));
        assert!(group_reference(&json!("All")).is_err());
    }

    #[test]
    fn package_references() {
        let (id, parameters) =
            package_reference(&json!({"source_id": 9, "parameters": [{"key": "$1", "value": 50}]}))
                .unwrap();
        assert_eq!(id, 9);
        assert_eq!(parameters, vec![("$1".to_owned(), "50".to_owned())]);
        assert!(package_reference(&json!({"parameters": []})).is_err());
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(is_placeholder("<steps.scope.group_id>"));
        assert!(!is_placeholder("<a> and <b>"));
        assert_eq!(
            plan_id(&json!("<steps.tag.action_id>")),
            PlanValue::Placeholder("steps.tag.action_id".into())
        );
        assert_eq!(plan_id(&json!(12)), PlanValue::Known(12));
    }
}

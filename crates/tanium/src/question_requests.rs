//! Question requests: sensors and saved questions looked up, a question asked, its answers read.
//!
//! A question is asked in the hand-built form of `POST /api/v2/questions`
//! (docs/tanium-api.md, "Asking a question"): `selects` naming each sensor by name and hash
//! (a parameterised sensor by `source_hash`, with its parameters under `||key||`), and the
//! `from` clauses as a structured `group` of filter objects. No question text is parsed by the
//! server, so nothing depends on its grammar, on how a version matches words to sensors, or on
//! how it spreads bracketed parameter values across sensors; values travel as JSON strings,
//! which no quote or bracket can break out of. The clauses are checked and regex-escaped exactly
//! as `target` writes them ([`targeting::check_clause`], [`targeting::effective_value`]), and
//! every filter object carries the operator and value Tanium's own parser makes of that text,
//! so a `from` matches the machines the same clauses in `target` match.
//!
//! Like [`crate::requests`], these are pure builders: plan mode shows them as they are, with
//! the hashes it cannot know yet as placeholders.

use serde_json::{Value, json};

use crate::model::Sensor;
use crate::parameters::{self, ParameterDefinition};
use crate::request::{Method, Page, Ref, Request, encode_segment};
use crate::targeting::{
    self, CheckedClause, Clause, Combine, NEVER, Operator, TargetingError, Values,
};

/// How long a question asked by runbook lives on the server (Tanium's default, in seconds).
pub const QUESTION_EXPIRE_SECONDS: u64 = 600;

/// A sensor as a question names it: its name and its hash (a placeholder in plan mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorRef {
    /// The sensor's name.
    pub name: String,
    /// The sensor's hash, as `GET sensors/by-name/{name}` answers it.
    pub hash: Ref,
}

impl SensorRef {
    /// A sensor whose hash plan mode cannot know: `<Name.hash>`.
    pub fn planned(name: &str) -> Self {
        SensorRef {
            name: name.to_owned(),
            hash: Ref::Placeholder(format!("{name}.hash")),
        }
    }
}

/// One sensor a question reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    /// The sensor.
    pub sensor: SensorRef,
    /// `None` for a sensor without parameters (named by `hash`); otherwise every parameter as
    /// `(key, value)`, keys without the `||` wrapping (the sensor is then named by
    /// `source_hash`, as Tanium's clients send a parameterised sensor).
    pub parameters: Option<Vec<(String, String)>>,
}

impl Select {
    /// The select object: `{"sensor": {"name", "hash"}}`, or for a parameterised sensor
    /// `{"sensor": {"name", "source_hash", "parameters": [{"key": "||k||", "value"}]}}`.
    pub fn to_json(&self) -> Value {
        let name = &self.sensor.name;
        let hash = self.sensor.hash.to_json();
        match &self.parameters {
            None => json!({ "sensor": { "name": name, "hash": hash } }),
            Some(parameters) => {
                let parameters: Vec<Value> = parameters
                    .iter()
                    .map(|(key, value)| json!({ "key": wrap_key(key), "value": value }))
                    .collect();
                json!({ "sensor": { "name": name, "source_hash": hash, "parameters": parameters } })
            }
        }
    }
}

/// A sensor a question should read, as the playbook names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorChoice {
    /// The sensor's name.
    pub name: String,
    /// Parameter values by key (with or without `||`) or by label.
    pub params: Vec<(String, String)>,
}

/// The `from` of a question: clauses in `target`'s grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionFilter {
    /// How the clauses combine.
    pub combine: Combine,
    /// The clauses (at least one).
    pub clauses: Vec<Clause>,
}

/// The select for a sensor read from the server, its parameters checked against the sensor's
/// definition: unknown keys refused, missing values filled from the defaults (as pytan fills
/// them) so that every parameter is sent and none is left for the server to guess, each value
/// checked against its type. A sensor that defines no parameters is named by `hash`. Returns
/// every problem at once.
pub fn resolve_select(choice: &SensorChoice, sensor: &Sensor) -> Result<Select, Vec<String>> {
    let name = if sensor.name.is_empty() {
        &choice.name
    } else {
        &sensor.name
    };
    let reference = SensorRef {
        name: name.clone(),
        hash: Ref::Id(sensor.hash),
    };
    let known = |key: &str| {
        sensor.parameters.iter().any(|definition| {
            definition.key == key
                || (!definition.label.is_empty() && definition.label.eq_ignore_ascii_case(key))
        })
    };
    let given: Vec<(String, String)> = choice
        .params
        .iter()
        .map(|(key, value)| (bare_key(key).to_owned(), value.clone()))
        .collect();
    let unknown: Vec<String> = given
        .iter()
        .filter(|(key, _)| !known(key))
        .map(|(key, _)| {
            format!(
                "sensor {name:?}: unknown parameter {key:?}; it takes {}",
                describe_parameters(&sensor.parameters)
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    if sensor.parameters.is_empty() {
        return Ok(Select {
            sensor: reference,
            parameters: None,
        });
    }
    match parameters::resolve(&sensor.parameters, &given) {
        Ok(values) => Ok(Select {
            sensor: reference,
            parameters: Some(values),
        }),
        Err(problems) => Err(problems
            .iter()
            .map(|problem| format!("sensor {name:?}: {}", problem.message))
            .collect()),
    }
}

fn describe_parameters(definitions: &[ParameterDefinition]) -> String {
    if definitions.is_empty() {
        return "no parameters".to_owned();
    }
    definitions
        .iter()
        .map(|definition| {
            if definition.label.is_empty() || definition.label == definition.key {
                definition.key.clone()
            } else {
                format!("{} ({:?})", definition.key, definition.label)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sensor parameter key as questions carry it: `||key||` (package keys, `$1`, are not
/// wrapped). A key given already wrapped is not wrapped twice.
pub fn wrap_key(key: &str) -> String {
    format!("||{}||", bare_key(key))
}

/// A sensor parameter key without its `||` wrapping.
pub fn bare_key(key: &str) -> &str {
    key.strip_prefix("||")
        .and_then(|inner| inner.strip_suffix("||"))
        .unwrap_or(key)
}

/// The question's filter as a structured group: each clause a filter object (or, with several
/// values, a sub-group of them), joined by `and_flag` as the clauses combine. `hash_of` gives
/// the hash of a clause's sensor.
///
/// The same checks and escaping as `target`'s text apply, and the same refusal of an empty
/// clause list (an empty group is every machine: leave the filter out for that).
pub fn filter_group(
    combine: Combine,
    clauses: &[Clause],
    hash_of: &dyn Fn(&str) -> Ref,
) -> Result<Value, TargetingError> {
    if clauses.is_empty() {
        return Err(TargetingError::NoClauses);
    }
    let mut filters = Vec::new();
    let mut sub_groups = Vec::new();
    for (position, clause) in clauses.iter().enumerate() {
        let checked = targeting::check_clause(position + 1, clause)?;
        let sensor = json!({ "name": clause.sensor, "hash": hash_of(&clause.sensor).to_json() });
        match clause_filter(&sensor, clause.op, &checked) {
            Member::Filter(filter) => filters.push(filter),
            Member::Group(group) => sub_groups.push(group),
        }
    }
    Ok(json!({
        "and_flag": combine == Combine::All,
        "not_flag": false,
        "filters": filters,
        "sub_groups": sub_groups,
    }))
}

/// What one clause becomes in a group: a filter, or a sub-group of one filter per value.
enum Member {
    Filter(Value),
    Group(Value),
}

fn clause_filter(sensor: &Value, op: Operator, checked: &CheckedClause<'_>) -> Member {
    match checked.values {
        Values::One(value) => Member::Filter(filter_object(sensor, op, value)),
        Values::Many(values) => {
            let filters: Vec<Value> = values
                .iter()
                .map(|value| filter_object(sensor, op, value))
                .collect();
            // Any of them; for not equals, none of them: each filter is negated, all must hold.
            Member::Group(json!({
                "and_flag": op == Operator::NotEquals,
                "not_flag": false,
                "filters": filters,
                "sub_groups": [],
            }))
        }
        Values::Empty => Member::Filter(json!({
            "sensor": sensor,
            "operator": "RegexMatch",
            "value": NEVER,
            "not_flag": op == Operator::NotEquals,
            "ignore_case_flag": true,
        })),
    }
}

/// One value's filter object, as Tanium's parser makes it from `<sensor> <op> "<value>"`
/// (docs/tanium-api.md, "Operators"): the regex built around an escaped value for contains,
/// starts with and ends with, `not_flag` for not equals, and `operator` always named (left
/// out, it would be `HashMatch`).
pub fn filter_object(sensor: &Value, op: Operator, value: &str) -> Value {
    let (operator, negated) = match op {
        Operator::Equals => ("Equal", false),
        Operator::NotEquals => ("Equal", true),
        Operator::Contains | Operator::StartsWith | Operator::EndsWith | Operator::Matches => {
            ("RegexMatch", false)
        }
        Operator::GreaterThan => ("Greater", false),
        Operator::LessThan => ("Less", false),
    };
    json!({
        "sensor": sensor,
        "operator": operator,
        "value": targeting::effective_value(op, value),
        "not_flag": negated,
        "ignore_case_flag": true,
    })
}

/// The question as Tanium's console would write it, for messages and outputs:
/// `Get Computer Name and File Exists[C:\x] from all machines with <filter text>`, the filter
/// written as `target` writes it. Nothing is sent in this form.
pub fn question_text(selects: &[Select], filter_text: Option<&str>) -> String {
    let sensors: Vec<String> = selects
        .iter()
        .map(|select| match &select.parameters {
            Some(parameters) if !parameters.is_empty() => {
                let values: Vec<&str> = parameters
                    .iter()
                    .map(|(_, value)| {
                        if value.is_empty() {
                            "\"\""
                        } else {
                            value.as_str()
                        }
                    })
                    .collect();
                format!("{}[{}]", select.sensor.name, values.join(","))
            }
            _ => select.sensor.name.clone(),
        })
        .collect();
    let mut text = format!("Get {} from all machines", sensors.join(" and "));
    if let Some(filter) = filter_text {
        text.push_str(" with ");
        text.push_str(filter);
    }
    text
}

/// `POST /api/v2/questions` in the hand-built form: the selects, the filter group if any, and
/// Tanium's default expiry. Asking again only makes a second question (it changes nothing on
/// the endpoints), so it is safe to repeat.
pub fn ask_question(selects: &[Select], group: Option<Value>) -> Request {
    let selects: Vec<Value> = selects.iter().map(Select::to_json).collect();
    let mut body = json!({ "selects": selects, "expire_seconds": QUESTION_EXPIRE_SECONDS });
    if let (Some(group), Some(object)) = (group, body.as_object_mut()) {
        object.insert("group".to_owned(), group);
    }
    Request {
        method: Method::Post,
        path: "/api/v2/questions".to_owned(),
        options: None,
        body: Some(body),
        safe_to_repeat: true,
    }
}

/// `GET /api/v2/sensors/by-name/{name}`: the sensor's hash and parameter definition.
pub fn sensor_by_name(name: &str) -> Request {
    get(format!("/api/v2/sensors/by-name/{}", encode_segment(name)))
}

/// `GET /api/v2/saved_questions/by-name/{name}`.
pub fn saved_question_by_name(name: &str) -> Request {
    get(format!(
        "/api/v2/saved_questions/by-name/{}",
        encode_segment(name)
    ))
}

/// `GET /api/v2/saved_questions/{id}`.
pub fn saved_question_by_id(id: Ref) -> Request {
    get(format!("/api/v2/saved_questions/{id}"))
}

/// `GET /api/v2/result_info/question/{id}`: how far the question has got.
pub fn question_result_info(id: Ref) -> Request {
    get(format!("/api/v2/result_info/question/{id}"))
}

/// `GET /api/v2/result_data/question/{id}`, one page when `page` is given (`tanium-options`:
/// `row_start`, `row_count`, and from the second page the first page's `cache_id`).
pub fn question_result_data(id: Ref, page: Option<&Page>) -> Request {
    let mut request = get(format!("/api/v2/result_data/question/{id}"));
    request.options = page.map(|page| {
        let mut options = json!({ "row_start": page.row_start, "row_count": page.row_count });
        if let (Some(cache_id), Some(object)) = (page.cache_id, options.as_object_mut()) {
            object.insert("cache_id".to_owned(), json!(cache_id));
        }
        options
    });
    request
}

fn get(path: String) -> Request {
    Request {
        method: Method::Get,
        path,
        options: None,
        body: None,
        safe_to_repeat: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targeting::ClauseValue;

    fn hash_of(name: &str) -> Ref {
        match name {
            "Computer Name" => Ref::Id(3409330187),
            other => Ref::Placeholder(format!("{other}.hash")),
        }
    }

    fn clause(sensor: &str, op: Operator, value: impl Into<ClauseValue>) -> Clause {
        Clause {
            sensor: sensor.to_owned(),
            op,
            value: value.into(),
        }
    }

    fn values(values: &[&str]) -> ClauseValue {
        ClauseValue::AnyOf(values.iter().map(|value| (*value).to_owned()).collect())
    }

    #[test]
    fn selects_name_plain_sensors_by_hash_and_parameterised_ones_by_source_hash() {
        let plain = Select {
            sensor: SensorRef {
                name: "Computer Name".to_owned(),
                hash: Ref::Id(3409330187),
            },
            parameters: None,
        };
        let folder = Select {
            sensor: SensorRef {
                name: "Folder Contents".to_owned(),
                hash: Ref::Id(2_000_000_001),
            },
            parameters: Some(vec![
                (
                    "folderPath".to_owned(),
                    "C:\\Program Files [x86]".to_owned(),
                ),
                ("||pattern||".to_owned(), "a,b|c".to_owned()),
            ]),
        };
        let request = ask_question(&[plain.clone(), folder.clone()], None);
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.path, "/api/v2/questions");
        assert!(request.safe_to_repeat);
        assert_eq!(
            request.body,
            Some(json!({
                "selects": [
                    {"sensor": {"name": "Computer Name", "hash": 3409330187u64}},
                    {"sensor": {
                        "name": "Folder Contents",
                        "source_hash": 2000000001u64,
                        "parameters": [
                            {"key": "||folderPath||", "value": "C:\\Program Files [x86]"},
                            {"key": "||pattern||", "value": "a,b|c"},
                        ],
                    }},
                ],
                "expire_seconds": 600,
            }))
        );
        assert_eq!(
            question_text(&[plain, folder], None),
            "Get Computer Name and Folder Contents[C:\\Program Files [x86],a,b|c] from all machines"
        );
        assert_eq!(wrap_key("||x||"), "||x||");
        assert_eq!(bare_key("||x||"), "x");
        assert_eq!(bare_key("||"), "||");
    }

    #[test]
    fn the_filter_is_a_group_of_filter_objects_escaped_as_target_text_is() {
        let group = filter_group(
            Combine::All,
            &[
                clause("Computer Name", Operator::StartsWith, "db.(1)"),
                clause("Custom Tags", Operator::Contains, "say \"hi\" or x"),
                clause("OS", Operator::NotEquals, "Windows"),
                clause("OS", Operator::Matches, "^Win.*10$"),
                clause("Uptime", Operator::GreaterThan, "5"),
            ],
            &hash_of,
        );
        let sensor = |name: &str| json!({"name": name, "hash": hash_of(name).to_json()});
        assert_eq!(
            group,
            Ok(json!({
                "and_flag": true,
                "not_flag": false,
                "filters": [
                    {"sensor": sensor("Computer Name"), "operator": "RegexMatch", "value": "db\\.\\(1\\).*", "not_flag": false, "ignore_case_flag": true},
                    {"sensor": sensor("Custom Tags"), "operator": "RegexMatch", "value": ".*say \"hi\" or x.*", "not_flag": false, "ignore_case_flag": true},
                    {"sensor": sensor("OS"), "operator": "Equal", "value": "Windows", "not_flag": true, "ignore_case_flag": true},
                    {"sensor": sensor("OS"), "operator": "RegexMatch", "value": "^Win.*10$", "not_flag": false, "ignore_case_flag": true},
                    {"sensor": sensor("Uptime"), "operator": "Greater", "value": "5", "not_flag": false, "ignore_case_flag": true},
                ],
                "sub_groups": [],
            }))
        );
    }

    #[test]
    fn several_values_are_a_sub_group_and_an_empty_list_the_regex_that_matches_nothing() {
        let group = filter_group(
            Combine::Any,
            &[
                clause("Computer Name", Operator::Equals, values(&["a.b", "c"])),
                clause("Computer Name", Operator::NotEquals, values(&["x", "y"])),
                clause("Computer Name", Operator::EndsWith, values(&["$1"])),
                clause("Computer Name", Operator::Equals, values(&[])),
                clause("Computer Name", Operator::NotEquals, values(&[])),
            ],
            &hash_of,
        )
        .unwrap();
        assert_eq!(group["and_flag"], json!(false));
        let sensor = json!({"name": "Computer Name", "hash": 3409330187u64});
        let filter = |operator: &str, value: &str, not_flag: bool| json!({"sensor": sensor, "operator": operator, "value": value, "not_flag": not_flag, "ignore_case_flag": true});
        assert_eq!(
            group["filters"],
            json!([
                filter("RegexMatch", ".*\\$1", false),
                filter("RegexMatch", NEVER, false),
                filter("RegexMatch", NEVER, true),
            ])
        );
        assert_eq!(
            group["sub_groups"],
            json!([
                {"and_flag": false, "not_flag": false, "sub_groups": [],
                 "filters": [filter("Equal", "a.b", false), filter("Equal", "c", false)]},
                {"and_flag": true, "not_flag": false, "sub_groups": [],
                 "filters": [filter("Equal", "x", true), filter("Equal", "y", true)]},
            ])
        );
    }

    #[test]
    fn a_filter_is_checked_as_target_text_is() {
        assert_eq!(
            filter_group(Combine::All, &[], &hash_of),
            Err(TargetingError::NoClauses)
        );
        let control = clause("Computer Name", Operator::Equals, values(&["ok", "a\nb"]));
        assert!(matches!(
            filter_group(Combine::All, &[control], &hash_of),
            Err(TargetingError::BadValue { index: 1, .. })
        ));
        let many: Vec<String> = (0..=targeting::MAX_VALUES).map(|n| n.to_string()).collect();
        let too_many = clause("Computer Name", Operator::Equals, many);
        assert!(matches!(
            filter_group(Combine::All, &[too_many], &hash_of),
            Err(TargetingError::TooManyValues { .. })
        ));
        let bad_sensor = clause("Name\" or 1", Operator::Equals, "x");
        assert!(matches!(
            filter_group(Combine::All, &[bad_sensor], &hash_of),
            Err(TargetingError::BadSensor { .. })
        ));
    }

    #[test]
    fn the_group_goes_with_the_question_and_routes_are_encoded() {
        let select = Select {
            sensor: SensorRef::planned("IP Address"),
            parameters: None,
        };
        let group = json!({"and_flag": true, "filters": [], "sub_groups": []});
        let request = ask_question(std::slice::from_ref(&select), Some(group.clone()));
        let body = request.body.unwrap();
        assert_eq!(body["group"], group);
        assert_eq!(
            body["selects"][0]["sensor"]["hash"],
            json!("<IP Address.hash>")
        );
        assert_eq!(
            sensor_by_name("File Exists [C:/x]").path,
            "/api/v2/sensors/by-name/File%20Exists%20%5BC%3A%2Fx%5D"
        );
        assert_eq!(
            saved_question_by_name("Hosts / Drivers").path,
            "/api/v2/saved_questions/by-name/Hosts%20%2F%20Drivers"
        );
        assert_eq!(
            saved_question_by_id(Ref::Id(7)).path,
            "/api/v2/saved_questions/7"
        );
        let page = Page {
            row_start: 5000,
            row_count: 5000,
            cache_id: Some(3891494157),
        };
        let request = question_result_data(Ref::Id(9), Some(&page));
        assert_eq!(request.path, "/api/v2/result_data/question/9");
        assert_eq!(
            request.options,
            Some(json!({"row_start": 5000, "row_count": 5000, "cache_id": 3891494157u64}))
        );
        assert_eq!(
            question_result_info(Ref::Placeholder("question.id".to_owned())).path,
            "/api/v2/result_info/question/<question.id>"
        );
    }
}

//! `question:` steps: exactly one of `get` (sensors by name, each with optional `params`, and an
//! optional `from` filter in the target clause grammar) or `saved` (a saved question by name or
//! id); `until_percent`, `timeout`, a polling `interval` longer than zero and not longer than
//! `max_interval`, and `max_rows`.

use indexmap::IndexMap;

use crate::codes;
use crate::model::{Combine, QuestionAsk, QuestionFrom, QuestionStep, SensorGet, defaults};
use crate::templates::{Scope, Site, looks_like_template};
use crate::yaml::{Entry, Node, NodeKind};

use super::target::SENSOR_NAME_HELP;
use crate::check::{Checker, Fields, Owner};

const QUESTION_KEYS: [&str; 8] = [
    "get",
    "from",
    "saved",
    "until_percent",
    "timeout",
    "interval",
    "max_interval",
    "max_rows",
];

const QUESTION_ALIASES: [(&str, &str); 6] = [
    ("select", "`get`"),
    ("sensors", "`get`"),
    ("where", "`from` (with `all:` or `any:` clauses)"),
    ("filter", "`from` (with `all:` or `any:` clauses)"),
    ("saved_question", "`saved`"),
    ("percent", "`until_percent`"),
];

impl Checker<'_> {
    pub(super) fn question(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<QuestionStep> {
        let fields = self.fields(&entry.value, owner, &QUESTION_KEYS, &QUESTION_ALIASES)?;
        let ask = self.question_ask(&fields, owner, scope, site);
        let until_percent = match fields.get("until_percent") {
            Some(entry) => self
                .integer(entry, 1, 100)
                .and_then(|percent| u8::try_from(percent).ok()),
            None => Some(defaults::QUESTION_UNTIL_PERCENT),
        };
        let timeout = self.duration_or(&fields, "timeout", defaults::QUESTION_TIMEOUT);
        let intervals = self.intervals(
            &fields,
            defaults::QUESTION_INTERVAL,
            defaults::QUESTION_MAX_INTERVAL,
        );
        let max_rows = match fields.get("max_rows") {
            Some(entry) => self
                .integer(entry, 1, 1_000_000)
                .and_then(|rows| usize::try_from(rows).ok()),
            None => Some(defaults::QUESTION_MAX_ROWS),
        };
        Some(QuestionStep {
            ask: ask?,
            until_percent: until_percent?,
            timeout: timeout?,
            interval: intervals?.0,
            max_interval: intervals?.1,
            max_rows: max_rows?,
        })
    }

    /// Exactly one of `get` (with an optional `from`) and `saved`.
    fn question_ask(
        &mut self,
        fields: &Fields<'_>,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<QuestionAsk> {
        match (fields.get("get"), fields.get("saved")) {
            (Some(_), Some(saved)) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    saved.key_span,
                    saved.key_length,
                    "`question` already has `get`; ask sensors with `get` or a saved question with `saved`, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    owner.span,
                    owner.length,
                    "`question` needs `get` (sensors) or `saved` (a saved question)",
                )
                .help = Some(
                    "e.g. `question: { get: [Computer Name, IP Address] }` or `question: { saved: Hosts With Unsigned Drivers }`"
                        .into(),
                );
                None
            }
            (None, Some(saved)) => {
                if let Some(from) = fields.get("from") {
                    self.error(
                        codes::CONFLICTING_KEYS,
                        from.key_span,
                        from.key_length,
                        "`from` goes with `get`; a saved question keeps its own filter",
                    );
                    return None;
                }
                self.scalar_template(saved, scope, site)
                    .map(QuestionAsk::Saved)
            }
            (Some(get), None) => {
                let sensors = self.sensor_gets(get, scope, site);
                let from = match fields.get("from") {
                    Some(from) => self.question_from(from, scope, site).map(Some),
                    None => Some(None),
                };
                Some(QuestionAsk::Sensors {
                    get: sensors?,
                    from: from?,
                })
            }
        }
    }

    /// `get`: a non-empty list of sensor names or `{ sensor, params }` mappings.
    fn sensor_gets(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<Vec<SensorGet>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                "get",
                "a list of sensors, e.g. `[Computer Name, IP Address]`",
                &entry.value,
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.key_span,
                entry.key_length,
                "`get` has no sensors",
            )
            .help = Some("name at least one sensor, e.g. `get: [Computer Name]`".into());
            return None;
        }
        let mut sensors = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.sensor_get(item, scope, site) {
                Some(sensor) => sensors.push(sensor),
                None => ok = false,
            }
        }
        ok.then_some(sensors)
    }

    fn sensor_get(&mut self, item: &Node, scope: &Scope, site: Site<'_>) -> Option<SensorGet> {
        match &item.kind {
            NodeKind::Str(name) => {
                let sensor = self.sensor_name(name, item)?;
                Some(SensorGet {
                    sensor,
                    params: IndexMap::new(),
                    span: item.span,
                })
            }
            NodeKind::Map(_) => {
                let fields = self.fields(
                    item,
                    Owner::node("a sensor of `get`", item),
                    &["sensor", "params"],
                    &[("name", "`sensor`"), ("parameters", "`params`")],
                )?;
                let sensor = self
                    .required(
                        &fields,
                        "sensor",
                        Some(
                            "e.g. `{ sensor: File Exists, params: { path: 'C:\\evil.exe' } }`"
                                .into(),
                        ),
                    )
                    .and_then(|entry| self.sensor(entry));
                let params = match fields.get("params") {
                    Some(params) => self.sensor_params(params, scope, site),
                    None => Some(IndexMap::new()),
                };
                Some(SensorGet {
                    sensor: sensor?,
                    params: params?,
                    span: item.span,
                })
            }
            _ => {
                self.wrong_type(
                    "get",
                    "a list of sensor names or `{ sensor, params }` mappings",
                    item,
                );
                None
            }
        }
    }

    /// A sensor name written as a list item: part of the question's structure, never a
    /// template.
    fn sensor_name(&mut self, name: &str, item: &Node) -> Option<String> {
        if looks_like_template(name) {
            self.error(
                codes::TEMPLATE_IN_RAW_TEXT,
                item.span,
                item.length,
                "a sensor name may not hold templates",
            )
            .help = Some(SENSOR_NAME_HELP.into());
            return None;
        }
        if name.trim().is_empty() {
            self.error(
                codes::WRONG_TYPE,
                item.span,
                item.length,
                "a sensor name is empty",
            );
            return None;
        }
        Some(name.to_owned())
    }

    /// `params`: sensor parameter keys (`path` or `||path||`, kept without the bars) to
    /// scalars that may hold templates; empty when null.
    fn sensor_params(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IndexMap<String, crate::model::TemplateValue>> {
        let entries = match &entry.value.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => return Some(IndexMap::new()),
            _ => {
                self.wrong_type(
                    "params",
                    "a mapping of sensor parameters like `path: 'C:\\evil.exe'`",
                    &entry.value,
                );
                return None;
            }
        };
        let mut params = IndexMap::new();
        let mut ok = true;
        for param in entries {
            let key = self.sensor_parameter_key(param, &params);
            let value = self.scalar_template(param, scope, site);
            match (key, value) {
                (Some(key), Some(value)) => {
                    params.insert(key, value);
                }
                _ => ok = false,
            }
        }
        ok.then_some(params)
    }

    /// A parameter key as Tanium wraps it (`||key||`), without the bars: not empty, without
    /// `|`, `[` or `]` (which would change the question) and without templates, given once.
    fn sensor_parameter_key<V>(
        &mut self,
        param: &Entry,
        seen: &IndexMap<String, V>,
    ) -> Option<String> {
        let written = param.key.as_str();
        let key = written
            .strip_prefix("||")
            .and_then(|rest| rest.strip_suffix("||"))
            .unwrap_or(written);
        let problem = if looks_like_template(key) {
            Some(format!(
                "sensor parameter key `{written}` holds a template; keys are fixed by the sensor"
            ))
        } else if key.trim().is_empty() {
            Some("a sensor parameter key is empty".to_owned())
        } else if key.contains(['|', '[', ']']) {
            Some(format!(
                "sensor parameter key `{written}` holds `|`, `[` or `]`; write the key alone (`path`) or wrapped as Tanium shows it (`||path||`)"
            ))
        } else if seen.contains_key(key) {
            Some(format!(
                "sensor parameter `{key}` is given twice (`{key}` and `||{key}||` are the same key)"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.error(
                    codes::INVALID_SENSOR_PARAMETER,
                    param.key_span,
                    param.key_length,
                    message,
                );
                None
            }
            None => Some(key.to_owned()),
        }
    }

    /// `from`: `all:` or `any:` clauses, as in `target`.
    fn question_from(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<QuestionFrom> {
        let owner = Owner::key("`from`", entry);
        let fields = self.fields(
            &entry.value,
            owner,
            &["all", "any"],
            &[
                ("clauses", "`all:` or `any:`"),
                (
                    "filter_group",
                    "clauses under `all:` or `any:` (a question's `from` takes no filter group)",
                ),
                ("text", "clauses under `all:` or `any:`"),
            ],
        )?;
        match (fields.get("all"), fields.get("any")) {
            (Some(_), Some(any)) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    any.key_span,
                    any.key_length,
                    "`from` already has `all`; use one of `all` and `any`",
                );
                None
            }
            (None, None) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    owner.span,
                    owner.length,
                    "`from` needs `all` or `any`",
                )
                .help = Some(
                    "e.g. `from: { all: [ { sensor: Running Processes, op: contains, value: \"{{ inputs.process }}\" } ] }`"
                        .into(),
                );
                None
            }
            (Some(clauses), None) | (None, Some(clauses)) => {
                let combine = if clauses.key == "all" {
                    Combine::All
                } else {
                    Combine::Any
                };
                self.clauses(clauses, scope, site)
                    .map(|clauses| QuestionFrom { combine, clauses })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{ClauseOperand, Operator, QuestionAsk, StepKind, defaults};

    fn question(yaml: &str) -> crate::model::QuestionStep {
        let source = format!("version: 1\nname: q\nsteps:\n  - id: hits\n    question: {yaml}\n");
        let loaded = crate::load("q.yaml", &source);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        match loaded.playbook.expect("valid").steps.remove(0).kind {
            StepKind::Question(question) => question,
            other => panic!("not a question: {other:?}"),
        }
    }

    #[test]
    fn a_question_takes_the_documented_defaults() {
        let step = question("{ get: [Computer Name] }");
        assert_eq!(step.until_percent, defaults::QUESTION_UNTIL_PERCENT);
        assert_eq!(step.until_percent, 95);
        assert_eq!(step.timeout.as_secs(), 600);
        assert_eq!(step.interval.as_secs(), 5);
        assert_eq!(step.max_interval.as_secs(), 30);
        assert_eq!(step.max_rows, 1000);
        let QuestionAsk::Sensors { get, from } = step.ask else {
            panic!("sensors expected");
        };
        assert_eq!(get.len(), 1);
        assert_eq!(get[0].sensor, "Computer Name");
        assert!(get[0].params.is_empty());
        assert!(from.is_none());
    }

    #[test]
    fn parameter_keys_are_kept_without_their_bars_and_values_are_a_list() {
        let step = question(
            r#"{ get: [{ sensor: File Exists, params: { "||path||": 'C:\x.exe', depth: 2 } }], from: { any: [ { sensor: Computer Name, op: equals, values: [a, b] } ] } }"#,
        );
        let QuestionAsk::Sensors { get, from } = step.ask else {
            panic!("sensors expected");
        };
        let keys: Vec<&str> = get[0].params.keys().map(String::as_str).collect();
        assert_eq!(keys, ["path", "depth"]);
        assert_eq!(get[0].params["path"].value, "C:\\x.exe");
        let from = from.expect("a filter");
        assert_eq!(from.clauses[0].op, Operator::Equals);
        match &from.clauses[0].value {
            ClauseOperand::AnyOf(values) => assert_eq!(values.value, serde_json::json!(["a", "b"])),
            other => panic!("values expected, got {other:?}"),
        }
    }

    #[test]
    fn a_saved_question_is_a_name_or_an_id() {
        let step = question("{ saved: 42, until_percent: 100 }");
        assert_eq!(step.until_percent, 100);
        match step.ask {
            QuestionAsk::Saved(name) => assert_eq!(name.value, 42),
            other => panic!("saved expected, got {other:?}"),
        }
    }

    #[test]
    fn only_operators_that_compare_with_a_value_take_values() {
        let takes: Vec<&str> = Operator::ALL
            .into_iter()
            .filter(|op| op.takes_values())
            .map(Operator::as_str)
            .collect();
        assert_eq!(
            takes,
            [
                "equals",
                "not_equals",
                "contains",
                "starts_with",
                "ends_with"
            ]
        );
    }
}

//! What a request makes of a trigger's templates: whether it starts a run (`when`), with which
//! inputs (`inputs`) and under which dedup key (`dedup`).
//!
//! The templates are rendered by the engine's [`Templates`], the environment playbooks use
//! (strict undefined names, fuel), over two names: `body` (the request's JSON) and `headers`
//! (lowercase names). The request is data, never a template: a body value holding
//! `{{ 7*7 }}` stays that text wherever it goes.
//!
//! Evaluation runs after [`verify`](super::verify) has accepted the request and after the
//! handler has parsed the body as JSON (a body that is not JSON is the handler's 400). Whether
//! the inputs fit the playbook's declarations (types, required inputs) is checked by whoever
//! queues the run, with the inputs returned here.

use std::sync::LazyLock;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use indexmap::IndexMap;
use runbook_engine::template::{TemplateContext, Templates, condition_holds, is_template};
use runbook_playbook::Trigger;
use serde_json::{Map, Value};

/// The engine's template environment, built once: it holds no state between renders.
static TEMPLATES: LazyLock<Templates> = LazyLock::new(Templates::new);

/// The longest problem message kept, in characters: a template error never carries a whole
/// body into an answer or a log.
const MAX_MESSAGE_CHARS: usize = 240;

/// A request as a trigger's templates see it: the body already parsed as JSON, and the
/// headers as received.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request body, parsed as JSON. Any JSON value: a body that is not an object simply
    /// has no fields for `body.x` to find.
    pub body: &'a Value,
    /// The request headers. Their names are lowercase in templates (`headers['x-event']`); a
    /// header whose value is not UTF-8 is left out, and so are `authorization` and
    /// `proxy-authorization`, so that a template never copies a credential into a run.
    pub headers: &'a HeaderMap,
}

/// What a request makes of a trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `when` rendered false: nothing is started (the hook answers 202 `{"ignored": true}`).
    Ignored,
    /// Start the trigger's playbook.
    Start {
        /// Input name to value, in the order the trigger lists them. A template input that
        /// rendered to an empty string or `null` is left out, so that the playbook's default
        /// (or its "required input missing" check) applies; a constant is passed as written.
        inputs: IndexMap<String, Value>,
        /// The rendered `dedup` key, when the trigger has one (never empty or blank).
        dedup_key: Option<String>,
    },
}

/// One problem with a request: which template and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct TemplateProblem {
    /// The template: `when`, `inputs.<name>` or `dedup`.
    pub at: String,
    /// What went wrong, e.g. "`body.result.host` is undefined". Never the whole body; at
    /// most a few hundred characters.
    pub message: String,
}

/// The request does not fit the trigger's templates: nothing may be started (the hook answers
/// 422, naming each problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request does not fit the trigger: {}", list(.problems))]
pub struct Unfit {
    /// Every problem, in the order of the trigger's templates (never empty). When `when`
    /// fails, it is the only one: whether the inputs matter is not known then.
    pub problems: Vec<TemplateProblem>,
}

fn list(problems: &[TemplateProblem]) -> String {
    problems
        .iter()
        .map(TemplateProblem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders a trigger's `when`, `inputs` and `dedup` over a request.
///
/// - `when` (when there is one) holds as a playbook step's `when` does: a single
///   `{{ expression }}` by Jinja's truth of its value, mixed text by the rendered text
///   ("false", "no", "0", "none" and blank are false). False gives [`Outcome::Ignored`].
///   Names are strict here too: a `when` that reads a field the request lacks is an error
///   ([`Unfit`]), not false; a hook that receives several kinds of events guards the reads
///   (`{{ body.action is defined and body.action == 'opened' }}`, or `| default('')`).
/// - Each input is rendered (a constant stays as written). A template input that renders to
///   `""` or `null` is left out so that the playbook's default applies: write
///   `{{ body.x | default('') }}` for an optional field. A name that is not in the request
///   (`body.result.host` when there is no `result`) is an error, as in playbooks, so that a
///   misspelt path is reported rather than silently replaced by a default.
/// - `dedup` is rendered to text (a number or boolean as written, a list or map as compact
///   JSON); an empty or blank key is an error.
///
/// Every failing template is listed in [`Unfit`], except after a failing `when`, which is
/// reported alone.
///
/// ```
/// use axum::http::HeaderMap;
/// use runbook_api::hooks::{Outcome, Request, evaluate};
/// # fn trigger() -> runbook_playbook::Trigger {
/// #     let file = "version: 1\ntriggers:\n  - name: t\n    path: /hooks/t\n    playbook: p\n    \
/// #         auth: { bearer: { token_env: T } }\n    when: \"{{ body.severity == 'high' }}\"\n    \
/// #         inputs: { hostname: \"{{ body.host }}\" }\n";
/// #     runbook_playbook::load_triggers("t.yaml", file).file.unwrap().triggers.remove(0)
/// # }
/// let trigger = trigger(); // when: "{{ body.severity == 'high' }}", inputs: { hostname: "{{ body.host }}" }
/// let headers = HeaderMap::new();
/// let body = serde_json::json!({"severity": "high", "host": "WIN-DC01"});
/// let Ok(Outcome::Start { inputs, .. }) = evaluate(&trigger, &Request { body: &body, headers: &headers }) else {
///     panic!("expected a start");
/// };
/// assert_eq!(inputs["hostname"], "WIN-DC01");
/// let body = serde_json::json!({"severity": "low", "host": "WIN-DC01"});
/// assert_eq!(evaluate(&trigger, &Request { body: &body, headers: &headers }), Ok(Outcome::Ignored));
/// ```
pub fn evaluate(trigger: &Trigger, request: &Request<'_>) -> Result<Outcome, Unfit> {
    let context = TemplateContext::new(&context_of(request));
    let templates = &*TEMPLATES;

    if let Some(when) = &trigger.when {
        let template = Value::String(when.clone());
        match templates.render(&template, &context) {
            Ok(rendered) if condition_holds(&template, &rendered) => {}
            Ok(_) => return Ok(Outcome::Ignored),
            Err(error) => {
                return Err(Unfit {
                    problems: vec![problem("when", &error.message)],
                });
            }
        }
    }

    let mut problems = Vec::new();
    let mut inputs = IndexMap::with_capacity(trigger.inputs.len());
    for (name, value) in &trigger.inputs {
        let templated = value.as_str().is_some_and(is_template);
        match templates.render(value, &context) {
            Ok(rendered) if templated && is_not_given(&rendered) => {}
            Ok(rendered) => {
                inputs.insert(name.clone(), rendered);
            }
            Err(error) => problems.push(problem(&format!("inputs.{name}"), &error.message)),
        }
    }

    let mut dedup_key = None;
    if let Some(dedup) = &trigger.dedup {
        match templates.render(&Value::String(dedup.clone()), &context) {
            Ok(rendered) => match key_text(&rendered) {
                Some(key) => dedup_key = Some(key),
                None => problems.push(problem(
                    "dedup",
                    "the key rendered empty (a request without the field it reads?)",
                )),
            },
            Err(error) => problems.push(problem("dedup", &error.message)),
        }
    }

    if problems.is_empty() {
        Ok(Outcome::Start { inputs, dedup_key })
    } else {
        Err(Unfit { problems })
    }
}

/// `{"body": ..., "headers": {...}}`, the names a trigger's templates read.
fn context_of(request: &Request<'_>) -> Value {
    let mut headers = Map::new();
    for name in request.headers.keys() {
        if name == AUTHORIZATION || name == PROXY_AUTHORIZATION {
            continue;
        }
        let values: Option<Vec<&str>> = request
            .headers
            .get_all(name)
            .iter()
            .map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .collect();
        // A header sent more than once reads as one list, as HTTP combines them.
        if let Some(values) = values {
            headers.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        }
    }
    let mut names = Map::new();
    names.insert("body".to_owned(), request.body.clone());
    names.insert("headers".to_owned(), Value::Object(headers));
    Value::Object(names)
}

/// A rendered input that gives nothing: the playbook's default applies.
fn is_not_given(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// The dedup key as text, or `None` when it is empty.
fn key_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Array(items) if items.is_empty() => return None,
        Value::Object(map) if map.is_empty() => return None,
        collection => collection.to_string(),
    };
    (!text.trim().is_empty()).then_some(text)
}

fn problem(at: &str, message: &str) -> TemplateProblem {
    let message = match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    };
    TemplateProblem {
        at: at.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{HeaderName, HeaderValue};
    use proptest::prelude::*;
    use runbook_playbook::{TriggerAuth, TriggerMarks};
    use serde_json::json;

    use super::*;

    fn trigger(when: Option<&str>, inputs: Value, dedup: Option<&str>) -> Trigger {
        let Value::Object(inputs) = inputs else {
            panic!("inputs are a map");
        };
        Trigger {
            name: "splunk-suspect-host".into(),
            path: "/hooks/splunk".into(),
            playbook: "tag-suspect-host".into(),
            auth: TriggerAuth::Bearer {
                token_env: "HOOK_TOKEN".into(),
            },
            when: when.map(str::to_owned),
            inputs: inputs.into_iter().collect(),
            dedup: dedup.map(str::to_owned),
            dedup_window: Duration::from_secs(86_400),
            marks: TriggerMarks::default(),
        }
    }

    /// The trigger of docs/triggers.md.
    fn splunk() -> Trigger {
        trigger(
            Some("{{ body.severity in ['high', 'critical'] }}"),
            json!({"hostname": "{{ body.result.host }}", "tag": "Quarantine"}),
            Some("{{ body.sid }}"),
        )
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn run(trigger: &Trigger, body: &Value, headers: &HeaderMap) -> Result<Outcome, Unfit> {
        evaluate(trigger, &Request { body, headers })
    }

    fn start(inputs: Value, dedup_key: Option<&str>) -> Outcome {
        let Value::Object(inputs) = inputs else {
            panic!("inputs are a map");
        };
        Outcome::Start {
            inputs: inputs.into_iter().collect(),
            dedup_key: dedup_key.map(str::to_owned),
        }
    }

    #[test]
    fn a_matching_request_starts_with_rendered_inputs_and_a_dedup_key() {
        let body = json!({"severity": "high", "sid": "scheduler__admin_1700", "result": {"host": "WIN-DC01"}});
        assert_eq!(
            run(&splunk(), &body, &HeaderMap::new()),
            Ok(start(
                json!({"hostname": "WIN-DC01", "tag": "Quarantine"}),
                Some("scheduler__admin_1700")
            ))
        );
    }

    #[test]
    fn when_false_is_ignored() {
        let body = json!({"severity": "low", "sid": "1", "result": {}});
        assert_eq!(
            run(&splunk(), &body, &HeaderMap::new()),
            Ok(Outcome::Ignored)
        );
    }

    #[test]
    fn when_follows_the_truth_of_playbook_conditions() {
        let body = json!({"flag": "no", "zero": 0, "empty": [], "text": "yes"});
        for (when, holds) in [
            // A single expression keeps its type: any non-empty string is true.
            ("{{ body.flag }}", true),
            ("{{ body.zero }}", false),
            ("{{ body.empty }}", false),
            ("{{ body.text == 'yes' }}", true),
            // Mixed text comes back as text: "no" is false.
            ("x{{ '' }}", true),
            ("{{ body.flag }} ", true),
            ("{% if body.zero %}yes{% else %}no{% endif %}", false),
        ] {
            let outcome = run(
                &trigger(Some(when), json!({}), None),
                &body,
                &HeaderMap::new(),
            );
            let expected = if holds {
                start(json!({}), None)
            } else {
                Outcome::Ignored
            };
            assert_eq!(outcome, Ok(expected), "{when}");
        }
    }

    #[test]
    fn a_when_that_fails_is_the_only_problem_reported() {
        let body = json!({"sid": "1"});
        let unfit = run(&splunk(), &body, &HeaderMap::new()).unwrap_err();
        assert_eq!(unfit.problems.len(), 1, "{unfit}");
        assert_eq!(unfit.problems[0].at, "when");
    }

    #[test]
    fn a_when_reading_a_missing_field_is_unfit_unless_it_is_guarded() {
        let ping = headers(&[("x-github-event", b"ping")]);
        let body = json!({"zen": "Keep it logically awesome."});
        let strict = trigger(Some("{{ body.action == 'opened' }}"), json!({}), None);
        let unfit = run(&strict, &body, &ping).unwrap_err();
        assert_eq!(unfit.problems[0].at, "when", "{unfit}");
        for guarded in [
            "{{ body.action is defined and body.action == 'opened' }}",
            "{{ body.action | default('') == 'opened' }}",
            "{{ headers['x-github-event'] == 'pull_request' and body.action == 'opened' }}",
        ] {
            let guarded = trigger(Some(guarded), json!({}), None);
            assert_eq!(run(&guarded, &body, &ping), Ok(Outcome::Ignored));
        }
    }

    #[test]
    fn every_failing_input_and_the_dedup_are_listed() {
        let trigger = trigger(
            None,
            json!({"hostname": "{{ body.result.host }}", "count": "{{ body.n + 1 }}", "ok": "{{ body.sid }}"}),
            Some("{{ body.nope }}"),
        );
        let body = json!({"sid": "7", "n": "not a number"});
        let unfit = run(&trigger, &body, &HeaderMap::new()).unwrap_err();
        let at: Vec<&str> = unfit
            .problems
            .iter()
            .map(|problem| problem.at.as_str())
            .collect();
        assert_eq!(at, ["inputs.hostname", "inputs.count", "dedup"], "{unfit}");
        // A missing level is named: here `result`, not `result.host`.
        assert_eq!(
            unfit.problems[0].to_string(),
            "inputs.hostname: undefined value: `body.result` is undefined"
        );
        assert!(
            unfit
                .to_string()
                .starts_with("the request does not fit the trigger: inputs.hostname: "),
            "{unfit}"
        );
    }

    #[test]
    fn a_body_value_that_looks_like_a_template_stays_text() {
        let trigger = trigger(
            Some("{{ body.x }}"),
            json!({"hostname": "{{ body.x }}", "mixed": "host {{ body.x }}"}),
            Some("{{ body.x }}"),
        );
        let body = json!({"x": "{{ 7*7 }}"});
        assert_eq!(
            run(&trigger, &body, &HeaderMap::new()),
            Ok(start(
                json!({"hostname": "{{ 7*7 }}", "mixed": "host {{ 7*7 }}"}),
                Some("{{ 7*7 }}")
            ))
        );
    }

    #[test]
    fn constants_stay_as_written_and_empty_template_inputs_are_left_out() {
        let trigger = trigger(
            None,
            json!({
                "tag": "Quarantine",
                "count": 3,
                "force": false,
                "blank": "",
                "missing": "{{ body.optional | default('') }}",
                "null": "{{ body.null }}",
                "zero": "{{ body.zero }}",
                "list": "{{ body.list }}",
            }),
            None,
        );
        let body = json!({"null": null, "zero": 0, "list": ["a", "b"]});
        assert_eq!(
            run(&trigger, &body, &HeaderMap::new()),
            Ok(start(
                json!({"tag": "Quarantine", "count": 3, "force": false, "blank": "", "zero": 0, "list": ["a", "b"]}),
                None
            ))
        );
    }

    #[test]
    fn dedup_keys_are_text_and_never_empty() {
        for (value, key) in [
            (json!("abc"), Some("abc")),
            (json!(42), Some("42")),
            (json!(1.5), Some("1.5")),
            (json!(true), Some("true")),
            (json!(["a", 1]), Some(r#"["a",1]"#)),
            (json!({"a": 1}), Some(r#"{"a":1}"#)),
            (json!(""), None),
            (json!("   "), None),
            (json!(null), None),
            (json!([]), None),
            (json!({}), None),
        ] {
            let body = json!({ "sid": value });
            let outcome = run(
                &trigger(None, json!({}), Some("{{ body.sid }}")),
                &body,
                &HeaderMap::new(),
            );
            match key {
                Some(key) => assert_eq!(outcome, Ok(start(json!({}), Some(key))), "{value}"),
                None => {
                    let unfit = outcome.unwrap_err();
                    assert_eq!(unfit.problems.len(), 1);
                    assert_eq!(unfit.problems[0].at, "dedup", "{value}");
                    assert!(unfit.problems[0].message.contains("empty"), "{unfit}");
                }
            }
        }
        let body = json!({"sid": 7});
        assert_eq!(
            run(
                &trigger(None, json!({}), Some("alert-{{ body.sid }}")),
                &body,
                &HeaderMap::new()
            ),
            Ok(start(json!({}), Some("alert-7")))
        );
    }

    #[test]
    fn headers_are_read_by_lowercase_name() {
        let trigger = trigger(
            Some("{{ headers['x-github-event'] == 'push' }}"),
            json!({"event": "{{ headers['x-github-event'] }}", "many": "{{ headers['x-many'] }}"}),
            Some("{{ headers['x-github-delivery'] }}"),
        );
        let request = headers(&[
            ("X-GitHub-Event", b"push"),
            ("X-GitHub-Delivery", b"72d3162e"),
            ("x-many", b"a"),
            ("x-many", b"b"),
        ]);
        assert_eq!(
            run(&trigger, &json!({}), &request),
            Ok(start(
                json!({"event": "push", "many": "a, b"}),
                Some("72d3162e")
            ))
        );
        let request = headers(&[("x-github-event", b"ping"), ("x-github-delivery", b"1")]);
        assert_eq!(run(&trigger, &json!({}), &request), Ok(Outcome::Ignored));
    }

    #[test]
    fn non_utf8_headers_and_credentials_are_left_out() {
        let context = context_of(&Request {
            body: &json!(null),
            headers: &headers(&[
                ("x-latin1", b"caf\xe9"),
                ("x-utf8", "café".as_bytes()),
                ("x-mixed", b"ok"),
                ("x-mixed", b"\xff"),
                ("authorization", b"Bearer tok-123456"),
                ("proxy-authorization", b"Basic eDp5"),
            ]),
        });
        assert_eq!(
            context,
            json!({"body": null, "headers": {"x-utf8": "café"}})
        );
        let trigger = trigger(None, json!({"token": "{{ headers.authorization }}"}), None);
        let request = headers(&[("authorization", b"Bearer tok-123456")]);
        let unfit = run(&trigger, &json!({}), &request).unwrap_err();
        assert!(!unfit.to_string().contains("tok-123456"), "{unfit}");
    }

    #[test]
    fn a_body_that_is_not_an_object_finds_nothing() {
        for body in [json!(null), json!(3), json!("text"), json!([1, 2])] {
            let unfit = run(&splunk(), &body, &HeaderMap::new()).unwrap_err();
            assert_eq!(unfit.problems[0].at, "when", "{body}");
            let outcome = run(
                &trigger(None, json!({"tag": "x"}), None),
                &body,
                &HeaderMap::new(),
            );
            assert_eq!(outcome, Ok(start(json!({"tag": "x"}), None)), "{body}");
        }
        let outcome = run(
            &trigger(None, json!({"first": "{{ body[0] }}"}), None),
            &json!([5]),
            &HeaderMap::new(),
        );
        assert_eq!(outcome, Ok(start(json!({"first": 5}), None)));
    }

    #[test]
    fn a_body_as_deep_as_serde_json_parses_renders() {
        // serde_json refuses bodies nested deeper than 128 levels; the deepest it parses must
        // not exhaust a thread's stack here.
        let text = format!("{}1{}", "[".repeat(127), "]".repeat(127));
        let body: Value = serde_json::from_str(&text).unwrap();
        let trigger = trigger(
            Some("{{ body | length == 1 }}"),
            json!({"whole": "{{ body }}", "json": "{{ body | tojson }}"}),
            Some("{{ body }}"),
        );
        let Ok(Outcome::Start { inputs, dedup_key }) = run(&trigger, &body, &HeaderMap::new())
        else {
            panic!("a deep body starts");
        };
        assert_eq!(inputs["whole"], body);
        assert_eq!(dedup_key.as_deref(), Some(text.as_str()));
    }

    #[test]
    fn problems_never_echo_a_large_body() {
        let large = "A".repeat(10_000);
        let body = json!({"blob": large, "map": {"k": large}});
        let trigger = trigger(
            None,
            json!({
                "a": "{{ body.blob + 1 }}",
                "b": "{{ body.map.k.nope }}",
                "c": "{{ body.map | int }}",
                "d": "{{ body.blob | nosuchfilter }}",
                "e": "{{ raise(body.blob) }}",
            }),
            Some("{{ body.map[body.blob] }}"),
        );
        let unfit = run(&trigger, &body, &HeaderMap::new()).unwrap_err();
        assert!(!unfit.problems.is_empty());
        for problem in &unfit.problems {
            assert!(
                problem.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
                "{problem}"
            );
            assert!(!problem.message.contains(&"A".repeat(300)), "{problem}");
        }
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = problem("when", &message);
        assert_eq!(cut.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.message.ends_with('…'));
        assert_eq!(problem("when", "short").message, "short");
    }

    /// Arbitrary JSON: scalars of every kind, strings with template syntax, nested lists and
    /// maps whose keys are often the ones the templates read.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
            "\\{\\{ ?[a-z.()*0-9 ]{0,10} ?\\}\\}|\\{% .{0,10}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("severity".to_owned()),
                            Just("sid".to_owned()),
                            Just("result".to_owned()),
                            Just("host".to_owned()),
                            ".{0,8}"
                        ],
                        inner
                    ),
                    0..8
                )
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_json_bodies_never_make_evaluate_panic(body in json_value()) {
            let triggers = [
                splunk(),
                trigger(
                    Some("{{ body.result.host is defined and body.severity != 'low' }}"),
                    json!({
                        "whole": "{{ body }}",
                        "json": "{{ body | tojson }}",
                        "text": "seen {{ body.result }} at {{ body.severity | default('?') }}",
                        "length": "{{ body | length }}",
                        "first": "{{ (body | list)[0] }}",
                        "sum": "{{ body.sid + 1 }}",
                        "loop": "{% for k in body %}{{ k }}{% endfor %}",
                    }),
                    Some("{{ body.sid ~ body.result }}"),
                ),
                trigger(None, json!({"host": "{{ body.result.host | default('') }}"}), Some("{{ body }}")),
            ];
            let headers = headers(&[("x-event", b"alert")]);
            for trigger in &triggers {
                match evaluate(trigger, &Request { body: &body, headers: &headers }) {
                    Ok(Outcome::Start { dedup_key: Some(key), .. }) => prop_assert!(!key.trim().is_empty()),
                    Ok(_) => {}
                    Err(unfit) => {
                        prop_assert!(!unfit.problems.is_empty());
                        for problem in unfit.problems {
                            prop_assert!(problem.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
                        }
                    }
                }
            }
        }

        #[test]
        fn template_syntax_in_a_body_is_never_evaluated(text in "\\{\\{ ?[0-9]{1,3} ?\\* ?[0-9]{1,3} ?\\}\\}") {
            let trigger = trigger(None, json!({"host": "{{ body.host }}"}), None);
            let body = json!({"host": text});
            prop_assert_eq!(
                evaluate(&trigger, &Request { body: &body, headers: &HeaderMap::new() }),
                Ok(start(json!({"host": text}), None))
            );
        }
    }
}

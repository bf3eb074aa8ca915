//! Whatever a template computes from a secret is secret: the engine tracks which values a
//! render read (not which names its text mentions), and hides them, whatever their type, in
//! events, run outputs and plans, while the platform still gets the real values.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use runbook_engine::{
    ActionGroupOutcome, ActionInfo, ActionProgress, ActionSpec, Approval, CollectEvents, Engine,
    Event, Lookup, PackageOutcome, PackageSelector, PlanValue, PlannedActionSpec, PlannedRequest,
    Planner, Platform, PlatformError, PlatformErrorKind, QuestionAnswer, QuestionAsked,
    QuestionProgress, QuestionRequest, RunRequest, RunStatus, TargetClause, TargetOutcome,
    TargetRequest, TargetSurvey,
};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Answers targets and packages by echoing what it was sent; nothing else is needed here.
#[derive(Default)]
struct Echo {
    targets: Mutex<Vec<TargetRequest>>,
    packages: Mutex<Vec<Vec<(String, String)>>>,
    questions: Mutex<Vec<QuestionRequest>>,
}

/// Clauses as question text, quoted as Tanium does: inner quotes doubled; `values` OR-ed.
fn clauses_text(clauses: &[TargetClause]) -> String {
    clauses
        .iter()
        .map(|clause| {
            let values = match &clause.value {
                runbook_engine::ClauseValue::One(value) => vec![value.clone()],
                runbook_engine::ClauseValue::AnyOf(values) => values.clone(),
            };
            values
                .iter()
                .map(|value| {
                    format!(
                        "{} equals \"{}\"",
                        clause.sensor,
                        value.replace('"', "\"\"")
                    )
                })
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The question text of a target.
fn question_text(request: &TargetRequest) -> String {
    match request {
        TargetRequest::Clauses { clauses, .. } => clauses_text(clauses),
        other => format!("{other:?}"),
    }
}

/// The text of a question: its sensors and its filter.
fn asked_text(request: &QuestionRequest) -> String {
    match request {
        QuestionRequest::Sensors { get, from } => {
            let sensors: Vec<String> = get
                .iter()
                .map(|select| format!("{}{:?}", select.sensor, select.params))
                .collect();
            let filter = from
                .as_ref()
                .map(|from| format!(" with {}", clauses_text(&from.clauses)))
                .unwrap_or_default();
            format!("Get {} from all machines{filter}", sensors.join(" and "))
        }
        QuestionRequest::Saved { name_or_id } => format!("saved question {name_or_id}"),
    }
}

fn unsupported() -> PlatformError {
    PlatformError::new(PlatformErrorKind::Other, "not used by these tests")
}

#[async_trait]
impl Platform for Echo {
    async fn create_target(&self, request: &TargetRequest) -> Result<TargetOutcome, PlatformError> {
        self.targets.lock().unwrap().push(request.clone());
        let text = question_text(request);
        if text.contains("boom") {
            return Err(PlatformError::new(
                PlatformErrorKind::Invalid,
                format!("the server could not parse {text}"),
            ));
        }
        Ok(TargetOutcome {
            group_id: 77,
            filter_flag: false,
            text,
        })
    }
    async fn resolve_package(
        &self,
        package: &PackageSelector,
        params: &[(String, String)],
    ) -> Result<PackageOutcome, PlatformError> {
        self.packages.lock().unwrap().push(params.to_vec());
        Ok(PackageOutcome {
            package_id: 9,
            package_name: format!("{package:?}"),
            parameters: params.to_vec(),
            command: format!(
                "tag {}",
                params
                    .iter()
                    .map(|(_, value)| value.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            verify: false,
        })
    }
    async fn resolve_action_group(
        &self,
        _name_or_id: &str,
    ) -> Result<ActionGroupOutcome, PlatformError> {
        Err(unsupported())
    }
    async fn count_targets(&self, _group_id: u64, _wait: Duration) -> Result<u64, PlatformError> {
        Err(unsupported())
    }
    async fn survey_target(
        &self,
        _request: &TargetRequest,
        _names: usize,
        _wait: Duration,
    ) -> Result<TargetSurvey, PlatformError> {
        Err(unsupported())
    }
    async fn issue_action(&self, _spec: &ActionSpec) -> Result<ActionInfo, PlatformError> {
        Err(unsupported())
    }
    async fn find_action(
        &self,
        _name: &str,
        _lookup: Lookup,
    ) -> Result<Option<ActionInfo>, PlatformError> {
        Err(unsupported())
    }
    async fn action(&self, _action_id: u64) -> Result<ActionInfo, PlatformError> {
        Err(unsupported())
    }
    async fn approval(&self, _saved_action_id: u64) -> Result<Approval, PlatformError> {
        Err(unsupported())
    }
    async fn action_results(
        &self,
        _id: u64,
        _verify: bool,
        _max: usize,
    ) -> Result<ActionProgress, PlatformError> {
        Err(unsupported())
    }
    async fn action_verifies(&self, _action_id: u64) -> Result<bool, PlatformError> {
        Err(unsupported())
    }
    async fn stop_action(&self, _action_id: u64) -> Result<(), PlatformError> {
        Err(unsupported())
    }
    async fn ask_question(
        &self,
        request: &QuestionRequest,
    ) -> Result<QuestionAsked, PlatformError> {
        self.questions.lock().unwrap().push(request.clone());
        let text = asked_text(request);
        if text.contains("boom") {
            return Err(PlatformError::new(
                PlatformErrorKind::Invalid,
                format!("the server could not parse {text}"),
            ));
        }
        Ok(QuestionAsked {
            question_id: 31,
            text,
        })
    }
    async fn question_progress(
        &self,
        _question_id: u64,
    ) -> Result<QuestionProgress, PlatformError> {
        Ok(QuestionProgress {
            mr_tested: 4,
            estimated_total: 4,
        })
    }
    async fn question_answer(
        &self,
        _question_id: u64,
        _max_rows: usize,
    ) -> Result<QuestionAnswer, PlatformError> {
        Ok(QuestionAnswer {
            columns: vec!["Computer Name".into()],
            rows: vec![json!({"Computer Name": "web-01", "Count": 1})],
            row_count: 1,
            rows_truncated: false,
            unavailable: 0,
            mr_tested: 4,
            estimated_total: 4,
        })
    }
    async fn check_question(&self, _request: &QuestionRequest) -> Result<(), PlatformError> {
        Err(unsupported())
    }
    fn plan_target(&self, request: &TargetRequest) -> Result<Vec<PlannedRequest>, PlatformError> {
        Ok(vec![PlannedRequest {
            method: "POST".into(),
            path: "/api/v2/groups".into(),
            options: None,
            body: Some(json!({"text": question_text(request)})),
            note: None,
        }])
    }
    fn plan_package(&self, _package: &PlanValue<PackageSelector>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_action_group(&self, _name_or_id: &str) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_count(&self, _group_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_issue(&self, spec: &PlannedActionSpec) -> Vec<PlannedRequest> {
        // The lookup by name, with the name percent-encoded as a path segment.
        let encoded: String = spec
            .name
            .bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                    char::from(byte).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect();
        vec![PlannedRequest {
            method: "GET".into(),
            path: format!("/api/v2/actions/by-name/{encoded}"),
            options: None,
            body: None,
            note: None,
        }]
    }
    fn plan_approval(&self, _action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_poll(&self, _action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_stop_action(&self, _action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        Vec::new()
    }
    fn plan_question(&self, request: &PlanValue<QuestionRequest>) -> Vec<PlannedRequest> {
        let text = match request {
            PlanValue::Known(request) => asked_text(request),
            PlanValue::Placeholder(name) => format!("<{name}>"),
        };
        vec![PlannedRequest {
            method: "POST".into(),
            path: "/api/v2/questions".into(),
            options: None,
            body: Some(json!({"query_text": text})),
            note: None,
        }]
    }
}

const API_KEY: &str = "s3cr3t-Value+/x";

fn load(source: &str, inputs: &[(&str, &str)]) -> (runbook_playbook::Playbook, RunRequestParts) {
    let loaded = runbook_playbook::load("test.yaml", source);
    let playbook = loaded
        .playbook
        .unwrap_or_else(|| panic!("invalid playbook: {:?}", loaded.diagnostics));
    let pairs: Vec<(String, String)> = inputs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let inputs =
        runbook_playbook::bind_inputs(&playbook, &pairs, &Default::default()).expect("inputs bind");
    (playbook, inputs)
}

type RunRequestParts = indexmap::IndexMap<String, Value>;

async fn run(
    source: &str,
    inputs: &[(&str, &str)],
) -> (Arc<Echo>, Vec<Event>, runbook_engine::RunOutcome) {
    let (playbook, inputs) = load(source, inputs);
    let platform = Arc::new(Echo::default());
    let events = Arc::new(CollectEvents::new());
    let engine = Engine::new(platform.clone(), events.clone());
    let mut request = RunRequest::new(Arc::new(playbook), inputs);
    request
        .secrets
        .insert("API_KEY".into(), SecretString::from(API_KEY.to_owned()));
    let outcome = engine.run(&request).await;
    (platform, events.events(), outcome)
}

fn assert_absent(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            !haystack.contains(needle),
            "`{needle}` surfaced in: {haystack}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_integer_secret_input_is_hidden_as_a_whole_value() {
    let source = r#"
version: 1
name: pin
inputs:
  pin: { type: integer, secret: true }
  short: { type: integer, secret: true }
steps:
  - id: keep
    set:
      pin: "{{ inputs.pin }}"
      next: "{{ inputs.pin + 1 }}"
      small: "{{ inputs.short }}"
      plain: 5
  - id: note
    log: "pin {{ steps.keep.pin }} short {{ steps.keep.small }}"
  - id: check
    assert:
      that: "{{ steps.keep.pin == 987654 and steps.keep.next == 987655 and steps.keep.small == 42 }}"
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: "{{ steps.keep.pin }}" }
outputs:
  pin: "{{ inputs.pin }}"
  small: "{{ steps.keep.small }}"
  plain: "{{ steps.keep.plain }}"
"#;
    let (platform, events, outcome) = run(source, &[("pin", "987654"), ("short", "42")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // Later steps and the platform got the real values.
    assert_eq!(
        platform.packages.lock().unwrap()[0],
        vec![("$1".to_owned(), "987654".to_owned())]
    );
    assert_eq!(
        outcome.outputs,
        json!({"pin": "[REDACTED]", "small": "[REDACTED]", "plain": 5})
    );
    let stream = serde_json::to_string(&events).unwrap();
    assert_absent(&stream, &["987654", "987655"]);
    let finished = events
        .iter()
        .find_map(|event| match event {
            Event::StepFinished {
                step_id, outputs, ..
            } if step_id == "keep" => Some(outputs.clone()),
            _ => None,
        })
        .expect("the set step finished");
    assert_eq!(
        finished,
        json!({"pin": "[REDACTED]", "next": "[REDACTED]", "small": "[REDACTED]", "plain": 5, "skipped": false})
    );
    let logged = events
        .iter()
        .find_map(|event| match event {
            Event::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(logged, "[REDACTED]");
}

#[tokio::test(start_paused = true)]
async fn values_derived_from_secrets_stay_secret_through_steps() {
    let source = r#"
version: 1
name: derive
secrets: [API_KEY]
inputs:
  key: { type: string, secret: true }
  host: { type: string }
steps:
  - id: v
    set:
      key: "{{ inputs.key }}"
      host: "{{ inputs.host }}"
  - id: d
    set:
      reversed: "{{ steps.v.key | reverse }}"
      upper: "{{ steps.v.key | upper }}"
      tail: "{{ steps.v.key[-6:] }}"
      joined: "{{ 'x-' ~ secrets.API_KEY | replace('-', '_') }}"
      nested: { deep: ["{{ steps.v.key | lower }}", "{{ steps.v.host }}"] }
      visible: "{{ steps.v.host | lower }}"
  - id: note
    log: "{{ steps.d.reversed }} / {{ steps.d.tail }}"
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ steps.d.upper }}" }
  - id: again
    log: "{{ steps.scope.text | lower }}"
outputs:
  reversed: "{{ steps.d.reversed }}"
  nested: "{{ steps.d.nested }}"
  visible: "{{ steps.d.visible }}"
  text: "{{ steps.scope.text }}"
  count: "{{ steps.d.upper | length }}"
"#;
    let key = "Correct-Horse-77";
    let (platform, events, outcome) = run(source, &[("key", key), ("host", "WIN-DC01")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let TargetRequest::Clauses { clauses, .. } = &platform.targets.lock().unwrap()[0] else {
        panic!("expected clauses");
    };
    assert_eq!(
        clauses[0].value,
        runbook_engine::ClauseValue::One("CORRECT-HORSE-77".into()),
        "sent as it is"
    );
    let reversed: String = key.chars().rev().collect();
    let stream = serde_json::to_string(&events).unwrap();
    let outputs = outcome.outputs.to_string();
    for text in [&stream, &outputs] {
        assert_absent(
            text,
            &[
                key,
                &reversed,
                "CORRECT-HORSE-77",
                "correct-horse-77",
                "orse-77",
                API_KEY,
                "s3cr3t_Value",
            ],
        );
    }
    assert_eq!(outcome.outputs["visible"], json!("win-dc01"));
    assert_eq!(outcome.outputs["reversed"], json!("[REDACTED]"));
    assert_eq!(
        outcome.outputs["nested"],
        json!("[REDACTED]"),
        "read as a whole from a secret part"
    );
    assert_eq!(outcome.outputs["text"], json!("[REDACTED]"));
    assert_eq!(outcome.outputs["count"], json!("[REDACTED]"));
    // The part of a set value not computed from a secret stays readable.
    let finished = events
        .iter()
        .find_map(|event| match event {
            Event::StepFinished {
                step_id, outputs, ..
            } if step_id == "d" => Some(outputs.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        finished["nested"],
        json!({"deep": ["[REDACTED]", "WIN-DC01"]})
    );
    assert_eq!(finished["visible"], json!("win-dc01"));
}

#[tokio::test(start_paused = true)]
async fn a_template_that_fails_on_a_secret_does_not_quote_it() {
    let source = r#"
version: 1
name: fail
secrets: [API_KEY]
steps:
  - id: bad
    set:
      n: "{{ (secrets.API_KEY | upper) + 1 }}"
"#;
    let (_, events, outcome) = run(source, &[]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert!(error.contains("withheld"), "{error}");
    assert_absent(
        &format!("{error} {}", serde_json::to_string(&events).unwrap()),
        &[API_KEY, "S3CR3T-VALUE"],
    );
}

#[test]
fn plans_hide_what_is_computed_from_secret_inputs() {
    let source = r#"
version: 1
name: plan
secrets: [API_KEY]
inputs:
  pin: { type: integer, secret: true }
  key: { type: string, secret: true }
  host: { type: string }
steps:
  - id: keep
    set:
      pin: "{{ inputs.pin }}"
      rev: "{{ inputs.key | reverse }}"
      host: "{{ inputs.host }}"
      number: "{{ secrets.API_KEY | int }}"
  - id: note
    log: "{{ steps.keep.rev | upper }} on {{ inputs.host }}"
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: hidden
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.key | upper }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: "{{ inputs.pin }}" }
  - id: tag
    issue:
      name: "tag {{ steps.keep.rev }} & co"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
outputs:
  pin: "{{ steps.keep.pin }}"
  host: "{{ steps.keep.host }}"
"#;
    let (playbook, inputs) = load(
        source,
        &[
            ("pin", "987654"),
            ("key", "p@ss w0rd!"),
            ("host", "WIN-DC01"),
        ],
    );
    let platform = Echo::default();
    let plan = Planner::new(&platform).plan(&playbook, &inputs);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let text = serde_json::to_string(&plan).unwrap();
    assert_absent(
        &text,
        &[
            "987654",
            "p@ss w0rd!",
            "!dr0w ss@p",
            "!DR0W SS@P",
            "%21dr0w%20ss%40p",
            "P@SS W0RD!",
        ],
    );
    assert_eq!(plan.inputs["pin"], json!("[REDACTED]"));
    assert_eq!(plan.inputs["host"], json!("WIN-DC01"));
    assert_eq!(
        plan.outputs,
        json!({"pin": "[REDACTED]", "host": "WIN-DC01"})
    );
    let keep = &plan.steps[0].details;
    assert!(
        keep.contains(&"set pin = [REDACTED]".to_owned()),
        "{keep:?}"
    );
    assert!(keep.contains(&"set host = WIN-DC01".to_owned()), "{keep:?}");
    assert_eq!(plan.steps[1].details, vec!["log: [REDACTED]".to_owned()]);
    assert!(
        keep.contains(&"set number = <secrets.API_KEY | int>".to_owned()),
        "a secret is only known at run time: {keep:?}"
    );
    assert_eq!(plan.steps[3].details, vec!["target: [REDACTED]".to_owned()]);
    let lookup = &plan.steps[5].requests[0].path;
    assert!(lookup.contains("[REDACTED]"), "{lookup}");
}

#[tokio::test(start_paused = true)]
async fn a_question_text_built_from_a_secret_is_secret() {
    let source = r#"
version: 1
name: quoted
inputs:
  key: { type: string, secret: true }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.key | lower }}" }
outputs:
  text: "{{ steps.scope.text }}"
"#;
    let (_, events, outcome) = run(source, &[("key", "Say \"Hello\" 77")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let stream = serde_json::to_string(&events).unwrap();
    assert_absent(&stream, &["hello", "\"\"hello\"\""]);
    assert_eq!(outcome.outputs["text"], json!("[REDACTED]"));
}

#[tokio::test(start_paused = true)]
async fn a_platform_error_about_a_secret_question_does_not_quote_it() {
    let source = r#"
version: 1
name: refused
inputs:
  key: { type: string, secret: true }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.key | lower }}" }
"#;
    let (_, events, outcome) = run(source, &[("key", "Ka\"Boom\"-Qx7z")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert!(error.contains("details withheld"), "{error}");
    assert_absent(
        &format!("{error} {}", serde_json::to_string(&events).unwrap()),
        &["boom", "qx7z"],
    );
}

#[tokio::test(start_paused = true)]
async fn a_question_asked_with_secret_values_keeps_them_secret() {
    let source = r#"
version: 1
name: asked
inputs:
  key: { type: string, secret: true }
steps:
  - id: hits
    question:
      get: [{ sensor: File Exists, params: { path: "{{ inputs.key | upper }}" } }]
      from:
        any:
          - { sensor: Computer Name, op: equals, values: ["web-01", "{{ inputs.key | lower }}"] }
"#;
    let (platform, events, outcome) = run(source, &[("key", "Say \"Hello\" 77")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // The platform gets the real values.
    let asked = serde_json::to_string(&*platform.questions.lock().unwrap()).unwrap();
    assert!(asked.contains("say \\\"hello\\\" 77"), "{asked}");
    assert!(asked.contains("SAY \\\"HELLO\\\" 77"), "{asked}");
    // Nothing the run shows quotes them, in any escaping.
    let stream = serde_json::to_string(&events).unwrap();
    assert_absent(&stream, &["hello", "HELLO", "\"\"hello\"\""]);
    assert!(
        stream.contains("web-01"),
        "the row's data is not secret: {stream}"
    );

    let (_, events, outcome) = run(source, &[("key", "Ka\"Boom\"-Qx7z")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert!(error.contains("details withheld"), "{error}");
    assert_absent(
        &format!("{error} {}", serde_json::to_string(&events).unwrap()),
        &["boom", "BOOM", "qx7z", "QX7Z"],
    );
}

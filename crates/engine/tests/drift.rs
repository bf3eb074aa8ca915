//! Drift between the validator and the engine: the validator (runbook-playbook) checks
//! templates offline against its own tables of what exists (each step kind's outputs, the
//! names under `run`, the filters, tests and functions of MiniJinja). These tests fail when a
//! table says something else than what the engine writes and what its MiniJinja environment
//! provides, so that a playbook the validator accepts does not fail at run time (and one it
//! refuses would not have worked).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use runbook_engine::{Event, Planner, RunStatus, TemplateContext, Templates};
use runbook_playbook::{
    BUILTIN_FILTERS, BUILTIN_TESTS, GLOBAL_FUNCTIONS, RUN_FIELDS, STEP_KINDS, StepKind,
    outputs_of_kind,
};
use serde_json::{Value, json};

use common::{ApprovingStore, Scripted, progress, run_with_store};

/// One step of every kind. `names` puts the run's names in an output.
const EVERY_KIND: &str = r#"
version: 1
name: every-kind
inputs:
  hostname: { type: string }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.hostname }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: "IR-{{ inputs.hostname }}" }
  - id: tag
    issue:
      name: "IR tag {{ inputs.hostname }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
  - id: approved
    await_approval:
      action: "{{ steps.tag.action_id }}"
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
  - id: hits
    question:
      get: [Computer Name]
      from:
        any:
          - { sensor: Computer Name, op: equals, values: ["{{ inputs.hostname }}", other] }
  - id: stop
    stop_action:
      action: "{{ steps.tag.action_id }}"
  - id: review
    approve:
      summary: "stop {{ steps.tag.action_id }}"
  - id: check
    assert:
      that: "{{ steps.results.reached }}"
  - id: note
    log: "tagged {{ inputs.hostname }}"
  - id: names
    set:
      run_names: "{{ run }}"
  - id: each
    for_each:
      items: [a, b]
      as: letter
      steps:
        - id: shout
          set:
            upper: "{{ letter | upper }}{{ loop.index }}"
  - id: notify
    http:
      method: POST
      url: "https://hooks.example.com/services/{{ inputs.hostname }}"
      json: { text: "tagged {{ inputs.hostname }}" }
outputs:
  run_names: "{{ steps.names.run_names }}"
"#;

/// Names every kind, so that a new kind does not compile here until it has a step in
/// [`EVERY_KIND`] (the test checks that every kind ran).
fn listed(kind: &StepKind) {
    match kind {
        StepKind::Target(_)
        | StepKind::Parameterize(_)
        | StepKind::Issue(_)
        | StepKind::AwaitApproval(_)
        | StepKind::Poll(_)
        | StepKind::Question(_)
        | StepKind::StopAction(_)
        | StepKind::Approve(_)
        | StepKind::Assert(_)
        | StepKind::Log(_)
        | StepKind::Set(_)
        | StepKind::ForEach(_)
        | StepKind::Http(_) => {}
    }
}

fn every_kind() -> runbook_playbook::Playbook {
    let loaded = runbook_playbook::load("every-kind.yaml", EVERY_KIND);
    loaded.playbook.unwrap_or_else(|| {
        panic!(
            "the validator refuses the playbook: {:?}",
            loaded.diagnostics
        )
    })
}

async fn run_every_kind() -> (Vec<Event>, runbook_engine::RunOutcome) {
    let platform = Scripted {
        count: 1,
        progress: vec![progress(1, 1, &[("Completed", 1)])],
        ..Scripted::default()
    };
    let store = Arc::new(ApprovingStore::default());
    let (_, events, outcome) =
        run_with_store(platform, EVERY_KIND, &[("hostname", "WIN-DC01")], store).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    (events, outcome)
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn every_kind_writes_the_outputs_the_validator_knows() {
    let playbook = every_kind();
    let (events, _) = run_every_kind().await;
    let mut kinds_run = BTreeSet::new();
    for event in &events {
        let Event::StepFinished {
            step_id,
            kind,
            outputs,
            ..
        } = event
        else {
            continue;
        };
        if step_id.contains('[') {
            // A loop item's step (`each[0].shout`): its kind is checked as a step of its own.
            continue;
        }
        let step = playbook
            .steps
            .iter()
            .find(|step| step.id == *step_id)
            .expect("a step of the playbook");
        listed(&step.kind);
        assert_eq!(kind, step.kind.kind_name());
        kinds_run.insert(kind.clone());
        let mut written = keys(outputs);
        assert!(
            written.remove("skipped"),
            "every step writes `skipped`: {step_id}"
        );
        let known: BTreeSet<String> = match &step.kind {
            // A `set` step's outputs are its keys; the table has none for it.
            StepKind::Set(values) => {
                assert!(outputs_of_kind(kind).is_empty());
                values.keys().cloned().collect()
            }
            _ => outputs_of_kind(kind)
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        };
        assert_eq!(
            written,
            known,
            "a `{kind}` step writes {:?} but the validator's outputs_of_kind(\"{kind}\") lists {:?} \
             (crates/playbook/src/model.rs): change both together",
            written.difference(&known).collect::<Vec<_>>(),
            known.difference(&written).collect::<Vec<_>>(),
        );
    }
    let every: BTreeSet<String> = STEP_KINDS.iter().map(|kind| (*kind).to_owned()).collect();
    assert_eq!(
        kinds_run, every,
        "every step kind runs in this test (add a step of a new kind to EVERY_KIND)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_run_names_are_the_validators() {
    let fields: BTreeSet<String> = RUN_FIELDS.iter().map(|name| (*name).to_owned()).collect();
    let (_, outcome) = run_every_kind().await;
    assert_eq!(
        keys(&outcome.outputs["run_names"]),
        fields,
        "the engine's `run` names differ from runbook_playbook::RUN_FIELDS (crates/playbook/src/templates.rs)"
    );
    // A plan shows the same names, with placeholders where the run does not exist yet.
    let playbook = every_kind();
    let inputs = runbook_playbook::bind_inputs(
        &playbook,
        &[("hostname".to_owned(), "WIN-DC01".to_owned())],
        &Default::default(),
    )
    .expect("inputs bind");
    let plan = Planner::new(&Scripted::default()).plan(&playbook, &inputs);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(
        keys(&plan.outputs["run_names"]),
        fields,
        "the plan's `run` names differ from runbook_playbook::RUN_FIELDS"
    );
}

/// Renders one expression with the engine's templates.
fn eval(templates: &Templates, expression: &str) -> Value {
    templates
        .render(
            &json!(format!("{{{{ {expression} }}}}")),
            &TemplateContext::new(&json!({})),
        )
        .unwrap_or_else(|error| panic!("`{expression}`: {error}"))
}

/// Filters and tests that Jinja users reach for, and MiniJinja offers in some configuration
/// (MiniJinja cannot list those of an environment): each one the engine provides must be in the
/// validator's list, or the validator refuses a template that would work.
const JINJA_FILTERS: &str = "\
    abs attr batch capitalize center chain count d default dictsort e escape filesizeformat \
    first float forceescape format groupby indent int items join last length lines list \
    lower map max min pprint random reject rejectattr replace reverse round safe select \
    selectattr slice sort split string striptags sum title tojson trim truncate unique upper \
    urlencode urlize wordcount wordwrap xmlattr zip bool";
const JINJA_TESTS: &str = "\
    boolean callable defined divisibleby endingwith eq equalto escaped even false filter \
    float ge greaterthan gt in int integer iterable le lessthan lower lt mapping ne none \
    number odd safe sameas sequence startingwith string test true undefined upper";

/// Every `what` (filter or test) the validator lists is provided, and every one of `candidates`
/// that is provided is listed.
fn check_listed(
    templates: &Templates,
    what: &str,
    listed: &[&str],
    candidates: &str,
    list_name: &str,
) {
    let provided = |name: &str| eval(templates, &format!("'{name}' is {what}")) == json!(true);
    for name in listed {
        assert!(
            provided(name),
            "the validator lists the {what} `{name}`, which the engine's MiniJinja does not provide \
             ({list_name}, crates/playbook/src/templates.rs)"
        );
    }
    for name in candidates.split_whitespace() {
        assert!(
            !provided(name) || listed.contains(&name),
            "the engine's MiniJinja provides the {what} `{name}`, which the validator refuses: \
             add it to {list_name} (crates/playbook/src/templates.rs)"
        );
    }
}

#[test]
fn the_validators_filters_tests_and_functions_are_minijinjas() {
    let templates = Templates::new();
    check_listed(
        &templates,
        "filter",
        BUILTIN_FILTERS,
        JINJA_FILTERS,
        "BUILTIN_FILTERS",
    );
    check_listed(
        &templates,
        "test",
        BUILTIN_TESTS,
        JINJA_TESTS,
        "BUILTIN_TESTS",
    );
    // Functions: MiniJinja lists its globals; the validator's list adds `loop`, the loop
    // variable inside a `for`.
    let mut functions = templates.global_names();
    assert_eq!(
        templates
            .render(
                &json!("{% for x in [7] %}{{ loop.index }}{% endfor %}"),
                &TemplateContext::new(&json!({})),
            )
            .expect("loop"),
        json!("1")
    );
    functions.insert("loop".to_owned());
    let listed: BTreeSet<String> = GLOBAL_FUNCTIONS
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    assert_eq!(
        functions, listed,
        "the engine's MiniJinja functions differ from the validator's GLOBAL_FUNCTIONS \
         (crates/playbook/src/templates.rs)"
    );
}

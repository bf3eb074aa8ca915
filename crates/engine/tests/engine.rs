//! The engine's step semantics against a scripted platform, on a paused clock.
//!
//! The Tanium adapter and the simulator are exercised end to end in `tests/`; here a small
//! scripted platform lets each rule of docs/playbooks.md be pinned exactly: the two-share poll
//! rule, the guard, the `Default` action group, approval timeouts, adopting an action after an
//! ambiguous send, redaction of secrets.

mod common;

use runbook_engine::{ClauseValue, Event, RunStatus, TargetRequest};
use serde_json::json;

use common::{Scripted, progress, run};

const TAG_PLAYBOOK: &str = r#"
version: 1
name: tag-host
inputs:
  hostname: { type: string }
  approval_timeout: { type: string, default: "1h" }
guard:
  max_endpoints: 5
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
      timeout: 10m
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      until_percent: 90
      timeout: 30m
outputs:
  completed: "{{ steps.results.completed }}"
  statuses: "{{ steps.results.statuses }}"
"#;

#[tokio::test(start_paused = true)]
async fn a_full_run_waits_for_both_shares() {
    let platform = Scripted {
        count: 2,
        approve_after_checks: Some(2),
        progress: vec![
            // Complete question, no rows yet: not a finished action.
            progress(100, 100, &[]),
            progress(100, 100, &[("Running", 2)]),
            progress(103, 100, &[("Completed", 1), ("Running", 1)]),
            progress(103, 100, &[("Completed", 2)]),
        ],
        ..Scripted::default()
    };
    let (platform, events, outcome) =
        run(platform, TAG_PLAYBOOK, &[("hostname", "WIN-DC01")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["completed"], json!(2));
    assert_eq!(
        *platform.polls.lock().unwrap(),
        4,
        "finished only when both shares reached 90%"
    );
    assert_eq!(platform.issued.lock().unwrap().len(), 1);
    let spec = platform.issued.lock().unwrap()[0].clone();
    assert!(
        spec.name.starts_with("IR tag WIN-DC01 [runbook "),
        "{}",
        spec.name
    );
    assert_eq!(
        spec.parameters,
        vec![("$1".to_owned(), "IR-WIN-DC01".to_owned())]
    );
    let approval = events.iter().find_map(|event| match event {
        Event::StepFinished {
            step_id, outputs, ..
        } if step_id == "approved" => Some(outputs.clone()),
        _ => None,
    });
    assert_eq!(approval.unwrap()["required"], json!(true));
    assert!(matches!(events.last(), Some(Event::RunFinished { .. })));
}

#[tokio::test(start_paused = true)]
async fn the_guard_refuses_before_anything_is_issued() {
    let platform = Scripted {
        count: 6,
        progress: vec![progress(0, 0, &[])],
        ..Scripted::default()
    };
    let (platform, _, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("more than max_endpoints 5"),
        "{:?}",
        outcome.error
    );
    assert!(platform.issued.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_default_action_group_is_refused() {
    // The validator refuses a literal `Default`; a value from an input reaches the engine.
    let source = TAG_PLAYBOOK
        .replace(
            "action_group: All Computers",
            "action_group: \"{{ inputs.group }}\"",
        )
        .replace("inputs:\n", "inputs:\n  group: { type: string }\n");
    let platform = Scripted {
        count: 1,
        progress: vec![progress(0, 0, &[])],
        ..Scripted::default()
    };
    let (platform, _, outcome) = run(
        platform,
        &source,
        &[("hostname", "WIN"), ("group", " default ")],
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains(runbook_engine::DEFAULT_ACTION_GROUP_REFUSED),
        "{:?}",
        outcome.error
    );
    assert!(platform.issued.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_ambiguous_send_adopts_the_action_instead_of_issuing_twice() {
    let platform = Scripted {
        count: 1,
        ambiguous_first_issue: true,
        progress: vec![progress(10, 10, &[("Completed", 1)])],
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(
        platform.issued.lock().unwrap().len(),
        1,
        "the action was sent once"
    );
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::ActionIssued { adopted: true, .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn an_ambiguous_send_whose_lookup_fails_says_the_action_may_exist() {
    let platform = Scripted {
        count: 1,
        ambiguous_first_issue: true,
        lookups_fail: true,
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.expect("an error");
    let name = platform.issued.lock().unwrap()[0].name.clone();
    assert!(error.contains("MAY HAVE BEEN ISSUED"), "{error}");
    assert!(
        error.contains(&name),
        "the error names the action to look for: {error}"
    );
    assert!(
        error.contains("connection cut"),
        "the ambiguous send is kept: {error}"
    );
    assert!(error.contains("503"), "so is the failed lookup: {error}");
    assert_eq!(platform.issued.lock().unwrap().len(), 1, "sent once");
    let finished = events.iter().find_map(|event| match event {
        Event::RunFinished { error, .. } => error.clone(),
        _ => None,
    });
    assert!(
        finished.is_some_and(|error| error.contains("MAY HAVE BEEN ISSUED")),
        "the run_finished event (--json, runs show) says so too"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unapproved_action_times_out() {
    let platform = Scripted {
        count: 1,
        approve_after_checks: Some(1_000),
        progress: vec![progress(0, 0, &[])],
        ..Scripted::default()
    };
    let (_, _, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("was not approved within 10m"),
        "{:?}",
        outcome.error
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_action_fails_the_poll() {
    let platform = Scripted {
        count: 3,
        progress: vec![progress(5, 10, &[("Running", 3)])],
        stopped_after_polls: Some(2),
        ..Scripted::default()
    };
    let (_, _, outcome) = run(platform, TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("stopped before it finished"),
        "{:?}",
        outcome.error
    );
}

#[tokio::test(start_paused = true)]
async fn a_poll_times_out_unless_partial_results_are_allowed() {
    let platform = || Scripted {
        count: 4,
        progress: vec![progress(10, 10, &[("Completed", 1), ("Running", 3)])],
        ..Scripted::default()
    };
    let (_, _, outcome) = run(platform(), TAG_PLAYBOOK, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("did not reach 90%"),
        "{:?}",
        outcome.error
    );

    let partial = TAG_PLAYBOOK.replace("timeout: 30m", "timeout: 30m\n      allow_partial: true");
    let (_, _, outcome) = run(platform(), &partial, &[("hostname", "WIN")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.outputs["completed"], json!(1));
}

#[tokio::test(start_paused = true)]
async fn data_is_never_a_template_and_secrets_never_leave() {
    let source = r#"
version: 1
name: echo
secrets: [API_KEY]
inputs:
  hostname: { type: string }
steps:
  - id: scope
    target:
      any:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.hostname }}" }
  - id: note
    log: "host {{ inputs.hostname }} key {{ secrets.API_KEY | upper }}"
outputs:
  key: "{{ secrets.API_KEY }}"
"#;
    let platform = Scripted {
        progress: vec![progress(0, 0, &[])],
        ..Scripted::default()
    };
    let (platform, events, outcome) = run(platform, source, &[("hostname", "{{ 7*7 }}")]).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let TargetRequest::Clauses { clauses, .. } = &platform.targets.lock().unwrap()[0] else {
        panic!("expected clauses");
    };
    assert_eq!(clauses[0].value, ClauseValue::One("{{ 7*7 }}".into()));
    let stream = serde_json::to_string(&events).unwrap();
    assert!(!stream.contains("s3cr3t-value"), "{stream}");
    assert!(
        !stream.contains("S3CR3T-VALUE"),
        "a value rendered from a secret is a secret: {stream}"
    );
    assert!(stream.contains("[REDACTED]"));
    assert_eq!(outcome.outputs["key"], json!("[REDACTED]"));
}

// ---------------------------------------------------------------------------------------------
// Property: no input value and no template text can make `Engine::run` panic, and data that
// looks like a template comes out literally.

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Runs `future` to completion on a paused clock: waits cost nothing, and a run that would
    /// wait forever is cut by the playbook's own timeouts.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a tokio runtime")
            .block_on(future)
    }

    /// Strings that exercise MiniJinja's syntax and YAML's quoting, plus any unicode.
    fn hostile_text() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("{{".to_owned()),
            Just("}}".to_owned()),
            Just("{%".to_owned()),
            Just("%}".to_owned()),
            Just("{#".to_owned()),
            Just("{{ 7*7 }}".to_owned()),
            Just("{% for x in range(999999999) %}{{ x }}{% endfor %}".to_owned()),
            Just("{{ inputs.a }}".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just("\n".to_owned()),
            Just("\u{0}".to_owned()),
            Just("é漢🙂\u{202e}".to_owned()),
            any::<String>(),
        ];
        prop_oneof![
            8 => proptest::collection::vec(token, 0..12).prop_map(|tokens| tokens.concat()),
            1 => Just(String::new()),
            // Huge: a template-looking value of about 200 kB.
            1 => Just("{{ inputs.a }}{% if %}\"'".repeat(8_000)),
        ]
    }

    /// An expression over the names in scope of the fuzz playbook, with MiniJinja's operators,
    /// filters and tests; some are type errors or divisions by zero at run time, on purpose.
    fn expression() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("inputs.a".to_owned()),
            Just("inputs.n".to_owned()),
            Just("steps.first.echo".to_owned()),
            Just("run.id".to_owned()),
            Just("0".to_owned()),
            Just("-1".to_owned()),
            Just("99999999999999999999".to_owned()),
            Just("1.5e308".to_owned()),
            Just("\"{{ 7*7 }}\"".to_owned()),
            Just("'{% if %}'".to_owned()),
            Just("none".to_owned()),
            Just("true".to_owned()),
            Just("[1, 'x', none]".to_owned()),
            Just("{'k': inputs.a}".to_owned()),
            "[a-z ]{0,5}".prop_map(|text| format!("'{text}'")),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| format!("({e})")),
                inner.clone().prop_map(|e| format!("not {e}")),
                inner.clone().prop_map(|e| format!("-{e}")),
                inner.clone().prop_map(|e| format!("{e} | upper")),
                inner.clone().prop_map(|e| format!("{e} | length")),
                inner.clone().prop_map(|e| format!("{e} | int")),
                inner.clone().prop_map(|e| format!("{e} | tojson")),
                inner.clone().prop_map(|e| format!("{e} | default('d')")),
                inner.clone().prop_map(|e| format!("{e}[0]")),
                inner.clone().prop_map(|e| format!("{e} * 1000")),
                inner.clone().prop_map(|e| format!("{e} is defined")),
                inner.clone().prop_map(|e| format!("range({e})")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} + {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} / {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} // {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} % {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} ** {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} ~ {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} == {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} < {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} and {r}")),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} in {r}")),
                (inner.clone(), inner.clone(), inner)
                    .prop_map(|(a, b, c)| format!("{a} if {b} else {c}")),
            ]
        })
    }

    /// Template texts as `log`, `set`, `when` and `assert` hold them: text, `{{ expr }}`,
    /// `if` and `for` blocks, and now and then raw syntax tokens that may not close. Texts the
    /// validator refuses are skipped, since only a valid playbook reaches the engine.
    fn template_text() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            4 => expression().prop_map(|e| format!("{{{{ {e} }}}}")),
            1 => "[a-zA-Z0-9 .:'\"\\\\-]{0,8}",
            1 => "\\PC{0,3}",
            1 => (expression(), expression()).prop_map(|(c, e)| format!("{{% if {c} %}}{{{{ {e} }}}}{{% else %}}x{{% endif %}}")),
            1 => expression().prop_map(|e| format!("{{% for c in {e} %}}{{{{ loop.index }}}}{{{{ c }}}}{{% endfor %}}")),
            1 => prop_oneof![Just("{{"), Just("}}"), Just("{%"), Just("%}"), Just("{#"), Just("#}")].prop_map(str::to_owned),
        ];
        proptest::collection::vec(part, 1..4).prop_map(|parts| parts.concat())
    }

    /// Where the fuzzed template goes.
    #[derive(Debug, Clone, Copy)]
    enum Slot {
        Log,
        Set,
        When,
        Assert,
    }

    fn slot() -> impl Strategy<Value = Slot> {
        prop_oneof![
            Just(Slot::Log),
            Just(Slot::Set),
            Just(Slot::When),
            Just(Slot::Assert)
        ]
    }

    const ECHO_PLAYBOOK: &str = r#"
version: 1
name: echo
inputs:
  a: { type: string }
  b: { type: string }
steps:
  - id: first
    set:
      echo: "{{ inputs.a }}"
      joined: "x{{ inputs.a }}y{{ inputs.b }}"
  - id: note
    log: "a={{ inputs.a }} b={{ inputs.b }} {{ inputs.a | length }}"
  - id: only_when_b
    when: "{{ inputs.b }}"
    set:
      b: "{{ inputs.b }}"
  - id: same
    assert:
      that: "{{ steps.first.echo == inputs.a }}"
      message: "echo changed {{ inputs.a }}"
outputs:
  echo: "{{ steps.first.echo }}"
  joined: "{{ steps.first.joined }}"
"#;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn input_values_never_panic_and_come_out_literally(a in hostile_text(), b in hostile_text()) {
            let platform = Scripted { progress: vec![progress(0, 0, &[])], ..Scripted::default() };
            let (_, events, outcome) =
                block_on(run(platform, ECHO_PLAYBOOK, &[("a", a.as_str()), ("b", b.as_str())]));
            prop_assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
            prop_assert_eq!(&outcome.outputs["echo"], &json!(a));
            prop_assert_eq!(&outcome.outputs["joined"], &json!(format!("x{a}y{b}")));
            let skipped = events.iter().any(|event| {
                matches!(event, Event::StepSkipped { step_id, .. } if step_id == "only_when_b")
            });
            // `when: "{{ inputs.b }}"` is one expression: Jinja's truth on the string itself,
            // so only the empty string is false; data such as "no" or "0" is a true string.
            prop_assert_eq!(
                skipped,
                b.is_empty(),
                "`when` follows Jinja's truth for {:?}",
                b
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

        #[test]
        fn template_texts_never_panic(slot in slot(), template in template_text(), a in hostile_text()) {
            // JSON strings are YAML double-quoted scalars, so any text embeds safely.
            let quoted = serde_json::to_string(&template).expect("a string serialises");
            let step = match slot {
                Slot::Log => format!("  - id: fuzzed\n    log: {quoted}\n"),
                Slot::Set => format!("  - id: fuzzed\n    set:\n      v: {quoted}\n"),
                Slot::When => format!("  - id: fuzzed\n    when: {quoted}\n    log: x\n"),
                Slot::Assert => format!("  - id: fuzzed\n    assert:\n      that: {quoted}\n      message: {quoted}\n"),
            };
            let source = format!(
                "version: 1\nname: fuzz\ninputs:\n  a: {{ type: string }}\n  n: {{ type: integer, default: 3 }}\nsteps:\n  - id: first\n    set:\n      echo: \"{{{{ inputs.a }}}}\"\n{step}  - id: after\n    log: done\n"
            );
            let loaded = runbook_playbook::load("fuzz.yaml", &source);
            prop_assume!(loaded.playbook.is_some());
            let platform = Scripted { progress: vec![progress(0, 0, &[])], ..Scripted::default() };
            let (_, events, outcome) = block_on(run(platform, &source, &[("a", a.as_str())]));
            // Success and failure are both fine; a failure says why, and the run always ends.
            if outcome.status != RunStatus::Succeeded {
                prop_assert!(outcome.error.as_deref().is_some_and(|error| !error.is_empty()), "{:?}", outcome);
            }
            prop_assert!(matches!(events.last(), Some(Event::RunFinished { .. })), "{:?}", events.last());
        }
    }
}

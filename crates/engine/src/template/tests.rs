//! Unit tests of the template engine: rendering, secret tracking, conditions.

use super::*;
use serde_json::json;

fn context() -> TemplateContext {
    TemplateContext::new(&json!({
        "inputs": {"host": "WIN-DC01", "count": 3, "evil": "{{ 7*7 }}", "empty": null},
        "steps": {"scope": {"group": {"id": 42, "filter_flag": false}, "group_id": 42}},
    }))
}

#[test]
fn a_single_expression_keeps_its_type() {
    let templates = Templates::new();
    let rendered = templates
        .render(&json!("{{ steps.scope.group }}"), &context())
        .unwrap();
    assert_eq!(rendered, json!({"id": 42, "filter_flag": false}));
    let rendered = templates
        .render(&json!("{{ inputs.count + 1 }}"), &context())
        .unwrap();
    assert_eq!(rendered, json!(4));
}

#[test]
fn mixed_text_renders_to_a_string() {
    let templates = Templates::new();
    let rendered = templates
        .render(&json!("tag {{ inputs.host }}"), &context())
        .unwrap();
    assert_eq!(rendered, json!("tag WIN-DC01"));
}

#[test]
fn data_is_never_evaluated_as_a_template() {
    let templates = Templates::new();
    let rendered = templates
        .render(&json!("{{ inputs.evil }}"), &context())
        .unwrap();
    assert_eq!(rendered, json!("{{ 7*7 }}"));
    let rendered = templates
        .render(&json!("x {{ inputs.evil }} y"), &context())
        .unwrap();
    assert_eq!(rendered, json!("x {{ 7*7 }} y"));
}

#[test]
fn undefined_names_are_errors() {
    let templates = Templates::new();
    let error = templates
        .render(&json!("{{ inputs.nope }}"), &context())
        .unwrap_err();
    assert!(error.message.contains("undefined"), "{error}");
    let error = templates
        .render(&json!("a {{ steps.other.x }}"), &context())
        .unwrap_err();
    assert!(error.message.contains("undefined"), "{error}");
}

#[test]
fn runaway_templates_run_out_of_fuel() {
    let templates = Templates::new();
    let error = templates
        .render(
            &json!("{% for i in range(100000) %}{{ i }}{% endfor %}"),
            &context(),
        )
        .unwrap_err();
    assert!(error.message.contains("too much work"), "{error}");
}

#[test]
fn nested_values_are_walked() {
    let templates = Templates::new();
    let rendered = templates
        .render(
            &json!({"a": ["{{ inputs.host }}", 5], "b": true}),
            &context(),
        )
        .unwrap();
    assert_eq!(rendered, json!({"a": ["WIN-DC01", 5], "b": true}));
}

#[test]
fn references_are_dotted_names() {
    let templates = Templates::new();
    let names = templates.references("{{ steps.scope.group_id }} {{ inputs.host }}");
    assert!(names.contains("steps.scope.group_id"), "{names:?}");
    assert!(names.contains("inputs.host"), "{names:?}");
}

fn secret_context() -> TemplateContext {
    let mut taint = Taint::clean();
    taint.set_part("secrets", Taint::whole());
    let mut inputs = Taint::clean();
    inputs.set_part("pin", Taint::whole());
    taint.set_part("inputs", inputs);
    let mut v = Taint::clean();
    v.set_part("key", Taint::whole());
    let mut steps = Taint::clean();
    steps.set_part("v", v);
    taint.set_part("steps", steps);
    TemplateContext::with_taint(
        &json!({
            "inputs": {"host": "WIN-DC01", "pin": 987654},
            "secrets": {"API_KEY": "s3cr3t-value"},
            "steps": {"v": {"key": "abc-123-xyz", "plain": "visible", "list": [1, 2]}},
        }),
        &taint,
    )
}

#[test]
fn what_is_computed_from_a_secret_is_secret() {
    let templates = Templates::new();
    let context = secret_context();
    for text in [
        "{{ secrets.API_KEY | reverse }}",
        "x {{ secrets.API_KEY | upper }} y",
        "{{ secrets.API_KEY[-4:] }}",
        "{{ inputs.pin | int }}",
        "{{ inputs.pin ~ '' }}",
        "{{ steps.v.key | replace('-', '') }}",
        "{{ steps.v | tojson }}",
        "{% for k, v in steps.v | items %}{{ v }}{% endfor %}",
        "{{ steps['v']['key'] | length }}",
        "{{ inputs | tojson }}",
        "{% if secrets.API_KEY %}yes{% endif %}",
        "{{ steps.v }}",
    ] {
        let rendered = templates.render_tracked(&json!(text), &context).unwrap();
        assert!(rendered.taint.is_whole(), "{text} gave {rendered:?}");
    }
    for text in [
        "{{ inputs.host | lower }}",
        "{{ steps.v.plain }}",
        "{{ steps.v.list | length }}",
        "{{ steps | length }}",
        "plain text",
    ] {
        let rendered = templates.render_tracked(&json!(text), &context).unwrap();
        assert!(rendered.taint.is_clean(), "{text} gave {rendered:?}");
    }
}

#[test]
fn taint_follows_the_parts_of_a_value() {
    let templates = Templates::new();
    let rendered = templates
        .render_tracked(
            &json!({"a": ["{{ inputs.host }}", "{{ inputs.pin }}"], "b": "{{ secrets.API_KEY }}", "c": 1}),
            &secret_context(),
        )
        .unwrap();
    assert_eq!(
        rendered.value,
        json!({"a": ["WIN-DC01", 987654], "b": "s3cr3t-value", "c": 1})
    );
    assert!(rendered.taint.part("a").part("0").is_clean());
    assert!(rendered.taint.part("a").part("1").is_whole());
    assert!(rendered.taint.part("b").is_whole());
    assert!(rendered.taint.part("c").is_clean());
}

#[test]
fn tracked_values_behave_like_plain_data() {
    let templates = Templates::new();
    let context = secret_context();
    let rendered = templates
        .render(&json!("{{ steps.v.list }}"), &context)
        .unwrap();
    assert_eq!(rendered, json!([1, 2]));
    let rendered = templates
        .render(
            &json!("{{ steps.v | dictsort | length }} {{ steps.v.list[1] }}"),
            &context,
        )
        .unwrap();
    assert_eq!(rendered, json!("3 2"));
    let error = templates
        .render(&json!("{{ steps.v.nope }}"), &context)
        .unwrap_err();
    assert!(error.message.contains("undefined"), "{error}");
}

#[test]
fn errors_after_reading_a_secret_do_not_quote_it() {
    let templates = Templates::new();
    let error = templates
        .render(&json!("{{ secrets.API_KEY + 1 }}"), &secret_context())
        .unwrap_err();
    assert!(!error.message.contains("s3cr3t"), "{error}");
    assert!(error.message.contains("withheld"), "{error}");
}

#[test]
fn taints_merge() {
    let mut taint = Taint::clean();
    let mut part = Taint::clean();
    part.set_part("x", Taint::whole());
    taint.set_part("a", part);
    let mut other = Taint::clean();
    other.set_part("b", Taint::whole());
    taint.merge(&other);
    assert!(taint.part("a").part("x").is_whole());
    assert!(taint.part("b").is_whole());
    assert!(taint.part("c").is_clean());
    taint.merge(&Taint::whole());
    assert!(taint.part("c").is_whole());
    taint.set_part("d", Taint::clean());
    assert!(taint.is_whole());
}

#[test]
fn truthiness() {
    assert!(!is_truthy(&json!(null)));
    assert!(!is_truthy(&json!("")));
    assert!(!is_truthy(&json!("False")));
    assert!(is_truthy(&json!("10.0.0.1")));
    assert!(!is_truthy(&json!(0)));
    assert!(is_truthy(&json!([1])));
}

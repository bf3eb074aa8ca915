//! Rendering the playbook's templates with MiniJinja.
//!
//! Only strings written by the playbook's author are ever compiled as templates. Values that
//! come from inputs, secrets or the platform enter the template context as data, so a
//! hostname such as `{{ 7*7 }}` stays that literal string wherever it goes.

use std::collections::BTreeSet;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// How much work one template may do before it is stopped (a runaway loop, a huge range).
const TEMPLATE_FUEL: u64 = 200_000;

/// A template that failed to compile or to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
}

/// The names a template can see, converted once for many renders.
#[derive(Debug, Clone)]
pub struct TemplateContext(minijinja::Value);

impl TemplateContext {
    /// Builds a context from a JSON object (`{"inputs": ..., "steps": ..., "run": ...}`).
    pub fn new(names: &Value) -> Self {
        TemplateContext(minijinja::Value::from(Serde(names)))
    }
}

/// The template engine: one MiniJinja environment with strict undefined names and fuel.
#[derive(Debug)]
pub struct Templates {
    environment: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// True when the text holds template syntax at all.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// When the whole text is exactly one `{{ expression }}`, that expression.
pub fn single_expression(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

impl Templates {
    pub fn new() -> Self {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_fuel(Some(TEMPLATE_FUEL));
        environment.set_recursion_limit(64);
        Templates { environment }
    }

    /// Renders every string inside `value` (maps and lists are walked; keys are not
    /// templates). A string that is exactly one `{{ expression }}` keeps the expression's type.
    pub fn render(&self, value: &Value, context: &TemplateContext) -> Result<Value, TemplateError> {
        self.render_with(value, &context.0)
    }

    fn render_with(
        &self,
        value: &Value,
        context: &minijinja::Value,
    ) -> Result<Value, TemplateError> {
        match value {
            Value::String(text) => self.render_string(text, context),
            Value::Array(items) => items
                .iter()
                .map(|item| self.render_with(item, context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) => {
                let mut rendered = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    rendered.insert(key.clone(), self.render_with(item, context)?);
                }
                Ok(Value::Object(rendered))
            }
            other => Ok(other.clone()),
        }
    }

    fn render_string(
        &self,
        text: &str,
        context: &minijinja::Value,
    ) -> Result<Value, TemplateError> {
        if !is_template(text) {
            return Ok(Value::String(text.to_owned()));
        }
        if let Some(expression) = single_expression(text) {
            let compiled = self
                .environment
                .compile_expression(expression)
                .map_err(describe)?;
            let result = compiled.eval(context.clone()).map_err(describe)?;
            if result.is_undefined() {
                return Err(TemplateError {
                    message: format!("`{expression}` is undefined"),
                });
            }
            return serde_json::to_value(&result).map_err(|error| TemplateError {
                message: format!("`{expression}` gave a value that cannot be used: {error}"),
            });
        }
        self.environment
            .render_str(text, context.clone())
            .map(Value::String)
            .map_err(describe)
    }

    /// Evaluates a condition (`when`, `assert.that`): a rendered value's truthiness.
    pub fn truthy(&self, value: &Value, context: &TemplateContext) -> Result<bool, TemplateError> {
        Ok(is_truthy(&self.render(value, context)?))
    }

    /// The dotted names a template string uses (`inputs.host`, `steps.scope.group_id`).
    pub fn references(&self, text: &str) -> BTreeSet<String> {
        if !is_template(text) {
            return BTreeSet::new();
        }
        if let Some(expression) = single_expression(text) {
            if let Ok(compiled) = self.environment.compile_expression(expression) {
                return compiled.undeclared_variables(true).into_iter().collect();
            }
            return BTreeSet::new();
        }
        match self.environment.template_from_str(text) {
            Ok(template) => template.undeclared_variables(true).into_iter().collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Every dotted name any string inside `value` uses.
    pub fn value_references(&self, value: &Value) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        collect_references(self, value, &mut names);
        names
    }
}

fn collect_references(templates: &Templates, value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => names.extend(templates.references(text)),
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(templates, item, names)),
        Value::Object(map) => map
            .values()
            .for_each(|item| collect_references(templates, item, names)),
        _ => {}
    }
}

/// Whether a condition (`when`, `assert.that`) holds. A condition that is exactly one
/// `{{ expression }}` keeps its type, so Jinja's truth applies: `none`, `false`, `0`, `""`
/// and empty collections are false, and any other string is true, even "no" that came from
/// data. A condition written as mixed text comes back as text, read by [`is_truthy`].
pub fn condition_holds(template: &Value, rendered: &Value) -> bool {
    let single = template
        .as_str()
        .is_some_and(|text| single_expression(text).is_some());
    if single {
        match rendered {
            Value::Null => false,
            Value::Bool(flag) => *flag,
            Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
            Value::String(text) => !text.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(map) => !map.is_empty(),
        }
    } else {
        is_truthy(rendered)
    }
}

/// Jinja's idea of truth, applied to a rendered JSON value: empty strings, `false`, `0`,
/// `none` and empty collections are false. The strings "false", "no", "0" and "none" are false
/// too, since a rendered condition that is not a single expression comes back as text.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => {
            let text = text.trim();
            !(text.is_empty()
                || text.eq_ignore_ascii_case("false")
                || text.eq_ignore_ascii_case("no")
                || text == "0"
                || text.eq_ignore_ascii_case("none"))
        }
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

fn describe(error: minijinja::Error) -> TemplateError {
    let mut message = match error.kind() {
        minijinja::ErrorKind::OutOfFuel => {
            "the template did too much work and was stopped (a loop or range that is too large?)"
                .to_owned()
        }
        _ => error.to_string(),
    };
    // MiniJinja appends "(in <string>:1)" locations that mean nothing to a playbook author.
    if let Some(position) = message.find(" (in <") {
        message.truncate(position);
    }
    TemplateError { message }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn truthiness() {
        assert!(!is_truthy(&json!(null)));
        assert!(!is_truthy(&json!("")));
        assert!(!is_truthy(&json!("False")));
        assert!(is_truthy(&json!("10.0.0.1")));
        assert!(!is_truthy(&json!(0)));
        assert!(is_truthy(&json!([1])));
    }
}

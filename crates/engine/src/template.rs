//! Rendering the playbook's templates with MiniJinja.
//!
//! Only strings written by the playbook's author are ever compiled as templates. Values that
//! come from inputs, secrets or the platform enter the template context as data, so a
//! hostname such as `{{ 7*7 }}` stays that literal string wherever it goes.
//!
//! The context also knows which of its values are secret (a [`Taint`]): every read of a
//! secret value during a render is recorded, so that whatever a template computes from a
//! secret (`| reverse`, `| upper`, `[-4:]`, `~ 'x'`, `| int`, ...) is known to be secret too,
//! whatever names its text mentions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectExt, ObjectRepr, Serde};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// How much work one template may do before it is stopped (a runaway loop, a huge range).
const TEMPLATE_FUEL: u64 = 200_000;

/// A template that failed to compile or to evaluate. When the template had read a secret
/// value before it failed, the message says what went wrong but not the details (they could
/// quote the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
}

/// Which parts of a value are secret: the whole value, some of its parts (by map key or list
/// index), or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taint {
    whole: bool,
    /// Only parts that are not clean; empty when `whole`.
    parts: BTreeMap<String, Taint>,
}

static CLEAN: Taint = Taint {
    whole: false,
    parts: BTreeMap::new(),
};

static WHOLE: Taint = Taint {
    whole: true,
    parts: BTreeMap::new(),
};

impl Taint {
    /// Nothing is secret.
    pub fn clean() -> Self {
        Taint::default()
    }

    /// The whole value is secret.
    pub fn whole() -> Self {
        Taint {
            whole: true,
            parts: BTreeMap::new(),
        }
    }

    pub fn is_clean(&self) -> bool {
        !self.whole && self.parts.is_empty()
    }

    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The taint of one part (a map key, or a list index written in decimal).
    pub fn part(&self, key: &str) -> &Taint {
        if self.whole {
            return &WHOLE;
        }
        self.parts.get(key).unwrap_or(&CLEAN)
    }

    /// Sets the taint of one part (nothing changes under a whole taint).
    pub fn set_part(&mut self, key: &str, taint: Taint) {
        if self.whole {
            return;
        }
        if taint.is_clean() {
            self.parts.remove(key);
        } else {
            self.parts.insert(key.to_owned(), taint);
        }
    }

    /// Adds what `other` marks secret.
    pub fn merge(&mut self, other: &Taint) {
        if self.whole || other.is_clean() {
            return;
        }
        if other.whole {
            *self = Taint::whole();
            return;
        }
        for (key, part) in &other.parts {
            let mut merged = self.part(key).clone();
            merged.merge(part);
            self.set_part(key, merged);
        }
    }
}

/// Records whether a render read a secret value. Shared by the objects of one context.
#[derive(Debug, Default)]
struct Reads(AtomicBool);

impl Reads {
    fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// A map of the context with secret entries: reading one of them is recorded.
#[derive(Debug)]
struct TrackedMap {
    entries: IndexMap<String, (minijinja::Value, bool)>,
    reads: Arc<Reads>,
}

impl Object for TrackedMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let (value, secret) = self.entries.get(key.as_str()?)?;
        if *secret {
            self.reads.mark();
        }
        Some(value.clone())
    }

    // Keys only: values are always fetched through `get_value`, so that every read of a
    // secret entry (iteration, `tojson`, `items`, printing the map) is seen.
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|map| {
            Box::new(
                map.entries
                    .keys()
                    .map(|key| minijinja::Value::from(key.as_str())),
            )
        })
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A list of the context with secret items.
#[derive(Debug)]
struct TrackedSeq {
    items: Vec<(minijinja::Value, bool)>,
    reads: Arc<Reads>,
}

impl Object for TrackedSeq {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let (value, secret) = self.items.get(key.as_usize()?)?;
        if *secret {
            self.reads.mark();
        }
        Some(value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }
}

/// Converts a JSON value for the context; parts marked by `taint` record their reads. Parts
/// with nothing secret inside are converted as plain data.
fn tracked(value: &Value, taint: &Taint, reads: &Arc<Reads>) -> minijinja::Value {
    if taint.is_clean() || taint.is_whole() {
        return minijinja::Value::from(Serde(value));
    }
    match value {
        Value::Object(map) => {
            let entries = map
                .iter()
                .map(|(key, item)| {
                    let part = taint.part(key);
                    (key.clone(), (tracked(item, part, reads), part.is_whole()))
                })
                .collect();
            minijinja::Value::from_object(TrackedMap {
                entries,
                reads: reads.clone(),
            })
        }
        Value::Array(items) => {
            let items = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let part = taint.part(&index.to_string());
                    (tracked(item, part, reads), part.is_whole())
                })
                .collect();
            minijinja::Value::from_object(TrackedSeq {
                items,
                reads: reads.clone(),
            })
        }
        other => minijinja::Value::from(Serde(other)),
    }
}

/// A run's inputs converted for templates once (they do not change during a run): each
/// input's value, and whether it is secret (reading it is then recorded, as for any secret).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConvertedInputs(Arc<IndexMap<String, (minijinja::Value, bool)>>);

impl ConvertedInputs {
    pub(crate) fn new<'i>(inputs: impl IntoIterator<Item = (&'i String, &'i Value, bool)>) -> Self {
        ConvertedInputs(Arc::new(
            inputs
                .into_iter()
                .map(|(name, value, secret)| {
                    (name.clone(), (minijinja::Value::from(Serde(value)), secret))
                })
                .collect(),
        ))
    }
}

/// The names a template can see, converted once for many renders.
///
/// Renders with one context must not run at the same time (the engine renders one template
/// at a time): the record of secret reads is shared.
#[derive(Debug, Clone)]
pub struct TemplateContext {
    root: minijinja::Value,
    reads: Arc<Reads>,
}

impl TemplateContext {
    /// Builds a context from a JSON object (`{"inputs": ..., "steps": ..., "run": ...}`) in
    /// which nothing is secret.
    pub fn new(names: &Value) -> Self {
        Self::with_taint(names, &Taint::clean())
    }

    /// Builds a context in which the parts `taint` marks are secret: a render that reads one
    /// of them (or anything inside one) gives a secret value.
    pub fn with_taint(names: &Value, taint: &Taint) -> Self {
        let reads = Arc::new(Reads::default());
        let root = if taint.is_whole() {
            // Everything is secret: the root map's every entry records its reads.
            let everything = match names {
                Value::Object(map) => Taint {
                    whole: false,
                    parts: map
                        .keys()
                        .map(|key| (key.clone(), Taint::whole()))
                        .collect(),
                },
                _ => Taint::clean(),
            };
            tracked(names, &everything, &reads)
        } else {
            tracked(names, taint, &reads)
        };
        TemplateContext { root, reads }
    }

    /// Builds a context like [`TemplateContext::with_taint`], with the run's inputs already
    /// converted ([`ConvertedInputs`]) under `inputs`: converting a long input list again for
    /// every render of every loop item would make a loop's cost grow with the square of its
    /// length.
    pub(crate) fn with_inputs(names: &Value, taint: &Taint, inputs: &ConvertedInputs) -> Self {
        let reads = Arc::new(Reads::default());
        let mut entries = IndexMap::new();
        let inputs_map = TrackedMap {
            entries: (*inputs.0).clone(),
            reads: reads.clone(),
        };
        entries.insert(
            "inputs".to_owned(),
            (minijinja::Value::from_object(inputs_map), false),
        );
        if let Value::Object(map) = names {
            for (key, value) in map {
                let part = taint.part(key);
                entries.insert(key.clone(), (tracked(value, part, &reads), part.is_whole()));
            }
        }
        let root = minijinja::Value::from_object(TrackedMap {
            entries,
            reads: reads.clone(),
        });
        TemplateContext { root, reads }
    }

    /// This context with one more name, holding plain data (plan mode's placeholders). Reads
    /// of the secret values of this context are still recorded.
    pub(crate) fn with_name(&self, name: &str, value: &Value) -> Self {
        let extra = minijinja::Value::from(Serde(serde_json::json!({ name: value })));
        TemplateContext {
            root: minijinja::value::merge_maps([self.root.clone(), extra]),
            reads: self.reads.clone(),
        }
    }
}

/// A rendered value and which parts of it were computed from a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub value: Value,
    pub taint: Taint,
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
        self.render_tracked(value, context)
            .map(|rendered| rendered.value)
    }

    /// Renders like [`Templates::render`], and says which parts of the result were computed
    /// from a secret value of the context: a string whose render read one is secret as a whole.
    pub fn render_tracked(
        &self,
        value: &Value,
        context: &TemplateContext,
    ) -> Result<Rendered, TemplateError> {
        match value {
            Value::String(text) => {
                context.reads.take();
                let result = self.render_string(text, &context.root);
                let secret = context.reads.take();
                match result {
                    Ok(value) => Ok(Rendered {
                        value,
                        taint: if secret {
                            Taint::whole()
                        } else {
                            Taint::clean()
                        },
                    }),
                    Err(Failure::Message(message)) => Err(TemplateError { message }),
                    Err(Failure::Template(error)) if secret => Err(withheld(error)),
                    Err(Failure::Template(error)) => Err(describe(error)),
                }
            }
            Value::Array(items) => {
                let mut rendered = Vec::with_capacity(items.len());
                let mut taint = Taint::clean();
                for (index, item) in items.iter().enumerate() {
                    let item = self.render_tracked(item, context)?;
                    taint.set_part(&index.to_string(), item.taint);
                    rendered.push(item.value);
                }
                Ok(Rendered {
                    value: Value::Array(rendered),
                    taint,
                })
            }
            Value::Object(map) => {
                let mut rendered = serde_json::Map::with_capacity(map.len());
                let mut taint = Taint::clean();
                for (key, item) in map {
                    let item = self.render_tracked(item, context)?;
                    taint.set_part(key, item.taint);
                    rendered.insert(key.clone(), item.value);
                }
                Ok(Rendered {
                    value: Value::Object(rendered),
                    taint,
                })
            }
            other => Ok(Rendered {
                value: other.clone(),
                taint: Taint::clean(),
            }),
        }
    }

    fn render_string(&self, text: &str, context: &minijinja::Value) -> Result<Value, Failure> {
        if !is_template(text) {
            return Ok(Value::String(text.to_owned()));
        }
        if let Some(expression) = single_expression(text) {
            let compiled = self
                .environment
                .compile_expression(expression)
                .map_err(Failure::Template)?;
            let result = compiled.eval(context.clone()).map_err(Failure::Template)?;
            if result.is_undefined() {
                return Err(Failure::Message(format!("`{expression}` is undefined")));
            }
            // Converting reads the whole result: a secret inside is recorded here too.
            return serde_json::to_value(&result).map_err(|error| {
                Failure::Message(format!(
                    "`{expression}` gave a value that cannot be used: {error}"
                ))
            });
        }
        self.environment
            .render_str(text, context.clone())
            .map(Value::String)
            .map_err(Failure::Template)
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

    /// The names every template sees besides the run's own (`inputs`, `steps`, `run`,
    /// `secrets`): MiniJinja's global functions. The validator's list of them is checked
    /// against this (tests/drift.rs).
    pub fn global_names(&self) -> BTreeSet<String> {
        self.environment
            .globals()
            .map(|(name, _)| name.to_owned())
            .collect()
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

/// Why a string did not render: MiniJinja's error, or a message of ours (which never holds a
/// value of the context).
enum Failure {
    Template(minijinja::Error),
    Message(String),
}

/// The error of a render that read a secret value: what went wrong, without the details,
/// which may quote the value.
fn withheld(error: minijinja::Error) -> TemplateError {
    match error.kind() {
        minijinja::ErrorKind::OutOfFuel => describe(error),
        kind => TemplateError {
            message: format!("{kind} (details withheld: the template read a secret value)"),
        },
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
mod tests;

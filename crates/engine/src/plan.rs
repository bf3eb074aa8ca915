//! Plan mode: every step rendered in order with the exact requests a run would send, offline.
//!
//! Values that only the server can tell (group ids, action ids, counts) are shown as named
//! placeholders such as `<steps.scope.group_id>`. A step whose `when` depends only on inputs is
//! decided here; one that depends on earlier steps' outputs is marked "decided at run time".

use std::collections::HashMap;
use std::time::Duration;

use indexmap::IndexMap;
use runbook_playbook::{
    Combine as PlaybookCombine, PackageRef, Playbook, Step, StepKind, TargetStep, TemplateValue,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::platform::{
    Combine, PackageSelector, PlanValue, PlannedActionSpec, PlannedRequest, Platform, TargetClause,
    TargetRequest,
};
use crate::redact::{REDACTED, Redactor, mask, revealing};
use crate::run::{DEFAULT_ACTION_GROUP, operator, unique_action_name};
use crate::template::{Taint, TemplateContext, Templates, condition_holds};
use crate::values::{as_u64, humanize, plan_group, plan_id, plan_package_spec, value_text};

/// The placeholder for the run id, which only exists once the run starts.
const RUN_ID_PLACEHOLDER: &str = "<run.id>";

/// Whether a step will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Condition {
    /// No `when`: the step always runs.
    Always,
    /// `when` is true for these inputs.
    Runs,
    /// `when` is false for these inputs: the step is skipped.
    Skipped,
    /// `when` depends on what earlier steps return.
    DecidedAtRunTime { expression: String },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    pub id: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub condition: Condition,
    /// What the step will do, one line each, for people.
    pub details: Vec<String>,
    /// The requests, in order, with placeholders for values not known yet.
    pub requests: Vec<PlannedRequest>,
    /// What `--live` found out from the server (counts, packages, action groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// What `--live` needs to ask the server about this step.
    #[serde(skip)]
    lookups: Lookups,
}

/// The read-only questions a live plan asks about one step.
#[derive(Debug, Clone, Default, PartialEq)]
struct Lookups {
    target: Option<TargetRequest>,
    package: Option<(PackageSelector, Vec<(String, String)>)>,
    action_group: Option<String>,
    /// The `target` step whose group an `issue` step uses.
    target_step: Option<String>,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub playbook: String,
    pub inputs: Value,
    pub steps: Vec<PlanStep>,
    pub outputs: Value,
    /// Problems that would stop the run (a plan with problems exits 1).
    pub problems: Vec<String>,
}

/// A rendered value, or why it is not known offline.
enum Rendered {
    Known(Value),
    Unknown(String),
}

/// What the templates of one step see, and the plan's secrets: the values of secret inputs
/// and whatever templates compute from them (registered as they are rendered).
struct Scope<'s> {
    context: TemplateContext,
    names: &'s Value,
    secrets: &'s Redactor,
}

/// Builds plans; uses the platform's pure `plan_*` methods only, so it sends nothing.
pub struct Planner<'a> {
    platform: &'a dyn Platform,
    templates: Templates,
}

impl std::fmt::Debug for Planner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner").finish_non_exhaustive()
    }
}

impl<'a> Planner<'a> {
    pub fn new(platform: &'a dyn Platform) -> Self {
        Planner {
            platform,
            templates: Templates::new(),
        }
    }

    /// The plan for `playbook` with bound `inputs`.
    pub fn plan(&self, playbook: &Playbook, inputs: &IndexMap<String, Value>) -> Plan {
        self.plan_with_secrets(playbook, inputs).0
    }

    /// The plan, and the secrets it found (for what `--live` adds to it). Secret inputs, and
    /// every value a template computes from one, are `[REDACTED]` wherever the plan shows them;
    /// `secrets.*` are shown as placeholders (a plan never reads them).
    fn plan_with_secrets(
        &self,
        playbook: &Playbook,
        inputs: &IndexMap<String, Value>,
    ) -> (Plan, Redactor) {
        let redactor = plan_redactor(playbook, inputs);
        let mut input_taint = Taint::clean();
        for (name, declaration) in &playbook.inputs {
            if declaration.secret && inputs.get(name).is_some_and(|value| !value.is_null()) {
                input_taint.set_part(name, Taint::whole());
            }
        }
        let mut steps_taint = Taint::clean();
        let secrets: Map<String, Value> = playbook
            .secrets
            .iter()
            .map(|name| (name.clone(), Value::String(format!("<secrets.{name}>"))))
            .collect();
        let mut names = json!({
            "inputs": inputs,
            "steps": {},
            "run": {"id": RUN_ID_PLACEHOLDER, "playbook": playbook.name, "started_at": "<run.started_at>"},
            "secrets": secrets,
        });
        let mut steps = Vec::with_capacity(playbook.steps.len());
        let mut problems = Vec::new();
        for step in &playbook.steps {
            let taint = names_taint(&input_taint, &steps_taint);
            let scope = Scope {
                context: TemplateContext::with_taint(&names, &taint),
                names: &names,
                secrets: &redactor,
            };
            let condition = match &step.when {
                None => Condition::Always,
                Some(when) => match self.condition(when, &scope) {
                    Ok(Rendered::Known(value)) if condition_holds(&when.value, &value) => {
                        Condition::Runs
                    }
                    Ok(Rendered::Known(_)) => Condition::Skipped,
                    Ok(Rendered::Unknown(expression)) => Condition::DecidedAtRunTime { expression },
                    Err(problem) => {
                        problems.push(format!("step `{}`: when: {problem}", step.id));
                        Condition::DecidedAtRunTime {
                            expression: value_text(&when.value),
                        }
                    }
                },
            };
            let mut planned = PlanStep {
                id: step.id.clone(),
                kind: step.kind.kind_name().to_owned(),
                name: step.name.clone(),
                condition: condition.clone(),
                details: Vec::new(),
                requests: Vec::new(),
                live: None,
                lookups: Lookups::default(),
            };
            let mut outputs_taint = Taint::clean();
            let outputs = if condition == Condition::Skipped {
                planned
                    .details
                    .push("skipped: `when` is false for these inputs".to_owned());
                json!({"skipped": true})
            } else {
                match self.plan_step(playbook, step, &scope, &mut planned, &mut outputs_taint) {
                    Ok(outputs) => outputs,
                    Err(problem) => {
                        problems.push(format!("step `{}`: {problem}", step.id));
                        placeholders(step)
                    }
                }
            };
            // Later steps know which outputs are secret: those computed from a secret, and
            // those holding one.
            outputs_taint.merge(&revealing(&outputs, &redactor));
            steps_taint.set_part(&step.id, outputs_taint);
            if let Some(steps_map) = names.get_mut("steps").and_then(Value::as_object_mut) {
                steps_map.insert(step.id.clone(), outputs);
            }
            steps.push(planned);
        }
        let taint = names_taint(&input_taint, &steps_taint);
        let scope = Scope {
            context: TemplateContext::with_taint(&names, &taint),
            names: &names,
            secrets: &redactor,
        };
        let mut outputs = Map::new();
        for (name, template) in &playbook.outputs {
            let value = match self.render_shown(template, &scope) {
                Ok((Rendered::Known(value), taint)) => mask(&value, &taint),
                Ok((Rendered::Unknown(text), _)) => Value::String(text),
                Err(problem) => {
                    problems.push(format!("output `{name}`: {problem}"));
                    Value::Null
                }
            };
            outputs.insert(name.clone(), value);
        }
        let mut plan = Plan {
            playbook: playbook.name.clone(),
            inputs: Value::Object(
                inputs
                    .iter()
                    .map(|(name, value)| (name.clone(), mask(value, input_taint.part(name))))
                    .collect(),
            ),
            steps,
            outputs: Value::Object(outputs),
            problems,
        };
        redact_plan(&mut plan, &redactor);
        (plan, redactor)
    }

    /// The plan, completed with read-only calls to the server: packages and parameters
    /// checked, action groups resolved, targeted endpoints counted and the guard applied.
    /// Nothing is created but counting questions.
    pub async fn plan_live(
        &self,
        playbook: &Playbook,
        inputs: &IndexMap<String, Value>,
        count_wait: Duration,
    ) -> Plan {
        let (mut plan, redactor) = self.plan_with_secrets(playbook, inputs);
        let limit = playbook
            .guard
            .as_ref()
            .and_then(|guard| guard.max_endpoints);
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut problems = Vec::new();
        for step in &mut plan.steps {
            if step.condition == Condition::Skipped {
                continue;
            }
            let lookups = step.lookups.clone();
            let mut live = Map::new();
            if let Some(target) = &lookups.target {
                match self.platform.count_matching(target, count_wait).await {
                    Ok(count) => {
                        step.details
                            .push(format!("live: {count} endpoint(s) match now"));
                        live.insert("endpoints".to_owned(), json!(count));
                        counts.insert(step.id.clone(), count);
                    }
                    Err(error) => problems.push(format!("step `{}`: {error}", step.id)),
                }
            }
            if let Some((selector, given)) = &lookups.package {
                match self.platform.resolve_package(selector, given).await {
                    Ok(package) => {
                        step.details.push(format!(
                            "live: package {} (id {}), command: {}",
                            package.package_name, package.package_id, package.command
                        ));
                        let parameters = package
                            .parameters
                            .iter()
                            .map(|(key, value)| json!({"key": key, "value": value}))
                            .collect();
                        live.insert("package_id".to_owned(), json!(package.package_id));
                        live.insert("parameters".to_owned(), Value::Array(parameters));
                        live.insert("command".to_owned(), json!(package.command));
                    }
                    Err(error) => problems.push(format!("step `{}`: {error}", step.id)),
                }
            }
            if let Some(name) = &lookups.action_group {
                match self.platform.resolve_action_group(name).await {
                    Ok(group) if group.name.trim().eq_ignore_ascii_case(DEFAULT_ACTION_GROUP) => {
                        problems.push(format!(
                            "step `{}`: the action group `{}` holds no machines in Tanium",
                            step.id, group.name
                        ))
                    }
                    Ok(group) => {
                        live.insert("action_group_id".to_owned(), json!(group.id));
                    }
                    Err(error) => problems.push(format!("step `{}`: {error}", step.id)),
                }
                let targeted = lookups
                    .target_step
                    .as_ref()
                    .and_then(|id| counts.get(id))
                    .copied();
                if let Some(targeted) = targeted {
                    step.details
                        .push(format!("live: blast radius {targeted} endpoint(s)"));
                    live.insert("targeted".to_owned(), json!(targeted));
                    if let Some(limit) = limit.filter(|limit| targeted > *limit) {
                        problems.push(format!(
                            "step `{}`: guard: the target matches {targeted} endpoints, more than max_endpoints {limit}",
                            step.id
                        ));
                    }
                }
            }
            if !live.is_empty() {
                step.live = Some(Value::Object(live));
            }
        }
        plan.problems.extend(problems);
        // What the server told us (commands with parameters substituted) may hold secrets.
        redact_plan(&mut plan, &redactor);
        plan
    }

    /// Evaluates a condition offline: one that uses an output only the server can tell is
    /// decided at run time, whatever the placeholders would make of it.
    fn condition(&self, template: &TemplateValue, scope: &Scope<'_>) -> Result<Rendered, String> {
        let unknown = self
            .templates
            .value_references(&template.value)
            .iter()
            .any(|name| {
                let mut parts = name.split('.');
                match parts.next() {
                    // Secrets are not read offline, and the run's id and start time do not
                    // exist yet.
                    Some("secrets") => return true,
                    Some("run") => return name != "run.playbook",
                    Some("steps") => {}
                    _ => return false,
                }
                let mut value = scope.names.get("steps");
                for part in parts {
                    value = value.and_then(|value| value.get(part));
                }
                value.is_none_or(has_placeholder)
            });
        if unknown {
            return Ok(Rendered::Unknown(value_text(&template.value)));
        }
        // Only its truth is used: nothing to register.
        self.evaluate(template, scope).map(|(rendered, _)| rendered)
    }

    /// Renders offline. A template that uses earlier steps' outputs or secrets and cannot be
    /// evaluated with placeholders is `Unknown` (decided at run time), not an error. Says which
    /// parts of the value were computed from a secret.
    fn evaluate(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<(Rendered, Taint), String> {
        // Earlier steps' outputs and secrets are placeholders offline: a template that
        // cannot work on them (`{{ secrets.PIN | int }}`) is decided at run time.
        let uses_steps = self
            .templates
            .value_references(&template.value)
            .iter()
            .any(|name| {
                name.starts_with("steps.")
                    || name == "steps"
                    || name.starts_with("secrets.")
                    || name == "secrets"
            });
        match self
            .templates
            .render_tracked(&template.value, &scope.context)
        {
            Ok(rendered) => Ok((Rendered::Known(rendered.value), rendered.taint)),
            Err(_) if uses_steps => Ok((
                Rendered::Unknown(value_text(&template.value)),
                Taint::clean(),
            )),
            Err(error) => Err(format!(
                "line {}, column {}: {}",
                template.span.line, template.span.column, error.message
            )),
        }
    }

    /// Renders offline; a value computed from a secret is registered as one.
    fn render_shown(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<(Rendered, Taint), String> {
        let (rendered, taint) = self.evaluate(template, scope)?;
        if let Rendered::Known(value) = &rendered {
            scope.secrets.add_tainted(value, &taint);
        }
        Ok((rendered, taint))
    }

    fn render(&self, template: &TemplateValue, scope: &Scope<'_>) -> Result<Rendered, String> {
        self.render_shown(template, scope)
            .map(|(rendered, _)| rendered)
    }

    fn render_known(&self, template: &TemplateValue, scope: &Scope<'_>) -> Result<Value, String> {
        self.render_known_shown(template, scope)
            .map(|(value, _)| value)
    }

    /// A value for a request or a detail line, and whether it was computed from a secret.
    fn render_known_shown(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<(Value, Taint), String> {
        match self.render_shown(template, scope)? {
            (Rendered::Known(value), taint) => Ok((value, taint)),
            (Rendered::Unknown(text), _) => {
                Ok((Value::String(format!("<{}>", text.trim())), Taint::clean()))
            }
        }
    }

    fn plan_step(
        &self,
        playbook: &Playbook,
        step: &Step,
        scope: &Scope<'_>,
        planned: &mut PlanStep,
        outputs_taint: &mut Taint,
    ) -> Result<Value, String> {
        let id = &step.id;
        match &step.kind {
            StepKind::Target(target) => {
                // A clause value computed from a secret makes the question text a secret
                // (the platform quotes and escapes the value into it).
                let mut secret = false;
                let (request, filter_flag) = match target {
                    TargetStep::Clauses { combine, clauses } => {
                        let mut rendered = Vec::new();
                        for clause in clauses {
                            if let Some(when) = &clause.when {
                                match self.condition(when, scope)? {
                                    Rendered::Known(value)
                                        if !condition_holds(&when.value, &value) =>
                                    {
                                        planned.details.push(format!(
                                            "clause `{} {}` left out: its `when` is false",
                                            clause.sensor,
                                            clause.op.as_str()
                                        ));
                                        continue;
                                    }
                                    Rendered::Known(_) => {}
                                    Rendered::Unknown(expression) => planned.details.push(format!(
                                        "clause `{} {}` is kept only if {expression}",
                                        clause.sensor,
                                        clause.op.as_str()
                                    )),
                                }
                            }
                            let (value, taint) = self.render_known_shown(&clause.value, scope)?;
                            secret |= !taint.is_clean();
                            let value = value_text(&value);
                            rendered.push(TargetClause {
                                sensor: clause.sensor.clone(),
                                op: operator(clause.op),
                                value,
                            });
                        }
                        if rendered.is_empty() {
                            return Err(
                                "every clause of this target is skipped by its `when`; the run would refuse to target every machine"
                                    .to_owned(),
                            );
                        }
                        let combine = match combine {
                            PlaybookCombine::All => Combine::All,
                            PlaybookCombine::Any => Combine::Any,
                        };
                        (
                            TargetRequest::Clauses {
                                combine,
                                clauses: rendered,
                            },
                            false,
                        )
                    }
                    TargetStep::FilterGroup(name) => (
                        TargetRequest::FilterGroup {
                            name_or_id: value_text(&self.render_known(name, scope)?),
                        },
                        true,
                    ),
                    TargetStep::Text(text) => (
                        TargetRequest::Text {
                            text: text.value.clone(),
                        },
                        false,
                    ),
                };
                planned.requests = self
                    .platform
                    .plan_target(&request)
                    .map_err(|error| error.message)?;
                planned.lookups.target = Some(request.clone());
                let text = match &request {
                    TargetRequest::FilterGroup { name_or_id } => {
                        planned
                            .details
                            .push(format!("use the filter group `{name_or_id}`"));
                        String::new()
                    }
                    _ => {
                        let text = planned
                            .requests
                            .first()
                            .and_then(|request| request.body.as_ref())
                            .and_then(|body| body.get("text"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        if secret {
                            scope.secrets.add(&text);
                        }
                        planned.details.push(format!("target: {text}"));
                        text
                    }
                };
                Ok(json!({
                    "skipped": false,
                    "group": {"id": format!("<steps.{id}.group_id>"), "filter_flag": filter_flag},
                    "group_id": format!("<steps.{id}.group_id>"),
                    "text": text,
                }))
            }
            StepKind::Parameterize(parameterize) => {
                let selector = match &parameterize.package {
                    PackageRef::Name(name) => match self.render(name, scope)? {
                        Rendered::Known(value) => {
                            PlanValue::Known(PackageSelector::Name(value_text(&value)))
                        }
                        Rendered::Unknown(text) => PlanValue::Placeholder(text),
                    },
                    PackageRef::Id(template) => match self.render(template, scope)? {
                        Rendered::Known(value) => match as_u64(&value) {
                            Some(id) => PlanValue::Known(PackageSelector::Id(id)),
                            None => PlanValue::Placeholder(value_text(&value)),
                        },
                        Rendered::Unknown(text) => PlanValue::Placeholder(text),
                    },
                };
                let mut parameters = Vec::new();
                for (key, template) in &parameterize.params {
                    let (value, taint) = self.render_known_shown(template, scope)?;
                    let value = value_text(&value);
                    planned
                        .details
                        .push(format!("parameter {key} = {}", shown(&value, &taint)));
                    parameters.push(json!({"key": key, "value": value}));
                }
                planned.details.push(
                    "the package definition is read, values checked, defaults filled in".to_owned(),
                );
                planned.requests = self.platform.plan_package(&selector);
                if let PlanValue::Known(known) = &selector {
                    let given = parameters
                        .iter()
                        .filter_map(|item| {
                            Some((
                                item.get("key")?.as_str()?.to_owned(),
                                value_text(item.get("value")?),
                            ))
                        })
                        .collect();
                    planned.lookups.package = Some((known.clone(), given));
                }
                Ok(json!({
                    "skipped": false,
                    "package_spec": {"source_id": format!("<steps.{id}.package_id>"), "parameters": parameters},
                    "package_id": format!("<steps.{id}.package_id>"),
                    "package_name": match &selector {
                        PlanValue::Known(PackageSelector::Name(name)) => Value::String(name.clone()),
                        _ => Value::String(format!("<steps.{id}.package_name>")),
                    },
                    "parameters": parameters,
                    "command": format!("<steps.{id}.command>"),
                }))
            }
            StepKind::Issue(issue) => {
                let name = value_text(&self.render_known(&issue.name, scope)?);
                let target = self.render_known(&issue.target, scope)?;
                let (target_group_id, target_filter_flag) = plan_group(&target);
                let package = self.render_known(&issue.package, scope)?;
                let (package_id, parameters) = plan_package_spec(&package);
                let action_group = value_text(&self.render_known(&issue.action_group, scope)?);
                if action_group
                    .trim()
                    .eq_ignore_ascii_case(DEFAULT_ACTION_GROUP)
                {
                    return Err("the action group `Default` holds no machines in Tanium; the run would refuse it".to_owned());
                }
                let unique_name = unique_action_name(&name, RUN_ID_PLACEHOLDER, id);
                planned.lookups.action_group = Some(action_group.trim().to_owned());
                planned.lookups.target_step = self
                    .templates
                    .value_references(&issue.target.value)
                    .iter()
                    .find_map(|name| {
                        name.strip_prefix("steps.")?
                            .split('.')
                            .next()
                            .map(str::to_owned)
                    });
                planned
                    .requests
                    .extend(self.platform.plan_action_group(action_group.trim()));
                planned
                    .requests
                    .extend(self.platform.plan_count(&target_group_id));
                match playbook.guard.as_ref().and_then(|guard| guard.max_endpoints) {
                    Some(limit) => planned.details.push(format!(
                        "count the targeted endpoints first; refuse to issue if more than {limit} (guard)"
                    )),
                    None => planned
                        .details
                        .push("count the targeted endpoints first (no guard set)".to_owned()),
                }
                planned.details.push(format!(
                    "issue `{unique_name}` under action group `{action_group}`, expiring after {}{}",
                    humanize(issue.expire),
                    if issue.distribute > Duration::ZERO {
                        format!(", distributed over {}", humanize(issue.distribute))
                    } else {
                        String::new()
                    }
                ));
                let spec = PlannedActionSpec {
                    name: unique_name,
                    action_group_id: PlanValue::Placeholder(format!(
                        "action_group \"{}\".id",
                        action_group.trim()
                    )),
                    target_group_id,
                    target_filter_flag,
                    package_id,
                    parameters,
                    expire_seconds: issue.expire.as_secs(),
                    distribute_seconds: issue.distribute.as_secs(),
                    issue_seconds: issue.issue_seconds,
                };
                planned.requests.extend(self.platform.plan_issue(&spec));
                let mut outputs = placeholders(step);
                if let Some(map) = outputs.as_object_mut() {
                    map.insert("name".to_owned(), Value::String(spec.name.clone()));
                }
                Ok(outputs)
            }
            StepKind::AwaitApproval(wait) => {
                let action = plan_id(&self.render_known(&wait.action, scope)?);
                planned.details.push(format!(
                    "check every {} until action {action} is approved (at most {}); the engine never approves its own actions",
                    humanize(wait.interval),
                    humanize(wait.timeout)
                ));
                planned.requests = self.platform.plan_approval(&action);
                Ok(placeholders(step))
            }
            StepKind::Poll(poll) => {
                let action = plan_id(&self.render_known(&poll.action, scope)?);
                let expected = match &poll.expected {
                    Some(template) => value_text(&self.render_known(template, scope)?),
                    None => "the endpoints counted when the action was issued".to_owned(),
                };
                planned.details.push(format!(
                    "poll action {action} every {} (growing to {} while nothing changes, at most {}) until {}% report and {}% of {expected} finished{}",
                    humanize(poll.interval),
                    humanize(poll.max_interval),
                    humanize(poll.timeout),
                    poll.until_percent,
                    poll.until_percent,
                    if poll.allow_partial { "; partial results allowed on timeout" } else { "" }
                ));
                planned.requests = self.platform.plan_poll(&action);
                Ok(placeholders(step))
            }
            StepKind::Assert(assertion) => {
                match self.condition(&assertion.that, scope)? {
                    Rendered::Known(value) if condition_holds(&assertion.that.value, &value) => {
                        planned
                            .details
                            .push("assertion holds for these inputs".to_owned())
                    }
                    Rendered::Known(_) => {
                        return Err(format!(
                            "assertion `{}` is false for these inputs",
                            value_text(&assertion.that.value)
                        ));
                    }
                    Rendered::Unknown(expression) => planned
                        .details
                        .push(format!("check at run time: {expression}")),
                }
                Ok(json!({"skipped": false, "passed": true}))
            }
            StepKind::Log(message) => {
                let (text, taint) = self.render_known_shown(message, scope)?;
                let text = value_text(&text);
                planned
                    .details
                    .push(format!("log: {}", shown(&text, &taint)));
                Ok(json!({"skipped": false, "message": text}))
            }
            StepKind::Set(values) => {
                let mut outputs = Map::new();
                outputs.insert("skipped".to_owned(), Value::Bool(false));
                for (name, template) in values {
                    let (value, taint) = self.render_known_shown(template, scope)?;
                    planned.details.push(format!(
                        "set {name} = {}",
                        shown(&value_text(&value), &taint)
                    ));
                    outputs_taint.set_part(name, taint);
                    outputs.insert(name.clone(), value);
                }
                Ok(Value::Object(outputs))
            }
        }
    }
}

/// A value as a detail line shows it: `[REDACTED]` when it was computed from a secret (a
/// short one would otherwise only be hidden where it is the whole text).
fn shown(text: &str, taint: &Taint) -> String {
    if taint.is_clean() {
        text.to_owned()
    } else {
        REDACTED.to_owned()
    }
}

/// What templates see as secret in a plan: secret inputs that were given, and what earlier
/// steps computed from them.
fn names_taint(inputs: &Taint, steps: &Taint) -> Taint {
    let mut taint = Taint::clean();
    taint.set_part("inputs", inputs.clone());
    taint.set_part("steps", steps.clone());
    taint
}

/// The secrets a plan must not show: the values of inputs declared `secret: true`.
fn plan_redactor(playbook: &Playbook, inputs: &IndexMap<String, Value>) -> Redactor {
    let redactor = Redactor::new();
    for (name, declaration) in &playbook.inputs {
        if declaration.secret
            && let Some(value) = inputs.get(name)
        {
            redactor.add_value(value);
        }
    }
    redactor
}

/// Redacts every text of a plan.
fn redact_plan(plan: &mut Plan, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    plan.inputs = redactor.redact_json(&plan.inputs);
    plan.outputs = redactor.redact_json(&plan.outputs);
    for step in &mut plan.steps {
        step.details = step
            .details
            .iter()
            .map(|line| redactor.redact_text(line))
            .collect();
        for request in &mut step.requests {
            request.body = request.body.as_ref().map(|body| redactor.redact_json(body));
            request.path = redactor.redact_text(&request.path);
        }
    }
    plan.problems = plan
        .problems
        .iter()
        .map(|line| redactor.redact_text(line))
        .collect();
    for step in &mut plan.steps {
        step.live = step.live.as_ref().map(|live| redactor.redact_json(live));
    }
}

/// `<steps.ID.OUTPUT>` for every output of a step's kind.
fn placeholders(step: &Step) -> Value {
    let mut outputs = Map::new();
    outputs.insert("skipped".to_owned(), Value::Bool(false));
    for name in step.kind.output_names() {
        outputs.insert(
            (*name).to_owned(),
            Value::String(format!("<steps.{}.{}>", step.id, name)),
        );
    }
    Value::Object(outputs)
}

fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("<steps.") || text.contains("<run."),
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => map.values().any(has_placeholder),
        _ => false,
    }
}

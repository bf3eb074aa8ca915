//! Plan mode: every step rendered in order with the exact requests a run would send, offline.
//!
//! Values that only the server can tell (group ids, action ids, counts) are shown as named
//! placeholders such as `<steps.scope.group_id>`, and what a template computes from one as a
//! placeholder naming its expression (`plan_unknown`). A step whose `when` depends only on
//! known values is decided here; one that depends on an unknown is "decided at run time".

use std::collections::HashMap;
use std::time::Duration;

use indexmap::IndexMap;
use runbook_playbook::{
    DEFAULT_ACTION_GROUP_REFUSED, HANDLER_RUN_FIELDS, Playbook, Step, StepKind, TemplateValue,
    is_default_action_group,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::egress::Egress;
use crate::plan_unknown::Unknowns;
use crate::platform::{
    PackageSelector, PlannedRequest, Platform, QuestionRequest, TargetRequest, TargetSurvey,
};
use crate::redact::{Redactor, mask, revealing};
use crate::steps::{self, placeholders};
use crate::template::{Taint, TemplateContext, Templates, condition_holds};
use crate::values::{is_placeholder, value_text};

/// The placeholder for the run id, which only exists once the run starts.
pub(crate) const RUN_ID_PLACEHOLDER: &str = "<run.id>";

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
    pub(crate) lookups: Lookups,
}

/// The read-only questions a live plan asks about one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Lookups {
    pub(crate) target: Option<TargetRequest>,
    /// A target whose clauses hold a value only a run can tell: not asked what it matches.
    pub(crate) target_unknown: bool,
    pub(crate) package: Option<(PackageSelector, Vec<(String, String)>)>,
    pub(crate) action_group: Option<String>,
    /// The `target` step whose group an `issue` step uses.
    pub(crate) target_step: Option<String>,
    /// An `issue` step's `min_endpoints`.
    pub(crate) min_endpoints: u64,
    /// An `issue` step's `rollout`: `--live` shows its wave sizes.
    pub(crate) rollout: Option<runbook_playbook::Rollout>,
    /// A `question` step's question: its sensors or saved question must exist.
    pub(crate) question: Option<QuestionRequest>,
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
pub(crate) enum Rendered {
    Known(Value),
    Unknown(String),
}

/// What the templates of one step see, the plan's secrets (the values of secret inputs and
/// whatever templates compute from them, registered as they are rendered) and its unknowns.
pub(crate) struct Scope<'s> {
    context: TemplateContext,
    names: &'s Value,
    /// Which of `names` are secret.
    taint: Taint,
    pub(crate) secrets: &'s Redactor,
    pub(crate) unknowns: &'s Unknowns,
}

impl Scope<'_> {
    /// The names as a plan may show them: secret inputs and their derivations `[REDACTED]`.
    pub(crate) fn shown_context(&self) -> TemplateContext {
        TemplateContext::new(&mask(self.names, &self.taint))
    }
}

/// What a plan builds up, step by step: the names templates see (with the outputs planned so
/// far, and a loop item's own names), which of them are secret, the problems and the steps.
pub(crate) struct Planning<'p> {
    pub(crate) names: Value,
    pub(crate) input_taint: Taint,
    pub(crate) steps_taint: Taint,
    /// A loop item's names (its item, `loop`): which of them are secret.
    pub(crate) locals_taint: Taint,
    pub(crate) redactor: &'p Redactor,
    pub(crate) unknowns: &'p Unknowns,
    pub(crate) problems: Vec<String>,
    pub(crate) steps: Vec<PlanStep>,
}

impl Planning<'_> {
    /// What the next step's templates see.
    pub(crate) fn scope(&self) -> Scope<'_> {
        let mut taint = names_taint(&self.input_taint, &self.steps_taint);
        taint.merge(&self.locals_taint);
        Scope {
            context: TemplateContext::with_taint(&self.names, &taint),
            names: &self.names,
            taint,
            secrets: self.redactor,
            unknowns: self.unknowns,
        }
    }
}

/// Builds plans; uses the platform's pure `plan_*` methods only, so it sends nothing.
pub struct Planner<'a> {
    pub(crate) platform: &'a dyn Platform,
    /// The policy `http` steps are judged by (the hosts allowed), when the plan is given one.
    pub(crate) egress: Option<&'a dyn Egress>,
    pub(crate) templates: Templates,
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
            egress: None,
            templates: Templates::new(),
        }
    }

    /// Judges `http` steps' URLs by `egress`'s policy (a refusal is a problem); sends nothing.
    pub fn with_egress(mut self, egress: &'a dyn Egress) -> Self {
        self.egress = Some(egress);
        self
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
        let unknowns = Unknowns::default();
        let mut input_taint = Taint::clean();
        for (name, declaration) in &playbook.inputs {
            if declaration.secret && inputs.get(name).is_some_and(|value| !value.is_null()) {
                input_taint.set_part(name, Taint::whole());
            }
        }
        let secrets: Map<String, Value> = playbook
            .secrets
            .iter()
            .map(|name| (name.clone(), Value::String(format!("<secrets.{name}>"))))
            .collect();
        let names = json!({
            "inputs": inputs,
            "steps": {},
            "run": {
                "id": RUN_ID_PLACEHOLDER,
                "playbook": playbook.name,
                "started_at": "<run.started_at>",
            },
            "secrets": secrets,
        });
        let mut planning = Planning {
            names,
            input_taint,
            steps_taint: Taint::clean(),
            locals_taint: Taint::clean(),
            redactor: &redactor,
            unknowns: &unknowns,
            problems: Vec::new(),
            steps: Vec::with_capacity(playbook.steps.len()),
        };
        let main = playbook.steps.len();
        let on_failure = playbook.on_failure.len();
        for (index, step) in playbook.all_steps().enumerate() {
            if index == main
                && let Some(run) = planning.names.get_mut("run").and_then(Value::as_object_mut)
            {
                // Handlers also know how the main steps ended.
                for field in HANDLER_RUN_FIELDS {
                    run.insert(field.to_owned(), Value::String(format!("<run.{field}>")));
                }
            }
            let note = if index >= main + on_failure {
                Some("finally: runs last, after the main steps succeed, fail or are cancelled")
            } else if index >= main {
                Some("on_failure: runs only when a main step fails (not after a cancel)")
            } else {
                None
            };
            self.plan_into(playbook, step, &mut planning, step.id.clone(), note);
        }
        let Planning {
            names,
            input_taint,
            steps_taint,
            mut problems,
            steps,
            ..
        } = planning;
        let taint = names_taint(&input_taint, &steps_taint);
        let scope = Scope {
            context: TemplateContext::with_taint(&names, &taint),
            names: &names,
            taint,
            secrets: &redactor,
            unknowns: &unknowns,
        };
        let mut outputs = Map::new();
        for (name, template) in &playbook.outputs {
            let value = match self.render_shown(template, &scope) {
                Ok((value, taint)) => mask(&value, &taint),
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
    /// checked, action groups resolved, the endpoints each target matches counted and named
    /// (the first 20), offline endpoints counted apart, and the guard applied.
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
            if lookups.target_unknown {
                step.details.push(
                    "live: not asked which endpoints match: a clause value is only known at run time"
                        .to_owned(),
                );
            }
            if let Some(target) = &lookups.target {
                match self
                    .platform
                    .survey_target(target, SURVEY_NAMES, count_wait)
                    .await
                {
                    Ok(survey) => {
                        show_survey(&survey, &mut step.details, &mut live);
                        counts.insert(step.id.clone(), survey.matching);
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
                    Ok(group) if is_default_action_group(&group.name) => problems.push(format!(
                        "step `{}`: {DEFAULT_ACTION_GROUP_REFUSED}",
                        step.id
                    )),
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
                    if let Some(rollout) = &lookups.rollout {
                        let sizes = rollout.sizes(targeted);
                        let mut before = 0;
                        let added: Vec<u64> = sizes
                            .iter()
                            .map(|size| {
                                let wave = size - before;
                                before = *size;
                                wave
                            })
                            .collect();
                        let shown: Vec<String> = added.iter().map(u64::to_string).collect();
                        step.details.push(format!(
                            "live: waves of {} endpoint(s) (a wave of 0 issues nothing)",
                            shown.join(", ")
                        ));
                        live.insert("wave_sizes".to_owned(), json!(added));
                    }
                    if let Some(limit) = limit.filter(|limit| targeted > *limit) {
                        problems.push(format!(
                            "step `{}`: guard: the target matches {targeted} endpoints, more than max_endpoints {limit}",
                            step.id
                        ));
                    }
                    if targeted < lookups.min_endpoints {
                        problems.push(format!(
                            "step `{}`: {}",
                            step.id,
                            crate::steps::issue::too_few_endpoints(targeted, lookups.min_endpoints)
                        ));
                    }
                }
            }
            if let Some(question) = &lookups.question {
                check_question(self.platform, question, step, &mut live, &mut problems).await;
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

    /// Plans one step (shown as `shown_id`: its id, or inside a loop's item
    /// `<loop>[<index>].<step>`), and makes its outputs known to the steps after it.
    pub(crate) fn plan_into(
        &self,
        playbook: &Playbook,
        step: &Step,
        planning: &mut Planning<'_>,
        shown_id: String,
        note: Option<&str>,
    ) {
        let mut problem = None;
        let condition = match &step.when {
            None => Condition::Always,
            Some(when) => match self.condition(when, &planning.scope()) {
                Ok(Rendered::Known(value)) if condition_holds(&when.value, &value) => {
                    Condition::Runs
                }
                Ok(Rendered::Known(_)) => Condition::Skipped,
                Ok(Rendered::Unknown(expression)) => Condition::DecidedAtRunTime { expression },
                Err(why) => {
                    problem = Some(format!("step `{shown_id}`: when: {why}"));
                    Condition::DecidedAtRunTime {
                        expression: value_text(&when.value),
                    }
                }
            },
        };
        planning.problems.extend(problem);
        let shown = shown_id.clone();
        let mut planned = PlanStep {
            id: shown_id,
            kind: step.kind.kind_name().to_owned(),
            name: step.name.clone(),
            condition: condition.clone(),
            details: note.map(str::to_owned).into_iter().collect(),
            requests: Vec::new(),
            live: None,
            lookups: Lookups::default(),
        };
        let mut outputs_taint = Taint::clean();
        let result = if condition == Condition::Skipped {
            planned
                .details
                .push("skipped: `when` is false for these inputs".to_owned());
            Ok(json!({"skipped": true}))
        } else if let StepKind::ForEach(each) = &step.kind {
            // The loop's line comes before its items' steps.
            let position = planning.steps.len();
            planning.steps.push(planned.clone());
            let result = steps::for_each::plan(self, playbook, step, each, planning, &mut planned);
            planning.steps[position] = planned;
            self.record_planned(step, &shown, result, &mut outputs_taint, planning);
            return;
        } else {
            let scope = planning.scope();
            self.plan_step(playbook, step, &scope, &mut planned, &mut outputs_taint)
        };
        planning.steps.push(planned);
        self.record_planned(step, &shown, result, &mut outputs_taint, planning);
    }

    /// Makes a planned step's outputs (or, when it could not be planned, its placeholders)
    /// known to the steps after it, with which of them are secret.
    fn record_planned(
        &self,
        step: &Step,
        shown: &str,
        result: Result<Value, String>,
        outputs_taint: &mut Taint,
        planning: &mut Planning<'_>,
    ) {
        let outputs = match result {
            Ok(outputs) => outputs,
            Err(problem) => {
                planning.problems.push(format!("step `{shown}`: {problem}"));
                placeholders(step)
            }
        };
        // Later steps know which outputs are secret: those computed from a secret, and
        // those holding one.
        outputs_taint.merge(&revealing(&outputs, planning.redactor));
        planning
            .steps_taint
            .set_part(&step.id, std::mem::take(outputs_taint));
        if let Some(steps_map) = planning
            .names
            .get_mut("steps")
            .and_then(Value::as_object_mut)
        {
            steps_map.insert(step.id.clone(), outputs);
        }
    }

    /// Evaluates a condition offline: one that uses a value only a run can tell is decided at
    /// run time, whatever the placeholders would make of it.
    pub(crate) fn condition(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<Rendered, String> {
        let unknown = self
            .templates
            .value_references(&template.value)
            .iter()
            .any(|name| scope.unknowns.name_is_unknown(name, scope.names));
        if unknown {
            return Ok(Rendered::Unknown(value_text(&template.value)));
        }
        // Only its truth is used: nothing to register.
        self.evaluate(template, scope)
            .map(|(value, _)| Rendered::Known(value))
    }

    /// Renders offline: what computes from a value only a run can tell is a placeholder naming
    /// it (see `plan_unknown`). Says which parts of the value were computed from a secret.
    fn evaluate(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<(Value, Taint), String> {
        match scope.unknowns.render(
            &self.templates,
            &template.value,
            &scope.context,
            scope.names,
        ) {
            Ok(rendered) => Ok((rendered.value, rendered.taint)),
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
    ) -> Result<(Value, Taint), String> {
        let (value, taint) = self.evaluate(template, scope)?;
        scope.secrets.add_tainted(&value, &taint);
        Ok((value, taint))
    }

    /// A value, or `Unknown` (its placeholder, without the angle brackets) when it is a text
    /// holding a placeholder: a name or an id that only a run can tell.
    pub(crate) fn render(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<Rendered, String> {
        let (value, _) = self.render_shown(template, scope)?;
        Ok(match value {
            Value::String(text) if scope.unknowns.is_unknown(&Value::String(text.clone())) => {
                let inner = text
                    .strip_prefix('<')
                    .and_then(|text| text.strip_suffix('>'))
                    .unwrap_or(&text);
                Rendered::Unknown(inner.to_owned())
            }
            value => Rendered::Known(value),
        })
    }

    pub(crate) fn render_known(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<Value, String> {
        self.render_known_shown(template, scope)
            .map(|(value, _)| value)
    }

    /// A value for a request or a detail line (placeholders included), and whether it was
    /// computed from a secret.
    pub(crate) fn render_known_shown(
        &self,
        template: &TemplateValue,
        scope: &Scope<'_>,
    ) -> Result<(Value, Taint), String> {
        self.render_shown(template, scope)
    }

    /// Plans one step: one line per kind, each in its module under `steps/`.
    fn plan_step(
        &self,
        playbook: &Playbook,
        step: &Step,
        scope: &Scope<'_>,
        planned: &mut PlanStep,
        outputs_taint: &mut Taint,
    ) -> Result<Value, String> {
        match &step.kind {
            StepKind::Target(target) => steps::target::plan(self, step, target, scope, planned),
            StepKind::Parameterize(parameterize) => {
                steps::parameterize::plan(self, step, parameterize, scope, planned)
            }
            StepKind::Issue(issue) => {
                steps::issue::plan(self, playbook, step, issue, scope, planned)
            }
            StepKind::AwaitApproval(wait) => {
                steps::approval::plan(self, step, wait, scope, planned)
            }
            StepKind::Poll(poll) => steps::poll::plan(self, step, poll, scope, planned),
            StepKind::Question(question) => {
                steps::question::plan(self, step, question, scope, planned)
            }
            StepKind::StopAction(stop) => {
                steps::stop_action::plan(self, step, stop, scope, planned)
            }
            StepKind::Approve(approve) => steps::approve::plan(self, step, approve, scope, planned),
            StepKind::Assert(assertion) => steps::assert::plan(self, assertion, scope, planned),
            StepKind::Log(message) => steps::log::plan(self, message, scope, planned),
            StepKind::Set(values) => steps::set::plan(self, values, scope, planned, outputs_taint),
            // A loop plans its items into the plan itself (`plan_into`); here only its
            // outputs are known, as placeholders.
            StepKind::ForEach(_) => Ok(placeholders(step)),
            StepKind::Http(http) => steps::http::plan(self, step, http, scope, planned),
        }
    }
}

/// How many names of the endpoints a target matches a live plan shows.
const SURVEY_NAMES: usize = 20;

/// What `--live` found out about a target, as detail lines and in the step's `live` object:
/// the endpoints that match now with the first of their names, and the offline ones apart
/// (a question cannot ask them, so whether they match is not known).
fn show_survey(survey: &TargetSurvey, details: &mut Vec<String>, live: &mut Map<String, Value>) {
    let count = survey.matching;
    let mut line = format!("live: {count} endpoint(s) match now");
    if !survey.names.is_empty() {
        line.push_str(": ");
        line.push_str(&survey.names.join(", "));
        let more = count.saturating_sub(survey.names.len() as u64);
        if more > 0 {
            line.push_str(&format!(" and {more} more"));
        }
    }
    details.push(line);
    live.insert("endpoints".to_owned(), json!(count));
    live.insert("endpoint_names".to_owned(), json!(survey.names));
    match &survey.offline {
        Ok(offline) => {
            details.push(format!(
                "live: {offline} endpoint(s) offline, not asked: any of them that match are not counted, and an action reaches them if they come online before it expires"
            ));
            live.insert("offline_endpoints".to_owned(), json!(offline));
        }
        Err(why) => {
            details.push(format!("live: offline endpoints not known ({why})"));
            live.insert("offline_endpoints".to_owned(), Value::Null);
            live.insert("offline_endpoints_unknown".to_owned(), json!(why));
        }
    }
}

/// plan --live: whether a question's sensors (or its saved question) exist. A saved question
/// named by a value only a run can tell is not looked up.
async fn check_question(
    platform: &dyn Platform,
    question: &QuestionRequest,
    step: &mut PlanStep,
    live: &mut Map<String, Value>,
    problems: &mut Vec<String>,
) {
    let what = match question {
        QuestionRequest::Saved { name_or_id } if is_placeholder(name_or_id) => {
            step.details.push(format!(
                "live: the saved question {name_or_id} is only known at run time: not looked up"
            ));
            return;
        }
        QuestionRequest::Saved { name_or_id } => {
            format!("the saved question `{name_or_id}` exists")
        }
        QuestionRequest::Sensors { get, .. } => {
            let names: Vec<String> = get
                .iter()
                .map(|select| format!("`{}`", select.sensor))
                .collect();
            format!("sensor(s) {} exist", names.join(", "))
        }
    };
    match platform.check_question(question).await {
        Ok(()) => {
            step.details.push(format!("live: {what}"));
            live.insert("question_exists".to_owned(), Value::Bool(true));
        }
        Err(error) => {
            live.insert("question_exists".to_owned(), Value::Bool(false));
            problems.push(format!("step `{}`: {error}", step.id));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_survey_shows_the_first_names_and_the_offline_count_apart() {
        let mut details = Vec::new();
        let mut live = Map::new();
        let survey = TargetSurvey {
            matching: 5,
            names: vec!["a".to_owned(), "B".to_owned()],
            offline: Ok(4),
        };
        show_survey(&survey, &mut details, &mut live);
        assert_eq!(details[0], "live: 5 endpoint(s) match now: a, B and 3 more");
        assert!(details[1].starts_with("live: 4 endpoint(s) offline, not asked"));
        assert_eq!(
            Value::Object(live),
            json!({"endpoints": 5, "endpoint_names": ["a", "B"], "offline_endpoints": 4})
        );

        let mut details = Vec::new();
        let mut live = Map::new();
        let survey = TargetSurvey {
            matching: 0,
            names: Vec::new(),
            offline: Err("permission refused".to_owned()),
        };
        show_survey(&survey, &mut details, &mut live);
        assert_eq!(
            details,
            [
                "live: 0 endpoint(s) match now",
                "live: offline endpoints not known (permission refused)"
            ]
        );
        assert_eq!(live["offline_endpoints"], Value::Null);
        assert_eq!(live["offline_endpoints_unknown"], "permission refused");
    }
}

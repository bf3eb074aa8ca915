//! What `run --plan` checks: the plan against what is true now, before anything is sent and
//! before each `issue` step sends its action.

use super::*;

/// How far an endpoint count may move from the plan's: `--count-tolerance`, a percentage of
/// the planned count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub percent: f64,
}

impl Tolerance {
    /// `10%` or `10`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = text.trim().trim_end_matches('%').trim();
        match number.parse::<f64>() {
            Ok(percent) if percent.is_finite() && percent >= 0.0 => Ok(Tolerance { percent }),
            _ => Err(format!(
                "`{text}` is not a percentage (e.g. 10% lets the count move by a tenth)"
            )),
        }
    }

    /// Whether `now` is within the tolerance of `planned`.
    pub fn allows(self, planned: u64, now: u64) -> bool {
        let moved = planned.abs_diff(now) as f64;
        moved <= planned as f64 * self.percent / 100.0
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.percent)
    }
}

/// A plan file accepted for a run: the checks before anything is sent and before each
/// `issue`.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub file: PlanFile,
    pub tampered: bool,
    pub tolerance: Tolerance,
}

impl Reviewed {
    /// Whether the plan's time is up.
    pub fn expired(&self, now: DateTime<Utc>) -> Option<String> {
        match DateTime::parse_from_rfc3339(&self.file.expires_at) {
            Ok(expires) if now <= expires.with_timezone(&Utc) => None,
            Ok(_) => Some(format!(
                "the plan expired at {} (made at {}); make a new one",
                self.file.expires_at, self.file.created_at
            )),
            Err(_) => Some(format!(
                "the plan's expires_at `{}` is not a time",
                self.file.expires_at
            )),
        }
    }

    /// What the plan file itself says against running it: edited, expired, not applyable.
    pub fn file_differences(&self) -> Vec<String> {
        let mut differences = Vec::new();
        if self.tampered {
            differences.push(TAMPERED.to_owned());
        }
        if let Some(expired) = self.expired(Utc::now()) {
            differences.push(expired);
        }
        if !self.file.applyable {
            let why = if self.file.problems.is_empty() {
                String::new()
            } else {
                format!(": {}", self.file.problems.join("; "))
            };
            differences.push(format!("the plan is not applyable{why}"));
        }
        differences
    }

    /// What differs before anything is sent and without asking the server: the file itself,
    /// its time, the playbook, the inputs and the server.
    pub fn differences(
        &self,
        playbook_text: &str,
        playbook: &Playbook,
        inputs: &IndexMap<String, Value>,
        server: Option<&str>,
    ) -> Vec<String> {
        let mut differences = self.file_differences();
        let sha256 = sha256_hex(playbook_text.as_bytes());
        if sha256 != self.file.playbook.sha256 {
            differences.push(format!(
                "the playbook {} changed since the plan (sha256 {} planned, {} now)",
                self.file.playbook.path,
                short(&self.file.playbook.sha256),
                short(&sha256)
            ));
        }
        differences.extend(input_differences(&self.file.inputs, playbook, inputs));
        if server != self.file.server.as_deref() {
            differences.push(format!(
                "the server differs: planned against {}, this run goes to {}",
                server_text(self.file.server.as_deref()),
                server_text(server)
            ));
        }
        differences
    }

    /// What differs on the server, from a live plan made now (with its fingerprints) compared
    /// with the file's: each `issue` step's package, parameter definition, target text,
    /// endpoint count and action group, and problems the plan did not have.
    pub fn live_differences(
        &self,
        playbook: &Playbook,
        now: &Plan,
        definitions: &BTreeMap<u64, String>,
    ) -> Vec<String> {
        let mut differences: Vec<String> = now
            .problems
            .iter()
            .map(|problem| format!("the plan cannot run now: {problem}"))
            .collect();
        let current = resolve_issue_steps(playbook, now, definitions);
        for step in &self.file.steps {
            let Some(planned) = &step.resolved else {
                continue;
            };
            let id = step
                .plan
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(found) = current.get(id) else {
                differences.push(format!(
                    "step `{id}`: planned to issue an action, which the playbook no longer does"
                ));
                continue;
            };
            let now_found = Found {
                package_id: found.package_id,
                definition: found.parameter_definition_sha256.clone(),
                target_text: found.target_text.clone(),
                endpoints: found.endpoints,
                action_group_id: found.action_group_id,
            };
            differences.extend(self.step_differences(planned, id, &now_found));
        }
        differences
    }

    /// What differs for one `issue` step between the plan and what is true now.
    fn step_differences(&self, planned: &Resolved, step_id: &str, now: &Found) -> Vec<String> {
        let mut differences = Vec::new();
        let mut note = |what: String| differences.push(format!("step `{step_id}`: {what}"));
        if let Some(planned_id) = planned.package_id
            && now.package_id != Some(planned_id)
        {
            note(format!(
                "the package id changed: {planned_id} planned, {} now",
                optional(now.package_id)
            ));
        } else if let (Some(planned_hash), Some(now_hash)) =
            (&planned.parameter_definition_sha256, &now.definition)
            && planned_hash != now_hash
        {
            note(format!(
                "the parameter definition of package {} changed (sha256 {} planned, {} now)",
                optional(planned.package_id),
                short(planned_hash),
                short(now_hash)
            ));
        }
        if let Some(planned_text) = &planned.target_text
            && let Some(now_text) = &now.target_text
            && planned_text != now_text
        {
            note(format!(
                "the target text changed: `{planned_text}` planned, `{now_text}` now"
            ));
        }
        if let (Some(planned_count), Some(now_count)) = (planned.endpoints, now.endpoints)
            && !self.tolerance.allows(planned_count, now_count)
        {
            note(format!(
                "the target matched {planned_count} endpoint(s) when planned and {now_count} now, beyond --count-tolerance {}",
                self.tolerance
            ));
        }
        if let Some(planned_group) = planned.action_group_id
            && let Some(now_group) = now.action_group_id
            && planned_group != now_group
        {
            note(format!(
                "the action group id changed: {planned_group} planned, {now_group} now"
            ));
        }
        differences
    }

    /// The `resolved` values the plan holds for a step.
    fn resolved(&self, step_id: &str) -> Option<&Resolved> {
        self.file
            .steps
            .iter()
            .find(|step| step.plan.get("id").and_then(Value::as_str) == Some(step_id))
            .and_then(|step| step.resolved.as_ref())
    }
}

/// What is true now of an `issue` step, as compared with a plan's [`Resolved`].
struct Found {
    package_id: Option<u64>,
    definition: Option<String>,
    target_text: Option<String>,
    endpoints: Option<u64>,
    action_group_id: Option<u64>,
}

/// Non-secret inputs that differ between the plan and this run, by the current playbook's
/// declarations; secret ones are given again and never compared.
fn input_differences(
    planned: &Map<String, Value>,
    playbook: &Playbook,
    inputs: &IndexMap<String, Value>,
) -> Vec<String> {
    let secret = |name: &str| {
        playbook
            .inputs
            .get(name)
            .is_some_and(|declaration| declaration.secret)
    };
    let mut names: Vec<&String> = planned.keys().chain(inputs.keys()).collect();
    names.sort();
    names.dedup();
    let mut differences = Vec::new();
    for name in names {
        if secret(name) {
            continue;
        }
        match (planned.get(name), inputs.get(name)) {
            (Some(before), Some(now)) if before == now => {}
            (Some(before), Some(now)) => differences.push(format!(
                "input `{name}` differs: {before} planned, {now} now"
            )),
            (Some(before), None) => differences.push(format!(
                "input `{name}` was {before} in the plan and is not an input of the playbook now"
            )),
            (None, Some(now)) => differences.push(format!(
                "input `{name}` is {now} now and was not in the plan"
            )),
            (None, None) => {}
        }
    }
    differences
}

fn server_text(server: Option<&str>) -> String {
    server.map_or_else(
        || "no server (set TANIUM_URL, or give --sim for a plan made with --sim)".to_owned(),
        |server| format!("`{server}`"),
    )
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "none".to_owned(), |value| value.to_string())
}

/// The first 12 hex digits of a hash, enough to tell two apart in a message.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The check right before each `issue` step sends: the plan has not expired, and the package,
/// its parameter definition, the target text, the endpoint count and the action group are
/// still those the plan resolved. Remembers a refusal, so that `run` exits 3.
#[derive(Debug)]
pub struct PlanIssueGuard {
    reviewed: Reviewed,
    platform: Arc<TaniumPlatform>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl PlanIssueGuard {
    pub fn new(reviewed: Reviewed, platform: Arc<TaniumPlatform>) -> Self {
        PlanIssueGuard {
            reviewed,
            platform,
            refused: Arc::default(),
        }
    }

    /// What it refused, if anything (shared with the guard the run holds).
    pub fn refusals(&self) -> Arc<Mutex<Vec<String>>> {
        self.refused.clone()
    }
}

#[async_trait::async_trait]
impl IssueGuard for PlanIssueGuard {
    async fn before_issue(&self, check: &IssueCheck) -> Result<(), String> {
        let mut differences = Vec::new();
        if let Some(expired) = self.reviewed.expired(Utc::now()) {
            differences.push(expired);
        }
        if let Some(planned) = self.reviewed.resolved(&check.step_id) {
            let definition = match &planned.parameter_definition_sha256 {
                None => None,
                Some(_) => match self
                    .platform
                    .package_parameter_definition(check.package_id)
                    .await
                {
                    Ok(definition) => Some(definition_sha256(&definition)),
                    Err(error) => {
                        differences.push(format!(
                            "step `{}`: the parameter definition of package {} could not be read: {error}",
                            check.step_id, check.package_id
                        ));
                        None
                    }
                },
            };
            let found = Found {
                package_id: Some(check.package_id),
                definition,
                target_text: check.target_text.clone(),
                endpoints: Some(check.targeted),
                action_group_id: Some(check.action_group_id),
            };
            differences.extend(
                self.reviewed
                    .step_differences(planned, &check.step_id, &found),
            );
        }
        if differences.is_empty() {
            return Ok(());
        }
        let message = format!(
            "the reviewed plan no longer holds:\n  - {}",
            differences.join("\n  - ")
        );
        if let Ok(mut refused) = self.refused.lock() {
            refused.extend(differences);
        }
        Err(message)
    }
}

//! Reviewed plans: the file `runbook plan --out` writes and `runbook run --plan` carries out
//! ([docs/plans.md](../../../docs/plans.md)), on the model of Terraform's `plan -out` and
//! `apply planfile`, which refuses a stale plan.
//!
//! A plan file records what was reviewed: the playbook (its path and the SHA-256 of its
//! text), the inputs (secret ones as a marker only), the server, the engine's plan of every
//! step and, for a live plan, what each `issue` step resolved (package id, a hash of its
//! parameter definition, target text, endpoint count, action group id). Its `digest` is the
//! SHA-256 of its canonical content ([`canonical_json`]), so that an edited file is refused.
//!
//! `run --plan` compares the plan with what is true now before anything is sent
//! ([`Reviewed::differences`], [`Reviewed::live_differences`]) and again right before each
//! `issue` step sends its action ([`PlanIssueGuard`], the engine's `IssueGuard`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use indexmap::IndexMap;
use runbook_engine::{IssueCheck, IssueGuard, Plan, Templates};
use runbook_playbook::{Playbook, StepKind};
use runbook_tanium::TaniumPlatform;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::connect::UsageError;

/// The `format` of the plan files this version writes and reads.
pub const FORMAT: &str = "runbook-plan/1";

/// The most bytes of a plan file `run --plan` reads.
const MAX_PLAN_BYTES: u64 = 16 << 20;

/// The exit status of `run --plan` when the plan no longer holds (nothing was issued).
pub const STALE_PLAN: u8 = 3;

/// A plan file, as written and read. Field order is the order of the written file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// SHA-256 (lowercase hex) of the canonical content: everything but this field.
    pub digest: String,
    /// When the plan was made, RFC 3339 UTC, whole seconds.
    pub created_at: String,
    /// `created_at` plus `--ttl`: `run --plan` refuses the plan after this.
    pub expires_at: String,
    /// Whether the plan can run: false when it has problems (inputs that do not fit, the
    /// guard, an unknown package with --live, ...).
    pub applyable: bool,
    /// Why it cannot run, one problem each.
    pub problems: Vec<String>,
    /// Made with `--live`: the `issue` steps' `resolved` values were read from the server.
    pub live: bool,
    pub playbook: PlannedPlaybook,
    /// Where the plan was made and the run must go: the Tanium URL without credentials,
    /// `sim:in-process` for `--sim`, `sim:state:<absolute path>` with `--sim-state`, or null
    /// when none was given.
    pub server: Option<String>,
    /// Every input as bound (defaults filled in); a secret input is `{"secret": true}`.
    pub inputs: Map<String, Value>,
    /// The engine's plan of each step (id, kind, name, condition, details, requests, live)
    /// and, for an `issue` step of a live plan, what it resolved.
    pub steps: Vec<PlannedStep>,
    /// The run's outputs as far as a plan can tell (placeholders otherwise).
    pub outputs: Value,
}

/// The playbook a plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPlaybook {
    /// Its `name:`.
    pub name: String,
    /// The path given to `runbook plan`, as given (a relative path is relative to the folder
    /// `plan` ran in, and `run --plan` reads it relative to its own).
    pub path: String,
    /// SHA-256 (lowercase hex) of the file's bytes.
    pub sha256: String,
}

/// One step of a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// The engine's plan of the step, as `runbook plan --format json` prints it.
    #[serde(flatten)]
    pub plan: Map<String, Value>,
    /// An `issue` step of a live plan: what it resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Resolved>,
}

/// What a live plan resolved for an `issue` step: what `run --plan` compares before it
/// sends the step's action. A value the plan could not tell (a target whose clauses hold a
/// value only a run knows, a package not named by a `parameterize` step) is null and not
/// compared.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resolved {
    /// The `parameterize` step whose package the action runs.
    pub package_step: Option<String>,
    pub package_id: Option<u64>,
    /// SHA-256 of the canonical JSON of the package's `parameter_definition` (of `null` for
    /// a package without parameters).
    pub parameter_definition_sha256: Option<String>,
    /// The `target` step whose group the action goes to.
    pub target_step: Option<String>,
    /// That step's targeting text (empty for a filter group).
    pub target_text: Option<String>,
    /// The endpoints the target matched when planned.
    pub endpoints: Option<u64>,
    pub action_group_id: Option<u64>,
}

/// `value` as canonical JSON: object keys sorted by their UTF-8 bytes at every depth, no
/// whitespace, strings escaped and numbers written as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|key| (key.clone(), sorted(&map[key])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The digest of a plan file's content: SHA-256 of the canonical JSON of the whole document
/// without its `digest` key.
pub fn digest_of(document: &Value) -> String {
    let mut content = document.clone();
    if let Some(map) = content.as_object_mut() {
        map.shift_remove("digest");
    }
    sha256_hex(canonical_json(&content).as_bytes())
}

/// The fingerprint of a package's parameter definition.
pub fn definition_sha256(definition: &Value) -> String {
    sha256_hex(canonical_json(definition).as_bytes())
}

/// RFC 3339, UTC, whole seconds: how a plan file writes times.
fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What `runbook plan --out` knows when it writes the file.
pub struct Made<'a> {
    pub playbook_path: &'a Path,
    pub playbook_text: &'a str,
    pub playbook: &'a Playbook,
    /// Bound inputs; `None` when they did not fit (the plan is then not applyable).
    pub inputs: Option<&'a IndexMap<String, Value>>,
    pub plan: Option<&'a Plan>,
    pub problems: Vec<String>,
    pub server: Option<String>,
    pub live: bool,
    /// Package id to the fingerprint of its parameter definition (live plans).
    pub definitions: &'a BTreeMap<u64, String>,
    pub ttl: Duration,
}

impl Made<'_> {
    /// The plan file, its digest computed.
    pub fn to_file(&self, now: DateTime<Utc>) -> anyhow::Result<PlanFile> {
        let expires =
            now + chrono::Duration::from_std(self.ttl).context("the --ttl is too long")?;
        let inputs = self
            .inputs
            .map(|inputs| recorded_inputs(self.playbook, inputs))
            .unwrap_or_default();
        let mut steps = Vec::new();
        if let Some(plan) = self.plan {
            let resolved = if self.live {
                resolve_issue_steps(self.playbook, plan, self.definitions)
            } else {
                BTreeMap::new()
            };
            for step in &plan.steps {
                let Value::Object(map) = serde_json::to_value(step)? else {
                    anyhow::bail!("a planned step is not a JSON object");
                };
                steps.push(PlannedStep {
                    plan: map,
                    resolved: resolved.get(&step.id).cloned(),
                });
            }
        }
        let mut file = PlanFile {
            format: FORMAT.to_owned(),
            digest: String::new(),
            created_at: time_text(now),
            expires_at: time_text(expires),
            applyable: self.problems.is_empty(),
            problems: self.problems.clone(),
            live: self.live,
            playbook: PlannedPlaybook {
                name: self.playbook.name.clone(),
                path: self.playbook_path.display().to_string(),
                sha256: sha256_hex(self.playbook_text.as_bytes()),
            },
            server: self.server.clone(),
            inputs,
            steps,
            outputs: self
                .plan
                .map(|plan| plan.outputs.clone())
                .unwrap_or(Value::Null),
        };
        file.digest = digest_of(&serde_json::to_value(&file)?);
        Ok(file)
    }
}

/// Inputs as a plan file records them: a secret one as a marker, never its value nor a hash
/// of it.
fn recorded_inputs(playbook: &Playbook, inputs: &IndexMap<String, Value>) -> Map<String, Value> {
    inputs
        .iter()
        .map(|(name, value)| {
            let secret = playbook
                .inputs
                .get(name)
                .is_some_and(|declaration| declaration.secret);
            let shown = if secret {
                json!({"secret": true})
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The `steps.<id>` an expression names first, if any.
fn referenced_step(templates: &Templates, value: &Value) -> Option<String> {
    templates.value_references(value).iter().find_map(|name| {
        name.strip_prefix("steps.")?
            .split('.')
            .next()
            .map(str::to_owned)
    })
}

/// What each `issue` step of a live plan resolved, by step id, from the live findings of
/// the steps it names (its target's and its package's) and its own.
pub fn resolve_issue_steps(
    playbook: &Playbook,
    plan: &Plan,
    definitions: &BTreeMap<u64, String>,
) -> BTreeMap<String, Resolved> {
    let templates = Templates::new();
    let planned = |id: &str| plan.steps.iter().find(|step| step.id == id);
    let live_of = |id: &str| planned(id).and_then(|step| step.live.clone());
    let mut resolved = BTreeMap::new();
    for step in &playbook.steps {
        let StepKind::Issue(issue) = &step.kind else {
            continue;
        };
        let Some(own) = planned(&step.id) else {
            continue;
        };
        if own.condition == runbook_engine::Condition::Skipped {
            continue;
        }
        let target_step = referenced_step(&templates, &issue.target.value);
        let package_step = referenced_step(&templates, &issue.package.value);
        let target_live = target_step.as_deref().and_then(live_of);
        // The text is compared only when the plan could ask what it matches: a text holding a
        // value only a run can tell is not what the run will send.
        let target_text = target_live
            .as_ref()
            .filter(|live| live.get("endpoints").is_some())
            .and_then(|_| target_step.as_deref().and_then(planned))
            .map(|target| {
                target
                    .requests
                    .iter()
                    .find_map(|request| {
                        request
                            .body
                            .as_ref()?
                            .get("text")?
                            .as_str()
                            .map(str::to_owned)
                    })
                    .unwrap_or_default()
            });
        let package_id = package_step
            .as_deref()
            .and_then(live_of)
            .and_then(|live| live.get("package_id").and_then(Value::as_u64));
        let own_live = own.live.clone().unwrap_or(Value::Null);
        resolved.insert(
            step.id.clone(),
            Resolved {
                package_step,
                package_id,
                parameter_definition_sha256: package_id
                    .and_then(|id| definitions.get(&id).cloned()),
                target_step,
                target_text,
                endpoints: target_live
                    .as_ref()
                    .and_then(|live| live.get("endpoints"))
                    .and_then(Value::as_u64),
                action_group_id: own_live.get("action_group_id").and_then(Value::as_u64),
            },
        );
    }
    resolved
}

/// The package ids a live plan found (its `parameterize` steps').
pub fn planned_packages(plan: &Plan) -> Vec<u64> {
    let mut ids: Vec<u64> = plan
        .steps
        .iter()
        .filter_map(|step| step.live.as_ref()?.get("package_id")?.as_u64())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The fingerprints of the parameter definitions of `package_ids`, read from the server; a
/// package that cannot be read is a problem of the plan.
pub async fn fingerprint_packages(
    platform: &TaniumPlatform,
    package_ids: &[u64],
    problems: &mut Vec<String>,
) -> BTreeMap<u64, String> {
    let mut definitions = BTreeMap::new();
    for &id in package_ids {
        match platform.package_parameter_definition(id).await {
            Ok(definition) => {
                definitions.insert(id, definition_sha256(&definition));
            }
            Err(error) => problems.push(format!(
                "package {id}: its parameter definition could not be read: {error}"
            )),
        }
    }
    definitions
}

/// Writes the plan file: pretty JSON, mode 0600, through a temporary file in the same folder
/// renamed over the target, so that a reader never sees half a plan.
pub fn write(path: &Path, file: &PlanFile) -> anyhow::Result<()> {
    let text = format!("{}\n", serde_json::to_string_pretty(file)?);
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| UsageError(format!("--out {}: not a file name", path.display())))?;
    let temporary = folder.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut out = options.open(&temporary)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(UsageError(format!(
            "cannot write the plan to {}: {error}",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// A plan file read back, with the one difference its own content may show: a digest that
/// does not match (the file was edited).
#[derive(Debug)]
pub struct Read {
    pub file: PlanFile,
    pub tampered: bool,
}

/// What a plan file that was edited out of shape is refused with.
pub const TAMPERED: &str =
    "the plan file was changed after it was written: its digest does not match its content";

/// A plan file edited so that it no longer reads as one (its digest does not match).
#[derive(Debug, thiserror::Error)]
#[error("{TAMPERED}")]
pub struct Tampered;

/// Reads a plan file; a file that is not one is a usage error, one edited out of shape is
/// [`Tampered`].
pub fn read(path: &Path) -> anyhow::Result<Read> {
    let usage = |why: String| anyhow::Error::from(UsageError(why));
    let metadata = std::fs::metadata(path)
        .map_err(|error| usage(format!("cannot read the plan {}: {error}", path.display())))?;
    if !metadata.is_file() {
        return Err(usage(format!("the plan {} is not a file", path.display())));
    }
    if metadata.len() > MAX_PLAN_BYTES {
        return Err(usage(format!(
            "the plan {} is larger than {} MiB",
            path.display(),
            MAX_PLAN_BYTES >> 20
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| usage(format!("cannot read the plan {}: {error}", path.display())))?;
    let document: Value = serde_json::from_str(&text).map_err(|error| {
        usage(format!(
            "{} is not a plan file (not JSON: {error})",
            path.display()
        ))
    })?;
    match document.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(usage(format!(
                "{} is a plan of format `{other}`; this runbook reads `{FORMAT}`",
                path.display()
            )));
        }
        None => {
            return Err(usage(format!(
                "{} is not a plan file (no `format: {FORMAT}`)",
                path.display()
            )));
        }
    }
    let recorded = document
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let tampered = recorded != digest_of(&document);
    let file: PlanFile = match serde_json::from_value(document) {
        Ok(file) => file,
        // Edited out of shape: refused as an edited plan (exit 3), not as a usage error.
        Err(_) if tampered => return Err(Tampered.into()),
        Err(error) => {
            return Err(usage(format!(
                "{} is not a plan file: {error}",
                path.display()
            )));
        }
    };
    Ok(Read { file, tampered })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_without_whitespace() {
        let value = json!({"b": [ {"z": 1, "a": "x y"} ], "a": {"d": null, "c": true}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":true,"d":null},"b":[{"a":"x y","z":1}]}"#
        );
    }

    #[test]
    fn the_digest_leaves_the_digest_out_and_sees_any_other_change() {
        let document = json!({"format": FORMAT, "digest": "x", "applyable": true});
        let digest = digest_of(&document);
        assert_eq!(
            digest,
            digest_of(&json!({"applyable": true, "format": FORMAT}))
        );
        assert_eq!(
            digest,
            sha256_hex(br#"{"applyable":true,"format":"runbook-plan/1"}"#)
        );
        assert_ne!(
            digest,
            digest_of(&json!({"format": FORMAT, "digest": "x", "applyable": false}))
        );
    }

    #[test]
    fn a_count_tolerance_is_a_share_of_the_planned_count() {
        let exact = Tolerance::parse("0%").unwrap();
        assert!(exact.allows(3, 3));
        assert!(!exact.allows(3, 4));
        let tenth = Tolerance::parse("10%").unwrap();
        assert!(tenth.allows(20, 22));
        assert!(tenth.allows(20, 18));
        assert!(!tenth.allows(20, 23));
        assert_eq!(Tolerance::parse("50").unwrap().percent, 50.0);
        assert!(Tolerance::parse("-1%").is_err());
        assert!(Tolerance::parse("lots").is_err());
    }
}

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

mod checks;

pub use checks::*;

#[cfg(test)]
mod tests;

//! The Tanium objects the adapter reads, decoded leniently from `data`.
//!
//! Only the fields a runbook needs are kept. Each type has a `from_data` that reads an answer's
//! `data` (already unwrapped from the envelope) and reports the path of any field it cannot read.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::lenient::{Node, single_object};
use crate::parameters::{self, ParameterDefinition};

/// A computer group (filter group or the ad-hoc group made from targeting text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group id.
    pub id: u64,
    /// The group name; empty for ad-hoc groups.
    pub name: String,
    /// The group's filter text, trimmed (servers send it with a leading space).
    pub text: String,
    /// Whether the group is a filter group (send `filter_flag` when targeting it).
    pub filter_flag: bool,
}

impl Group {
    /// Reads a group from a `groups/{id}` or `groups/by-name/{name}` answer's `data`.
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let node = single_object(data, "data")?;
        Ok(Group {
            id: node.req_u64("id")?,
            name: node.opt_string("name")?.unwrap_or_default(),
            text: node
                .opt_string("text")?
                .unwrap_or_default()
                .trim()
                .to_owned(),
            filter_flag: node.flag_or_false("filter_flag")?,
        })
    }
}

/// An action group: the parent group of machines an action may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionGroup {
    /// The group id.
    pub id: u64,
    /// The group name.
    pub name: String,
}

impl ActionGroup {
    /// Reads an action group from an `action_groups/...` answer's `data`.
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let node = single_object(data, "data")?;
        Ok(ActionGroup {
            id: node.req_u64("id")?,
            name: node.opt_string("name")?.unwrap_or_default(),
        })
    }
}

/// A package: what an action runs, with its parameter definitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Package {
    /// The package id (sent as `package_spec.source_id`).
    pub id: u64,
    /// The package name.
    pub name: String,
    /// The display name (may be empty).
    pub display_name: String,
    /// The command line, with `$N` where parameter values go.
    pub command: String,
    /// The package's default expiry in seconds.
    pub expire_seconds: u64,
    /// Whether the package verifies its result: then only `Verified` means success.
    pub verify: bool,
    /// The parameters, separators skipped.
    pub parameters: Vec<ParameterDefinition>,
    /// The `parameter_definition` as the server holds it, parsed (`null` when the package has
    /// none; the text itself when it is not JSON): what a reviewed plan fingerprints.
    pub parameter_definition: Value,
}

impl Package {
    /// Reads a package from a `packages/...` answer's `data`.
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let node = single_object(data, "data")?;
        // A package verifies when either form of its verify group is non-zero (pytan
        // `_derive_verify_enabled`, py_tanrestapi).
        let verify = node.opt_u64("verify_group_id")?.unwrap_or(0) != 0
            || node.nested_id("verify_group")?.is_some();
        let parameters = parameter_definitions(&node)?;
        Ok(Package {
            id: node.req_u64("id")?,
            name: node.opt_string("name")?.unwrap_or_default(),
            display_name: node.opt_string("display_name")?.unwrap_or_default(),
            command: node.opt_string("command")?.unwrap_or_default(),
            expire_seconds: node.opt_u64("expire_seconds")?.unwrap_or(0),
            verify,
            parameters,
            parameter_definition: raw_parameter_definition(&node),
        })
    }
}

/// A package's `parameter_definition` as it is: a JSON string parsed, an object kept.
fn raw_parameter_definition(node: &Node<'_>) -> Value {
    match node
        .field("parameter_definition")
        .node()
        .map(|node| node.value())
    {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(text)) if text.trim().is_empty() => Value::Null,
        Some(Value::String(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        Some(other) => other.clone(),
    }
}

/// An action's state as the server reports it, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ActionState {
    /// Waiting for approval, or not started yet.
    Pending,
    /// Being distributed and run.
    Active,
    /// Running (older servers).
    Open,
    /// Finished its active period.
    Closed,
    /// Stopped by a user.
    Stopped,
    /// Expired.
    Expired,
    /// A value this adapter does not know, kept as sent.
    Other(String),
}

impl ActionState {
    /// Parses the action `status` text.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "pending" => ActionState::Pending,
            "active" => ActionState::Active,
            "open" => ActionState::Open,
            "closed" => ActionState::Closed,
            "stopped" => ActionState::Stopped,
            "expired" => ActionState::Expired,
            _ => ActionState::Other(text.trim().to_owned()),
        }
    }

    /// Whether the action can make no further progress (stopped or expired).
    pub fn is_terminal_failure(&self) -> bool {
        matches!(self, ActionState::Stopped | ActionState::Expired)
    }
}

/// An issued action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The action id.
    pub id: u64,
    /// The action name.
    pub name: String,
    /// Its state.
    pub status: ActionState,
    /// Whether it was stopped.
    pub stopped_flag: bool,
    /// The saved action behind it (carries the approval flag).
    pub saved_action_id: Option<u64>,
    /// When it expires; `None` while pending (Tanium sends the 2001 null date).
    pub expiration_time: Option<DateTime<Utc>>,
    /// The package it runs (the derived package's id; see docs/tanium-api.md).
    pub package_id: Option<u64>,
    /// The group it targets.
    pub target_group_id: Option<u64>,
}

impl Action {
    /// Reads an action from an `actions/...` answer's `data`.
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let node = single_object(data, "data")?;
        Self::from_node(node)
    }

    pub(crate) fn from_node(node: Node<'_>) -> Result<Self, Error> {
        let status = node.opt_string("status")?.unwrap_or_default();
        let expiration_time = match node.field("expiration_time").node() {
            Some(time) => time.as_time()?,
            None => None,
        };
        Ok(Action {
            id: node.req_u64("id")?,
            name: node.opt_string("name")?.unwrap_or_default(),
            status: ActionState::parse(&status),
            stopped_flag: node.flag_or_false("stopped_flag")?,
            saved_action_id: node.nested_id("saved_action")?,
            expiration_time,
            package_id: node.nested_id("package_spec")?,
            target_group_id: node.nested_id("target_group")?,
        })
    }
}

/// Reads an object's `parameter_definition`: a JSON string (decoded here), an object (some
/// tools store it decoded), or nothing (no parameters).
fn parameter_definitions(node: &Node<'_>) -> Result<Vec<ParameterDefinition>, Error> {
    let child = node.field("parameter_definition");
    let Some(definition) = child.node() else {
        return Ok(Vec::new());
    };
    match definition.value() {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => parameters::decode(text).map_err(|err| match err {
            Error::Decode { path, message } => Error::Decode {
                path: format!(
                    "{}{}",
                    definition.path(),
                    path.trim_start_matches("parameter_definition")
                ),
                message,
            },
            other => other,
        }),
        Value::Object(_) => parameters::decode(&definition.value().to_string()),
        _ => Err(Error::decode(definition.path(), "expected a JSON string")),
    }
}

/// A sensor: what a question reads on each machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sensor {
    /// The sensor id.
    pub id: u64,
    /// The sensor name.
    pub name: String,
    /// The sensor's hash, which names it in a question (above 2^31; a string in some answers).
    pub hash: u64,
    /// The parameters, separators skipped; keys are names (`dirname`), not `$N`.
    pub parameters: Vec<ParameterDefinition>,
}

impl Sensor {
    /// Reads a sensor from a `sensors/by-name/{name}` or `sensors/{id}` answer's `data`.
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let node = single_object(data, "data")?;
        Ok(Sensor {
            id: node.opt_u64("id")?.unwrap_or(0),
            name: node.opt_string("name")?.unwrap_or_default(),
            hash: node.req_u64("hash")?,
            // Keys are names; should a server send them wrapped as questions carry them
            // (`||dirname||`), they are unwrapped here and wrapped once when asked.
            parameters: parameter_definitions(&node)?
                .into_iter()
                .map(|mut definition| {
                    definition.key = crate::question_requests::bare_key(&definition.key).to_owned();
                    definition
                })
                .collect(),
        })
    }
}

/// A saved question, and the question the server last asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedQuestion {
    /// The saved question's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The newest question asked for it: `question.id` or `most_recent_question_id`, whichever
    /// is newer (ids grow); none when it was never asked.
    pub question_id: Option<u64>,
}

impl SavedQuestion {
    /// Reads a saved question from a `saved_questions/...` answer's `data`.
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let node = single_object(data, "data")?;
        let question = node.nested_id("question")?;
        let most_recent = node
            .opt_u64("most_recent_question_id")?
            .filter(|id| *id != 0);
        Ok(SavedQuestion {
            id: node.req_u64("id")?,
            name: node.opt_string("name")?.unwrap_or_default(),
            question_id: question.max(most_recent),
        })
    }
}

/// Progress of a question (from `result_info/question/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuestionProgress {
    /// Machines that have answered.
    pub mr_tested: u64,
    /// Machines expected to answer.
    pub estimated_total: u64,
    /// Machines that passed the question's filter.
    pub passed: u64,
}

impl QuestionProgress {
    /// Reads `data.result_infos[0]` (or a bare result info object).
    pub fn from_data(data: &Value) -> Result<Self, Error> {
        let root = Node::root(data, "data");
        let infos = root.field("result_infos");
        let info_node;
        let node = match infos.node() {
            Some(list) => {
                info_node = list.index(0);
                info_node.required()?
            }
            None => root,
        };
        // Copy out the fields while `node` borrows `info_node`.
        Ok(QuestionProgress {
            mr_tested: node.opt_u64("mr_tested")?.unwrap_or(0),
            estimated_total: node.opt_u64("estimated_total")?.unwrap_or(0),
            passed: node.opt_u64("passed")?.unwrap_or(0),
        })
    }

    /// Whether at least 99% of the expected machines answered (pytan's rule; `mr_tested` may
    /// exceed `estimated_total` on real servers).
    pub fn is_complete(&self) -> bool {
        self.estimated_total > 0 && self.mr_tested * 100 >= self.estimated_total * 99
    }
}

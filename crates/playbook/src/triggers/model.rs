//! The triggers file as read: hooks, their auth, templates and dedup, where each part was
//! written, and what loading returns.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::schedules::Mark;

/// A whole triggers file, as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerFile {
    /// Format version; always 1 for now.
    pub version: u32,
    /// The hooks, in the order written.
    pub triggers: Vec<Trigger>,
}

impl TriggerFile {
    /// The trigger with this name.
    pub fn trigger(&self, name: &str) -> Option<&Trigger> {
        self.triggers.iter().find(|trigger| trigger.name == name)
    }
}

/// How a hook's HMAC signature header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// Lowercase or uppercase hexadecimal (the default).
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

impl Encoding {
    /// Every value, in the order the docs list them.
    pub const ALL: [Encoding; 2] = [Encoding::Hex, Encoding::Base64];

    /// The word used in triggers files.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

/// A signed timestamp: the signature covers `"<timestamp>.<body>"`, and a request older than
/// `max_skew` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTimestamp {
    /// The header carrying the timestamp (Unix seconds).
    pub header: String,
    /// How far the timestamp may be from the server's clock (5 minutes unless given).
    pub max_skew: Duration,
}

/// How a hook proves who calls it. The secret itself is never in the file: it is read from
/// the environment of `runbook serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerAuth {
    /// An HMAC-SHA256 of the raw body (or of `"<timestamp>.<body>"`), in a header.
    Hmac {
        /// The environment variable holding the shared secret.
        secret_env: String,
        /// The header carrying the signature.
        header: String,
        /// Written before the signature in the header (`sha256=`), empty when none.
        prefix: String,
        /// How the signature is written.
        encoding: Encoding,
        /// The signed timestamp, when the sender signs one.
        timestamp: Option<SignedTimestamp>,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The environment variable holding the token.
        token_env: String,
    },
}

impl TriggerAuth {
    /// The environment variable the secret is read from.
    pub fn env_variable(&self) -> &str {
        match self {
            TriggerAuth::Hmac { secret_env, .. } => secret_env,
            TriggerAuth::Bearer { token_env } => token_env,
        }
    }
}

/// Where the parts of one trigger were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TriggerMarks {
    /// The `name` value.
    pub name: Mark,
    /// The `path` value.
    pub path: Mark,
    /// The `playbook` value.
    pub playbook: Mark,
    /// The `inputs` key, when there is one.
    pub inputs: Option<Mark>,
    /// Each input's key.
    pub input_keys: IndexMap<String, Mark>,
    /// Each input's value.
    pub input_values: IndexMap<String, Mark>,
}

/// One entry of `triggers:`: a hook that starts a playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Unique name, `[a-z0-9][a-z0-9_-]*`.
    pub name: String,
    /// Unique path under `/hooks/`; only POST is answered.
    pub path: String,
    /// The name of the playbook it starts (its `name:`, not its file).
    pub playbook: String,
    /// How callers prove who they are.
    pub auth: TriggerAuth,
    /// A template over `body` and `headers`; when it renders false the hook answers 202 and
    /// starts nothing.
    pub when: Option<String>,
    /// Input name to value: a template over `body` and `headers`, or a constant.
    pub inputs: IndexMap<String, Value>,
    /// A template over `body` and `headers`: requests with the same key within
    /// `dedup_window` return the first run and start no other.
    pub dedup: Option<String>,
    /// How long a dedup key is remembered (24 hours unless given).
    pub dedup_window: Duration,
    /// Where its parts were written.
    pub marks: TriggerMarks,
}

/// What [`load_triggers`](crate::load_triggers) could read, and every problem.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedTriggers {
    /// The file, when there is no error-severity diagnostic.
    pub file: Option<TriggerFile>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedTriggers {
    /// True when a diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

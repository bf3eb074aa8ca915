//! The schedules file as read: entries and their words (`overlap`, `catch_up`), where each
//! part was written, and what loading returns.

use chrono_tz::Tz;
use indexmap::IndexMap;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::model::{Playbook, Span};
use crate::yaml::{Entry, Node};

/// A whole schedules file, as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleFile {
    /// Format version; always 1 for now.
    pub version: u32,
    /// The entries, in the order written (disabled ones included).
    pub schedules: Vec<Schedule>,
}

impl ScheduleFile {
    /// The entry with this name.
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|schedule| schedule.name == name)
    }
}

/// What to do when a schedule fires while its previous run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overlap {
    /// Do not start a run for this firing (the default).
    #[default]
    Skip,
    /// Queue the run; it starts when the previous one has finished.
    Queue,
    /// Start it alongside the previous one.
    Allow,
}

impl Overlap {
    /// Every value, in the order the docs list them.
    pub const ALL: [Overlap; 3] = [Overlap::Skip, Overlap::Queue, Overlap::Allow];

    /// The word used in schedules files.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Queue => "queue",
            Overlap::Allow => "allow",
        }
    }
}

/// What to do with firings missed while no `serve` process was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CatchUp {
    /// Drop them; the next firing is the next one in the future (the default).
    #[default]
    None,
    /// Run once for the most recent missed firing.
    Latest,
}

impl CatchUp {
    /// Every value, in the order the docs list them.
    pub const ALL: [CatchUp; 2] = [CatchUp::None, CatchUp::Latest];

    /// The word used in schedules files.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
        }
    }
}

/// Where a key or value was written, for diagnostics that point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// Start of the token.
    pub span: Span,
    /// Width of the token in characters (at least 1).
    pub length: u32,
}

impl Mark {
    pub(crate) fn of_value(node: &Node) -> Self {
        Self {
            span: node.span,
            length: node.length.max(1),
        }
    }

    pub(crate) fn of_key(entry: &Entry) -> Self {
        Self {
            span: entry.key_span,
            length: entry.key_length.max(1),
        }
    }
}

/// Where the parts of one schedule were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleMarks {
    /// The `name` value.
    pub name: Mark,
    /// The `playbook` value.
    pub playbook: Mark,
    /// The `cron` value.
    pub cron: Mark,
    /// The `inputs` key, when there is one.
    pub inputs: Option<Mark>,
    /// Each input's key.
    pub input_keys: IndexMap<String, Mark>,
    /// Each input's value.
    pub input_values: IndexMap<String, Mark>,
}

/// One entry of `schedules:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Unique name, `[a-z0-9][a-z0-9_-]*`; part of every firing key.
    pub name: String,
    /// The playbook path as written, relative to the schedules file's folder (see
    /// [`resolve_playbook_path`](crate::resolve_playbook_path)).
    pub playbook: String,
    /// The cron line as written: five fields, six with seconds first, or a shorthand.
    pub cron: String,
    /// The zone the cron line is read in (UTC unless given).
    pub timezone: Tz,
    /// Inputs given to every run, typed as written in YAML.
    pub inputs: IndexMap<String, Value>,
    /// What to do when the previous run is still going.
    pub overlap: Overlap,
    /// What to do with firings missed during downtime.
    pub catch_up: CatchUp,
    /// Disabled entries are validated but never fire.
    pub enabled: bool,
    /// Where the entry starts.
    pub span: Span,
    /// Where its parts were written.
    pub marks: ScheduleMarks,
}

/// What the caller of [`load_schedules_with_playbooks`](crate::load_schedules_with_playbooks)
/// found at a playbook path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookSource {
    /// The playbook's text, and the name its own diagnostics should carry (usually the
    /// resolved path).
    Text {
        /// File name for the playbook's diagnostics.
        file: String,
        /// The YAML text.
        source: String,
    },
    /// The file could not be read; `reason` says why (e.g. "No such file or directory").
    Unreadable {
        /// Why, in words.
        reason: String,
    },
}

/// What [`load_schedules`](crate::load_schedules) or
/// [`load_schedules_with_playbooks`](crate::load_schedules_with_playbooks) could read, and every
/// problem.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSchedules {
    /// The file, when there is no error-severity diagnostic.
    pub file: Option<ScheduleFile>,
    /// Errors and warnings: the schedules file's in source order, then those of the
    /// playbooks it names.
    pub diagnostics: Vec<Diagnostic>,
    /// The valid playbooks, by path as written in the file (only filled by
    /// [`load_schedules_with_playbooks`](crate::load_schedules_with_playbooks)).
    pub playbooks: IndexMap<String, Playbook>,
}

impl LoadedSchedules {
    /// True when a diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

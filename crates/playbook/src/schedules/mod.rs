//! The schedules file: which playbooks `runbook serve` runs, when, and with which inputs.
//!
//! ```yaml
//! version: 1
//! schedules:
//!   - name: sweep-windows
//!     playbook: ../playbooks/client-log-level.yaml
//!     cron: "0 */6 * * *"
//!     timezone: Europe/Berlin
//!     inputs: { level: 1 }
//! ```
//!
//! [`load_schedules`] reads and checks the file itself (keys, types, names, cron lines, time
//! zones, allowed words); [`load_schedules_with_playbooks`] also loads each playbook through a
//! callback (this crate does no I/O), validates it and checks the schedule's inputs against its
//! declarations. Like [`load`](crate::load), both collect every problem in one pass.

mod cron;
mod schema;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use indexmap::IndexMap;
use serde_json::Value;

use crate::check::{Checker, Owner, is_playbook_name, suggest_playbook_name};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::inputs::{InputError, bind_inputs};
use crate::model::{Playbook, Span};
use crate::suggest::did_you_mean;
use crate::yaml::{self, Entry, Node, NodeKind, Problem};

pub use schema::schedules_json_schema;

const TOP_LEVEL_KEYS: [&str; 2] = ["version", "schedules"];
const SCHEDULE_KEYS: [&str; 8] = [
    "name", "playbook", "cron", "timezone", "inputs", "overlap", "catch_up", "enabled",
];
/// Words other schedulers use, with this format's spelling.
const KEY_ALIASES: [(&str, &str); 10] = [
    ("schedule", "`cron`"),
    ("cron_expression", "`cron`"),
    ("tz", "`timezone`"),
    ("time_zone", "`timezone`"),
    ("disabled", "`enabled: false`"),
    ("params", "`inputs`"),
    ("parameters", "`inputs`"),
    ("args", "`inputs`"),
    ("concurrency", "`overlap`"),
    ("catchup", "`catch_up`"),
];
/// Zone abbreviations people write, with the IANA zone they most often mean.
const ABBREVIATIONS: [(&str, &str); 12] = [
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("MDT", "America/Denver"),
    ("CDT", "America/Chicago"),
    ("CST", "America/Chicago"),
    ("EDT", "America/New_York"),
    ("CEST", "Europe/Berlin"),
    ("BST", "Europe/London"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("AEST", "Australia/Sydney"),
    ("AEDT", "Australia/Sydney"),
];

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
    fn of_value(node: &Node) -> Self {
        Self {
            span: node.span,
            length: node.length.max(1),
        }
    }

    fn of_key(entry: &Entry) -> Self {
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
    /// [`resolve_playbook_path`]).
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

impl Schedule {
    /// Firing times strictly after `after`, in UTC, at most `count` of them, in order.
    ///
    /// The cron line is read on the wall clock of [`Schedule::timezone`]. Daylight saving:
    /// a time of day named by a fixed-time line (no `*` or `/` in its second, minute and hour
    /// fields) that does not exist runs once at the first instant after the gap, and one that
    /// happens twice runs once, at its first occurrence; an interval line (`*/15 * * * *`,
    /// `0 */6 * * *`, `@hourly`) follows real time through both changes. A cron line that
    /// does not parse (only possible for a hand-built `Schedule`) has no firings.
    ///
    /// ```
    /// # use chrono::{TimeZone, Utc};
    /// let file = runbook_playbook::load_schedules(
    ///     "schedules.yaml",
    ///     "version: 1\nschedules:\n  - { name: nightly, playbook: p.yaml, cron: '30 2 * * *', timezone: America/New_York }\n",
    /// ).file.expect("valid");
    /// // 2:30 does not exist in New York on 2026-03-08: the run happens at 3:00 EDT.
    /// let firings = file.schedules[0].next_firings(Utc.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap(), 2);
    /// assert_eq!(firings[0].to_rfc3339(), "2026-03-07T07:30:00+00:00");
    /// assert_eq!(firings[1].to_rfc3339(), "2026-03-08T07:00:00+00:00");
    /// ```
    pub fn next_firings(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        match cron::parse_cron(&self.cron) {
            Ok(line) => line.firings_after(self.timezone, after, count),
            Err(_) => Vec::new(),
        }
    }

    /// The firing key that makes a firing unique across serve processes:
    /// `"<name>@<RFC3339 UTC>"`, to the second, e.g. `sweep@2026-03-08T07:00:00Z`.
    pub fn firing_key(&self, at: DateTime<Utc>) -> String {
        format!(
            "{}@{}",
            self.name,
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// The latest firing in `(after, until]`, for `catch_up: latest` after downtime.
    pub fn last_firing_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let line = cron::parse_cron(&self.cron).ok()?;
        // Look back from `until` in growing windows, so that a frequent line does not walk
        // every firing of a long downtime and a rare one is still found.
        let mut window = TimeDelta::hours(1);
        loop {
            let from = until
                .checked_sub_signed(window)
                .map_or(after, |from| from.max(after));
            let mut cursor = from;
            let mut latest = None;
            'window: loop {
                const BATCH: usize = 256;
                let batch = line.firings_after(self.timezone, cursor, BATCH);
                let full = batch.len() == BATCH;
                for firing in batch {
                    if firing > until {
                        break 'window;
                    }
                    latest = Some(firing);
                    cursor = firing;
                }
                if !full {
                    break;
                }
            }
            if latest.is_some() || from == after {
                return latest;
            }
            window = window.checked_mul(4)?;
        }
    }

    /// True when the cron line names times of day (see [`Schedule::next_firings`]).
    pub fn is_fixed_time(&self) -> bool {
        cron::parse_cron(&self.cron).is_ok_and(|line| line.is_fixed_time())
    }
}

/// Where a schedule's playbook lives: `playbook` as written, relative to the folder of the
/// schedules file (an absolute path is kept as it is).
pub fn resolve_playbook_path(schedules_file: &Path, playbook: &str) -> PathBuf {
    let folder = schedules_file.parent().unwrap_or_else(|| Path::new(""));
    folder.join(playbook)
}

/// What the caller of [`load_schedules_with_playbooks`] found at a playbook path.
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

/// What [`load_schedules`] or [`load_schedules_with_playbooks`] could read, and every problem.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSchedules {
    /// The file, when there is no error-severity diagnostic.
    pub file: Option<ScheduleFile>,
    /// Errors and warnings: the schedules file's in source order, then those of the
    /// playbooks it names.
    pub diagnostics: Vec<Diagnostic>,
    /// The valid playbooks, by path as written in the file (only filled by
    /// [`load_schedules_with_playbooks`]).
    pub playbooks: IndexMap<String, Playbook>,
}

impl LoadedSchedules {
    /// True when a diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and validates a schedules file on its own: YAML, keys, types, names, cron lines,
/// time zones and allowed words. Playbooks are not looked at; see
/// [`load_schedules_with_playbooks`]. `file_name` is only used in diagnostics.
pub fn load_schedules(file_name: &str, source: &str) -> LoadedSchedules {
    let read = read_file(source);
    finish(file_name, source, read, Vec::new(), IndexMap::new())
}

/// Like [`load_schedules`], and also loads each schedule's playbook with `read` (called once
/// per distinct path, with the path as written; resolve it with [`resolve_playbook_path`]),
/// validates it, and checks the schedule's inputs against its declarations. The playbook's
/// own diagnostics are reported too, under the file name `read` gave.
pub fn load_schedules_with_playbooks(
    file_name: &str,
    source: &str,
    mut read: impl FnMut(&str) -> PlaybookSource,
) -> LoadedSchedules {
    let mut file = read_file(source);
    let mut playbook_diagnostics: Vec<Diagnostic> = Vec::new();
    let mut loaded_playbooks: IndexMap<String, Result<Playbook, PlaybookFailure>> = IndexMap::new();
    for schedule in &file.playbook_uses {
        if !loaded_playbooks.contains_key(&schedule.playbook) {
            let outcome = match read(&schedule.playbook) {
                PlaybookSource::Unreadable { reason } => Err(PlaybookFailure::Unreadable(reason)),
                PlaybookSource::Text { file, source } => {
                    let loaded = crate::load(&file, &source);
                    let (errors, _) = crate::count(&loaded.diagnostics);
                    playbook_diagnostics.extend(loaded.diagnostics);
                    match loaded.playbook {
                        Some(playbook) => Ok(playbook),
                        None => Err(PlaybookFailure::Invalid { file, errors }),
                    }
                }
            };
            loaded_playbooks.insert(schedule.playbook.clone(), outcome);
        }
        let Some(outcome) = loaded_playbooks.get(&schedule.playbook) else {
            continue;
        };
        let mark = schedule.marks.playbook;
        match outcome {
            Err(PlaybookFailure::Unreadable(reason)) => file.problems.push(
                Problem::error(
                    codes::PLAYBOOK_NOT_FOUND,
                    mark.span,
                    mark.length,
                    format!("cannot read playbook `{}`: {reason}", schedule.playbook),
                )
                .help("playbook paths are relative to the folder of the schedules file"),
            ),
            Err(PlaybookFailure::Invalid {
                file: shown,
                errors,
            }) => file.problems.push(
                Problem::error(
                    codes::PLAYBOOK_INVALID,
                    mark.span,
                    mark.length,
                    format!(
                        "playbook `{}` is invalid ({errors} error{})",
                        schedule.playbook,
                        if *errors == 1 { "" } else { "s" }
                    ),
                )
                .help(format!("its problems are listed under {shown}")),
            ),
            Ok(playbook) => {
                let problems = input_problems(schedule, playbook);
                file.problems.extend(problems);
            }
        }
    }
    let playbooks = loaded_playbooks
        .into_iter()
        .filter_map(|(path, outcome)| outcome.ok().map(|playbook| (path, playbook)))
        .collect();
    finish(file_name, source, file, playbook_diagnostics, playbooks)
}

#[derive(Debug)]
enum PlaybookFailure {
    Unreadable(String),
    Invalid { file: String, errors: usize },
}

/// The schedule's inputs bound against the playbook's declarations, as problems located in the
/// schedules file.
fn input_problems(schedule: &PlaybookUse, playbook: &Playbook) -> Vec<Problem> {
    let Err(errors) = bind_inputs(playbook, &[], &schedule.inputs) else {
        return Vec::new();
    };
    let marks = &schedule.marks;
    let declared: Vec<&str> = playbook.inputs.keys().map(String::as_str).collect();
    // `levl: 1` is reported as "did you mean `level`?"; saying `level` is missing too adds
    // nothing.
    let suggested: Vec<String> = errors
        .iter()
        .filter_map(|error| match error {
            InputError::Undeclared {
                suggestion: Some(close),
                ..
            } => Some(close.clone()),
            _ => None,
        })
        .collect();
    errors
        .into_iter()
        .filter(|error| !matches!(error, InputError::Missing { name } if suggested.contains(name)))
        .map(|error| match error {
            InputError::Missing { name } => {
                let mark = marks.inputs.unwrap_or(marks.playbook);
                Problem::error(
                    codes::SCHEDULE_INPUTS,
                    mark.span,
                    mark.length,
                    format!(
                        "playbook `{}` requires input `{name}`, which this schedule does not give",
                        playbook.name
                    ),
                )
                .help(format!("add `{name}: ...` under `inputs:`"))
            }
            InputError::Undeclared { name, suggestion } => {
                let mark = marks
                    .input_keys
                    .get(&name)
                    .copied()
                    .unwrap_or(marks.playbook);
                let help = match suggestion {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if declared.is_empty() => "this playbook declares no inputs".to_owned(),
                    None => format!("its inputs are: {}", declared.join(", ")),
                };
                Problem::error(
                    codes::SCHEDULE_INPUTS,
                    mark.span,
                    mark.length,
                    format!("playbook `{}` has no input `{name}`", playbook.name),
                )
                .help(help)
            }
            InputError::Invalid { name, reason } => {
                let mark = marks
                    .input_values
                    .get(&name)
                    .copied()
                    .unwrap_or(marks.playbook);
                let help = playbook
                    .inputs
                    .get(&name)
                    .map(|decl| format!("`{name}` is declared as {}", describe_declaration(decl)));
                let problem = Problem::error(
                    codes::SCHEDULE_INPUTS,
                    mark.span,
                    mark.length,
                    format!("input `{name}`: {reason}"),
                );
                match help {
                    Some(help) => problem.help(help),
                    None => problem,
                }
            }
        })
        .collect()
}

/// A playbook path and the inputs an entry gives it, read even when other parts of the entry
/// are wrong, so that one pass reports the playbook's problems too.
#[derive(Debug)]
struct PlaybookUse {
    playbook: String,
    inputs: IndexMap<String, Value>,
    marks: ScheduleMarks,
}

/// An input declaration in words: `integer from 0 to 99`, `string matching `^a`` ...
fn describe_declaration(decl: &crate::model::InputDecl) -> String {
    let mut text = decl.input_type.as_str().to_owned();
    match (decl.minimum, decl.maximum) {
        (Some(minimum), Some(maximum)) => text.push_str(&format!(" from {minimum} to {maximum}")),
        (Some(minimum), None) => text.push_str(&format!(" of at least {minimum}")),
        (None, Some(maximum)) => text.push_str(&format!(" of at most {maximum}")),
        (None, None) => {}
    }
    if let Some(pattern) = &decl.pattern {
        text.push_str(&format!(" matching `{pattern}`"));
    }
    if let Some(allowed) = &decl.allowed {
        let words: Vec<String> = allowed.iter().map(Value::to_string).collect();
        text.push_str(&format!(", one of {}", words.join(", ")));
    }
    text
}

/// What the walk over the file found: the good entries and every problem.
struct ReadFile {
    version: Option<u32>,
    schedules: Vec<Schedule>,
    playbook_uses: Vec<PlaybookUse>,
    /// False when some entry or top-level key was bad (its schedule is missing above).
    complete: bool,
    problems: Vec<Problem>,
}

fn finish(
    file_name: &str,
    source: &str,
    read: ReadFile,
    playbook_diagnostics: Vec<Diagnostic>,
    playbooks: IndexMap<String, Playbook>,
) -> LoadedSchedules {
    let mut diagnostics = crate::to_diagnostics(file_name, source, read.problems);
    diagnostics.extend(playbook_diagnostics);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let file = match (read.version, read.complete, has_errors) {
        (Some(version), true, false) => Some(ScheduleFile {
            version,
            schedules: read.schedules,
        }),
        _ => None,
    };
    LoadedSchedules {
        file,
        diagnostics,
        playbooks,
    }
}

fn read_file(source: &str) -> ReadFile {
    let tree = yaml::parse(source, yaml::FileKind::Schedules);
    let mut walker = Walker {
        checker: Checker::new(source),
        source,
    };
    walker.checker.problems = tree.problems;
    let mut read = ReadFile {
        version: None,
        schedules: Vec::new(),
        playbook_uses: Vec::new(),
        complete: false,
        problems: Vec::new(),
    };
    match &tree.root {
        Some(root) => walker.file(root, &mut read),
        None if walker.checker.problems.is_empty() => {
            walker.checker.problems.push(
                Problem::error(codes::MISSING_KEY, Span::new(1, 1), 1, "the file is empty")
                    .help("a schedules file needs `version: 1` and `schedules:`"),
            );
        }
        None => {}
    }
    read.problems = walker.checker.problems;
    read
}

struct Walker<'s> {
    checker: Checker<'s>,
    source: &'s str,
}

impl Walker<'_> {
    fn file(&mut self, root: &Node, read: &mut ReadFile) {
        let owner = Owner {
            what: "the schedules file",
            span: root.span,
            length: 1,
        };
        let Some(fields) = self.checker.fields(root, owner, &TOP_LEVEL_KEYS, &[]) else {
            return;
        };
        let mut complete = !fields
            .entries
            .iter()
            .any(|entry| !TOP_LEVEL_KEYS.contains(&entry.key.as_str()));
        read.version = self
            .checker
            .required(
                &fields,
                "version",
                Some("add `version: 1` at the top".into()),
            )
            .and_then(|entry| match &entry.value.kind {
                NodeKind::Int(1) => Some(1),
                NodeKind::Int(other) => {
                    self.checker
                        .error(
                            codes::UNSUPPORTED_VERSION,
                            entry.value.span,
                            entry.value.length,
                            format!("version {other} is not supported"),
                        )
                        .help = Some("this runbook reads schedules files of version 1".into());
                    None
                }
                _ => {
                    self.checker
                        .wrong_type("version", "the integer 1", &entry.value);
                    None
                }
            });
        let items: &[Node] = match self.checker.required(
            &fields,
            "schedules",
            Some("add `schedules:` with a list of entries".into()),
        ) {
            Some(entry) => match &entry.value.kind {
                NodeKind::Seq(items) => items,
                // `schedules:` with every entry commented out: nothing to run, not an error.
                NodeKind::Null => &[],
                _ => {
                    self.checker
                        .wrong_type("schedules", "a list of schedules", &entry.value);
                    complete = false;
                    &[]
                }
            },
            None => {
                complete = false;
                &[]
            }
        };
        let mut first_line_by_name: IndexMap<String, u32> = IndexMap::new();
        for (index, node) in items.iter().enumerate() {
            match self.schedule(
                node,
                index,
                &mut first_line_by_name,
                &mut read.playbook_uses,
            ) {
                Some(schedule) => read.schedules.push(schedule),
                None => complete = false,
            }
        }
        read.complete = complete && read.version.is_some();
    }

    fn schedule(
        &mut self,
        node: &Node,
        index: usize,
        first_line_by_name: &mut IndexMap<String, u32>,
        playbook_uses: &mut Vec<PlaybookUse>,
    ) -> Option<Schedule> {
        // Name the entry by its `name` when it has a readable one, by its position otherwise.
        let written_name =
            match &node.kind {
                NodeKind::Map(entries) => entries
                    .iter()
                    .find(|entry| entry.key == "name")
                    .and_then(|entry| match &entry.value.kind {
                        NodeKind::Str(name) => Some(name.clone()),
                        _ => None,
                    }),
                _ => None,
            };
        let what = match &written_name {
            Some(name) => format!("schedule `{name}`"),
            None => format!("schedule {}", index + 1),
        };
        let owner = Owner {
            what: &what,
            span: node.span,
            length: 1,
        };
        let fields = self
            .checker
            .fields(node, owner, &SCHEDULE_KEYS, &KEY_ALIASES)?;
        let mut ok = !fields
            .entries
            .iter()
            .any(|entry| !SCHEDULE_KEYS.contains(&entry.key.as_str()));
        let mut marks = ScheduleMarks::default();

        let name_help = Some("add `name: my-schedule`; names key each firing".to_owned());
        let name = self
            .checker
            .required(&fields, "name", name_help)
            .and_then(|entry| {
                marks.name = Mark::of_value(&entry.value);
                let name = self.checker.string(entry)?;
                if !is_playbook_name(&name) {
                    self.checker
                        .error(
                            codes::INVALID_NAME,
                            entry.value.span,
                            entry.value.length,
                            format!("schedule name `{name}` is not allowed"),
                        )
                        .help = Some(format!(
                        "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, e.g. `{}`",
                        suggest_playbook_name(&name)
                    ));
                    return None;
                }
                if let Some(first_line) = first_line_by_name.get(&name) {
                    self.checker
                        .error(
                            codes::DUPLICATE_SCHEDULE_NAME,
                            entry.value.span,
                            entry.value.length,
                            format!("schedule name `{name}` is already used"),
                        )
                        .help = Some(format!(
                        "the first `{name}` is on line {first_line}; names must be unique because they key each firing"
                    ));
                    return None;
                }
                first_line_by_name.insert(name.clone(), entry.value.span.line);
                Some(name)
            });

        let playbook = self
            .checker
            .required(
                &fields,
                "playbook",
                Some("add `playbook: path/to/playbook.yaml` (relative to this file)".into()),
            )
            .and_then(|entry| {
                marks.playbook = Mark::of_value(&entry.value);
                let path = self.checker.string(entry)?;
                if path.trim().is_empty() {
                    self.checker.error(
                        codes::WRONG_TYPE,
                        entry.value.span,
                        entry.value.length,
                        "`playbook` is empty",
                    );
                    return None;
                }
                Some(path)
            });

        let cron_help =
            Some("add `cron: \"0 */6 * * *\"` (minute hour day-of-month month day-of-week)".into());
        let cron = self
            .checker
            .required(&fields, "cron", cron_help)
            .and_then(|entry| {
                marks.cron = Mark::of_value(&entry.value);
                let text = self.checker.string(entry)?;
                self.cron(entry, &text).then_some(text)
            });

        let timezone = match fields.get("timezone") {
            Some(entry) => self.timezone(entry),
            None => Some(Tz::UTC),
        };

        let inputs = match fields.get("inputs") {
            Some(entry) => {
                marks.inputs = Some(Mark::of_key(entry));
                match &entry.value.kind {
                    NodeKind::Map(entries) => {
                        let mut inputs = IndexMap::new();
                        for input in entries {
                            marks
                                .input_keys
                                .insert(input.key.clone(), Mark::of_key(input));
                            marks
                                .input_values
                                .insert(input.key.clone(), Mark::of_value(&input.value));
                            inputs.insert(input.key.clone(), input.value.to_json());
                        }
                        Some(inputs)
                    }
                    NodeKind::Null => Some(IndexMap::new()),
                    _ => {
                        self.checker.wrong_type(
                            "inputs",
                            "a mapping of input names to values",
                            &entry.value,
                        );
                        None
                    }
                }
            }
            None => Some(IndexMap::new()),
        };

        let overlap = match fields.get("overlap") {
            Some(entry) => self.choice(entry, &Overlap::ALL.map(|word| (word.as_str(), word))),
            None => Some(Overlap::default()),
        };
        let catch_up = match fields.get("catch_up") {
            Some(entry) => self.choice(entry, &CatchUp::ALL.map(|word| (word.as_str(), word))),
            None => Some(CatchUp::default()),
        };
        let enabled = match fields.get("enabled") {
            Some(entry) => self.checker.boolean(entry),
            None => Some(true),
        };

        if let (Some(playbook), Some(inputs)) = (&playbook, &inputs) {
            playbook_uses.push(PlaybookUse {
                playbook: playbook.clone(),
                inputs: inputs.clone(),
                marks: marks.clone(),
            });
        }
        ok &= name.is_some()
            && playbook.is_some()
            && cron.is_some()
            && timezone.is_some()
            && inputs.is_some()
            && overlap.is_some()
            && catch_up.is_some()
            && enabled.is_some();
        if !ok {
            return None;
        }
        Some(Schedule {
            name: name?,
            playbook: playbook?,
            cron: cron?,
            timezone: timezone?,
            inputs: inputs?,
            overlap: overlap?,
            catch_up: catch_up?,
            enabled: enabled?,
            span: node.span,
            marks,
        })
    }

    /// Checks a cron line, pointing each problem at its field when the value is written on
    /// one line as it reads. Returns true when the line is good.
    fn cron(&mut self, entry: &Entry, text: &str) -> bool {
        let Err(problems) = cron::parse_cron(text) else {
            return true;
        };
        let text_column = self.text_column(&entry.value, text);
        for problem in problems {
            let (span, length) = match text_column {
                Some(column) => (
                    Span::new(
                        entry.value.span.line,
                        column + u32::try_from(problem.offset).unwrap_or(0),
                    ),
                    u32::try_from(problem.length).unwrap_or(1),
                ),
                None => (entry.value.span, entry.value.length),
            };
            let message = format!("`cron`: {}", problem.message);
            self.checker
                .error(codes::INVALID_CRON, span, length, message)
                .help = problem.help;
        }
        false
    }

    /// The column where `text` starts on the value's line: after the opening quote of a
    /// quoted scalar, or at the value itself. `None` when the source does not read that way
    /// (escapes, folded lines).
    fn text_column(&self, value: &Node, text: &str) -> Option<u32> {
        let line = self
            .source
            .lines()
            .nth(value.span.line.checked_sub(1)? as usize)?;
        let from_value: String = line
            .chars()
            .skip(value.span.column.checked_sub(1)? as usize)
            .collect();
        if from_value.starts_with(text) {
            Some(value.span.column)
        } else if from_value.starts_with(['"', '\'']) && from_value[1..].starts_with(text) {
            Some(value.span.column + 1)
        } else {
            None
        }
    }

    fn timezone(&mut self, entry: &Entry) -> Option<Tz> {
        let name = self.checker.string(entry)?;
        if let Ok(zone) = name.parse::<Tz>() {
            return Some(zone);
        }
        let suggestion = suggest_zone(&name);
        let help = match suggestion {
            Some(zone) => format!("did you mean `{zone}`?"),
            None => "use an IANA time zone name like `Europe/Berlin`, `America/New_York` or `UTC`"
                .to_owned(),
        };
        self.checker
            .error(
                codes::UNKNOWN_TIME_ZONE,
                entry.value.span,
                entry.value.length,
                format!("unknown time zone `{name}`"),
            )
            .help = Some(help);
        None
    }

    /// One of a few words (`overlap`, `catch_up`).
    fn choice<T: Copy>(&mut self, entry: &Entry, words: &[(&'static str, T)]) -> Option<T> {
        let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
        let listed = names
            .iter()
            .map(|word| format!("`{word}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let NodeKind::Str(text) = &entry.value.kind else {
            self.checker.error(
                codes::WRONG_TYPE,
                entry.value.span,
                entry.value.length,
                format!(
                    "`{}` must be one of {listed}, not {}",
                    entry.key,
                    entry.value.type_name()
                ),
            );
            return None;
        };
        if let Some((_, value)) = words.iter().find(|(word, _)| *word == text) {
            return Some(*value);
        }
        let help = match did_you_mean(text, names.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("write one of {listed}"),
        };
        self.checker
            .error(
                codes::INVALID_CHOICE,
                entry.value.span,
                entry.value.length,
                format!("`{}` is `{text}`; it must be one of {listed}", entry.key),
            )
            .help = Some(help);
        None
    }
}

/// The IANA zone a mistyped name most likely means: the same name in other case, a city
/// written without its region (`Berlin`, `new york`), a common abbreviation (`PST`), or a
/// close spelling.
fn suggest_zone(name: &str) -> Option<&'static str> {
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name());
    let normalized = name.trim().replace(' ', "_");
    if let Some(zone) = names().find(|zone| zone.eq_ignore_ascii_case(&normalized)) {
        return Some(zone);
    }
    if let Some((_, zone)) = ABBREVIATIONS
        .iter()
        .find(|(abbreviation, _)| abbreviation.eq_ignore_ascii_case(&normalized))
    {
        return Some(zone);
    }
    if !normalized.contains('/')
        && let Some(zone) = names().find(|zone| {
            zone.contains('/')
                && zone
                    .rsplit('/')
                    .next()
                    .is_some_and(|city| city.eq_ignore_ascii_case(&normalized))
        })
    {
        return Some(zone);
    }
    did_you_mean(&normalized, names().filter(|zone| zone.contains('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    const GOOD: &str = "version: 1\nschedules:\n  - name: sweep\n    playbook: p.yaml\n    cron: \"0 */6 * * *\"\n    timezone: Europe/Berlin\n    inputs: { level: 1 }\n    overlap: queue\n    catch_up: latest\n    enabled: false\n";

    #[test]
    fn a_full_entry_is_read() {
        let loaded = load_schedules("s.yaml", GOOD);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let file = loaded.file.expect("valid");
        let schedule = &file.schedules[0];
        assert_eq!(schedule.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(schedule.overlap, Overlap::Queue);
        assert_eq!(schedule.catch_up, CatchUp::Latest);
        assert!(!schedule.enabled);
        assert_eq!(schedule.inputs["level"], serde_json::json!(1));
        assert_eq!(schedule.marks.cron.span, Span::new(5, 11));
    }

    #[test]
    fn defaults_apply() {
        let loaded = load_schedules(
            "s.yaml",
            "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '@daily' }\n",
        );
        let file = loaded.file.expect("valid");
        let schedule = &file.schedules[0];
        assert_eq!(schedule.timezone, Tz::UTC);
        assert_eq!(
            (schedule.overlap, schedule.catch_up, schedule.enabled),
            (Overlap::Skip, CatchUp::None, true)
        );
    }

    #[test]
    fn zone_suggestions() {
        assert_eq!(suggest_zone("europe/berlin"), Some("Europe/Berlin"));
        assert_eq!(suggest_zone("New York"), Some("America/New_York"));
        assert_eq!(suggest_zone("PST"), Some("America/Los_Angeles"));
        assert_eq!(suggest_zone("Europe/Berln"), Some("Europe/Berlin"));
    }

    #[test]
    fn firing_keys_are_utc_to_the_second() {
        let file = load_schedules("s.yaml", GOOD).file.expect("valid");
        let at = Utc
            .with_ymd_and_hms(2026, 3, 8, 7, 0, 0)
            .single()
            .expect("valid time");
        assert_eq!(
            file.schedules[0].firing_key(at),
            "sweep@2026-03-08T07:00:00Z"
        );
    }

    #[test]
    fn the_latest_missed_firing_is_found() {
        let file = load_schedules("s.yaml", GOOD).file.expect("valid");
        let schedule = &file.schedules[0];
        let at = |day, hour, minute| {
            Utc.with_ymd_and_hms(2026, 1, day, hour, minute, 0)
                .single()
                .expect("valid time")
        };
        // Berlin is UTC+1 in January: firings at 23:00, 05:00, 11:00 and 17:00 UTC.
        assert_eq!(
            schedule.last_firing_between(at(1, 0, 0), at(3, 12, 0)),
            Some(at(3, 11, 0))
        );
        assert_eq!(
            schedule.last_firing_between(at(3, 11, 0), at(3, 12, 0)),
            None
        );
        assert_eq!(
            schedule.last_firing_between(at(3, 10, 0), at(3, 11, 0)),
            Some(at(3, 11, 0))
        );
    }

    #[test]
    fn playbook_paths_are_relative_to_the_schedules_file() {
        assert_eq!(
            resolve_playbook_path(Path::new("ops/schedules.yaml"), "../playbooks/a.yaml"),
            PathBuf::from("ops/../playbooks/a.yaml")
        );
        assert_eq!(
            resolve_playbook_path(Path::new("schedules.yaml"), "a.yaml"),
            PathBuf::from("a.yaml")
        );
        assert_eq!(
            resolve_playbook_path(Path::new("ops/schedules.yaml"), "/srv/a.yaml"),
            PathBuf::from("/srv/a.yaml")
        );
    }
}

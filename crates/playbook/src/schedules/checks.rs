//! Checking a schedules file on its own: its keys and version, and each entry's name (valid,
//! unique), playbook path, cron line (each problem pointed at its field), time zone (see
//! `zones`), inputs, `overlap`, `catch_up` and `enabled`. Every problem is collected.

use indexmap::IndexMap;
use serde_json::Value;

use crate::check::{Checker, Fields, Owner, written_string};
use crate::codes;
use crate::model::Span;
use crate::suggest::did_you_mean;
use crate::yaml::{self, Entry, Node, NodeKind, Problem};

use super::cron;
use super::{CatchUp, Mark, Overlap, Schedule, ScheduleMarks};

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

/// What the walk over the file found: the good entries and every problem.
pub(super) struct ReadFile {
    pub version: Option<u32>,
    pub schedules: Vec<Schedule>,
    pub playbook_uses: Vec<PlaybookUse>,
    /// False when some entry or top-level key was bad (its schedule is missing above).
    pub complete: bool,
    pub problems: Vec<Problem>,
}

/// A playbook path and the inputs an entry gives it, read even when other parts of the entry
/// are wrong, so that one pass reports the playbook's problems too.
#[derive(Debug)]
pub(super) struct PlaybookUse {
    pub playbook: String,
    pub inputs: IndexMap<String, Value>,
    pub marks: ScheduleMarks,
}

pub(super) fn read_file(source: &str) -> ReadFile {
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

pub(super) struct Walker<'s> {
    pub checker: Checker<'s>,
    source: &'s str,
}

/// True when `fields` holds no key outside `allowed` (each was reported).
fn only_known_keys(fields: &Fields<'_>, allowed: &[&str]) -> bool {
    !fields
        .entries
        .iter()
        .any(|entry| !allowed.contains(&entry.key.as_str()))
}

impl Walker<'_> {
    fn file(&mut self, root: &Node, read: &mut ReadFile) {
        let owner = Owner::node("the schedules file", root);
        let Some(fields) = self.checker.fields(root, owner, &TOP_LEVEL_KEYS, &[]) else {
            return;
        };
        let mut complete = only_known_keys(&fields, &TOP_LEVEL_KEYS);
        read.version = self
            .checker
            .version(&fields, "this runbook reads schedules files of version 1");
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
        let what = match written_string(node, "name") {
            Some(name) => format!("schedule `{name}`"),
            None => format!("schedule {}", index + 1),
        };
        let owner = Owner::node(&what, node);
        let fields = self
            .checker
            .fields(node, owner, &SCHEDULE_KEYS, &KEY_ALIASES)?;
        let mut ok = only_known_keys(&fields, &SCHEDULE_KEYS);
        let mut marks = ScheduleMarks::default();

        let name = self.name(&fields, &mut marks, first_line_by_name);
        let playbook = self.playbook(&fields, &mut marks);
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
            None => Some(chrono_tz::Tz::UTC),
        };
        let inputs = match fields.get("inputs") {
            Some(entry) => self.inputs(entry, &mut marks),
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

    /// The entry's `name`: allowed, and not used by an earlier entry.
    fn name(
        &mut self,
        fields: &Fields<'_>,
        marks: &mut ScheduleMarks,
        first_line_by_name: &mut IndexMap<String, u32>,
    ) -> Option<String> {
        let name_help = Some("add `name: my-schedule`; names key each firing".to_owned());
        let entry = self.checker.required(fields, "name", name_help)?;
        marks.name = Mark::of_value(&entry.value);
        let name = self.checker.lowercase_name(entry, "schedule name")?;
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
    }

    /// The entry's `playbook` path, not empty.
    fn playbook(&mut self, fields: &Fields<'_>, marks: &mut ScheduleMarks) -> Option<String> {
        let entry = self.checker.required(
            fields,
            "playbook",
            Some("add `playbook: path/to/playbook.yaml` (relative to this file)".into()),
        )?;
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
    }

    /// The entry's `inputs`, as written (checked against the playbook when it is loaded).
    fn inputs(
        &mut self,
        entry: &Entry,
        marks: &mut ScheduleMarks,
    ) -> Option<IndexMap<String, Value>> {
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

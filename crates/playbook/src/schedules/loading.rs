//! Loading a schedules file: the file on its own, or with each playbook it names loaded
//! through a callback (this crate does no I/O), validated, and its declared inputs checked
//! against what the schedule gives; then every problem as diagnostics, in one pass.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::inputs::{InputError, bind_inputs};
use crate::model::Playbook;
use crate::yaml::Problem;

use super::checks::{PlaybookUse, ReadFile, read_file};
use super::model::Mark;
use super::{LoadedSchedules, PlaybookSource, ScheduleFile};

/// Where a schedule's playbook lives: `playbook` as written, relative to the folder of the
/// schedules file (an absolute path is kept as it is).
pub fn resolve_playbook_path(schedules_file: &Path, playbook: &str) -> PathBuf {
    let folder = schedules_file.parent().unwrap_or_else(|| Path::new(""));
    folder.join(playbook)
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
    let mut secret_values: Vec<Mark> = Vec::new();
    for schedule in &file.playbook_uses {
        let outcome = loaded_playbooks
            .entry(schedule.playbook.clone())
            .or_insert_with(|| {
                load_playbook(&mut read, &schedule.playbook, &mut playbook_diagnostics)
            });
        match outcome {
            Err(failure) => file.problems.push(failure.problem(schedule)),
            Ok(playbook) => {
                let problems = input_problems(schedule, playbook);
                file.problems.extend(problems);
                secret_values.extend(secret_value_marks(schedule, playbook));
            }
        }
    }
    let playbooks = loaded_playbooks
        .into_iter()
        .filter_map(|(path, outcome)| outcome.ok().map(|playbook| (path, playbook)))
        .collect();
    let mut loaded = finish(file_name, source, file, playbook_diagnostics, playbooks);
    mask_secret_values(&mut loaded.diagnostics, file_name, &secret_values);
    loaded
}

/// Where the schedule gives a secret input's value in clear.
fn secret_value_marks(schedule: &PlaybookUse, playbook: &Playbook) -> Vec<Mark> {
    playbook
        .inputs
        .iter()
        .filter(|(_, declaration)| declaration.secret)
        .filter_map(|(name, _)| schedule.marks.input_values.get(name).copied())
        .collect()
}

/// A diagnostic shows its source line; where that line holds a secret input's value written
/// in clear, the value is shown as `[REDACTED]` (the file holds it, CI logs must not).
fn mask_secret_values(diagnostics: &mut [Diagnostic], file_name: &str, secrets: &[Mark]) {
    for diagnostic in diagnostics.iter_mut().filter(|d| d.file == file_name) {
        for mark in secrets
            .iter()
            .filter(|mark| mark.span.line == diagnostic.line)
        {
            let start = mark.span.column.saturating_sub(1) as usize;
            let chars: Vec<char> = diagnostic.source_line.chars().collect();
            let end = (start + mark.length as usize).min(chars.len());
            if start < end {
                let before: String = chars[..start].iter().collect();
                let after: String = chars[end..].iter().collect();
                diagnostic.source_line = format!("{before}[REDACTED]{after}");
            }
        }
    }
}

/// Why a schedule's playbook could not be used.
#[derive(Debug)]
enum PlaybookFailure {
    Unreadable(String),
    Invalid { file: String, errors: usize },
}

impl PlaybookFailure {
    /// The problem, at the schedule's `playbook` value.
    fn problem(&self, schedule: &PlaybookUse) -> Problem {
        let mark = schedule.marks.playbook;
        match self {
            PlaybookFailure::Unreadable(reason) => Problem::error(
                codes::PLAYBOOK_NOT_FOUND,
                mark.span,
                mark.length,
                format!("cannot read playbook `{}`: {reason}", schedule.playbook),
            )
            .help("playbook paths are relative to the folder of the schedules file"),
            PlaybookFailure::Invalid {
                file: shown,
                errors,
            } => Problem::error(
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
        }
    }
}

/// Reads and loads one playbook, keeping its own diagnostics.
fn load_playbook(
    read: &mut impl FnMut(&str) -> PlaybookSource,
    path: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Playbook, PlaybookFailure> {
    match read(path) {
        PlaybookSource::Unreadable { reason } => Err(PlaybookFailure::Unreadable(reason)),
        PlaybookSource::Text { file, source } => {
            let loaded = crate::load(&file, &source);
            let (errors, _) = crate::count(&loaded.diagnostics);
            diagnostics.extend(loaded.diagnostics);
            match loaded.playbook {
                Some(playbook) => Ok(playbook),
                None => Err(PlaybookFailure::Invalid { file, errors }),
            }
        }
    }
}

/// The schedule's inputs bound against the playbook's declarations, as problems located in the
/// schedules file.
fn input_problems(schedule: &PlaybookUse, playbook: &Playbook) -> Vec<Problem> {
    let secret = secret_input_problems(schedule, playbook);
    if !secret.is_empty() {
        return secret;
    }
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

/// A playbook with secret inputs cannot be scheduled: a scheduled run is queued, and the queue
/// keeps its inputs in the store, where a secret is never written in clear (the same rule
/// `runbook enqueue` and the scheduler of `runbook serve` apply). A secret input given in the
/// schedules file is pointed at, since the file itself then holds it in clear.
fn secret_input_problems(schedule: &PlaybookUse, playbook: &Playbook) -> Vec<Problem> {
    let marks = &schedule.marks;
    playbook
        .inputs
        .iter()
        .filter(|(_, declaration)| declaration.secret)
        .map(|(name, _)| {
            let help = "read the value from the environment of `runbook serve` with the \
                        playbook's `secrets:` list instead; secret inputs are for `runbook run`";
            match marks.input_keys.get(name) {
                Some(mark) => Problem::error(
                    codes::SCHEDULE_INPUTS,
                    mark.span,
                    mark.length,
                    format!(
                        "input `{name}` of playbook `{}` is secret: a schedule cannot give it, \
                         the schedules file and the run queue would hold it in clear",
                        playbook.name
                    ),
                ),
                None => Problem::error(
                    codes::SCHEDULE_INPUTS,
                    marks.playbook.span,
                    marks.playbook.length,
                    format!(
                        "playbook `{}` has secret input `{name}`, which a scheduled run cannot \
                         be given: the run queue never stores a secret",
                        playbook.name
                    ),
                ),
            }
            .help(help)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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

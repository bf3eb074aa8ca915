//! Loading a triggers file: the file on its own, or with the playbooks of a folder, whose
//! names and input declarations each trigger is checked against.

use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::model::Playbook;
use crate::suggest::did_you_mean;
use crate::yaml::Problem;

use crate::schedules::Mark;

use super::checks::{PlaybookUse, ReadFile, read_file};
use super::{LoadedTriggers, TriggerFile};

/// Parses and validates a triggers file on its own: YAML, keys, types, names, paths, auth,
/// templates and durations. The playbooks triggers name are not looked at; see
/// [`load_triggers_with_playbooks`]. `file_name` is only used in diagnostics.
pub fn load_triggers(file_name: &str, source: &str) -> LoadedTriggers {
    finish(file_name, source, read_file(source))
}

/// Like [`load_triggers`], and also checks that each trigger's `playbook` is the `name:` of
/// one of `playbooks` (the valid playbooks of a folder) and that its `inputs` are declared
/// inputs of it, giving every required input that has no default.
pub fn load_triggers_with_playbooks(
    file_name: &str,
    source: &str,
    playbooks: &[Playbook],
) -> LoadedTriggers {
    let mut read = read_file(source);
    for used in &read.playbook_uses {
        match playbooks
            .iter()
            .find(|playbook| playbook.name == used.playbook)
        {
            Some(playbook) => {
                read.problems.extend(input_problems(used, playbook));
                // A secret written in clear is pointed at, never shown.
                read.secret_values.extend(
                    playbook
                        .inputs
                        .iter()
                        .filter(|(name, declaration)| {
                            declaration.secret && used.constants.contains(name)
                        })
                        .filter_map(|(name, _)| used.marks.input_values.get(name).copied()),
                );
            }
            None => read.problems.push(unknown_playbook(used, playbooks)),
        }
    }
    finish(file_name, source, read)
}

fn unknown_playbook(used: &PlaybookUse, playbooks: &[Playbook]) -> Problem {
    let mark = used.marks.playbook;
    let names = playbooks.iter().map(|playbook| playbook.name.as_str());
    let help = match did_you_mean(&used.playbook, names) {
        Some(close) => format!("did you mean `{close}`?"),
        None if playbooks.is_empty() => "the playbooks folder holds no valid playbook".to_owned(),
        None => "playbooks are named by their `name:`, not their file name".to_owned(),
    };
    Problem::error(
        codes::UNKNOWN_PLAYBOOK,
        mark.span,
        mark.length,
        format!("there is no playbook named `{}`", used.playbook),
    )
    .help(help)
}

/// The trigger's inputs against the playbook's declarations: each given one declared (a secret
/// one by a template, never a constant written in the file), each required one without a
/// default given.
fn input_problems(used: &PlaybookUse, playbook: &Playbook) -> Vec<Problem> {
    let marks = &used.marks;
    let declared: Vec<&str> = playbook.inputs.keys().map(String::as_str).collect();
    let mut problems = Vec::new();
    let mut suggested = Vec::new();
    for name in &used.inputs {
        let mark = marks
            .input_keys
            .get(name)
            .copied()
            .unwrap_or(marks.playbook);
        match playbook.inputs.get(name) {
            Some(declaration) if declaration.secret && used.constants.contains(name) => problems
                .push(
                    Problem::error(
                        codes::TRIGGER_INPUTS,
                        mark.span,
                        mark.length,
                        format!(
                            "input `{name}` of playbook `{}` is secret: the triggers file would \
                             hold it in clear",
                            playbook.name
                        ),
                    )
                    .help(
                        "take it from the request with a template (`{{ body.key }}`), or read it \
                         from the environment with the playbook's `secrets:` list",
                    ),
                ),
            Some(_) => {}
            None => {
                let close = did_you_mean(name, declared.iter().copied());
                let help = match close {
                    Some(close) => {
                        suggested.push(close.to_owned());
                        format!("did you mean `{close}`?")
                    }
                    None if declared.is_empty() => "this playbook declares no inputs".to_owned(),
                    None => format!("its inputs are: {}", declared.join(", ")),
                };
                problems.push(
                    Problem::error(
                        codes::TRIGGER_INPUTS,
                        mark.span,
                        mark.length,
                        format!("playbook `{}` has no input `{name}`", playbook.name),
                    )
                    .help(help),
                );
            }
        }
    }
    for (name, declaration) in &playbook.inputs {
        let needed = declaration.required && declaration.default.is_none();
        if !needed || used.inputs.contains(name) || suggested.contains(name) {
            continue;
        }
        let mark = marks.inputs.unwrap_or(marks.playbook);
        problems.push(
            Problem::error(
                codes::TRIGGER_INPUTS,
                mark.span,
                mark.length,
                format!(
                    "playbook `{}` requires input `{name}`, which this trigger does not give",
                    playbook.name
                ),
            )
            .help(format!(
                "add `{name}: \"{{{{ body.{name} }}}}\"` under `inputs:`"
            )),
        );
    }
    problems
}

fn finish(file_name: &str, source: &str, read: ReadFile) -> LoadedTriggers {
    let mut diagnostics = crate::to_diagnostics(file_name, source, read.problems);
    mask_secret_values(&mut diagnostics, &read.secret_values);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let file = match (read.version, read.complete, has_errors) {
        (Some(version), true, false) => Some(TriggerFile {
            version,
            triggers: read.triggers,
        }),
        _ => None,
    };
    LoadedTriggers { file, diagnostics }
}

/// A diagnostic shows its source line; where that line holds a secret written in clear, the
/// value is shown as `[REDACTED]` (the file holds it, CI logs must not).
fn mask_secret_values(diagnostics: &mut [Diagnostic], secrets: &[Mark]) {
    for diagnostic in diagnostics.iter_mut() {
        // Right to left, so that a replacement does not move the columns of the next one.
        let mut on_line: Vec<&Mark> = secrets
            .iter()
            .filter(|mark| mark.span.line == diagnostic.line)
            .collect();
        on_line.sort_by_key(|mark| std::cmp::Reverse(mark.span.column));
        for mark in on_line {
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

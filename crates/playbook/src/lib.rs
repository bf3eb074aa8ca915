//! `runbook-playbook`: the playbook format. It turns YAML text into a typed [`Playbook`] whose
//! every value keeps its source location, validates it offline (keys, types, durations, ids,
//! step kinds, templates and every name they use), and describes the format as a JSON Schema.
//!
//! Parsing never fails: [`load`] returns what it could read plus every [`Diagnostic`], so one
//! CI run shows all the problems of a playbook. Each diagnostic has a stable code
//! ([`codes`]), points at the offending key or value, and renders as human text
//! ([`render_human`]), JSON ([`render_json`]) or GitHub annotations ([`render_github`]).
//!
//! Main types: [`Playbook`], [`Step`] and [`StepKind`], [`TemplateValue`] (a value that may
//! hold MiniJinja templates, rendered by the engine), [`InputDecl`] with
//! [`bind_inputs`] for a run's inputs.
//!
//! The crate also reads schedules files for `runbook serve` ([`load_schedules`],
//! [`load_schedules_with_playbooks`]): [`ScheduleFile`] and [`Schedule`], whose
//! [`Schedule::next_firings`] gives the firing times of its cron line in its time zone, with
//! daylight-saving changes handled (see `docs/schedules.md`); and triggers files, the hooks
//! that will start playbooks ([`load_triggers`], [`load_triggers_with_playbooks`]):
//! [`TriggerFile`] and [`Trigger`], with their auth, templates over `body` and `headers`, and
//! dedup (see `docs/triggers.md`); and test files, the cases `runbook test` runs
//! ([`load_test_file`], [`check_against_playbook`]): [`TestFile`] and [`TestCase`], each with
//! its simulated world and expectations (see `docs/testing.md`).
//!
//! [`classify`] tells what a YAML file is by its top-level keys ([`FileKind`]: a playbook, a
//! schedules, triggers, test, inputs or simulator fleet file, or other YAML), so that
//! `runbook validate DIR` checks each file with its own rules.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of HTTP, Tanium or tokio.
//!
//! ```
//! let source = r#"
//! version: 1
//! name: say-hello
//! inputs:
//!   who: { type: string, default: world }
//! steps:
//!   - id: greet
//!     log: "hello {{ inputs.who }}"
//! "#;
//! let loaded = runbook_playbook::load("hello.yaml", source);
//! assert!(loaded.diagnostics.is_empty());
//! let playbook = loaded.playbook.expect("valid");
//! assert_eq!(playbook.steps[0].kind.kind_name(), "log");
//!
//! let broken = runbook_playbook::load("broken.yaml", "version: 1\nname: x\nsteps:\n  - id: a\n    lgo: hi\n");
//! assert!(broken.playbook.is_none());
//! assert_eq!(broken.diagnostics[0].code, "RB005");
//! assert_eq!((broken.diagnostics[0].line, broken.diagnostics[0].column), (5, 5));
//!
//! let schedules = runbook_playbook::load_schedules(
//!     "schedules.yaml",
//!     "version: 1\nschedules:\n  - { name: nightly, playbook: hello.yaml, cron: '0 25 * * *' }\n",
//! );
//! assert_eq!(schedules.diagnostics[0].code, "RB041");
//! assert_eq!(schedules.diagnostics[0].message, "`cron`: hour field `25`: 25 is outside 0-23");
//!
//! let triggers = runbook_playbook::load_triggers(
//!     "triggers.yaml",
//!     "version: 1\ntriggers:\n  - { name: a, path: /a, playbook: hello, auth: { bearer: { token_env: T } } }\n",
//! );
//! assert_eq!(triggers.diagnostics[0].code, "RB046");
//! assert_eq!((triggers.diagnostics[0].line, triggers.diagnostics[0].column), (3, 22));
//!
//! let test_source = "version: 1\nplaybook: hello.yaml\ncases:\n  - name: greets\n    expect: { steps: { gret: succeeded } }\n";
//! let tests = runbook_playbook::load_test_file("hello.test.yaml", test_source);
//! let test_file = tests.file.expect("valid on its own");
//! let checked = runbook_playbook::check_against_playbook(&test_file, &playbook, "hello.test.yaml", test_source);
//! assert_eq!(checked[0].code, "RB063");
//! assert_eq!(checked[0].help.as_deref(), Some("did you mean `greet`?"));
//! ```

mod check;
pub mod codes;
mod diagnostic;
mod duration;
mod http;
mod inputs;
mod kinds;
mod model;
mod rollout;
mod schedules;
mod schema;
mod suggest;
mod templates;
mod testfile;
mod triggers;
mod yaml;

pub use diagnostic::{Diagnostic, Severity, count, render_github, render_human, render_json};
pub use duration::{DurationError, format_duration, parse_duration};
pub use http::{
    HTTP_MAX_RESPONSE, HTTP_TEXT_LIMIT, HTTP_TIMEOUT, HttpBody, HttpMethod, HttpStep,
    MAX_HTTP_RESPONSE, MAX_HTTP_TIMEOUT, format_size, parse_size,
};
pub use inputs::{InputError, bind_inputs};
pub use kinds::{FileKind, classify};
pub use model::*;
pub use rollout::{Rollout, Wave, rollout_defaults};
pub use schedules::{
    CatchUp, LoadedSchedules, Mark, Overlap, PlaybookSource, Schedule, ScheduleFile, ScheduleMarks,
    load_schedules, load_schedules_with_playbooks, resolve_playbook_path, schedules_json_schema,
};
pub use schema::json_schema;
pub use templates::{
    BUILTIN_FILTERS, BUILTIN_TESTS, GLOBAL_FUNCTIONS, HANDLER_RUN_FIELDS, RUN_FIELDS,
    looks_like_template,
};
pub use testfile::{
    ApprovalChoice, CaseMarks, Expectations, ExpectedRequest, ExpectedStatus, ExpectedStepState,
    FleetChoice, LoadedTestFile, REQUEST_METHODS, SimFaults, SimWorld, TestCase, TestFile,
    check_against_playbook, load_test_file, test_file_json_schema,
};
pub use triggers::{
    Encoding, LoadedTriggers, SignedTimestamp, TRIGGER_NAMES, Trigger, TriggerAuth, TriggerFile,
    TriggerMarks, load_triggers, load_triggers_with_playbooks, triggers_json_schema,
};
pub use yaml::{MAX_DEPTH, MAX_NODES, MAX_SOURCE_BYTES};

/// What [`load`] could read, and every problem found.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The playbook, when there is no error-severity diagnostic.
    pub playbook: Option<Playbook>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// True when a diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and validates one playbook. `file_name` is only used in diagnostics.
pub fn load(file_name: &str, source: &str) -> Loaded {
    let tree = yaml::parse(source, yaml::FileKind::Playbook);
    let mut problems = tree.problems;
    let mut playbook = None;
    match &tree.root {
        Some(root) => {
            let mut checker = check::Checker::new(source);
            checker.problems = std::mem::take(&mut problems);
            playbook = checker.playbook(root);
            problems = checker.problems;
        }
        None if problems.is_empty() => {
            problems.push(
                yaml::Problem::error(codes::MISSING_KEY, Span::new(1, 1), 1, "the file is empty")
                    .help("a playbook needs at least `version: 1`, `name:` and `steps:`"),
            );
        }
        None => {}
    }
    let diagnostics = to_diagnostics(file_name, source, problems);
    if diagnostics.iter().any(Diagnostic::is_error) {
        playbook = None;
    }
    Loaded {
        playbook,
        diagnostics,
    }
}

/// Turns located problems into diagnostics for `file_name`, in a stable order: by position,
/// errors before warnings at the same place.
fn to_diagnostics(
    file_name: &str,
    source: &str,
    mut problems: Vec<yaml::Problem>,
) -> Vec<Diagnostic> {
    problems.sort_by(|a, b| {
        (a.span, std::cmp::Reverse(a.severity), a.code).cmp(&(
            b.span,
            std::cmp::Reverse(b.severity),
            b.code,
        ))
    });
    problems.dedup();
    let lines: Vec<&str> = source.lines().collect();
    problems
        .into_iter()
        .map(|problem| Diagnostic {
            code: problem.code,
            severity: problem.severity,
            message: problem.message,
            file: file_name.to_owned(),
            line: problem.span.line,
            column: problem.span.column,
            length: problem.length,
            source_line: lines
                .get(problem.span.line.saturating_sub(1) as usize)
                .map(|line| line.trim_end_matches('\r').to_owned())
                .unwrap_or_default(),
            help: problem.help,
        })
        .collect()
}

/// Playbook names must be unique within a folder (schedules and runs refer to playbooks by
/// name). Given valid playbooks as `(file, source, playbook)`, reports every name that a
/// playbook in the same folder already uses, at the later file's `name:` value.
pub fn duplicate_names<'a>(
    playbooks: impl IntoIterator<Item = (&'a str, &'a str, &'a Playbook)>,
) -> Vec<Diagnostic> {
    let mut first_by_folder_and_name: std::collections::HashMap<(String, &str), &str> =
        std::collections::HashMap::new();
    let mut diagnostics = Vec::new();
    for (file, source, playbook) in playbooks {
        let folder = std::path::Path::new(file)
            .parent()
            .map(|parent| parent.to_string_lossy().into_owned())
            .unwrap_or_default();
        match first_by_folder_and_name.entry((folder, playbook.name.as_str())) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(file);
            }
            std::collections::hash_map::Entry::Occupied(first) => {
                // The top-level `name:` key sits at column 1; point at its value.
                let (line, source_line) = source
                    .lines()
                    .enumerate()
                    .find(|(_, text)| text.starts_with("name:"))
                    .map_or((1, ""), |(index, text)| (index + 1, text));
                let column = source_line
                    .find(playbook.name.as_str())
                    .map_or(1, |byte| source_line[..byte].chars().count() + 1);
                diagnostics.push(Diagnostic {
                    code: codes::DUPLICATE_PLAYBOOK_NAME,
                    severity: Severity::Error,
                    message: format!(
                        "playbook name `{}` is already used by {}",
                        playbook.name,
                        first.get()
                    ),
                    file: file.to_owned(),
                    line: u32::try_from(line).unwrap_or(1),
                    column: u32::try_from(column).unwrap_or(1),
                    length: u32::try_from(playbook.name.chars().count()).unwrap_or(1),
                    source_line: source_line.to_owned(),
                    help: Some("names identify playbooks in runs and schedules; rename one".into()),
                });
            }
        }
    }
    diagnostics
}

//! `runbook validate PATH...`: offline checks for CI. Diagnostics go to stdout (they are the
//! command's data); notes, the summary and usage errors go to stderr.
//!
//! Each YAML file found in a folder is recognised by its top-level keys
//! ([`runbook_playbook::classify`]) and checked with its own rules ([`action`]): playbooks as
//! playbooks, schedules files as `runbook schedules validate` checks them (each schedule's
//! playbook read relative to the file), triggers files as `runbook triggers validate` checks
//! them (with the valid playbooks found, when there are any). Other YAML is skipped with a note. A file named on the
//! command line is checked as a playbook unless it is recognisably a runbook file of another
//! kind.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use runbook_playbook::{
    Diagnostic, FileKind, Playbook, PlaybookSource, render_github, render_human,
    resolve_playbook_path,
};
use runbook_serve::files::{self, Kind, ReadError};

use crate::cli::{Format, ValidateArgs};

pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let excludes = Excludes::new(&args.exclude)?;
    let found = collect_files(&args.paths, &excludes)?;
    let report = check_files(&found.files, found.excluded);
    print_report(&report, args.format)?;

    let counts = report.counts();
    let mut stderr = anstream::stderr();
    if counts.checked == 0 {
        let _ = writeln!(
            stderr,
            "runbook: no playbooks, schedules or triggers files to check{}",
            counts.left_out()
        );
        return Ok(super::EXIT_USAGE);
    }
    let _ = writeln!(stderr, "{}", counts.summary());
    let failed = counts.errors > 0 || (args.deny_warnings && counts.warnings > 0);
    Ok(if failed {
        super::EXIT_FAILURE
    } else {
        super::EXIT_OK
    })
}

/// What `validate` does with a file of a kind: which rules check it, or why it is skipped.
/// A file named on the command line (`explicit`) is checked as a playbook unless it is a
/// schedules, triggers or test file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Playbook,
    Schedules,
    Triggers,
    Tests,
    Skip(String),
}

fn action(kind: FileKind, explicit: bool) -> Action {
    match kind {
        FileKind::Playbook => Action::Playbook,
        FileKind::Schedules => Action::Schedules,
        FileKind::Triggers => Action::Triggers,
        FileKind::Tests => Action::Tests,
        FileKind::Inputs | FileKind::SimFleet | FileKind::Other if explicit => Action::Playbook,
        FileKind::Inputs | FileKind::SimFleet => {
            Action::Skip(format!("skipped: looks like {}", kind.describe()))
        }
        FileKind::Other => Action::Skip("skipped: not a runbook file".to_owned()),
    }
}

/// What became of one file.
#[derive(Debug)]
enum Status {
    /// Checked with the rules of its kind (a playbook or a schedules file).
    Checked,
    Skipped,
    Unreadable(String),
}

#[derive(Debug)]
struct FileReport {
    file: String,
    status: Status,
    /// A line for people: why it was skipped, or how it was read.
    note: Option<String>,
}

#[derive(Debug)]
struct Report {
    files: Vec<FileReport>,
    excluded: Vec<String>,
    diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    checked: usize,
    skipped: usize,
    excluded: usize,
    errors: usize,
    warnings: usize,
}

impl Report {
    fn counts(&self) -> Counts {
        let (errors, warnings) = runbook_playbook::count(&self.diagnostics);
        let unreadable = self
            .files
            .iter()
            .filter(|file| matches!(file.status, Status::Unreadable(_)))
            .count();
        let skipped = self
            .files
            .iter()
            .filter(|file| matches!(file.status, Status::Skipped))
            .count();
        Counts {
            // A file that cannot be read counts as checked, with an error: never "all valid".
            checked: self.files.len() - skipped,
            skipped,
            excluded: self.excluded.len(),
            errors: errors + unreadable,
            warnings,
        }
    }
}

impl Counts {
    /// ` (2 skipped, 1 excluded)`, or nothing when no file was left out.
    fn left_out(&self) -> String {
        let mut parts = Vec::new();
        if self.skipped > 0 {
            parts.push(format!("{} skipped", self.skipped));
        }
        if self.excluded > 0 {
            parts.push(format!("{} excluded", self.excluded));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }

    fn summary(&self) -> String {
        summary_of(self.checked, &self.left_out(), self.errors, self.warnings)
    }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

/// `checked 3 files: all valid`, `checked 3 files: 2 errors, 1 warning` (also the summary of
/// `runbook schedules validate`).
pub(super) fn summary(files: usize, errors: usize, warnings: usize) -> String {
    summary_of(files, "", errors, warnings)
}

fn summary_of(files: usize, left_out: &str, errors: usize, warnings: usize) -> String {
    let checked = plural(files, "file");
    match (errors, warnings) {
        (0, 0) => format!("checked {checked}{left_out}: all valid"),
        _ => format!(
            "checked {checked}{left_out}: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
    }
}

/// Reads, classifies and checks every file; then the checks across files (playbook names
/// unique per folder) and duplicates dropped (a schedule's playbook checked twice).
fn check_files(found: &[Found], excluded: Vec<String>) -> Report {
    let mut report = Report {
        files: Vec::new(),
        excluded,
        diagnostics: Vec::new(),
    };
    let mut sources: Vec<(usize, String, FileKind)> = Vec::new();
    for (index, file) in found.iter().enumerate() {
        let shown = file.path.display().to_string();
        match files::read_text(&file.path, Kind::Playbook) {
            Ok(source) => {
                let kind = runbook_playbook::classify(&source);
                sources.push((index, source, kind));
                report.files.push(FileReport {
                    file: shown,
                    status: Status::Skipped,
                    note: None,
                });
            }
            Err(error) => report.files.push(FileReport {
                file: shown,
                status: Status::Unreadable(error.to_string()),
                note: None,
            }),
        }
    }
    // The names under which the playbooks checked here are shown, by their real path, so that a
    // schedule's playbook is reported under the same name (and its problems once).
    let shown_by_path: HashMap<PathBuf, String> = sources
        .iter()
        .filter(|(index, _, kind)| action(*kind, found[*index].explicit) == Action::Playbook)
        .filter_map(|(index, _, _)| {
            let path = std::fs::canonicalize(&found[*index].path).ok()?;
            Some((path, report.files[*index].file.clone()))
        })
        .collect();
    let mut valid: Vec<(String, String, Playbook)> = Vec::new();
    let mut triggers: Vec<(usize, String)> = Vec::new();
    for (index, source, kind) in sources {
        let entry = &mut report.files[index];
        let explicit = found[index].explicit;
        match action(kind, explicit) {
            Action::Playbook => {
                entry.status = Status::Checked;
                entry.note = match kind {
                    FileKind::Playbook => None,
                    FileKind::Other => Some(
                        "not a runbook file by its keys; checked as a playbook, as it was named"
                            .to_owned(),
                    ),
                    _ => Some(format!(
                        "looks like {}; checked as a playbook, as it was named",
                        kind.describe()
                    )),
                };
                let loaded = runbook_playbook::load(&entry.file, &source);
                report.diagnostics.extend(loaded.diagnostics);
                if let Some(playbook) = loaded.playbook {
                    valid.push((entry.file.clone(), source, playbook));
                }
            }
            Action::Schedules => {
                entry.status = Status::Checked;
                entry.note = Some("checked as a schedules file".to_owned());
                let diagnostics =
                    check_schedules(&found[index].path, &entry.file, &source, &shown_by_path);
                report.diagnostics.extend(diagnostics);
            }
            // Checked below, once the valid playbooks they may name are known.
            Action::Triggers => triggers.push((index, source)),
            Action::Tests => {
                entry.status = Status::Checked;
                entry.note = Some("checked as a test file, against its playbook".to_owned());
                report.diagnostics.extend(crate::testing::check_test_file(
                    &found[index].path,
                    &entry.file,
                    &source,
                ));
            }
            Action::Skip(note) => entry.note = Some(note),
        }
    }
    let playbooks: Vec<Playbook> = valid.iter().map(|(_, _, p)| p.clone()).collect();
    for (index, source) in triggers {
        let entry = &mut report.files[index];
        entry.status = Status::Checked;
        let loaded = if playbooks.is_empty() {
            entry.note = Some(
                "checked as a triggers file; no valid playbooks here, so each trigger's \
                 `playbook` and `inputs` were not checked"
                    .to_owned(),
            );
            runbook_playbook::load_triggers(&entry.file, &source)
        } else {
            entry.note = Some("checked as a triggers file".to_owned());
            runbook_playbook::load_triggers_with_playbooks(&entry.file, &source, &playbooks)
        };
        report.diagnostics.extend(loaded.diagnostics);
    }
    report.diagnostics.extend(runbook_playbook::duplicate_names(
        valid
            .iter()
            .map(|(file, source, playbook)| (file.as_str(), source.as_str(), playbook)),
    ));
    dedup(&mut report.diagnostics);
    report
}

/// A schedules file checked as `runbook schedules validate` checks it: the file, and each
/// schedule's playbook read relative to it, validated, its inputs bound.
fn check_schedules(
    path: &Path,
    shown: &str,
    source: &str,
    shown_by_path: &HashMap<PathBuf, String>,
) -> Vec<Diagnostic> {
    let loaded = runbook_playbook::load_schedules_with_playbooks(shown, source, |playbook| {
        let resolved = resolve_playbook_path(path, playbook);
        match files::read_text(&resolved, Kind::Playbook) {
            Ok(source) => PlaybookSource::Text {
                file: std::fs::canonicalize(&resolved)
                    .ok()
                    .and_then(|real| shown_by_path.get(&real).cloned())
                    .unwrap_or_else(|| resolved.display().to_string()),
                source,
            },
            Err(ReadError::NotFound) => PlaybookSource::Unreadable {
                reason: format!("no such file `{}`", resolved.display()),
            },
            Err(error) => PlaybookSource::Unreadable {
                reason: error.to_string(),
            },
        }
    });
    loaded.diagnostics
}

/// Drops a diagnostic met before (a playbook checked on its own and as a schedule's).
fn dedup(diagnostics: &mut Vec<Diagnostic>) {
    let mut seen = HashSet::new();
    diagnostics
        .retain(|d| seen.insert((d.file.clone(), d.line, d.column, d.code, d.message.clone())));
}

fn print_report(report: &Report, format: Format) -> anyhow::Result<()> {
    let rendered = match format {
        Format::Human => render_human(&report.diagnostics, true),
        // The same array of diagnostics as ever (scripts read it); what was skipped, and why,
        // is said on stderr in every format.
        Format::Json => runbook_playbook::render_json(&report.diagnostics),
        Format::Github => render_github(&report.diagnostics),
    };
    // anstream strips the colour codes unless stdout is a terminal, and honours NO_COLOR.
    let mut stdout = anstream::stdout();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;

    let mut stderr = anstream::stderr();
    for file in &report.files {
        match (&file.status, &file.note) {
            (Status::Unreadable(reason), _) => {
                let _ = writeln!(stderr, "runbook: cannot read {}: {reason}", file.file);
            }
            (_, Some(note)) => {
                let _ = writeln!(stderr, "note: {}: {note}", file.file);
            }
            _ => {}
        }
    }
    for path in &report.excluded {
        let _ = writeln!(stderr, "note: {path}: excluded");
    }
    Ok(())
}

/// A file to look at, and whether it was named on the command line.
#[derive(Debug)]
struct Found {
    path: PathBuf,
    explicit: bool,
}

#[derive(Debug)]
struct Collected {
    files: Vec<Found>,
    /// Files and folders left out by `--exclude`, as shown.
    excluded: Vec<String>,
}

/// `--exclude` patterns. A pattern without `/` matches a file or folder name at any depth; one
/// with `/` matches the path relative to the folder given (a file named on the command line:
/// its path as written). `*` stays within one folder, `**` crosses folders.
#[derive(Debug)]
struct Excludes {
    by_name: GlobSet,
    by_path: GlobSet,
}

impl Excludes {
    fn new(patterns: &[String]) -> anyhow::Result<Self> {
        let mut by_name = GlobSetBuilder::new();
        let mut by_path = GlobSetBuilder::new();
        for pattern in patterns {
            let trimmed = pattern.trim_start_matches("./").trim_end_matches('/');
            if trimmed.is_empty() {
                bail!("--exclude `{pattern}`: the pattern is empty");
            }
            let glob = glob(trimmed).with_context(|| format!("--exclude `{pattern}`"))?;
            if trimmed.contains('/') {
                by_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        Ok(Self {
            by_name: by_name.build().context("--exclude")?,
            by_path: by_path.build().context("--exclude")?,
        })
    }

    fn matches(&self, relative: &Path) -> bool {
        self.by_path.is_match(relative)
            || relative
                .file_name()
                .is_some_and(|name| self.by_name.is_match(name))
    }
}

fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// Files named directly are taken as they are; folders are searched recursively for
/// `*.yaml` and `*.yml` (hidden files and folders skipped), in a stable order.
fn collect_files(paths: &[PathBuf], excludes: &Excludes) -> anyhow::Result<Collected> {
    let mut collected = Collected {
        files: Vec::new(),
        excluded: Vec::new(),
    };
    for path in paths {
        let metadata =
            std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        if metadata.is_dir() {
            let (files, excluded) = (collected.files.len(), collected.excluded.len());
            walk(path, path, excludes, &mut collected)?;
            if collected.files.len() == files && collected.excluded.len() == excluded {
                bail!("no `*.yaml` or `*.yml` files under `{}`", path.display());
            }
        } else if excludes.matches(path) {
            collected.excluded.push(path.display().to_string());
        } else {
            collected.files.push(Found {
                path: path.clone(),
                explicit: true,
            });
        }
    }
    let mut seen = HashSet::new();
    collected
        .files
        .retain(|file| seen.insert(file.path.clone()));
    Ok(collected)
}

fn walk(
    root: &Path,
    folder: &Path,
    excludes: &Excludes,
    collected: &mut Collected,
) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read folder `{}`", folder.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read folder `{}`", folder.display()))?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with('.'));
        let is_dir = entry.is_dir();
        let is_yaml = entry
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if hidden || !(is_dir || is_yaml) {
            continue;
        }
        let relative = entry.strip_prefix(root).unwrap_or(&entry);
        if excludes.matches(relative) {
            collected.excluded.push(entry.display().to_string());
        } else if is_dir {
            walk(root, &entry, excludes, collected)?;
        } else {
            collected.files.push(Found {
                path: entry,
                explicit: false,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_in_words() {
        assert_eq!(summary(1, 0, 0), "checked 1 file: all valid");
        assert_eq!(summary(3, 2, 1), "checked 3 files: 2 errors, 1 warning");
        let counts = Counts {
            checked: 2,
            skipped: 3,
            excluded: 1,
            errors: 0,
            warnings: 0,
        };
        assert_eq!(
            counts.summary(),
            "checked 2 files (3 skipped, 1 excluded): all valid"
        );
        let counts = Counts {
            excluded: 0,
            errors: 1,
            ..counts
        };
        assert_eq!(
            counts.summary(),
            "checked 2 files (3 skipped): 1 error, 0 warnings"
        );
    }

    #[test]
    fn named_files_are_checked_unless_another_runbook_kind() {
        for kind in FileKind::ALL {
            let named = action(kind, true);
            let found = action(kind, false);
            match kind {
                FileKind::Playbook => {
                    assert_eq!((named, found), (Action::Playbook, Action::Playbook));
                }
                FileKind::Schedules => {
                    assert_eq!((named, found), (Action::Schedules, Action::Schedules));
                }
                FileKind::Triggers => {
                    assert_eq!((named, found), (Action::Triggers, Action::Triggers));
                }
                FileKind::Tests => {
                    assert_eq!((named, found), (Action::Tests, Action::Tests));
                }
                FileKind::Inputs | FileKind::SimFleet | FileKind::Other => {
                    assert_eq!(named, Action::Playbook);
                    assert!(
                        matches!(found, Action::Skip(ref note) if note.starts_with("skipped: "))
                    );
                }
            }
        }
    }

    #[test]
    fn excludes_match_names_anywhere_and_paths_from_the_folder() {
        let excludes = Excludes::new(&[
            "*.fleet.yaml".to_owned(),
            "old/".to_owned(),
            "ops/**/draft-*.yaml".to_owned(),
        ])
        .expect("valid patterns");
        assert!(excludes.matches(Path::new("lab.fleet.yaml")));
        assert!(excludes.matches(Path::new("deep/er/lab.fleet.yaml")));
        assert!(excludes.matches(Path::new("old")));
        assert!(excludes.matches(Path::new("x/old")));
        assert!(excludes.matches(Path::new("ops/draft-1.yaml")));
        assert!(excludes.matches(Path::new("ops/a/b/draft-1.yaml")));
        assert!(!excludes.matches(Path::new("draft-1.yaml")));
        assert!(!excludes.matches(Path::new("lab.yaml")));

        let star = Excludes::new(&["ops/*.yaml".to_owned()]).expect("valid");
        assert!(star.matches(Path::new("ops/a.yaml")));
        assert!(!star.matches(Path::new("ops/sub/a.yaml")));

        assert!(Excludes::new(&["[".to_owned()]).is_err());
        assert!(Excludes::new(&["/".to_owned()]).is_err());
    }
}

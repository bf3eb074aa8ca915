//! `runbook test`: test files found and read with their playbooks (both checked, every problem
//! located), their cases run in parallel, each on a simulator of its own ([`case`]), and the
//! results reported ([`report`]).

pub mod case;
pub mod replay;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use runbook_playbook::{Diagnostic, Playbook, TestFile};
use runbook_serve::files::{self, Kind};

/// A test file read with its playbook, or its problems.
pub struct Suite {
    /// The test file, as given or found.
    pub path: PathBuf,
    pub file: Option<(TestFile, Arc<Playbook>)>,
    /// The problems of the test file and of its playbook (errors make the file invalid).
    pub diagnostics: Vec<Diagnostic>,
    /// Why the test file could not be read at all.
    pub unreadable: Option<String>,
}

impl Suite {
    pub fn is_invalid(&self) -> bool {
        self.file.is_none() || self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Whether a file name is a test file's: `*.test.yaml` or `*.test.yml`.
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".test.yaml") || name.ends_with(".test.yml"))
}

/// The test files under `paths`: files as given, folders searched (sorted, hidden folders and
/// `target` left out). A path that does not exist is an error.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found).map_err(|error| format!("{}: {error}", path.display()))?;
        } else if path.exists() {
            found.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    found.dedup();
    Ok(found)
}

fn walk(folder: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // Symbolic links are not followed: one to a parent folder would never end.
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(folder)?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            Some((entry.path(), entry.file_type().ok()?))
        })
        .filter(|(_, kind)| !kind.is_symlink())
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in entries {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        if kind.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, found)?;
            }
        } else if is_test_file(&path) {
            // `./x.test.yaml` is shown as `x.test.yaml`.
            found.push(
                path.strip_prefix(".")
                    .map_or(path.clone(), Path::to_path_buf),
            );
        }
    }
    Ok(())
}

/// The problems of a test file read as `source` (shown as `shown`), with its expectations
/// checked against its playbook when that playbook is valid (`runbook validate`; the
/// playbook's own problems are its own file's to report).
pub fn check_test_file(path: &Path, shown: &str, source: &str) -> Vec<Diagnostic> {
    let loaded = runbook_playbook::load_test_file(shown, source);
    let mut diagnostics = loaded.diagnostics;
    let Some(file) = loaded.file else {
        return diagnostics;
    };
    let playbook_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&file.playbook.value);
    match files::read_text(&playbook_path, Kind::Playbook) {
        Ok(playbook_source) => {
            let shown_playbook = playbook_path.display().to_string();
            if let Some(playbook) =
                runbook_playbook::load(&shown_playbook, &playbook_source).playbook
            {
                diagnostics.extend(runbook_playbook::check_against_playbook(
                    &file, &playbook, shown, source,
                ));
            }
        }
        Err(error) => diagnostics.push(playbook_missing(
            shown,
            source,
            &file,
            format!(
                "cannot read the playbook {}: {error}",
                playbook_path.display()
            ),
        )),
    }
    diagnostics
}

/// Reads a test file and its playbook, and checks both (the expectations against the
/// playbook too).
pub fn read(path: &Path) -> Suite {
    let shown = path.display().to_string();
    let source = match files::read_text(path, Kind::Tests) {
        Ok(source) => source,
        Err(error) => {
            return Suite {
                path: path.to_path_buf(),
                file: None,
                diagnostics: Vec::new(),
                unreadable: Some(error.to_string()),
            };
        }
    };
    let loaded = runbook_playbook::load_test_file(&shown, &source);
    let mut diagnostics = loaded.diagnostics;
    let Some(file) = loaded.file else {
        return Suite {
            path: path.to_path_buf(),
            file: None,
            diagnostics,
            unreadable: None,
        };
    };
    let playbook_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&file.playbook.value);
    let playbook_shown = playbook_path.display().to_string();
    let playbook_source = match files::read_text(&playbook_path, Kind::Playbook) {
        Ok(source) => source,
        Err(error) => {
            diagnostics.push(playbook_missing(
                &shown,
                &source,
                &file,
                format!("cannot read the playbook {playbook_shown}: {error}"),
            ));
            return Suite {
                path: path.to_path_buf(),
                file: None,
                diagnostics,
                unreadable: None,
            };
        }
    };
    let playbook = runbook_playbook::load(&playbook_shown, &playbook_source);
    diagnostics.extend(playbook.diagnostics);
    let Some(playbook) = playbook.playbook else {
        return Suite {
            path: path.to_path_buf(),
            file: None,
            diagnostics,
            unreadable: None,
        };
    };
    diagnostics.extend(runbook_playbook::check_against_playbook(
        &file, &playbook, &shown, &source,
    ));
    Suite {
        path: path.to_path_buf(),
        file: Some((file, Arc::new(playbook))),
        diagnostics,
        unreadable: None,
    }
}

/// The test file's `playbook` names a file that cannot be read (RB043), at that key's value.
fn playbook_missing(file: &str, source: &str, test: &TestFile, message: String) -> Diagnostic {
    let span = test.playbook.span;
    let source_line = source
        .lines()
        .nth(span.line.saturating_sub(1) as usize)
        .unwrap_or_default()
        .to_owned();
    Diagnostic {
        code: runbook_playbook::codes::PLAYBOOK_NOT_FOUND,
        severity: runbook_playbook::Severity::Error,
        message,
        file: file.to_owned(),
        line: span.line,
        column: span.column,
        length: u32::try_from(test.playbook.value.chars().count().max(1)).unwrap_or(1),
        source_line,
        help: Some("`playbook` is relative to the test file".to_owned()),
    }
}

//! `runbook validate PATH...`: offline checks for CI. Diagnostics go to stdout (they are the
//! command's data); the summary and usage errors go to stderr.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use runbook_playbook::{Diagnostic, Playbook, render_github, render_human, render_json};
use runbook_serve::files::{self, Kind};

use crate::cli::{Format, ValidateArgs};

pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let files = collect_files(&args.paths)?;
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut unreadable = Vec::new();
    let mut valid: Vec<(String, String, Playbook)> = Vec::new();
    for file in &files {
        let shown = file.display().to_string();
        let source = match files::read_text(file, Kind::Playbook) {
            Ok(source) => source,
            Err(error) => {
                unreadable.push(format!("{shown}: {error}"));
                continue;
            }
        };
        let loaded = runbook_playbook::load(&shown, &source);
        diagnostics.extend(loaded.diagnostics);
        if let Some(playbook) = loaded.playbook {
            valid.push((shown, source, playbook));
        }
    }
    diagnostics.extend(runbook_playbook::duplicate_names(valid.iter().map(
        |(file, source, playbook)| (file.as_str(), source.as_str(), playbook),
    )));

    let rendered = match args.format {
        Format::Human => render_human(&diagnostics, true),
        Format::Json => render_json(&diagnostics),
        Format::Github => render_github(&diagnostics),
    };
    // anstream strips the colour codes unless stdout is a terminal, and honours NO_COLOR.
    let mut stdout = anstream::stdout();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;

    let (errors, warnings) = runbook_playbook::count(&diagnostics);
    // A file that cannot be read is an error of that file, counted as such: never "all valid".
    let errors = errors + unreadable.len();
    let mut stderr = anstream::stderr();
    for problem in &unreadable {
        let _ = writeln!(stderr, "runbook: cannot read {problem}");
    }
    let _ = writeln!(stderr, "{}", summary(files.len(), errors, warnings));
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failed {
        super::EXIT_FAILURE
    } else {
        super::EXIT_OK
    })
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

pub(super) fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let checked = plural(files, "file");
    match (errors, warnings) {
        (0, 0) => format!("checked {checked}: all valid"),
        _ => format!(
            "checked {checked}: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
    }
}

/// Files named directly are taken as they are; folders are searched recursively for
/// `*.yaml` and `*.yml` (hidden folders skipped), in a stable order.
fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let metadata =
            std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        if metadata.is_dir() {
            let before = files.len();
            walk(path, &mut files)?;
            if files.len() == before {
                bail!("no `*.yaml` or `*.yml` files under `{}`", path.display());
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = BTreeMap::new();
    files.retain(|file| seen.insert(file.clone(), ()).is_none());
    Ok(files)
}

fn walk(folder: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
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
        if hidden {
            continue;
        }
        if entry.is_dir() {
            walk(&entry, files)?;
        } else if entry
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(entry);
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
    }
}

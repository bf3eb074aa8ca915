//! The playbooks `serve --http --playbooks DIR` may run: every playbook file under the folder,
//! validated once at start. A playbook that does not validate, or whose `name:` another file
//! also has, is reported and not offered (the API lists it with its problems, and refuses to
//! start it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use runbook_playbook::{FileKind, Playbook, Severity};
use runbook_serve::files::{self, Kind};

/// One playbook file of the folder.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its `name:` (the file's stem when it cannot be read).
    pub name: String,
    pub path: PathBuf,
    /// Its text, recorded with each run it starts.
    pub source: String,
    /// The playbook, when it validated and its name is its own.
    pub playbook: Option<Arc<Playbook>>,
    /// Why it is not offered: its errors (`file:line:col: message`), or the name clash.
    pub problems: Vec<String>,
    /// Warnings it validated with.
    pub warnings: usize,
}

impl Entry {
    /// Whether the API may start it.
    pub fn is_offered(&self) -> bool {
        self.playbook.is_some()
    }
}

/// The playbooks of one folder, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    folder: PathBuf,
    entries: Vec<Entry>,
}

impl Catalog {
    /// Reads and validates every `*.yaml`/`*.yml` playbook under `folder` (other kinds of file
    /// there, such as schedules or triggers files, are left alone).
    pub fn load(folder: &Path) -> anyhow::Result<Catalog> {
        if !folder.is_dir() {
            bail!("--playbooks `{}` is not a folder", folder.display());
        }
        let mut paths = Vec::new();
        yaml_files(folder, &mut paths)
            .with_context(|| format!("reading the folder `{}`", folder.display()))?;
        paths.sort();
        let mut entries = Vec::new();
        for path in paths {
            let shown = path.display().to_string();
            let source = match files::read_text(&path, Kind::Playbook) {
                Ok(source) => source,
                Err(error) => {
                    entries.push(Entry {
                        name: stem(&path),
                        path,
                        source: String::new(),
                        playbook: None,
                        problems: vec![format!("{shown}: cannot be read: {error}")],
                        warnings: 0,
                    });
                    continue;
                }
            };
            if runbook_playbook::classify(&source) != FileKind::Playbook {
                continue;
            }
            let loaded = runbook_playbook::load(&shown, &source);
            let problems: Vec<String> = loaded
                .diagnostics
                .iter()
                .filter(|diagnostic| diagnostic.severity == Severity::Error)
                .map(|diagnostic| {
                    format!(
                        "{}:{}:{}: {} [{}]",
                        shown,
                        diagnostic.line,
                        diagnostic.column,
                        diagnostic.message,
                        diagnostic.code
                    )
                })
                .collect();
            let warnings = loaded.diagnostics.len() - problems.len();
            let name = loaded
                .playbook
                .as_ref()
                .map_or_else(|| stem(&path), |playbook| playbook.name.clone());
            entries.push(Entry {
                name,
                path,
                source,
                playbook: loaded.playbook.map(Arc::new),
                problems,
                warnings,
            });
        }
        // One name, one playbook: two files with the same `name:` are both refused, so that a
        // run never starts the one the operator did not mean.
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, entry) in entries.iter().enumerate() {
            if entry.is_offered() {
                by_name.entry(entry.name.clone()).or_default().push(index);
            }
        }
        for indexes in by_name.values().filter(|indexes| indexes.len() > 1) {
            let paths: Vec<String> = indexes
                .iter()
                .map(|&index| entries[index].path.display().to_string())
                .collect();
            for &index in indexes {
                let entry = &mut entries[index];
                entry.playbook = None;
                entry.problems.push(format!(
                    "the name `{}` is used by {}: none of them is offered",
                    entry.name,
                    paths.join(" and ")
                ));
            }
        }
        Ok(Catalog {
            folder: folder.to_owned(),
            entries,
        })
    }

    /// The folder it was read from.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Every playbook file, offered or not, in path order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The offered playbook named `name`.
    pub fn offered(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|entry| entry.is_offered() && entry.name == name)
    }

    /// Whether a file with this name exists but is not offered.
    pub fn refused(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|entry| !entry.is_offered() && entry.name == name)
    }

    /// The offered playbooks (for checking a triggers file against them).
    pub fn playbooks(&self) -> Vec<Playbook> {
        self.entries
            .iter()
            .filter_map(|entry| entry.playbook.as_deref().cloned())
            .collect()
    }

    /// How many playbook files are not offered.
    pub fn refused_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|entry| !entry.is_offered())
            .count()
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn yaml_files(folder: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = entry.file_type()?;
        if hidden {
            continue;
        }
        if kind.is_dir() {
            yaml_files(&path, found)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYBOOK: &str = "version: 1\nname: {name}\nsteps:\n  - id: say\n    log: hi\n";

    fn write(folder: &Path, file: &str, text: &str) {
        std::fs::write(folder.join(file), text).expect("write");
    }

    #[test]
    fn broken_and_clashing_playbooks_are_listed_and_not_offered() {
        let folder = tempfile::tempdir().expect("folder");
        write(
            folder.path(),
            "good.yaml",
            &PLAYBOOK.replace("{name}", "good"),
        );
        write(
            folder.path(),
            "twin-a.yaml",
            &PLAYBOOK.replace("{name}", "twin"),
        );
        write(
            folder.path(),
            "twin-b.yml",
            &PLAYBOOK.replace("{name}", "twin"),
        );
        write(
            folder.path(),
            "broken.yaml",
            "version: 1\nname: broken\nsteps: 3\n",
        );
        write(
            folder.path(),
            "schedules.yaml",
            "version: 1\nschedules: []\n",
        );
        let catalog = Catalog::load(folder.path()).expect("load");
        let names: Vec<(&str, bool)> = catalog
            .entries()
            .iter()
            .map(|entry| (entry.name.as_str(), entry.is_offered()))
            .collect();
        assert_eq!(
            names,
            [
                ("broken", false),
                ("good", true),
                ("twin", false),
                ("twin", false)
            ]
        );
        assert!(catalog.offered("good").is_some());
        assert!(catalog.offered("twin").is_none());
        assert!(catalog.refused("twin").expect("twin").problems[0].contains("is used by"));
        let broken = catalog.refused("broken").expect("broken");
        assert!(
            broken.problems[0].contains("broken.yaml:3:8: `steps` must be a list"),
            "{:?}",
            broken.problems
        );
        assert_eq!(catalog.refused_count(), 3);
    }
}

//! What a YAML file is, judged by its top-level keys: `runbook validate DIR` checks playbooks
//! and schedules files with their own rules and skips the other YAML that sits next to them
//! (inputs files, simulator fleet files, CI workflows, ...) with a note.
//!
//! [`classify`] is the one place that decides. Its rules, in order (docs/playbooks.md
//! "Validating a folder" says the same for users):
//!
//! 1. A file that is not readable YAML, or is empty, is a playbook: its problem is reported
//!    as it always was. When its text still shows a marker key at the start of a line
//!    (`schedules:`), it is that kind, so the problem is worded for it.
//! 2. A marker key decides: `steps` a playbook, `schedules` a schedules file, `triggers` a
//!    triggers file, `cases` a test file, `endpoints` a simulator fleet file. With several,
//!    the first in that order wins (its check then reports the others as unknown keys).
//! 3. A misspelt marker holding a mapping or a list of them (`stpes:`, `schedule:`) counts as
//!    the marker, so that the typo is checked and reported rather than the file skipped.
//! 4. `version` together with a playbook key (`name`, `description`, `inputs`, `guard`,
//!    `secrets`, `outputs`) is a playbook whose `steps` are missing; `version` with
//!    `playbook` is a test file whose `cases` are missing.
//! 5. A mapping of plain values (text, numbers, booleans, null, lists of them) is an inputs
//!    file, what `--inputs FILE` reads.
//! 6. Anything else is not a runbook file: a list, a scalar, or a mapping of other structures
//!    (a `docker-compose.yml` has `version` but none of the keys above). A list whose first
//!    item is a mapping that rules 2-4 place is that kind (`- version: 1` written by mistake).
//!
//! The rules lean towards checking: a file that might be a runbook file with a mistake is
//! checked, and a real mistake is never hidden by a skip. A file misread as a runbook file is
//! left out with `runbook validate --exclude GLOB`.

use crate::suggest::did_you_mean;
use crate::yaml::{self, Node, NodeKind};

/// What a YAML file is, as [`classify`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A playbook (`runbook validate`, `run`, `plan`).
    Playbook,
    /// A schedules file (`runbook serve --schedules`, `runbook schedules validate`).
    Schedules,
    /// A triggers file (`runbook triggers validate`, `runbook serve --triggers`).
    Triggers,
    /// A test file of `runbook test` (`*.test.yaml`).
    Tests,
    /// Input values for `--inputs FILE`.
    Inputs,
    /// A simulator fleet file (`--sim-fleet FILE`, `runbook sim --fleet FILE`).
    SimFleet,
    /// Some other YAML.
    Other,
}

impl FileKind {
    /// Every kind, in the order of the rules' markers.
    pub const ALL: [FileKind; 7] = [
        FileKind::Playbook,
        FileKind::Schedules,
        FileKind::Triggers,
        FileKind::Tests,
        FileKind::SimFleet,
        FileKind::Inputs,
        FileKind::Other,
    ];

    /// A stable machine name: `playbook`, `schedules`, `triggers`, `test`, `inputs`,
    /// `sim_fleet`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Playbook => "playbook",
            FileKind::Schedules => "schedules",
            FileKind::Triggers => "triggers",
            FileKind::Tests => "test",
            FileKind::Inputs => "inputs",
            FileKind::SimFleet => "sim_fleet",
            FileKind::Other => "other",
        }
    }

    /// The kind in words, for a sentence: "a playbook", "an inputs file", ...
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Playbook => "a playbook",
            FileKind::Schedules => "a schedules file",
            FileKind::Triggers => "a triggers file",
            FileKind::Tests => "a test file",
            FileKind::Inputs => "an inputs file",
            FileKind::SimFleet => "a simulator fleet file",
            FileKind::Other => "not a runbook file",
        }
    }

    /// The top-level key that marks the kind, if it has one.
    pub fn marker(self) -> Option<&'static str> {
        MARKERS
            .iter()
            .find(|(_, kind)| *kind == self)
            .map(|(key, _)| *key)
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The key that marks each kind, in the order they win.
const MARKERS: [(&str, FileKind); 5] = [
    ("steps", FileKind::Playbook),
    ("schedules", FileKind::Schedules),
    ("triggers", FileKind::Triggers),
    ("cases", FileKind::Tests),
    ("endpoints", FileKind::SimFleet),
];

/// A playbook's top-level keys other than `version` and `steps`; with `version`, one of them
/// makes a file a playbook (rule 4).
pub(crate) const PLAYBOOK_KEYS: [&str; 6] = [
    "name",
    "description",
    "inputs",
    "guard",
    "secrets",
    "outputs",
];

/// What the file is, by its top-level keys (see the module documentation for the rules).
pub fn classify(source: &str) -> FileKind {
    let tree = yaml::parse(source, yaml::FileKind::Playbook);
    match &tree.root {
        Some(root) => by_root(root),
        None => by_text(source),
    }
}

fn by_root(root: &Node) -> FileKind {
    match &root.kind {
        NodeKind::Map(_) => by_keys(root).unwrap_or_else(|| {
            if is_plain_map(root) {
                FileKind::Inputs
            } else {
                FileKind::Other
            }
        }),
        NodeKind::Seq(items) => items.first().and_then(by_keys).unwrap_or(FileKind::Other),
        _ => FileKind::Other,
    }
}

/// Rules 2 to 4: the kind a mapping's keys name, if they name one.
fn by_keys(node: &Node) -> Option<FileKind> {
    let NodeKind::Map(entries) = &node.kind else {
        return None;
    };
    let has = |key: &str| entries.iter().any(|entry| entry.key == key);
    if let Some((_, kind)) = MARKERS.iter().find(|(key, _)| has(key)) {
        return Some(*kind);
    }
    let misspelt = entries
        .iter()
        .filter(|entry| holds_structure(&entry.value))
        .find_map(|entry| misspelt_marker(&entry.key));
    if misspelt.is_some() {
        return misspelt;
    }
    if has("version") {
        if PLAYBOOK_KEYS.iter().any(|key| has(key)) {
            return Some(FileKind::Playbook);
        }
        if has("playbook") {
            return Some(FileKind::Tests);
        }
    }
    None
}

/// What a marker holds: a mapping, or a list of mappings (steps, schedules, cases, ...). An
/// input's list of plain values does not count.
fn holds_structure(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Map(_) => true,
        NodeKind::Seq(items) => items.iter().any(|item| !is_scalar(item)),
        _ => false,
    }
}

/// The kind whose marker `key` is a likely typo of.
fn misspelt_marker(key: &str) -> Option<FileKind> {
    let marker = did_you_mean(key, MARKERS.iter().map(|(marker, _)| *marker))?;
    MARKERS
        .iter()
        .find(|(candidate, _)| *candidate == marker)
        .map(|(_, kind)| *kind)
}

/// Rule 5: a mapping whose values are all scalars or lists of scalars.
fn is_plain_map(node: &Node) -> bool {
    let NodeKind::Map(entries) = &node.kind else {
        return false;
    };
    entries.iter().all(|entry| match &entry.value.kind {
        NodeKind::Seq(items) => items.iter().all(is_scalar),
        NodeKind::Map(_) => false,
        _ => true,
    })
}

fn is_scalar(node: &Node) -> bool {
    !matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_))
}

/// Rule 1: YAML that cannot be read is a playbook, unless a line starts with another kind's
/// marker key (`schedules:`), written at the first column as top-level keys are.
fn by_text(source: &str) -> FileKind {
    source
        .lines()
        .filter_map(|line| {
            let (key, _) = line.split_once(':')?;
            let key = key.trim_end();
            let plain = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            plain.then_some(key)
        })
        .find_map(|key| {
            MARKERS
                .iter()
                .find(|(marker, _)| *marker == key)
                .map(|(_, kind)| *kind)
        })
        .unwrap_or(FileKind::Playbook)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_kind(source: &str, expected: FileKind) {
        assert_eq!(classify(source), expected, "{source}");
    }

    #[test]
    fn markers_decide() {
        assert_kind("version: 1\nname: a\nsteps: []\n", FileKind::Playbook);
        assert_kind("version: 1\nschedules: []\n", FileKind::Schedules);
        assert_kind(
            "version: 1\ntriggers:\n  - { name: a, path: /hooks/a }\n",
            FileKind::Triggers,
        );
        assert_kind(
            "version: 1\nplaybook: ../a.yaml\ncases:\n  - name: x\n",
            FileKind::Tests,
        );
        assert_kind(
            "endpoints:\n  - { computer_name: a, ip_address: 10.0.0.1, operating_system: Linux }\n",
            FileKind::SimFleet,
        );
        // A playbook that also has `schedules:` is a playbook, whose check reports the key.
        assert_kind("version: 1\nschedules: []\nsteps: []\n", FileKind::Playbook);
    }

    #[test]
    fn typos_are_checked_not_skipped() {
        assert_kind(
            "version: 1\nname: a\nstpes:\n  - id: a\n",
            FileKind::Playbook,
        );
        assert_kind(
            "name: a\nstep:\n  - id: a\n    log: hi\n",
            FileKind::Playbook,
        );
        assert_kind("version: 1\nschedule:\n  - name: a\n", FileKind::Schedules);
        assert_kind("version: 1\nname: a\n", FileKind::Playbook);
        assert_kind("version: 1\nname: a\nsteps:\n", FileKind::Playbook);
        assert_kind("version: 1\nplaybook: a.yaml\ncses: []\n", FileKind::Tests);
        assert_kind("version: 1\nplaybook: a.yaml\n", FileKind::Tests);
        assert_kind("- version: 1\n  name: a\n  steps: []\n", FileKind::Playbook);
    }

    #[test]
    fn a_misspelt_marker_needs_a_list_or_mapping() {
        // An input named `schedule` or `step` holds a plain value, or a list of them.
        assert_kind("schedule: daily\nstep: 3\n", FileKind::Inputs);
        assert_kind("schedule: [mon, tue]\nhost: a\n", FileKind::Inputs);
        assert_kind("schedule:\n  - { day: mon }\n", FileKind::Schedules);
    }

    #[test]
    fn inputs_files_are_maps_of_plain_values() {
        assert_kind("hostname: WIN-DC01\nlevel: 3\n", FileKind::Inputs);
        assert_kind(
            "tags: [a, b]\nforce: true\nratio: 0.5\nnote: ~\n",
            FileKind::Inputs,
        );
        // `version` alone is a value like another (an agent version to deploy).
        assert_kind("version: 7.4\nhostname: a\n", FileKind::Inputs);
        assert_kind("{}\n", FileKind::Inputs);
    }

    #[test]
    fn other_yaml_is_not_a_runbook_file() {
        assert_kind(
            "version: \"3.8\"\nservices:\n  web: { image: nginx }\n",
            FileKind::Other,
        );
        assert_kind(
            "name: CI\non: [push]\njobs:\n  test: { runs-on: ubuntu-latest }\n",
            FileKind::Other,
        );
        assert_kind("- hosts: all\n  tasks: []\n", FileKind::Other);
        assert_kind("just text\n", FileKind::Other);
        assert_kind("- 1\n- 2\n", FileKind::Other);
        assert_kind("groups:\n  - { name: Web, text: x }\n", FileKind::Other);
    }

    #[test]
    fn unreadable_yaml_is_a_playbook_unless_a_marker_shows() {
        assert_kind("", FileKind::Playbook);
        assert_kind("# nothing yet\n", FileKind::Playbook);
        assert_kind("version: 1\nsteps: [\n", FileKind::Playbook);
        assert_kind("hostname: [\n", FileKind::Playbook);
        assert_kind(
            "version: 1\nschedules:\n  - name: a\n    cron: */5 * * * *\n",
            FileKind::Schedules,
        );
    }

    #[test]
    fn names_are_stable_and_markers_listed() {
        let names: Vec<&str> = FileKind::ALL.iter().map(|kind| kind.name()).collect();
        assert_eq!(
            names,
            [
                "playbook",
                "schedules",
                "triggers",
                "test",
                "sim_fleet",
                "inputs",
                "other"
            ]
        );
        assert_eq!(FileKind::Schedules.marker(), Some("schedules"));
        assert_eq!(FileKind::Inputs.marker(), None);
        assert_eq!(FileKind::SimFleet.to_string(), "sim_fleet");
    }

    /// The keys of rule 4 are the playbook's own: each is accepted at the top level, and a key
    /// that is not gets RB005.
    #[test]
    fn playbook_keys_match_the_checker() {
        for key in PLAYBOOK_KEYS.iter().chain(&["version", "steps"]) {
            let loaded = crate::load("p.yaml", &format!("{key}: 1\n"));
            assert!(
                !loaded
                    .diagnostics
                    .iter()
                    .any(|d| d.code == crate::codes::UNKNOWN_KEY),
                "{key}: {:?}",
                loaded.diagnostics
            );
        }
        let loaded = crate::load("p.yaml", "playbook: 1\n");
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| d.code == crate::codes::UNKNOWN_KEY)
        );
    }

    /// The schedules file's marker is a key its loader accepts.
    #[test]
    fn the_schedules_marker_matches_the_loader() {
        let loaded = crate::load_schedules("s.yaml", "version: 1\nschedules: []\n");
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    }
}

//! Checking a test file on its own: its keys, version and playbook path, and each case's name
//! (given, unique), inputs, secrets, world (`sim` or `replay`, not both) and expectations.
//! Every problem is collected; the playbook itself is not looked at here.

use indexmap::IndexMap;
use serde_json::Value;

use crate::check::{Checker, Fields, Owner, written_string};
use crate::codes;
use crate::model::{Span, Spanned};
use crate::schedules::Mark;
use crate::yaml::{self, Entry, Node, NodeKind, Problem};

use super::{CaseMarks, Expectations, SimWorld, TestCase};

const TOP_LEVEL_KEYS: [&str; 3] = ["version", "playbook", "cases"];
const TOP_LEVEL_ALIASES: [(&str, &str); 2] = [("tests", "`cases`"), ("file", "`playbook`")];
const CASE_KEYS: [&str; 6] = ["name", "inputs", "secrets", "sim", "replay", "expect"];
const CASE_ALIASES: [(&str, &str); 4] = [
    ("world", "`sim`"),
    ("simulator", "`sim`"),
    ("expected", "`expect`"),
    ("recording", "`replay`"),
];

/// What the walk over the file found: the good cases and every problem.
pub(super) struct ReadFile {
    pub version: Option<u32>,
    pub playbook: Option<Spanned<String>>,
    pub cases: Vec<TestCase>,
    /// False when some case or top-level key was bad.
    pub complete: bool,
    pub problems: Vec<Problem>,
}

pub(super) fn read_file(source: &str) -> ReadFile {
    let tree = yaml::parse(source, yaml::FileKind::Tests);
    let mut walker = Walker {
        checker: Checker::new(source),
        first_line_by_name: IndexMap::new(),
    };
    walker.checker.problems = tree.problems;
    let mut read = ReadFile {
        version: None,
        playbook: None,
        cases: Vec::new(),
        complete: false,
        problems: Vec::new(),
    };
    match &tree.root {
        Some(root) => walker.file(root, &mut read),
        None if walker.checker.problems.is_empty() => {
            walker.checker.problems.push(
                Problem::error(codes::MISSING_KEY, Span::new(1, 1), 1, "the file is empty")
                    .help("a test file needs `version: 1`, `playbook:` and `cases:`"),
            );
        }
        None => {}
    }
    read.problems = walker.checker.problems;
    read
}

pub(super) struct Walker<'s> {
    pub(super) checker: Checker<'s>,
    first_line_by_name: IndexMap<String, u32>,
}

/// True when `fields` holds no key outside `allowed` (each was reported).
pub(super) fn only_known_keys(fields: &Fields<'_>, allowed: &[&str]) -> bool {
    !fields
        .entries
        .iter()
        .any(|entry| !allowed.contains(&entry.key.as_str()))
}

impl Walker<'_> {
    fn file(&mut self, root: &Node, read: &mut ReadFile) {
        let owner = Owner::node("the test file", root);
        let Some(fields) = self
            .checker
            .fields(root, owner, &TOP_LEVEL_KEYS, &TOP_LEVEL_ALIASES)
        else {
            return;
        };
        let mut complete = only_known_keys(&fields, &TOP_LEVEL_KEYS);
        read.version = self
            .checker
            .version(&fields, "this runbook reads test files of version 1");
        let help = Some("add `playbook: ../my-playbook.yaml`, relative to this file".into());
        read.playbook = self
            .checker
            .required(&fields, "playbook", help)
            .and_then(|entry| self.path(entry, "the playbook's file"));
        let help = Some("add `cases:` with a list of cases, each with a `name`".into());
        let items: &[Node] = match self.checker.required(&fields, "cases", help) {
            Some(entry) => match &entry.value.kind {
                NodeKind::Seq(items) if !items.is_empty() => items,
                NodeKind::Seq(_) | NodeKind::Null => {
                    self.checker
                        .error(
                            codes::EMPTY_LIST,
                            entry.key_span,
                            entry.key_length,
                            "`cases` is empty",
                        )
                        .help = Some("a test file holds at least one case".into());
                    complete = false;
                    &[]
                }
                _ => {
                    self.checker
                        .wrong_type("cases", "a list of cases", &entry.value);
                    complete = false;
                    &[]
                }
            },
            None => {
                complete = false;
                &[]
            }
        };
        for (index, node) in items.iter().enumerate() {
            match self.case(node, index) {
                Some(case) => read.cases.push(case),
                None => complete = false,
            }
        }
        read.complete = complete && read.version.is_some() && read.playbook.is_some();
    }

    /// A non-empty relative path (`playbook`, `replay`).
    fn path(&mut self, entry: &Entry, what: &str) -> Option<Spanned<String>> {
        let text = self.checker.string(entry)?;
        if text.trim().is_empty() {
            self.checker
                .error(
                    codes::WRONG_TYPE,
                    entry.value.span,
                    entry.value.length.max(1),
                    format!("`{}` is empty", entry.key),
                )
                .help = Some(format!(
                "write the path of {what}, relative to this test file"
            ));
            return None;
        }
        Some(Spanned {
            value: text,
            span: entry.value.span,
        })
    }

    fn case(&mut self, node: &Node, index: usize) -> Option<TestCase> {
        let what = match written_string(node, "name") {
            Some(name) => format!("case `{name}`"),
            None => format!("case {}", index + 1),
        };
        let owner = Owner::node(&what, node);
        let fields = self
            .checker
            .fields(node, owner, &CASE_KEYS, &CASE_ALIASES)?;
        let mut ok = only_known_keys(&fields, &CASE_KEYS);
        let mut marks = CaseMarks::default();

        let name = self.name(&fields, &mut marks);
        let inputs = match fields.get("inputs") {
            Some(entry) => self.inputs(entry, &mut marks),
            None => Some(IndexMap::new()),
        };
        let secrets = match fields.get("secrets") {
            Some(entry) => self.secrets(entry, &mut marks),
            None => Some(IndexMap::new()),
        };
        let sim = match fields.get("sim") {
            Some(entry) => self.sim(entry),
            None => Some(SimWorld::default()),
        };
        let replay = match fields.get("replay") {
            Some(entry) => {
                let path = self.path(entry, "a recording");
                ok &= path.is_some();
                path
            }
            None => None,
        };
        if let (Some(sim_entry), Some(replay_entry)) = (fields.get("sim"), fields.get("replay")) {
            self.checker
                .error(
                    codes::SIM_AND_REPLAY,
                    replay_entry.key_span,
                    replay_entry.key_length,
                    format!("{what} has both `sim` and `replay`"),
                )
                .help = Some(format!(
                "a replayed run answers recorded exchanges and has no simulator: remove `replay` \
                 or the `sim` on line {}",
                sim_entry.key_span.line
            ));
            ok = false;
        }
        let expect = match fields.get("expect") {
            Some(entry) => self.expect(entry, &mut marks),
            None => Some(Expectations::default()),
        };
        if !ok {
            return None;
        }
        Some(TestCase {
            name: name?,
            span: node.span,
            inputs: inputs?,
            secrets: secrets?,
            sim: sim?,
            replay,
            expect: expect?,
            marks,
        })
    }

    fn name(&mut self, fields: &Fields<'_>, marks: &mut CaseMarks) -> Option<String> {
        let help = Some("add `name: tags the host after approval`; it names the case".into());
        let entry = self.checker.required(fields, "name", help)?;
        marks.name = Mark::of_value(&entry.value);
        let name = self.checker.string(entry)?;
        if name.trim().is_empty() {
            self.checker
                .error(
                    codes::WRONG_TYPE,
                    entry.value.span,
                    entry.value.length.max(1),
                    "`name` is empty",
                )
                .help = Some("say what the case checks, e.g. `denied approval fails`".into());
            return None;
        }
        if let Some(first_line) = self.first_line_by_name.get(&name).copied() {
            self.checker
                .error(
                    codes::DUPLICATE_CASE,
                    entry.value.span,
                    entry.value.length,
                    format!("case name `{name}` is already used"),
                )
                .help = Some(format!(
                "the first `{name}` is on line {first_line}; each case needs its own name"
            ));
            return None;
        }
        self.first_line_by_name
            .insert(name.clone(), entry.value.span.line);
        Some(name)
    }

    fn inputs(&mut self, entry: &Entry, marks: &mut CaseMarks) -> Option<IndexMap<String, Value>> {
        marks.inputs = Some(Mark::of_key(entry));
        let entries = match &entry.value.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => return Some(IndexMap::new()),
            _ => {
                let expected = "a mapping of input names to values";
                self.checker.wrong_type("inputs", expected, &entry.value);
                return None;
            }
        };
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

    fn secrets(
        &mut self,
        entry: &Entry,
        marks: &mut CaseMarks,
    ) -> Option<IndexMap<String, String>> {
        let entries = match &entry.value.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => return Some(IndexMap::new()),
            _ => {
                let expected = "a mapping of secret names to test values";
                self.checker.wrong_type("secrets", expected, &entry.value);
                return None;
            }
        };
        let mut secrets = IndexMap::new();
        let mut ok = true;
        for secret in entries {
            marks
                .secret_keys
                .insert(secret.key.clone(), Mark::of_key(secret));
            match self.checker.string(secret) {
                Some(value) => {
                    secrets.insert(secret.key.clone(), value);
                }
                None => ok = false,
            }
        }
        ok.then_some(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_of(source: &str) -> Vec<&'static str> {
        read_file(source)
            .problems
            .iter()
            .map(|problem| problem.code)
            .collect()
    }

    const HEAD: &str = "version: 1\nplaybook: p.yaml\ncases:\n";

    #[test]
    fn a_minimal_file_is_complete_with_the_default_world() {
        let read = read_file(&format!("{HEAD}  - name: a\n"));
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert!(read.complete);
        assert_eq!(
            read.playbook.map(|path| path.value).as_deref(),
            Some("p.yaml")
        );
        let case = &read.cases[0];
        assert_eq!(case.sim, SimWorld::default());
        assert_eq!(case.expect, Expectations::default());
        assert_eq!(case.replay, None);
        assert_eq!(case.span, Span::new(4, 5));
    }

    #[test]
    fn null_sections_are_empty_ones() {
        let read = read_file(&format!(
            "{HEAD}  - name: a\n    inputs:\n    secrets:\n    sim:\n    expect:\n"
        ));
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert!(read.complete);
    }

    #[test]
    fn case_names_are_required_non_empty_and_unique() {
        assert_eq!(
            codes_of(&format!("{HEAD}  - inputs: {{}}\n")),
            [codes::MISSING_KEY]
        );
        assert_eq!(
            codes_of(&format!("{HEAD}  - name: ' '\n")),
            [codes::WRONG_TYPE]
        );
        assert_eq!(
            codes_of(&format!("{HEAD}  - name: a\n  - name: b\n  - name: a\n")),
            [codes::DUPLICATE_CASE]
        );
    }

    #[test]
    fn sim_and_replay_exclude_each_other() {
        let source = format!("{HEAD}  - name: a\n    sim: {{}}\n    replay: r.json\n");
        let read = read_file(&source);
        assert_eq!(read.problems.len(), 1);
        assert_eq!(read.problems[0].code, codes::SIM_AND_REPLAY);
        assert_eq!(read.problems[0].span, Span::new(6, 5));
        assert!(read.cases.is_empty());
        let replay = read_file(&format!("{HEAD}  - name: a\n    replay: r.json\n"));
        let path = replay.cases[0].replay.as_ref().expect("a replay");
        assert_eq!(
            (path.value.as_str(), path.span),
            ("r.json", Span::new(5, 13))
        );
    }

    #[test]
    fn the_top_level_needs_its_three_keys_and_a_case() {
        assert_eq!(
            codes_of("cases:\n  - name: a\n"),
            [codes::MISSING_KEY, codes::MISSING_KEY]
        );
        assert_eq!(
            codes_of("version: 1\nplaybook: p.yaml\ncases:\n"),
            [codes::EMPTY_LIST]
        );
        assert_eq!(
            codes_of("version: 1\nplaybook: ''\ncases: [ { name: a } ]\n"),
            [codes::WRONG_TYPE]
        );
        assert_eq!(codes_of(""), [codes::MISSING_KEY]);
        assert!(!read_file("version: 1\nplaybook: p.yaml\ncases: {}\n").complete);
    }
}

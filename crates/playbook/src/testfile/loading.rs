//! Loading a test file, and checking a valid one against its playbook: the steps and outputs
//! its expectations name, the inputs and secrets its cases give.

use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::inputs::{InputError, bind_inputs};
use crate::model::{Playbook, Step, StepKind};
use crate::schedules::Mark;
use crate::suggest::did_you_mean;
use crate::yaml::Problem;

use super::checks::read_file;
use super::{LoadedTestFile, TestCase, TestFile};

/// Parses and validates a test file on its own: YAML, keys, types, the version, case names,
/// worlds and expectations. It never fails: every problem is a located diagnostic, and the
/// file is given only when there is no error. The playbook is not read (this crate does no
/// I/O); see [`check_against_playbook`]. `path_for_messages` is only used in diagnostics.
pub fn load_test_file(path_for_messages: &str, source: &str) -> LoadedTestFile {
    let read = read_file(source);
    let diagnostics = crate::to_diagnostics(path_for_messages, source, read.problems);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let file = match (read.version, read.playbook, read.complete, has_errors) {
        (Some(version), Some(playbook), true, false) => Some(TestFile {
            version,
            playbook,
            cases: read.cases,
        }),
        _ => None,
    };
    LoadedTestFile { file, diagnostics }
}

/// Checks a valid test file against the playbook it tests, before anything runs: each
/// `expect.steps` key is a step id of the playbook (main steps, `on_failure`, `finally`, and
/// the steps inside a `for_each`), each `expect.outputs` key one of its `outputs`, each case's
/// inputs bind as a run's would (declared, valid, every required one given) and each
/// `secrets` key is listed in its `secrets:`. The diagnostics point into the test file
/// (`source_path`, `source`).
pub fn check_against_playbook(
    test: &TestFile,
    playbook: &Playbook,
    source_path: &str,
    source: &str,
) -> Vec<Diagnostic> {
    let step_ids = step_ids(playbook);
    let mut problems = Vec::new();
    for case in &test.cases {
        problems.extend(input_problems(case, playbook));
        problems.extend(secret_problems(case, playbook));
        for (id, mark) in &case.marks.step_keys {
            if !step_ids.contains(&id.as_str()) {
                let help = suggestion(id, step_ids.iter().copied(), "its steps are");
                let message = format!("playbook `{}` has no step `{id}`", playbook.name);
                problems.push(problem(codes::UNKNOWN_EXPECTATION, *mark, message, help));
            }
        }
        let outputs: Vec<&str> = playbook.outputs.keys().map(String::as_str).collect();
        for (name, mark) in &case.marks.output_keys {
            if !outputs.contains(&name.as_str()) {
                let help = suggestion(name, outputs.iter().copied(), "its outputs are");
                let message = format!("playbook `{}` has no output `{name}`", playbook.name);
                problems.push(problem(codes::UNKNOWN_EXPECTATION, *mark, message, help));
            }
        }
    }
    crate::to_diagnostics(source_path, source, problems)
}

/// Every step id of the playbook, loops' inner steps included.
fn step_ids(playbook: &Playbook) -> Vec<&str> {
    fn walk<'p>(steps: impl Iterator<Item = &'p Step>, ids: &mut Vec<&'p str>) {
        for step in steps {
            ids.push(&step.id);
            if let StepKind::ForEach(each) = &step.kind {
                walk(each.steps.iter(), ids);
            }
        }
    }
    let mut ids = Vec::new();
    walk(playbook.all_steps(), &mut ids);
    ids
}

/// `did you mean` the closest candidate, or the list of them (`listed` names it).
fn suggestion<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
    listed: &str,
) -> String {
    match did_you_mean(word, candidates.clone()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            let all: Vec<&str> = candidates.collect();
            if all.is_empty() {
                "the playbook has none".to_owned()
            } else {
                format!("{listed}: {}", all.join(", "))
            }
        }
    }
}

fn problem(code: &'static str, mark: Mark, message: String, help: String) -> Problem {
    Problem::error(code, mark.span, mark.length, message).help(help)
}

/// The case's inputs bound as a run's would be: each problem located at the input's key (an
/// undeclared one), its value (an invalid one) or the `inputs` key (a missing one).
fn input_problems(case: &TestCase, playbook: &Playbook) -> Vec<Problem> {
    let Err(errors) = bind_inputs(playbook, &[], &case.inputs) else {
        return Vec::new();
    };
    let marks = &case.marks;
    let declared: Vec<&str> = playbook.inputs.keys().map(String::as_str).collect();
    let name_of = &playbook.name;
    // A required input whose misspelling was given is reported once, as the misspelling.
    let suggested: Vec<String> = errors
        .iter()
        .filter_map(|error| match error {
            InputError::Undeclared { suggestion, .. } => suggestion.clone(),
            _ => None,
        })
        .collect();
    errors
        .into_iter()
        .filter(|error| !matches!(error, InputError::Missing { name } if suggested.contains(name)))
        .map(|error| match error {
            InputError::Undeclared { name, suggestion } => {
                let mark = marks.input_keys.get(&name).copied().unwrap_or(marks.name);
                let help = match suggestion {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if declared.is_empty() => "this playbook declares no inputs".to_owned(),
                    None => format!("its inputs are: {}", declared.join(", ")),
                };
                let message = format!("playbook `{name_of}` has no input `{name}`");
                problem(codes::CASE_INPUTS, mark, message, help)
            }
            InputError::Invalid { name, reason } => {
                let mark = marks.input_values.get(&name).copied().unwrap_or(marks.name);
                let help = "give a value that fits the input's declaration".to_owned();
                problem(
                    codes::CASE_INPUTS,
                    mark,
                    format!("input `{name}`: {reason}"),
                    help,
                )
            }
            InputError::Missing { name } => {
                let mark = marks.inputs.unwrap_or(marks.name);
                let message = format!(
                    "playbook `{name_of}` requires input `{name}`, which this case does not give"
                );
                let help = format!("add `{name}: ...` under the case's `inputs:`");
                problem(codes::CASE_INPUTS, mark, message, help)
            }
        })
        .collect()
}

/// Each secret the case gives must be one the playbook lists under `secrets:`.
fn secret_problems(case: &TestCase, playbook: &Playbook) -> Vec<Problem> {
    let listed = || playbook.secrets.iter().map(String::as_str);
    case.marks
        .secret_keys
        .iter()
        .filter(|(name, _)| !playbook.secrets.contains(name))
        .map(|(name, mark)| {
            let help = match did_you_mean(name, listed()) {
                Some(close) => format!("did you mean `{close}`?"),
                None if playbook.secrets.is_empty() => "this playbook lists no secrets".to_owned(),
                None => format!("its secrets are: {}", playbook.secrets.join(", ")),
            };
            let message = format!("playbook `{}` lists no secret `{name}`", playbook.name);
            problem(codes::CASE_INPUTS, *mark, message, help)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYBOOK: &str = "version: 1\nname: p\ninputs:\n  host: { type: string }\n  tag: { type: string, default: x }\nsecrets: [TOKEN]\nsteps:\n  - id: loop\n    for_each:\n      items: [1]\n      steps:\n        - id: inner\n          log: hi\nfinally:\n  - id: last\n    log: bye\noutputs:\n  done: \"{{ true }}\"\n";

    fn playbook() -> Playbook {
        crate::load("p.yaml", PLAYBOOK).playbook.expect("valid")
    }

    fn check(case: &str) -> Vec<Diagnostic> {
        let source = format!("version: 1\nplaybook: p.yaml\ncases:\n{case}");
        let loaded = load_test_file("t.test.yaml", &source);
        let file = loaded.file.expect("valid on its own");
        check_against_playbook(&file, &playbook(), "t.test.yaml", &source)
    }

    #[test]
    fn step_ids_reach_into_loops_and_handlers() {
        assert_eq!(step_ids(&playbook()), ["loop", "inner", "last"]);
        let fine = "  - name: a\n    inputs: { host: h }\n    secrets: { TOKEN: t }\n    expect: { steps: { inner: skipped, last: succeeded }, outputs: { done: true } }\n";
        assert_eq!(check(fine), []);
    }

    #[test]
    fn each_wrong_name_is_one_located_error() {
        let diagnostics = check(
            "  - name: a\n    inputs: { host: 1, hots: h }\n    secrets: { TOKN: t }\n    expect: { steps: { iner: failed }, outputs: { don: 1 } }\n",
        );
        let found: Vec<(&str, u32, u32)> = diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.column))
            .collect();
        assert_eq!(
            found,
            [
                (codes::CASE_INPUTS, 5, 21),
                (codes::CASE_INPUTS, 5, 24),
                (codes::CASE_INPUTS, 6, 16),
                (codes::UNKNOWN_EXPECTATION, 7, 24),
                (codes::UNKNOWN_EXPECTATION, 7, 51),
            ]
        );
        assert!(diagnostics.iter().all(|d| d.help.is_some()));
    }

    #[test]
    fn a_missing_input_points_at_the_inputs_or_the_case_name() {
        let at_inputs = check("  - name: a\n    inputs: { tag: y }\n");
        assert_eq!((at_inputs[0].line, at_inputs[0].column), (5, 5));
        let at_name = check("  - name: a\n");
        assert_eq!((at_name[0].line, at_name[0].column), (4, 11));
        assert_eq!(at_name[0].code, codes::CASE_INPUTS);
    }

    #[test]
    fn suggestions_fall_back_to_the_list() {
        let names = ["alpha", "beta"];
        assert_eq!(
            suggestion("alpa", names.iter().copied(), "x"),
            "did you mean `alpha`?"
        );
        assert_eq!(
            suggestion("zzz", names.iter().copied(), "its steps are"),
            "its steps are: alpha, beta"
        );
        assert_eq!(
            suggestion("zzz", [].iter().copied(), "x"),
            "the playbook has none"
        );
    }
}

//! A case's `expect`: the run's status and error text, a subset of its outputs, step states,
//! and requests counted on the simulator's log (method, path, count, a subset of the body).

use indexmap::IndexMap;

use crate::check::Owner;
use crate::codes;
use crate::schedules::Mark;
use crate::yaml::{Entry, Node, NodeKind};

use super::checks::{Walker, only_known_keys};
use super::{
    CaseMarks, Expectations, ExpectedRequest, ExpectedStatus, ExpectedStepState, REQUEST_METHODS,
};

const EXPECT_KEYS: [&str; 5] = ["status", "error_contains", "outputs", "steps", "requests"];
const EXPECT_ALIASES: [(&str, &str); 4] = [
    ("state", "`status`"),
    ("error", "`error_contains`"),
    ("output", "`outputs`"),
    ("calls", "`requests`"),
];
const REQUEST_KEYS: [&str; 4] = ["method", "path", "count", "body"];
const REQUEST_ALIASES: [(&str, &str); 3] =
    [("url", "`path`"), ("times", "`count`"), ("json", "`body`")];

impl Walker<'_> {
    pub(super) fn expect(&mut self, entry: &Entry, marks: &mut CaseMarks) -> Option<Expectations> {
        if matches!(entry.value.kind, NodeKind::Null) {
            return Some(Expectations::default());
        }
        let owner = Owner::key("`expect`", entry);
        let fields = self
            .checker
            .fields(&entry.value, owner, &EXPECT_KEYS, &EXPECT_ALIASES)?;
        let mut ok = only_known_keys(&fields, &EXPECT_KEYS);
        let status = self
            .checker
            .optional(&fields, "status", &mut ok, |checker, entry| {
                let word = checker.string(entry)?;
                let names = ExpectedStatus::ALL.map(ExpectedStatus::as_str);
                checker.word(entry, &word, &names, "a run status", |word| {
                    ExpectedStatus::ALL
                        .into_iter()
                        .find(|status| status.as_str() == word)
                })
            });
        let error_contains =
            self.checker
                .optional(&fields, "error_contains", &mut ok, |checker, entry| {
                    checker.string(entry)
                });
        let outputs = match fields.get("outputs") {
            Some(entry) => self
                .mapping(entry, "output names to values")
                .map(|entries| {
                    let mut outputs = IndexMap::new();
                    for output in entries {
                        marks
                            .output_keys
                            .insert(output.key.clone(), Mark::of_key(output));
                        outputs.insert(output.key.clone(), output.value.to_json());
                    }
                    outputs
                }),
            None => Some(IndexMap::new()),
        };
        let steps = match fields.get("steps") {
            Some(entry) => self.step_states(entry, marks),
            None => Some(IndexMap::new()),
        };
        let requests = match fields.get("requests") {
            Some(entry) => self.requests(entry),
            None => Some(Vec::new()),
        };
        if !ok {
            return None;
        }
        Some(Expectations {
            status,
            error_contains,
            outputs: outputs?,
            steps: steps?,
            requests: requests?,
        })
    }

    /// The entries of a mapping (null is an empty one); `what` says what it maps.
    fn mapping<'n>(&mut self, entry: &'n Entry, what: &str) -> Option<&'n [Entry]> {
        match &entry.value.kind {
            NodeKind::Map(entries) => Some(entries),
            NodeKind::Null => Some(&[]),
            _ => {
                let expected = format!("a mapping of {what}");
                self.checker.wrong_type(&entry.key, &expected, &entry.value);
                None
            }
        }
    }

    fn step_states(
        &mut self,
        entry: &Entry,
        marks: &mut CaseMarks,
    ) -> Option<IndexMap<String, ExpectedStepState>> {
        let entries = self.mapping(entry, "step ids to states")?;
        let names = ExpectedStepState::ALL.map(ExpectedStepState::as_str);
        let mut steps = IndexMap::new();
        let mut ok = true;
        for step in entries {
            marks.step_keys.insert(step.key.clone(), Mark::of_key(step));
            let state = self.checker.string(step).and_then(|word| {
                self.checker
                    .word(step, &word, &names, "a step state", |word| {
                        ExpectedStepState::ALL
                            .into_iter()
                            .find(|state| state.as_str() == word)
                    })
            });
            match state {
                Some(state) => {
                    steps.insert(step.key.clone(), state);
                }
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn requests(&mut self, entry: &Entry) -> Option<Vec<ExpectedRequest>> {
        let items = match &entry.value.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => &[],
            _ => {
                let expected = "a list of requests `{ method, path, count }`";
                self.checker.wrong_type("requests", expected, &entry.value);
                return None;
            }
        };
        let mut requests = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let Some(request) = self.request(item, index) {
                requests.push(request);
            }
        }
        (requests.len() == items.len()).then_some(requests)
    }

    fn request(&mut self, node: &Node, index: usize) -> Option<ExpectedRequest> {
        let what = format!("request {}", index + 1);
        let owner = Owner::node(&what, node);
        let fields = self
            .checker
            .fields(node, owner, &REQUEST_KEYS, &REQUEST_ALIASES)?;
        let mut ok = only_known_keys(&fields, &REQUEST_KEYS);
        let method = self
            .checker
            .required(&fields, "method", Some("add `method: POST`".into()))
            .and_then(|entry| {
                let word = self.checker.string(entry)?;
                self.checker
                    .word(entry, &word, &REQUEST_METHODS, "an HTTP method", |word| {
                        REQUEST_METHODS.contains(&word).then(|| word.to_owned())
                    })
            });
        let path = self
            .checker
            .required(&fields, "path", Some("add `path: /api/v2/actions`".into()))
            .and_then(|entry| {
                let path = self.checker.string(entry)?;
                if path.starts_with('/') {
                    return Some(path);
                }
                self.checker
                    .error(
                        codes::IMPOSSIBLE_REQUEST,
                        entry.value.span,
                        entry.value.length,
                        format!("request path `{path}` does not start with `/`"),
                    )
                    .help = Some(
                    "write the path as the server sees it, without scheme and host: \
                     `/api/v2/actions`"
                        .into(),
                );
                None
            });
        let count = self
            .checker
            .optional(&fields, "count", &mut ok, |checker, entry| {
                checker.integer(entry, 0, i64::MAX)
            })
            .and_then(|count| u64::try_from(count).ok());
        let body = fields.get("body").map(|entry| entry.value.to_json());
        if let (Some(entry), Some("GET")) = (fields.get("body"), method.as_deref()) {
            self.checker
                .error(
                    codes::IMPOSSIBLE_REQUEST,
                    entry.key_span,
                    entry.key_length,
                    "`body` on a `GET` request: a GET sends no body",
                )
                .help =
                Some("remove `body`, or expect the POST, PUT or PATCH that sends it".into());
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(ExpectedRequest {
            method: method?,
            path: path?,
            count,
            body,
            span: node.span,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::checks::read_file;
    use super::*;

    /// The expectations of a one-case file whose `expect` is `expect`, or its problems' codes.
    fn expectations(expect: &str) -> Result<Expectations, Vec<&'static str>> {
        let read = read_file(&format!(
            "version: 1\nplaybook: p.yaml\ncases:\n  - name: a\n    expect: {expect}\n"
        ));
        if read.problems.is_empty() {
            Ok(read.cases[0].expect.clone())
        } else {
            Err(read.problems.iter().map(|problem| problem.code).collect())
        }
    }

    #[test]
    fn statuses_and_step_states_are_words() {
        let read =
            expectations("{ status: cancelled, steps: { a: skipped, b: failed } }").expect("valid");
        assert_eq!(read.status, Some(ExpectedStatus::Cancelled));
        assert_eq!(read.steps["a"], ExpectedStepState::Skipped);
        assert_eq!(read.steps["b"], ExpectedStepState::Failed);
        assert_eq!(
            expectations("{ status: ok }"),
            Err(vec![codes::INVALID_CHOICE])
        );
        assert_eq!(
            expectations("{ steps: { a: 1 } }"),
            Err(vec![codes::WRONG_TYPE])
        );
    }

    #[test]
    fn requests_count_at_least_one_unless_told() {
        let read = expectations(
            "{ requests: [ { method: PATCH, path: /a }, { method: POST, path: /b, count: 0, body: [1] } ] }",
        )
        .expect("valid");
        assert_eq!(read.requests[0].count, None);
        assert_eq!(read.requests[0].body, None);
        assert_eq!(read.requests[1].count, Some(0));
        assert_eq!(read.requests[1].body, Some(serde_json::json!([1])));
        assert_eq!(
            expectations("{ requests: [ { method: GET, path: /a, body: null } ] }"),
            Err(vec![codes::IMPOSSIBLE_REQUEST])
        );
        assert_eq!(
            expectations("{ requests: [ { method: DELETE, path: https://x/a } ] }"),
            Err(vec![codes::IMPOSSIBLE_REQUEST])
        );
        assert_eq!(
            expectations("{ requests: [ { method: GET, path: /a, count: 1.5 } ] }"),
            Err(vec![codes::WRONG_TYPE])
        );
    }

    #[test]
    fn outputs_are_any_values_and_their_keys_are_marked() {
        let read = read_file(
            "version: 1\nplaybook: p.yaml\ncases:\n  - name: a\n    expect: { outputs: { n: [1, 2], s: x } }\n",
        );
        let case = &read.cases[0];
        assert_eq!(case.expect.outputs["n"], serde_json::json!([1, 2]));
        assert_eq!(case.marks.output_keys["s"].span.column, 37);
    }
}

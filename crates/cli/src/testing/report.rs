//! What `runbook test` prints: for people (a line per case, a diff per failure: expected
//! against actual), JUnit XML for CI dashboards, GitHub annotations, or JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::case::CaseResult;

/// The results of one test file.
pub struct FileReport {
    pub file: String,
    pub cases: Vec<CaseResult>,
}

/// Counts over every file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub invalid_files: usize,
}

impl Totals {
    pub fn of(reports: &[FileReport], invalid_files: usize) -> Totals {
        let cases = reports.iter().flat_map(|report| &report.cases);
        let (passed, failed) = cases.fold((0, 0), |(passed, failed), case| {
            if case.passed {
                (passed + 1, failed)
            } else {
                (passed, failed + 1)
            }
        });
        Totals {
            passed,
            failed,
            invalid_files,
        }
    }
}

/// A case's failure as lines: what differed, expected against actual.
pub fn diff_lines(case: &CaseResult) -> Vec<String> {
    case.mismatches
        .iter()
        .map(|mismatch| {
            format!(
                "{}: expected {}, got {}",
                mismatch.what, mismatch.expected, mismatch.actual
            )
        })
        .collect()
}

/// For people: `ok` or `FAILED` per case, the diff under each failure, and the totals.
pub fn human(reports: &[FileReport], totals: Totals, elapsed_ms: u64) -> String {
    let mut text = String::new();
    for report in reports {
        for case in &report.cases {
            let verdict = if case.passed { "ok    " } else { "FAILED" };
            let _ = writeln!(
                text,
                "{verdict} {} :: {} ({} ms)",
                report.file, case.name, case.elapsed_ms
            );
            for line in diff_lines(case) {
                let _ = writeln!(text, "         - {line}");
            }
        }
    }
    let invalid = match totals.invalid_files {
        0 => String::new(),
        1 => ", 1 invalid test file".to_owned(),
        count => format!(", {count} invalid test files"),
    };
    let _ = writeln!(
        text,
        "\n{} passed, {} failed{invalid} ({:.1} s)",
        totals.passed,
        totals.failed,
        elapsed_ms as f64 / 1000.0
    );
    text
}

/// As JSON: every case with its mismatches, and the totals.
pub fn json(reports: &[FileReport], totals: Totals, elapsed_ms: u64) -> Value {
    let cases: Vec<Value> = reports
        .iter()
        .flat_map(|report| {
            report.cases.iter().map(|case| {
                json!({
                    "file": report.file,
                    "name": case.name,
                    "line": case.line,
                    "passed": case.passed,
                    "status": case.status,
                    "error": case.error,
                    "mismatches": case.mismatches,
                    "elapsed_ms": case.elapsed_ms,
                })
            })
        })
        .collect();
    json!({
        "cases": cases,
        "passed": totals.passed,
        "failed": totals.failed,
        "invalid_files": totals.invalid_files,
        "elapsed_ms": elapsed_ms,
    })
}

/// Text for XML: `&`, `<`, `>`, `"` and `'` escaped, control characters left out.
fn xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' | '\t' => escaped.push(character),
            control if control.is_control() => {}
            other => escaped.push(other),
        }
    }
    escaped
}

/// JUnit XML: a test suite per file, a test case per case, a failure with its diff.
pub fn junit(reports: &[FileReport], totals: Totals, elapsed_ms: u64) -> String {
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        text,
        "<testsuites name=\"runbook test\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
        totals.passed + totals.failed,
        totals.failed,
        elapsed_ms as f64 / 1000.0
    );
    for report in reports {
        let failures = report.cases.iter().filter(|case| !case.passed).count();
        let time: u64 = report.cases.iter().map(|case| case.elapsed_ms).sum();
        let _ = writeln!(
            text,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
            xml(&report.file),
            report.cases.len(),
            time as f64 / 1000.0
        );
        for case in &report.cases {
            let _ = write!(
                text,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                xml(&case.name),
                xml(&report.file),
                case.elapsed_ms as f64 / 1000.0
            );
            if case.passed {
                text.push_str("/>\n");
                continue;
            }
            let lines = diff_lines(case);
            let _ = writeln!(
                text,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                xml(lines.first().map(String::as_str).unwrap_or("failed")),
                xml(&lines.join("\n"))
            );
        }
        text.push_str("  </testsuite>\n");
    }
    text.push_str("</testsuites>\n");
    text
}

/// A GitHub workflow command's property or message, escaped as GitHub reads them.
fn github_escape(text: &str, property: bool) -> String {
    let mut escaped = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        escaped = escaped.replace(':', "%3A").replace(',', "%2C");
    }
    escaped
}

/// GitHub annotations: an error at each failed case's line, then the totals.
pub fn github(reports: &[FileReport], totals: Totals, elapsed_ms: u64) -> String {
    let mut text = String::new();
    for report in reports {
        for case in report.cases.iter().filter(|case| !case.passed) {
            let _ = writeln!(
                text,
                "::error file={},line={},title={}::{}",
                github_escape(&report.file, true),
                case.line,
                github_escape(&format!("runbook test: {}", case.name), true),
                github_escape(&diff_lines(case).join("\n"), false)
            );
        }
    }
    text.push_str(&human(reports, totals, elapsed_ms));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::case::Mismatch;

    fn reports() -> Vec<FileReport> {
        let case = |name: &str, passed: bool| CaseResult {
            name: name.to_owned(),
            line: 7,
            passed,
            mismatches: if passed {
                Vec::new()
            } else {
                vec![Mismatch {
                    what: "status".to_owned(),
                    expected: "succeeded".to_owned(),
                    actual: "failed (no <endpoint> & \"x\")".to_owned(),
                }]
            },
            status: if passed { "succeeded" } else { "failed" }.to_owned(),
            error: None,
            elapsed_ms: 12,
        };
        vec![FileReport {
            file: "playbooks/a,b.test.yaml".to_owned(),
            cases: vec![case("tags one host", true), case("denied: fails", false)],
        }]
    }

    #[test]
    fn every_format_says_which_case_failed_and_why() {
        let reports = reports();
        let totals = Totals::of(&reports, 0);
        assert_eq!((totals.passed, totals.failed), (1, 1));
        let text = human(&reports, totals, 1500);
        assert!(
            text.contains("FAILED playbooks/a,b.test.yaml :: denied: fails"),
            "{text}"
        );
        assert!(
            text.contains("- status: expected succeeded, got failed"),
            "{text}"
        );
        assert!(text.contains("1 passed, 1 failed (1.5 s)"), "{text}");

        let xml = junit(&reports, totals, 1500);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("no &lt;endpoint&gt; &amp; &quot;x&quot;"),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"tags one host\""), "{xml}");

        let annotations = github(&reports, totals, 1500);
        assert!(
            annotations.starts_with(
                "::error file=playbooks/a%2Cb.test.yaml,line=7,title=runbook test%3A denied%3A fails::status"
            ),
            "{annotations}"
        );

        let value = json(&reports, totals, 1500);
        assert_eq!(value["failed"], 1);
        assert_eq!(value["cases"][1]["mismatches"][0]["what"], "status");
    }
}

//! `runbook test`: runs the cases of test files (`*.test.yaml`) against simulators of their
//! own, in parallel, and reports them (docs/testing.md).

use std::io::Write as _;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use runbook_playbook::{render_github, render_human, render_json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::connect::UsageError;
use crate::testing::report::{self, FileReport, Totals};
use crate::testing::{self, Suite, case};

/// How `runbook test` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// A line per case, the differences under each failure, the totals.
    Human,
    /// One JSON object: every case with its differences, and the totals.
    Json,
    /// JUnit XML, for CI dashboards.
    Junit,
    /// GitHub workflow annotations at each failed case (and each problem of an invalid
    /// file), then the human report.
    Github,
}

/// `runbook test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files (`*.test.yaml`, `*.test.yml`) or folders searched for them (hidden folders
    /// and `target` left out). Default: the current folder.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// How to report.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Cases run at once (default: 8 per CPU).
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
}

pub fn run(args: TestArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let found = testing::find(&paths).map_err(UsageError)?;
    if found.is_empty() {
        return Err(UsageError(format!(
            "no test files (`*.test.yaml`) under {}",
            paths
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let suites: Vec<Suite> = found.iter().map(|path| testing::read(path)).collect();
    let invalid = suites.iter().filter(|suite| suite.is_invalid()).count();
    report_problems(&suites, args.format);
    let selected = |name: &str| {
        args.filter
            .as_deref()
            .is_none_or(|filter| name.contains(filter))
    };
    let jobs = args.jobs.map_or_else(
        || {
            std::thread::available_parallelism()
                .map_or(4, NonZeroUsize::get)
                .saturating_mul(8)
        },
        NonZeroUsize::get,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reports = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(jobs));
        let mut running = JoinSet::new();
        let mut reports = Vec::new();
        for (file_index, suite) in suites.iter().enumerate() {
            let Some((file, playbook)) = &suite.file else {
                continue;
            };
            if suite.is_invalid() {
                continue;
            }
            reports.push(FileReport {
                file: suite.path.display().to_string(),
                cases: Vec::new(),
            });
            let report_index = reports.len() - 1;
            for (case_index, test_case) in file.cases.iter().enumerate() {
                if !selected(&test_case.name) {
                    continue;
                }
                let playbook = playbook.clone();
                let mut test_case = test_case.clone();
                // A recording is relative to its test file.
                if let Some(replay) = &mut test_case.replay {
                    let folder = suite.path.parent().unwrap_or(Path::new("."));
                    replay.value = folder.join(&replay.value).display().to_string();
                }
                let limit = limit.clone();
                running.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let result = case::run_case(playbook, &test_case).await;
                    (report_index, case_index, file_index, result)
                });
            }
        }
        let mut results = Vec::new();
        while let Some(done) = running.join_next().await {
            match done {
                Ok(result) => results.push(result),
                Err(error) => anyhow::bail!("a case stopped unexpectedly: {error}"),
            }
        }
        results.sort_by_key(|(report, case, _, _)| (*report, *case));
        for (report, _, _, result) in results {
            reports[report].cases.push(result);
        }
        reports.retain(|report| !report.cases.is_empty());
        anyhow::Ok(reports)
    })?;
    let totals = Totals::of(&reports, invalid);
    if totals.passed + totals.failed == 0 && invalid == 0 {
        return Err(UsageError(match &args.filter {
            Some(filter) => format!("no case's name contains {filter:?}"),
            None => "the test files hold no case".to_owned(),
        })
        .into());
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let text = match args.format {
        TestFormat::Human => report::human(&reports, totals, elapsed_ms),
        TestFormat::Github => report::github(&reports, totals, elapsed_ms),
        TestFormat::Junit => report::junit(&reports, totals, elapsed_ms),
        TestFormat::Json => {
            let mut value = report::json(&reports, totals, elapsed_ms);
            value["files"] = serde_json::Value::Array(
                suites
                    .iter()
                    .map(|suite| {
                        serde_json::json!({
                            "file": suite.path.display().to_string(),
                            "valid": !suite.is_invalid(),
                            "unreadable": suite.unreadable,
                            "diagnostics": serde_json::from_str::<serde_json::Value>(
                                &render_json(&suite.diagnostics)
                            ).unwrap_or_default(),
                        })
                    })
                    .collect(),
            );
            format!("{value:#}\n")
        }
    };
    let mut stdout = anstream::stdout();
    let _ = stdout.write_all(text.as_bytes());
    Ok(if invalid > 0 {
        EXIT_USAGE
    } else if totals.failed > 0 {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}

/// The problems of the test files and their playbooks: located diagnostics on stderr (as
/// annotations on stdout for `--format github`; in the report for JSON).
fn report_problems(suites: &[Suite], format: TestFormat) {
    let mut stderr = anstream::stderr();
    for suite in suites {
        if let Some(reason) = &suite.unreadable {
            let _ = writeln!(
                stderr,
                "runbook: cannot read {}: {reason}",
                suite.path.display()
            );
        }
        if suite.diagnostics.is_empty() {
            continue;
        }
        match format {
            TestFormat::Json => {}
            TestFormat::Github => {
                let mut stdout = anstream::stdout();
                let _ = stdout.write_all(render_github(&suite.diagnostics).as_bytes());
            }
            TestFormat::Human | TestFormat::Junit => {
                let _ = stderr.write_all(render_human(&suite.diagnostics, true).as_bytes());
            }
        }
    }
}

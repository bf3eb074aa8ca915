//! `runbook test` on 200 cases over 20 test files, each case a full flow of the seed playbook
//! (target, parameterize, issue, an approval granted after two simulated minutes, a poll until
//! every endpoint finished, an assertion): wall time of the whole command (goal: under 10 s).
//!
//! Writes the playbook and the test files into a temporary folder and runs the `runbook`
//! binary next to this one (build both in release first):
//!
//! `cargo build --release -p runbook -p runbook-benches && target/release/test_cases [RUNS]`
//! (default 3 runs; the figures of each and the best).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const FILES: usize = 20;
const CASES: usize = 10;
const HOSTS: [&str; 5] = ["WIN-DC01", "WIN-DC02", "WIN-FS01", "WIN-SQL01", "WIN-APP01"];

fn runbook_next_to_me() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|error| error.to_string())?;
    let folder = me.parent().ok_or("no folder for this executable")?;
    let runbook = folder.join("runbook");
    if runbook.exists() {
        Ok(runbook)
    } else {
        Err(format!(
            "{} is missing: cargo build --release -p runbook",
            runbook.display()
        ))
    }
}

fn write_suite(folder: &Path) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let playbook = std::fs::read_to_string(root.join("playbooks/tag-suspect-host.yaml"))
        .map_err(|error| format!("the seed playbook: {error}"))?;
    std::fs::write(folder.join("tag-suspect-host.yaml"), playbook).map_err(|e| e.to_string())?;
    for file in 0..FILES {
        let mut text = String::from("version: 1\nplaybook: tag-suspect-host.yaml\ncases:\n");
        for case in 0..CASES {
            let host = HOSTS[(file + case) % HOSTS.len()];
            text.push_str(&format!(
                "  - name: case {case} tags {host}\n    inputs: {{ hostname: {host} }}\n    sim: {{ approval: {{ after: 2m }} }}\n    expect:\n      status: succeeded\n      outputs: {{ completed: 1 }}\n      steps: {{ approved: succeeded, all_done: succeeded }}\n      requests: [{{ method: POST, path: /api/v2/actions, count: 1 }}]\n"
            ));
        }
        std::fs::write(folder.join(format!("suite{file:02}.test.yaml")), text)
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    let result = (|| -> Result<(), String> {
        let runbook = runbook_next_to_me()?;
        let folder =
            std::env::temp_dir().join(format!("runbook-test-cases-{}", std::process::id()));
        std::fs::create_dir_all(&folder).map_err(|error| error.to_string())?;
        write_suite(&folder)?;
        println!(
            "runbook test: {} cases over {FILES} files, each a full flow with approval and poll",
            FILES * CASES
        );
        let mut best = f64::MAX;
        for run in 1..=runs {
            let started = Instant::now();
            let output = Command::new(&runbook)
                .arg("test")
                .arg(&folder)
                .env("NO_COLOR", "1")
                .output()
                .map_err(|error| error.to_string())?;
            let seconds = started.elapsed().as_secs_f64();
            let stdout = String::from_utf8_lossy(&output.stdout);
            let summary = stdout.lines().last().unwrap_or_default().to_owned();
            if !output.status.success() {
                return Err(format!("runbook test failed: {stdout}"));
            }
            best = best.min(seconds);
            println!("  run {run}: {seconds:.2} s wall ({summary})");
        }
        println!("  best: {best:.2} s (goal: under 10 s)");
        let _ = std::fs::remove_dir_all(&folder);
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("test_cases: {error}");
            ExitCode::FAILURE
        }
    }
}

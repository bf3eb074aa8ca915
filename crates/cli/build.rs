//! Stamps `runbook --version` with the commit it was built from and the build date.
//!
//! The commit is `git rev-parse --short HEAD` when git and a checkout are there, else
//! `unknown` (a source tarball, `cargo install` from a copy, a container build without .git);
//! `RUNBOOK_GIT_COMMIT`, when set, names it instead (the Containerfile's build argument).
//! The date is `SOURCE_DATE_EPOCH`'s when set (reproducible builds), else today's (UTC).
//! No dependency: the date is computed from the Unix time.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    // A build without .git (the Containerfile's) can pass the commit in RUNBOOK_GIT_COMMIT.
    let commit = std::env::var("RUNBOOK_GIT_COMMIT")
        .ok()
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty() && commit != "unknown")
        .or_else(|| git(&manifest, &["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=RUNBOOK_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RUNBOOK_BUILD_DATE={}", build_date());
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=RUNBOOK_GIT_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    // Built again when HEAD moves: the file HEAD, and the branch it points at.
    for name in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&manifest, &["rev-parse", "--git-path", name]) {
            rerun_if_exists(&manifest, &path);
        }
    }
    if let Some(branch) = git(&manifest, &["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&manifest, &["rev-parse", "--git-path", &branch])
    {
        rerun_if_exists(&manifest, &path);
    }
}

fn git(folder: &str, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(folder)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn rerun_if_exists(folder: &str, path: &str) {
    let path = Path::new(folder).join(path);
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `YYYY-MM-DD` (UTC) of SOURCE_DATE_EPOCH or of now.
fn build_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|since| i64::try_from(since.as_secs()).ok())
        });
    match seconds {
        Some(seconds) => {
            let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
            format!("{year:04}-{month:02}-{day:02}")
        }
        None => "unknown".to_owned(),
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

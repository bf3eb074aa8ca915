//! Harness for end-to-end tests of the `runbook` binary.
//!
//! A [`Test`] owns a temporary folder, writes the files a test needs into it, runs `runbook`
//! there and returns an [`Outcome`] whose stdout and stderr have the temporary path masked as
//! `[TEMP]`, so that snapshots are stable from one machine to the next.
//!
//! The test files under `tests/tests/` are compiled as integration tests of the `runbook`
//! package (see `crates/cli/Cargo.toml`), so `cargo test --workspace` (or `cargo test -p
//! runbook`) always builds the current binary before it runs them; the binary is then found
//! with `assert_cmd` next to the test executable.
//!
//! ```no_run
//! use runbook_tests::Test;
//!
//! let outcome = Test::new()
//!     .file("playbooks/hello.yaml", "version: 1\nname: hello\nsteps:\n  - id: a\n    log: hi\n")
//!     .args(["validate", "playbooks"])
//!     .run();
//! assert_eq!(outcome.code, 0, "{}", outcome.stderr);
//! ```

pub mod http_serve;
pub mod postgres;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Path of the built `runbook` binary.
///
/// # Panics
/// When the binary has not been built; the message says how to build it.
pub fn runbook_binary() -> PathBuf {
    let path = assert_cmd::cargo::cargo_bin("runbook");
    assert!(
        path.exists(),
        "the runbook binary is not built at {}: run `cargo test --workspace` or `cargo build -p runbook` first",
        path.display()
    );
    path
}

/// The workspace root, for tests that read committed files (`playbooks/`, `schema/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace root")
        .to_path_buf()
}

/// One invocation of `runbook` in a fresh temporary folder.
#[derive(Debug)]
pub struct Test {
    folder: tempfile::TempDir,
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
    stdin: Option<Vec<u8>>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// A test with an empty temporary folder as working directory.
    ///
    /// # Panics
    /// When no temporary folder can be created.
    pub fn new() -> Self {
        Self {
            folder: tempfile::tempdir().expect("create a temporary folder"),
            args: Vec::new(),
            env: BTreeMap::new(),
            stdin: None,
        }
    }

    /// The temporary folder (the working directory of the run).
    pub fn path(&self) -> &Path {
        self.folder.path()
    }

    /// Writes `contents` to `relative_path` inside the folder, creating parent folders.
    ///
    /// # Panics
    /// When the file cannot be written.
    #[must_use]
    pub fn file(self, relative_path: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.folder.path().join(relative_path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent folders");
        }
        std::fs::write(&path, contents).expect("write test file");
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the run.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Feeds this to the run's stdin.
    #[must_use]
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs `runbook` and waits for it. Colour is off (`NO_COLOR=1`) unless the test sets
    /// otherwise, and stdout is a pipe, so output is plain text.
    ///
    /// # Panics
    /// When the binary cannot be started.
    pub fn run(self) -> Outcome {
        let mut command = assert_cmd::Command::new(runbook_binary());
        command.current_dir(self.folder.path());
        command.env("NO_COLOR", "1");
        command.env_remove("CLICOLOR_FORCE");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.args(&self.args);
        if let Some(input) = &self.stdin {
            command.write_stdin(input.clone());
        }
        let output = command.output().expect("start runbook");
        let masks = Masks::for_folder(self.folder.path());
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: masks.apply(&String::from_utf8_lossy(&output.stdout)),
            stderr: masks.apply(&String::from_utf8_lossy(&output.stderr)),
            folder: self.folder,
        }
    }
}

/// What a run printed and how it exited.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, temporary paths masked.
    pub stdout: String,
    /// Standard error, temporary paths masked.
    pub stderr: String,
    /// Kept alive so a test can inspect files the run wrote.
    pub folder: tempfile::TempDir,
}

/// Replacements that make output stable across machines.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    replacements: Vec<(String, String)>,
}

impl Masks {
    /// Masks the folder's path (as given and canonicalized) as `[TEMP]`.
    pub fn for_folder(folder: &Path) -> Self {
        let mut masks = Self::default();
        if let Ok(canonical) = folder.canonicalize() {
            masks = masks.replace(canonical.display().to_string(), "[TEMP]");
        }
        masks.replace(folder.display().to_string(), "[TEMP]")
    }

    /// Adds a literal replacement (longer patterns are applied first).
    #[must_use]
    pub fn replace(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        let from = from.into();
        if !from.is_empty() {
            self.replacements.push((from, to.into()));
            self.replacements
                .sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        }
        self
    }

    /// Applies every replacement.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (from, to) in &self.replacements {
            text = text.replace(from.as_str(), to);
        }
        text
    }
}

/// `runbook` set to drive the Tanium server at `base_url` with `token`, recording into
/// `store`: no colours, nothing on stdin, and no abort point inherited from the test's own
/// environment.
pub fn runbook_against(base_url: &str, token: &str, store: &str) -> std::process::Command {
    let mut command = std::process::Command::new(runbook_binary());
    command
        .env("TANIUM_URL", base_url)
        .env("TANIUM_TOKEN", token)
        .env("RUNBOOK_DATABASE_URL", store)
        .env("NO_COLOR", "1")
        .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
        .stdin(std::process::Stdio::null());
    command
}

/// The runs `store` holds, newest first (`runbook runs list --json`).
pub fn runs_listed(base_url: &str, token: &str, store: &str) -> Vec<serde_json::Value> {
    let output = runbook_against(base_url, token, store)
        .args(["runs", "list", "--json"])
        .output()
        .expect("runs list");
    assert!(
        output.status.success(),
        "runs list: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .expect("runs list --json is JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A small deterministic generator (xorshift), for the kill-and-resume tests' random kill
/// points: a failing trial can be replayed from its seed.
#[derive(Debug, Clone)]
pub struct Random(pub u64);

impl Random {
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Whether the process is stopped (state `T` in /proc): a run that reached the
/// `RUNBOOK_TEST_PAUSE_AT` point it was given stops itself with SIGSTOP.
pub fn is_stopped(child: &std::process::Child) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_prefer_the_longest_match() {
        let masks = Masks::default()
            .replace("/tmp/abc", "[TEMP]")
            .replace("/tmp/abc/def", "[DEF]");
        assert_eq!(masks.apply("/tmp/abc/def/x /tmp/abc/y"), "[DEF]/x [TEMP]/y");
    }
}

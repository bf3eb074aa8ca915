//! What a wait shows on a terminal, end to end: the binary runs on a pseudo-terminal, and the
//! test reads its screen (as a terminal would show it) while a poll waits.
//!
//! The simulator's clock runs at real speed here (`--sim-time-scale 1`), so its one endpoint
//! reports at once but takes several seconds to finish: the poll waits with everyone reporting
//! and nothing finished, the state in which a bar of the reporting share read 100%.

use std::io::Read;
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use runbook_tests::{Test, runbook_binary};

const ROWS: u16 = 30;
const COLUMNS: u16 = 150;

/// How long a test waits for the screen it looks for, at most.
const PATIENCE: Duration = Duration::from_secs(60);

/// Tags one host and polls until it finished, checking every second.
const SLOW_POLL: &str = r#"version: 1
name: slow-poll
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: WIN-DC01 }
  - id: tag_params
    parameterize:
      package: Custom Tagging - Add Tags
      params:
        $1: IR-suspect
  - id: tag
    issue:
      name: IR tag WIN-DC01
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.tag_params.package_spec }}"
      expire: 2h
  - id: results
    poll:
      action: "{{ steps.tag.action_id }}"
      until_percent: 100
      interval: 1s
      timeout: 30m
"#;

/// `runbook` on a pseudo-terminal, and the screen it draws. Dropping it kills the run.
struct Terminal {
    child: std::process::Child,
    output: mpsc::Receiver<Vec<u8>>,
    screen: vt100::Parser,
}

impl Terminal {
    fn start(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let (pty, pts) = pty_process::blocking::open().expect("open a pseudo-terminal");
        pty.resize(pty_process::Size::new(ROWS, COLUMNS))
            .expect("size the pseudo-terminal");
        let child = pty_process::blocking::Command::new(runbook_binary())
            .args(args)
            .current_dir(folder)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("RUNBOOK_DATABASE_URL")
            .envs(env.iter().copied())
            .spawn(pts)
            .expect("start runbook on the pseudo-terminal");
        let (sender, output) = mpsc::channel();
        // Reads until the run's end closes the terminal (EIO) or the test has gone.
        std::thread::spawn(move || {
            let mut pty = pty;
            let mut buffer = [0u8; 4096];
            while let Ok(read) = pty.read(&mut buffer) {
                if read == 0 || sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        let (rows, columns) = (NonZeroU16::new(ROWS), NonZeroU16::new(COLUMNS));
        let screen = vt100::Parser::new(rows.expect("rows"), columns.expect("columns"), 0);
        Terminal {
            child,
            output,
            screen,
        }
    }

    /// The screen as it reads now.
    fn text(&self) -> String {
        self.screen.screen().contents()
    }

    /// Reads what the run draws until the screen satisfies `ready`, and returns that screen;
    /// fails with the screen it had after [`PATIENCE`], or when the run ended first.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if ready(&text) {
                return text;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .output
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(bytes) => self.screen.process(&bytes),
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => panic!("the screen never showed {what}:\n{text}"),
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_slow_poll(test: &Test, env: &[(&str, &str)]) -> Terminal {
    Terminal::start(
        test.path(),
        &[
            "run",
            "slow.yaml",
            "--sim",
            "--sim-time-scale",
            "1",
            "--store",
            "none",
        ],
        env,
    )
}

/// Everyone reports, nothing has finished: the poll line on the screen.
fn everyone_reporting_nothing_finished(screen: &str) -> bool {
    screen
        .lines()
        .any(|line| line.contains("0/1 finished") && line.contains("100% reporting"))
}

#[test]
fn a_poll_that_has_not_finished_shows_an_empty_bar_though_everyone_reports() {
    let test = Test::new().file("slow.yaml", SLOW_POLL);
    let mut terminal = run_slow_poll(&test, &[]);
    let screen = terminal.wait_for(
        "a poll with everyone reporting and nothing finished",
        everyone_reporting_nothing_finished,
    );
    let line = screen
        .lines()
        .find(|line| line.contains("0/1 finished"))
        .unwrap_or_default();
    let bar = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(bar, _)| bar)
        .unwrap_or_else(|| panic!("the poll draws a bar on a terminal:\n{screen}"));
    assert_eq!(bar.chars().count(), 30, "{line}");
    assert!(
        bar.chars().all(|c| c == ' '),
        "nothing finished, so the bar is empty: {line}"
    );
    assert!(
        line.contains("1 needed (100%)"),
        "the bar measures the endpoints needed: {line}"
    );
    assert!(
        !screen.contains("] 100%") && !screen.contains("1/1 finished"),
        "a poll that has not finished claims nothing done:\n{screen}"
    );
    assert!(
        !screen.contains("ok results"),
        "the poll was still waiting:\n{screen}"
    );
}

#[test]
fn a_dumb_terminal_gets_plain_lines_and_no_bar() {
    plain_lines_and_no_bar(&[("TERM", "dumb")]);
}

#[test]
fn no_color_gets_plain_lines_and_no_bar() {
    plain_lines_and_no_bar(&[("NO_COLOR", "1")]);
}

fn plain_lines_and_no_bar(env: &[(&str, &str)]) {
    let test = Test::new().file("slow.yaml", SLOW_POLL);
    let mut terminal = run_slow_poll(&test, env);
    let screen = terminal.wait_for(
        "a poll with everyone reporting and nothing finished",
        everyone_reporting_nothing_finished,
    );
    let line = screen
        .lines()
        .find(|line| line.contains("0/1 finished"))
        .unwrap_or_default();
    assert!(
        line.starts_with("  action "),
        "a plain line, no spinner, no bar: {line:?}\n{screen}"
    );
    assert!(
        !screen
            .lines()
            .any(|line| line.contains("finished") && line.contains('[')),
        "no bar:\n{screen}"
    );
}

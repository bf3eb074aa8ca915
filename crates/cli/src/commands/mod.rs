//! One module per subcommand, holding what it does and (except for `validate` and `schema`,
//! whose arguments are in `cli.rs`) its clap arguments. [`run`] parses the arguments and
//! dispatches; each command returns its exit code.

pub mod approvals;
pub mod audit;
mod completions;
pub mod enqueue;
pub mod plan;
pub mod run_playbook;
pub mod runs;
pub mod schedules;
mod schema;
pub mod serve;
pub mod serve_http;
pub mod sim;
pub mod test;
pub mod tokens;
pub mod triggers;
mod validate;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

/// How a command that prints data prints it: for people, or as JSON (`--format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Text for people (a table, a report, a sentence).
    Human,
    /// JSON on stdout; messages stay on stderr.
    Json,
}

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code when a playbook is invalid or a run failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and internal errors.
pub const EXIT_USAGE: u8 = 2;

/// Runs `runbook` with these arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr
            // (exit 2, as documented).
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            });
        }
    };
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Run(args) => run_playbook::run(*args),
        Command::Plan(args) => plan::run(*args),
        Command::Sim(args) => sim::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Schedules(args) => schedules::run(args),
        Command::Triggers(args) => triggers::run(args),
        Command::Enqueue(args) => enqueue::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Tokens(args) => tokens::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Approvals(args) => approvals::list(args),
        Command::Approve(args) => approvals::approve(args),
        Command::Test(args) => test::run(args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let mut stderr = anstream::stderr();
            let _ = writeln!(stderr, "runbook: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

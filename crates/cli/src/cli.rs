//! Command-line definitions (clap derive): the top-level parser, the list of subcommands, and
//! the arguments of `validate` and `schema`. The other subcommands define their arguments next
//! to their code in `commands/<name>.rs` (`RunArgs`, `PlanArgs`, `ServeArgs`, ...); options
//! shared by several commands are in `connect.rs`, `store.rs` and `inputs.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Validate, plan and run Tanium playbooks.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks offline: YAML, keys, types, durations, ids, templates and the names
    /// they use. Exit status: 0 clean, 1 problems found, 2 usage error.
    Validate(ValidateArgs),
    /// Print the JSON Schema (draft-07) of the playbook format.
    Schema(SchemaArgs),
    /// Run a playbook against Tanium (TANIUM_URL with TANIUM_TOKEN, or TANIUM_USERNAME and
    /// TANIUM_PASSWORD) or, with --sim, against the built-in simulator. Exit status: 0 the run
    /// succeeded, 1 it failed (step failure, assertion, guard, timeout), 2 usage error or
    /// invalid playbook, 130 interrupted (issued actions keep running in Tanium).
    Run(Box<crate::commands::run_playbook::RunArgs>),
    /// Show what a run would do, offline: every step rendered with the exact HTTP requests it
    /// would send; values only the server knows are shown as <placeholders>. Nothing is sent.
    /// With --live it also reads from Tanium (packages, parameters, groups, endpoint counts)
    /// and applies the guard. Exit status: 0 the plan can run, 1 it cannot (bad inputs, guard
    /// exceeded, unknown package with --live, a false assertion), 2 usage error.
    Plan(Box<crate::commands::plan::PlanArgs>),
    /// Serve the built-in Tanium simulator in the foreground (for demos and manual tests);
    /// prints its URL and API token.
    Sim(crate::commands::sim::SimArgs),
    /// Recorded runs: list, show, resume after a crash, cancel.
    Runs(crate::commands::runs::RunsArgs),
    /// Schedules files for `runbook serve`: validate them, show the next firing times, print
    /// their JSON Schema.
    Schedules(crate::commands::schedules::SchedulesArgs),
    /// Queue a run of a playbook for the workers of `runbook serve` (validates it and binds its
    /// inputs first); prints the run's id.
    Enqueue(crate::commands::enqueue::EnqueueArgs),
    /// Run schedules and queued runs as a service: a scheduler fires the schedules file into
    /// the store's queue, workers claim queued runs and run them. Several processes share one
    /// PostgreSQL store. SIGTERM or SIGINT: runs stop at a checkpoint and go back to the queue.
    Serve(Box<crate::commands::serve::ServeArgs>),
}

/// `runbook validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook files, or folders searched recursively for `*.yaml` and `*.yml`.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// How to print the problems found.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Output format of `runbook validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Compiler-style text with the source line and a caret; colour on a terminal.
    Human,
    /// A JSON array of diagnostics.
    Json,
    /// GitHub Actions annotations (`::error file=..,line=..,col=..::message`).
    Github,
}

/// `runbook schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {}

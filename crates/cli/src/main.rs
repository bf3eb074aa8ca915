//! The `runbook` binary: a thin shell over [`commands::run`], which returns the exit code:
//! 0 ok; 1 playbook invalid, run failed or plan cannot run; 2 usage or internal error (and an
//! invalid playbook given to `run`); 3 a reviewed plan that no longer holds (`run --plan`);
//! 130 a run interrupted by Ctrl-C (`run`, `runs resume`).

mod cli;
mod commands;
mod connect;
mod inputs;
mod plan_file;
mod progress;
mod recording;
mod render;
mod store;
mod testing;

use std::process::ExitCode;

fn main() -> ExitCode {
    commands::run(std::env::args_os())
}

//! The `runbook` binary: a thin shell over [`commands::run`], which returns the exit code
//! (0 ok, 1 playbook invalid or run failed, 2 usage or internal error).

mod cli;
mod commands;
mod connect;
mod files;
mod inputs;
mod render;
mod store;

use std::process::ExitCode;

fn main() -> ExitCode {
    commands::run(std::env::args_os())
}

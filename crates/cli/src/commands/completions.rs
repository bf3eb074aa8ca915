//! `runbook completions SHELL` (clap_complete) and `runbook man` (clap_mangen): generated from
//! the same clap definitions as the parser, so they never drift from it.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell as Target;

use crate::cli::{Cli, CompletionsArgs, ManArgs, Shell};
use crate::connect::UsageError;

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let target = match args.shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Powershell => Target::PowerShell,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(target, &mut command, "runbook", &mut script);
    write_stdout(&script)?;
    Ok(super::EXIT_OK)
}

pub fn man(args: &ManArgs) -> anyhow::Result<u8> {
    let command = Cli::command();
    match &args.out_dir {
        Some(folder) => {
            std::fs::create_dir_all(folder).map_err(|error| {
                UsageError(format!("cannot create {}: {error}", folder.display()))
            })?;
            clap_mangen::generate_to(command, folder).map_err(|error| {
                UsageError(format!(
                    "cannot write the man pages into {}: {error}",
                    folder.display()
                ))
            })?;
            println!("man pages written to {}", folder.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            write_stdout(&page)?;
        }
    }
    Ok(super::EXIT_OK)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

//! `runbook triggers validate|schema`: checking a triggers file offline (with the playbooks of
//! a folder, when given, for each trigger's `playbook` and `inputs`), and printing its JSON
//! Schema. `runbook serve --http --triggers FILE` serves the hooks (runbook-api).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use runbook_playbook::{Diagnostic, Playbook, render_github, render_human, render_json};
use runbook_serve::files::{self, Kind, ReadError};

use crate::cli::Format;

/// `runbook triggers`.
#[derive(Debug, Args)]
pub struct TriggersArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TriggersCommand,
}

/// Subcommands of `runbook triggers`.
#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// Check triggers files offline: keys, names, paths, auth, templates, durations, and with
    /// --playbooks each trigger's playbook and inputs. Exit status: 0 clean, 1 problems found,
    /// 2 usage error or unreadable file.
    Validate(ValidateTriggersArgs),
    /// Print the JSON Schema (draft-07) of the triggers file format.
    Schema,
}

/// `runbook triggers validate`.
#[derive(Debug, Args)]
pub struct ValidateTriggersArgs {
    /// Triggers files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The folder of playbooks the triggers start (searched recursively for `*.yaml`; a
    /// playbook is known by its `name:`). Without it, `playbook` and `inputs` are not checked.
    #[arg(long, value_name = "DIR")]
    pub playbooks: Option<PathBuf>,
    /// How to print the problems found.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(args: TriggersArgs) -> anyhow::Result<u8> {
    match args.command {
        TriggersCommand::Validate(args) => validate(&args),
        TriggersCommand::Schema => schema(),
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic], format: Format) -> anyhow::Result<()> {
    let rendered = match format {
        Format::Human => render_human(diagnostics, true),
        Format::Json => render_json(diagnostics),
        Format::Github => render_github(diagnostics),
    };
    let mut stdout = anstream::stdout();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// The valid playbooks under `folder` (as `serve --http --playbooks` offers them), and how many
/// playbook files there are not offered.
pub(super) fn folder_playbooks(folder: &Path) -> anyhow::Result<(Vec<Playbook>, usize)> {
    let catalog = runbook_api::Catalog::load(folder)?;
    Ok((catalog.playbooks(), catalog.refused_count()))
}

fn validate(args: &ValidateTriggersArgs) -> anyhow::Result<u8> {
    let mut stderr = anstream::stderr();
    let playbooks = match &args.playbooks {
        Some(folder) => {
            let (playbooks, invalid) = folder_playbooks(folder)?;
            if invalid > 0 {
                let _ = writeln!(
                    stderr,
                    "note: {invalid} playbook file{} in {} do{} not validate and {} not known \
                     here; `runbook validate {}` shows why",
                    if invalid == 1 { "" } else { "s" },
                    folder.display(),
                    if invalid == 1 { "es" } else { "" },
                    if invalid == 1 { "is" } else { "are" },
                    folder.display()
                );
            }
            Some(playbooks)
        }
        None => {
            let _ = writeln!(
                stderr,
                "note: without --playbooks DIR, each trigger's `playbook` and `inputs` are not \
                 checked"
            );
            None
        }
    };
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut unreadable = Vec::new();
    for file in &args.files {
        let shown = file.display().to_string();
        let source = match files::read_text(file, Kind::Triggers) {
            Ok(source) => source,
            Err(ReadError::NotFound) => {
                unreadable.push(format!("{shown}: no such file `{shown}`"));
                continue;
            }
            Err(error) => {
                unreadable.push(format!("{shown}: {error}"));
                continue;
            }
        };
        let loaded = match &playbooks {
            Some(playbooks) => {
                runbook_playbook::load_triggers_with_playbooks(&shown, &source, playbooks)
            }
            None => runbook_playbook::load_triggers(&shown, &source),
        };
        diagnostics.extend(loaded.diagnostics);
    }
    print_diagnostics(&diagnostics, args.format)?;

    let (errors, warnings) = runbook_playbook::count(&diagnostics);
    let errors = errors + unreadable.len();
    for problem in &unreadable {
        let _ = writeln!(stderr, "runbook: cannot read {problem}");
    }
    let _ = writeln!(
        stderr,
        "{}",
        super::validate::summary(args.files.len(), errors, warnings)
    );
    if !unreadable.is_empty() {
        return Ok(super::EXIT_USAGE);
    }
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failed {
        super::EXIT_FAILURE
    } else {
        super::EXIT_OK
    })
}

fn schema() -> anyhow::Result<u8> {
    let schema = serde_json::to_string_pretty(&runbook_playbook::triggers_json_schema())
        .context("serializing the JSON Schema")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{schema}").context("writing to stdout")?;
    Ok(super::EXIT_OK)
}

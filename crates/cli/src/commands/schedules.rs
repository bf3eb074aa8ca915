//! `runbook schedules validate|next|schema`: checking a schedules file offline, listing the
//! next firing times of its entries (to check a cron line), and printing its JSON Schema.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use runbook_playbook::{
    Diagnostic, PlaybookSource, Schedule, render_github, render_human, render_json,
    resolve_playbook_path,
};
use runbook_serve::files::{self, Kind, ReadError};

use crate::cli::Format;
use crate::commands::OutputFormat;

/// `runbook schedules`.
#[derive(Debug, Args)]
pub struct SchedulesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SchedulesCommand,
}

/// Subcommands of `runbook schedules`.
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Check schedules files offline: keys, names, cron lines, time zones, and each playbook
    /// (read relative to the schedules file, validated, inputs checked against its
    /// declarations). Exit status: 0 clean, 1 problems found, 2 usage error or unreadable file.
    Validate(ValidateSchedulesArgs),
    /// Show the next firing times of each enabled entry, in the entry's time zone and in UTC,
    /// for checking a cron line. Playbooks are not read. Exit status: 0 shown, 1 the file is
    /// invalid, 2 usage error.
    Next(NextArgs),
    /// Print the JSON Schema (draft-07) of the schedules file format.
    Schema,
}

/// `runbook schedules validate`.
#[derive(Debug, Args)]
pub struct ValidateSchedulesArgs {
    /// Schedules files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How to print the problems found.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// `runbook schedules next`.
#[derive(Debug, Args)]
pub struct NextArgs {
    /// The schedules file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// How many firing times to show per entry.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub count: u16,
    /// Start from this instant instead of now (RFC 3339, e.g. 2026-03-08T00:00:00Z);
    /// firings strictly after it are shown.
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// Only this entry (shown even when disabled).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// How to print the firing times: text (human) or JSON (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// The same as --format json.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SchedulesArgs) -> anyhow::Result<u8> {
    match args.command {
        SchedulesCommand::Validate(args) => validate(&args),
        SchedulesCommand::Next(args) => next(&args),
        SchedulesCommand::Schema => schema(),
    }
}

fn read_text(path: &Path, kind: Kind) -> Result<String, String> {
    files::read_text(path, kind).map_err(|error| match error {
        ReadError::NotFound => format!("no such file `{}`", path.display()),
        other => other.to_string(),
    })
}

fn print_diagnostics(diagnostics: &[Diagnostic], format: Format) -> anyhow::Result<()> {
    let rendered = match format {
        Format::Human => render_human(diagnostics, true),
        Format::Json => render_json(diagnostics),
        Format::Github => render_github(diagnostics),
    };
    // anstream strips the colour codes unless stdout is a terminal, and honours NO_COLOR.
    let mut stdout = anstream::stdout();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

fn validate(args: &ValidateSchedulesArgs) -> anyhow::Result<u8> {
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut unreadable = Vec::new();
    for file in &args.files {
        let shown = file.display().to_string();
        let source = match read_text(file, Kind::Schedules) {
            Ok(source) => source,
            Err(reason) => {
                unreadable.push(format!("{shown}: {reason}"));
                continue;
            }
        };
        let loaded = runbook_playbook::load_schedules_with_playbooks(&shown, &source, |playbook| {
            let path = resolve_playbook_path(file, playbook);
            match read_text(&path, Kind::Playbook) {
                Ok(source) => PlaybookSource::Text {
                    file: path.display().to_string(),
                    source,
                },
                Err(reason) => PlaybookSource::Unreadable { reason },
            }
        });
        diagnostics.extend(loaded.diagnostics);
    }
    print_diagnostics(&diagnostics, args.format)?;

    let (errors, warnings) = runbook_playbook::count(&diagnostics);
    // Unreadable files are errors in the summary too (the exit status is 2 for them).
    let errors = errors + unreadable.len();
    let mut stderr = anstream::stderr();
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

fn next(args: &NextArgs) -> anyhow::Result<u8> {
    let from = match &args.from {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .with_context(|| {
                format!("--from `{text}` is not an RFC 3339 time like 2026-03-08T00:00:00Z")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let shown = args.file.display().to_string();
    let source = read_text(&args.file, Kind::Schedules)
        .map_err(|reason| anyhow::anyhow!("cannot read {shown}: {reason}"))?;
    let loaded = runbook_playbook::load_schedules(&shown, &source);
    let Some(file) = loaded.file else {
        print_diagnostics(&loaded.diagnostics, Format::Human)?;
        let (errors, warnings) = runbook_playbook::count(&loaded.diagnostics);
        let _ = writeln!(
            anstream::stderr(),
            "{}",
            super::validate::summary(1, errors, warnings)
        );
        return Ok(super::EXIT_FAILURE);
    };
    let selected: Vec<&Schedule> = match &args.name {
        Some(name) => match file.schedule(name) {
            Some(schedule) => vec![schedule],
            None => {
                let names: Vec<&str> = file.schedules.iter().map(|s| s.name.as_str()).collect();
                if names.is_empty() {
                    bail!("`{shown}` has no schedules");
                }
                bail!(
                    "no schedule named `{name}` in `{shown}`; its schedules are: {}",
                    names.join(", ")
                );
            }
        },
        None => file.schedules.iter().filter(|s| s.enabled).collect(),
    };
    let count = usize::from(args.count);
    let listed: Vec<(&Schedule, Vec<DateTime<Utc>>)> = selected
        .into_iter()
        .map(|schedule| (schedule, schedule.next_firings(from, count)))
        .collect();
    let text = if args.json || args.format == OutputFormat::Json {
        next_json(&listed)?
    } else {
        next_human(&listed)
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    if args.name.is_none() {
        let disabled: Vec<&str> = file
            .schedules
            .iter()
            .filter(|schedule| !schedule.enabled)
            .map(|schedule| schedule.name.as_str())
            .collect();
        if !disabled.is_empty() {
            let _ = writeln!(
                anstream::stderr(),
                "not shown (disabled): {}; use --name to see one",
                disabled.join(", ")
            );
        }
        if file.schedules.is_empty() {
            let _ = writeln!(anstream::stderr(), "`{shown}` has no schedules");
        }
    }
    Ok(super::EXIT_OK)
}

/// How an entry reads its cron line across daylight-saving changes, in a few words.
fn dst_rule(schedule: &Schedule) -> &'static str {
    if schedule.is_fixed_time() {
        "fixed times: a skipped time runs once after the gap, a repeated time runs once"
    } else {
        "interval: follows real time through clock changes"
    }
}

fn next_human(listed: &[(&Schedule, Vec<DateTime<Utc>>)]) -> String {
    let mut out = String::new();
    for (index, (schedule, firings)) in listed.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let disabled = if schedule.enabled { "" } else { " (disabled)" };
        out.push_str(&format!(
            "{}{disabled}: \"{}\" in {} ({})\n",
            schedule.name,
            schedule.cron,
            schedule.timezone.name(),
            dst_rule(schedule)
        ));
        if firings.is_empty() {
            out.push_str("  no firing times\n");
        }
        for firing in firings {
            let local = firing.with_timezone(&schedule.timezone);
            out.push_str(&format!(
                "  {}  {}\n",
                local.format("%a %Y-%m-%d %H:%M:%S %Z (%:z)"),
                firing.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
    }
    out
}

fn next_json(listed: &[(&Schedule, Vec<DateTime<Utc>>)]) -> anyhow::Result<String> {
    let entries: Vec<serde_json::Value> = listed
        .iter()
        .map(|(schedule, firings)| {
            serde_json::json!({
                "name": schedule.name,
                "cron": schedule.cron,
                "timezone": schedule.timezone.name(),
                "enabled": schedule.enabled,
                "fixed_time": schedule.is_fixed_time(),
                "firings": firings.iter().map(|firing| serde_json::json!({
                    "utc": firing.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "local": firing
                        .with_timezone(&schedule.timezone)
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                    "key": schedule.firing_key(*firing),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).context("serializing firings")?;
    text.push('\n');
    Ok(text)
}

fn schema() -> anyhow::Result<u8> {
    let schema = serde_json::to_string_pretty(&runbook_playbook::schedules_json_schema())
        .context("serializing the JSON Schema")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{schema}").context("writing to stdout")?;
    Ok(super::EXIT_OK)
}

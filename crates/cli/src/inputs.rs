//! Reading a playbook file and binding its inputs from the command line, for `run` and `plan`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indexmap::IndexMap;
use runbook_playbook::{Playbook, Severity};
use runbook_serve::files::{self, Kind};
use serde_json::Value;

use crate::connect::UsageError;

/// Inputs given on the command line.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// An input value, `name=value`, parsed by the input's declared type (repeatable).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub input: Vec<String>,

    /// A YAML or JSON file with input values (a map of name to value); `-` reads them from
    /// standard input (YAML, of which JSON is a part).
    #[arg(long = "inputs", value_name = "FILE")]
    pub inputs_file: Option<PathBuf>,
}

/// Reads a playbook file's text: a regular file, within the size limit, UTF-8.
pub fn read_playbook(path: &Path) -> anyhow::Result<String> {
    files::read_text(path, Kind::Playbook)
        .map_err(|error| UsageError(format!("cannot read {}: {error}", path.display())).into())
}

/// Validates playbook text (read from a file, or from a run's record); prints diagnostics.
pub fn parse_playbook(file_name: &str, source: &str) -> anyhow::Result<Playbook> {
    let path = Path::new(file_name);
    let loaded = runbook_playbook::load(file_name, source);
    if !loaded.diagnostics.is_empty() {
        let color =
            anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
        anstream::eprint!(
            "{}",
            runbook_playbook::render_human(&loaded.diagnostics, color)
        );
    }
    match loaded.playbook {
        Some(playbook) => Ok(playbook),
        None => {
            let errors = loaded
                .diagnostics
                .iter()
                .filter(|diagnostic| diagnostic.severity == Severity::Error)
                .count();
            Err(UsageError(format!(
                "{} is not a valid playbook ({errors} error{}); `runbook validate` shows the same",
                path.display(),
                if errors == 1 { "" } else { "s" }
            ))
            .into())
        }
    }
}

/// Binds `--input` and `--inputs FILE` to the playbook's declarations; every problem at once.
pub fn bind(playbook: &Playbook, args: &InputArgs) -> anyhow::Result<IndexMap<String, Value>> {
    bind_over(playbook, args, IndexMap::new())
}

/// Like [`bind`], over values known already (a resumed run's recorded inputs): values from
/// `--inputs FILE` and `--input` take precedence.
pub fn bind_over(
    playbook: &Playbook,
    args: &InputArgs,
    known: IndexMap<String, Value>,
) -> anyhow::Result<IndexMap<String, Value>> {
    let mut problems = Vec::new();
    let mut pairs = Vec::with_capacity(args.input.len());
    for raw in &args.input {
        match raw.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                pairs.push((name.trim().to_owned(), value.to_owned()))
            }
            _ => problems.push(format!("--input {raw}: expected NAME=VALUE")),
        }
    }
    let mut file_values = known;
    if let Some(path) = &args.inputs_file {
        file_values.extend(read_inputs_file(path)?);
    }
    // A value given with --input replaces a known one.
    for (name, _) in &pairs {
        file_values.shift_remove(name);
    }
    match runbook_playbook::bind_inputs(playbook, &pairs, &file_values) {
        Ok(bound) if problems.is_empty() => Ok(bound),
        Ok(_) => Err(UsageError(problems.join("\n")).into()),
        Err(errors) => {
            problems.extend(errors.iter().map(ToString::to_string));
            Err(UsageError(format!(
                "the inputs do not fit the playbook:\n  {}",
                problems.join("\n  ")
            ))
            .into())
        }
    }
}

/// The text of the inputs from standard input (`--inputs -`), within the inputs file limit.
fn read_inputs_stdin() -> anyhow::Result<String> {
    use std::io::Read as _;
    let limit = Kind::Inputs.limit();
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| UsageError(format!("cannot read the inputs from stdin: {error}")))?;
    if bytes.len() as u64 > limit {
        return Err(UsageError(format!(
            "the inputs on stdin are larger than {} KiB",
            limit / 1024
        ))
        .into());
    }
    String::from_utf8(bytes)
        .map_err(|_| UsageError("the inputs on stdin are not UTF-8".to_owned()).into())
}

fn read_inputs_file(path: &Path) -> anyhow::Result<IndexMap<String, Value>> {
    let stdin = path == Path::new("-");
    let text = if stdin {
        read_inputs_stdin()?
    } else {
        files::read_text(path, Kind::Inputs).map_err(|error| {
            UsageError(format!(
                "cannot read the inputs file {}: {error}",
                path.display()
            ))
        })?
    };
    let path = if stdin { Path::new("<stdin>") } else { path };
    let value: Value = if path
        .extension()
        .is_some_and(|extension| extension == "json")
    {
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?
    } else {
        serde_saphyr::from_str(&text)
            .map_err(|error| UsageError(format!("{} is not valid YAML: {error}", path.display())))?
    };
    match value {
        Value::Object(map) => Ok(map.into_iter().collect()),
        Value::Null => Ok(IndexMap::new()),
        _ => Err(UsageError(format!(
            "{}: expected a map of input names to values",
            path.display()
        ))
        .into()),
    }
}

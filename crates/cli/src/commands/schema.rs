//! `runbook schema`: prints the JSON Schema of the playbook format.

use std::io::Write as _;

use anyhow::Context as _;

use crate::cli::SchemaArgs;

pub fn run(_args: &SchemaArgs) -> anyhow::Result<u8> {
    let schema = serde_json::to_string_pretty(&runbook_playbook::json_schema())
        .context("serializing the JSON Schema")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{schema}").context("writing to stdout")?;
    Ok(super::EXIT_OK)
}

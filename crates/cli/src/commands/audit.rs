//! `runbook audit`: the audit log, newest first (who changed what, when, from where).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::Args;
use runbook_store::AuditFilter;

use crate::commands::OutputFormat;
use crate::commands::runs::time_before_now;
use crate::connect::UsageError;
use crate::store::StoreArgs;

const HEAD: Style = AnsiColor::Cyan.on_default().bold();

/// `runbook audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries since then: a duration back from now (`90m`, `24h`, `7d`) or a time
    /// (`2026-12-01`, `2026-12-01T08:00:00Z`).
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
    /// Only entries by this actor (a token name, or `cli:<user>`).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only entries of this action (`token.created`, `token.revoked`, `run.started`, ...).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// At most this many entries, the newest.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: u32,
    /// How to print the entries.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: AuditArgs) -> anyhow::Result<u8> {
    let since = args
        .since
        .as_deref()
        .map(|text| time_before_now(text, chrono::Utc::now()))
        .transpose()?;
    let filter = AuditFilter {
        since,
        actor: args.actor.clone(),
        action: args.action.clone(),
        limit: Some(args.limit),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let entries = runtime.block_on(async {
        let store = args.store.open_required().await?;
        let entries = store.list_audit(&filter).await;
        store.close().await;
        entries.map_err(|error| anyhow::Error::from(UsageError(error.to_string())))
    })?;
    if args.format == OutputFormat::Json {
        let listed: Vec<_> = entries
            .iter()
            .map(|entry| {
                serde_json::json!({
                    "id": entry.id,
                    "at": entry.at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "target": entry.target,
                    "detail": entry.detail,
                    "remote_addr": entry.remote_addr,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(0);
    }
    if entries.is_empty() {
        anstream::eprintln!("no audit entries");
        return Ok(0);
    }
    let mut text = format!(
        "{HEAD}{:<27}  {:<20}  {:<18}  {:<36}  {:<21}  detail{HEAD:#}\n",
        "at", "actor", "action", "target", "from"
    );
    for entry in &entries {
        let _ = writeln!(
            text,
            "{:<27}  {:<20}  {:<18}  {:<36}  {:<21}  {}",
            entry.at,
            entry.actor,
            entry.action,
            entry.target.as_deref().unwrap_or("-"),
            entry.remote_addr.as_deref().unwrap_or("-"),
            entry.detail,
        );
    }
    anstream::print!("{text}");
    Ok(0)
}

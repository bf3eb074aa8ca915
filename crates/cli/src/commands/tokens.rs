//! `runbook tokens create|list|revoke`: the API tokens of `runbook serve`'s HTTP API. A token
//! is printed once, at its creation; the store keeps only its hash.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::{Args, Subcommand, ValueEnum};
use runbook_store::auth::Role;
use runbook_store::{Actor, TokenCreated, TokenRevoked};

use crate::commands::OutputFormat;
use crate::commands::enqueue::started_by;
use crate::connect::UsageError;
use crate::store::StoreArgs;

const HEAD: Style = AnsiColor::Cyan.on_default().bold();

/// The longest token name.
const MAX_NAME: usize = 64;

/// `runbook tokens`.
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokensCommand,
}

/// Subcommands of `runbook tokens`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token for the HTTP API and print it on stdout, once: the store keeps only its
    /// hash. Exit status: 0 created, 2 the name is taken (even by a revoked token) or usage
    /// error.
    Create(CreateArgs),
    /// List the tokens (name, role, created, last used, revoked); never a token or its hash.
    List(ListArgs),
    /// Revoke a token: the API refuses it from then on. Its name stays taken. Exit status: 0
    /// revoked (or already revoked), 2 no such token or usage error.
    Revoke(RevokeArgs),
}

/// A token's role: viewer reads; operator also starts and cancels runs; approver also decides
/// approvals; admin may do everything (tokens and the audit log included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Operator,
    Approver,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Approver => Role::Approver,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// `runbook tokens create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The token's name (letters, digits, `.`, `_`, `-`; at most 64): who the audit log says
    /// acted.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// What the token may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `runbook tokens list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// How to print the tokens.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `runbook tokens revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: TokensArgs) -> anyhow::Result<u8> {
    match args.command {
        TokensCommand::Create(args) => create(args),
        TokensCommand::List(args) => list(args),
        TokensCommand::Revoke(args) => revoke(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Refuses a name the audit log and the API could not show plainly (a `:` among them, so that
/// no token is named like a command-line actor, `cli:<user>`).
fn check_name(name: &str) -> Result<(), UsageError> {
    let fits = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if fits {
        Ok(())
    } else {
        Err(UsageError(format!(
            "`{name}` is not a token name: use 1 to {MAX_NAME} letters, digits, `.`, `_` or `-`"
        )))
    }
}

fn create(args: CreateArgs) -> anyhow::Result<u8> {
    check_name(&args.name)?;
    let role = Role::from(args.role);
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let created = store
            .create_token(&args.name, role, &Actor::cli(started_by("cli")))
            .await
            .map_err(|error| UsageError(error.to_string()));
        store.close().await;
        match created? {
            TokenCreated::Created(token) => {
                anstream::eprintln!(
                    "created token {} ({role}); it is shown only this once and cannot be shown \
                     again: keep it now",
                    args.name
                );
                println!("{token}");
                Ok(0)
            }
            TokenCreated::NameTaken => Err(UsageError(format!(
                "a token named {} already exists (perhaps revoked; names are never reused): \
                 choose another name",
                args.name
            ))
            .into()),
        }
    })
}

fn list(args: ListArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let tokens = store
            .list_tokens()
            .await
            .map_err(|error| UsageError(error.to_string()));
        store.close().await;
        let tokens = tokens?;
        if args.format == OutputFormat::Json {
            let listed: Vec<_> = tokens
                .iter()
                .map(|token| {
                    serde_json::json!({
                        "name": token.name,
                        "role": token.role.as_str(),
                        "created_at": token.created_at,
                        "created_by": token.created_by,
                        "last_used_at": token.last_used_at,
                        "revoked_at": token.revoked_at,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&listed)?);
            return Ok(0);
        }
        if tokens.is_empty() {
            anstream::eprintln!(
                "no tokens; create one with `runbook tokens create NAME --role ROLE`"
            );
            return Ok(0);
        }
        let mut text = format!(
            "{HEAD}{:<24}  {:<8}  {:<27}  {:<16}  {:<27}  revoked{HEAD:#}\n",
            "name", "role", "created", "created by", "last used"
        );
        for token in &tokens {
            let _ = writeln!(
                text,
                "{:<24}  {:<8}  {:<27}  {:<16}  {:<27}  {}",
                token.name,
                token.role,
                token.created_at,
                token.created_by,
                token.last_used_at.as_deref().unwrap_or("never"),
                token.revoked_at.as_deref().unwrap_or("-"),
            );
        }
        anstream::print!("{text}");
        Ok(0)
    })
}

fn revoke(args: RevokeArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let revoked = store
            .revoke_token(&args.name, &Actor::cli(started_by("cli")))
            .await
            .map_err(|error| UsageError(error.to_string()));
        store.close().await;
        match revoked? {
            TokenRevoked::Revoked => {
                anstream::eprintln!("revoked token {}", args.name);
                Ok(0)
            }
            TokenRevoked::AlreadyRevoked(at) => {
                anstream::eprintln!("token {} was already revoked at {at}", args.name);
                Ok(0)
            }
            TokenRevoked::NotFound => {
                Err(UsageError(format!("no token named {} in this store", args.name)).into())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_are_plain() {
        for good in ["splunk", "soar-prod.1", "A_b-9", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "cli:alice", "ünï", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_role_argument_maps_to_its_role() {
        for (argument, role) in RoleArg::value_variants().iter().zip(Role::ALL) {
            assert_eq!(Role::from(*argument), role);
            let name = argument.to_possible_value().expect("a value");
            assert_eq!(name.get_name(), role.as_str());
        }
    }
}

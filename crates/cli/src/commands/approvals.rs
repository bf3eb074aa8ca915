//! `runbook approvals list` and `runbook approve RUN STEP`: the gates of `approve` steps,
//! decided with direct access to the store (as `runbook tokens` is: whoever can write the store
//! is trusted with it). The store applies the rules: the gate's approvers, nobody on their own
//! run, one decision each; every decision is audited.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use clap::{Args, Subcommand};
use runbook_store::{Actor, Approval, Decided, Decider, Decision, Role};

use crate::commands::OutputFormat;
use crate::commands::enqueue::started_by;
use crate::commands::runs::resolve;
use crate::connect::UsageError;
use crate::store::StoreArgs;

const HEAD: Style = AnsiColor::Cyan.on_default().bold();

/// `runbook approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

/// Subcommands of `runbook approvals`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// The gates waiting for a decision, oldest first: run, step, what is asked, who may
    /// decide, until when, and what will be done once approved.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// How to print them.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `runbook approve RUN STEP`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The run (its id, or at least 4 of its first characters).
    pub run: String,
    /// The `approve` step's id.
    pub step: String,
    /// Deny instead of approving: the step fails with your comment.
    #[arg(long)]
    pub deny: bool,
    /// Why (kept with the decision; the run's step outputs and events carry it).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Decide as this name (a token name the gate's approvers may list); default: $USER.
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn list(args: ApprovalsArgs) -> anyhow::Result<u8> {
    let ApprovalsCommand::List(args) = args.command;
    let pending = runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let pending = store.pending_approvals().await;
        store.close().await;
        pending.map_err(|error| anyhow::Error::from(UsageError(error.to_string())))
    })?;
    if args.format == OutputFormat::Json {
        let listed: Vec<_> = pending.iter().map(approval_json).collect();
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(0);
    }
    if pending.is_empty() {
        anstream::eprintln!("no approval is waiting");
        return Ok(0);
    }
    let mut out = String::new();
    for approval in &pending {
        let _ = writeln!(
            out,
            "{HEAD}{} {}{HEAD:#}  {}",
            approval.run_id, approval.step_id, approval.summary
        );
        let approvals = approval
            .decisions
            .iter()
            .filter(|decision| decision.decision == Decision::Approve)
            .count();
        let who = if approval.approvers.is_empty() {
            "any approver".to_owned()
        } else {
            approval.approvers.join(", ")
        };
        let _ = writeln!(
            out,
            "  {approvals} of {} approval(s) by {who}; started by {}; until {}",
            approval.required, approval.requested_by, approval.expires_at
        );
        if let Some(next) = describe_next(&approval.detail) {
            let _ = writeln!(out, "  then: {next}");
        }
        let _ = writeln!(
            out,
            "  decide: runbook approve {} {} [--deny] [--comment TEXT]",
            approval.run_id, approval.step_id
        );
    }
    anstream::print!("{out}");
    Ok(0)
}

/// One line of what the gate lets through, from its detail.
fn describe_next(detail: &serde_json::Value) -> Option<String> {
    let step = detail.get("next_step")?.as_str()?;
    let mut parts = vec![format!("step `{step}`")];
    if let Some(text) = detail
        .pointer("/target/text")
        .and_then(|text| text.as_str())
    {
        parts.push(format!("target {text}"));
    }
    if let Some(count) = detail
        .pointer("/target/endpoints")
        .and_then(serde_json::Value::as_u64)
    {
        parts.push(format!("{count} endpoint(s) now"));
    }
    if let Some(package) = detail.get("package") {
        let name = package
            .get("name")
            .and_then(|name| name.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("package {}", package["id"]));
        parts.push(name);
    }
    if let Some(group) = detail
        .pointer("/action_group/name")
        .and_then(|name| name.as_str())
    {
        parts.push(format!("action group {group}"));
    }
    if let Some(note) = detail.get("note").and_then(|note| note.as_str()) {
        parts.push(note.to_owned());
    }
    Some(parts.join(", "))
}

fn approval_json(approval: &Approval) -> serde_json::Value {
    serde_json::json!({
        "run_id": approval.run_id,
        "step_id": approval.step_id,
        "summary": approval.summary,
        "detail": approval.detail,
        "approvers": approval.approvers,
        "required": approval.required,
        "requested_by": approval.requested_by,
        "requested_at": approval.requested_at,
        "expires_at": approval.expires_at,
        "status": approval.status.as_str(),
        "decisions": approval.decisions.iter().map(|decision| serde_json::json!({
            "decided_by": decision.decided_by,
            "decision": decision.decision.as_str(),
            "comment": decision.comment,
            "at": decision.at,
        })).collect::<Vec<_>>(),
    })
}

pub fn approve(args: ApproveArgs) -> anyhow::Result<u8> {
    let name = match &args.as_name {
        Some(name) => name.trim().to_owned(),
        None => std::env::var("USER")
            .ok()
            .filter(|user| !user.trim().is_empty())
            .ok_or_else(|| {
                UsageError("who decides? give --as NAME ($USER is not set)".to_owned())
            })?,
    };
    if name.is_empty() {
        return Err(UsageError("--as needs a name".to_owned()).into());
    }
    let decision = if args.deny {
        Decision::Deny
    } else {
        Decision::Approve
    };
    let comment = args
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|comment| !comment.is_empty());
    let (run_id, decided) = runtime()?.block_on(async {
        let store = args.store.open_required().await?;
        let decided = async {
            let run_id = resolve(&store, &args.run).await?;
            // Direct store access decides as an approver; the gate's approvers may name the
            // person (`--as`) or the role.
            let decider = Decider {
                name: name.clone(),
                role: Role::Approver,
            };
            let actor = Actor::cli(started_by("cli"));
            let decided = store
                .decide_approval(&run_id, &args.step, &decider, decision, comment, &actor)
                .await
                .map_err(|error| UsageError(error.to_string()))?;
            Ok::<_, anyhow::Error>((run_id, decided))
        }
        .await;
        store.close().await;
        decided
    })?;
    let gate = format!("step `{}` of run {run_id}", args.step);
    match decided {
        Decided::Recorded { status } => {
            let verb = if args.deny { "denied" } else { "approved" };
            anstream::eprintln!(
                "{verb} {gate} as {name}; the gate is now {}",
                status.as_str()
            );
            Ok(0)
        }
        Decided::NotFound => Err(UsageError(format!(
            "run {run_id} has no approval gate at step `{}` (yet): `runbook approvals list` shows the waiting ones",
            args.step
        ))
        .into()),
        Decided::NotPending(status) => Err(UsageError(format!(
            "{gate} is {}: it takes no more decisions",
            status.as_str()
        ))
        .into()),
        Decided::SelfApproval => Err(UsageError(format!(
            "{name} started run {run_id}: nobody approves their own run"
        ))
        .into()),
        Decided::NotAllowed => Err(UsageError(format!(
            "{name} is not among the approvers of {gate}"
        ))
        .into()),
        Decided::AlreadyDecided => Err(UsageError(format!(
            "{name} decided {gate} already; a decision is not changed"
        ))
        .into()),
    }
}

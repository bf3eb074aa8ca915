//! `runbook plan`: the dry run. Offline: every step rendered, with the exact requests a run
//! would send; nothing is sent.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::{Args, ValueEnum};
use runbook_engine::{Condition, Plan, Planner};
use runbook_tanium::TaniumPlatform;

use crate::commands::run_playbook::recorded_server;
use crate::connect::{ConnectArgs, connect, duration_arg};
use crate::inputs::{InputArgs, bind, parse_playbook, read_playbook};
use crate::plan_file::{self, Made};

const HEAD: Style = AnsiColor::Cyan.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The playbook file to plan.
    pub playbook: PathBuf,

    #[command(flatten)]
    pub inputs: InputArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,

    /// Also make the read-only calls against Tanium: resolve packages and check parameters,
    /// resolve action groups, count the endpoints each target matches now (naming the first
    /// 20) and the offline ones, and apply the guard. Nothing is created but counting
    /// questions.
    #[arg(long)]
    pub live: bool,

    /// Also write the plan to FILE as JSON (mode 0600) for review, to be carried out with
    /// `runbook run --plan FILE`, which refuses it once stale (docs/plans.md). What is printed
    /// stays as it is; stderr says where the file went, its digest and when it expires.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// With --out: how long the plan may be run, e.g. 30m, 1h, 2d.
    #[arg(long, requires = "out", value_name = "DURATION", default_value = "1h", value_parser = duration_arg)]
    pub ttl: Duration,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: PlanArgs) -> anyhow::Result<u8> {
    let source = read_playbook(&args.playbook)?;
    let playbook = parse_playbook(&args.playbook.display().to_string(), &source)?;
    // Inputs that do not fit are a plan that cannot run (exit 1), as the guard is.
    let inputs = match bind(&playbook, &args.inputs) {
        Ok(inputs) => inputs,
        Err(error) => {
            anstream::eprintln!("runbook: {error:#}");
            if let Some(out) = &args.out {
                let made = Made {
                    playbook_path: &args.playbook,
                    playbook_text: &source,
                    playbook: &playbook,
                    inputs: None,
                    plan: None,
                    problems: vec![format!("{error:#}")],
                    server: recorded_server(&args.connect),
                    live: args.live,
                    definitions: &BTreeMap::new(),
                    ttl: args.ttl,
                };
                write_plan(out, &made)?;
            }
            return Ok(1);
        }
    };
    let (plan, definitions) = if args.live {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let connection = connect(&args.connect, None).await?;
            let count_wait = connection.pace.real_duration(Duration::from_secs(120));
            let mut planner = Planner::new(connection.platform.as_ref());
            if !args.connect.http_allow.is_empty() {
                planner = planner.with_egress(connection.egress.as_ref());
            }
            let mut plan = planner.plan_live(&playbook, &inputs, count_wait).await;
            // A reviewed plan fingerprints the parameter definitions of its packages.
            let definitions = if args.out.is_some() {
                plan_file::fingerprint_packages(
                    &connection.platform,
                    &plan_file::planned_packages(&plan),
                    &mut plan.problems,
                )
                .await
            } else {
                BTreeMap::new()
            };
            connection.close().await;
            anyhow::Ok((plan, definitions))
        })?
    } else {
        // The egress policy judges `http` steps when the operator named the hosts allowed.
        let offline = TaniumPlatform::offline();
        let egress = if args.connect.http_allow.is_empty() {
            None
        } else {
            Some(crate::connect::egress(
                &args.connect,
                args.connect.url.as_deref(),
            )?)
        };
        let mut planner = Planner::new(&offline);
        if let Some(egress) = &egress {
            planner = planner.with_egress(egress.as_ref());
        }
        (planner.plan(&playbook, &inputs), BTreeMap::new())
    };
    if let Some(out) = &args.out {
        let made = Made {
            playbook_path: &args.playbook,
            playbook_text: &source,
            playbook: &playbook,
            inputs: Some(&inputs),
            plan: Some(&plan),
            problems: plan.problems.clone(),
            server: recorded_server(&args.connect),
            live: args.live,
            definitions: &definitions,
            ttl: args.ttl,
        };
        write_plan(out, &made)?;
    }
    match args.format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        PlanFormat::Human => anstream::print!("{}", render_human(&plan)),
    }
    // The secrets rule of `run`: a plan reads no secret, but says which ones a run here would
    // miss (a warning: the run may well happen elsewhere).
    let unset: Vec<&str> = playbook
        .secrets
        .iter()
        .filter(|name| std::env::var_os(name.as_str()).is_none())
        .map(String::as_str)
        .collect();
    if !unset.is_empty() {
        anstream::eprintln!(
            "warning: secret(s) {} not set in this environment: `runbook run` here would refuse \
             to start",
            unset.join(", ")
        );
    }
    if plan.problems.is_empty() {
        Ok(0)
    } else {
        Ok(1)
    }
}

/// Writes a plan file and says on stderr where, with its digest and expiry.
fn write_plan(out: &std::path::Path, made: &Made<'_>) -> anyhow::Result<()> {
    let file = made.to_file(chrono::Utc::now())?;
    plan_file::write(out, &file)?;
    anstream::eprintln!(
        "plan written to {} (digest sha256:{}, expires {}){}",
        out.display(),
        file.digest,
        file.expires_at,
        if file.applyable {
            String::new()
        } else {
            "; it is not applyable: `runbook run --plan` will refuse it".to_owned()
        }
    );
    Ok(())
}

/// The plan as text for people: one block per step, each request with its JSON body.
pub fn render_human(plan: &Plan) -> String {
    let mut text = String::new();
    let live = plan.steps.iter().any(|step| step.live.is_some());
    let mode = if live {
        "live: read-only calls made, nothing created but counting questions"
    } else {
        "offline: nothing is sent"
    };
    let _ = writeln!(
        text,
        "{HEAD}plan for playbook {}{HEAD:#} {DIM}({mode}){DIM:#}",
        plan.playbook
    );
    if let Some(inputs) = plan.inputs.as_object().filter(|inputs| !inputs.is_empty()) {
        let _ = writeln!(text, "inputs:");
        for (name, value) in inputs {
            let _ = writeln!(text, "  {name} = {value}");
        }
    }
    for (index, step) in plan.steps.iter().enumerate() {
        let label = step
            .name
            .as_deref()
            .map(|name| format!(" — {name}"))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "\n{HEAD}{}. {} ({}){HEAD:#}{label}",
            index + 1,
            step.id,
            step.kind
        );
        match &step.condition {
            Condition::Always | Condition::Runs => {}
            Condition::Skipped => {}
            Condition::DecidedAtRunTime { expression } => {
                let _ = writeln!(text, "   runs only if {expression} (decided at run time)");
            }
        }
        for line in &step.details {
            let _ = writeln!(text, "   {line}");
        }
        for request in &step.requests {
            let _ = writeln!(text, "   {} {}", request.method, request.path);
            match (&request.options, step.kind.as_str()) {
                // An `http` step's request: its headers, one per line.
                (Some(options), "http") => {
                    for (name, value) in options["headers"].as_object().into_iter().flatten() {
                        let value = value.as_str().unwrap_or_default();
                        let _ = writeln!(text, "     {name}: {value}");
                    }
                }
                (Some(options), _) => {
                    let _ = writeln!(text, "     tanium-options: {options}");
                }
                (None, _) => {}
            }
            if let Some(body) = &request.body {
                let _ = writeln!(text, "     {body}");
            }
            if let Some(note) = &request.note {
                let _ = writeln!(text, "     {DIM}({note}){DIM:#}");
            }
        }
    }
    if let Some(outputs) = plan
        .outputs
        .as_object()
        .filter(|outputs| !outputs.is_empty())
    {
        let _ = writeln!(text, "\noutputs:");
        for (name, value) in outputs {
            let _ = writeln!(text, "  {name} = {value}");
        }
    }
    if !plan.problems.is_empty() {
        let _ = writeln!(text, "\n{BAD}this plan cannot run:{BAD:#}");
        for problem in &plan.problems {
            let _ = writeln!(text, "  - {problem}");
        }
    }
    text
}

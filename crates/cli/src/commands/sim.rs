//! `runbook sim`: the built-in Tanium simulator as a foreground server, for demos and manual
//! testing (`TANIUM_URL=... TANIUM_TOKEN=... runbook run ...` against it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use runbook_tanium_sim::{SimConfig, Simulator};

// The simulator prints a demo token on purpose: it guards nothing but a loopback toy server.

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Require approval of actions (approve with the approver's token, or let the simulated
    /// colleague approve after --auto-approve-after).
    #[arg(long)]
    pub approval: bool,

    /// With --approval: simulated seconds after which a colleague approves (0: never).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub auto_approve_after: u64,

    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub time_scale: f64,

    /// Share of endpoints whose action ends `Failed` (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub failure_share: f64,

    /// A YAML fleet file instead of the built-in fleet.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
}

pub fn run(args: SimArgs) -> anyhow::Result<u8> {
    let mut config = match &args.fleet {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            SimConfig::from_yaml_fleet(&text)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
        }
        None => SimConfig::default(),
    };
    config.approval_required = args.approval;
    config.auto_approve_after = (args.approval && args.auto_approve_after > 0)
        .then(|| Duration::from_secs(args.auto_approve_after));
    config.time_scale = args.time_scale.max(0.001);
    config.failure_share = args.failure_share.clamp(0.0, 1.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let sim = Simulator::start_on(config, args.listen)
            .await
            .map_err(|error| anyhow::anyhow!("simulator: {error}"))?;
        let (username, password) = sim.credentials();
        println!("Tanium simulator listening (Ctrl-C stops it). Point runbook at it with:");
        println!("  export TANIUM_URL={}", sim.base_url());
        println!("  export TANIUM_TOKEN={}", sim.api_token());
        println!("or log in as {username} / {password}.");
        if args.approval {
            println!(
                "Approve actions as a second user with the token {}",
                sim.approver_token()
            );
        }
        println!(
            "Inspect what it received: {}/sim/actions, /sim/groups, /sim/requests",
            sim.base_url()
        );
        tokio::signal::ctrl_c().await?;
        sim.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(0)
}

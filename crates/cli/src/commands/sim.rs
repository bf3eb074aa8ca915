//! `runbook sim`: the built-in Tanium simulator as a foreground server, for demos and manual
//! testing (`TANIUM_URL=... TANIUM_TOKEN=... runbook run ...` against it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use runbook_serve::files::{self, Kind};
use runbook_tanium_sim::{Faults, SimConfig, Simulator, StateStatus};

use crate::connect::{UsageError, describe_faults, duration_arg, share_arg};

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

    /// Real time to wait before every answer, e.g. 200ms.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub latency: Option<Duration>,

    /// Share of requests answered 503 Service Unavailable (0 to 1).
    #[arg(long = "503-share", value_name = "SHARE", value_parser = share_arg)]
    pub share_503: Option<f64>,

    /// Share of requests answered 429 Too Many Requests with Retry-After: 1 (0 to 1).
    #[arg(long = "429-share", value_name = "SHARE", value_parser = share_arg)]
    pub share_429: Option<f64>,

    /// Share of requests whose connection is closed without an answer (0 to 1).
    #[arg(long, value_name = "SHARE", value_parser = share_arg)]
    pub drop_share: Option<f64>,

    /// Share of POST /actions that create the action, then close the connection without an
    /// answer (0 to 1).
    #[arg(long, value_name = "SHARE", value_parser = share_arg)]
    pub cut_after_create_share: Option<f64>,

    /// Real time a POST /actions stays in flight before the action is created and answered,
    /// e.g. 2s.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub create_latency: Option<Duration>,

    /// Login sessions older than this (simulated time) are refused with 403, e.g. 10m.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub session_ttl: Option<Duration>,

    /// Refuse every API token with 401 (logins still work).
    #[arg(long)]
    pub refuse_token: bool,

    /// Keep the simulator's state (actions, approvals, stops, groups, sessions, ids) in FILE
    /// across restarts: restored at start when FILE exists, written before every change is
    /// answered, so that a run against it can be killed, the simulator killed and started
    /// again with FILE, and the run resumed. Start it again with the same fleet.
    #[arg(long, value_name = "FILE", conflicts_with = "describe")]
    pub state: Option<PathBuf>,

    /// Print the simulator's world (fleet, sensors, packages with their parameters, groups,
    /// action groups, users and who approves, timing, faults) and exit without serving. A
    /// running simulator serves the same as JSON at /sim/fleet.
    #[arg(long)]
    pub describe: bool,

    /// Text for a person, or JSON: with --describe the world as one object; when serving,
    /// one line `{"url", "token", "username", "password", "approver_token", "state_file"}`
    /// on stdout once it listens (for scripts that start a simulator).
    #[arg(long, value_enum, default_value_t = DescribeFormat::Text)]
    pub format: DescribeFormat,
}

/// Output format of `runbook sim --describe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DescribeFormat {
    /// Aligned text.
    Text,
    /// One JSON object (the body of `GET /sim/fleet`).
    Json,
}

pub fn run(args: SimArgs) -> anyhow::Result<u8> {
    let mut config = match &args.fleet {
        Some(path) => {
            let text = files::read_text(path, Kind::Fleet).map_err(|error| {
                UsageError(format!(
                    "cannot read the fleet file {}: {error}",
                    path.display()
                ))
            })?;
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
    config.faults = Faults {
        latency: args.latency.unwrap_or_default(),
        error_share: args.share_503.unwrap_or(0.0),
        rate_limit_share: args.share_429.unwrap_or(0.0),
        drop_share: args.drop_share.unwrap_or(0.0),
        login_session_ttl: args.session_ttl,
        refuse_token: args.refuse_token,
        drop_after_create_share: args.cut_after_create_share.unwrap_or(0.0),
        create_latency: args.create_latency.unwrap_or_default(),
    };
    if args.describe {
        match args.format {
            DescribeFormat::Text => print!("{}", config.describe_text()),
            DescribeFormat::Json => println!("{:#}", config.describe()),
        }
        return Ok(0);
    }
    let faults = describe_faults(&config.faults);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let sim = match &args.state {
            Some(path) => Simulator::start_with_state(config, args.listen, path).await,
            None => Simulator::start_on(config, args.listen).await,
        }
        .map_err(|error| anyhow::anyhow!("simulator: {error}"))?;
        let (username, password) = sim.credentials();
        if args.format == DescribeFormat::Json {
            let ready = serde_json::json!({
                "url": sim.base_url(),
                "token": sim.api_token(),
                "username": username,
                "password": password,
                "approver_token": sim.approver_token(),
                "state_file": args.state.as_ref().map(|path| path.display().to_string()),
            });
            println!("{ready}");
            tokio::signal::ctrl_c().await?;
            sim.shutdown().await;
            return anyhow::Ok(());
        }
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
            "Inspect its world at {0}/sim/fleet, and what it received: {0}/sim/actions, /sim/groups, /sim/requests",
            sim.base_url()
        );
        if let Some(faults) = &faults {
            println!("Injecting faults: {faults}");
        }
        if let Some(state) = sim.state() {
            println!("{}", describe_state(state));
        }
        tokio::signal::ctrl_c().await?;
        sim.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(0)
}

/// What `runbook sim --state FILE` found in its file, in a line.
fn describe_state(state: &StateStatus) -> String {
    if !state.restored {
        return format!(
            "Keeping its state in {} (a new file; every change is written before it is answered)",
            state.path.display()
        );
    }
    let actions = match state.actions {
        1 => "1 action".to_owned(),
        count => format!("{count} actions"),
    };
    format!(
        "Keeping its state in {}: restored {actions}; the simulated clock goes on at {:.0} s",
        state.path.display(),
        state.sim_seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_line_says_what_was_restored() {
        let mut state = StateStatus {
            path: PathBuf::from("sim.json"),
            restored: false,
            actions: 0,
            sim_seconds: 0.0,
        };
        assert!(describe_state(&state).contains("sim.json (a new file"));
        state.restored = true;
        state.actions = 1;
        state.sim_seconds = 93.4;
        assert_eq!(
            describe_state(&state),
            "Keeping its state in sim.json: restored 1 action; the simulated clock goes on at 93 s"
        );
    }
}

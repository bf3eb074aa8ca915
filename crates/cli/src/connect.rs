//! Connecting to Tanium: from the environment, or to the built-in simulator (`--sim`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use runbook_engine::Pace;
use runbook_tanium::{
    Auth, ClientConfig, RequestObserver, RetryPolicy, TaniumClient, TaniumPlatform, Tuning,
};
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use secrecy::SecretString;

use crate::files::{self, Kind};

/// How the simulator's clock runs under `--sim` by default: one real second is a minute.
const SIM_TIME_SCALE: f64 = 60.0;

/// Where to send requests.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Run against the built-in Tanium simulator on loopback instead of a real server
    /// (its clock runs fast, so waits finish in seconds).
    #[arg(long)]
    pub sim: bool,

    /// With --sim: require approval of actions (a simulated colleague approves after a while).
    #[arg(long, requires = "sim")]
    pub sim_approval: bool,

    /// With --sim: simulated seconds per real second.
    #[arg(long, requires = "sim", default_value_t = SIM_TIME_SCALE, value_name = "N")]
    pub sim_time_scale: f64,

    /// With --sim: share of endpoints whose action ends `Failed` (0 to 1).
    #[arg(long, requires = "sim", default_value_t = 0.0, value_name = "SHARE")]
    pub sim_failure_share: f64,

    /// With --sim: a YAML fleet file for the simulator instead of its built-in fleet.
    #[arg(long, requires = "sim", value_name = "FILE")]
    pub sim_fleet: Option<PathBuf>,

    /// Tanium server URL, e.g. https://tanium.example.com (the API lives under /api/v2).
    /// Plain http:// is refused unless the host is loopback or --allow-http is given.
    #[arg(long, env = "TANIUM_URL", value_name = "URL")]
    pub url: Option<String>,

    /// PEM file of a private certificate authority to trust for the server's TLS certificate.
    #[arg(long, env = "TANIUM_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Do not verify the server's TLS certificate: anyone on the network path could pose as
    /// the server and read the token. Only for test servers; prefer --ca-cert.
    #[arg(long)]
    pub insecure: bool,

    /// Allow a plain http:// TANIUM_URL to a host that is not loopback: the token or password
    /// then crosses the network unencrypted. Only for test servers on a trusted network.
    #[arg(
        long,
        env = "TANIUM_ALLOW_HTTP",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_http: bool,

    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub request_timeout: u64,
}

/// A live connection: the platform, the simulator behind it (if any) and the engine's clock.
pub struct Connection {
    pub platform: Arc<TaniumPlatform>,
    pub pace: Pace,
    pub sim: Option<RunningSim>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("pace", &self.pace)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Stops the simulator, if one was started.
    pub async fn close(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

/// Connects as the arguments and environment say. Usage errors name what is missing.
pub async fn connect(
    args: &ConnectArgs,
    observer: Option<Arc<dyn RequestObserver>>,
) -> anyhow::Result<Connection> {
    let retry = RetryPolicy::default();
    let request_timeout = Duration::from_secs(args.request_timeout.max(1));
    if args.sim {
        let mut config = match &args.sim_fleet {
            Some(path) => {
                let text = files::read_text(path, Kind::Fleet).map_err(|error| {
                    UsageError(format!(
                        "cannot read the fleet file {}: {error}",
                        path.display()
                    ))
                })?;
                SimConfig::from_yaml_fleet(&text)
                    .map_err(|error| anyhow::anyhow!("fleet file {}: {error}", path.display()))?
            }
            None => SimConfig::default(),
        };
        config.time_scale = config_scale(args);
        config.approval_required = args.sim_approval;
        config.failure_share = args.sim_failure_share.clamp(0.0, 1.0);
        if args.sim_approval {
            // A colleague approves two simulated minutes after the action is issued.
            config.auto_approve_after = Some(Duration::from_secs(120));
        }
        let sim = Simulator::start(config)
            .await
            .map_err(|error| anyhow::anyhow!("could not start the built-in simulator: {error}"))?;
        anstream::eprintln!(
            "runbook: using the built-in Tanium SIMULATOR at {} (nothing leaves this machine; its clock runs {}x)",
            sim.base_url(),
            config_scale(args)
        );
        // The counting question is polled on the simulator's fast clock too.
        let tuning = Tuning {
            question_poll_interval: Tuning::default()
                .question_poll_interval
                .div_f64(config_scale(args)),
            ..Tuning::default()
        };
        let client = TaniumClient::with_tuning(
            ClientConfig {
                base_url: sim.base_url(),
                auth: Auth::Token(SecretString::from(sim.api_token())),
                ca_cert_pem: None,
                insecure: false,
                allow_plain_http: false,
                request_timeout,
                retry,
            },
            tuning,
        )?;
        let client = with_observer(client, observer);
        return Ok(Connection {
            platform: Arc::new(TaniumPlatform::new(client)),
            pace: Pace::scaled(config_scale(args)),
            sim: Some(sim),
        });
    }

    let Some(url) = args.url.clone().filter(|url| !url.trim().is_empty()) else {
        bail!(UsageError(
            "no Tanium server to talk to: set TANIUM_URL and TANIUM_TOKEN (or TANIUM_USERNAME and TANIUM_PASSWORD), or add --sim to try the playbook against the built-in simulator".to_owned()
        ));
    };
    let auth = match (env("TANIUM_TOKEN"), env("TANIUM_USERNAME"), env("TANIUM_PASSWORD")) {
        (Some(token), _, _) => Auth::Token(SecretString::from(token)),
        (None, Some(username), Some(password)) => Auth::Login {
            username,
            password: SecretString::from(password),
            domain: env("TANIUM_DOMAIN"),
        },
        (None, Some(_), None) => bail!(UsageError("TANIUM_USERNAME is set but TANIUM_PASSWORD is not".to_owned())),
        _ => bail!(UsageError(
            "TANIUM_URL is set but no credentials are: set TANIUM_TOKEN (an API token), or TANIUM_USERNAME and TANIUM_PASSWORD".to_owned()
        )),
    };
    let ca_cert_pem = match &args.ca_cert {
        Some(path) => Some(
            files::read_bytes(path, Kind::CaCertificate).map_err(|error| {
                UsageError(format!(
                    "cannot read the CA certificate {}: {error}",
                    path.display()
                ))
            })?,
        ),
        None => None,
    };
    let client = TaniumClient::new(ClientConfig {
        base_url: url.clone(),
        auth,
        ca_cert_pem,
        insecure: args.insecure,
        allow_plain_http: args.allow_http,
        request_timeout,
        retry,
    })
    .map_err(|error| match error {
        runbook_tanium::Error::PlainHttp { host } => anyhow::Error::new(UsageError(format!(
            "refusing plain http:// to {host}: the API token or password would cross the network \
             unencrypted. Use https:// (with --ca-cert FILE for a private CA), or, for a test \
             server on a trusted network, allow it with --allow-http or TANIUM_ALLOW_HTTP=1"
        ))),
        other => anyhow::Error::new(other),
    })?;
    if args.insecure {
        warn(
            "--insecure: the Tanium server's TLS certificate is NOT verified; anyone on the \
             network path can pose as the server and read the API token or password. Use \
             --ca-cert FILE (TANIUM_CA_CERT) to trust a private CA instead",
        );
    }
    if args.allow_http && url.trim_start().to_ascii_lowercase().starts_with("http://") {
        warn(
            "--allow-http: TANIUM_URL is plain http://; the API token or password and every \
             answer cross the network unencrypted",
        );
    }
    let client = with_observer(client, observer);
    Ok(Connection {
        platform: Arc::new(TaniumPlatform::new(client)),
        pace: Pace::real(),
        sim: None,
    })
}

/// A warning about how runbook was asked to connect: in the log when one is set up (`serve`),
/// on stderr otherwise.
fn warn(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        anstream::eprintln!("runbook: WARNING: {message}");
    }
}

fn with_observer(client: TaniumClient, observer: Option<Arc<dyn RequestObserver>>) -> TaniumClient {
    match observer {
        Some(observer) => client.with_observer(observer),
        None => client,
    }
}

/// The simulator's clock speed, kept within sense (a huge scale would overflow durations).
fn config_scale(args: &ConnectArgs) -> f64 {
    if args.sim_time_scale.is_finite() {
        args.sim_time_scale.clamp(1.0, 100_000.0)
    } else {
        1.0
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// A mistake in how runbook was called (exit status 2), as opposed to a failed run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

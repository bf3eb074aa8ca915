//! Connecting to Tanium: from the environment, or to the built-in simulator (`--sim`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use runbook_egress::{EgressConfig, HttpEgress, split_allow_list};
use runbook_engine::Pace;
use runbook_serve::files::{self, Kind};
use runbook_tanium::{
    Auth, ClientConfig, RequestObserver, RetryPolicy, TaniumClient, TaniumPlatform, Tuning,
};
use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};
use secrecy::SecretString;

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

    /// With --sim: real time the simulator waits before every answer, e.g. 200ms.
    #[arg(long, requires = "sim", value_name = "DURATION", value_parser = duration_arg)]
    pub sim_latency: Option<Duration>,

    /// With --sim: share of requests the simulator answers 503 Service Unavailable (0 to 1).
    #[arg(long = "sim-503-share", requires = "sim", value_name = "SHARE", value_parser = share_arg)]
    pub sim_503_share: Option<f64>,

    /// With --sim: share of requests the simulator answers 429 Too Many Requests with
    /// Retry-After: 1 (0 to 1).
    #[arg(long = "sim-429-share", requires = "sim", value_name = "SHARE", value_parser = share_arg)]
    pub sim_429_share: Option<f64>,

    /// With --sim: share of requests whose connection the simulator closes without an answer
    /// (0 to 1).
    #[arg(long, requires = "sim", value_name = "SHARE", value_parser = share_arg)]
    pub sim_drop_share: Option<f64>,

    /// With --sim: share of POST /actions for which the simulator creates the action, then
    /// closes the connection without an answer (0 to 1): the client cannot know it was issued.
    #[arg(long, requires = "sim", value_name = "SHARE", value_parser = share_arg)]
    pub sim_cut_after_create_share: Option<f64>,

    /// With --sim: real time a POST /actions stays in flight before the simulator creates the
    /// action and answers, e.g. 2s (a slow server, or a timeout with --request-timeout).
    #[arg(long, requires = "sim", value_name = "DURATION", value_parser = duration_arg)]
    pub sim_create_latency: Option<Duration>,

    /// With --sim: log in with the simulator's user name and password instead of its API
    /// token, and expire login sessions after this much simulated time (the client logs in
    /// again), e.g. 10m.
    #[arg(long, requires = "sim", value_name = "DURATION", value_parser = duration_arg)]
    pub sim_session_ttl: Option<Duration>,

    /// With --sim: the simulator refuses every API token (401), as for an expired or untrusted
    /// token.
    #[arg(long, requires = "sim")]
    pub sim_refuse_token: bool,

    /// With --sim: keep the simulator's state (actions, approvals, groups, ids) in FILE across
    /// restarts, so that `serve --sim` started again finds the actions of its runs, and a run
    /// of `run --sim` can be resumed (`runs resume` starts the simulator again on FILE).
    #[arg(long, requires = "sim", value_name = "FILE")]
    pub sim_state: Option<PathBuf>,

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

    /// A host `http` steps may reach (repeat it, or list them in RUNBOOK_HTTP_ALLOW with
    /// commas): `hooks.slack.com`, `*.service-now.com` (its subdomains), `tickets.example.com:8443`
    /// (that port only), `http://intranet.example.com` (plain http allowed), `127.0.0.1`.
    /// Loopback and link-local addresses are reached only when named exactly; the Tanium server
    /// never. Without any, `http` steps fail before sending anything.
    #[arg(
        long = "http-allow",
        env = "RUNBOOK_HTTP_ALLOW",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub http_allow: Vec<String>,

    /// PEM file of certificate authorities `http` steps trust, besides the system's.
    #[arg(
        long = "http-ca-cert",
        env = "RUNBOOK_HTTP_CA_CERT",
        value_name = "FILE"
    )]
    pub http_ca_cert: Option<PathBuf>,
}

/// Where a command that only reads or stops what a run did sends its requests: a real server
/// (no simulator flags; `runs cancel`).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Tanium server URL; by default the one the run recorded.
    #[arg(long, env = "TANIUM_URL", value_name = "URL")]
    pub url: Option<String>,

    /// PEM file of a private certificate authority to trust for the server's TLS certificate.
    #[arg(long, env = "TANIUM_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Do not verify the server's TLS certificate. Only for test servers; prefer --ca-cert.
    #[arg(long)]
    pub insecure: bool,

    /// Allow a plain http:// URL to a host that is not loopback.
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

impl ServerArgs {
    /// The same connection as [`ConnectArgs`], without a simulator.
    pub fn to_connect(&self) -> ConnectArgs {
        ConnectArgs {
            sim: false,
            sim_approval: false,
            sim_time_scale: SIM_TIME_SCALE,
            sim_failure_share: 0.0,
            sim_fleet: None,
            sim_latency: None,
            sim_503_share: None,
            sim_429_share: None,
            sim_drop_share: None,
            sim_cut_after_create_share: None,
            sim_create_latency: None,
            sim_session_ttl: None,
            sim_refuse_token: false,
            sim_state: None,
            url: self.url.clone(),
            ca_cert: self.ca_cert.clone(),
            insecure: self.insecure,
            allow_http: self.allow_http,
            request_timeout: self.request_timeout,
            http_allow: Vec::new(),
            http_ca_cert: None,
        }
    }
}

impl ConnectArgs {
    /// How long a request of this process may take, with a margin, as recorded with its
    /// claims ([`runbook_serve::send_grace`]).
    pub fn send_grace(&self) -> Duration {
        runbook_serve::send_grace(Duration::from_secs(self.request_timeout))
    }
}

/// A live connection: the platform, the simulator behind it (if any) and the engine's clock.
pub struct Connection {
    pub platform: Arc<TaniumPlatform>,
    /// Where `http` steps send their requests, by the operator's policy.
    pub egress: Arc<HttpEgress>,
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
        config.faults = sim_faults(args);
        let faults = describe_faults(&config.faults);
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let sim = match &args.sim_state {
            Some(path) => Simulator::start_with_state(config, loopback, path).await,
            None => Simulator::start_on(config, loopback).await,
        }
        .map_err(|error| anyhow::anyhow!("could not start the built-in simulator: {error}"))?;
        anstream::eprintln!(
            "runbook: using the built-in Tanium SIMULATOR at {} (nothing leaves this machine; its clock runs {}x)",
            sim.base_url(),
            config_scale(args)
        );
        if let Some(faults) = faults {
            anstream::eprintln!("runbook: the simulator injects faults: {faults}");
        }
        if let Some(state) = sim.state() {
            anstream::eprintln!(
                "runbook: the simulator keeps its state in {} ({} action(s) restored)",
                state.path.display(),
                state.actions
            );
        }
        // Expiring sessions only exist for logins: with --sim-session-ttl the client logs in.
        let auth = if args.sim_session_ttl.is_some() {
            let (username, password) = sim.credentials();
            Auth::Login {
                username,
                password: SecretString::from(password),
                domain: None,
            }
        } else {
            Auth::Token(SecretString::from(sim.api_token()))
        };
        let client = sim_client(&sim, config_scale(args), auth, request_timeout)?;
        let client = with_observer(client, observer);
        return Ok(Connection {
            platform: Arc::new(TaniumPlatform::new(client)),
            egress: egress(args, Some(&sim.base_url()))?,
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
        egress: egress(args, Some(&url))?,
        pace: Pace::real(),
        sim: None,
    })
}

/// A client of the simulator `sim`, whose clock runs `scale` times faster than the wall
/// clock (the counting question is polled on that clock too).
pub fn sim_client(
    sim: &RunningSim,
    scale: f64,
    auth: Auth,
    request_timeout: Duration,
) -> anyhow::Result<TaniumClient> {
    scaled_client(sim.base_url(), scale, auth, request_timeout)
}

/// A client of the server at `base_url` (a simulator, or a replay of a recording) whose clock
/// runs `scale` times faster than the wall clock.
pub fn scaled_client(
    base_url: String,
    scale: f64,
    auth: Auth,
    request_timeout: Duration,
) -> anyhow::Result<TaniumClient> {
    let tuning = Tuning {
        question_poll_interval: Tuning::default().question_poll_interval.div_f64(scale),
        ..Tuning::default()
    };
    Ok(TaniumClient::with_tuning(
        ClientConfig {
            base_url,
            auth,
            ca_cert_pem: None,
            insecure: false,
            allow_plain_http: false,
            request_timeout,
            retry: RetryPolicy::default(),
        },
        tuning,
    )?)
}

/// The egress of `http` steps: the hosts `--http-allow` (or `RUNBOOK_HTTP_ALLOW`) names, the
/// CA file of `--http-ca-cert`, and the Tanium server at `tanium_url`, never reachable.
pub fn egress(args: &ConnectArgs, tanium_url: Option<&str>) -> anyhow::Result<Arc<HttpEgress>> {
    let ca_cert_pem = match &args.http_ca_cert {
        Some(path) => Some(
            files::read_bytes(path, Kind::CaCertificate).map_err(|error| {
                UsageError(format!(
                    "cannot read the CA certificate {} (--http-ca-cert): {error}",
                    path.display()
                ))
            })?,
        ),
        None => None,
    };
    let allow = args
        .http_allow
        .iter()
        .flat_map(|written| split_allow_list(written))
        .collect();
    let egress = HttpEgress::new(EgressConfig {
        allow,
        tanium_url: tanium_url.map(str::to_owned),
        ca_cert_pem,
    })
    .map_err(|problem| {
        // A CA file's problem names its flag; any other is a pattern's.
        let flag = if problem.contains("CA certificate") {
            "--http-ca-cert"
        } else {
            "--http-allow"
        };
        UsageError(format!("{flag}: {problem}"))
    })?;
    Ok(Arc::new(egress))
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

/// The faults the `--sim-*` flags ask the simulator to inject.
fn sim_faults(args: &ConnectArgs) -> Faults {
    Faults {
        latency: args.sim_latency.unwrap_or_default(),
        error_share: args.sim_503_share.unwrap_or(0.0),
        rate_limit_share: args.sim_429_share.unwrap_or(0.0),
        drop_share: args.sim_drop_share.unwrap_or(0.0),
        login_session_ttl: args.sim_session_ttl,
        refuse_token: args.sim_refuse_token,
        drop_after_create_share: args.sim_cut_after_create_share.unwrap_or(0.0),
        create_latency: args.sim_create_latency.unwrap_or_default(),
    }
}

/// The faults in a few words, or None when there are none.
pub fn describe_faults(faults: &Faults) -> Option<String> {
    let mut parts = Vec::new();
    if !faults.latency.is_zero() {
        parts.push(format!("{} ms latency", faults.latency.as_millis()));
    }
    for (share, what) in [
        (faults.error_share, "503"),
        (faults.rate_limit_share, "429"),
        (faults.drop_share, "dropped connections"),
        (
            faults.drop_after_create_share,
            "POST /actions cut after creating",
        ),
    ] {
        if share > 0.0 {
            parts.push(format!("{}% {what}", share * 100.0));
        }
    }
    if !faults.create_latency.is_zero() {
        parts.push(format!(
            "POST /actions in flight {} ms",
            faults.create_latency.as_millis()
        ));
    }
    if let Some(ttl) = faults.login_session_ttl {
        parts.push(format!(
            "login sessions expire after {} simulated s",
            ttl.as_secs_f64()
        ));
    }
    if faults.refuse_token {
        parts.push("every API token refused".to_owned());
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A `--sim-*` duration such as `200ms` or `10m`.
pub fn duration_arg(text: &str) -> Result<Duration, String> {
    runbook_playbook::parse_duration(text).map_err(|error| error.to_string())
}

/// A share of requests: a number from 0 to 1.
pub fn share_arg(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!(
            "`{text}` is not a share from 0 to 1 (e.g. 0.1 for one request in ten)"
        )),
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

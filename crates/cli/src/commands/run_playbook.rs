//! `runbook run`: run a playbook against Tanium or the built-in simulator.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use std::time::Duration;

use runbook_engine::{Engine, EventSink, RunRequest, RunStatus};
use runbook_tanium::RequestObserver;
use secrecy::SecretString;

use crate::connect::{ConnectArgs, UsageError, connect};
use crate::inputs::{InputArgs, bind, load_playbook};
use crate::render::{EventFormat, Renderer};

/// Exit status when Ctrl-C stops a run.
const INTERRUPTED: u8 = 130;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The playbook file to run.
    pub playbook: PathBuf,

    #[command(flatten)]
    pub inputs: InputArgs,

    /// Allow the playbook to read this environment variable as `secrets.NAME` (repeatable;
    /// the playbook's own `secrets:` list is allowed too).
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<String>,

    /// Print one JSON object per event on stdout instead of human lines.
    #[arg(long)]
    pub json: bool,

    /// Also show each HTTP request and each step as it starts.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Forwards the client's requests to the event stream.
struct RequestEvents(Arc<Renderer>);

impl RequestObserver for RequestEvents {
    fn exchange(&self, method: &str, path: &str, status: Option<u16>, elapsed: Duration) {
        self.0.emit(&runbook_engine::Event::RequestSent {
            step_id: None,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        });
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let playbook = load_playbook(&args.playbook)?;
    let inputs = bind(&playbook, &args.inputs)?;
    let secrets = read_secrets(&playbook.secrets, &args.secrets)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let format = if args.json {
            EventFormat::Json
        } else {
            EventFormat::Human {
                verbose: args.verbose,
            }
        };
        let renderer = Arc::new(Renderer::new(format));
        let observer: Arc<dyn RequestObserver> = Arc::new(RequestEvents(renderer.clone()));
        let connection = connect(&args.connect, Some(observer)).await?;
        let engine =
            Engine::new(connection.platform.clone(), renderer.clone()).with_pace(connection.pace);
        let mut request = RunRequest::new(Arc::new(playbook), inputs);
        request.secrets = secrets;
        let outcome = tokio::select! {
            outcome = engine.run(&request) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        };
        renderer.finish();
        let code = match outcome {
            Some(outcome) => {
                if !args.json && outcome.status == RunStatus::Succeeded {
                    // The run's outputs are its data: stdout, as JSON.
                    println!("{}", serde_json::to_string_pretty(&outcome.outputs)?);
                }
                match outcome.status {
                    RunStatus::Succeeded => 0,
                    _ => 1,
                }
            }
            None => {
                let issued = renderer.issued_actions();
                if issued.is_empty() {
                    anstream::eprintln!("interrupted: no action had been issued");
                } else {
                    let ids: Vec<String> = issued.iter().map(u64::to_string).collect();
                    anstream::eprintln!(
                        "interrupted: action(s) {} were issued and keep running in Tanium",
                        ids.join(", ")
                    );
                }
                INTERRUPTED
            }
        };
        connection.close().await;
        Ok(code)
    })
}

/// Reads the allowed secrets from the environment; a missing one is a usage error.
fn read_secrets(
    listed: &[String],
    allowed: &[String],
) -> anyhow::Result<BTreeMap<String, SecretString>> {
    let mut secrets = BTreeMap::new();
    let mut missing = Vec::new();
    for name in listed.iter().chain(allowed) {
        match std::env::var(name) {
            Ok(value) => {
                secrets.insert(name.clone(), SecretString::from(value));
            }
            Err(_) => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(UsageError(format!(
            "secret(s) {} are allowed but not set in the environment",
            missing.join(", ")
        ))
        .into());
    }
    Ok(secrets)
}

//! The simulator in a child process.
//!
//! The benchmark binaries start themselves again with [`SERVE_SIM_FLAG`]: the child serves the
//! simulator on loopback, prints its URL and token, and serves until its standard input closes.
//! So the child dies with the benchmark even when the benchmark is killed, and the benchmark
//! process's CPU time and `VmHWM` hold the engine and the HTTP client only.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use runbook_tanium_sim::{Faults, SimConfig, Simulator};
use serde_json::Value;

use crate::BenchError;
use crate::proc_stats::{self, CpuTime};

/// First argument that makes a benchmark binary serve the simulator instead.
pub const SERVE_SIM_FLAG: &str = "--serve-sim";

/// How the child simulator runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Real delay before every `/api/v2` answer, in milliseconds.
    pub latency_ms: u64,
}

/// When this process was started as a simulator child, serves until standard input closes and
/// exits; otherwise returns at once. Call it first in every benchmark's `main`.
pub fn serve_sim_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(SERVE_SIM_FLAG) {
        return;
    }
    let code = match serve(args.get(2..).unwrap_or_default()) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("simulator child: {error}");
            1
        }
    };
    std::process::exit(code);
}

fn serve(args: &[String]) -> Result<(), BenchError> {
    let bad = || BenchError::SimChild(format!("expected TIME_SCALE LATENCY_MS, got {args:?}"));
    let time_scale: f64 = args.first().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
    let latency_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).ok_or_else(bad)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let config = SimConfig {
            time_scale,
            // Every endpoint succeeds, so that every run ends the same way and the figures
            // compare like with like.
            failure_share: 0.0,
            faults: Faults {
                latency: Duration::from_millis(latency_ms),
                ..Faults::default()
            },
            ..SimConfig::default()
        };
        let sim = Simulator::start(config)
            .await
            .map_err(|error| BenchError::SimChild(error.to_string()))?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "url: {}", sim.base_url())?;
            writeln!(out, "token: {}", sim.api_token())?;
            out.flush()?;
        }
        // The parent never writes; end of input means it is done (or gone).
        tokio::task::spawn_blocking(|| {
            let mut sink = std::io::sink();
            std::io::copy(&mut std::io::stdin().lock(), &mut sink)
        })
        .await
        .map_err(|error| BenchError::SimChild(error.to_string()))??;
        sim.shutdown().await;
        Ok(())
    })
}

/// A simulator served by a child process; stopped when dropped.
#[derive(Debug)]
pub struct SimChild {
    child: Child,
    /// Kept open: the child must not get a broken pipe if it ever prints more.
    stdout: BufReader<ChildStdout>,
    url: String,
    token: String,
    http: reqwest::Client,
}

impl SimChild {
    /// Starts this executable again as a simulator and waits for its URL and token.
    pub fn spawn(options: &SimOptions) -> Result<SimChild, BenchError> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(SERVE_SIM_FLAG)
            .arg(options.time_scale.to_string())
            .arg(options.latency_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::SimChild("no stdout pipe".to_owned()))?;
        let mut stdout = BufReader::new(stdout);
        let mut read_value = |key: &str| -> Result<String, BenchError> {
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            line.trim_end()
                .strip_prefix(key)
                .map(str::to_owned)
                .ok_or_else(|| {
                    BenchError::SimChild(format!("expected a `{key}` line, got {line:?}"))
                })
        };
        let url = read_value("url: ")?;
        let token = read_value("token: ")?;
        Ok(SimChild {
            child,
            stdout,
            url,
            token,
            http: reqwest::Client::new(),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The default user's API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Requests the simulator has served under `/api/v2` so far (its inspector's counts).
    pub async fn requests_served(&self) -> Result<u64, BenchError> {
        let answer = self.inspect("requests").await?;
        let counts = answer
            .as_array()
            .ok_or_else(|| BenchError::Inspector(format!("not a list: {answer}")))?;
        Ok(counts
            .iter()
            .filter_map(|entry| entry["count"].as_u64())
            .sum())
    }

    /// The names of the actions issued so far, oldest first.
    pub async fn action_names(&self) -> Result<Vec<String>, BenchError> {
        let answer = self.inspect("actions").await?;
        let actions = answer
            .as_array()
            .ok_or_else(|| BenchError::Inspector("`/sim/actions` is not a list".to_owned()))?;
        Ok(actions
            .iter()
            .filter_map(|action| action["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// `GET /sim/{what}`: the simulator's inspector over HTTP.
    async fn inspect(&self, what: &str) -> Result<Value, BenchError> {
        self.http
            .get(format!("{}/sim/{what}", self.url))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| BenchError::Inspector(error.to_string()))?
            .json()
            .await
            .map_err(|error| BenchError::Inspector(error.to_string()))
    }

    /// CPU time the simulator process has used so far.
    pub fn cpu_time(&self) -> Result<CpuTime, BenchError> {
        proc_stats::cpu_time_of(&self.pid().to_string())
    }

    /// Peak resident memory of the simulator process, in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, BenchError> {
        proc_stats::status_kib(&self.pid().to_string(), "VmHWM")
    }
}

impl Drop for SimChild {
    fn drop(&mut self) {
        // Closing its input asks the child to stop; kill it (by its own id) if it lingers.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Anything it printed meanwhile is of no interest.
        let mut rest = Vec::new();
        let _ = self.stdout.read_to_end(&mut rest);
    }
}

//! Webhooks and `POST /api/v1/runs` under an open-loop load, against a release `runbook serve`
//! this binary starts itself (goal: answer p99 under 50 ms; no run lost, none duplicated).
//!
//! Set-up: a fresh PostgreSQL database of its own (created with `psql`, dropped at the end), API
//! tokens made with `runbook tokens create` (an operator and a viewer), a playbook folder with
//! two one-`log`-step playbooks (`wl-hook` started by the hook, `wl-api` by the API, so that
//! each phase's runs are counted apart), a triggers file with one HMAC trigger
//! (`X-Signature: sha256=<hex>` over `<timestamp>.<body>`, `dedup: "{{ body.sid }}"`), then
//! `runbook serve --sim --http 127.0.0.1:0 --workers 4 --log-format json` with `--hook-rate`
//! and `--api-rate` far above the load.
//!
//! Each phase sends `--rate` requests per second for `--seconds` seconds, **open loop**: request
//! `i` is due at `start + i / rate` and is sent then whether or not the earlier ones were
//! answered (the sender never waits for an answer; at most `--concurrency` requests are in
//! flight, a request over the cap waits for a free slot and its wait counts in its answer
//! time). Answer times are measured from the due time, so a server that falls behind cannot
//! hide it (no coordinated omission). Every `--duplicates-every`-th request repeats a `sid`
//! (an Idempotency-Key) sent before: alternately the one sent just before it (usually still in
//! flight: the race) and an older one.
//!
//! Then it waits for the workers to drain the queue and reports: answer times, status counts,
//! unique keys sent against runs queued (listed with `GET /api/v1/runs?playbook=..` page by
//! page with the viewer token, and counted in the database with `psql`): they must be equal,
//! with every answer for a key naming the same run. The drain time, and firing-to-first-step:
//! for a sample of runs, the time from the request's send to the `recorded_at` of the run's
//! first `step_started` event (`GET /api/v1/runs/{id}/events`).
//!
//! ```sh
//! cargo build --release -p runbook -p runbook-benches --bin webhook_load
//! target/release/webhook_load --rate 500 --seconds 60 --duplicates-every 10
//! ```
//!
//! Options (defaults): `--runbook PATH` (the `runbook` beside this binary),
//! `--postgres URL` (`postgres://postgres@127.0.0.1:5432/test`: a database `psql` can create
//! another one from), `--rate 500`, `--seconds 60`, `--duplicates-every 10` (0: none),
//! `--concurrency 256`, `--samples 500`, `--workers 4`, `--only hooks|api`, `--keep-db`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use runbook_benches::proc_stats;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Semaphore;

type HmacSha256 = Hmac<Sha256>;

/// The hook's shared secret (the serve process reads it from `WL_HOOK_SECRET`).
const HOOK_SECRET: &str = "webhook-load-secret-4f1c9a";
const HOOK_PATH: &str = "/hooks/alerts";
const HOOK_PLAYBOOK: &str = "wl-hook";
const API_PLAYBOOK: &str = "wl-api";
/// The goal of the brief: answers under this at the 99th percentile.
const GOAL_P99: Duration = Duration::from_millis(50);

const TRIGGERS: &str = r#"version: 1
triggers:
  - name: alerts
    path: /hooks/alerts
    playbook: wl-hook
    auth:
      hmac:
        secret_env: WL_HOOK_SECRET
        header: X-Signature
        prefix: "sha256="
        encoding: hex
        timestamp_header: X-Timestamp
        max_skew: 5m
    when: "{{ body.severity in ['high', 'critical'] }}"
    inputs:
      sid: "{{ body.sid }}"
      host: "{{ body.host }}"
    dedup: "{{ body.sid }}"
    dedup_window: 24h
"#;

fn playbook(name: &str) -> String {
    format!(
        "version: 1\nname: {name}\ninputs:\n  sid: {{ type: string }}\n  host: {{ type: string, required: false }}\n\
         steps:\n  - id: note\n    log: \"alert {{{{ inputs.sid }}}}\"\n"
    )
}

#[derive(Debug, Clone)]
struct Options {
    runbook: PathBuf,
    postgres: String,
    rate: u32,
    seconds: u32,
    duplicates_every: usize,
    concurrency: usize,
    samples: usize,
    workers: u32,
    only: Option<Phase>,
    keep_db: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Hooks,
    Api,
}

impl Phase {
    fn title(self) -> &'static str {
        match self {
            Phase::Hooks => "webhooks: POST /hooks/alerts (HMAC-signed, dedup on body.sid)",
            Phase::Api => "API: POST /api/v1/runs (operator token, Idempotency-Key)",
        }
    }

    fn playbook(self) -> &'static str {
        match self {
            Phase::Hooks => HOOK_PLAYBOOK,
            Phase::Api => API_PLAYBOOK,
        }
    }

    fn key_scope(self) -> &'static str {
        match self {
            Phase::Hooks => "hook:alerts",
            Phase::Api => "api:wl-operator",
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: webhook_load [--runbook PATH] [--postgres URL] [--rate N] [--seconds N] \
         [--duplicates-every N] [--concurrency N] [--samples N] [--workers N] \
         [--only hooks|api] [--keep-db]"
    );
    ExitCode::from(2)
}

fn parse_options() -> Option<Options> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|folder| folder.join("runbook")))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("target/release/runbook"));
    let mut options = Options {
        runbook: beside,
        postgres: "postgres://postgres@127.0.0.1:5432/test".to_owned(),
        rate: 500,
        seconds: 60,
        duplicates_every: 10,
        concurrency: 256,
        samples: 500,
        workers: 4,
        only: None,
        keep_db: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--keep-db" => options.keep_db = true,
            "--runbook" => options.runbook = PathBuf::from(args.next()?),
            "--postgres" => options.postgres = args.next()?,
            "--rate" => options.rate = args.next()?.parse().ok().filter(|&n| n > 0)?,
            "--seconds" => options.seconds = args.next()?.parse().ok().filter(|&n| n > 0)?,
            "--duplicates-every" => options.duplicates_every = args.next()?.parse().ok()?,
            "--concurrency" => {
                options.concurrency = args.next()?.parse().ok().filter(|&n| n > 0)?;
            }
            "--samples" => options.samples = args.next()?.parse().ok()?,
            "--workers" => options.workers = args.next()?.parse().ok()?,
            "--only" => {
                options.only = Some(match args.next()?.as_str() {
                    "hooks" => Phase::Hooks,
                    "api" => Phase::Api,
                    _ => return None,
                });
            }
            _ => return None,
        }
    }
    if options.duplicates_every == 1 {
        return None;
    }
    Some(options)
}

fn main() -> ExitCode {
    let Some(options) = parse_options() else {
        return usage();
    };
    runbook_benches::exit_code_of("webhook_load", "some check failed", run(options))
}

// ---------------------------------------------------------------------------------------------
// Set-up: database, files, tokens, the serve process.

/// `psql URL -c SQL`, its unaligned output.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAq", "-c", sql])
        .output()
        .map_err(|error| format!("psql: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `url` with its database (the last path segment) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let cut = url
        .rfind('/')
        .filter(|&slash| slash > "postgres://".len())
        .unwrap_or(url.len());
    format!("{}/{database}", &url[..cut])
}

/// A database of this run's own, dropped when this is dropped (unless kept).
struct Database {
    admin: String,
    name: String,
    url: String,
    keep: bool,
}

impl Database {
    fn create(admin: &str, keep: bool) -> Result<Database, String> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let name = format!("webhook_load_{}_{stamp}", std::process::id());
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            admin: admin.to_owned(),
            url: with_database(admin, &name),
            name,
            keep,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if self.keep {
            println!("database kept:        {}", self.url);
        } else if let Err(error) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("dropping {}: {error}", self.name);
        }
    }
}

fn create_token(runbook: &Path, store: &str, name: &str, role: &str) -> Result<String, String> {
    let output = Command::new(runbook)
        .args(["tokens", "create", name, "--role", role, "--store", store])
        .env("USER", "webhook_load")
        .output()
        .map_err(|error| format!("{}: {error}", runbook.display()))?;
    if !output.status.success() {
        return Err(format!(
            "tokens create {name}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The `runbook serve` child: SIGTERM, then killed, when dropped.
struct Serve {
    child: Option<Child>,
    pid: String,
    base: String,
    log: PathBuf,
}

impl Serve {
    fn start(options: &Options, folder: &Path, store: &str) -> Result<Serve, String> {
        let playbooks = folder.join("playbooks");
        std::fs::create_dir_all(&playbooks).map_err(|error| error.to_string())?;
        for name in [HOOK_PLAYBOOK, API_PLAYBOOK] {
            std::fs::write(playbooks.join(format!("{name}.yaml")), playbook(name))
                .map_err(|error| error.to_string())?;
        }
        let triggers = folder.join("triggers.yaml");
        std::fs::write(&triggers, TRIGGERS).map_err(|error| error.to_string())?;
        let log = folder.join("serve.log");
        let stderr = File::create(&log).map_err(|error| error.to_string())?;
        let workers = options.workers.to_string();
        let child = Command::new(&options.runbook)
            .current_dir(folder)
            .env("NO_COLOR", "1")
            .env("WL_HOOK_SECRET", HOOK_SECRET)
            .env_remove("RUNBOOK_SECRET_KEY")
            .args(["serve", "--sim", "--http", "127.0.0.1:0", "--playbooks"])
            .arg(&playbooks)
            .arg("--triggers")
            .arg(&triggers)
            .args(["--store", store, "--log-format", "json"])
            .args(["--workers", &workers])
            .args(["--hook-rate", "1000000", "--api-rate", "1000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("{}: {error}", options.runbook.display()))?;
        let pid = child.id().to_string();
        let mut serve = Serve {
            child: Some(child),
            pid,
            base: String::new(),
            log,
        };
        let Some(child) = serve.child.as_mut() else {
            return Err("runbook serve did not start".to_owned());
        };
        let address = runbook_benches::wait_for_http_address(&serve.log, child)?;
        serve.base = format!("http://{address}");
        Ok(serve)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill").args(["-TERM", &self.pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// The load.

/// One request of the schedule.
#[derive(Debug, Clone)]
struct Planned {
    sid: String,
    /// The first request of this sid (the others repeat it).
    first: bool,
    /// Its run's events are read for firing-to-first-step.
    sample: bool,
}

/// What became of one request.
#[derive(Debug)]
struct Outcome {
    sid: String,
    first: bool,
    sample: bool,
    /// HTTP status, or the transport error.
    status: Result<u16, String>,
    /// From the due time to the whole answer read.
    answer: Duration,
    /// From the actual send to the whole answer read.
    service: Duration,
    /// How late the request left (behind schedule, or waiting for the concurrency cap).
    late: Duration,
    /// Wall clock at the send, for comparing with the store's `recorded_at`.
    sent_wall: SystemTime,
    run_id: Option<String>,
    /// `duplicate` (hooks) or `replayed` (API) in the answer.
    repeated: bool,
    error_code: Option<String>,
}

/// The schedule: `total` requests; every `every`-th repeats an earlier sid, alternately the
/// latest one and an older one picked pseudo-randomly.
fn plan(tag: &str, total: usize, every: usize, samples: usize) -> Vec<Planned> {
    let repeats = if every > 1 { total / every } else { 0 };
    let unique_total = (total - repeats).max(1);
    let stride = unique_total
        .checked_div(samples)
        .map_or(usize::MAX, |stride| stride.max(1));
    let mut uniques: Vec<String> = Vec::with_capacity(unique_total);
    let mut planned = Vec::with_capacity(total);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for index in 0..total {
        let repeat = every > 1 && index % every == every - 1 && !uniques.is_empty();
        if repeat {
            let nth = index / every;
            let sid = if nth.is_multiple_of(2) {
                uniques[uniques.len() - 1].clone()
            } else {
                // xorshift: an older sid, anywhere in what was sent so far.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                uniques[(state % uniques.len() as u64) as usize].clone()
            };
            planned.push(Planned {
                sid,
                first: false,
                sample: false,
            });
        } else {
            let n = uniques.len();
            let sid = format!("{tag}-{n:06}");
            uniques.push(sid.clone());
            planned.push(Planned {
                sid,
                first: true,
                sample: stride != usize::MAX && n % stride == stride / 2,
            });
        }
    }
    planned
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 15)] as char);
    }
    text
}

fn sign(timestamp: &str, body: &str) -> String {
    // Any key length is valid for HMAC.
    let mut mac = HmacSha256::new_from_slice(HOOK_SECRET.as_bytes()).expect("an HMAC key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Context shared by the requests of a phase.
struct Target {
    client: reqwest::Client,
    base: String,
    operator: String,
    phase: Phase,
}

fn request(target: &Target, index: usize, sid: &str) -> reqwest::RequestBuilder {
    match target.phase {
        Phase::Hooks => {
            let body = json!({
                "sid": sid,
                "severity": "high",
                "host": format!("WIN-{:05}", index % 100_000),
                "search_name": "webhook_load",
            })
            .to_string();
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                .to_string();
            let signature = sign(&timestamp, &body);
            target
                .client
                .post(format!("{}{HOOK_PATH}", target.base))
                .header("content-type", "application/json")
                .header("x-timestamp", timestamp)
                .header("x-signature", signature)
                .body(body)
        }
        Phase::Api => {
            let body = json!({"playbook": API_PLAYBOOK, "inputs": {"sid": sid}}).to_string();
            target
                .client
                .post(format!("{}/api/v1/runs", target.base))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {}", target.operator))
                .header("idempotency-key", sid)
                .body(body)
        }
    }
}

async fn send_one(
    target: Arc<Target>,
    slots: Arc<Semaphore>,
    due: tokio::time::Instant,
    index: usize,
    planned: Planned,
) -> Outcome {
    let _slot = slots
        .acquire_owned()
        .await
        .expect("the semaphore stays open");
    let late = due.elapsed();
    let builder = request(&target, index, &planned.sid);
    let sent_wall = SystemTime::now();
    let sent = Instant::now();
    let result = match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(bytes) => Ok((status, bytes)),
                Err(error) => Err(format!("reading the answer: {error}")),
            }
        }
        Err(error) => Err(if error.is_timeout() {
            "timeout".to_owned()
        } else if error.is_connect() {
            "connect".to_owned()
        } else {
            format!("send: {error}")
        }),
    };
    let service = sent.elapsed();
    let answer = due.elapsed();
    let mut outcome = Outcome {
        sid: planned.sid,
        first: planned.first,
        sample: planned.sample,
        status: Err(String::new()),
        answer,
        service,
        late,
        sent_wall,
        run_id: None,
        repeated: false,
        error_code: None,
    };
    match result {
        Ok((status, bytes)) => {
            outcome.status = Ok(status);
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                outcome.run_id = value["run_id"].as_str().map(str::to_owned);
                outcome.repeated = value["duplicate"].as_bool().unwrap_or(false)
                    || value["replayed"].as_bool().unwrap_or(false);
                outcome.error_code = value["error"]["code"].as_str().map(str::to_owned);
            }
        }
        Err(error) => outcome.status = Err(error),
    }
    outcome
}

// ---------------------------------------------------------------------------------------------
// Reading back: the API with the viewer token, the database with psql.

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let response = client
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|error| format!("GET {url}: {error}"))
}

/// Every run of `playbook` (optionally of one status), page by page: (run_id, status).
async fn list_runs(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    playbook: &str,
    status: Option<&str>,
    limit: u32,
    max_pages: usize,
) -> Result<(Vec<(String, String)>, usize), String> {
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{base}/api/v1/runs?playbook={playbook}&limit={limit}");
        if let Some(status) = status {
            url.push_str(&format!("&status={status}"));
        }
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = get_json(client, &url, token).await?;
        pages += 1;
        for run in page["runs"].as_array().into_iter().flatten() {
            runs.push((
                run["run_id"].as_str().unwrap_or_default().to_owned(),
                run["status"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) if pages < max_pages => cursor = Some(next.to_owned()),
            _ => return Ok((runs, pages)),
        }
    }
}

/// Queued and running runs of `playbook`, counted in the database.
fn backlog(store: &str, playbook: &str) -> Result<(u64, u64, u64), String> {
    let text = psql(
        store,
        &format!(
            "SELECT count(*) FILTER (WHERE status = 'queued'), \
             count(*) FILTER (WHERE status = 'running'), \
             count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')) \
             FROM runs WHERE playbook_name = '{playbook}'"
        ),
    )?;
    let mut parts = text.split('|').map(|part| part.trim().parse::<u64>());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(queued)), Some(Ok(running)), Some(Ok(finished))) => {
            Ok((queued, running, finished))
        }
        _ => Err(format!("unexpected psql output {text:?}")),
    }
}

/// Queued runs (of any playbook: the phases run one after the other).
fn queued_now(store: &str) -> Result<u64, String> {
    let text = psql(store, "SELECT count(*) FROM runs WHERE status = 'queued'")?;
    text.parse()
        .map_err(|_| format!("unexpected psql output {text:?}"))
}

/// `2026-12-02T14:03:11.402123Z` as time since the Unix epoch.
fn parse_rfc3339_utc(text: &str) -> Option<Duration> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
    );
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock_parts = clock.split(':').map(str::parse::<u64>);
    let (hour, minute, second) = (
        clock_parts.next()?.ok()?,
        clock_parts.next()?.ok()?,
        clock_parts.next()?.ok()?,
    );
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().take(9).collect();
        digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32)
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = u64::try_from(era * 146_097 + day_of_era - 719_468).ok()?;
    Some(Duration::new(
        days * 86_400 + hour * 3_600 + minute * 60 + second,
        u32::try_from(nanos).ok()?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Figures.

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn spread(label: &str, mut values: Vec<Duration>) -> Duration {
    values.sort();
    let p99 = percentile(&values, 0.99);
    println!(
        "{label:<22}p50 {}  p90 {}  p99 {}  max {}  ({} samples)",
        ms(percentile(&values, 0.50)),
        ms(percentile(&values, 0.90)),
        ms(p99),
        ms(values.last().copied().unwrap_or_default()),
        values.len()
    );
    p99
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// CPU time of every process named `postgres` (the server's backends, whoever they serve).
fn postgres_cpu() -> Duration {
    let mut total = Duration::ZERO;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "postgres");
        if is_postgres && let Ok(cpu) = proc_stats::cpu_time_of(pid) {
            total += cpu.total();
        }
    }
    total
}

/// WARN and ERROR lines of the serve log, by message.
fn log_problems(log: &Path) -> (usize, BTreeMap<String, usize>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines = 0;
    let mut problems = BTreeMap::new();
    for line in text.lines() {
        lines += 1;
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let level = value["level"].as_str().unwrap_or_default();
        if level == "WARN" || level == "ERROR" {
            let message = value["message"].as_str().unwrap_or_default();
            let short: String = message.chars().take(140).collect();
            *problems.entry(format!("{level} {short}")).or_insert(0) += 1;
        }
    }
    (lines, problems)
}

// ---------------------------------------------------------------------------------------------

struct Setup {
    options: Options,
    serve_pid: String,
    base: String,
    store: String,
    operator: String,
    viewer: String,
    log: PathBuf,
}

async fn run(options: Options) -> Result<bool, String> {
    if !options.runbook.exists() {
        return Err(format!(
            "{} not found: `cargo build --release -p runbook`, or pass --runbook PATH",
            options.runbook.display()
        ));
    }
    let folder = std::env::temp_dir().join(format!("webhook_load-{}", std::process::id()));
    std::fs::create_dir_all(&folder).map_err(|error| error.to_string())?;
    let database = Database::create(&options.postgres, options.keep_db)?;
    let operator = create_token(&options.runbook, &database.url, "wl-operator", "operator")?;
    let viewer = create_token(&options.runbook, &database.url, "wl-viewer", "viewer")?;
    let mut serve = Serve::start(&options, &folder, &database.url)?;
    println!("runbook:              {}", options.runbook.display());
    println!(
        "serve:                {} (pid {}), {} workers, store {}",
        serve.base, serve.pid, options.workers, database.url
    );
    println!("serve log:            {}", serve.log.display());
    println!(
        "load:                 {} requests/s for {} s, every {}th repeats a key, at most {} in flight, open loop",
        options.rate, options.seconds, options.duplicates_every, options.concurrency
    );
    println!(
        "cores:                {}",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("load average:         {}", load_average());
    let setup = Setup {
        options: options.clone(),
        serve_pid: serve.pid.clone(),
        base: serve.base.clone(),
        store: database.url.clone(),
        operator,
        viewer,
        log: serve.log.clone(),
    };
    let mut passed = true;
    for phase in [Phase::Hooks, Phase::Api] {
        if options.only.is_some_and(|only| only != phase) {
            continue;
        }
        passed &= run_phase(&setup, phase).await?;
    }
    let (lines, problems) = log_problems(&setup.log);
    println!();
    println!(
        "serve log:            {lines} lines, {} WARN/ERROR",
        problems.values().sum::<usize>()
    );
    for (message, count) in problems.iter().take(10) {
        println!("  {count:>6} x {message}");
    }
    if let Ok(peak) = proc_stats::status_kib(&setup.serve_pid, "VmHWM") {
        println!("serve peak RSS:       {:.1} MiB", proc_stats::mib(peak));
    }
    serve.stop();
    drop(database);
    println!(
        "RESULT: {}",
        if passed {
            "every check passed"
        } else {
            "FAILED"
        }
    );
    Ok(passed)
}

#[allow(clippy::too_many_lines)]
async fn run_phase(setup: &Setup, phase: Phase) -> Result<bool, String> {
    let options = &setup.options;
    let total = options.rate as usize * options.seconds as usize;
    let tag = match phase {
        Phase::Hooks => "alert",
        Phase::Api => "ticket",
    };
    let planned = plan(tag, total, options.duplicates_every, options.samples);
    let unique_sent = planned.iter().filter(|planned| planned.first).count();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|error| error.to_string())?;
    let target = Arc::new(Target {
        client: client.clone(),
        base: setup.base.clone(),
        operator: setup.operator.clone(),
        phase,
    });
    let slots = Arc::new(Semaphore::new(options.concurrency));

    println!();
    println!("== {} ==", phase.title());
    println!(
        "requests:             {total} ({unique_sent} unique keys, {} repeats)",
        total - unique_sent
    );
    println!("load average before:  {}", load_average());

    // The queue depth, sampled every second in the database while the load runs.
    let depth_max = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (depth_max, sampling) = (depth_max.clone(), sampling.clone());
        let store = setup.store.clone();
        tokio::task::spawn_blocking(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(queued) = queued_now(&store) {
                    depth_max.fetch_max(queued, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    let serve_cpu_before = proc_stats::cpu_time_of(&setup.serve_pid).map_err(|e| e.to_string())?;
    let own_cpu_before = proc_stats::cpu_time().map_err(|e| e.to_string())?;
    let postgres_before = postgres_cpu();
    let wall = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut handles = Vec::with_capacity(total);
    let mut dispatch_lag = Duration::ZERO;
    for (index, planned) in planned.into_iter().enumerate() {
        let due =
            start + Duration::from_nanos((index as u64 * 1_000_000_000) / u64::from(options.rate));
        tokio::time::sleep_until(due).await;
        dispatch_lag = dispatch_lag.max(due.elapsed());
        handles.push(tokio::spawn(send_one(
            target.clone(),
            slots.clone(),
            due,
            index,
            planned,
        )));
    }
    let schedule_end = wall.elapsed();
    let mut outcomes = Vec::with_capacity(total);
    for handle in handles {
        outcomes.push(handle.await.map_err(|error| error.to_string())?);
    }
    let load_wall = wall.elapsed();
    let serve_cpu_load = proc_stats::cpu_time_of(&setup.serve_pid)
        .map_err(|e| e.to_string())?
        .since(&serve_cpu_before)
        .total();
    let own_cpu_load = proc_stats::cpu_time()
        .map_err(|e| e.to_string())?
        .since(&own_cpu_before)
        .total();
    let postgres_load = postgres_cpu().saturating_sub(postgres_before);
    let load_after = load_average();
    let at_end = tokio::task::spawn_blocking({
        let store = setup.store.clone();
        move || backlog(&store, phase.playbook())
    })
    .await
    .map_err(|error| error.to_string())??;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;

    // Answer times and statuses.
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in &outcomes {
        let key = match &outcome.status {
            Ok(status) => match &outcome.error_code {
                Some(code) => format!("{status} {code}"),
                None if outcome.repeated => format!("{status} (repeat)"),
                None => status.to_string(),
            },
            Err(error) => format!("error: {error}"),
        };
        *statuses.entry(key).or_insert(0) += 1;
    }
    let answered: Vec<&Outcome> = outcomes
        .iter()
        .filter(|outcome| outcome.status.is_ok())
        .collect();
    println!(
        "sent:                 {} requests in {:.2} s (schedule {:.2} s; dispatcher at most {} behind)",
        outcomes.len(),
        load_wall.as_secs_f64(),
        schedule_end.as_secs_f64(),
        ms(dispatch_lag)
    );
    println!(
        "achieved rate:        {:.1} requests/s answered",
        answered.len() as f64 / load_wall.as_secs_f64()
    );
    let p99 = spread(
        "answer time:",
        answered.iter().map(|outcome| outcome.answer).collect(),
    );
    spread(
        "  from actual send:",
        answered.iter().map(|outcome| outcome.service).collect(),
    );
    let waited = outcomes
        .iter()
        .filter(|outcome| outcome.late > Duration::from_millis(5))
        .count();
    println!(
        "  left >5 ms late:    {waited} (waiting for the cap of {} or the dispatcher)",
        options.concurrency
    );
    // Both routes: 202 for a new run, 200 for a repeated key (the first run).
    let (first_status, repeat_status) = (202, 200);
    let new_answers = |outcome: &&&Outcome| {
        outcome.status == Ok(first_status) && !outcome.repeated && outcome.run_id.is_some()
    };
    spread(
        "  new run (202):",
        answered
            .iter()
            .filter(new_answers)
            .map(|outcome| outcome.answer)
            .collect(),
    );
    spread(
        "  repeat (200):",
        answered
            .iter()
            .filter(|outcome| outcome.status == Ok(repeat_status))
            .map(|outcome| outcome.answer)
            .collect(),
    );
    println!("statuses:             {statuses:?}");
    println!(
        "goal p99 < 50 ms:     {} (p99 {})",
        if p99 < GOAL_P99 { "met" } else { "NOT met" },
        ms(p99)
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let share = |cpu: Duration, over: Duration| {
        100.0 * cpu.as_secs_f64() / (over.as_secs_f64() * cores as f64)
    };
    println!(
        "CPU during the load:  serve {:.1} s, postgres (all backends) {:.1} s, this client {:.1} s, over {:.1} s ({:.0}% of {cores} cores)",
        serve_cpu_load.as_secs_f64(),
        postgres_load.as_secs_f64(),
        own_cpu_load.as_secs_f64(),
        load_wall.as_secs_f64(),
        share(serve_cpu_load + postgres_load + own_cpu_load, load_wall),
    );
    println!("load average after:   {load_after}");
    let depth_max = depth_max.load(Ordering::Relaxed);
    println!(
        "workers during load:  {} runs finished ({:.1} runs/s); queue at most {depth_max} (sampled each second); \
         {} queued and {} running at the last answer",
        at_end.2,
        at_end.2 as f64 / load_wall.as_secs_f64(),
        at_end.0,
        at_end.1
    );

    // Drain: until nothing is queued or running (one cheap EXISTS in the database every
    // 200 ms; `GET /api/v1/runs?status=queued` would do, but costs a scan of the table once
    // nothing matches, and polling it was a load of its own).
    let drain_started = Instant::now();
    loop {
        let store = setup.store.clone();
        let busy = tokio::task::spawn_blocking(move || {
            psql(
                &store,
                "SELECT EXISTS (SELECT 1 FROM runs WHERE status IN ('queued', 'running'))",
            )
        })
        .await
        .map_err(|error| error.to_string())??;
        if busy == "f" {
            break;
        }
        if drain_started.elapsed() > Duration::from_secs(1200) {
            return Err("the queue did not drain in 20 minutes".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain = drain_started.elapsed();
    let busy_wall = wall.elapsed();
    let serve_cpu = proc_stats::cpu_time_of(&setup.serve_pid)
        .map_err(|e| e.to_string())?
        .since(&serve_cpu_before)
        .total();
    let postgres = postgres_cpu().saturating_sub(postgres_before);
    let drained = at_end.0 + at_end.1;
    println!(
        "drain:                {} after the last answer for {drained} runs ({:.1} runs/s); \
         {:.2} s from the first request to an empty queue",
        ms(drain),
        drained as f64 / drain.as_secs_f64().max(1e-9),
        busy_wall.as_secs_f64()
    );
    println!(
        "CPU, load and drain:  serve {:.1} s, postgres (all backends) {:.1} s over {:.1} s ({:.0}% of {cores} cores); load average {}",
        serve_cpu.as_secs_f64(),
        postgres.as_secs_f64(),
        busy_wall.as_secs_f64(),
        share(serve_cpu + postgres, busy_wall),
        load_average()
    );

    // Lost and duplicated.
    let mut passed = true;
    let mut by_sid: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut new_by_sid: HashMap<&str, usize> = HashMap::new();
    for outcome in &outcomes {
        if let (Ok(200 | 202), Some(run_id)) = (&outcome.status, &outcome.run_id) {
            by_sid
                .entry(outcome.sid.as_str())
                .or_default()
                .insert(run_id.as_str());
            if !outcome.repeated {
                *new_by_sid.entry(outcome.sid.as_str()).or_insert(0) += 1;
            }
        }
    }
    let unique_keys: HashSet<&str> = outcomes
        .iter()
        .map(|outcome| outcome.sid.as_str())
        .collect();
    let unanswered = unique_keys
        .iter()
        .filter(|sid| !by_sid.contains_key(*sid))
        .count();
    let split = by_sid.values().filter(|runs| runs.len() > 1).count();
    let twice_new = new_by_sid.values().filter(|&&count| count > 1).count();
    let answered_runs: HashSet<&str> = by_sid.values().flatten().copied().collect();

    let listing_started = Instant::now();
    let (listed, pages) = list_runs(
        &client,
        &setup.base,
        &setup.viewer,
        phase.playbook(),
        None,
        500,
        usize::MAX,
    )
    .await?;
    let listing = listing_started.elapsed();
    let listed_ids: HashSet<&str> = listed.iter().map(|(run_id, _)| run_id.as_str()).collect();
    let mut run_statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, status) in &listed {
        *run_statuses.entry(status.as_str()).or_insert(0) += 1;
    }
    let lost = answered_runs
        .iter()
        .filter(|run_id| !listed_ids.contains(*run_id))
        .count();
    let unknown = listed_ids
        .iter()
        .filter(|run_id| !answered_runs.contains(*run_id))
        .count();
    let in_database = psql(
        &setup.store,
        &format!(
            "SELECT count(*) FROM runs WHERE playbook_name = '{}'",
            phase.playbook()
        ),
    )?;
    let keys_in_database = psql(
        &setup.store,
        &format!(
            "SELECT count(*) FROM run_keys WHERE scope = '{}'",
            phase.key_scope()
        ),
    )?;
    println!(
        "unique keys sent:     {} (every one answered with a run: {})",
        unique_keys.len(),
        if unanswered == 0 {
            "yes".to_owned()
        } else {
            format!("NO, {unanswered} not")
        }
    );
    println!(
        "runs queued:          {} listed by GET /api/v1/runs ({} pages of 500, {}, distinct {}), {} in the database, {} keys in run_keys",
        listed.len(),
        pages,
        ms(listing),
        listed_ids.len(),
        in_database,
        keys_in_database
    );
    println!("run statuses:         {run_statuses:?}");
    println!(
        "lost:                 {lost} (answered run ids not listed); duplicated: {unknown} runs listed that no answer named, \
         {split} keys answered with two runs, {twice_new} keys answered 'new' twice"
    );
    let equal = listed.len() == unique_keys.len()
        && listed_ids.len() == listed.len()
        && in_database.parse::<usize>().ok() == Some(unique_keys.len());
    println!(
        "unique keys = runs:   {}",
        if equal && lost == 0 && unknown == 0 && split == 0 && twice_new == 0 {
            "yes: zero lost, zero duplicated"
        } else {
            passed = false;
            "NO"
        }
    );
    let finished_ok = run_statuses.get("succeeded").copied().unwrap_or(0) == listed.len();
    if !finished_ok {
        passed = false;
    }

    // Firing to first step, on the sample.
    let mut first_step = Vec::new();
    let mut before_send = 0;
    let mut missing = 0;
    let mut raced = 0;
    for outcome in outcomes
        .iter()
        .filter(|outcome| outcome.sample && outcome.first)
    {
        let Some(run_id) = outcome.run_id.as_deref() else {
            missing += 1;
            continue;
        };
        if outcome.repeated {
            // Its repeat, sent just after it, reached the store first and queued the run.
            raced += 1;
            continue;
        }
        let events = get_json(
            &client,
            &format!("{}/api/v1/runs/{run_id}/events", setup.base),
            &setup.viewer,
        )
        .await?;
        let recorded = events["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|event| event["event"] == "step_started")
            .and_then(|event| event["recorded_at"].as_str())
            .and_then(parse_rfc3339_utc);
        let sent = outcome
            .sent_wall
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match recorded {
            Some(recorded) if recorded >= sent => first_step.push(recorded - sent),
            Some(_) => before_send += 1,
            None => missing += 1,
        }
    }
    spread("firing to 1st step:", first_step);
    if missing + before_send + raced > 0 {
        println!(
            "  not measured:       {raced} answered as a repeat (the repeat sent just after won the race), \
             {missing} without a run or a step_started, {before_send} recorded before the send (clock)"
        );
    }
    Ok(passed && unanswered == 0)
}

//! Loop overhead: CPU per item of a `for_each` beyond the HTTP exchange (budget: under 1 ms),
//! and peak memory.
//!
//! One run of a playbook whose `for_each` goes over ITEMS host names, 50 at a time, each item
//! `target`, `parameterize`, `issue`, `poll`; the same run again with a SQLite run store (the
//! durable mode `runbook run` uses by default); and the very same requests per item through the
//! bare client, 50 items at a time. The simulator is a child process with no latency and a
//! 1000x clock, so this process's CPU time (user + system, `/proc/self/stat`) is the engine's
//! and the HTTP client's only. Every run gets a fresh simulator (it slows down as actions pile
//! up) and a small warm-up run first; the three modes alternate in blocks so that a busy
//! machine weighs on them alike. Each run must succeed with every item succeeded.
//!
//! Peak memory (`VmHWM`) is measured in a fresh process per mode (this executable again, with
//! `--peak MODE ITEMS`): one run, nothing before it but the setup.
//!
//! `cargo run --release -p runbook-benches --bin loop_overhead -- [ITEMS]` (default 1000).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_benches::proc_stats::{self, CpuTime};
use runbook_benches::scenario::{self, RequestCounter};
use runbook_benches::{BenchError, SimChild, SimOptions};
use runbook_engine::{Engine, Pace, RunStatus};
use runbook_playbook::Playbook;
use runbook_store::SqlStore;
use runbook_tanium::TaniumClient;

const TIME_SCALE: f64 = 1000.0;
/// Items at once, in the playbook and in the bare mode.
const CONCURRENCY: usize = 50;
/// Steps per item.
const ITEM_STEPS: u64 = 4;
const BLOCKS: u64 = 3;
/// Items of the warm-up run before each measured run (not counted).
const WARM_UP_ITEMS: usize = 50;
const PEAK_FLAG: &str = "--peak";

/// The simulator's online machines (its built-in fleet); items go round them.
const HOSTS: [&str; 19] = [
    "WIN-DC01",
    "WIN-DC02",
    "WIN-FS01",
    "WIN-SQL01",
    "WIN-APP01",
    "web-01.corp.example",
    "web-02.corp.example",
    "web-03.corp.example",
    "db-01.corp.example",
    "db-02.corp.example",
    "build-01",
    "k8s-node-1",
    "k8s-node-2",
    "k8s-node-3",
    "mac-design-01",
    "mac-design-03",
    "mac-design-04",
    "mac-design-05",
    "mac-design-06",
];

/// The loop playbook; `__CONCURRENCY__` is [`CONCURRENCY`].
const PLAYBOOK: &str = r#"version: 1
name: bench-loop
description: Tag every host of a list - target, parameterize, issue, poll per host.
inputs:
  hosts: { type: list }
steps:
  - id: per_host
    for_each:
      items: "{{ inputs.hosts }}"
      as: host
      concurrency: __CONCURRENCY__
      steps:
        - id: scope
          target:
            all:
              - { sensor: Computer Name, op: equals, value: "{{ host }}" }
        - id: params
          parameterize:
            package: Custom Tagging - Add Tags
            params: { $1: "IR-{{ host }}" }
        - id: tag
          issue:
            name: "bench tag {{ host }}"
            action_group: All Computers
            target: "{{ steps.scope.group }}"
            package: "{{ steps.params.package_spec }}"
        - id: results
          poll:
            action: "{{ steps.tag.action_id }}"
            until_percent: 90
            timeout: 2h
outputs:
  succeeded: "{{ steps.per_host.succeeded }}"
  failed: "{{ steps.per_host.failed }}"
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Engine,
    Store,
    Bare,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Engine, Mode::Store, Mode::Bare];

    fn word(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Store => "store",
            Mode::Bare => "bare",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Engine => "engine, no store",
            Mode::Store => "engine + SQLite",
            Mode::Bare => "bare client",
        }
    }

    fn from_word(word: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.word() == word)
    }
}

fn main() -> ExitCode {
    runbook_benches::serve_sim_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: loop_overhead [ITEMS >= 1]");
        ExitCode::from(2)
    };
    let peak = args.first().map(String::as_str) == Some(PEAK_FLAG);
    let (mode, items_arg) = if peak {
        match args.get(1).and_then(|word| Mode::from_word(word)) {
            Some(mode) => (Some(mode), args.get(2)),
            None => return usage(),
        }
    } else {
        (None, args.first())
    };
    let items = match items_arg.map(|arg| arg.parse::<usize>()) {
        None => 1000,
        Some(Ok(items)) if items >= 1 => items,
        Some(_) => return usage(),
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(BenchError::from)
        .and_then(|runtime| {
            runtime.block_on(async {
                match mode {
                    Some(mode) => peak_child(mode, items).await,
                    None => measure(items).await,
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loop_overhead: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Everything the three modes run with: a simulator child of its own, and the same setup
/// whatever the mode (a store is opened even where unused), so that the memory after setup
/// compares.
struct Setup {
    sim: SimChild,
    playbook: Arc<Playbook>,
    engine: Engine,
    store_engine: Engine,
    store: Arc<SqlStore>,
    store_path: PathBuf,
    bare_client: TaniumClient,
    counters: [Arc<RequestCounter>; 3],
}

impl Setup {
    async fn new(tag: &str) -> Result<Setup, BenchError> {
        let sim = SimChild::spawn(&SimOptions {
            time_scale: TIME_SCALE,
            latency_ms: 0,
        })?;
        let counters: [Arc<RequestCounter>; 3] = Default::default();
        let client =
            |mode: Mode| scenario::client(&sim, TIME_SCALE, Some(counters[mode as usize].clone()));
        let engine = scenario::engine(&client(Mode::Engine)?, TIME_SCALE);
        let store_path = std::env::temp_dir().join(format!(
            "runbook-loop-overhead-{}-{tag}.db",
            std::process::id()
        ));
        remove_store(&store_path);
        let store = Arc::new(
            SqlStore::open(&format!("sqlite://{}", store_path.display()))
                .await
                .map_err(|error| BenchError::Flow(format!("opening the store: {error}")))?,
        );
        let store_engine =
            scenario::engine(&client(Mode::Store)?, TIME_SCALE).with_store(store.clone());
        let bare_client = client(Mode::Bare)?;
        let text = PLAYBOOK.replace("__CONCURRENCY__", &CONCURRENCY.to_string());
        let loaded = runbook_playbook::load("bench-loop.yaml", &text);
        let playbook = loaded.playbook.map(Arc::new).ok_or_else(|| {
            BenchError::Playbook(format!(
                "refused by the validator: {:?}",
                loaded.diagnostics
            ))
        })?;
        Ok(Setup {
            sim,
            playbook,
            engine,
            store_engine,
            store,
            store_path,
            bare_client,
            counters,
        })
    }

    fn requests(&self, mode: Mode) -> u64 {
        self.counters[mode as usize].count()
    }

    /// One run of `mode` over `items` items; `number` tells bare runs' action names apart.
    async fn run(&self, mode: Mode, items: usize, number: u64) -> Result<(), BenchError> {
        match mode {
            Mode::Engine => run_engine(&self.engine, &self.playbook, items).await,
            Mode::Store => run_engine(&self.store_engine, &self.playbook, items).await,
            Mode::Bare => run_bare(&self.bare_client, items, number).await,
        }
    }

    async fn close(self) {
        self.store.close().await;
        remove_store(&self.store_path);
    }
}

/// Bytes of the store's file and its write-ahead log.
fn store_size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|metadata| metadata.len())
        .sum()
}

fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// The host name of item `index`.
fn host(index: usize) -> &'static str {
    HOSTS[index % HOSTS.len()]
}

/// One engine run of the loop playbook over `items` hosts; it must succeed with every item.
async fn run_engine(
    engine: &Engine,
    playbook: &Arc<Playbook>,
    items: usize,
) -> Result<(), BenchError> {
    let hosts = (0..items).map(host).collect::<Vec<_>>().join(",");
    let inputs = runbook_playbook::bind_inputs(
        playbook,
        &[("hosts".to_owned(), hosts)],
        &Default::default(),
    )
    .map_err(|errors| BenchError::Playbook(format!("inputs refused: {errors:?}")))?;
    let outcome = engine
        .run(&runbook_engine::RunRequest::new(playbook.clone(), inputs))
        .await;
    let count = |name: &str| {
        let value = &outcome.outputs[name];
        value
            .as_u64()
            .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
    };
    if outcome.status != RunStatus::Succeeded || count("succeeded") != Some(items as u64) {
        return Err(BenchError::Flow(format!(
            "an engine run ended {:?} with {:?} of {items} items succeeded: {:?}",
            outcome.status, outcome.outputs["succeeded"], outcome.error
        )));
    }
    Ok(())
}

/// The bare client over `items` hosts, [`CONCURRENCY`] at a time.
async fn run_bare(client: &TaniumClient, items: usize, number: u64) -> Result<(), BenchError> {
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut done = 0;
    while done < items {
        while next < items && running.len() < CONCURRENCY {
            let client = client.clone();
            let index = next;
            running.spawn(async move { bare_item(&client, host(index), number, index).await });
            next += 1;
        }
        match running.join_next().await {
            Some(Ok(result)) => result?,
            Some(Err(error)) => return Err(BenchError::Flow(format!("a bare item: {error}"))),
            None => break,
        }
        done += 1;
    }
    if done == items {
        Ok(())
    } else {
        Err(BenchError::Flow(format!(
            "{done} of {items} bare items ran"
        )))
    }
}

/// One item's requests with the bare client, in the engine's order (as `scenario::bare_flow`,
/// without its approval and assert steps): create the group; read the package and resolve its
/// parameter; read the action group, count the targets, look for an action of the same name,
/// issue; read the results until both shares reach 90%, with the engine's growing interval,
/// and the action's state when they stall.
async fn bare_item(
    client: &TaniumClient,
    hostname: &str,
    run_number: u64,
    index: usize,
) -> Result<(), BenchError> {
    let pace = Pace::scaled(TIME_SCALE);
    let name = format!("bench tag {hostname} [bare {run_number} tag#{index}]");
    let issued = scenario::bare_issue(client, hostname, name, &pace).await?;
    scenario::bare_poll(client, &issued, &pace).await?;
    Ok(())
}

/// CPU and wall time of one mode, summed over its blocks.
#[derive(Debug, Default)]
struct Totals {
    items: u64,
    cpu: CpuTime,
    wall: Duration,
    requests: u64,
    /// The simulator child's CPU time meanwhile.
    sim_cpu: Duration,
}

async fn measure(items: usize) -> Result<(), BenchError> {
    let mut totals: [Totals; 3] = Default::default();
    let mut served = 0;
    let mut store_bytes = 0;
    let mut routes: [BTreeMap<String, u64>; 3] = Default::default();
    for block in 1..=BLOCKS {
        for mode in Mode::ALL {
            // A fresh simulator (and store) for every run: the simulator slows down as its
            // actions pile up, which would weigh on the later runs.
            let setup = Setup::new(mode.word()).await?;
            // Warm up (connections, allocator, the store's statements); not counted.
            setup.run(mode, WARM_UP_ITEMS, 0).await?;
            let requests_before = setup.requests(mode);
            let sim_before = setup.sim.cpu_time()?;
            let cpu_before = proc_stats::cpu_time()?;
            let started = Instant::now();
            setup.run(mode, items, block).await?;
            let wall = started.elapsed();
            let cpu = proc_stats::cpu_time()?.since(&cpu_before);
            let sim_cpu = setup.sim.cpu_time()?.since(&sim_before);
            let total = &mut totals[mode as usize];
            total.items += items as u64;
            total.cpu.user += cpu.user;
            total.cpu.system += cpu.system;
            total.sim_cpu += sim_cpu.total();
            total.wall += wall;
            total.requests += setup.requests(mode) - requests_before;
            println!(
                "  block {block} {:<17} CPU {:>6.2} s, wall {:>6.2} s, simulator CPU {:>6.2} s",
                mode.label(),
                cpu.total().as_secs_f64(),
                wall.as_secs_f64(),
                sim_cpu.total().as_secs_f64()
            );
            served += setup.sim.requests_served().await?;
            if mode == Mode::Store {
                store_bytes = store_size(&setup.store_path);
            }
            for (route, count) in setup.counters[mode as usize].routes() {
                *routes[mode as usize].entry(route).or_default() += count;
            }
            setup.close().await;
        }
    }

    println!(
        "loop_overhead: a for_each of {items} items, concurrency {CONCURRENCY}, {ITEM_STEPS} steps per item (target, parameterize, issue, poll); {BLOCKS} blocks per mode"
    );
    println!(
        "  simulator: child process, clock {TIME_SCALE}x, no latency; served {served} requests"
    );
    for mode in Mode::ALL {
        report(mode, &totals[mode as usize]);
    }
    let bare = &totals[Mode::Bare as usize];
    let bare_cpu = bare.cpu.total().as_secs_f64();
    let bare_per_request = bare_cpu / bare.requests.max(1) as f64;
    for mode in [Mode::Engine, Mode::Store] {
        let engine = &totals[mode as usize];
        let engine_cpu = engine.cpu.total().as_secs_f64();
        let per_item = |cpu: f64| 1000.0 * cpu / engine.items.max(1) as f64;
        // The poll loop's request count depends on timing; charging the engine's requests at
        // the bare client's price per request removes that from the difference.
        let normalised = engine_cpu - bare_per_request * engine.requests as f64;
        println!(
            "  {:<17} - bare, per item: {:.3} ms ({:.3} ms per step); per item, requests at the bare price: {:.3} ms",
            mode.label(),
            per_item(engine_cpu - bare_cpu),
            per_item(engine_cpu - bare_cpu) / ITEM_STEPS as f64,
            per_item(normalised),
        );
    }
    println!(
        "  bare CPU per request: {:.3} ms; SQLite store after a run (file and WAL): {:.1} MiB",
        1000.0 * bare_per_request,
        store_bytes as f64 / (1024.0 * 1024.0)
    );
    println!("  budget: under 1 ms of CPU per item beyond the HTTP exchange");
    // The route counts hold the warm-up runs too.
    let counted =
        |mode: Mode| (totals[mode as usize].items + BLOCKS * WARM_UP_ITEMS as u64).max(1) as f64;
    println!("  requests per item, by route (engine, no store | engine + SQLite | bare client):");
    let mut names: Vec<&String> = routes.iter().flat_map(BTreeMap::keys).collect();
    names.sort();
    names.dedup();
    for name in names {
        let per_item = |mode: Mode| {
            routes[mode as usize].get(name).copied().unwrap_or(0) as f64 / counted(mode)
        };
        println!(
            "    {:<48} {:>5.2} | {:>5.2} | {:>5.2}",
            name,
            per_item(Mode::Engine),
            per_item(Mode::Store),
            per_item(Mode::Bare)
        );
    }

    println!("  peak memory, one run in a fresh process each (VmHWM; VmRSS after setup):");
    for mode in Mode::ALL {
        let output = Command::new(std::env::current_exe()?)
            .args([PEAK_FLAG, mode.word(), &items.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(BenchError::Flow(format!(
                "the {} peak process failed: {}{}",
                mode.word(),
                text,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        print!("    {:<17} {text}", mode.label());
    }
    Ok(())
}

fn report(mode: Mode, totals: &Totals) {
    let items = totals.items.max(1) as f64;
    println!(
        "  {:<17} CPU {:>7.2} s (user {:.2}, sys {:.2}) = {:.3} ms/item; {} requests = {:.2}/item; wall {:.2} s/run; simulator CPU {:.3} ms/item",
        mode.label(),
        totals.cpu.total().as_secs_f64(),
        totals.cpu.user.as_secs_f64(),
        totals.cpu.system.as_secs_f64(),
        1000.0 * totals.cpu.total().as_secs_f64() / items,
        totals.requests,
        totals.requests as f64 / items,
        totals.wall.as_secs_f64() / BLOCKS as f64,
        1000.0 * totals.sim_cpu.as_secs_f64() / items,
    );
}

/// `--peak MODE ITEMS`: one run of `mode` in this fresh process; prints its peak memory.
async fn peak_child(mode: Mode, items: usize) -> Result<(), BenchError> {
    let setup = Setup::new(mode.word()).await?;
    let start_kib = proc_stats::rss_kib()?;
    let started = Instant::now();
    setup.run(mode, items, 1).await?;
    let wall = started.elapsed();
    let peak_kib = proc_stats::peak_rss_kib()?;
    let now_kib = proc_stats::rss_kib()?;
    setup.close().await;
    println!(
        "peak {:.1} MiB (after setup {:.1} MiB, after the run {:.1} MiB); wall {:.2} s",
        proc_stats::mib(peak_kib),
        proc_stats::mib(start_kib),
        proc_stats::mib(now_kib),
        wall.as_secs_f64()
    );
    Ok(())
}

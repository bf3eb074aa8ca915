//! The `http` step's cost per request: through the engine and runbook-egress (rendering, the
//! policy, the name resolved and checked, a client pinned to the checked addresses, the answer
//! read and turned into outputs) against the bare reqwest client sending the same requests, on
//! a receiver on loopback. A `POST` with a SQLite run store adds its intent and its answer,
//! each a durable write, to the step's own records.
//!
//! One run of a playbook whose `for_each` goes over REQUESTS items one at a time, each item one
//! `http` step; the modes alternate in blocks so that a busy machine weighs on them alike. The
//! receiver runs on its own thread; figures are wall time per request.
//!
//! `cargo run --release -p runbook-benches --bin http_overhead -- [REQUESTS]` (default 300).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_benches::BenchError;
use runbook_egress::{EgressConfig, HttpEgress};
use runbook_engine::{Engine, NoEvents, RunRequest, RunStatus};
use runbook_store::SqlStore;
use runbook_tanium::TaniumPlatform;

const BLOCKS: usize = 3;

const PLAYBOOK: &str = r#"version: 1
name: bench-http
inputs:
  items: { type: list }
steps:
  - id: each
    for_each:
      items: "{{ inputs.items }}"
      steps:
        - id: call
          http:
            method: __METHOD__
            url: "__BASE__/hook/{{ item }}"
            json: { text: "item {{ item }} done", run: "{{ run.id }}" }
outputs:
  succeeded: "{{ steps.each.succeeded }}"
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bare,
    EngineGet,
    EnginePost,
    EnginePostName,
    EnginePostStore,
}

impl Mode {
    const ALL: [Mode; 5] = [
        Mode::Bare,
        Mode::EngineGet,
        Mode::EnginePost,
        Mode::EnginePostName,
        Mode::EnginePostStore,
    ];

    fn label(self) -> &'static str {
        match self {
            Mode::Bare => "bare reqwest POST (one shared client)",
            Mode::EngineGet => "http step GET, no store",
            Mode::EnginePost => "http step POST, no store",
            Mode::EnginePostName => "http step POST to a name (localhost)",
            Mode::EnginePostStore => "http step POST, SQLite store",
        }
    }
}

/// A receiver on its own thread and runtime: answers every request `{"ok": true}`.
fn receiver() -> Result<String, BenchError> {
    let (sender, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = sender.send(Err(error.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(listener) => listener,
                Err(error) => {
                    let _ = sender.send(Err(error.to_string()));
                    return;
                }
            };
            let _ = sender.send(
                listener
                    .local_addr()
                    .map(|address| address.to_string())
                    .map_err(|error| error.to_string()),
            );
            let app = axum::Router::new()
                .fallback(|| async { axum::Json(serde_json::json!({"ok": true})) });
            let _ = axum::serve(listener, app).await;
        });
    });
    let address = address
        .recv()
        .map_err(|error| BenchError::Flow(format!("the receiver did not start: {error}")))?
        .map_err(|error| BenchError::Flow(format!("the receiver did not start: {error}")))?;
    Ok(format!("http://{address}"))
}

fn playbook(base: &str, method: &str) -> Result<Arc<runbook_playbook::Playbook>, BenchError> {
    let text = PLAYBOOK
        .replace("__BASE__", base)
        .replace("__METHOD__", method);
    let loaded = runbook_playbook::load("bench-http.yaml", &text);
    loaded.playbook.map(Arc::new).ok_or_else(|| {
        BenchError::Playbook(format!(
            "refused by the validator: {:?}",
            loaded.diagnostics
        ))
    })
}

async fn engine_run(
    engine: &Engine,
    playbook: &Arc<runbook_playbook::Playbook>,
    requests: usize,
) -> Result<Duration, BenchError> {
    let items = (0..requests)
        .map(|index| index.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let inputs = runbook_playbook::bind_inputs(
        playbook,
        &[("items".to_owned(), items)],
        &Default::default(),
    )
    .map_err(|errors| BenchError::Playbook(format!("inputs refused: {errors:?}")))?;
    let started = Instant::now();
    let outcome = engine.run(&RunRequest::new(playbook.clone(), inputs)).await;
    let elapsed = started.elapsed();
    let succeeded = outcome.outputs["succeeded"]
        .as_u64()
        .or_else(|| outcome.outputs["succeeded"].as_str()?.parse().ok());
    if outcome.status != RunStatus::Succeeded || succeeded != Some(requests as u64) {
        return Err(BenchError::Flow(format!(
            "a run ended {:?} with {succeeded:?} of {requests} requests answered: {:?}",
            outcome.status, outcome.error
        )));
    }
    Ok(elapsed)
}

async fn bare_run(base: &str, requests: usize) -> Result<Duration, BenchError> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    for index in 0..requests {
        let answer = client
            .post(format!("{base}/hook/{index}"))
            .json(&serde_json::json!({"text": format!("item {index} done")}))
            .send()
            .await
            .map_err(|error| BenchError::Flow(format!("bare POST: {error}")))?;
        answer
            .bytes()
            .await
            .map_err(|error| BenchError::Flow(format!("bare answer: {error}")))?;
    }
    Ok(started.elapsed())
}

async fn measure(requests: usize) -> Result<(), BenchError> {
    let base = receiver()?;
    let egress = Arc::new(
        HttpEgress::new(EgressConfig {
            allow: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            tanium_url: None,
            ca_cert_pem: None,
        })
        .map_err(BenchError::Flow)?,
    );
    let store_path =
        std::env::temp_dir().join(format!("runbook-http-overhead-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&store_path);
    let store = Arc::new(
        SqlStore::open(&format!("sqlite://{}", store_path.display()))
            .await
            .map_err(|error| BenchError::Flow(format!("opening the store: {error}")))?,
    );
    let platform = Arc::new(TaniumPlatform::offline());
    let plain = Engine::new(platform.clone(), Arc::new(NoEvents)).with_egress(egress.clone());
    let stored = Engine::new(platform, Arc::new(NoEvents))
        .with_egress(egress)
        .with_store(store.clone());
    let get = playbook(&base, "GET")?;
    let post = playbook(&base, "POST")?;
    let by_name = playbook(&base.replace("127.0.0.1", "localhost"), "POST")?;
    // Warm-up: connections, TLS roots, the store's first pages.
    engine_run(&stored, &post, 20).await?;
    bare_run(&base, 20).await?;
    let mut totals = [Duration::ZERO; Mode::ALL.len()];
    for _ in 0..BLOCKS {
        for (index, mode) in Mode::ALL.into_iter().enumerate() {
            totals[index] += match mode {
                Mode::Bare => bare_run(&base, requests).await?,
                Mode::EngineGet => engine_run(&plain, &get, requests).await?,
                Mode::EnginePost => engine_run(&plain, &post, requests).await?,
                Mode::EnginePostName => engine_run(&plain, &by_name, requests).await?,
                Mode::EnginePostStore => engine_run(&stored, &post, requests).await?,
            };
        }
    }
    store.close().await;
    let _ = std::fs::remove_file(&store_path);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store_path.display()));
    }
    println!(
        "http step, {requests} sequential requests per run, {BLOCKS} runs per mode, loopback receiver"
    );
    let bare = totals[0].as_secs_f64() / (BLOCKS * requests) as f64 * 1000.0;
    for (index, mode) in Mode::ALL.into_iter().enumerate() {
        let per_request = totals[index].as_secs_f64() / (BLOCKS * requests) as f64 * 1000.0;
        let over = if mode == Mode::Bare {
            String::new()
        } else {
            format!("  (+{:.2} ms over bare)", per_request - bare)
        };
        println!("  {:<40} {per_request:>7.2} ms/request{over}", mode.label());
    }
    Ok(())
}

fn main() -> ExitCode {
    let requests = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(300);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("http_overhead: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(measure(requests)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("http_overhead: {error}");
            ExitCode::FAILURE
        }
    }
}

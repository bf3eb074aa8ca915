//! What `runbook serve` counts, and `/metrics` (Prometheus text format 0.0.4) plus `/healthz`
//! over axum.
//!
//! Counters and histograms live in this process; run counts by status and the queue depth are
//! read from the store at each scrape, so every serve process on one database reports the same
//! totals (label them by instance in Prometheus, and do not sum them).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use runbook_store::SqlStore;

/// Upper bounds (seconds) of the histogram buckets: from a fast HTTP exchange to a long wait.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A Prometheus histogram: cumulative buckets, sum and count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {bucket}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// Runs this process finished, by how they ended.
    runs_finished: BTreeMap<String, u64>,
    /// Runs this process claimed, by `fresh` or `resumed`.
    runs_claimed: BTreeMap<String, u64>,
    /// Step durations by kind and status.
    steps: BTreeMap<(String, String), Histogram>,
    /// Firing time (or queue time) to the first step's start.
    scheduling_latency: Histogram,
    /// Schedule firings by outcome (`queued`, `already_fired`, `skipped_overlap`, `invalid`,
    /// `store_error`).
    firings: BTreeMap<String, u64>,
    /// Tanium requests by method and outcome (`2xx`, `4xx`, `429`, `5xx`, `error`).
    requests: BTreeMap<(String, String), u64>,
    /// Tanium request latency by method.
    request_seconds: BTreeMap<String, Histogram>,
}

/// The counters of one serve process; shared by the workers, the scheduler and the client.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    fn with<T>(&self, change: impl FnOnce(&mut Counters) -> T) -> T {
        // A panic elsewhere while holding the lock leaves counters that are still numbers.
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut counters)
    }

    pub fn run_claimed(&self, resumed: bool) {
        let kind = if resumed { "resumed" } else { "fresh" };
        self.with(|counters| *counters.runs_claimed.entry(kind.to_owned()).or_default() += 1);
    }

    pub fn run_finished(&self, status: &str) {
        self.with(|counters| *counters.runs_finished.entry(status.to_owned()).or_default() += 1);
    }

    pub fn step_finished(&self, kind: &str, status: &str, elapsed: Duration) {
        self.with(|counters| {
            counters
                .steps
                .entry((kind.to_owned(), status.to_owned()))
                .or_default()
                .observe(elapsed.as_secs_f64())
        });
    }

    pub fn scheduling_latency(&self, latency: Duration) {
        self.with(|counters| counters.scheduling_latency.observe(latency.as_secs_f64()));
    }

    pub fn firing(&self, outcome: &str) {
        self.with(|counters| *counters.firings.entry(outcome.to_owned()).or_default() += 1);
    }

    /// Renders everything in Prometheus text format, with the store's counts (None when the
    /// store did not answer).
    pub fn render(&self, store_counts: Option<&BTreeMap<String, u64>>) -> String {
        let mut out = String::new();
        match store_counts {
            Some(counts) => {
                out.push_str("# HELP runbook_store_up Whether the run store answered this scrape.\n# TYPE runbook_store_up gauge\nrunbook_store_up 1\n");
                out.push_str("# HELP runbook_runs Runs in the store by status (all serve processes).\n# TYPE runbook_runs gauge\n");
                for (status, count) in counts {
                    let _ = writeln!(out, "runbook_runs{{status=\"{status}\"}} {count}");
                }
                let depth = counts.get("queued").copied().unwrap_or(0);
                let _ = write!(
                    out,
                    "# HELP runbook_queue_depth Runs waiting for a worker.\n# TYPE runbook_queue_depth gauge\nrunbook_queue_depth {depth}\n"
                );
            }
            None => out.push_str("# HELP runbook_store_up Whether the run store answered this scrape.\n# TYPE runbook_store_up gauge\nrunbook_store_up 0\n"),
        }
        self.with(|counters| {
            out.push_str("# HELP runbook_runs_claimed_total Runs this process claimed (fresh, or resumed from a stopped worker).\n# TYPE runbook_runs_claimed_total counter\n");
            for (kind, count) in &counters.runs_claimed {
                let _ = writeln!(out, "runbook_runs_claimed_total{{kind=\"{kind}\"}} {count}");
            }
            out.push_str("# HELP runbook_runs_finished_total Runs this process finished, by status.\n# TYPE runbook_runs_finished_total counter\n");
            for (status, count) in &counters.runs_finished {
                let _ = writeln!(
                    out,
                    "runbook_runs_finished_total{{status=\"{status}\"}} {count}"
                );
            }
            out.push_str("# HELP runbook_step_duration_seconds Step durations, by kind and status.\n# TYPE runbook_step_duration_seconds histogram\n");
            for ((kind, status), histogram) in &counters.steps {
                histogram.render(
                    &mut out,
                    "runbook_step_duration_seconds",
                    &format!("kind=\"{kind}\",status=\"{status}\""),
                );
            }
            out.push_str("# HELP runbook_scheduling_latency_seconds From a run's firing (or queueing) time to its first step's start.\n# TYPE runbook_scheduling_latency_seconds histogram\n");
            counters.scheduling_latency.render(
                &mut out,
                "runbook_scheduling_latency_seconds",
                "",
            );
            out.push_str("# HELP runbook_schedule_firings_total Schedule firings seen by this process, by outcome.\n# TYPE runbook_schedule_firings_total counter\n");
            for (outcome, count) in &counters.firings {
                let _ = writeln!(
                    out,
                    "runbook_schedule_firings_total{{outcome=\"{outcome}\"}} {count}"
                );
            }
            out.push_str("# HELP runbook_tanium_requests_total Tanium API exchanges, by method and outcome.\n# TYPE runbook_tanium_requests_total counter\n");
            for ((method, outcome), count) in &counters.requests {
                let _ = writeln!(
                    out,
                    "runbook_tanium_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {count}"
                );
            }
            out.push_str("# HELP runbook_tanium_request_duration_seconds Tanium API exchange latency, by method.\n# TYPE runbook_tanium_request_duration_seconds histogram\n");
            for (method, histogram) in &counters.request_seconds {
                histogram.render(
                    &mut out,
                    "runbook_tanium_request_duration_seconds",
                    &format!("method=\"{method}\""),
                );
            }
        });
        out
    }
}

/// The outcome label of one exchange: classes of status, with 429 on its own (rate limiting
/// is what an operator tunes against).
fn outcome(status: Option<u16>) -> &'static str {
    match status {
        None => "error",
        Some(429) => "429",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(_) => "5xx",
    }
}

impl Metrics {
    /// Counts one exchange with Tanium (the cli forwards its client's requests here, as a
    /// `RequestObserver`): its method, its status (None when no answer came) and how long it
    /// took.
    pub fn exchange(&self, method: &str, _path: &str, status: Option<u16>, elapsed: Duration) {
        // The path is left out of the labels: it holds ids, and every id would be a series.
        let method = method.to_ascii_uppercase();
        self.with(|counters| {
            *counters
                .requests
                .entry((method.clone(), outcome(status).to_owned()))
                .or_default() += 1;
            counters
                .request_seconds
                .entry(method)
                .or_default()
                .observe(elapsed.as_secs_f64());
        });
    }
}

#[derive(Debug, Clone)]
struct Endpoint {
    metrics: Arc<Metrics>,
    store: Arc<SqlStore>,
}

async fn metrics_page(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    page(&endpoint.metrics, &endpoint.store).await
}

async fn health(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    health_answer(&endpoint.store).await
}

/// The `/metrics` answer: this process's counters and the store's run counts (for the metrics
/// server, and for `serve --http`, which answers it behind a token).
pub async fn page(metrics: &Metrics, store: &SqlStore) -> impl IntoResponse + use<> {
    let counts = store.run_counts().await;
    if let Err(error) = &counts {
        tracing::warn!(%error, "the store did not answer a metrics scrape");
    }
    let body = metrics.render(counts.as_ref().ok());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// The `/healthz` answer: 200 while the store answers, else 503 without the reason (which names
/// the database: it goes to the log).
pub async fn health_answer(store: &SqlStore) -> (StatusCode, String) {
    match store.queue_depth().await {
        Ok(depth) => (StatusCode::OK, format!("ok: queue depth {depth}\n")),
        Err(error) => {
            // The error names the database (host, port, name, file): it goes to the log, and
            // whoever can reach the health check learns only that the store does not answer.
            tracing::warn!(%error, "health check: the run store did not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unhealthy: the run store does not answer (the reason is in the log)\n".to_owned(),
            )
        }
    }
}

/// Binds `address` now (so a taken port is reported at start) and returns the server to run.
pub async fn bind(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    store: Arc<SqlStore>,
) -> anyhow::Result<(
    SocketAddr,
    impl std::future::Future<Output = ()> + Send,
    tokio::sync::oneshot::Sender<()>,
)> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("cannot serve metrics on {address}: {error}"))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(
            address = %bound,
            "metrics and health are served on {bound}, which is not a loopback address: anyone \
             who can reach it can read run counts, the queue depth and Tanium request rates; \
             bind 127.0.0.1 or restrict who can reach the port"
        );
    }
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_page))
        .route("/healthz", axum::routing::get(health))
        .with_state(Endpoint { metrics, store });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the metrics server stopped");
        }
    };
    Ok((bound, server, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_with_inf() {
        let metrics = Metrics::default();
        metrics.step_finished("issue", "succeeded", Duration::from_millis(20));
        metrics.step_finished("issue", "succeeded", Duration::from_secs(3));
        let text = metrics.render(None);
        assert!(text.contains("runbook_store_up 0"), "{text}");
        assert!(
            text.contains(
                "runbook_step_duration_seconds_bucket{kind=\"issue\",status=\"succeeded\",le=\"0.025\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "runbook_step_duration_seconds_bucket{kind=\"issue\",status=\"succeeded\",le=\"5\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "runbook_step_duration_seconds_count{kind=\"issue\",status=\"succeeded\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("runbook_scheduling_latency_seconds_bucket{le=\"+Inf\"} 0"));
    }

    #[tokio::test]
    async fn an_unhealthy_store_is_not_described_in_the_answer() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("secret-named-runs.db");
        let store = Arc::new(
            SqlStore::open(&format!("sqlite://{}", path.display()))
                .await
                .expect("open"),
        );
        let endpoint = Endpoint {
            metrics: Arc::new(Metrics::default()),
            store: store.clone(),
        };
        let healthy = health(State(endpoint.clone())).await.into_response();
        assert_eq!(healthy.status(), StatusCode::OK);
        // A closed store fails every call, and its error names the database file.
        store.close().await;
        let error = store.queue_depth().await.expect_err("closed");
        assert!(
            error.to_string().contains("secret-named-runs.db"),
            "{error}"
        );
        let response = health(State(endpoint)).await.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let body = String::from_utf8_lossy(&body);
        assert_eq!(
            body,
            "unhealthy: the run store does not answer (the reason is in the log)\n"
        );
    }

    #[test]
    fn requests_are_counted_by_method_and_outcome_without_paths() {
        let metrics = Metrics::default();
        metrics.exchange(
            "get",
            "/api/v2/actions/17",
            Some(200),
            Duration::from_millis(3),
        );
        metrics.exchange(
            "POST",
            "/api/v2/actions",
            Some(503),
            Duration::from_millis(3),
        );
        metrics.exchange(
            "GET",
            "/api/v2/actions/18",
            Some(429),
            Duration::from_millis(3),
        );
        metrics.exchange("GET", "/api/v2/actions/19", None, Duration::from_millis(3));
        let mut counts = BTreeMap::new();
        counts.insert("queued".to_owned(), 4);
        let text = metrics.render(Some(&counts));
        for line in [
            "runbook_tanium_requests_total{method=\"GET\",outcome=\"2xx\"} 1",
            "runbook_tanium_requests_total{method=\"POST\",outcome=\"5xx\"} 1",
            "runbook_tanium_requests_total{method=\"GET\",outcome=\"429\"} 1",
            "runbook_tanium_requests_total{method=\"GET\",outcome=\"error\"} 1",
            "runbook_tanium_request_duration_seconds_count{method=\"GET\"} 3",
            "runbook_queue_depth 4",
            "runbook_runs{status=\"queued\"} 4",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("/api/v2"), "{text}");
    }
}

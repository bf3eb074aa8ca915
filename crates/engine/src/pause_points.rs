//! Pause points for the fencing tests, in debug builds only (no release binary carries them).
//!
//! `RUNBOOK_TEST_PAUSE_AT=<point>` makes the process stop itself with SIGSTOP when a run
//! reaches that point, as a suspended VM or a swapped-out process would; the test continues it
//! with SIGCONT once another process has taken the run over. The points of an `issue` step:
//! `before_intent`, `before_post` (the intent is recorded, the lookup and the last lease check
//! are still to come), `in_post` (the request is on its way: the process stops
//! `RUNBOOK_TEST_PAUSE_DELAY_MS` after it starts, default 100 ms, while a slow server holds
//! it), `after_post` (the answer arrived and is not yet recorded). The points of an `http`
//! step that changes something: `http_intent_recorded` (before the request leaves),
//! `http_answered` (the answer arrived and is not yet recorded), `http_recorded` (it is).

/// Stops this process here when the test asked for `point`.
#[cfg(debug_assertions)]
pub fn reached(point: &str) {
    use std::sync::OnceLock;
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let Some(at) = AT.get_or_init(|| std::env::var("RUNBOOK_TEST_PAUSE_AT").ok()) else {
        return;
    };
    if at == point {
        stop_self();
    } else if at == "in_post" && point == "before_post_sent" {
        let delay = std::env::var("RUNBOOK_TEST_PAUSE_DELAY_MS")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(100);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(delay));
            stop_self();
        });
    }
}

#[cfg(debug_assertions)]
fn stop_self() {
    // Without `unsafe`: kill(1) sends the signal; this process stops until SIGCONT.
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &std::process::id().to_string()])
        .status();
}

#[cfg(not(debug_assertions))]
pub fn reached(_point: &str) {}

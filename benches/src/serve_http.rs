//! What the benchmarks that start `runbook serve --http` share.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Waits (up to 60 s) until `runbook serve --http ... --log-format json`, writing its log to
/// `log`, says where it serves (the `http at ...` line), and answers that address; an error
/// with the log when the process exits or says nothing in time.
pub fn wait_for_http_address(log: &Path, child: &mut Child) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let address = text.lines().find_map(|line| {
            let value: Value = serde_json::from_str(line).ok()?;
            let message = value["message"].as_str()?;
            if message.starts_with("http at ") {
                value["address"].as_str().map(str::to_owned)
            } else {
                None
            }
        });
        if let Some(address) = address {
            return Ok(address);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("runbook serve exited ({status}):\n{text}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "runbook serve did not say where it serves:\n{text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! What the scenario binaries that start `runbook serve --http` share.

use std::future::Future;
use std::path::Path;
use std::process::{Child, ExitCode};
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

/// Runs a scenario that answers whether every check passed, on a runtime of its own: success,
/// or failure with `missed` (a check failed) or the error, prefixed by `name`.
pub fn exit_code_of(
    name: &str,
    missed: &str,
    scenario: impl Future<Output = Result<bool, String>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(scenario) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            println!("RESULT: {missed} (see above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}

//! What runbook refuses or warns about, end to end through the binary: files that are not
//! regular, too large or not UTF-8; plain HTTP to a remote host; `--insecure`; metrics served
//! beyond loopback. And the simulator's fault flags, with the exactly-once promise under them.

use std::path::Path;
use std::time::{Duration, Instant};

use runbook_tests::Test;

const VALID: &str = "version: 1\nname: hello\nsteps:\n  - id: greet\n    log: hi\n";

/// A playbook with one input, for `--inputs` files.
const WITH_INPUT: &str = "version: 1\nname: greet\ninputs:\n  who: { type: string }\nsteps:\n  - id: greet\n    log: \"hi {{ inputs.who }}\"\n";

/// Makes a FIFO at `path`, and a thread that opens and closes it for writing after a while: a
/// runbook blocked on the FIFO is then released, and the test fails on the time it took
/// instead of hanging.
#[cfg(unix)]
fn fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
    let path = path.to_owned();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(15));
        // Read-write never blocks on Linux; closing it at once gives a blocked reader EOF.
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path);
    });
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once_by_validate_run_and_plan() {
    for command in [
        &["validate", "pipe.yaml"][..],
        &["run", "pipe.yaml", "--sim", "--store", "none"],
        &["plan", "pipe.yaml"],
        &["schedules", "validate", "pipe.yaml"],
    ] {
        let test = Test::new();
        fifo(&test.path().join("pipe.yaml"));
        let started = Instant::now();
        let outcome = test.args(command).run();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{command:?} took {took:?}");
        assert_ne!(outcome.code, 0, "{command:?}: {}", outcome.stderr);
        assert!(
            outcome
                .stderr
                .contains("pipe.yaml: it is a FIFO (named pipe), not a regular file"),
            "{command:?}: {}",
            outcome.stderr
        );
        assert!(!outcome.stderr.contains("all valid"), "{}", outcome.stderr);
        assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    }
}

#[cfg(unix)]
#[test]
fn run_dev_zero_fails_fast_without_reading_it() {
    let started = Instant::now();
    let outcome = Test::new()
        .args(["run", "/dev/zero", "--sim", "--store", "none"])
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("cannot read /dev/zero: it is a character device, not a regular file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn invalid_utf8_is_an_error_that_validate_counts() {
    let outcome = Test::new()
        .file("ok.yaml", VALID)
        .file("bin.yaml", b"version: 1\nname: \xff\xfe\n")
        .args(["validate", "ok.yaml", "bin.yaml"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "cannot read bin.yaml: not UTF-8 text (invalid byte on line 2, at byte offset 17)"
        ),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("all valid"), "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("checked 2 files: 1 error, 0 warnings"),
        "{}",
        outcome.stderr
    );

    let run = Test::new()
        .file("bin.yaml", b"version: 1\nname: \xff\xfe\n")
        .args(["run", "bin.yaml", "--sim", "--store", "none"])
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not UTF-8 text"), "{}", run.stderr);
}

#[test]
fn a_folder_given_as_a_playbook_or_inputs_file_is_named() {
    let outcome = Test::new()
        .file("book/a.yaml", VALID)
        .args(["run", "book", "--sim", "--store", "none"])
        .run();
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("cannot read book: it is a folder, not a file"),
        "{}",
        outcome.stderr
    );

    let outcome = Test::new()
        .file("greet.yaml", WITH_INPUT)
        .file("inputs/x", "")
        .args(["plan", "greet.yaml", "--inputs", "inputs"])
        .run();
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("cannot read the inputs file inputs: it is a folder, not a file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn playbooks_and_inputs_files_over_their_limit_are_refused() {
    // One byte over 1 MiB: a comment line, so only the size is wrong.
    let mut big = String::from(VALID);
    big.push('#');
    big.push_str(&"x".repeat((1 << 20) + 1 - big.len()));
    let outcome = Test::new()
        .file("big.yaml", &big)
        .args(["validate", "big.yaml"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "cannot read big.yaml: it is larger than 1048576 bytes, the limit for playbooks"
        ),
        "{}",
        outcome.stderr
    );

    // 50 MB of inputs used 700 MB of memory before anything said no.
    let inputs = format!("who: \"{}\"\n", "y".repeat(2 << 20));
    let started = Instant::now();
    let outcome = Test::new()
        .file("greet.yaml", WITH_INPUT)
        .file("inputs.yaml", inputs)
        .args([
            "run",
            "greet.yaml",
            "--inputs",
            "inputs.yaml",
            "--sim",
            "--store",
            "none",
        ])
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "cannot read the inputs file inputs.yaml: it is larger than 1048576 bytes, the limit for inputs files"
        ),
        "{}",
        outcome.stderr
    );

    #[cfg(unix)]
    {
        let outcome = Test::new()
            .file("greet.yaml", WITH_INPUT)
            .args(["plan", "greet.yaml", "--inputs", "/dev/zero"])
            .run();
        assert_ne!(outcome.code, 0, "{}", outcome.stderr);
        assert!(
            outcome.stderr.contains("it is a character device"),
            "{}",
            outcome.stderr
        );
    }
}

/// Starts `runbook serve` with `args`, waits until its log (stderr, JSON lines) has a line
/// containing `wanted` or it exits, then stops it with SIGTERM. Returns the log.
#[cfg(unix)]
fn serve_log_until(args: &[&str], envs: &[(&str, &str)], wanted: &str) -> String {
    use std::process::{Command, Stdio};

    let folder = tempfile::tempdir().expect("a temporary folder");
    let log = folder.path().join("serve.log");
    let mut command = Command::new(runbook_tests::runbook_binary());
    command
        .arg("serve")
        .args(args)
        .arg("--store")
        .arg(format!(
            "sqlite://{}",
            folder.path().join("runs.db").display()
        ))
        .args(["--log-format", "json"])
        .current_dir(folder.path())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        .env_remove("TANIUM_ALLOW_HTTP")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"));
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("runbook serve starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(wanted) || child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = Instant::now() + Duration::from_secs(20);
    while Instant::now() < stopped && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap_or(text)
}

/// The JSON log lines of level WARN.
fn warnings(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["level"] == "WARN")
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[cfg(unix)]
#[test]
fn serve_warns_when_metrics_listen_beyond_loopback() {
    let log = serve_log_until(
        &["--sim", "--workers", "1", "--metrics-addr", "0.0.0.0:0"],
        &[],
        "not a loopback address",
    );
    let warned = warnings(&log);
    assert!(
        warned.iter().any(
            |message| message.contains("metrics and health are served on 0.0.0.0:")
                && message.contains("not a loopback address")
        ),
        "{log}"
    );

    let log = serve_log_until(
        &["--sim", "--workers", "1", "--metrics-addr", "127.0.0.1:0"],
        &[],
        "\"serving\"",
    );
    assert!(log.contains("\"serving\""), "{log}");
    assert!(
        !log.contains("not a loopback address"),
        "a loopback address is not warned about: {log}"
    );
}

#[cfg(unix)]
#[test]
fn serve_logs_a_warning_for_insecure() {
    // Nothing listens there: serve starts all the same (it connects at the first run).
    let log = serve_log_until(
        &["--insecure", "--workers", "1"],
        &[
            ("TANIUM_URL", "https://127.0.0.1:1"),
            ("TANIUM_TOKEN", "token-test"),
        ],
        "NOT verified",
    );
    assert!(
        warnings(&log).iter().any(|message| message
            .contains("--insecure: the Tanium server's TLS certificate is NOT verified")),
        "{log}"
    );
}

/// A simulator on loopback and a run of the example playbook against it with `args`.
fn against_simulator(args: &[&str], envs: &[(&str, &str)]) -> runbook_tests::Outcome {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let sim = runtime.block_on(async {
        let config = runbook_tanium_sim::SimConfig {
            time_scale: 200.0,
            failure_share: 0.0,
            ..runbook_tanium_sim::SimConfig::default()
        };
        runbook_tanium_sim::Simulator::start(config)
            .await
            .expect("the simulator starts")
    });
    let mut test = Test::new()
        .env("TANIUM_URL", sim.base_url())
        .env("TANIUM_TOKEN", sim.api_token())
        .args(args);
    for (name, value) in envs {
        test = test.env(name, value);
    }
    let outcome = test.run();
    runtime.block_on(sim.shutdown());
    outcome
}

fn example(name: &str) -> String {
    runbook_tests::workspace_root()
        .join("playbooks")
        .join(name)
        .display()
        .to_string()
}

const INSECURE_WARNING: &str = "runbook: WARNING: --insecure: the Tanium server's TLS certificate is NOT verified; anyone on the network path can pose as the server and read the API token or password";

#[test]
fn run_and_plan_live_warn_about_insecure() {
    let playbook = example("tag-suspect-host.yaml");
    let run = against_simulator(
        &[
            "run",
            &playbook,
            "--input",
            "hostname=WIN-DC01",
            "--insecure",
            "--store",
            "none",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(INSECURE_WARNING), "{}", run.stderr);

    let plan = against_simulator(
        &[
            "plan",
            &playbook,
            "--input",
            "hostname=WIN-DC01",
            "--live",
            "--insecure",
        ],
        &[],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stderr.contains(INSECURE_WARNING), "{}", plan.stderr);

    let quiet = against_simulator(
        &["plan", &playbook, "--input", "hostname=WIN-DC01", "--live"],
        &[],
    );
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("WARNING"), "{}", quiet.stderr);
}

#[test]
fn plain_http_to_another_host_is_refused_unless_allowed() {
    // A playbook that only logs sends nothing: what is tested is whether runbook agrees to
    // use the URL at all.
    let refused = Test::new()
        .file("hello.yaml", VALID)
        .env("TANIUM_URL", "http://tanium.example.com")
        .env("TANIUM_TOKEN", "token-test")
        .args(["run", "hello.yaml", "--store", "none"])
        .run();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "refusing plain http:// to tanium.example.com: the API token or password would cross the network unencrypted"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("allow it with --allow-http or TANIUM_ALLOW_HTTP=1"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("token-test"), "{}", refused.stderr);

    for allowed in [
        Test::new()
            .env("TANIUM_ALLOW_HTTP", "1")
            .args(["run", "hello.yaml", "--store", "none"]),
        Test::new().args(["run", "hello.yaml", "--store", "none", "--allow-http"]),
    ] {
        let allowed = allowed
            .file("hello.yaml", VALID)
            .env("TANIUM_URL", "http://tanium.example.com")
            .env("TANIUM_TOKEN", "token-test")
            .run();
        assert_eq!(allowed.code, 0, "{}", allowed.stderr);
        assert!(
            allowed
                .stderr
                .contains("runbook: WARNING: --allow-http: TANIUM_URL is plain http://"),
            "{}",
            allowed.stderr
        );
    }

    // Loopback needs nothing: the simulator is plain HTTP on 127.0.0.1.
    let playbook = example("tag-suspect-host.yaml");
    let loopback = against_simulator(
        &["plan", &playbook, "--input", "hostname=WIN-DC01", "--live"],
        &[],
    );
    assert_eq!(loopback.code, 0, "{}", loopback.stderr);
    assert!(!loopback.stderr.contains("WARNING"), "{}", loopback.stderr);
}

/// The JSON events of a `--json` run.
fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// `request_sent` events of this method and path, by status (None: no answer).
fn statuses(events: &[serde_json::Value], method: &str, path: &str) -> Vec<Option<u64>> {
    events
        .iter()
        .filter(|event| {
            event["event"] == "request_sent" && event["method"] == method && event["path"] == path
        })
        .map(|event| event["status"].as_u64())
        .collect()
}

#[test]
fn run_sim_with_503s_still_issues_exactly_one_action() {
    let outcome = Test::new()
        .args([
            "run",
            &example("tag-suspect-host.yaml"),
            "--input",
            "hostname=WIN-DC01",
            "--sim",
            "--sim-time-scale",
            "600",
            "--sim-503-share",
            "0.3",
            "--store",
            "none",
            "--json",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("runbook: the simulator injects faults: 30% 503"),
        "{}",
        outcome.stderr
    );
    let events = events(&outcome.stdout);
    let answered_503 = events
        .iter()
        .filter(|event| event["event"] == "request_sent" && event["status"] == 503)
        .count();
    assert!(answered_503 > 0, "no 503 was injected: {}", outcome.stdout);
    // A 503 is answered before the simulator does anything: one 200 is one action.
    let posts = statuses(&events, "POST", "/api/v2/actions");
    assert_eq!(
        posts.iter().filter(|status| **status == Some(200)).count(),
        1,
        "{posts:?}"
    );
    let finished = events
        .iter()
        .find(|event| event["event"] == "run_finished")
        .expect("run_finished");
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(
        finished["issued_actions"].as_array().map(Vec::len),
        Some(1),
        "{finished}"
    );
}

#[test]
fn sim_flags_are_refused_without_sim_and_out_of_range() {
    let playbook = example("tag-suspect-host.yaml");
    let without = Test::new()
        .args(["run", &playbook, "--sim-503-share", "0.1"])
        .run();
    assert_eq!(without.code, 2, "{}", without.stderr);
    assert!(without.stderr.contains("--sim"), "{}", without.stderr);

    let too_much = Test::new()
        .args(["run", &playbook, "--sim", "--sim-503-share", "1.5"])
        .run();
    assert_eq!(too_much.code, 2, "{}", too_much.stderr);
    assert!(
        too_much.stderr.contains("`1.5` is not a share from 0 to 1"),
        "{}",
        too_much.stderr
    );

    let bad_duration = Test::new().args(["sim", "--latency", "soon"]).run();
    assert_eq!(bad_duration.code, 2, "{}", bad_duration.stderr);
    assert!(
        bad_duration.stderr.contains("--latency"),
        "{}",
        bad_duration.stderr
    );
}

/// `runbook sim` in the foreground, its URL and token read from what it prints.
struct SimProcess {
    child: std::process::Child,
    url: String,
    token: String,
}

impl SimProcess {
    fn start(args: &[&str]) -> SimProcess {
        use std::io::BufRead as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(runbook_tests::runbook_binary())
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("runbook sim starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut url = None;
        let mut token = None;
        let mut printed = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            printed.push_str(&line);
            printed.push('\n');
            if let Some(value) = line.trim().strip_prefix("export TANIUM_URL=") {
                url = Some(value.to_owned());
            }
            if let Some(value) = line.trim().strip_prefix("export TANIUM_TOKEN=") {
                token = Some(value.to_owned());
            }
            // The last line it prints at start when faults are set.
            if line.starts_with("Injecting faults:") {
                break;
            }
        }
        let (Some(url), Some(token)) = (url, token) else {
            let _ = child.kill();
            panic!("runbook sim did not print its URL and token:\n{printed}");
        };
        SimProcess { child, url, token }
    }

    /// `GET /sim/actions`: what the simulator really created.
    fn actions(&self) -> Vec<serde_json::Value> {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            reqwest::get(format!("{}/sim/actions", self.url))
                .await
                .expect("GET /sim/actions")
                .json::<Vec<serde_json::Value>>()
                .await
                .expect("a JSON list")
        })
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn runbook_sim_cuts_every_action_after_creating_it_and_the_run_adopts_it() {
    // Every POST /actions creates the action, then the connection is cut without an answer;
    // a third of all requests are 503s on top.
    let sim = SimProcess::start(&[
        "--time-scale",
        "600",
        "--cut-after-create-share",
        "1",
        "--503-share",
        "0.3",
    ]);
    let outcome = Test::new()
        .env("TANIUM_URL", &sim.url)
        .env("TANIUM_TOKEN", &sim.token)
        .args([
            "run",
            &example("tag-suspect-host.yaml"),
            "--input",
            "hostname=WIN-DC01",
            "--store",
            "none",
            "--json",
        ])
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let events = events(&outcome.stdout);
    let posts = statuses(&events, "POST", "/api/v2/actions");
    assert!(posts.contains(&None), "no POST /actions was cut: {posts:?}");
    assert!(!posts.contains(&Some(200)), "{posts:?}");
    let actions = sim.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let issued = events
        .iter()
        .find(|event| event["event"] == "run_finished")
        .expect("run_finished")["issued_actions"]
        .clone();
    assert_eq!(issued, serde_json::json!([actions[0]["id"]]));
}

//! The command line as a new user meets it: the simulator's world (`runbook sim --describe`
//! and `GET /sim/fleet`), `--version`, shell completions, man pages, the environment each
//! command's `--help` lists, and `--inputs -`.

use runbook_tests::Test;

#[test]
fn sim_describe_prints_the_world_as_text() {
    let out = Test::new().args(["sim", "--describe"]).run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for expected in [
        "Fleet: 36 endpoints, 33 online, 3 offline",
        "WIN-DC01",
        "offline",
        "Sensors: Computer Name, IP Address",
        "Set Windows Tanium Client Logging Level (id 15",
        "$1 \"Log Level (0-99)\" NumericParameter, default \"1\", 0 to 99",
        "$1 \"Force reboot\" DropDownParameter, default \"no\", one of yes | no",
        "Windows Servers: Operating System contains \"Windows Server\"",
        "Default: No Computers",
        "approver (id 2, password approver-sim",
        "approves actions",
        "Faults: latency 0 ms",
    ] {
        assert!(out.stdout.contains(expected), "{expected}\n{}", out.stdout);
    }
}

#[test]
fn sim_describe_json_shows_the_flags_and_a_fleet_file() {
    let out = Test::new()
        .file(
            "fleet.yaml",
            "endpoints:\n  - computer_name: lab-01\n    ip_address: 10.9.0.1\n    operating_system: Debian 12\n    online: false\ngroups:\n  - name: Lab\n    text: \" Computer Name starts with lab\"\n",
        )
        .args([
            "sim",
            "--describe",
            "--format",
            "json",
            "--fleet",
            "fleet.yaml",
            "--approval",
            "--503-share",
            "0.1",
        ])
        .run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let world: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(world["fleet"]["size"], 1);
    assert_eq!(world["fleet"]["endpoints"][0]["os_platform"], "Linux");
    assert_eq!(world["fleet"]["endpoints"][0]["online"], false);
    assert!(
        world["groups"]
            .as_array()
            .is_some_and(|groups| groups.iter().any(|group| group["name"] == "Lab")),
        "{world}"
    );
    assert_eq!(world["approval"]["required"], true);
    assert_eq!(world["approval"]["auto_approve_after_seconds"], 120);
    assert_eq!(world["faults"]["error_503_share"], 0.1);
    assert_eq!(world["users"][1]["name"], "approver");
}

/// `runbook sim --format json` prints one line a script can read (URL, token) once it listens.
#[tokio::test]
async fn a_serving_simulator_says_where_it_listens_in_one_json_line() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(runbook_tests::runbook_binary())
        .args(["sim", "--format", "json", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runbook sim started");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let url = ready["url"].as_str().expect("a URL").to_owned();
    let token = ready["token"].as_str().expect("a token").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{ready}");
    let answer = reqwest::Client::new()
        .get(format!("{url}/api/v2/packages"))
        .header("session", token)
        .send()
        .await
        .expect("GET /api/v2/packages");
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.status().is_success(), "{}", answer.status());
}

#[tokio::test]
async fn the_running_simulator_serves_its_world_at_sim_fleet() {
    let sim = runbook_tanium_sim::Simulator::start(runbook_tanium_sim::SimConfig::default())
        .await
        .expect("the simulator starts");
    let world: serde_json::Value = reqwest::get(format!("{}/sim/fleet", sim.base_url()))
        .await
        .expect("GET /sim/fleet")
        .json()
        .await
        .expect("JSON");
    assert_eq!(world["fleet"]["size"], 36);
    assert_eq!(world["packages"][0]["parameters"][0]["key"], "$1");
    sim.shutdown().await;
}

#[test]
fn version_shows_the_commit_and_the_build_date() {
    let out = Test::new().args(["--version"]).run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let line = out.stdout.trim();
    let rest = line
        .strip_prefix(concat!("runbook ", env!("CARGO_PKG_VERSION"), " (commit "))
        .unwrap_or_else(|| panic!("{line}"));
    let (commit, date) = rest
        .strip_suffix(')')
        .and_then(|rest| rest.split_once(", built "))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
    let parts: Vec<&str> = date.split('-').collect();
    assert!(
        parts.len() == 3
            && [4, 2, 2]
                .iter()
                .zip(&parts)
                .all(|(len, part)| part.len() == *len && part.chars().all(|c| c.is_ascii_digit())),
        "{line}"
    );
    // In a git checkout (as here and in CI) the commit is known.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(runbook_tests::workspace_root())
        .output();
    if head.is_ok_and(|head| head.status.success()) {
        assert_ne!(commit, "unknown", "{line}");
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_runbook()"),
        ("zsh", "#compdef runbook"),
        ("fish", "complete -c runbook"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = Test::new().args(["completions", shell]).run();
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}:\n{}", out.stdout);
        for command in ["validate", "resume", "serve", "sim-fleet"] {
            assert!(out.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    let out = Test::new().args(["completions", "tcsh"]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn man_prints_a_page_or_writes_one_per_command() {
    let out = Test::new().args(["man"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH runbook 1"), "{}", out.stdout);
    assert!(out.stdout.contains("completions"), "{}", out.stdout);
    let out = Test::new().args(["man", "--out-dir", "man1"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "runbook.1",
        "runbook-run.1",
        "runbook-serve.1",
        "runbook-runs.1",
    ] {
        let text = std::fs::read_to_string(out.folder.path().join("man1").join(page))
            .unwrap_or_else(|error| panic!("{page}: {error}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let run_page =
        std::fs::read_to_string(out.folder.path().join("man1/runbook-run.1")).unwrap_or_default();
    assert!(run_page.contains("TANIUM_TOKEN"), "{run_page}");
}

#[test]
fn run_plan_serve_and_enqueue_help_list_the_environment_they_read() {
    let common = [
        "TANIUM_URL",
        "TANIUM_TOKEN",
        "TANIUM_USERNAME",
        "TANIUM_PASSWORD",
        "TANIUM_CA_CERT",
        "TANIUM_ALLOW_HTTP",
    ];
    for (command, extra) in [
        ("run", &["RUNBOOK_DATABASE_URL", "NO_COLOR"][..]),
        ("plan", &["--live"][..]),
        (
            "serve",
            &["RUNBOOK_DATABASE_URL", "RUNBOOK_SECRET_KEY", "RUST_LOG"][..],
        ),
    ] {
        let out = Test::new().args([command, "--help"]).run();
        assert_eq!(out.code, 0, "{command}: {}", out.stderr);
        let environment = out
            .stdout
            .split_once("\nEnvironment:\n")
            .map(|(_, after)| after)
            .unwrap_or_else(|| panic!("{command} --help has no Environment section"));
        for name in common.iter().chain(extra) {
            assert!(environment.contains(name), "{command} --help lacks {name}");
        }
    }
    // `enqueue` talks to the store only, and seals secret inputs.
    let out = Test::new().args(["enqueue", "--help"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, environment) = out
        .stdout
        .split_once("\nEnvironment:\n")
        .expect("enqueue --help has an Environment section");
    for name in ["RUNBOOK_DATABASE_URL", "RUNBOOK_SECRET_KEY"] {
        assert!(environment.contains(name), "enqueue --help lacks {name}");
    }
}

const GREET: &str = "version: 1\nname: greet\ninputs:\n  who: { type: string }\n  times: { type: integer, default: 1 }\nsteps:\n  - id: greet\n    log: \"hi {{ inputs.who }} x{{ inputs.times }}\"\n";

#[test]
fn inputs_dash_reads_standard_input() {
    let out = Test::new()
        .file("greet.yaml", GREET)
        .args(["plan", "greet.yaml", "--inputs", "-"])
        .stdin("who: stdin-yaml\ntimes: 3\n")
        .run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("stdin-yaml"), "{}", out.stdout);

    let out = Test::new()
        .file("greet.yaml", GREET)
        .args([
            "run",
            "greet.yaml",
            "--sim",
            "--store",
            "none",
            "--inputs",
            "-",
        ])
        .stdin(r#"{"who": "stdin-json", "times": 2}"#)
        .run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("hi stdin-json x2"),
        "{}{}",
        out.stdout,
        out.stderr
    );

    // --input still wins over what stdin says, and stdin that is not a map is bad inputs (plan:
    // exit 1, the plan cannot run).
    let out = Test::new()
        .file("greet.yaml", GREET)
        .args(["plan", "greet.yaml", "--inputs", "-", "-i", "who=flag"])
        .stdin("who: stdin\n")
        .run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("flag"), "{}", out.stdout);
    let out = Test::new()
        .file("greet.yaml", GREET)
        .args(["plan", "greet.yaml", "--inputs", "-"])
        .stdin("[1, 2]\n")
        .run();
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("<stdin>"), "{}", out.stderr);

    // Standard input is bounded like an inputs file (1 MiB).
    let out = Test::new()
        .file("greet.yaml", GREET)
        .args(["plan", "greet.yaml", "--inputs", "-"])
        .stdin(format!("who: \"{}\"\n", "y".repeat(2 << 20)))
        .run();
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("larger than 1024 KiB"),
        "{}",
        out.stderr
    );
}

/// One convention: every command that prints data takes `--format json` and then prints JSON
/// on stdout (messages stay on stderr); `run --json` stays as an alias.
#[test]
fn format_json_works_on_every_command_that_prints() {
    let shared = tempfile::tempdir().expect("a folder");
    let playbook = shared.path().join("greet.yaml");
    std::fs::write(&playbook, GREET).expect("write the playbook");
    std::fs::write(
        shared.path().join("schedules.yaml"),
        "version: 1\nschedules:\n  - { name: daily, playbook: greet.yaml, cron: '@daily', inputs: { who: cron } }\n",
    )
    .expect("write the schedules");
    let playbook = playbook.display().to_string();
    let schedules = shared.path().join("schedules.yaml").display().to_string();
    let store = format!("sqlite://{}", shared.path().join("runs.db").display());
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = Test::new().args(args).run();
        assert_eq!(out.code, 0, "{args:?}\n{}{}", out.stdout, out.stderr);
        let whole = serde_json::from_str::<serde_json::Value>(&out.stdout);
        match whole {
            Ok(value) => vec![value],
            // JSON Lines: one object per event.
            Err(_) => out
                .stdout
                .lines()
                .map(|line| {
                    serde_json::from_str(line)
                        .unwrap_or_else(|error| panic!("{args:?}: {error}: {line}"))
                })
                .collect(),
        }
    };
    let who = ["--input", "who=json"];
    for flag in [["--format", "json"].as_slice(), ["--json"].as_slice()] {
        let events = json(
            &[
                &["run", &playbook, "--sim", "--store", &store],
                &who[..],
                flag,
            ]
            .concat(),
        );
        assert!(events.len() > 1, "{events:?}");
    }
    let queued = json(
        &[
            &["enqueue", &playbook, "--store", &store, "--format", "json"],
            &who[..],
        ]
        .concat(),
    );
    assert_eq!(queued[0]["status"], "queued", "{queued:?}");
    let run_id = queued[0]["run_id"].as_str().expect("a run id").to_owned();
    let listed = json(&["runs", "list", "--store", &store, "--format", "json"]);
    assert_eq!(listed[0].as_array().map(Vec::len), Some(3), "{listed:?}");
    let shown = json(&[
        "runs", "show", &run_id, "--store", &store, "--format", "json",
    ]);
    assert_eq!(shown[0]["run_id"], run_id.as_str(), "{shown:?}");
    let pruned = json(&[
        "runs",
        "prune",
        "--older-than",
        "90d",
        "--store",
        &store,
        "--format",
        "json",
    ]);
    assert_eq!(pruned[0]["removed"], 0, "{pruned:?}");
    let next = json(&[
        "schedules",
        "next",
        &schedules,
        "--count",
        "2",
        "--format",
        "json",
    ]);
    assert!(next[0].to_string().contains("daily"), "{next:?}");
    let checked = json(&["validate", &playbook, "--format", "json"]);
    assert_eq!(
        checked[0],
        serde_json::json!([]),
        "no diagnostics: {checked:?}"
    );
    let planned = json(&[&["plan", &playbook, "--format", "json"], &who[..]].concat());
    assert!(
        planned[0]["steps"]
            .as_array()
            .is_some_and(|steps| !steps.is_empty()),
        "{planned:?}"
    );
    let described = json(&["sim", "--describe", "--format", "json"]);
    assert_eq!(described[0]["fleet"]["size"], 36, "{described:?}");
}

//! Recordings and replay through the binary: `runbook run --record FILE` writes a run's
//! exchanges (against `--sim` or a simulator of the test's own); a `replay:` case of
//! `runbook test` passes on the playbook that was recorded and fails, naming the first request
//! the recording does not have next, on an edited one; and no secret, derived secret or API
//! token is in a recording.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use runbook_tanium_sim::{SimConfig, Simulator};
use runbook_tests::{runbook_against, runbook_binary, workspace_root};
use serde_json::Value;

/// `runbook` in `folder`, with no connection settings or store inherited from the test's own
/// environment (a store of the folder's own).
fn runbook(folder: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(runbook_binary());
    command
        .current_dir(folder)
        .args(args)
        .env("NO_COLOR", "1")
        .env(
            "RUNBOOK_DATABASE_URL",
            format!("sqlite://{}", folder.join("runs.db").display()),
        )
        .env_remove("TANIUM_URL")
        .env_remove("TANIUM_TOKEN")
        .env_remove("TANIUM_USERNAME")
        .env_remove("TANIUM_PASSWORD")
        .env_remove("RUNBOOK_TEST_ABORT_AFTER_REQUESTS")
        .stdin(Stdio::null());
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A folder holding the example `tag-suspect-host.yaml` (as `pb.yaml`, with an edited copy as
/// `edited.yaml`) and its recording `recordings/dc01.json` made with `--sim`.
fn recorded_folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let source =
        std::fs::read_to_string(workspace_root().join("playbooks/tag-suspect-host.yaml")).unwrap();
    std::fs::write(folder.path().join("pb.yaml"), &source).unwrap();
    let edited = source.replace(
        r#"name: "IR tag {{ inputs.hostname }}""#,
        r#"name: "IR marked {{ inputs.hostname }}""#,
    );
    assert_ne!(edited, source, "the example's action name moved");
    std::fs::write(folder.path().join("edited.yaml"), edited).unwrap();
    std::fs::create_dir(folder.path().join("recordings")).unwrap();
    let output = runbook(
        folder.path(),
        &[
            "run",
            "pb.yaml",
            "--sim",
            "--input",
            "hostname=WIN-DC01",
            "--record",
            "recordings/dc01.json",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    folder
}

fn test_file(playbook: &str) -> String {
    format!(
        "version: 1\nplaybook: {playbook}\ncases:\n  - name: replays dc01\n    inputs: {{ hostname: WIN-DC01 }}\n    replay: ../recordings/dc01.json\n    expect:\n      status: succeeded\n      requests:\n        - {{ method: POST, path: /api/v2/actions, count: 1 }}\n"
    )
}

#[test]
fn a_recording_is_written_and_replays() {
    let folder = recorded_folder();
    let path = folder.path().join("recordings/dc01.json");
    let recording: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(recording["version"], 1);
    assert_eq!(recording["playbook"], "tag-suspect-host");
    let exchanges = recording["exchanges"].as_array().unwrap();
    assert!(
        exchanges
            .iter()
            .any(|exchange| exchange["method"] == "POST" && exchange["path"] == "/api/v2/actions"),
        "{recording:#}"
    );
    for exchange in exchanges {
        for key in ["method", "path", "request_body", "status", "response_body"] {
            assert!(exchange.get(key).is_some(), "{key} missing: {exchange}");
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The test file sits in a folder of its own: the recording is relative to it.
    std::fs::create_dir(folder.path().join("tests")).unwrap();
    std::fs::write(
        folder.path().join("tests/pb.test.yaml"),
        test_file("../pb.yaml"),
    )
    .unwrap();
    let output = runbook(folder.path(), &["test", "tests/pb.test.yaml"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("1 passed"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn an_edited_playbook_fails_naming_the_first_unrecorded_request() {
    let folder = recorded_folder();
    std::fs::create_dir(folder.path().join("tests")).unwrap();
    std::fs::write(
        folder.path().join("tests/edited.test.yaml"),
        test_file("../edited.yaml"),
    )
    .unwrap();
    let output = runbook(folder.path(), &["test", "tests/edited.test.yaml"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("the run sent GET /api/v2/actions/by-name/IR%20marked%20WIN-DC01")
            && stdout.contains(
                "which the recording does not have next (it expected GET \
                 /api/v2/actions/by-name/IR%20tag%20WIN-DC01"
            ),
        "{stdout}"
    );
}

#[test]
fn a_malformed_recording_fails_its_case_clearly() {
    let folder = tempfile::tempdir().unwrap();
    let source =
        std::fs::read_to_string(workspace_root().join("playbooks/tag-suspect-host.yaml")).unwrap();
    std::fs::write(folder.path().join("pb.yaml"), source).unwrap();
    std::fs::create_dir(folder.path().join("recordings")).unwrap();
    std::fs::write(
        folder.path().join("recordings/dc01.json"),
        r#"{"version": 1, "exchanges": "no"}"#,
    )
    .unwrap();
    std::fs::create_dir(folder.path().join("tests")).unwrap();
    std::fs::write(
        folder.path().join("tests/pb.test.yaml"),
        test_file("../pb.yaml"),
    )
    .unwrap();
    let output = runbook(folder.path(), &["test", "tests/pb.test.yaml"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("is not a recording"), "{stdout}");
}

const SECRET_PLAYBOOK: &str = r#"version: 1
name: secret-name
secrets: [API_KEY]
inputs:
  host: { type: string }
  tag: { type: string, secret: true }
steps:
  - id: scope
    target:
      all:
        - { sensor: Computer Name, op: equals, value: "{{ inputs.host }}" }
  - id: params
    parameterize:
      package: Custom Tagging - Add Tags
      params: { $1: "{{ secrets.API_KEY }}" }
  - id: tag
    issue:
      name: "IR {{ secrets.API_KEY }} / {{ inputs.tag | reverse }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
"#;

/// What a value may look like once sent: as is, percent-encoded, JSON-escaped.
fn needles(value: &str) -> Vec<String> {
    let percent: String = value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    let json = serde_json::to_string(value).unwrap();
    vec![value.to_owned(), percent, json.trim_matches('"').to_owned()]
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_or_token_is_recorded() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("secret.yaml"), SECRET_PLAYBOOK).unwrap();
    let api_key = "k3y-w!th sp@ce&ü";
    let tag = "T@g #7 +plus";
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let mut command = runbook_against(&sim.base_url(), &sim.api_token(), &store);
    command
        .current_dir(folder.path())
        .env("API_KEY", api_key)
        .args([
            "run",
            "secret.yaml",
            "--input",
            "host=WIN-DC01",
            "--input",
            &format!("tag={tag}"),
            "--record",
            "secret.json",
        ]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let recorded = std::fs::read_to_string(folder.path().join("secret.json")).unwrap();
    assert!(recorded.contains("/api/v2/actions"), "{recorded}");
    assert!(recorded.contains("[REDACTED]"), "{recorded}");
    let reversed: String = tag.chars().rev().collect();
    let mut secrets = needles(api_key);
    secrets.extend(needles(tag));
    secrets.extend(needles(&reversed));
    secrets.push(sim.api_token());
    for secret in secrets {
        assert!(
            !recorded.contains(&secret),
            "{secret:?} is in the recording:\n{recorded}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_session_and_password_are_not_recorded() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("pb.yaml"),
        std::fs::read_to_string(workspace_root().join("playbooks/tag-suspect-host.yaml")).unwrap(),
    )
    .unwrap();
    let folder_path = folder.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        runbook(
            &folder_path,
            &[
                "run",
                "pb.yaml",
                "--sim",
                "--sim-session-ttl",
                "10m",
                "--input",
                "hostname=WIN-DC01",
                "--record",
                "login.json",
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let recording: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.path().join("login.json")).unwrap())
            .unwrap();
    let logins: Vec<&Value> = recording["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|exchange| exchange["path"] == "/api/v2/session/login")
        .collect();
    assert!(!logins.is_empty(), "{recording:#}");
    for login in logins {
        assert_eq!(login["request_body"]["password"], "[REDACTED]");
        assert_eq!(login["response_body"]["data"]["session"], "[REDACTED]");
    }
    // A replay answers the rest; its client needs no login.
    std::fs::write(
        folder.path().join("pb.test.yaml"),
        "version: 1\nplaybook: pb.yaml\ncases:\n  - name: replays\n    inputs: { hostname: WIN-DC01 }\n    replay: login.json\n    expect: { status: succeeded }\n",
    )
    .unwrap();
    let folder_path = folder.path().to_owned();
    let output =
        tokio::task::spawn_blocking(move || runbook(&folder_path, &["test", "pb.test.yaml"]))
            .await
            .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

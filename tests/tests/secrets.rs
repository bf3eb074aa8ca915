//! Secrets never surface in clear: not in what `runbook` prints (human, `--json`, `-v`), not in
//! its store (the SQLite files, write-ahead log included), not in `runs show` or `plan`, and
//! not once a template has transformed them (reversed, upper-cased, sliced, concatenated,
//! `| int`, `| tojson`, ...) or a client has encoded them (percent-encoding in a URL, JSON
//! escaping, base64). The property test generates playbooks that derive values from secrets
//! through filters, `set` steps, logs, outputs, target clauses and action names, runs each
//! against the built-in simulator, and searches every byte written for the secrets and their
//! common transformations.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use runbook_tests::runbook_binary;
use serde_json::Value;

/// One invocation of `runbook` in `folder`, with the environment cleared of connection
/// settings (and `envs` added).
fn runbook(folder: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(runbook_binary());
    command
        .current_dir(folder)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for variable in [
        "TANIUM_URL",
        "TANIUM_TOKEN",
        "TANIUM_USERNAME",
        "TANIUM_PASSWORD",
        "TANIUM_CA_CERT",
        "RUNBOOK_DATABASE_URL",
        "RUNBOOK_SECRET_KEY",
    ] {
        command.env_remove(variable);
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().expect("runbook started")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything written: the outputs of the commands, and every file in the folder (the
/// playbook is left out: it holds templates, never values).
fn written(folder: &Path, outputs: &[&Output]) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for (index, output) in outputs.iter().enumerate() {
        all.push((format!("command {index} stdout"), output.stdout.clone()));
        all.push((format!("command {index} stderr"), output.stderr.clone()));
    }
    for entry in std::fs::read_dir(folder).expect("the folder is readable") {
        let path = entry.expect("an entry").path();
        if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            continue;
        }
        if path.is_file() {
            all.push((
                path.display().to_string(),
                std::fs::read(&path).expect("a readable file"),
            ));
        }
    }
    all
}

fn assert_nowhere(written: &[(String, Vec<u8>)], needles: &[String]) {
    for (name, bytes) in written {
        for needle in needles {
            let found = bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes());
            assert!(
                !found,
                "`{needle}` was written in clear to {name}:\n{}",
                text(bytes).chars().take(4000).collect::<String>()
            );
        }
    }
}

/// Percent-encodes every byte `keep` refuses.
fn percent(text: &str, keep: impl Fn(u8) -> bool) -> String {
    text.bytes()
        .map(|byte| {
            if keep(byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for index in 0..4 {
            if index <= chunk.len() {
                encoded.push(char::from(
                    ALPHABET[((group >> (18 - 6 * index)) & 0x3f) as usize],
                ));
            } else {
                encoded.push('=');
            }
        }
    }
    encoded
}

/// A secret and its common transformations: reversed, upper- and lower-cased, each also
/// JSON-escaped and percent-encoded (path segment and form), and base64.
fn needles(secret: &str) -> Vec<String> {
    let reversed: String = secret.chars().rev().collect();
    let mut needles = Vec::new();
    for form in [
        secret.to_owned(),
        reversed.clone(),
        secret.to_uppercase(),
        secret.to_lowercase(),
        reversed.to_uppercase(),
    ] {
        let json = serde_json::to_string(&form).unwrap();
        needles.push(json[1..json.len() - 1].to_owned());
        needles.push(percent(&form, |byte| {
            byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte)
        }));
        needles.push(
            percent(&form, |byte| {
                byte.is_ascii_alphanumeric() || b"*-._ ".contains(&byte)
            })
            .replace(' ', "+"),
        );
        needles.push(base64(form.as_bytes()));
        needles.push(form);
    }
    needles.sort();
    needles.dedup();
    needles
}

fn run_id(stdout: &[u8]) -> String {
    text(stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|event| Some(event.get("run_id")?.as_str()?.to_owned()))
        .expect("a run_started event with the run's id")
}

#[test]
fn the_needles_are_what_clients_send() {
    assert_eq!(base64(b"hello"), "aGVsbG8=");
    assert_eq!(base64(b"hi?>"), "aGk/Pg==");
    let needles = needles("p@ss w/rd");
    assert!(needles.contains(&"p%40ss%20w%2Frd".to_owned()));
    assert!(needles.contains(&"p%40ss+w%2Frd".to_owned()));
    assert!(needles.contains(&"dr/w ss@p".to_owned()));
    assert!(needles.contains(&"P@SS W/RD".to_owned()));
}

#[test]
fn an_integer_secret_input_is_never_shown_or_stored() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("pin.yaml"),
        r#"version: 1
name: pin
secrets: [PIN_CODE]
inputs:
  pin: { type: integer, secret: true }
steps:
  - id: keep
    set:
      pin: "{{ inputs.pin }}"
      n: "{{ secrets.PIN_CODE | int }}"
      both: "{{ [inputs.pin, secrets.PIN_CODE | int] }}"
  - id: note
    log: "pin {{ steps.keep.pin }}, code {{ steps.keep.n }}"
  - id: check
    assert:
      that: "{{ steps.keep.pin == inputs.pin and steps.keep.n == secrets.PIN_CODE | int }}"
outputs:
  pin: "{{ inputs.pin }}"
  n: "{{ steps.keep.n }}"
  doubled: "{{ steps.keep.pin * 2 }}"
"#,
    )
    .unwrap();
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let env = [("PIN_CODE", "74185296")];
    let json = runbook(
        folder.path(),
        &[
            "run",
            "pin.yaml",
            "--sim",
            "--json",
            "-v",
            "--store",
            &store,
            "--input",
            "pin=918273645",
        ],
        &env,
    );
    assert!(
        json.status.success(),
        "{}\n{}",
        text(&json.stdout),
        text(&json.stderr)
    );
    let finished: Value = text(&json.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "run_finished")
        .expect("a run_finished event");
    assert_eq!(
        finished["status"], "succeeded",
        "the assertion saw the real values"
    );
    assert_eq!(
        finished["outputs"],
        serde_json::json!({"pin": "[REDACTED]", "n": "[REDACTED]", "doubled": "[REDACTED]"})
    );
    let human = runbook(
        folder.path(),
        &[
            "run",
            "pin.yaml",
            "--sim",
            "-v",
            "--store",
            &store,
            "--input",
            "pin=918273645",
        ],
        &env,
    );
    assert!(human.status.success(), "{}", text(&human.stderr));
    assert!(text(&human.stdout).contains("[REDACTED]"));
    let id = run_id(&json.stdout);
    let show = runbook(
        folder.path(),
        &["runs", "show", &id, "--store", &store],
        &[],
    );
    let show_json = runbook(
        folder.path(),
        &["runs", "show", &id, "--json", "--store", &store],
        &[],
    );
    assert!(show.status.success(), "{}", text(&show.stderr));
    assert!(text(&show_json.stdout).contains("[REDACTED]"));
    let plan = runbook(
        folder.path(),
        &["plan", "pin.yaml", "--input", "pin=918273645"],
        &env,
    );
    let plan_json = runbook(
        folder.path(),
        &[
            "plan",
            "pin.yaml",
            "--input",
            "pin=918273645",
            "--format",
            "json",
        ],
        &env,
    );
    assert!(
        text(&plan.stdout).contains("pin = [REDACTED]"),
        "{}",
        text(&plan.stdout)
    );
    let all = written(
        folder.path(),
        &[&json, &human, &show, &show_json, &plan, &plan_json],
    );
    let mut secrets = Vec::new();
    for secret in ["918273645", "74185296", "1836547290"] {
        secrets.extend(needles(secret));
    }
    assert_nowhere(&all, &secrets);
}

/// The one rule for secrets, applied the same by every command (docs/playbooks.md, Secrets):
/// a playbook's `secrets:` must all be set where its steps run, even those only a `when`
/// reads; secret inputs travel through the queue only sealed with `RUNBOOK_SECRET_KEY`
/// (tests/tests/sealed_inputs.rs), so `enqueue` without the key and a schedule refuse them
/// alike, and `schedules validate` (in CI) refuses what `serve` would refuse at each firing,
/// without printing the value.
#[test]
fn every_command_applies_the_same_secrets_rule() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::write(
        dir.join("guarded.yaml"),
        r#"version: 1
name: guarded
secrets: [HOOK_KEY]
steps:
  - id: maybe
    when: "{{ secrets.HOOK_KEY != '' }}"
    log: "a hook is configured"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("keyed.yaml"),
        r#"version: 1
name: keyed
inputs:
  api_key: { type: string, secret: true }
steps:
  - id: note
    log: "a key of {{ inputs.api_key | length }} characters"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("schedules.yaml"),
        "version: 1\nschedules:\n  - name: nightly\n    playbook: keyed.yaml\n    cron: \"@daily\"\n    inputs:\n      api_key: Swordfish-4417\n",
    )
    .unwrap();

    // `run`: an unset listed secret is refused before anything is sent, `when` or not.
    let refused = runbook(dir, &["run", "guarded.yaml", "--sim"], &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("HOOK_KEY"),
        "{}",
        text(&refused.stderr)
    );
    let ran = runbook(dir, &["run", "guarded.yaml", "--sim"], &[("HOOK_KEY", "")]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));
    // `plan` reads no secret, and warns of the one a run here would miss.
    let planned = runbook(dir, &["plan", "guarded.yaml"], &[]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    assert!(
        text(&planned.stderr).contains("warning: secret(s) HOOK_KEY not set"),
        "{}",
        text(&planned.stderr)
    );
    let planned = runbook(dir, &["plan", "guarded.yaml"], &[("HOOK_KEY", "x")]);
    assert!(
        !text(&planned.stderr).contains("HOOK_KEY"),
        "{}",
        text(&planned.stderr)
    );

    // `enqueue` (without RUNBOOK_SECRET_KEY) and `schedules validate` refuse a secret input
    // alike.
    let enqueued = runbook(
        dir,
        &[
            "enqueue",
            "keyed.yaml",
            "--input",
            "api_key=Swordfish-4417",
            "--store",
            "sqlite://runs.db",
        ],
        &[],
    );
    assert_eq!(
        enqueued.status.code(),
        Some(2),
        "{}",
        text(&enqueued.stderr)
    );
    assert!(
        text(&enqueued.stderr).contains("api_key"),
        "{}",
        text(&enqueued.stderr)
    );
    let validated = runbook(dir, &["schedules", "validate", "schedules.yaml"], &[]);
    assert_eq!(
        validated.status.code(),
        Some(1),
        "{}",
        text(&validated.stdout)
    );
    let shown = format!("{}{}", text(&validated.stdout), text(&validated.stderr));
    assert!(
        shown.contains("RB045") && shown.contains("is secret"),
        "{shown}"
    );
    assert!(shown.contains("[REDACTED]"), "{shown}");
    let json = runbook(
        dir,
        &[
            "schedules",
            "validate",
            "schedules.yaml",
            "--format",
            "json",
        ],
        &[],
    );
    assert_nowhere(
        &written(dir, &[&enqueued, &validated, &json]),
        &["Swordfish-4417".to_owned()],
    );
}

async fn simulator() -> RunningSim {
    Simulator::start(SimConfig {
        time_scale: 200.0,
        failure_share: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_in_an_action_name_is_hidden_in_the_lookup_url() {
    let sim = simulator().await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("tag.yaml"),
        r#"version: 1
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
      params: { $1: IR }
  - id: tag
    issue:
      name: "IR {{ secrets.API_KEY }} / {{ inputs.tag | reverse }}"
      action_group: All Computers
      target: "{{ steps.scope.group }}"
      package: "{{ steps.params.package_spec }}"
"#,
    )
    .unwrap();
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let api_key = "k3y/w!th sp@ce&ü";
    let tag = "T@g #7 +plus";
    let base_url = sim.base_url();
    let token = sim.api_token();
    let folder_path = folder.path().to_owned();
    let (json, human) = tokio::task::spawn_blocking(move || {
        let env = [
            ("API_KEY", api_key),
            ("TANIUM_URL", base_url.as_str()),
            ("TANIUM_TOKEN", token.as_str()),
        ];
        let tag_input = format!("tag={tag}");
        let args = [
            "run",
            "tag.yaml",
            "-v",
            "--input",
            "host=WIN-DC01",
            "--input",
            &tag_input,
            "--store",
            &store,
        ];
        let json = [&args[..], &["--json"]].concat();
        (
            runbook(&folder_path, &json, &env),
            runbook(&folder_path, &args, &env),
        )
    })
    .await
    .unwrap();
    assert!(
        json.status.success(),
        "{}\n{}",
        text(&json.stdout),
        text(&json.stderr)
    );
    assert!(
        human.status.success(),
        "{}\n{}",
        text(&human.stdout),
        text(&human.stderr)
    );
    // The lookup by name was sent and shown, redacted.
    let lookups: Vec<String> = text(&json.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "request_sent")
        .filter_map(|event| event["path"].as_str().map(str::to_owned))
        .filter(|path| path.starts_with("/api/v2/actions/by-name/"))
        .collect();
    assert!(!lookups.is_empty(), "{}", text(&json.stdout));
    assert!(
        lookups.iter().all(|path| path.contains("[REDACTED]")),
        "{lookups:?}"
    );
    assert!(
        text(&human.stderr).contains("/api/v2/actions/by-name/")
            || text(&human.stdout).contains("/api/v2/actions/by-name/"),
        "-v shows the lookup"
    );
    // Tanium got the real name.
    let actions = sim.inspect().actions;
    assert_eq!(actions.len(), 2);
    let reversed: String = tag.chars().rev().collect();
    assert!(
        actions[0]
            .name
            .starts_with(&format!("IR {api_key} / {reversed} [runbook ")),
        "{}",
        actions[0].name
    );
    let all = written(folder.path(), &[&json, &human]);
    let mut secrets = needles(api_key);
    secrets.extend(needles(tag));
    assert_nowhere(&all, &secrets);
}

// ---------------------------------------------------------------------------------------------
// Property: playbooks that derive values from secrets never write them, or their common
// transformations, anywhere.

/// Where a derivation starts.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// `secrets.API_KEY` (text).
    ApiKey,
    /// `secrets.PIN_CODE` (digits, as text).
    PinCode,
    /// `inputs.key`, a secret string input.
    Key,
    /// `inputs.pin`, a secret integer input.
    Pin,
    /// The value of an earlier `set` step (by position among them, modulo their number).
    Earlier(usize),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Reverse,
    Upper,
    Lower,
    Tail(u8),
    Head(u8),
    Suffix,
    Prefix,
    Replace(char, char),
    Int,
    String,
    ToJson,
}

/// Where a derived value goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Set,
    Log,
    Output,
    ActionName,
    TargetValue,
}

#[derive(Debug, Clone)]
struct Recipe {
    api_key: String,
    key: String,
    pin: u64,
    pin_code: u64,
    items: Vec<(Place, Source, Vec<Op>)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Integer,
    Digits,
    Text,
}

/// The template expression for a source and ops, and the kind of value it gives.
fn expression(source: &str, mut kind: Kind, ops: &[Op]) -> (String, Kind) {
    let mut expression = source.to_owned();
    for op in ops {
        // String filters get a string: an integer is converted first (its digits stay digits).
        let text = if kind == Kind::Integer {
            format!("({expression} | string)")
        } else {
            format!("({expression})")
        };
        let digits = if kind == Kind::Text {
            Kind::Text
        } else {
            Kind::Digits
        };
        (expression, kind) = match *op {
            Op::Reverse => (format!("{text} | reverse"), digits),
            Op::Upper => (format!("{text} | upper"), digits),
            Op::Lower => (format!("{text} | lower"), digits),
            Op::Tail(count) => (format!("{text}[-{count}:]"), digits),
            Op::Head(count) => (format!("{text}[:{count}]"), digits),
            Op::String => (format!("{text} | string"), digits),
            Op::Int if kind != Kind::Text => (format!("({expression}) | int"), Kind::Integer),
            Op::Int => (format!("{text} | string"), Kind::Text),
            Op::Suffix => (format!("({expression}) ~ '-x9'"), Kind::Text),
            Op::Prefix => (format!("'q-' ~ ({expression})"), Kind::Text),
            Op::Replace(from, to) => (format!("{text} | replace('{from}', '{to}')"), Kind::Text),
            Op::ToJson => (format!("({expression}) | tojson"), Kind::Text),
        };
    }
    (expression, kind)
}

/// The playbook for a recipe.
fn playbook(recipe: &Recipe) -> String {
    let mut steps = String::new();
    let mut outputs = String::new();
    let mut sets: Vec<(String, Kind)> = Vec::new();
    let issues = recipe
        .items
        .iter()
        .any(|(place, _, _)| *place == Place::ActionName);
    if issues {
        steps.push_str(
            "  - id: scope\n    target:\n      all:\n        - { sensor: Computer Name, op: equals, value: WIN-DC01 }\n  - id: params\n    parameterize:\n      package: Custom Tagging - Add Tags\n      params: { $1: IR }\n",
        );
    }
    for (index, (place, source, ops)) in recipe.items.iter().enumerate() {
        let (base, kind) = match source {
            Source::ApiKey => ("secrets.API_KEY".to_owned(), Kind::Text),
            Source::PinCode => ("secrets.PIN_CODE".to_owned(), Kind::Digits),
            Source::Key => ("inputs.key".to_owned(), Kind::Text),
            Source::Pin => ("inputs.pin".to_owned(), Kind::Integer),
            Source::Earlier(position) if !sets.is_empty() => {
                let (path, kind) = &sets[position % sets.len()];
                (path.clone(), *kind)
            }
            Source::Earlier(_) => ("secrets.API_KEY".to_owned(), Kind::Text),
        };
        let (expression, kind) = expression(&base, kind, ops);
        // Templates go in single-quoted YAML scalars: only `'` needs doubling.
        let quoted = |template: &str| format!("'{}'", template.replace('\'', "''"));
        match place {
            Place::Set => {
                steps.push_str(&format!(
                    "  - id: s{index}\n    set:\n      v: {}\n",
                    quoted(&format!("{{{{ {expression} }}}}"))
                ));
                sets.push((format!("steps.s{index}.v"), kind));
            }
            Place::Log => steps.push_str(&format!(
                "  - id: l{index}\n    log: {}\n",
                quoted(&format!("derived <{{{{ {expression} }}}}> here"))
            )),
            Place::Output => outputs.push_str(&format!(
                "  o{index}: {}\n",
                quoted(&format!("{{{{ {expression} }}}}"))
            )),
            Place::ActionName => steps.push_str(&format!(
                "  - id: a{index}\n    issue:\n      name: {}\n      action_group: All Computers\n      target: '{{{{ steps.scope.group }}}}'\n      package: '{{{{ steps.params.package_spec }}}}'\n",
                quoted(&format!("IR {{{{ {expression} }}}} done"))
            )),
            Place::TargetValue => steps.push_str(&format!(
                "  - id: t{index}\n    target:\n      all:\n        - {{ sensor: Computer Name, op: {}, value: {} }}\n",
                ["equals", "contains", "starts_with"][index % 3],
                quoted(&format!("{{{{ {expression} }}}}"))
            )),
        }
    }
    if steps.is_empty() {
        steps.push_str("  - id: nothing\n    log: nothing\n");
    }
    let mut source = String::from(
        "version: 1\nname: derived\nsecrets: [API_KEY, PIN_CODE]\ninputs:\n  key: { type: string, secret: true }\n  pin: { type: integer, secret: true }\nsteps:\n",
    );
    source.push_str(&steps);
    if !outputs.is_empty() {
        source.push_str("outputs:\n");
        source.push_str(&outputs);
    }
    source
}

fn secret_text() -> impl Strategy<Value = String> {
    // Letters and digits with the characters that encodings change: space, quotes, slash,
    // percent, plus, ampersand, question mark, hash, backslash, angle brackets, non-ASCII.
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::ranges(vec!['a'..='z', 'A'..='Z', '0'..='9'].into()),
            2 => proptest::sample::select(vec![
                ' ', '"', '\'', '/', '%', '+', '&', '?', '#', '\\', '<', '>', '!', '@', '=', ':',
                'é', 'ß', '€',
            ]),
        ],
        10..18,
    )
    .prop_map(|characters| characters.into_iter().collect::<String>())
    // A distinct start, so that no transformation can be a word runbook prints anyway.
    .prop_map(|tail| format!("Zq{tail}"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Reverse),
        Just(Op::Upper),
        Just(Op::Lower),
        (4u8..9).prop_map(Op::Tail),
        (4u8..9).prop_map(Op::Head),
        Just(Op::Suffix),
        Just(Op::Prefix),
        (
            proptest::char::range('a', 'z'),
            proptest::char::range('0', '9')
        )
            .prop_map(|(from, to)| Op::Replace(from, to)),
        Just(Op::Int),
        Just(Op::String),
        Just(Op::ToJson),
    ]
}

fn recipe() -> impl Strategy<Value = Recipe> {
    let source = prop_oneof![
        Just(Source::ApiKey),
        Just(Source::PinCode),
        Just(Source::Key),
        Just(Source::Pin),
        (0usize..4).prop_map(Source::Earlier),
        (0usize..4).prop_map(Source::Earlier),
    ];
    let place = prop_oneof![
        4 => Just(Place::Set),
        3 => Just(Place::Log),
        3 => Just(Place::Output),
        1 => Just(Place::ActionName),
        1 => Just(Place::TargetValue),
    ];
    (
        secret_text(),
        secret_text(),
        100_000_000u64..1_000_000_000,
        10_000_000u64..100_000_000,
        proptest::collection::vec((place, source, proptest::collection::vec(op(), 0..4)), 1..7),
    )
        .prop_map(|(api_key, key, pin, pin_code, items)| Recipe {
            api_key,
            key,
            pin,
            pin_code,
            items,
        })
}

proptest! {
    // Each case drives the binary twice (a run and a plan): a few dozen cases are seconds.
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn values_derived_from_secrets_are_never_written(recipe in recipe()) {
        let folder = tempfile::tempdir().unwrap();
        let source = playbook(&recipe);
        std::fs::write(folder.path().join("derived.yaml"), &source).unwrap();
        let store = format!("sqlite://{}", folder.path().join("runs.db").display());
        let pin = recipe.pin.to_string();
        let pin_code = recipe.pin_code.to_string();
        let key_input = format!("key={}", recipe.key);
        let pin_input = format!("pin={pin}");
        let env = [("API_KEY", recipe.api_key.as_str()), ("PIN_CODE", pin_code.as_str())];
        let run = runbook(
            folder.path(),
            &[
                "run", "derived.yaml", "--sim", "--json", "-v", "--store", &store,
                "--input", &key_input, "--input", &pin_input,
            ],
            &env,
        );
        prop_assert!(
            run.status.success(),
            "the run failed:\n{source}\n{}\n{}",
            text(&run.stdout),
            text(&run.stderr)
        );
        let id = run_id(&run.stdout);
        let show = runbook(folder.path(), &["runs", "show", &id, "--json", "--store", &store], &[]);
        prop_assert!(show.status.success(), "{}", text(&show.stderr));
        let plan = runbook(
            folder.path(),
            &[
                "plan", "derived.yaml", "--format", "json", "--input", &key_input, "--input",
                &pin_input,
            ],
            &env,
        );
        prop_assert!(
            serde_json::from_slice::<Value>(&plan.stdout).is_ok(),
            "{}\n{}",
            text(&plan.stdout),
            text(&plan.stderr)
        );
        let mut secrets = needles(&recipe.api_key);
        secrets.extend(needles(&recipe.key));
        secrets.extend(needles(&pin));
        secrets.extend(needles(&pin_code));
        assert_nowhere(&written(folder.path(), &[&run, &show, &plan]), &secrets);
    }
}

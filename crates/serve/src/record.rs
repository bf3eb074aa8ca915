//! Runs as the store keeps them: the record a queued run starts as ([`queued_run`]), and the
//! request a recorded run is continued with ([`request_from_record`], for the workers and for
//! `runbook runs resume`).

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use runbook_engine::redact::REDACTED;
use runbook_engine::run::{RunSource, playbook_hash};
use runbook_engine::{NewRun, RunRecord, RunRequest};
use runbook_playbook::Playbook;
use secrecy::SecretString;
use serde_json::Value;

use crate::seal::{KEY_HINT, OpenedInputs, SECRET_KEY_ENV, SecretKey, seal};

/// A run to queue: its record, and its secret inputs sealed for the store
/// ([`QueueEntry::sealed_inputs`](runbook_store::QueueEntry::sealed_inputs)).
#[derive(Debug, Clone)]
pub struct QueuedRun {
    /// The record, with secret inputs as `[REDACTED]` like every run's record.
    pub run: NewRun,
    /// The secret inputs given, sealed with the key for this run id; `None` when none was
    /// given.
    pub sealed_inputs: Option<String>,
}

/// The record of a run to queue. Secret inputs are recorded as `[REDACTED]` (as `runbook run`
/// records them) and returned sealed with `key` (`RUNBOOK_SECRET_KEY`), for the store to keep
/// beside the record; secret inputs cannot be given without a key: they would have to be kept
/// in clear (an optional one left out needs none).
pub fn queued_run(
    playbook: &Playbook,
    source: &str,
    path: Option<String>,
    inputs: &IndexMap<String, Value>,
    started_by: String,
    key: Option<&SecretKey>,
) -> Result<QueuedRun, String> {
    let secret: Vec<&str> = playbook
        .inputs
        .iter()
        .filter(|(_, declaration)| declaration.secret)
        .map(|(name, _)| name.as_str())
        .collect();
    // An optional secret input that is not given has nothing to seal.
    let given: Vec<&str> = secret
        .iter()
        .copied()
        .filter(|name| inputs.get(*name).is_some_and(|value| !value.is_null()))
        .collect();
    if !given.is_empty() && key.is_none() {
        return Err(format!(
            "playbook {} has secret input(s) {}: a queued run keeps them encrypted in the store, \
             and {SECRET_KEY_ENV} is not set; set {SECRET_KEY_ENV} ({KEY_HINT}) in every serve \
             process of this store and here",
            playbook.name,
            given.join(", ")
        ));
    }
    let run_id = new_run_id();
    let mut recorded = serde_json::Map::new();
    let mut sealed = IndexMap::new();
    for (name, value) in inputs {
        if secret.contains(&name.as_str()) && !value.is_null() {
            recorded.insert(name.clone(), Value::String(REDACTED.to_owned()));
            sealed.insert(name.clone(), value.clone());
        } else {
            recorded.insert(name.clone(), value.clone());
        }
    }
    let sealed_inputs = match key {
        Some(key) if !sealed.is_empty() => Some(seal(key, &run_id, &sealed)),
        _ => None,
    };
    let run = NewRun {
        run_id,
        playbook_name: playbook.name.clone(),
        playbook_source: source.to_owned(),
        playbook_hash: playbook_hash(source),
        playbook_path: path,
        inputs: Value::Object(recorded),
        started_by,
        claimed_by: None,
    };
    Ok(QueuedRun { run, sealed_inputs })
}

/// A fresh run id: a UUIDv7, as every run id (time-ordered, so queue order is id order).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What becomes of a recorded run's secret inputs, which the store keeps redacted.
#[derive(Debug, Clone, Copy)]
pub enum SecretInputs<'a> {
    /// Nobody is there to give them again (a serve worker) and none were sealed with the run:
    /// a run with a secret input cannot be rebuilt.
    Refused,
    /// Opened from what the run was queued with ([`crate::seal`]): a serve worker, or
    /// `runbook runs resume` with `RUNBOOK_SECRET_KEY` set.
    Sealed(&'a OpenedInputs),
    /// Given again (`runbook runs resume`): by name (`--input NAME=...`), or any of them in an
    /// inputs file. An input recorded in clear cannot be given again by name: the steps done
    /// already used the recorded value, and a new one would mix two runs.
    GivenAgain {
        /// The inputs given again by name.
        names: &'a [&'a str],
        /// Whether an inputs file is given (it may hold any secret input).
        file: bool,
    },
}

/// Why a recorded run's inputs cannot be had again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    /// A secret input, under [`SecretInputs::Refused`].
    #[error(
        "input `{0}` is secret and is not kept in the store; a worker cannot run this playbook \
         from the queue (use `secrets:` for values from the worker's environment)"
    )]
    SecretInput(String),
    /// A secret input recorded with the run but absent from its sealed inputs, under
    /// [`SecretInputs::Sealed`].
    #[error("input `{0}` is secret and its value is not among the run's sealed inputs")]
    NotSealed(String),
    /// Inputs recorded in clear and given again, under [`SecretInputs::GivenAgain`].
    #[error(
        "input(s) {} were recorded with the run and cannot change on resume; only secret inputs are given again",
        .0.join(", ")
    )]
    Changed(Vec<String>),
    /// Secret inputs not given again, under [`SecretInputs::GivenAgain`].
    #[error(
        "secret input(s) {} are not stored in clear; give them again with --input",
        .0.join(", ")
    )]
    SecretsNotGiven(Vec<String>),
}

/// Rebuilds a recorded run's request: the recorded playbook text, the recorded inputs, and
/// the secrets the playbook reads. Where its callers differ, they say so: `parse` reads the
/// playbook text (given a file name to show: its recorded path, or `run <id>`) and reports its
/// diagnostics; `secret_inputs` says what becomes of secret inputs; `bind` binds the recorded
/// inputs (without the secret ones) with whatever the caller gives again; `secrets` reads the
/// secrets the playbook allows.
pub fn request_from_record(
    record: &RunRecord,
    secret_inputs: SecretInputs<'_>,
    parse: impl FnOnce(&str, &str) -> anyhow::Result<Playbook>,
    bind: impl FnOnce(&Playbook, IndexMap<String, Value>) -> anyhow::Result<IndexMap<String, Value>>,
    secrets: impl FnOnce(&Playbook) -> anyhow::Result<BTreeMap<String, SecretString>>,
) -> anyhow::Result<RunRequest> {
    let file_name = record
        .playbook_path
        .clone()
        .unwrap_or_else(|| format!("run {}", record.run_id));
    let playbook = parse(&file_name, &record.playbook_source)?;
    let recorded = recorded_inputs(record, &playbook, secret_inputs)?;
    let inputs = bind(&playbook, recorded)?;
    let secrets = secrets(&playbook)?;
    let mut request = RunRequest::new(Arc::new(playbook), inputs);
    request.run_id = record.run_id.clone();
    request.secrets = secrets;
    request.started_by = record.started_by.clone();
    request.source = Some(RunSource {
        text: record.playbook_source.clone(),
        path: record.playbook_path.clone(),
    });
    Ok(request)
}

/// The recorded inputs that are read back as they were (not secret, not null), and the
/// secret ones opened from the run's sealed inputs.
fn recorded_inputs(
    record: &RunRecord,
    playbook: &Playbook,
    secret_inputs: SecretInputs<'_>,
) -> Result<IndexMap<String, Value>, RebuildError> {
    let mut known = IndexMap::new();
    let mut changed = Vec::new();
    let mut not_given = Vec::new();
    let Some(map) = record.inputs.as_object() else {
        return Ok(known);
    };
    for (name, value) in map {
        let secret = playbook
            .inputs
            .get(name)
            .is_some_and(|declaration| declaration.secret);
        match secret_inputs {
            // A secret input recorded as null was not given: nothing to read back.
            SecretInputs::Refused if secret && !value.is_null() => {
                return Err(RebuildError::SecretInput(name.clone()));
            }
            SecretInputs::Refused => {}
            SecretInputs::Sealed(opened) if secret && !value.is_null() => {
                let value = opened
                    .get(name)
                    .ok_or_else(|| RebuildError::NotSealed(name.clone()))?;
                known.insert(name.clone(), value.clone());
                continue;
            }
            SecretInputs::Sealed(_) => {}
            SecretInputs::GivenAgain { names, file } => {
                let given = names.contains(&name.as_str());
                if secret && !value.is_null() {
                    // Recorded as a marker, never in clear: it must be given again.
                    if !given && !file {
                        not_given.push(name.clone());
                    }
                    continue;
                }
                if given {
                    changed.push(name.clone());
                    continue;
                }
            }
        }
        if !value.is_null() {
            known.insert(name.clone(), value.clone());
        }
    }
    if !changed.is_empty() {
        return Err(RebuildError::Changed(changed));
    }
    if !not_given.is_empty() {
        return Err(RebuildError::SecretsNotGiven(not_given));
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(source: &str, inputs: Value) -> RunRecord {
        RunRecord {
            run_id: "0193a1b2-0000-7000-8000-000000000001".into(),
            playbook_name: "queued".into(),
            playbook_source: source.into(),
            playbook_hash: String::new(),
            playbook_path: Some("queued.yaml".into()),
            inputs,
            started_by: "runbook:analyst".into(),
            status: runbook_engine::RecordedStatus::Running,
            outputs: None,
            error: None,
            started_at: "2026-11-29T10:00:00.000000Z".into(),
            finished_at: None,
            steps: Vec::new(),
            intents: Vec::new(),
            progress: Default::default(),
        }
    }

    const WITH_SECRET: &str = "version: 1\nname: queued\ninputs:\n  host: { type: string }\n  password: { type: string, secret: true }\nsteps:\n  - id: hello\n    log: hi\n";

    fn parse(file_name: &str, source: &str) -> anyhow::Result<Playbook> {
        runbook_playbook::load(file_name, source)
            .playbook
            .ok_or_else(|| anyhow::anyhow!("invalid"))
    }

    fn recorded(secret_inputs: SecretInputs<'_>) -> anyhow::Result<IndexMap<String, Value>> {
        let record = record(
            WITH_SECRET,
            json!({"host": "WIN-DC01", "password": "[REDACTED]"}),
        );
        let mut seen = None;
        request_from_record(
            &record,
            secret_inputs,
            parse,
            |_, known| {
                seen = Some(known.clone());
                Ok(known)
            },
            |_| Ok(BTreeMap::new()),
        )?;
        Ok(seen.expect("bound"))
    }

    #[test]
    fn an_optional_secret_input_left_out_needs_no_key() {
        const OPTIONAL: &str = "version: 1\nname: queued\ninputs:\n  host: { type: string }\n  password: { type: string, secret: true, required: false }\nsteps:\n  - id: hello\n    log: hi\n";
        let playbook = parse("queued.yaml", OPTIONAL).expect("valid");
        let mut inputs = IndexMap::new();
        inputs.insert("host".to_owned(), json!("WIN-DC01"));
        inputs.insert("password".to_owned(), Value::Null);
        let queued = queued_run(&playbook, OPTIONAL, None, &inputs, "api:ops".into(), None)
            .expect("nothing to seal");
        assert_eq!(queued.sealed_inputs, None);
        // A worker without a key rebuilds it: the secret input was not given.
        let record = record(OPTIONAL, queued.run.inputs.clone());
        let rebuilt = request_from_record(
            &record,
            SecretInputs::Refused,
            parse,
            |_, known| Ok(known),
            |_| Ok(BTreeMap::new()),
        );
        assert!(rebuilt.is_ok(), "{:?}", rebuilt.err());
        inputs.insert("password".to_owned(), json!("hunter2"));
        let refused = queued_run(&playbook, OPTIONAL, None, &inputs, "api:ops".into(), None)
            .expect_err("a given secret needs the key");
        assert!(refused.contains("RUNBOOK_SECRET_KEY"), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    #[test]
    fn a_resume_gives_secret_inputs_again_and_nothing_else() {
        let known = recorded(SecretInputs::GivenAgain {
            names: &["password"],
            file: false,
        })
        .expect("rebuilt");
        assert_eq!(known.get("host"), Some(&json!("WIN-DC01")));
        assert_eq!(known.get("password"), None, "the marker is not an input");
        let missing = recorded(SecretInputs::GivenAgain {
            names: &[],
            file: false,
        })
        .expect_err("not given");
        assert_eq!(
            missing.downcast_ref::<RebuildError>(),
            Some(&RebuildError::SecretsNotGiven(vec!["password".into()]))
        );
        assert!(
            recorded(SecretInputs::GivenAgain {
                names: &[],
                file: true
            })
            .is_ok(),
            "an inputs file may hold it"
        );
        let changed = recorded(SecretInputs::GivenAgain {
            names: &["host", "password"],
            file: false,
        })
        .expect_err("changed");
        assert_eq!(
            changed.downcast_ref::<RebuildError>(),
            Some(&RebuildError::Changed(vec!["host".into()]))
        );
    }

    #[test]
    fn a_worker_refuses_secret_inputs() {
        let refused = recorded(SecretInputs::Refused).expect_err("refused");
        assert_eq!(
            refused.downcast_ref::<RebuildError>(),
            Some(&RebuildError::SecretInput("password".into()))
        );
    }

    fn key() -> SecretKey {
        SecretKey::parse(&"42".repeat(32)).expect("a key")
    }

    #[test]
    fn a_queued_run_with_secret_inputs_needs_the_key() {
        let playbook = parse("p.yaml", WITH_SECRET).expect("valid");
        let inputs = IndexMap::from([
            ("host".to_owned(), json!("WIN-DC01")),
            ("password".to_owned(), json!("Swordfish-4417")),
        ]);
        let error = queued_run(
            &playbook,
            WITH_SECRET,
            None,
            &inputs,
            "enqueue".into(),
            None,
        )
        .expect_err("refused");
        assert!(error.contains("secret input(s) password"), "{error}");
        assert!(error.contains("set RUNBOOK_SECRET_KEY"), "{error}");
        assert!(error.contains("openssl rand -hex 32"), "{error}");
        assert!(!error.contains("Swordfish"), "{error}");
    }

    #[test]
    fn a_queued_run_records_secret_inputs_redacted_and_seals_them() {
        let playbook = parse("p.yaml", WITH_SECRET).expect("valid");
        let inputs = IndexMap::from([
            ("host".to_owned(), json!("WIN-DC01")),
            ("password".to_owned(), json!("Swordfish-4417")),
        ]);
        let queued = queued_run(
            &playbook,
            WITH_SECRET,
            None,
            &inputs,
            "enqueue".into(),
            Some(&key()),
        )
        .expect("queued");
        assert_eq!(
            queued.run.inputs,
            json!({"host": "WIN-DC01", "password": "[REDACTED]"})
        );
        let sealed = queued.sealed_inputs.expect("sealed");
        assert!(!sealed.contains("Swordfish"), "{sealed}");
        let opened = crate::seal::unseal(&key(), &queued.run.run_id, &sealed).expect("opens");
        assert_eq!(opened.names().collect::<Vec<_>>(), ["password"]);

        // The worker's rebuild takes the secret from the sealed inputs.
        let mut record = record(WITH_SECRET, queued.run.inputs.clone());
        record.run_id = queued.run.run_id.clone();
        let mut seen = None;
        request_from_record(
            &record,
            SecretInputs::Sealed(&opened),
            parse,
            |_, known| {
                seen = Some(known.clone());
                Ok(known)
            },
            |_| Ok(BTreeMap::new()),
        )
        .expect("rebuilt");
        assert_eq!(seen.expect("bound"), inputs);

        // Without secret inputs, nothing is sealed, key or not.
        let plain = "version: 1\nname: plain\nsteps:\n  - id: hello\n    log: hi\n";
        let playbook = parse("p.yaml", plain).expect("valid");
        for key in [None, Some(&key())] {
            let queued = queued_run(&playbook, plain, None, &IndexMap::new(), "e".into(), key)
                .expect("queued");
            assert_eq!(queued.sealed_inputs, None);
        }
    }

    #[test]
    fn a_secret_input_missing_from_the_sealed_ones_is_named() {
        let opened = crate::seal::unseal(
            &key(),
            "0193a1b2-0000-7000-8000-000000000001",
            &crate::seal::seal(
                &key(),
                "0193a1b2-0000-7000-8000-000000000001",
                &IndexMap::new(),
            ),
        )
        .expect("opens");
        let missing = recorded(SecretInputs::Sealed(&opened)).expect_err("missing");
        assert_eq!(
            missing.downcast_ref::<RebuildError>(),
            Some(&RebuildError::NotSealed("password".into()))
        );
    }
}

//! Recordings of runs (`runbook run --record FILE`): the HTTP exchanges a run had with Tanium,
//! in order, redacted, written as JSON at the end of the run; read back by `runbook test` to
//! replay them ([`crate::testing::replay`]).
//!
//! A recording never holds headers (the session header carries the token). Bodies and paths
//! are redacted with the run's [`Redactor`] (every secret and derived secret it learnt) and
//! with the connection's own credentials (API token, password); the session a login answers
//! is replaced with `[REDACTED]`, and so is the password of a login request (the client
//! never shows it to observers).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use runbook_engine::Redactor;
use runbook_serve::files::{self, Kind};
use runbook_tanium::ObservedExchange;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the recording format this runbook writes and reads.
pub const VERSION: u32 = 1;

/// The login route: its request and answer carry the password and the session.
pub const LOGIN_PATH: &str = "/api/v2/session/login";

/// What replaces a secret in a recording.
pub const REDACTED: &str = "[REDACTED]";

/// What stands for the run's id in a recording (action names carry it): a replay puts its
/// own run's id back.
pub const RUN_ID: &str = "{run_id}";

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    pub version: u32,
    /// The playbook's name.
    pub playbook: String,
    pub exchanges: Vec<RecordedExchange>,
}

/// One HTTP exchange: the request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedExchange {
    pub method: String,
    /// The path with its query, e.g. `/api/v2/actions?...`.
    pub path: String,
    /// The request body as JSON; `null` without one.
    #[serde(default)]
    pub request_body: Value,
    pub status: u16,
    /// The answer's body as JSON, or its text when it is not JSON; `null` when empty.
    #[serde(default)]
    pub response_body: Value,
}

/// Collects a run's exchanges as they happen (unredacted, in memory); [`Recorder::finish`]
/// redacts them once the run is over and every derived secret is known.
#[derive(Debug, Default)]
pub struct Recorder {
    exchanges: Mutex<Vec<RecordedExchange>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps an exchange that got an answer. One without an answer (the connection failed or
    /// was cut) is left out: a replay cannot answer it, and the client's retry of it comes next.
    pub fn observe(&self, exchange: &ObservedExchange<'_>) {
        let Some(status) = exchange.status else {
            return;
        };
        let recorded = RecordedExchange {
            method: exchange.method.to_ascii_uppercase(),
            path: exchange.path.to_owned(),
            request_body: body_value(exchange.request_body),
            status,
            response_body: body_value(exchange.response_body),
        };
        self.exchanges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(recorded);
    }

    /// The recording, redacted with the run's `redactor` and the connection's `credentials`
    /// (API token, password), with the run's id replaced by [`RUN_ID`].
    pub fn finish(
        &self,
        playbook: &str,
        run_id: &str,
        redactor: &Redactor,
        credentials: &[String],
    ) -> Recording {
        let exchanges = self
            .exchanges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let own = Redactor::new();
        for credential in credentials {
            own.add(credential);
        }
        // The sessions logins answered are tokens too, wherever else they show up.
        for exchange in &exchanges {
            if is_login(exchange)
                && let Some(session) = exchange
                    .response_body
                    .pointer("/data/session")
                    .and_then(Value::as_str)
            {
                own.add(session);
            }
        }
        let exchanges = exchanges
            .into_iter()
            .map(|exchange| {
                let login = is_login(&exchange);
                let mut response_body =
                    own.redact_json(&redactor.redact_json(&exchange.response_body));
                let mut request_body =
                    own.redact_json(&redactor.redact_json(&exchange.request_body));
                if login {
                    if let Some(session) = response_body.pointer_mut("/data/session") {
                        *session = Value::String(REDACTED.to_owned());
                    }
                    if let Some(password) = request_body.pointer_mut("/password") {
                        *password = Value::String(REDACTED.to_owned());
                    }
                }
                RecordedExchange {
                    method: exchange.method,
                    path: replace_text(
                        &own.redact_text(&redactor.redact_text(&exchange.path)),
                        run_id,
                        RUN_ID,
                    ),
                    request_body: replace_json(&request_body, run_id, RUN_ID),
                    status: exchange.status,
                    response_body: replace_json(&response_body, run_id, RUN_ID),
                }
            })
            .collect();
        Recording {
            version: VERSION,
            playbook: playbook.to_owned(),
            exchanges,
        }
    }
}

/// `text` with every `from` replaced by `to` (nothing when `from` is empty).
pub fn replace_text(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        text.to_owned()
    } else {
        text.replace(from, to)
    }
}

/// Every string of `value` (not its keys) with `from` replaced by `to`.
pub fn replace_json(value: &Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(text) => Value::String(replace_text(text, from, to)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| replace_json(item, from, to))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), replace_json(item, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether an exchange is a login (its answer holds a session).
pub fn is_login(exchange: &RecordedExchange) -> bool {
    exchange.method == "POST" && exchange.path.split('?').next() == Some(LOGIN_PATH)
}

/// A body as recorded: JSON when it parses, else its text; `null` when empty or absent.
fn body_value(body: Option<&[u8]>) -> Value {
    match body {
        None | Some([]) => Value::Null,
        Some(bytes) => serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
    }
}

/// Writes a recording atomically (a temporary file beside it, then renamed over it), readable
/// by its owner only on unix.
pub fn write(path: &Path, recording: &Recording) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(recording).map_err(std::io::Error::other)?;
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".to_owned());
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Reads a recording (bounded), or says why it cannot be used.
pub fn read(path: &Path) -> Result<Recording, String> {
    let text = files::read_text(path, Kind::Recording)
        .map_err(|error| format!("cannot read the recording {}: {error}", path.display()))?;
    let recording: Recording = serde_json::from_str(&text).map_err(|error| {
        format!(
            "the recording {} is not a recording (`runbook run --record FILE` writes them): {error}",
            path.display()
        )
    })?;
    if recording.version != VERSION {
        return Err(format!(
            "the recording {} is of version {}; this runbook reads version {VERSION}",
            path.display(),
            recording.version
        ));
    }
    Ok(recording)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observe(recorder: &Recorder, method: &str, path: &str, request: &str, answer: &str) {
        recorder.observe(&ObservedExchange {
            method,
            path,
            request_body: (!request.is_empty()).then_some(request.as_bytes()),
            status: Some(200),
            response_body: Some(answer.as_bytes()),
        });
    }

    #[test]
    fn secrets_tokens_and_sessions_are_redacted() {
        let recorder = Recorder::new();
        observe(
            &recorder,
            "POST",
            LOGIN_PATH,
            r#"{"username":"u","password":"[REDACTED]"}"#,
            r#"{"data":{"session":"sess-123456789"}}"#,
        );
        observe(
            &recorder,
            "GET",
            "/api/v2/actions/by-name/tag%20hunter2-secret",
            "",
            r#"{"data":{"name":"tag hunter2-secret","token":"api-token-abcdef","s":"sess-123456789"}}"#,
        );
        recorder.observe(&ObservedExchange {
            method: "GET",
            path: "/api/v2/dropped",
            request_body: None,
            status: None,
            response_body: None,
        });
        let redactor = Redactor::new();
        redactor.add("hunter2-secret");
        let recording = recorder.finish("p", "", &redactor, &["api-token-abcdef".to_owned()]);
        let text = serde_json::to_string(&recording).expect("the recording as JSON");
        assert!(
            text.contains("/api/v2/dropped") || text.contains("exchanges"),
            "{text}"
        );
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(!text.contains("api-token-abcdef"), "{text}");
        assert!(!text.contains("sess-123456789"), "{text}");
        assert_eq!(recording.exchanges.len(), 2);
        assert_eq!(
            recording.exchanges[0].response_body,
            json!({"data": {"session": REDACTED}})
        );
        assert_eq!(recording.exchanges[1].request_body, Value::Null);
    }

    #[test]
    fn the_run_id_is_a_placeholder() {
        let recorder = Recorder::new();
        observe(
            &recorder,
            "GET",
            "/api/v2/actions/by-name/x%20%5Brunbook%20r-1%20tag%5D",
            "",
            r#"{"data":{"name":"x [runbook r-1 tag]"}}"#,
        );
        let recording = recorder.finish("p", "r-1", &Redactor::new(), &[]);
        assert_eq!(
            recording.exchanges[0].path,
            "/api/v2/actions/by-name/x%20%5Brunbook%20{run_id}%20tag%5D"
        );
        assert_eq!(
            recording.exchanges[0].response_body,
            json!({"data": {"name": "x [runbook {run_id} tag]"}})
        );
    }

    #[test]
    fn bodies_are_json_or_text() {
        assert_eq!(body_value(Some(b"{\"a\":1}")), json!({"a": 1}));
        assert_eq!(body_value(Some(b"oops")), json!("oops"));
        assert_eq!(body_value(Some(b"")), Value::Null);
    }

    #[test]
    fn written_atomically_and_read_back() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("r.json");
        let recording = Recording {
            version: VERSION,
            playbook: "p".to_owned(),
            exchanges: Vec::new(),
        };
        write(&path, &recording).unwrap();
        assert_eq!(read(&path).unwrap(), recording);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{\"version\": 1}").unwrap();
        assert!(read(&path).unwrap_err().contains("is not a recording"));
    }
}

//! `http`: one request to a server of the rest of the SOC (chat, tickets, the SIEM), sent
//! through the engine's [`Egress`](crate::egress::Egress), whose policy decides which hosts it
//! may reach.
//!
//! A `GET` reads: after a failure that may pass (no connection, 429, 502, 503, 504) it is sent
//! again, three times at most, and a resumed run sends it again. A `POST`, `PUT`, `PATCH` or
//! `DELETE` changes something: it carries an `Idempotency-Key` derived from the run and the
//! step, records an intent before it leaves (`Store::save_progress` under the step's record
//! id) and its answer as soon as it arrives. A resumed run adopts a recorded answer, and does
//! not send again a request whose answer was not recorded (it may have arrived) unless the
//! step says `resend_on_resume: true`. It is sent again in a run only when the step says
//! `retry`.
//!
//! Secrets: the request is shown (events, summaries, errors, the store) as rendered against
//! the names with every secret `[REDACTED]`, e.g. `https://hooks.slack.com/services/[REDACTED]`.

mod plan;

use std::time::{Duration, Instant};

use runbook_playbook::{HTTP_TEXT_LIMIT, HttpBody, HttpStep, Step, TemplateValue};
use serde_json::{Map, Value, json};
use sha2::Digest;

pub(crate) use self::plan::plan;
use crate::egress::{Egress, EgressError, EgressErrorKind, HttpAnswer, HttpRequest};
use crate::events::Event;
use crate::redact::{REDACTED, Redactor};
use crate::run::{Engine, RunState, StepDone, StepError, store_error};
use crate::template::TemplateContext;
use crate::values::{type_word, value_text};

/// How many times a `GET` is sent when the failure may pass.
const GET_ATTEMPTS: u32 = 3;
/// Pause (playbook time) before a `GET` is sent again; grows with each attempt.
const GET_BACKOFF: Duration = Duration::from_secs(1);
/// Answers after which a `GET` is sent again: the receiver asks to wait, or its gateway failed.
const PASSING_STATUSES: [u16; 4] = [429, 502, 503, 504];
/// Answer headers not kept in the step's outputs: the receiver's session is not ours to keep.
const NOT_KEPT_HEADERS: [&str; 2] = ["set-cookie", "set-cookie2"];
/// The header a changing request carries so that a receiver can drop a second copy.
pub(crate) const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// How much of a refused answer's text an error quotes.
const ERROR_SNIPPET: usize = 200; // characters

/// The `Idempotency-Key` of a step's request in a run: the same for every attempt and resume
/// of that step in that run (and of that item in a loop), different for any other.
pub(crate) fn idempotency_key(run_id: &str, record_id: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{run_id}\n{record_id}").as_bytes());
    let hex: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("runbook-{hex}")
}

/// The content type a body is sent with when the step names none.
pub(crate) fn default_content_type(body: &HttpBody) -> &'static str {
    match body {
        HttpBody::Json(_) => "application/json",
        HttpBody::Text(_) => "text/plain; charset=utf-8",
    }
}

/// What statuses succeed, in words.
pub(crate) fn expected_words(http: &HttpStep) -> String {
    match http.expect_status.as_slice() {
        [] => "any 2xx".to_owned(),
        [one] => one.to_string(),
        many => {
            let (last, rest) = many.split_last().unwrap_or((&0, &[]));
            let rest: Vec<String> = rest.iter().map(u16::to_string).collect();
            format!("{} or {last}", rest.join(", "))
        }
    }
}

/// Whether an answer's status is one the step expects.
fn expected(http: &HttpStep, status: u64) -> bool {
    if http.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        http.expect_status
            .iter()
            .any(|expected| u64::from(*expected) == status)
    }
}

/// A template rendered against the shown names (every secret `[REDACTED]`), as text; a render
/// that fails there is shown `[REDACTED]` as a whole.
pub(crate) fn shown_text(
    engine: &Engine,
    template: &TemplateValue,
    shown: &TemplateContext,
) -> String {
    engine
        .templates()
        .render(&template.value, shown)
        .map(|value| value_text(&value))
        .unwrap_or_else(|_| REDACTED.to_owned())
}

/// The request rendered for sending, and its URL as shown.
struct Rendered {
    request: HttpRequest,
    shown_url: String,
}

/// Renders the request. Values computed from secrets are registered with the run's redactor
/// (as every render is); the URL is shown rendered against the names with secrets masked.
fn render(
    engine: &Engine,
    state: &RunState<'_>,
    http: &HttpStep,
    context: &TemplateContext,
) -> Result<Rendered, StepError> {
    let url = engine.render_tracked(state, &http.url, context)?;
    let Value::String(url_text) = &url.value else {
        return Err(StepError::new(format!(
            "`url` rendered {}, not a URL",
            type_word(&url.value)
        )));
    };
    let shown_url = if url.taint.is_clean() {
        url_text.clone()
    } else {
        shown_text(engine, &http.url, &state.shown_context())
    };
    let mut headers = Vec::with_capacity(http.headers.len() + 2);
    for (name, template) in &http.headers {
        let value = engine.render(state, template, context)?;
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            return Err(StepError::new(format!(
                "the header `{name}` rendered {}; a header value is one text",
                type_word(&value)
            )));
        }
        let text = value_text(&value);
        if text.contains(['\r', '\n']) {
            return Err(StepError::new(format!(
                "the header `{name}` rendered a line break; a header value is one line"
            )));
        }
        headers.push((name.clone(), text));
    }
    let body = match &http.body {
        None => None,
        Some(HttpBody::Json(template)) => {
            let value = engine.render(state, template, context)?;
            Some(serde_json::to_vec(&value).map_err(|error| {
                StepError::new(format!("`json` could not be written as JSON: {error}"))
            })?)
        }
        Some(HttpBody::Text(template)) => {
            Some(value_text(&engine.render(state, template, context)?).into_bytes())
        }
    };
    if let Some(kind) = &http.body {
        let named = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !named {
            let content_type = http
                .content_type
                .clone()
                .unwrap_or_else(|| default_content_type(kind).to_owned());
            headers.push(("Content-Type".to_owned(), content_type));
        }
    }
    Ok(Rendered {
        request: HttpRequest {
            method: http.method,
            url: url_text.clone(),
            headers,
            body,
            timeout: http.timeout,
            max_response: http.max_response,
        },
        shown_url,
    })
}

/// What a resumed run finds of this step's request.
enum Prior {
    /// Answered, with the outputs recorded (redacted).
    Answered(Map<String, Value>),
    /// An intent without an answer: the request may have reached the receiver.
    Unanswered,
    /// The request certainly was not sent.
    NotSent,
}

fn prior(state: &RunState<'_>, record_id: &str) -> Option<Prior> {
    let saved = state.prior_progress.get(record_id)?.get("http")?;
    Some(match saved.get("answer") {
        Some(Value::Object(answer)) => Prior::Answered(answer.clone()),
        _ if saved.get("sent") == Some(&Value::Bool(false)) => Prior::NotSent,
        _ => Prior::Unanswered,
    })
}

/// Records where the request stands (durably, before the run goes on), redacted.
async fn save(
    engine: &Engine,
    state: &RunState<'_>,
    record_id: &str,
    exchange: Value,
) -> Result<(), StepError> {
    let Some(store) = &engine.store else {
        return Ok(());
    };
    let progress = state.redactor.redact_json(&json!({ "http": exchange }));
    store
        .save_progress(state.run_id(), record_id, &progress)
        .await
        .map_err(store_error)
}

/// Runs an `http` step.
pub(crate) async fn run(
    engine: &Engine,
    state: &mut RunState<'_>,
    step: &Step,
    http: &HttpStep,
) -> Result<StepDone, StepError> {
    let Some(egress) = engine.egress.clone() else {
        return Err(StepError::new(
            "this process sends no HTTP requests: it was started without an egress (`runbook \
             run` and `runbook serve` set one up from --http-allow)",
        ));
    };
    let context = state.context();
    let Rendered {
        mut request,
        shown_url,
    } = render(engine, state, http, &context)?;
    let what = format!("{} {shown_url}", http.method);
    if let Err(error) = egress.check_url(&request.url) {
        return Err(failed(state, &what, &error));
    }
    if !http.method.changes_state() {
        let answer = send(engine, state, step, egress.as_ref(), &request, &what).await?;
        return finish(
            &state.redactor,
            http,
            &what,
            answer_outputs(&answer, &state.redactor),
            false,
        );
    }
    let record_id = state.record_id(&step.id);
    let key = idempotency_key(state.run_id(), &record_id);
    if !request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY))
    {
        request
            .headers
            .push((IDEMPOTENCY_KEY.to_owned(), key.clone()));
    }
    // The key that goes out: the playbook's own header when it wrote one.
    let key = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY))
        .map_or(key, |(_, value)| value.clone());
    match prior(state, &record_id) {
        Some(Prior::Answered(outputs)) => {
            engine.emit(
                state,
                Event::Warning {
                    step_id: Some(step.id.clone()),
                    message: format!(
                        "{what} was answered before the run stopped; its recorded answer stands \
                         and the request is not sent again"
                    ),
                },
            );
            return finish(&state.redactor, http, &what, outputs, true);
        }
        Some(Prior::Unanswered) if !http.resend_on_resume => {
            return Err(StepError::new(format!(
                "{what} may have been sent before the run stopped: its intent was recorded, its \
                 answer was not. It was not sent again, so that the receiver does not get it \
                 twice; check at the receiver whether it arrived. A step whose receiver drops \
                 repeats by their `Idempotency-Key` header (this one is `{key}`) can say \
                 `resend_on_resume: true`"
            )));
        }
        Some(Prior::Unanswered) => {
            // The previous holder of the run may still have the request in flight.
            if let Some(until) = engine
                .store
                .as_ref()
                .and_then(|store| store.hold_off_until())
            {
                engine.hold_off(until).await?;
            }
            engine.emit(
                state,
                Event::Warning {
                    step_id: Some(step.id.clone()),
                    message: format!(
                        "{what} may have been sent before the run stopped; sending it again \
                         (resend_on_resume) with the same Idempotency-Key"
                    ),
                },
            );
        }
        Some(Prior::NotSent) | None => {}
    }
    let intent = json!({
        "method": http.method.as_str(),
        "url": shown_url,
        "idempotency_key": key,
    });
    save(engine, state, &record_id, intent.clone()).await?;
    if let Some(store) = &engine.store {
        store.may_send(state.run_id()).await.map_err(store_error)?;
    }
    crate::pause_points::reached("http_intent_recorded");
    let answer = send(engine, state, step, egress.as_ref(), &request, &what).await?;
    crate::pause_points::reached("http_answered");
    let outputs = answer_outputs(&answer, &state.redactor);
    let mut exchange = intent;
    exchange["answer"] = Value::Object(outputs.clone());
    save(engine, state, &record_id, exchange).await?;
    crate::pause_points::reached("http_recorded");
    finish(&state.redactor, http, &what, outputs, false)
}

/// Sends the request: a `GET` up to three times while its failure may pass, anything else
/// once. A changing request that certainly did not leave is recorded as not sent, so that a
/// resume may send it.
async fn send(
    engine: &Engine,
    state: &RunState<'_>,
    step: &Step,
    egress: &dyn Egress,
    request: &HttpRequest,
    what: &str,
) -> Result<HttpAnswer, StepError> {
    let changes = request.method.changes_state();
    let attempts = if changes { 1 } else { GET_ATTEMPTS };
    let shown_url = what.split_once(' ').map_or(what, |(_, url)| url).to_owned();
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let result = egress.send(request).await;
        engine.emit(
            state,
            Event::RequestSent {
                step_id: Some(step.id.clone()),
                method: request.method.as_str().to_owned(),
                path: shown_url.clone(),
                status: result.as_ref().ok().map(|answer| answer.status),
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
        );
        let passing = match &result {
            Ok(answer) => PASSING_STATUSES.contains(&answer.status),
            Err(error) => matches!(
                error.kind,
                EgressErrorKind::NotSent | EgressErrorKind::MaybeSent
            ),
        };
        if passing && attempt < attempts {
            let why = match &result {
                Ok(answer) => format!("answered {}", answer.status),
                Err(error) => state.redactor.redact_text(&error.message),
            };
            engine.emit(
                state,
                Event::Warning {
                    step_id: Some(step.id.clone()),
                    message: format!(
                        "{what}: {why}; sending it again ({} of {attempts})",
                        attempt + 1
                    ),
                },
            );
            engine.pause(GET_BACKOFF * attempt).await?;
            attempt += 1;
            continue;
        }
        return match result {
            Ok(answer) => Ok(answer),
            Err(error) => {
                if changes && error.nothing_sent() {
                    let record_id = state.record_id(&step.id);
                    let not_sent = json!({
                        "method": request.method.as_str(),
                        "url": shown_url,
                        "sent": false,
                    });
                    save(engine, state, &record_id, not_sent).await?;
                }
                Err(failed(state, what, &error))
            }
        };
    }
}

/// A failed exchange as the step's error: whether anything was sent, and the egress's reason
/// (which names the host at most), redacted.
fn failed(state: &RunState<'_>, what: &str, error: &EgressError) -> StepError {
    let reason = state.redactor.redact_text(&error.message);
    StepError::new(match error.kind {
        EgressErrorKind::Refused => format!("{what} was not sent: {reason}"),
        EgressErrorKind::NotSent => format!("{what} could not be sent: {reason}"),
        EgressErrorKind::MaybeSent => {
            format!("{what} may have reached the receiver, but no answer came: {reason}")
        }
        EgressErrorKind::RedirectRefused | EgressErrorKind::TooLarge => {
            format!("{what}: {reason}")
        }
    })
}

/// Whether a media type is JSON (`application/json`, `application/problem+json`, ...).
fn is_json_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// The answer as the step's outputs: `status`, `headers` (lower-case names, repeated ones
/// joined with `, `, cookies left out), `json` when the answer is JSON, else `text` (the first
/// 64 KiB).
pub(crate) fn answer_outputs(answer: &HttpAnswer, redactor: &Redactor) -> Map<String, Value> {
    let mut headers = Map::new();
    for (name, value) in &answer.headers {
        let name = name.to_ascii_lowercase();
        if NOT_KEPT_HEADERS.contains(&name.as_str()) {
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.clone()));
            }
        }
    }
    let json = headers
        .get("content-type")
        .and_then(Value::as_str)
        .filter(|content_type| is_json_type(content_type))
        .and_then(|_| serde_json::from_slice::<Value>(&answer.body).ok());
    let text = match &json {
        Some(_) => Value::Null,
        None => {
            let full = String::from_utf8_lossy(&answer.body);
            // Cut, a secret could leave a prefix the redactor no longer knows: a text that is
            // cut is redacted whole first (one that is not is sealed as every output is).
            Value::String(if full.len() > HTTP_TEXT_LIMIT {
                truncated(&redactor.redact_text(&full), HTTP_TEXT_LIMIT)
            } else {
                full.into_owned()
            })
        }
    };
    let mut outputs = Map::new();
    outputs.insert("status".to_owned(), json!(answer.status));
    outputs.insert("headers".to_owned(), Value::Object(headers));
    outputs.insert("json".to_owned(), json.unwrap_or(Value::Null));
    outputs.insert("text".to_owned(), text);
    outputs
}

/// The first `limit` bytes of a text, cut at a character boundary.
fn truncated(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let end = (0..=limit)
        .rev()
        .find(|index| text.is_char_boundary(*index))
        .unwrap_or(0);
    text[..end].to_owned()
}

/// The step's end: its outputs when the status is expected, else a failure that carries them
/// (so that `on_failure` can read the status) and quotes the start of the answer.
fn finish(
    redactor: &Redactor,
    http: &HttpStep,
    what: &str,
    outputs: Map<String, Value>,
    adopted: bool,
) -> Result<StepDone, StepError> {
    let status = outputs.get("status").and_then(Value::as_u64).unwrap_or(0);
    let recorded = if adopted {
        " (recorded before a resume)"
    } else {
        ""
    };
    if !expected(http, status) {
        // Redacted whole before it is cut, so that no secret leaves a prefix behind.
        let answer = match (outputs.get("json"), outputs.get("text")) {
            (Some(json), _) if !json.is_null() => json.to_string(),
            (_, Some(Value::String(text))) => text.trim().to_owned(),
            _ => String::new(),
        };
        let quoted: String = redactor
            .redact_text(&answer)
            .chars()
            .take(ERROR_SNIPPET)
            .collect();
        let quoted = if quoted.is_empty() {
            String::new()
        } else {
            format!(": {quoted}")
        };
        return Err(StepError::new(format!(
            "{what} answered {status}{recorded}, expected {}{quoted}",
            expected_words(http)
        ))
        .with_outputs(outputs));
    }
    Ok(StepDone {
        outputs,
        summary: format!("{what} → {status}{recorded}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_differ_by_run_and_step_and_repeat_for_both() {
        let key = idempotency_key("run-1", "notify");
        assert_eq!(key, idempotency_key("run-1", "notify"));
        assert_ne!(key, idempotency_key("run-2", "notify"));
        assert_ne!(key, idempotency_key("run-1", "each[0].notify"));
        assert!(key.starts_with("runbook-") && key.len() == "runbook-".len() + 32);
    }

    #[test]
    fn answers_become_outputs() {
        let answer = HttpAnswer {
            status: 201,
            headers: vec![
                (
                    "Content-Type".to_owned(),
                    "application/json; charset=utf-8".to_owned(),
                ),
                ("set-cookie".to_owned(), "session=abc".to_owned()),
                ("x-seen".to_owned(), "1".to_owned()),
                ("x-seen".to_owned(), "2".to_owned()),
            ],
            body: br#"{"ok": true}"#.to_vec(),
        };
        let outputs = answer_outputs(&answer, &Redactor::new());
        assert_eq!(outputs["status"], json!(201));
        assert_eq!(outputs["json"], json!({"ok": true}));
        assert_eq!(outputs["text"], Value::Null);
        assert_eq!(outputs["headers"]["x-seen"], json!("1, 2"));
        assert!(outputs["headers"].get("set-cookie").is_none());

        let long = HttpAnswer {
            status: 200,
            headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
            body: "é".repeat(HTTP_TEXT_LIMIT).into_bytes(),
        };
        let text = answer_outputs(&long, &Redactor::new())["text"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(text.len() <= HTTP_TEXT_LIMIT && text.len() > HTTP_TEXT_LIMIT - 2);
        // JSON that does not parse is kept as text.
        let broken = HttpAnswer {
            status: 200,
            headers: vec![(
                "content-type".to_owned(),
                "application/problem+json".to_owned(),
            )],
            body: b"{oops".to_vec(),
        };
        assert_eq!(
            answer_outputs(&broken, &Redactor::new())["text"],
            json!("{oops")
        );
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_type("application/json"));
        assert!(is_json_type("Application/JSON; charset=utf-8"));
        assert!(is_json_type("application/vnd.api+json"));
        assert!(!is_json_type("text/json-ish"));
        assert!(!is_json_type("text/html"));
    }
}

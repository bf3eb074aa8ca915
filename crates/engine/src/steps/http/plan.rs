//! The plan of an `http` step: the request as a run would send it, every secret masked (a
//! `secrets.*` name shows as its placeholder, a secret input as `[REDACTED]`), what counts as
//! success, and whether the operator's policy lets it reach its host.

use runbook_playbook::{HttpBody, HttpStep, Step, format_size};
use serde_json::{Map, Value};

use super::{IDEMPOTENCY_KEY, default_content_type, expected_words};
use crate::egress::EgressErrorKind;
use crate::plan::{PlanStep, Planner, Scope};
use crate::platform::PlannedRequest;
use crate::redact::REDACTED;
use crate::steps::placeholders;
use crate::values::{humanize, value_text};

/// Renders a template for a plan: as it is when nothing secret went into it, else against the
/// names with secrets masked.
fn shown(
    planner: &Planner<'_>,
    template: &runbook_playbook::TemplateValue,
    scope: &Scope<'_>,
) -> Result<Value, String> {
    let (value, taint) = planner.render_known_shown(template, scope)?;
    if taint.is_clean() {
        return Ok(value);
    }
    Ok(planner
        .templates
        .render(&template.value, &scope.shown_context())
        .unwrap_or_else(|_| Value::String(REDACTED.to_owned())))
}

/// Plans an `http` step.
pub(crate) fn plan(
    planner: &Planner<'_>,
    step: &Step,
    http: &HttpStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let url = shown(planner, &http.url, scope)?;
    let url = match url {
        Value::String(text) => text,
        other => return Err(format!("`url` rendered {other}, not a URL")),
    };
    planned.details.push(format!("{} {url}", http.method));
    let mut headers = Map::new();
    for (name, template) in &http.headers {
        let value = value_text(&shown(planner, template, scope)?);
        headers.insert(name.clone(), Value::String(value));
    }
    let body = match &http.body {
        None => None,
        Some(HttpBody::Json(template)) => Some(shown(planner, template, scope)?),
        Some(HttpBody::Text(template)) => {
            Some(Value::String(value_text(&shown(planner, template, scope)?)))
        }
    };
    if let Some(kind) = &http.body
        && !headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("content-type"))
    {
        let content_type = http
            .content_type
            .clone()
            .unwrap_or_else(|| default_content_type(kind).to_owned());
        headers.insert("Content-Type".to_owned(), Value::String(content_type));
    }
    if http.method.changes_state()
        && !headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY))
    {
        headers.insert(
            IDEMPOTENCY_KEY.to_owned(),
            Value::String(format!("<derived from run.id and step `{}`>", step.id)),
        );
    }
    planned.details.push(format!(
        "succeeds on {}; gives up after {}; an answer over {} fails",
        expected_words(http),
        humanize(http.timeout),
        format_size(http.max_response)
    ));
    planned.details.push(if http.method.changes_state() {
        let resume = if http.resend_on_resume {
            "sent again on resume when its answer was not recorded (resend_on_resume)"
        } else {
            "not sent again on resume when its answer was not recorded"
        };
        format!("sent once: an intent is recorded before it leaves; {resume}")
    } else {
        "a GET: sent again (3 times at most) while the receiver is unreachable or answers 429, 502, 503 or 504"
            .to_owned()
    });
    let mut options = Map::new();
    if !headers.is_empty() {
        options.insert("headers".to_owned(), Value::Object(headers));
    }
    planned.requests.push(PlannedRequest {
        method: http.method.as_str().to_owned(),
        path: url.clone(),
        options: (!options.is_empty()).then_some(Value::Object(options)),
        body,
        note: Some("to a host outside Tanium, if the operator allows it".to_owned()),
    });
    planned.details.push(
        "sent only if the operator allows its host (--http-allow or RUNBOOK_HTTP_ALLOW); never to the Tanium server"
            .to_owned(),
    );
    // The policy judges the scheme, host and port: they must be known (a path may not be).
    let authority = url
        .split_once("://")
        .map(|(scheme, rest)| {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            format!("{scheme}://{}", &rest[..end])
        })
        .unwrap_or_else(|| url.clone());
    let known = !scope.unknowns.is_unknown(&Value::String(authority.clone()))
        && !authority.contains(REDACTED)
        && !authority.contains('<');
    if let Some(egress) = planner.egress
        && known
        && let Err(error) = egress.check_url(&url)
        && error.kind == EgressErrorKind::Refused
    {
        planned.details.push(format!("refused: {}", error.message));
        return Err(format!(
            "{} {url} would not be sent: {}",
            http.method, error.message
        ));
    }
    Ok(placeholders(step))
}

//! How the console answers: pages rendered from the MiniJinja templates embedded in the binary
//! (HTML-escaped: every value a playbook, an input or Tanium wrote shows as text), the
//! security headers of every console answer, and refusals as pages.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

/// The templates, by name. `base.html` holds the layout the others extend.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("playbooks.html", include_str!("templates/playbooks.html")),
    ("playbook.html", include_str!("templates/playbook.html")),
    ("error.html", include_str!("templates/error.html")),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    // `.html` templates escape every value (MiniJinja's default for the extension).
    for (name, source) in TEMPLATES {
        if let Err(error) = environment.add_template(name, source) {
            tracing::error!(%error, template = name, "a console template does not parse");
        }
    }
    environment.add_filter("pretty", pretty);
    // A run id, step id or playbook name as one segment of a URL path.
    environment.add_filter("path", |text: String| encoded(&text, b""));
    environment
});

/// A JSON value as indented text (outputs, details), for a `<pre>`.
fn pretty(value: minijinja::Value) -> String {
    let value: Value = serde_json::to_value(&value).unwrap_or(Value::Null);
    match value {
        Value::String(text) => text,
        other => serde_json::to_string_pretty(&other).unwrap_or_default(),
    }
}

/// The Content-Security-Policy of every console answer: scripts, styles and connections only
/// from this origin, no inline script or style, no frames, forms posted only here.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers to `response`.
pub(crate) fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// `template` rendered with `context`, answered with `status`.
pub(crate) fn page(status: StatusCode, template: &str, context: impl Serialize) -> Response {
    let rendered = ENVIRONMENT.get_template(template).and_then(|template| {
        template.render(minijinja::Value::from(minijinja::value::Serde(&context)))
    });
    match rendered {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, template, "a console page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the page could not be rendered (the reason is in the server log)",
            )
                .into_response()
        }
    }
}

/// A refusal as a page: the API's status and message (and each problem), with the user's
/// navigation when signed in.
pub(crate) fn refusal(error: &ApiError, user: Option<&Value>) -> Response {
    page(
        error.status(),
        "error.html",
        serde_json::json!({
            "user": user,
            "status": error.status().as_u16(),
            "reason": error.status().canonical_reason().unwrap_or("Error"),
            "message": error.message(),
            "problems": error.problems(),
        }),
    )
}

/// `text` percent-encoded for a URL: unreserved characters and `keep` stay as they are.
pub(crate) fn encoded(text: &str, keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// 303 to `to` (after a form: a reload does not post again).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, source) in TEMPLATES {
            let mut environment = Environment::new();
            for (other, other_source) in TEMPLATES {
                environment
                    .add_template(other, other_source)
                    .unwrap_or_else(|error| panic!("{other}: {error}"));
            }
            assert!(environment.get_template(name).is_ok(), "{name}: {source}");
        }
    }

    #[tokio::test]
    async fn values_are_escaped_and_json_is_indented() {
        let response = page(
            StatusCode::BAD_REQUEST,
            "error.html",
            serde_json::json!({
                "status": 400,
                "reason": "Bad Request",
                "message": "<script>alert(1)</script>",
                "problems": ["a \"quoted\" <b>problem</b>"],
            }),
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = secure(response);
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the page");
        let html = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("a &quot;quoted&quot; &lt;b&gt;problem&lt;&#x2f;b&gt;"),
            "{html}"
        );
        assert_eq!(
            pretty(minijinja::Value::from(minijinja::value::Serde(
                serde_json::json!({"a": 1})
            ))),
            "{\n  \"a\": 1\n}"
        );
    }

    #[test]
    fn urls_are_encoded_but_for_what_is_kept() {
        assert_eq!(encoded("a b/c?d", b""), "a%20b%2Fc%3Fd");
        assert_eq!(encoded("/runs?x=1", b"/"), "/runs%3Fx%3D1");
    }
}

//! `http:` steps: a `method`, a `url` (a template whose written start must be `http://` or
//! `https://`, RB057), `headers` (names HTTP allows and runbook does not set itself, values
//! templates, RB058), a `json` structure or a text `body` with its `content_type`,
//! `expect_status`, `timeout`, `max_response` (a size, RB059) and `resend_on_resume`.
//! Which hosts a request may reach is the operator's to say, at run time.

use indexmap::IndexMap;

use crate::codes;
use crate::duration::format_duration;
use crate::http::{
    HTTP_MAX_RESPONSE, HTTP_TIMEOUT, HttpBody, HttpMethod, HttpStep, MAX_HTTP_RESPONSE,
    MAX_HTTP_TIMEOUT, format_size, parse_size,
};
use crate::model::TemplateValue;
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, NodeKind};

use crate::check::{Checker, Owner};

const HTTP_KEYS: [&str; 10] = [
    "method",
    "url",
    "headers",
    "json",
    "body",
    "content_type",
    "expect_status",
    "timeout",
    "max_response",
    "resend_on_resume",
];

const HTTP_ALIASES: [(&str, &str); 6] = [
    ("data", "`json` (a structure) or `body` (a text)"),
    ("payload", "`json` (a structure) or `body` (a text)"),
    ("verb", "`method`"),
    ("status", "`expect_status`"),
    ("uri", "`url`"),
    ("endpoint", "`url`"),
];

/// Headers the HTTP client writes itself: a playbook's value would be wrong or unsafe.
const MANAGED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Whether `name` is an HTTP header name (a token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// What is wrong with a URL as written, judged from its written start (up to its first
/// template): `None` when it is fine or only a run can tell.
pub(crate) fn url_problem(text: &str) -> Option<String> {
    let literal_end = ["{{", "{%"]
        .iter()
        .filter_map(|open| text.find(open))
        .min()
        .unwrap_or(text.len());
    let literal = &text[..literal_end];
    if literal.is_empty() {
        return None;
    }
    let lower = literal.to_ascii_lowercase();
    let Some(rest) = ["https://", "http://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
    else {
        if "https://".starts_with(&lower) || "http://".starts_with(&lower) {
            // The scheme itself is computed: only a run can tell.
            return None;
        }
        return Some(format!(
            "`{}` is not an absolute http:// or https:// URL",
            shown_start(literal)
        ));
    };
    if literal.chars().any(char::is_whitespace) {
        return Some("the URL holds a space; encode it as `%20`".to_owned());
    }
    let templated = literal_end < text.len();
    let host_end = rest.find(['/', '?', '#']);
    let authority = &rest[..host_end.unwrap_or(rest.len())];
    if authority.is_empty() && (host_end.is_some() || !templated) {
        return Some("the URL has no host".to_owned());
    }
    None
}

/// The start of a URL for a message: its scheme and host at most (its path may hold what
/// should not be repeated).
fn shown_start(literal: &str) -> String {
    let after_scheme = literal.find("://").map_or(0, |at| at + 3);
    let end = literal[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(literal.len(), |at| after_scheme + at)
        .min(60);
    let end = (0..=end)
        .rev()
        .find(|index| literal.is_char_boundary(*index))
        .unwrap_or(0);
    literal[..end].to_owned()
}

impl Checker<'_> {
    pub(super) fn http(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<HttpStep> {
        let fields = self.fields(&entry.value, owner, &HTTP_KEYS, &HTTP_ALIASES)?;
        let mut ok = true;
        let method = match fields.get("method") {
            None => Some(HttpMethod::Get),
            Some(entry) => match &entry.value.kind {
                NodeKind::Str(word) => {
                    let names: Vec<&str> = HttpMethod::ALL.iter().map(HttpMethod::as_str).collect();
                    self.word(
                        entry,
                        word,
                        &names,
                        "an HTTP method runbook sends",
                        HttpMethod::parse,
                    )
                }
                _ => {
                    self.wrong_type(
                        "method",
                        "one of GET, POST, PUT, PATCH, DELETE",
                        &entry.value,
                    );
                    None
                }
            },
        };
        let url = self.required_scalar(
            &fields,
            "url",
            "e.g. `url: \"https://hooks.slack.com/services/{{ secrets.SLACK_PATH }}\"`",
            scope,
            site,
        );
        if let (Some(url), Some(entry)) = (&url, fields.get("url")) {
            match url.value.as_str() {
                Some(text) => {
                    if let Some(problem) = url_problem(text) {
                        self.error(codes::INVALID_URL, entry.value.span, entry.value.length, problem)
                            .help = Some(
                            "write the whole URL with its scheme, e.g. `https://tickets.example.com/api/now/table/incident`"
                                .to_owned(),
                        );
                        ok = false;
                    }
                }
                None => {
                    self.wrong_type("url", "a URL", &entry.value);
                    ok = false;
                }
            }
        }
        let headers = self
            .optional(&fields, "headers", &mut ok, |checker, entry| {
                checker.headers(entry, scope, site)
            })
            .unwrap_or_default();
        let body = match (fields.get("json"), fields.get("body")) {
            (Some(_), Some(body)) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    body.key_span,
                    body.key_length,
                    "an `http` step sends `json` or `body`, not both",
                )
                .help = Some("keep `json` for a structure, `body` for a text".to_owned());
                ok = false;
                None
            }
            (Some(json), None) => Some(HttpBody::Json(self.template_value(json, scope, site))),
            (None, Some(body)) => match self.scalar_template(body, scope, site) {
                Some(text) => Some(HttpBody::Text(text)),
                None => {
                    ok = false;
                    None
                }
            },
            (None, None) => None,
        };
        let content_type = self.optional(&fields, "content_type", &mut ok, Self::string);
        if let Some(entry) = fields.get("content_type") {
            if body.is_none() && fields.get("json").is_none() && fields.get("body").is_none() {
                self.warning(
                    codes::REDUNDANT,
                    entry.key_span,
                    entry.key_length,
                    "`content_type` without `json` or `body`: there is no body to describe"
                        .to_owned(),
                    Some("remove it, or add the body".to_owned()),
                );
            }
            if let Some(header) = headers
                .keys()
                .find(|name| name.eq_ignore_ascii_case("content-type"))
            {
                self.error(
                    codes::CONFLICTING_KEYS,
                    entry.key_span,
                    entry.key_length,
                    format!("`content_type` and the header `{header}` both set the body's type"),
                )
                .help = Some("keep one of them".to_owned());
                ok = false;
            }
        }
        let expect_status = self
            .optional(&fields, "expect_status", &mut ok, Self::statuses)
            .unwrap_or_default();
        let timeout = self.duration_or(&fields, "timeout", HTTP_TIMEOUT);
        self.positive(&fields, "timeout", timeout)?;
        if let (Some(limit), Some(entry)) = (timeout, fields.get("timeout"))
            && limit > MAX_HTTP_TIMEOUT
        {
            self.error(
                codes::OUT_OF_RANGE,
                entry.value.span,
                entry.value.length,
                format!(
                    "`timeout` is {}; an `http` step waits at most {}",
                    format_duration(limit),
                    format_duration(MAX_HTTP_TIMEOUT)
                ),
            );
            ok = false;
        }
        let max_response = match fields.get("max_response") {
            None => Some(HTTP_MAX_RESPONSE),
            Some(entry) => self.size(entry),
        };
        let resend_on_resume = self
            .optional(&fields, "resend_on_resume", &mut ok, Self::boolean)
            .unwrap_or(false);
        if resend_on_resume
            && method == Some(HttpMethod::Get)
            && let Some(entry) = fields.get("resend_on_resume")
        {
            self.warning(
                codes::REDUNDANT,
                entry.key_span,
                entry.key_length,
                "`resend_on_resume` on a GET: a GET is always sent again on resume".to_owned(),
                Some("remove it".to_owned()),
            );
        }
        if !ok {
            return None;
        }
        Some(HttpStep {
            method: method?,
            url: url?,
            headers,
            body,
            content_type,
            expect_status,
            timeout: timeout?,
            max_response: max_response?,
            resend_on_resume,
        })
    }

    /// `headers`: a mapping of header names to values (templates).
    fn headers(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IndexMap<String, TemplateValue>> {
        let NodeKind::Map(entries) = &entry.value.kind else {
            self.wrong_type(
                "headers",
                "a mapping of header names to values, e.g. `{ Authorization: \"Bearer {{ secrets.TOKEN }}\" }`",
                &entry.value,
            );
            return None;
        };
        let mut headers: IndexMap<String, TemplateValue> = IndexMap::new();
        let mut ok = true;
        for header in entries {
            let name = header.key.as_str();
            let lower = name.to_ascii_lowercase();
            let problem = if !is_header_name(name) {
                Some((
                    format!("`{name}` is not an HTTP header name"),
                    "header names are letters, digits and `-` (e.g. `X-Request-Id`)".to_owned(),
                ))
            } else if MANAGED_HEADERS.contains(&lower.as_str()) {
                Some((
                    format!("runbook sets the header `{name}` itself"),
                    "remove it".to_owned(),
                ))
            } else if headers.keys().any(|seen| seen.eq_ignore_ascii_case(name)) {
                Some((
                    format!("the header `{name}` is written twice (header names ignore case)"),
                    "keep one of them".to_owned(),
                ))
            } else {
                None
            };
            if let Some((message, help)) = problem {
                self.error(
                    codes::INVALID_HEADER,
                    header.key_span,
                    header.key_length,
                    message,
                )
                .help = Some(help);
                ok = false;
                continue;
            }
            let Some(value) = self.scalar_template(header, scope, site) else {
                ok = false;
                continue;
            };
            if value
                .value
                .as_str()
                .is_some_and(|text| text.contains(['\r', '\n']))
            {
                self.error(
                    codes::INVALID_HEADER,
                    header.value.span,
                    header.value.length,
                    format!("the value of `{name}` holds a line break"),
                )
                .help = Some("a header value is one line".to_owned());
                ok = false;
                continue;
            }
            headers.insert(name.to_owned(), value);
        }
        ok.then_some(headers)
    }

    /// `expect_status`: one status or a list of them, each 100 to 599.
    fn statuses(&mut self, entry: &Entry) -> Option<Vec<u16>> {
        let items: Vec<&crate::yaml::Node> = match &entry.value.kind {
            NodeKind::Seq(items) if items.is_empty() => {
                self.error(
                    codes::EMPTY_LIST,
                    entry.key_span,
                    entry.key_length,
                    "`expect_status` is empty: no answer could succeed",
                )
                .help = Some("leave it out to accept any 2xx".to_owned());
                return None;
            }
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Int(_) => vec![&entry.value],
            _ => {
                self.wrong_type(
                    "expect_status",
                    "a status or a list of them, e.g. `[200, 201]`",
                    &entry.value,
                );
                return None;
            }
        };
        let mut statuses = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match &item.kind {
                NodeKind::Int(status) if (100..=599).contains(status) => {
                    if let Ok(status) = u16::try_from(*status)
                        && !statuses.contains(&status)
                    {
                        statuses.push(status);
                    }
                }
                NodeKind::Int(status) => {
                    self.error(
                        codes::OUT_OF_RANGE,
                        item.span,
                        item.length,
                        format!("{status} is not an HTTP status; statuses are 100 to 599"),
                    );
                    ok = false;
                }
                _ => {
                    self.error(
                        codes::WRONG_TYPE,
                        item.span,
                        item.length,
                        format!("a status is a number like 200, not {}", item.type_name()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(statuses)
    }

    /// `max_response`: a size (`1MiB`, `512KiB`, or bytes), 1 byte to 16 MiB.
    fn size(&mut self, entry: &Entry) -> Option<u64> {
        let bytes = match &entry.value.kind {
            NodeKind::Int(bytes) => {
                u64::try_from(*bytes).map_err(|_| format!("{bytes} is not a size"))
            }
            NodeKind::Str(text) => parse_size(text),
            _ => {
                self.wrong_type("max_response", "a size like `1MiB`", &entry.value);
                return None;
            }
        };
        match bytes {
            Ok(bytes) if (1..=MAX_HTTP_RESPONSE).contains(&bytes) => Some(bytes),
            Ok(bytes) => {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    format!(
                        "`max_response` is {}; it must be between 1 byte and {}",
                        format_size(bytes),
                        format_size(MAX_HTTP_RESPONSE)
                    ),
                );
                None
            }
            Err(problem) => {
                self.error(
                    codes::INVALID_SIZE,
                    entry.value.span,
                    entry.value.length,
                    format!("`max_response`: {problem}"),
                )
                .help = Some("sizes are a number and a unit: `512KiB`, `1MiB`, `2MB`".to_owned());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_judged_by_their_written_start() {
        for fine in [
            "https://hooks.slack.com/services/{{ secrets.SLACK_PATH }}",
            "http://127.0.0.1:8080/x",
            "{{ inputs.url }}",
            "https://{{ inputs.host }}/api",
            "HTTPS://Example.com",
            "http{{ 's' if inputs.tls }}://x",
        ] {
            assert_eq!(url_problem(fine), None, "{fine}");
        }
        for (bad, says) in [
            ("ftp://files.example.com/x", "not an absolute"),
            ("hooks.slack.com/services/x", "not an absolute"),
            ("https:///path", "no host"),
            ("https://", "no host"),
            ("https://a b.com/", "space"),
        ] {
            let problem = url_problem(bad).expect("a problem");
            assert!(problem.contains(says), "{bad}: {problem}");
        }
        // A message shows the scheme and host at most.
        let problem = url_problem("ftp://files.example.com/secret-path").expect("a problem");
        assert!(problem.contains("files.example.com"), "{problem}");
        assert!(!problem.contains("secret-path"), "{problem}");
    }

    #[test]
    fn header_names_are_tokens() {
        assert!(is_header_name("X-Request-Id"));
        assert!(is_header_name("authorization"));
        assert!(!is_header_name("X Request"));
        assert!(!is_header_name("X:Y"));
        assert!(!is_header_name(""));
    }
}

//! The `http` step's model: one request to a server of the rest of the SOC (chat, tickets,
//! the SIEM), its method, and the sizes its `max_response` is written in.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::model::TemplateValue;

/// `http:`: one request, rendered from templates, sent only to hosts the operator allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStep {
    /// Default `GET`.
    pub method: HttpMethod,
    /// An absolute `http://` or `https://` URL (a template).
    pub url: TemplateValue,
    /// Header names as written, values as templates.
    pub headers: IndexMap<String, TemplateValue>,
    /// `json:` (any structure, its strings templates) or `body:` (a text).
    pub body: Option<HttpBody>,
    /// `content_type:` for `body:` (default `text/plain; charset=utf-8`) or `json:` (default
    /// `application/json`).
    pub content_type: Option<String>,
    /// Statuses that count as success; empty: any 2xx.
    pub expect_status: Vec<u16>,
    /// The whole exchange, redirects and answer included (default 30s).
    pub timeout: Duration,
    /// A larger answer fails the step (default 1 MiB).
    pub max_response: u64,
    /// Send again on resume when a previous attempt may have sent the request but its answer
    /// was not recorded (default `false`: the step fails, saying so).
    pub resend_on_resume: bool,
}

/// What an `http` step sends as its body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    /// `json:` a structure, sent as JSON.
    Json(TemplateValue),
    /// `body:` a text, sent as it renders.
    Text(TemplateValue),
}

/// An `http` step's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    /// Every method, as written in playbooks.
    pub const ALL: [HttpMethod; 5] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
    ];

    /// The method as sent (`GET`, `POST`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }

    /// Reads a method as written (any case).
    pub fn parse(text: &str) -> Option<HttpMethod> {
        Self::ALL
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether a request of this method changes something at the receiver: it records an
    /// intent before it leaves and is never sent again without being asked to (`retry`,
    /// `resend_on_resume`). Only `GET` reads.
    pub fn changes_state(&self) -> bool {
        !matches!(self, HttpMethod::Get)
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// `http.timeout` by default.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `http.timeout`.
pub const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(600);
/// `http.max_response` by default: 1 MiB.
pub const HTTP_MAX_RESPONSE: u64 = 1 << 20;
/// The largest `http.max_response`: 16 MiB.
pub const MAX_HTTP_RESPONSE: u64 = 16 << 20;
/// The `text` output of an `http` step holds at most this many bytes of the answer (64 KiB,
/// cut at a character boundary); `json` holds the whole answer.
pub const HTTP_TEXT_LIMIT: usize = 64 << 10;

/// Reads a size: a whole number of bytes, or a number and a unit (`B`, `KB`, `KiB`, `MB`,
/// `MiB`; `KB` and `MB` are powers of 1000, `KiB` and `MiB` of 1024).
///
/// ```
/// assert_eq!(runbook_playbook::parse_size("1MiB"), Ok(1_048_576));
/// assert_eq!(runbook_playbook::parse_size("512 KB"), Ok(512_000));
/// assert!(runbook_playbook::parse_size("1 parsec").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "`{text}` has no number: write a number of bytes and a unit, like `1MiB`"
        ));
    }
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a unit: use B, KB, KiB, MB or MiB"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(multiplier))
        .ok_or_else(|| format!("`{text}` is too large a size"))
}

/// A size as messages show it (`1 MiB`, `64 KiB`, `1500 bytes`).
pub fn format_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_their_units_and_refuse_the_rest() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("10B"), Ok(10));
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "1 GiB",
            "-1",
            "99999999999999999999",
            "1 MiBs",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(64 << 10), "64 KiB");
        assert_eq!(format_size(1500), "1500 bytes");
    }

    #[test]
    fn methods_read_in_any_case_and_only_get_reads() {
        for method in HttpMethod::ALL {
            assert_eq!(HttpMethod::parse(method.as_str()), Some(method));
            assert_eq!(
                HttpMethod::parse(&method.as_str().to_lowercase()),
                Some(method)
            );
            assert_eq!(method.changes_state(), method != HttpMethod::Get);
        }
        assert_eq!(HttpMethod::parse("HEAD"), None);
    }
}

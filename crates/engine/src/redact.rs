//! Keeping secrets out of everything a run shows: events, logs, errors, plans, the store.
//!
//! Every secret value (from `secrets.*` and from inputs declared `secret: true`), and every
//! value computed from one by a template (see [`crate::template::Taint`]), is registered here;
//! any text that leaves the engine passes through [`Redactor::redact_text`] or
//! [`Redactor::redact_json`].
//!
//! A secret is found whatever its encoding: with each secret string the redactor also registers
//! its JSON-escaped forms, its percent-encoded forms (as a URL path segment, a URI component
//! and a form value: an action's name travels in a by-name lookup's path) and its base64
//! forms. Values that are not strings (a secret `integer` input, `{{ secret | int }}`) are
//! replaced as a whole where they are data ([`mask`]); their text is registered too.

use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::template::Taint;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are only redacted where a whole text equals them: replacing
/// every `5` or `ab` inside other text would mangle ids, names and counts beyond use.
/// The words runbook writes for how a run, step or item ended: never registered as secrets
/// when found inside a structure computed from one.
const STATUS_WORDS: [&str; 6] = [
    "succeeded",
    "failed",
    "skipped",
    "running",
    "cancelled",
    "interrupted",
];

const SHORTEST_SUBSTRING_SECRET: usize = 4;

/// Base64 text shorter than this, cut out of a longer encoding, is not registered: too short
/// to say that a secret is inside.
const SHORTEST_BASE64_CORE: usize = 6;

/// The set of secret strings of one run. Cheap to clone; shared by everything in the run.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret string and its encoded forms (empty strings are ignored: they
    /// would match everywhere).
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut forms = vec![secret.to_owned()];
        if secret.len() >= SHORTEST_SUBSTRING_SECRET {
            forms.extend(encoded_forms(secret));
        }
        let mut secrets = self
            .secrets
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = secrets.len();
        for form in forms {
            if !form.is_empty() && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        if secrets.len() != before {
            // Longest first, so that a secret containing another is replaced whole.
            secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    /// Registers every string and number inside a JSON value, plus the JSON text of every
    /// list and map (a value shown as JSON text is found whole).
    pub fn add_value(&self, value: &Value) {
        self.add_part(value, false);
    }

    /// [`Redactor::add_value`]; `inside` when `value` is a part of a list or map: a status
    /// word there (`succeeded` in a loop's results read whole from a secret item's entry) is
    /// the format's, not the secret's, and registering it would hide every status after.
    fn add_part(&self, value: &Value, inside: bool) {
        match value {
            Value::String(text) if inside && STATUS_WORDS.contains(&text.as_str()) => {}
            Value::String(text) => self.add(text),
            Value::Array(items) => {
                items.iter().for_each(|item| self.add_part(item, true));
                if !items.is_empty() {
                    self.add(&value.to_string());
                }
            }
            Value::Object(map) => {
                map.values().for_each(|item| self.add_part(item, true));
                if !map.is_empty() {
                    self.add(&value.to_string());
                }
            }
            Value::Null | Value::Bool(_) => {}
            Value::Number(number) => self.add(&number.to_string()),
        }
    }

    /// Registers the parts of `value` that `taint` marks secret.
    pub fn add_tainted(&self, value: &Value, taint: &Taint) {
        if taint.is_clean() {
            return;
        }
        if taint.is_whole() {
            self.add_value(value);
            return;
        }
        match value {
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.add_tainted(item, taint.part(&index.to_string()));
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.add_tainted(item, taint.part(key));
                }
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .map(|secrets| secrets.is_empty())
            .unwrap_or(false)
    }

    /// Whether the text holds a secret (by the rules of [`Redactor::redact_text`]).
    pub fn reveals(&self, text: &str) -> bool {
        let secrets = self
            .secrets
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        secrets.iter().any(|secret| {
            secret == text
                || (secret.len() >= SHORTEST_SUBSTRING_SECRET && text.contains(secret.as_str()))
        })
    }

    /// The text with every secret replaced by `[REDACTED]`.
    pub fn redact_text(&self, text: &str) -> String {
        let secrets = self
            .secrets
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if secrets.iter().any(|secret| secret == text) {
            return REDACTED.to_owned();
        }
        let mut redacted = text.to_owned();
        for secret in secrets
            .iter()
            .filter(|secret| secret.len() >= SHORTEST_SUBSTRING_SECRET)
        {
            if redacted.contains(secret.as_str()) {
                redacted = redacted.replace(secret.as_str(), REDACTED);
            }
        }
        redacted
    }

    /// The value with every string (and map key) redacted.
    pub fn redact_json(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(text) => Value::String(self.redact_text(text)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.redact_json(item)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| (self.redact_text(key), self.redact_json(item)))
                    .collect(),
            ),
            // Numbers stay numbers here: ids and counts in events must keep their type. A
            // number computed from a secret is replaced as a whole by [`mask`] where it is
            // data (step and run outputs, inputs), which knows what was computed from what.
            other => other.clone(),
        }
    }
}

/// `value` with every part `taint` marks secret replaced by `[REDACTED]` as a whole,
/// whatever its type (`null`, which says nothing, stays).
pub fn mask(value: &Value, taint: &Taint) -> Value {
    if taint.is_clean() {
        return value.clone();
    }
    match value {
        Value::Null => Value::Null,
        Value::Array(items) if !taint.is_whole() => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| mask(item, taint.part(&index.to_string())))
                .collect(),
        ),
        Value::Object(map) if !taint.is_whole() => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), mask(item, taint.part(key))))
                .collect(),
        ),
        _ => Value::String(REDACTED.to_owned()),
    }
}

/// The parts of `value` that hold a registered secret in their text: strings, and numbers
/// whose digits hold a secret of at least four characters (a count that equals a short
/// secret says nothing about it).
pub fn revealing(value: &Value, redactor: &Redactor) -> Taint {
    match value {
        Value::String(text) if redactor.reveals(text) => Taint::whole(),
        Value::Number(number) => {
            let text = number.to_string();
            if text.len() >= SHORTEST_SUBSTRING_SECRET && redactor.reveals(&text) {
                Taint::whole()
            } else {
                Taint::clean()
            }
        }
        Value::Array(items) => {
            let mut taint = Taint::clean();
            for (index, item) in items.iter().enumerate() {
                taint.set_part(&index.to_string(), revealing(item, redactor));
            }
            taint
        }
        Value::Object(map) => {
            let mut taint = Taint::clean();
            for (key, item) in map {
                taint.set_part(key, revealing(item, redactor));
            }
            taint
        }
        _ => Taint::clean(),
    }
}

/// The forms a secret takes when it is escaped or encoded on its way out.
fn encoded_forms(secret: &str) -> Vec<String> {
    let mut forms = Vec::new();
    // Inside JSON text: serde's escaping, and MiniJinja's `tojson`, which also escapes the
    // characters that matter in HTML.
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let json = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned();
    let html_safe = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    forms.push(json);
    forms.push(html_safe);
    // Percent-encoded: a path segment (what the Tanium client sends for by-name lookups), a
    // URI component (JavaScript's rule), a path (spaces and quotes only) and a form value.
    forms.push(percent_encode(secret, |byte| {
        byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte)
    }));
    forms.push(percent_encode(secret, |byte| {
        byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte)
    }));
    forms.push(percent_encode(secret, |byte| {
        byte.is_ascii_graphic() && !b"\"#<>?`{}%".contains(&byte)
    }));
    forms.push(
        percent_encode(secret, |byte| {
            byte.is_ascii_alphanumeric() || b"*-._ ".contains(&byte)
        })
        .replace(' ', "+"),
    );
    // Base64 (standard and URL-safe): the whole secret encoded, and the characters that
    // depend on the secret alone when it sits at any offset of a longer encoded text.
    for alphabet in [BASE64_STANDARD, BASE64_URL_SAFE] {
        forms.push(base64(secret.as_bytes(), alphabet, true));
        for offset in 0..3 {
            let core = base64_core(secret.as_bytes(), offset, alphabet);
            if core.len() >= SHORTEST_BASE64_CORE {
                forms.push(core);
            }
        }
    }
    forms.retain(|form| form != secret && form.len() >= SHORTEST_SUBSTRING_SECRET);
    forms
}

/// Percent-encodes every byte `keep` refuses (upper-case hex digits, as clients send them).
fn percent_encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if keep(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

const BASE64_STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        let characters = chunk.len() + 1;
        for index in 0..4 {
            if index < characters {
                let sextet = (group >> (18 - 6 * index)) & 0x3f;
                encoded.push(char::from(alphabet[sextet as usize]));
            } else if pad {
                encoded.push('=');
            }
        }
    }
    encoded
}

/// The base64 characters that depend only on `bytes` when they follow `offset` other bytes
/// (0, 1 or 2: the three ways a secret can sit in 3-byte groups).
fn base64_core(bytes: &[u8], offset: usize, alphabet: &[u8; 64]) -> String {
    let mut shifted = vec![0u8; offset];
    shifted.extend_from_slice(bytes);
    let encoded = base64(&shifted, alphabet, false);
    let first = (8 * offset).div_ceil(6);
    let last = 8 * (offset + bytes.len()) / 6;
    encoded.get(first..last).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_replaced_everywhere() {
        let redactor = Redactor::new();
        redactor.add("hunter2");
        redactor.add("");
        assert_eq!(redactor.redact_text("pw=hunter2;"), "pw=[REDACTED];");
        assert_eq!(
            redactor.redact_json(&json!({"a": ["x hunter2"], "hunter2": 1})),
            json!({"a": ["x [REDACTED]"], "[REDACTED]": 1})
        );
        assert_eq!(redactor.redact_text("nothing here"), "nothing here");
    }

    #[test]
    fn status_words_inside_a_secret_structure_are_not_secrets() {
        let redactor = Redactor::new();
        redactor.add_value(&json!([{"item": "hunter2-a", "status": "succeeded"}]));
        assert_eq!(redactor.redact_text("hunter2-a"), "[REDACTED]");
        assert_eq!(redactor.redact_text("succeeded"), "succeeded");
        // A secret that is such a word by itself is one.
        redactor.add_value(&json!("failed"));
        assert_eq!(redactor.redact_text("failed"), "[REDACTED]");
    }

    #[test]
    fn short_secrets_only_match_whole_texts() {
        let redactor = Redactor::new();
        redactor.add("5");
        redactor.add_value(&json!(5));
        assert_eq!(redactor.redact_text("action 1523"), "action 1523");
        assert_eq!(redactor.redact_text("5"), "[REDACTED]");
        assert_eq!(
            redactor.redact_json(&json!({"action_id": 1523})),
            json!({"action_id": 1523})
        );
        assert!(!redactor.reveals("1523"));
        assert!(redactor.reveals("5"));
    }

    #[test]
    fn longer_secrets_win() {
        let redactor = Redactor::new();
        redactor.add("abc");
        redactor.add("abcdef");
        assert_eq!(redactor.redact_text("abcdef"), "[REDACTED]");
    }

    #[test]
    fn encoded_secrets_are_found() {
        let redactor = Redactor::new();
        redactor.add("p@ss w0rd/\"x\"<&>");
        for text in [
            "/api/v2/actions/by-name/tag%20p%40ss%20w0rd%2F%22x%22%3C%26%3E%20%5Brunbook%5D",
            "a=p%40ss+w0rd%2F%22x%22%3C%26%3E&b=1",
            "{\"name\":\"p@ss w0rd/\\\"x\\\"<&>\"}",
            "{\"name\":\"p@ss w0rd/\\\"x\\\"\\u003c\\u0026\\u003e\"}",
            "/p@ss%20w0rd/%22x%22%3C&%3E",
            "Basic dXNlcjpwQHNzIHcwcmQvIngiPCY+",
            "cEBzcyB3MHJkLyJ4IjwmPg==",
        ] {
            let redacted = redactor.redact_text(text);
            assert!(redacted.contains(REDACTED), "{text} -> {redacted}");
            assert!(!redacted.contains("w0rd"), "{text} -> {redacted}");
        }
    }

    #[test]
    fn base64_at_any_offset_is_found() {
        let secret = "correct-horse-battery";
        let redactor = Redactor::new();
        redactor.add(secret);
        for prefix in ["", "u", "us", "user:"] {
            let encoded = base64(
                format!("{prefix}{secret}!").as_bytes(),
                BASE64_STANDARD,
                true,
            );
            assert!(
                redactor.redact_text(&encoded).contains(REDACTED),
                "{prefix}: {encoded}"
            );
        }
        assert_eq!(base64(b"hello", BASE64_STANDARD, true), "aGVsbG8=");
        assert_eq!(base64(b"hi?>", BASE64_URL_SAFE, false), "aGk_Pg");
        assert!(!redactor.reveals(&base64(b"something else entirely", BASE64_STANDARD, true)));
    }

    #[test]
    fn numbers_are_registered_as_text_and_masked_as_values() {
        let redactor = Redactor::new();
        redactor.add_value(&json!(987654));
        assert_eq!(redactor.redact_text("pin 987654"), "pin [REDACTED]");
        let mut taint = Taint::clean();
        taint.set_part("pin", Taint::whole());
        taint.set_part("none", Taint::whole());
        assert_eq!(
            mask(&json!({"pin": 987654, "none": null, "n": 1}), &taint),
            json!({"pin": "[REDACTED]", "none": null, "n": 1})
        );
        assert_eq!(
            mask(&json!([true, {"a": 1}]), &Taint::whole()),
            json!("[REDACTED]")
        );
    }

    #[test]
    fn revealing_parts() {
        let redactor = Redactor::new();
        redactor.add("hunter22");
        redactor.add("42");
        redactor.add_value(&json!(7777));
        let taint = revealing(
            &json!({"text": "x hunter22", "id": 42, "big": 17777, "other": "ok", "list": ["42"]}),
            &redactor,
        );
        assert!(taint.part("text").is_whole());
        assert!(taint.part("id").is_clean());
        assert!(taint.part("big").is_whole());
        assert!(taint.part("other").is_clean());
        assert!(taint.part("list").part("0").is_whole());
    }

    #[test]
    fn tainted_parts_are_registered() {
        let redactor = Redactor::new();
        let mut taint = Taint::clean();
        taint.set_part("b", Taint::whole());
        redactor.add_tainted(&json!({"a": "visible", "b": {"c": "hidden-value"}}), &taint);
        assert_eq!(redactor.redact_text("visible"), "visible");
        assert_eq!(redactor.redact_text("hidden-value"), REDACTED);
        assert_eq!(redactor.redact_text("{\"c\":\"hidden-value\"}"), REDACTED);
    }
}

//! Keeping secrets out of everything a run shows: events, logs, errors, plans.
//!
//! Every secret value (from `secrets.*` and from inputs declared `secret: true`), and every
//! value rendered from a template that uses one, is registered here; any text that leaves the
//! engine passes through [`Redactor::redact_text`] or [`Redactor::redact_json`].

use std::sync::{Arc, RwLock};

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are only redacted where a whole text equals them: replacing
/// every `5` or `ab` inside other text would mangle ids, names and counts beyond use.
const SHORTEST_SUBSTRING_SECRET: usize = 4;

/// The set of secret strings of one run. Cheap to clone; shared by everything in the run.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret string (empty strings are ignored: they would match everywhere).
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut secrets = self
            .secrets
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !secrets.iter().any(|known| known == secret) {
            secrets.push(secret.to_owned());
            // Longest first, so that a secret containing another is replaced whole.
            secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    /// Registers every string inside a JSON value, plus the value's JSON text.
    pub fn add_value(&self, value: &Value) {
        match value {
            Value::String(text) => self.add(text),
            Value::Array(items) => items.iter().for_each(|item| self.add_value(item)),
            Value::Object(map) => map.values().for_each(|item| self.add_value(item)),
            Value::Null | Value::Bool(_) => {}
            Value::Number(number) => self.add(&number.to_string()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .map(|secrets| secrets.is_empty())
            .unwrap_or(false)
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
            // Numbers stay numbers: ids and counts in events must keep their type. Secret
            // inputs are recorded as a whole-value marker by the engine instead.
            other => other.clone(),
        }
    }
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
    }

    #[test]
    fn longer_secrets_win() {
        let redactor = Redactor::new();
        redactor.add("abc");
        redactor.add("abcdef");
        assert_eq!(redactor.redact_text("abcdef"), "[REDACTED]");
    }
}

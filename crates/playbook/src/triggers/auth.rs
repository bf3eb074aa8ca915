//! A trigger's `auth`: exactly one of `hmac` and `bearer`, each secret named by an environment
//! variable and never written in the file, header names, and a signed timestamp's `max_skew`.

use std::time::Duration;

use crate::check::{Fields, Owner};
use crate::codes;
use crate::yaml::Entry;

use super::checks::{Walker, mark_of_key, mark_of_value, only_known_keys};
use super::{Encoding, SignedTimestamp, TriggerAuth};

const AUTH_KEYS: [&str; 2] = ["hmac", "bearer"];
/// `secret` and `token` are read only to say that the value belongs in the environment.
const HMAC_KEYS: [&str; 7] = [
    "secret_env",
    "header",
    "prefix",
    "encoding",
    "timestamp_header",
    "max_skew",
    "secret",
];
const BEARER_KEYS: [&str; 2] = ["token_env", "token"];
/// `max_skew` when a timestamp header is given without one.
pub(super) const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
const MAX_SKEW_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3_600));

/// `[A-Z_][A-Z0-9_]*`, the environment variable names shells and CI systems agree on.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl Walker<'_> {
    pub(super) fn auth(&mut self, entry: &Entry, what: &str) -> Option<TriggerAuth> {
        let owner_text = format!("the `auth` of {what}");
        let owner = Owner::key(&owner_text, entry);
        let fields = self.checker.fields(&entry.value, owner, &AUTH_KEYS, &[])?;
        let ok = only_known_keys(&fields, &AUTH_KEYS);
        let (hmac, bearer) = (fields.get("hmac"), fields.get("bearer"));
        let auth = match (hmac, bearer) {
            (Some(hmac), None) => self.hmac(hmac),
            (None, Some(bearer)) => self.bearer(bearer),
            (Some(_), Some(bearer)) => {
                self.checker
                    .error(
                        codes::TRIGGER_AUTH,
                        bearer.key_span,
                        bearer.key_length,
                        "`auth` gives both `hmac` and `bearer`",
                    )
                    .help = Some("keep one: a hook checks one kind of proof".into());
                None
            }
            (None, None) => {
                let mark = mark_of_key(entry);
                self.checker
                    .error(
                        codes::TRIGGER_AUTH,
                        mark.span,
                        mark.length,
                        "`auth` gives neither `hmac` nor `bearer`",
                    )
                    .help = Some(
                    "every hook is authenticated: add `hmac: { secret_env: ..., header: ... }` or \
                     `bearer: { token_env: ... }`"
                        .into(),
                );
                None
            }
        };
        auth.filter(|_| ok)
    }

    /// `secret:` or `token:` written in the file: the value belongs in the environment.
    fn secret_in_file(&mut self, fields: &Fields<'_>, key: &str, env_key: &str) -> bool {
        let Some(entry) = fields.get(key) else {
            return false;
        };
        self.secret_values.push(mark_of_value(&entry.value));
        self.checker
            .error(
                codes::TRIGGER_AUTH,
                entry.key_span,
                entry.key_length,
                format!("`{key}` is written in the triggers file"),
            )
            .help = Some(format!(
            "never write the {key} itself here: put it in an environment variable of \
             `runbook serve` and name it with `{env_key}: {}`",
            example_env(env_key)
        ));
        true
    }

    fn env_name(&mut self, fields: &Fields<'_>, key: &str) -> Option<String> {
        let help = Some(format!(
            "add `{key}: {}`, the environment variable holding it",
            example_env(key)
        ));
        let entry = self.checker.required(fields, key, help)?;
        let name = self.checker.string(entry)?;
        if is_env_name(&name) {
            return Some(name);
        }
        self.checker
            .error(
                codes::INVALID_ENV_NAME,
                entry.value.span,
                entry.value.length,
                format!("`{key}` is `{name}`, which is not an environment variable name"),
            )
            .help = Some(format!(
            "use uppercase letters, digits and `_`, not starting with a digit, e.g. `{}`",
            suggest_env_name(&name)
        ));
        None
    }

    fn bearer(&mut self, entry: &Entry) -> Option<TriggerAuth> {
        let owner = Owner::key("`bearer`", entry);
        let fields = self
            .checker
            .fields(&entry.value, owner, &BEARER_KEYS, &[])?;
        let leaked = self.secret_in_file(&fields, "token", "token_env");
        let token_env = self.env_name(&fields, "token_env");
        (!leaked).then_some(TriggerAuth::Bearer {
            token_env: token_env?,
        })
    }

    fn hmac(&mut self, entry: &Entry) -> Option<TriggerAuth> {
        let owner = Owner::key("`hmac`", entry);
        let fields = self.checker.fields(&entry.value, owner, &HMAC_KEYS, &[])?;
        let mut ok = !self.secret_in_file(&fields, "secret", "secret_env");
        let secret_env = self.env_name(&fields, "secret_env");
        let help = Some("add `header: X-Signature`, the header carrying the signature".into());
        let header = self
            .checker
            .required(&fields, "header", help)
            .and_then(|entry| self.header_name(entry));
        let prefix = self
            .checker
            .optional(&fields, "prefix", &mut ok, |checker, entry| {
                checker.string(entry)
            });
        let words = Encoding::ALL.map(|word| (word.as_str(), word));
        let encoding = match fields.get("encoding") {
            Some(entry) => self.choice(entry, &words),
            None => Some(Encoding::default()),
        };
        let timestamp_header = self
            .checker
            .optional(&fields, "timestamp_header", &mut ok, |_, _| Some(()))
            .and_then(|()| self.header_name(fields.get("timestamp_header")?));
        ok &= fields.get("timestamp_header").is_none() || timestamp_header.is_some();
        let max_skew = match (fields.get("max_skew"), &timestamp_header) {
            (Some(entry), _) if fields.get("timestamp_header").is_none() => {
                self.only_with(
                    entry,
                    "timestamp_header",
                    "the skew is measured on a signed timestamp",
                );
                None
            }
            (Some(entry), _) => self.duration(entry, MAX_SKEW_RANGE),
            (None, _) => Some(DEFAULT_MAX_SKEW),
        };
        if !ok {
            return None;
        }
        let timestamp = match timestamp_header {
            Some(header) => Some(SignedTimestamp {
                header,
                max_skew: max_skew?,
            }),
            None => {
                max_skew?;
                None
            }
        };
        Some(TriggerAuth::Hmac {
            secret_env: secret_env?,
            header: header?,
            prefix: prefix.unwrap_or_default(),
            encoding: encoding?,
            timestamp,
        })
    }

    /// An HTTP header name: letters, digits and `-`.
    fn header_name(&mut self, entry: &Entry) -> Option<String> {
        let name = self.checker.string(entry)?;
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Some(name);
        }
        self.checker
            .error(
                codes::WRONG_TYPE,
                entry.value.span,
                entry.value.length,
                format!(
                    "`{}` is `{name}`, which is not an HTTP header name",
                    entry.key
                ),
            )
            .help = Some("header names are letters, digits and `-`, like `X-Signature`".into());
        None
    }
}

/// The example variable name in helps: `HOOK_TOKEN` for a bearer token, else `HOOK_SECRET`.
fn example_env(key: &str) -> &'static str {
    if key == "token_env" {
        "HOOK_TOKEN"
    } else {
        "HOOK_SECRET"
    }
}

/// `secret-key` -> `SECRET_KEY`.
fn suggest_env_name(name: &str) -> String {
    let mut suggestion: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if suggestion.is_empty() || suggestion.starts_with(|c: char| c.is_ascii_digit()) {
        suggestion.insert(0, '_');
    }
    suggestion
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(is_env_name("SPLUNK_HOOK_SECRET"));
        assert!(is_env_name("_X1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("hook_secret"));
        assert!(!is_env_name(""));
        assert_eq!(suggest_env_name("hook-secret"), "HOOK_SECRET");
        assert_eq!(suggest_env_name("1a"), "_1A");
    }
}

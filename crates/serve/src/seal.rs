//! Secret inputs of queued runs, encrypted at rest. A run queued with secret inputs (by
//! `runbook enqueue`, the HTTP API or a webhook trigger) records them as `[REDACTED]` like
//! every run, and keeps their values beside the record sealed with XChaCha20-Poly1305 under
//! the key in `RUNBOOK_SECRET_KEY`, which every serve process of the store must have. The
//! worker that claims the run opens them with its own key.
//!
//! - A fresh random 24-byte nonce for every seal; the run id is the associated data, so that a
//!   sealed blob copied to another run does not open there.
//! - The text form is `xchacha20poly1305:v1:<base64(nonce || ciphertext)>` (standard base64,
//!   padded): the scheme and its version first, so that another one can be told apart later.
//! - The key never appears in a message or in `Debug`; a blob that does not open says only
//!   that the key is wrong or the record damaged, never which.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use indexmap::IndexMap;
use serde_json::Value;

/// The environment variable the key is read from.
pub const SECRET_KEY_ENV: &str = "RUNBOOK_SECRET_KEY";

/// What a sealed text starts with: the scheme and its version.
const PREFIX: &str = "xchacha20poly1305:v1:";

/// The nonce length of XChaCha20-Poly1305.
const NONCE_LEN: usize = 24;

/// What every seal binds besides the run id, so that a blob sealed for another purpose with
/// the same key does not open as a run's inputs.
const CONTEXT: &[u8] = b"runbook sealed inputs v1\0";

/// How to make a key, for messages.
pub const KEY_HINT: &str = "32 bytes, hex or base64; `openssl rand -hex 32`";

/// The key that seals and opens the secret inputs of queued runs: 32 bytes.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretKey([REDACTED])")
    }
}

/// Why a text is not a key. The text itself is never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{SECRET_KEY_ENV} is not a valid key ({found}): it must be 64 hex characters or the \
     standard base64 of exactly 32 bytes ({KEY_HINT})"
)]
pub struct KeyError {
    /// What was found instead, without the text: its length, or that it is not Unicode.
    found: String,
}

impl SecretKey {
    /// Reads a key from its text: 64 hex characters, or the standard base64 (padded) of
    /// exactly 32 bytes. Whitespace around it is ignored (a trailing newline from a file).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let refused = || KeyError {
            found: format!("{} characters", text.chars().count()),
        };
        if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            let mut key = [0u8; 32];
            for (index, pair) in text.as_bytes().chunks(2).enumerate() {
                key[index] = (hex_digit(pair[0]) << 4) | hex_digit(pair[1]);
            }
            return Ok(Self(key));
        }
        let bytes = STANDARD.decode(text).map_err(|_| refused())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| refused())?;
        Ok(Self(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

fn hex_digit(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

/// The key in `RUNBOOK_SECRET_KEY`: `None` when it is not set (or set empty), an error when
/// it is set to something that is not a key (or not Unicode).
pub fn secret_key_from_env() -> Result<Option<SecretKey>, KeyError> {
    match std::env::var(SECRET_KEY_ENV) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => SecretKey::parse(&text).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(KeyError {
            found: "not Unicode".to_owned(),
        }),
    }
}

/// Why sealed inputs do not open. Deliberately without details: whether the key or the
/// record is at fault cannot be told apart, and saying more would help nobody but a forger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the run's sealed secret inputs cannot be opened: wrong {SECRET_KEY_ENV} or a damaged record"
)]
pub struct SealError;

/// Secret input values opened from a sealed text. `Debug` shows their names only.
#[derive(Clone, PartialEq)]
pub struct OpenedInputs(IndexMap<String, Value>);

impl OpenedInputs {
    /// The value of one secret input.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The names of the inputs, in the order they were sealed.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The values, for binding them as a run's inputs.
    pub fn into_inner(self) -> IndexMap<String, Value> {
        self.0
    }
}

impl fmt::Debug for OpenedInputs {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_map()
            .entries(self.0.keys().map(|name| (name, "[REDACTED]")))
            .finish()
    }
}

fn associated_data(run_id: &str) -> Vec<u8> {
    let mut data = CONTEXT.to_vec();
    data.extend_from_slice(run_id.as_bytes());
    data
}

/// Seals secret input values for the run `run_id`: the text to keep beside its record.
///
/// # Panics
///
/// When the operating system's random number generator fails (the nonce cannot be made).
pub fn seal(key: &SecretKey, run_id: &str, inputs: &IndexMap<String, Value>) -> String {
    let plaintext = serde_json::to_vec(inputs).expect("JSON values serialize");
    let nonce = XNonce::generate();
    let aad = associated_data(run_id);
    let ciphertext = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .expect("XChaCha20-Poly1305 seals any message of this size");
    let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    format!("{PREFIX}{}", STANDARD.encode(blob))
}

/// Opens what [`seal`] sealed for the run `run_id`, with the same key.
pub fn unseal(key: &SecretKey, run_id: &str, sealed: &str) -> Result<OpenedInputs, SealError> {
    let encoded = sealed.strip_prefix(PREFIX).ok_or(SealError)?;
    let blob = STANDARD.decode(encoded).map_err(|_| SealError)?;
    if blob.len() < NONCE_LEN {
        return Err(SealError);
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| SealError)?;
    let aad = associated_data(run_id);
    let plaintext = key
        .cipher()
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| SealError)?;
    serde_json::from_slice(&plaintext)
        .map(OpenedInputs)
        .map_err(|_| SealError)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const RUN: &str = "0193a1b2-0000-7000-8000-000000000001";

    fn key() -> SecretKey {
        SecretKey::parse(HEX).expect("a key")
    }

    fn inputs() -> IndexMap<String, Value> {
        IndexMap::from([
            ("password".to_owned(), json!("hunter2-Swordfish")),
            ("pin".to_owned(), json!(4417)),
        ])
    }

    #[test]
    fn keys_are_read_from_hex_or_base64() {
        let from_hex = SecretKey::parse(HEX).expect("hex");
        assert_eq!(from_hex.0[1], 1);
        assert_eq!(from_hex.0[31], 0x1f);
        assert_eq!(
            SecretKey::parse(&HEX.to_uppercase()).expect("upper hex").0,
            from_hex.0
        );
        let base64 = STANDARD.encode(from_hex.0);
        assert_eq!(SecretKey::parse(&base64).expect("base64").0, from_hex.0);
        assert_eq!(
            SecretKey::parse(&format!("  {HEX}\n")).expect("trimmed").0,
            from_hex.0
        );
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let texts = [
            "Swordfish-4417".to_owned(),
            HEX[..62].to_owned(),
            format!("{HEX}00"),
            STANDARD.encode([7u8; 31]),
            STANDARD.encode([7u8; 33]),
            format!("{}zz", &HEX[..62]),
        ];
        for text in texts {
            let error = SecretKey::parse(&text).expect_err("not a key").to_string();
            assert!(error.contains("RUNBOOK_SECRET_KEY"), "{error}");
            assert!(error.contains("openssl rand -hex 32"), "{error}");
            assert!(!error.contains(&text), "{error} echoes {text}");
        }
    }

    #[test]
    fn debug_shows_no_key_and_no_value() {
        assert_eq!(format!("{:?}", key()), "SecretKey([REDACTED])");
        let opened = unseal(&key(), RUN, &seal(&key(), RUN, &inputs())).expect("opens");
        let shown = format!("{opened:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password"), "{shown}");
    }

    #[test]
    fn sealed_inputs_open_with_the_same_key_for_the_same_run_only() {
        let sealed = seal(&key(), RUN, &inputs());
        assert!(sealed.starts_with("xchacha20poly1305:v1:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        let opened = unseal(&key(), RUN, &sealed).expect("opens");
        assert_eq!(opened.get("password"), Some(&json!("hunter2-Swordfish")));
        assert_eq!(opened.names().collect::<Vec<_>>(), ["password", "pin"]);
        assert_eq!(opened.into_inner(), inputs());

        let other = SecretKey::parse(&"ab".repeat(32)).expect("a key");
        assert_eq!(unseal(&other, RUN, &sealed), Err(SealError));
        let moved = "0193a1b2-0000-7000-8000-000000000002";
        assert_eq!(unseal(&key(), moved, &sealed), Err(SealError));
        assert_eq!(unseal(&key(), RUN, "not sealed"), Err(SealError));
        assert_eq!(
            unseal(&key(), RUN, "xchacha20poly1305:v1:AAAA"),
            Err(SealError)
        );
        assert_eq!(
            unseal(&key(), RUN, &sealed.replace(":v1:", ":v2:")),
            Err(SealError)
        );
        let message = SealError.to_string();
        assert!(
            message.contains("wrong RUNBOOK_SECRET_KEY or a damaged record"),
            "{message}"
        );
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        assert_ne!(seal(&key(), RUN, &inputs()), seal(&key(), RUN, &inputs()));
    }

    fn values() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            proptest::collection::vec(any::<String>(), 0..4).prop_map(Value::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn seal_and_unseal_round_trip_and_any_flipped_byte_fails(
            inputs in proptest::collection::vec(("[a-z_][a-z0-9_]{0,8}", values()), 0..5),
            run_id in "[0-9a-f-]{1,36}",
            position in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let inputs: IndexMap<String, Value> = inputs.into_iter().collect();
            let key = key();
            let sealed = seal(&key, &run_id, &inputs);
            let opened = unseal(&key, &run_id, &sealed).expect("opens");
            prop_assert_eq!(opened.into_inner(), inputs);

            let encoded = sealed.strip_prefix(PREFIX).expect("the prefix");
            let mut blob = STANDARD.decode(encoded).expect("base64");
            let at = position.index(blob.len());
            blob[at] ^= 1 << bit;
            let damaged = format!("{PREFIX}{}", STANDARD.encode(&blob));
            prop_assert_eq!(unseal(&key, &run_id, &damaged), Err(SealError));
        }
    }
}

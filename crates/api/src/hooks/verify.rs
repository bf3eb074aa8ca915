//! Who may call a hook: the check of a request's HMAC signature or bearer token against the
//! secret a trigger's `auth` names.
//!
//! The check is pure (the caller reads the secret from the environment and the clock), and it
//! never says more than why a request was refused: a [`Refused`] names a header at most, never
//! the secret, the expected signature or the presented one. The HTTP answer says less still
//! (401 "bad or missing signature").
//!
//! Signatures are compared with [`Mac::verify_slice`] and tokens through SHA-256 digests with
//! [`ConstantTimeEq`], so that the time a comparison takes does not tell how much of a guess
//! was right.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use runbook_playbook::{Encoding, SignedTimestamp, TriggerAuth};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The length of an HMAC-SHA256, in bytes.
const SIGNATURE_LENGTH: usize = 32;

/// Standard base64, with or without its `=` padding (senders differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a request was refused, for the server's log. Every variant answers 401 alike; none holds
/// the secret, the expected signature or the presented one, so the text is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A header the trigger's `auth` needs is absent (its name as configured, or
    /// `authorization` for a bearer token).
    #[error("the `{0}` header is missing")]
    MissingHeader(String),
    /// A header is there but cannot be read: sent more than once, not text, not a signature of
    /// the configured encoding and length, a timestamp that is not Unix seconds, or an
    /// `authorization` that is not `Bearer <token>`. Holds the header's name.
    #[error("the `{0}` header is malformed")]
    Malformed(String),
    /// The signature or token does not match the secret.
    #[error("the signature or token does not match")]
    BadSignature,
    /// The signed timestamp is further from the server's clock than `max_skew` (a late or
    /// replayed request). Only reported for a request whose signature matched.
    #[error("the signed timestamp is too far from the server's clock")]
    Stale,
    /// The secret (the environment variable the trigger names) is empty: nothing can match it,
    /// since an empty key would let anyone sign.
    #[error("the hook's secret is empty")]
    EmptySecret,
}

/// Checks that a request proves what the trigger's `auth` asks.
///
/// - `auth`: the trigger's [`TriggerAuth`].
/// - `secret`: the value of the environment variable the auth names
///   ([`TriggerAuth::env_variable`]): the HMAC key or the bearer token. An empty secret refuses
///   every request ([`Refused::EmptySecret`]).
/// - `headers`, `body`: the request as received (the raw body, before any JSON parsing).
/// - `now_unix`: the server's clock, in Unix seconds (used only with a signed timestamp).
///
/// With `hmac`, the header (read once: a header sent twice is [`Refused::Malformed`]) holds the
/// HMAC-SHA256 of the body, or of `"<timestamp>.<body>"` when a `timestamp_header` is
/// configured (the timestamp as sent, in Unix seconds). The configured `prefix` (`sha256=`) is
/// removed when present (ASCII case ignored); then the signature is hex (either case) or
/// standard base64 (padding optional) as configured. A signed timestamp further than
/// `max_skew` from `now_unix` is [`Refused::Stale`], checked after the signature.
///
/// With `bearer`, `Authorization: Bearer <token>` (the scheme in any case) must carry the
/// secret.
///
/// ```
/// use axum::http::HeaderMap;
/// use runbook_api::hooks::{Refused, verify};
/// use runbook_playbook::TriggerAuth;
/// use secrecy::SecretString;
///
/// let auth = TriggerAuth::Bearer { token_env: "HOOK_TOKEN".into() };
/// let secret = SecretString::from("s3cret");
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", "Bearer s3cret".parse().unwrap());
/// assert_eq!(verify(&auth, &secret, &headers, b"{}", 0), Ok(()));
/// headers.insert("authorization", "Bearer guess".parse().unwrap());
/// assert_eq!(verify(&auth, &secret, &headers, b"{}", 0), Err(Refused::BadSignature));
/// ```
pub fn verify(
    auth: &TriggerAuth,
    secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<(), Refused> {
    let secret = secret.expose_secret().as_bytes();
    if secret.is_empty() {
        return Err(Refused::EmptySecret);
    }
    match auth {
        TriggerAuth::Hmac {
            header,
            prefix,
            encoding,
            timestamp,
            ..
        } => verify_hmac(
            secret,
            &HmacCheck {
                header,
                prefix,
                encoding: *encoding,
                timestamp: timestamp.as_ref(),
            },
            headers,
            body,
            now_unix,
        ),
        TriggerAuth::Bearer { .. } => verify_bearer(secret, headers),
    }
}

/// The parts of `auth.hmac` the check reads.
struct HmacCheck<'a> {
    header: &'a str,
    prefix: &'a str,
    encoding: Encoding,
    timestamp: Option<&'a SignedTimestamp>,
}

fn verify_hmac(
    secret: &[u8],
    check: &HmacCheck<'_>,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<(), Refused> {
    let presented = one_header(headers, check.header)?;
    let presented = std::str::from_utf8(presented)
        .map_err(|_| Refused::Malformed(check.header.to_owned()))?
        .trim();
    let presented = strip_prefix_ignoring_case(presented, check.prefix);
    let signature = decode_signature(presented, check.encoding)
        .ok_or_else(|| Refused::Malformed(check.header.to_owned()))?;

    let signed_at = match check.timestamp {
        Some(timestamp) => {
            let text = one_header(headers, &timestamp.header)?;
            let seconds =
                unix_seconds(text).ok_or_else(|| Refused::Malformed(timestamp.header.clone()))?;
            Some((text, seconds, timestamp))
        }
        None => None,
    };

    // Any key length is valid for HMAC; the error cannot happen.
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| Refused::BadSignature)?;
    if let Some((text, _, _)) = signed_at {
        mac.update(text);
        mac.update(b".");
    }
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| Refused::BadSignature)?;

    if let Some((_, seconds, timestamp)) = signed_at
        && now_unix.abs_diff(seconds) > timestamp.max_skew.as_secs()
    {
        return Err(Refused::Stale);
    }
    Ok(())
}

fn verify_bearer(secret: &[u8], headers: &HeaderMap) -> Result<(), Refused> {
    let name = AUTHORIZATION.as_str();
    let value = one_header(headers, name)?;
    let value = std::str::from_utf8(value).map_err(|_| Refused::Malformed(name.to_owned()))?;
    let token = match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(Refused::Malformed(name.to_owned())),
    };
    // Digests of equal length, compared in constant time: the time taken tells neither how much
    // of the token was right nor how long the secret is.
    let expected = Sha256::digest(secret);
    let presented = Sha256::digest(token.as_bytes());
    if bool::from(expected.as_slice().ct_eq(presented.as_slice())) {
        Ok(())
    } else {
        Err(Refused::BadSignature)
    }
}

/// The bytes of a header sent exactly once. `name` is matched in any case; a name that is not
/// a valid header name is never found.
fn one_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h [u8], Refused> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Err(Refused::MissingHeader(name.to_owned()));
    };
    if values.next().is_some() {
        // Two signatures (or timestamps, or tokens): which one counts would be a guess.
        return Err(Refused::Malformed(name.to_owned()));
    }
    Ok(value.as_bytes())
}

/// `text` without `prefix` in front (compared ignoring ASCII case), or `text` as it is.
fn strip_prefix_ignoring_case<'t>(text: &'t str, prefix: &str) -> &'t str {
    match text.get(..prefix.len()) {
        Some(head) if !prefix.is_empty() && head.eq_ignore_ascii_case(prefix) => {
            &text[prefix.len()..]
        }
        _ => text,
    }
}

/// The signature's bytes, when `text` is a whole HMAC-SHA256 in `encoding`.
fn decode_signature(text: &str, encoding: Encoding) -> Option<Vec<u8>> {
    let bytes = match encoding {
        Encoding::Hex => decode_hex(text)?,
        Encoding::Base64 => BASE64.decode(text).ok()?,
    };
    (bytes.len() == SIGNATURE_LENGTH).then_some(bytes)
}

/// Hexadecimal in either case (mixed too), two digits a byte.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

/// Unix seconds written as ASCII digits only (no sign, no fraction, no spaces).
fn unix_seconds(text: &[u8]) -> Option<i64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;

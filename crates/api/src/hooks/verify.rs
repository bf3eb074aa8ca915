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
mod tests {
    use std::time::Duration;

    use axum::http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    /// RFC 4231, test case 2.
    const RFC4231_HEX: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    const RFC4231_BASE64: &str = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";

    fn hmac_auth(
        prefix: &str,
        encoding: Encoding,
        timestamp: Option<SignedTimestamp>,
    ) -> TriggerAuth {
        TriggerAuth::Hmac {
            secret_env: "HOOK_SECRET".into(),
            header: "X-Signature".into(),
            prefix: prefix.into(),
            encoding,
            timestamp,
        }
    }

    fn with_timestamp(max_skew_seconds: u64) -> Option<SignedTimestamp> {
        Some(SignedTimestamp {
            header: "X-Timestamp".into(),
            max_skew: Duration::from_secs(max_skew_seconds),
        })
    }

    fn bearer_auth() -> TriggerAuth {
        TriggerAuth::Bearer {
            token_env: "HOOK_TOKEN".into(),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    /// The signature a sender computes, in lowercase hex.
    fn sign_hex(key: &[u8], message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    #[test]
    fn githubs_documented_example_verifies() {
        let auth = hmac_auth("sha256=", Encoding::Hex, None);
        let request = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
        let auth = match auth {
            TriggerAuth::Hmac {
                prefix,
                encoding,
                timestamp,
                secret_env,
                ..
            } => TriggerAuth::Hmac {
                secret_env,
                header: "X-Hub-Signature-256".into(),
                prefix,
                encoding,
                timestamp,
            },
            other => other,
        };
        let result = verify(&auth, &secret(GITHUB_SECRET), &request, b"Hello, World!", 0);
        assert_eq!(result, Ok(()));
        let result = verify(&auth, &secret(GITHUB_SECRET), &request, b"Hello, World?", 0);
        assert_eq!(result, Err(Refused::BadSignature));
        let result = verify(
            &auth,
            &secret("It's a secret to everybody"),
            &request,
            b"Hello, World!",
            0,
        );
        assert_eq!(result, Err(Refused::BadSignature));
    }

    #[test]
    fn rfc_4231_vector_verifies_in_hex_of_either_case_and_in_base64() {
        let key = secret("Jefe");
        let body = b"what do ya want for nothing?";
        let hex = hmac_auth("", Encoding::Hex, None);
        for signature in [RFC4231_HEX.to_owned(), RFC4231_HEX.to_uppercase()] {
            let request = headers(&[("x-signature", &signature)]);
            assert_eq!(verify(&hex, &key, &request, body, 0), Ok(()), "{signature}");
        }
        let base64 = hmac_auth("", Encoding::Base64, None);
        for signature in [RFC4231_BASE64, RFC4231_BASE64.trim_end_matches('=')] {
            let request = headers(&[("x-signature", signature)]);
            assert_eq!(
                verify(&base64, &key, &request, body, 0),
                Ok(()),
                "{signature}"
            );
        }
        // The right bytes in the wrong encoding are not read as the other one.
        let request = headers(&[("x-signature", RFC4231_HEX)]);
        assert_eq!(
            verify(&base64, &key, &request, body, 0),
            Err(Refused::Malformed("X-Signature".into()))
        );
    }

    #[test]
    fn a_signature_computed_with_a_fixed_key_verifies_and_one_changed_bit_does_not() {
        let key = "fixed-test-key-0123456789";
        let body = br#"{"severity":"high","sid":"42"}"#;
        let good = sign_hex(key.as_bytes(), body);
        let auth = hmac_auth("sha256=", Encoding::Hex, None);
        let request = headers(&[("x-signature", &format!("sha256={good}"))]);
        assert_eq!(verify(&auth, &secret(key), &request, body, 0), Ok(()));

        let mut flipped = good.into_bytes();
        flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        let request = headers(&[("x-signature", &format!("sha256={flipped}"))]);
        assert_eq!(
            verify(&auth, &secret(key), &request, body, 0),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn the_prefix_may_be_left_out_and_is_matched_in_any_case() {
        let auth = hmac_auth("sha256=", Encoding::Hex, None);
        let body = b"what do ya want for nothing?";
        for value in [
            format!("sha256={RFC4231_HEX}"),
            format!("SHA256={RFC4231_HEX}"),
            RFC4231_HEX.to_owned(),
        ] {
            let request = headers(&[("x-signature", &value)]);
            assert_eq!(
                verify(&auth, &secret("Jefe"), &request, body, 0),
                Ok(()),
                "{value}"
            );
        }
        // Another prefix is not removed: the value is then not hex.
        let request = headers(&[("x-signature", &format!("sha1={RFC4231_HEX}"))]);
        assert_eq!(
            verify(&auth, &secret("Jefe"), &request, body, 0),
            Err(Refused::Malformed("X-Signature".into()))
        );
    }

    #[test]
    fn header_names_match_in_any_case() {
        let auth = hmac_auth("", Encoding::Hex, None);
        let body = b"what do ya want for nothing?";
        for name in ["x-signature", "X-SIGNATURE", "X-Signature"] {
            let request = headers(&[(name, RFC4231_HEX)]);
            assert_eq!(
                verify(&auth, &secret("Jefe"), &request, body, 0),
                Ok(()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_configured_name_that_is_no_header_name_is_never_found() {
        let auth = TriggerAuth::Hmac {
            secret_env: "HOOK_SECRET".into(),
            header: "Bad Header:".into(),
            prefix: String::new(),
            encoding: Encoding::Hex,
            timestamp: None,
        };
        let request = headers(&[("x-signature", RFC4231_HEX)]);
        assert_eq!(
            verify(&auth, &secret("Jefe"), &request, b"", 0),
            Err(Refused::MissingHeader("Bad Header:".into()))
        );
    }

    #[test]
    fn a_timestamp_is_signed_with_the_body() {
        // Computed with Python's hmac module: HMAC-SHA256("whsec-test", '1700000000.{"sid":"42"}').
        let signature = "25201d2c71e60fe818538728badbbf4391b008de3e01112f8def04a405439c8f";
        let auth = hmac_auth("", Encoding::Hex, with_timestamp(300));
        let body = br#"{"sid":"42"}"#;
        let request = headers(&[("x-signature", signature), ("x-timestamp", "1700000000")]);
        let key = secret("whsec-test");
        assert_eq!(verify(&auth, &key, &request, body, 1_700_000_000), Ok(()));
        // The body alone is not what was signed.
        let plain = hmac_auth("", Encoding::Hex, None);
        assert_eq!(
            verify(&plain, &key, &request, body, 1_700_000_000),
            Err(Refused::BadSignature)
        );
        // Nor is another timestamp with the same signature.
        let request = headers(&[("x-signature", signature), ("x-timestamp", "1700000001")]);
        assert_eq!(
            verify(&auth, &key, &request, body, 1_700_000_000),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn a_timestamp_beyond_max_skew_is_stale_either_way_and_only_after_the_signature() {
        let auth = hmac_auth("", Encoding::Hex, with_timestamp(300));
        let key = secret("k");
        let body = b"{}";
        let signed_at = 1_700_000_000_i64;
        let signature = sign_hex(b"k", format!("{signed_at}.{{}}").as_bytes());
        let request = headers(&[
            ("x-signature", &signature),
            ("x-timestamp", &signed_at.to_string()),
        ]);
        for now in [signed_at - 300, signed_at, signed_at + 300] {
            assert_eq!(verify(&auth, &key, &request, body, now), Ok(()), "{now}");
        }
        for now in [signed_at - 301, signed_at + 301, 0, i64::MAX, i64::MIN] {
            assert_eq!(
                verify(&auth, &key, &request, body, now),
                Err(Refused::Stale),
                "{now}"
            );
        }
        // A stale request with a wrong signature is a wrong signature.
        assert_eq!(
            verify(&auth, &secret("other"), &request, body, 0),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn a_timestamp_that_is_not_unix_seconds_is_malformed() {
        let auth = hmac_auth("", Encoding::Hex, with_timestamp(300));
        for timestamp in [
            "",
            "-5",
            "+5",
            "1.5",
            "abc",
            "1e9",
            "99999999999999999999",
            " 12 3",
        ] {
            let signature = sign_hex(b"k", format!("{timestamp}.{{}}").as_bytes());
            let request = headers(&[("x-signature", &signature), ("x-timestamp", timestamp)]);
            assert_eq!(
                verify(&auth, &secret("k"), &request, b"{}", 0),
                Err(Refused::Malformed("X-Timestamp".into())),
                "{timestamp:?}"
            );
        }
    }

    #[test]
    fn missing_headers_are_named() {
        let auth = hmac_auth("", Encoding::Hex, with_timestamp(300));
        assert_eq!(
            verify(&auth, &secret("k"), &HeaderMap::new(), b"{}", 0),
            Err(Refused::MissingHeader("X-Signature".into()))
        );
        let request = headers(&[("x-signature", RFC4231_HEX)]);
        assert_eq!(
            verify(&auth, &secret("k"), &request, b"{}", 0),
            Err(Refused::MissingHeader("X-Timestamp".into()))
        );
        assert_eq!(
            verify(&bearer_auth(), &secret("k"), &HeaderMap::new(), b"{}", 0),
            Err(Refused::MissingHeader("authorization".into()))
        );
    }

    #[test]
    fn a_header_sent_twice_is_malformed_even_when_one_value_is_right() {
        let auth = hmac_auth("", Encoding::Hex, None);
        let body = b"what do ya want for nothing?";
        let request = headers(&[("x-signature", RFC4231_HEX), ("x-signature", "00")]);
        assert_eq!(
            verify(&auth, &secret("Jefe"), &request, body, 0),
            Err(Refused::Malformed("X-Signature".into()))
        );
        let request = headers(&[("authorization", "Bearer k"), ("authorization", "Bearer x")]);
        assert_eq!(
            verify(&bearer_auth(), &secret("k"), &request, body, 0),
            Err(Refused::Malformed("authorization".into()))
        );
    }

    #[test]
    fn signatures_of_the_wrong_length_or_alphabet_are_malformed() {
        let hex = hmac_auth("", Encoding::Hex, None);
        let base64 = hmac_auth("", Encoding::Base64, None);
        let body = b"what do ya want for nothing?";
        let cases = [
            (&hex, ""),
            (&hex, &RFC4231_HEX[..62]),
            (&hex, &RFC4231_HEX[..63]),
            (&hex, "zz"),
            (
                &hex,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec38433",
            ),
            (&base64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTs"),
            (&base64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=="),
            (&base64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM*"),
        ];
        for (auth, signature) in cases {
            let request = headers(&[("x-signature", signature)]);
            assert_eq!(
                verify(auth, &secret("Jefe"), &request, body, 0),
                Err(Refused::Malformed("X-Signature".into())),
                "{signature:?}"
            );
        }
        let mut request = HeaderMap::new();
        request.insert("x-signature", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(
            verify(&hex, &secret("Jefe"), &request, body, 0),
            Err(Refused::Malformed("X-Signature".into()))
        );
    }

    #[test]
    fn an_empty_secret_refuses_everything() {
        let empty_key_signature = sign_hex(b"", b"{}");
        let auth = hmac_auth("", Encoding::Hex, None);
        let request = headers(&[("x-signature", &empty_key_signature)]);
        assert_eq!(
            verify(&auth, &secret(""), &request, b"{}", 0),
            Err(Refused::EmptySecret)
        );
        let request = headers(&[("authorization", "Bearer ")]);
        assert_eq!(
            verify(&bearer_auth(), &secret(""), &request, b"{}", 0),
            Err(Refused::EmptySecret)
        );
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let token = secret("tok-123456");
        let auth = bearer_auth();
        for value in [
            "Bearer tok-123456",
            "bearer tok-123456",
            "BEARER  tok-123456 ",
        ] {
            let request = headers(&[("authorization", value)]);
            assert_eq!(verify(&auth, &token, &request, b"", 0), Ok(()), "{value}");
        }
        for value in [
            "Bearer tok-12345",
            "Bearer tok-1234567",
            "Bearer TOK-123456",
            "Bearer tok-123456 extra",
        ] {
            let request = headers(&[("authorization", value)]);
            assert_eq!(
                verify(&auth, &token, &request, b"", 0),
                Err(Refused::BadSignature),
                "{value}"
            );
        }
        for value in [
            "tok-123456",
            "Basic dG9rLTEyMzQ1Ng==",
            "Bearer",
            "Bearer ",
            "",
        ] {
            let request = headers(&[("authorization", value)]);
            assert_eq!(
                verify(&auth, &token, &request, b"", 0),
                Err(Refused::Malformed("authorization".into())),
                "{value}"
            );
        }
    }

    #[test]
    fn reasons_never_quote_the_secret_or_a_signature() {
        let key = "sup3r-s3cret-k3y";
        let body = b"payload";
        let expected = sign_hex(key.as_bytes(), body);
        let presented = sign_hex(b"wrong", body);
        let auth = hmac_auth("sha256=", Encoding::Hex, with_timestamp(1));
        let stale_signature = sign_hex(key.as_bytes(), b"5.payload");
        let requests = [
            (
                auth.clone(),
                headers(&[("x-signature", &presented), ("x-timestamp", "5")]),
            ),
            (
                auth.clone(),
                headers(&[("x-signature", &stale_signature), ("x-timestamp", "5")]),
            ),
            (
                auth.clone(),
                headers(&[("x-signature", &presented[..10]), ("x-timestamp", "5")]),
            ),
            (auth.clone(), headers(&[("x-signature", &presented)])),
            (
                bearer_auth(),
                headers(&[("authorization", &format!("Bearer {presented}"))]),
            ),
            (
                bearer_auth(),
                headers(&[("authorization", &format!("Token {presented}"))]),
            ),
        ];
        for (auth, request) in requests {
            let refused = verify(&auth, &secret(key), &request, body, 1_000).unwrap_err();
            for shown in [refused.to_string(), format!("{refused:?}")] {
                for hidden in [
                    key,
                    &expected,
                    &presented,
                    &presented[..10],
                    &stale_signature,
                ] {
                    assert!(!shown.contains(hidden), "{shown} quotes {hidden}");
                }
            }
        }
    }

    fn header_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("x-signature".to_owned()),
            Just("X-Timestamp".to_owned()),
            Just("authorization".to_owned()),
            "[a-zA-Z][a-zA-Z0-9-]{0,12}",
        ]
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "(sha256=|Bearer |SHA256=)?[0-9a-fA-F+/=]{0,70}".prop_map(String::into_bytes),
            "[0-9]{0,12}".prop_map(String::into_bytes),
        ]
    }

    /// Arbitrary header maps: known and random names, repeated names, any bytes a header value
    /// may hold (control characters cannot be in a `HeaderValue`, so those pairs are skipped).
    fn header_map() -> impl Strategy<Value = HeaderMap> {
        proptest::collection::vec((header_name(), header_value()), 0..6).prop_map(|pairs| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(&value),
                ) {
                    map.append(name, value);
                }
            }
            map
        })
    }

    fn any_auth() -> impl Strategy<Value = TriggerAuth> {
        prop_oneof![
            Just(bearer_auth()),
            (
                prop_oneof![Just(String::new()), Just("sha256=".to_owned())],
                prop_oneof![Just(Encoding::Hex), Just(Encoding::Base64)],
                proptest::option::of(0_u64..4_000),
            )
                .prop_map(|(prefix, encoding, skew)| hmac_auth(
                    &prefix,
                    encoding,
                    skew.and_then(with_timestamp)
                )),
        ]
    }

    fn encode(signature: &[u8], encoding: Encoding) -> String {
        match encoding {
            Encoding::Hex => signature.iter().map(|byte| format!("{byte:02x}")).collect(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(signature),
        }
    }

    fn signature(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            auth in any_auth(),
            key in ".{0,40}",
            request in header_map(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            now in any::<i64>(),
        ) {
            let _ = verify(&auth, &secret(&key), &request, &body, now);
        }

        #[test]
        fn random_headers_never_pass(
            auth in any_auth(),
            key in "[ -~]{1,40}",
            request in header_map(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            now in any::<i64>(),
        ) {
            // A random header map carries the right proof only by a 2^-256 chance (or a
            // random one-character token: keys are long enough to rule that out here).
            prop_assume!(key.len() > 4);
            prop_assert!(verify(&auth, &secret(&key), &request, &body, now).is_err());
        }

        #[test]
        fn a_signature_for_another_body_or_another_secret_fails(
            encoding in prop_oneof![Just(Encoding::Hex), Just(Encoding::Base64)],
            key in proptest::collection::vec(any::<u8>(), 1..64),
            other_key in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            other_body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            // SecretString holds text: keys are bytes shown as lossless UTF-8 here.
            let key = String::from_utf8_lossy(&key).into_owned();
            let other_key = String::from_utf8_lossy(&other_key).into_owned();
            let auth = hmac_auth("sha256=", encoding, None);
            let signed = |key: &str, body: &[u8]| {
                let value = format!("sha256={}", encode(&signature(key.as_bytes(), body), encoding));
                headers(&[("x-signature", &value)])
            };
            prop_assert_eq!(verify(&auth, &secret(&key), &signed(&key, &body), &body, 0), Ok(()));
            if other_body != body {
                prop_assert_eq!(
                    verify(&auth, &secret(&key), &signed(&key, &other_body), &body, 0),
                    Err(Refused::BadSignature)
                );
            }
            if other_key != key {
                prop_assert_eq!(
                    verify(&auth, &secret(&key), &signed(&other_key, &body), &body, 0),
                    Err(Refused::BadSignature)
                );
            }
        }

        #[test]
        fn a_signed_timestamp_cannot_be_moved_to_another_time(
            key in "[ -~]{1,40}",
            body in proptest::collection::vec(any::<u8>(), 0..200),
            signed_at in 0_i64..4_000_000_000,
            shift in 1_i64..1_000,
        ) {
            let auth = hmac_auth("", Encoding::Hex, with_timestamp(3_600));
            let mut message = format!("{signed_at}.").into_bytes();
            message.extend_from_slice(&body);
            let value = encode(&signature(key.as_bytes(), &message), Encoding::Hex);
            let moved = (signed_at + shift).to_string();
            let request = headers(&[("x-signature", &value), ("x-timestamp", &moved)]);
            prop_assert_eq!(
                verify(&auth, &secret(&key), &request, &body, signed_at),
                Err(Refused::BadSignature)
            );
            let request = headers(&[("x-signature", &value), ("x-timestamp", &signed_at.to_string())]);
            prop_assert_eq!(verify(&auth, &secret(&key), &request, &body, signed_at), Ok(()));
        }

        #[test]
        fn a_wrong_bearer_token_fails(token in "[!-~]{1,40}", guess in "[!-~]{0,40}") {
            let request = headers(&[("authorization", &format!("Bearer {guess}"))]);
            let result = verify(&bearer_auth(), &secret(&token), &request, b"", 0);
            if guess == token {
                prop_assert_eq!(result, Ok(()));
            } else if guess.is_empty() {
                // `Bearer ` without a token is not a bearer header at all.
                prop_assert_eq!(result, Err(Refused::Malformed("authorization".into())));
            } else {
                prop_assert_eq!(result, Err(Refused::BadSignature));
            }
        }
    }
}

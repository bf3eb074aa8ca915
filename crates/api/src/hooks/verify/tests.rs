//! Tests of `verify`.

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

fn hmac_auth(prefix: &str, encoding: Encoding, timestamp: Option<SignedTimestamp>) -> TriggerAuth {
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

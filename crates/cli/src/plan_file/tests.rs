//! Tests of `plan_file`.

use super::*;

#[test]
fn canonical_json_sorts_keys_at_every_depth_without_whitespace() {
    let value = json!({"b": [ {"z": 1, "a": "x y"} ], "a": {"d": null, "c": true}});
    assert_eq!(
        canonical_json(&value),
        r#"{"a":{"c":true,"d":null},"b":[{"a":"x y","z":1}]}"#
    );
}

#[test]
fn the_digest_leaves_the_digest_out_and_sees_any_other_change() {
    let document = json!({"format": FORMAT, "digest": "x", "applyable": true});
    let digest = digest_of(&document);
    assert_eq!(
        digest,
        digest_of(&json!({"applyable": true, "format": FORMAT}))
    );
    assert_eq!(
        digest,
        sha256_hex(br#"{"applyable":true,"format":"runbook-plan/1"}"#)
    );
    assert_ne!(
        digest,
        digest_of(&json!({"format": FORMAT, "digest": "x", "applyable": false}))
    );
}

#[test]
fn a_count_tolerance_is_a_share_of_the_planned_count() {
    let exact = Tolerance::parse("0%").unwrap();
    assert!(exact.allows(3, 3));
    assert!(!exact.allows(3, 4));
    let tenth = Tolerance::parse("10%").unwrap();
    assert!(tenth.allows(20, 22));
    assert!(tenth.allows(20, 18));
    assert!(!tenth.allows(20, 23));
    assert_eq!(Tolerance::parse("50").unwrap().percent, 50.0);
    assert!(Tolerance::parse("-1%").is_err());
    assert!(Tolerance::parse("lots").is_err());
}

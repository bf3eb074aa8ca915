//! Arbitrary bytes and arbitrary YAML never panic the parser or the validator, and hostile
//! documents (deep nesting, huge files, alias bombs) are refused with a clear error instead of
//! a stack overflow or running out of memory.

use proptest::prelude::*;
use runbook_playbook::{MAX_SOURCE_BYTES, codes, load};

/// YAML-ish text built from the tokens playbooks are made of, so that the generator reaches
/// deep into the validator rather than failing at the first byte.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("version: 1\n".to_owned()),
        Just("name: x\n".to_owned()),
        Just("steps:\n".to_owned()),
        Just("  - id: a\n".to_owned()),
        Just("    log: \"{{ steps.a.b }}\"\n".to_owned()),
        Just("    target: { all: [ { sensor: s, op: equals, value: v } ] }\n".to_owned()),
        Just("    poll: { action: 1, until_percent: 101 }\n".to_owned()),
        Just("    when: {{ x }}\n".to_owned()),
        Just("inputs:\n  x: { type: integer, default: 3, enum: [1] }\n".to_owned()),
        Just("    set: { &a k: *a }\n".to_owned()),
        Just("- [\n".to_owned()),
        Just("{% for %}".to_owned()),
        Just("\t".to_owned()),
        Just("---\n".to_owned()),
        "[ -~]{0,12}",
        "[a-z_]{1,8}: [a-z0-9{}%\\[\\]]{0,8}\n",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let loaded = load("fuzz.yaml", &text);
        prop_assert!(loaded.playbook.is_some() || !loaded.diagnostics.is_empty());
    }

    #[test]
    fn arbitrary_yaml_never_panics(text in yamlish()) {
        let loaded = load("fuzz.yaml", &text);
        // Every diagnostic points inside the file.
        let lines = text.lines().count().max(1) as u32;
        for diagnostic in &loaded.diagnostics {
            prop_assert!(diagnostic.line >= 1 && diagnostic.line <= lines + 1, "{diagnostic:?}");
            prop_assert!(diagnostic.column >= 1);
        }
        prop_assert_eq!(loaded.playbook.is_some(), !loaded.has_errors());
    }

    #[test]
    fn nesting_at_any_depth_is_handled(depth in 1usize..5_000, flow in any::<bool>()) {
        let text = if flow {
            format!("version: 1\nname: x\nsteps:\n  - id: a\n    set:\n      v: {}{}\n", "[".repeat(depth), "]".repeat(depth))
        } else {
            let mut text = String::from("version: 1\nname: x\nsteps:\n  - id: a\n    set:\n      v:\n");
            for level in 0..depth {
                text.push_str(&" ".repeat(8 + level));
                text.push_str("k:\n");
            }
            text
        };
        let loaded = load("deep.yaml", &text);
        if depth > 60 {
            prop_assert!(loaded.diagnostics.iter().any(|d| d.code == codes::LIMIT), "{:?}", loaded.diagnostics);
        }
    }
}

#[test]
fn huge_documents_are_refused_before_parsing() {
    let mut text = String::from("version: 1\nname: x\nsteps:\n  - id: a\n    log: \"");
    text.push_str(&"x".repeat(MAX_SOURCE_BYTES));
    text.push_str("\"\n");
    let loaded = load("huge.yaml", &text);
    assert_eq!(loaded.diagnostics.len(), 1);
    assert_eq!(loaded.diagnostics[0].code, codes::LIMIT);
    assert!(loaded.diagnostics[0].message.contains("bytes"));
}

#[test]
fn many_small_values_hit_the_node_budget_not_memory() {
    // 300,000 list items in a flow list: under the byte limit, over the node budget.
    let mut text = String::from("version: 1\nname: x\nsteps:\n  - id: a\n    set:\n      v: [");
    text.push_str(&"1,".repeat(300_000));
    text.push_str("1]\n");
    assert!(text.len() < MAX_SOURCE_BYTES);
    let loaded = load("wide.yaml", &text);
    assert!(loaded.diagnostics.iter().any(|d| d.code == codes::LIMIT));
}

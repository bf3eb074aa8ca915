//! The crate boundaries of docs/ARCHITECTURE.md, checked: each workspace crate depends only on
//! what its invariant allows (normal and build dependencies; tests may use more). Reads
//! `cargo metadata`, so a new dependency that breaks a rule fails here, naming the rule.

use std::collections::BTreeMap;
use std::process::Command;

use runbook_tests::workspace_root;
use serde_json::Value;

/// What a crate must not depend on, and why (the invariant's words).
struct Rule {
    krate: &'static str,
    forbidden: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        krate: "runbook-playbook",
        forbidden: &[
            "runbook-engine",
            "runbook-tanium",
            "runbook-tanium-sim",
            "runbook-store",
            "runbook-serve",
            "runbook",
            "tokio",
            "reqwest",
            "sqlx",
            "axum",
            "hyper",
        ],
        why: "playbook turns text into a typed playbook or diagnostics: no I/O, no runtime, no other runbook crate",
    },
    Rule {
        krate: "runbook-engine",
        forbidden: &[
            "runbook-tanium",
            "runbook-tanium-sim",
            "runbook-store",
            "runbook-serve",
            "runbook",
            "reqwest",
            "sqlx",
            "axum",
            "hyper",
        ],
        why: "the engine sees only the Platform and Store traits: no HTTP client, no database, no Tanium JSON",
    },
    Rule {
        krate: "runbook-tanium",
        forbidden: &[
            "runbook-playbook",
            "runbook-tanium-sim",
            "runbook-store",
            "runbook-serve",
            "runbook",
            "sqlx",
            "axum",
        ],
        why: "the adapter knows Tanium and the engine's Platform trait, nothing of playbooks, stores or the simulator",
    },
    Rule {
        krate: "runbook-egress",
        forbidden: &[
            "runbook-playbook",
            "runbook-tanium",
            "runbook-tanium-sim",
            "runbook-store",
            "runbook-serve",
            "runbook-api",
            "runbook",
            "sqlx",
            "clap",
        ],
        why: "the egress knows HTTP and the engine's Egress trait, nothing of Tanium, playbooks or stores",
    },
    Rule {
        krate: "runbook-tanium-sim",
        forbidden: &[
            "runbook-playbook",
            "runbook-engine",
            "runbook-tanium",
            "runbook-store",
            "runbook-serve",
            "runbook",
        ],
        why: "the simulator shares no type with the adapter, so that a mistake in one is not silently shared by the other",
    },
    Rule {
        krate: "runbook-store",
        forbidden: &[
            "runbook-playbook",
            "runbook-tanium",
            "runbook-tanium-sim",
            "runbook-serve",
            "runbook",
            "reqwest",
            "axum",
        ],
        why: "the store implements the engine's Store trait and knows nothing of Tanium or HTTP",
    },
    Rule {
        krate: "runbook-serve",
        forbidden: &["runbook-tanium", "runbook-tanium-sim", "runbook", "clap"],
        why: "serve runs runs through the engine and the store on a Platform it is handed: no Tanium adapter or simulator, no command line (the cli connects, parses arguments and handles signals)",
    },
    Rule {
        krate: "runbook-api",
        forbidden: &[
            "runbook-tanium",
            "runbook-tanium-sim",
            "runbook",
            "clap",
            "reqwest",
            "sqlx",
        ],
        why: "the HTTP side knows runs through the store and serve, and Tanium only as the engine's Platform it is handed: no Tanium adapter, no SQL of its own, no command line",
    },
];

/// Each workspace crate's normal and build dependencies, by name.
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata ran");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let mut crates = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("a name").to_owned();
        let used = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|dependency| dependency["kind"].as_str() != Some("dev"))
            .filter_map(|dependency| dependency["name"].as_str().map(str::to_owned))
            .collect();
        crates.insert(name, used);
    }
    crates
}

#[test]
fn each_crate_depends_only_on_what_its_invariant_allows() {
    let crates = dependencies();
    let mut broken = Vec::new();
    for rule in RULES {
        let used = crates
            .get(rule.krate)
            .unwrap_or_else(|| panic!("{} is not in the workspace any more", rule.krate));
        for dependency in used {
            if rule.forbidden.contains(&dependency.as_str()) {
                broken.push(format!(
                    "{} depends on {dependency}, which it must not: {}",
                    rule.krate, rule.why
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn every_library_crate_has_a_rule() {
    let crates = dependencies();
    let ruled: Vec<&str> = RULES.iter().map(|rule| rule.krate).collect();
    // The binary wires everything; the test and bench crates drive it.
    let free = ["runbook", "runbook-tests", "runbook-benches"];
    let unruled: Vec<&String> = crates
        .keys()
        .filter(|name| !ruled.contains(&name.as_str()) && !free.contains(&name.as_str()))
        .collect();
    assert!(
        unruled.is_empty(),
        "crates without a boundary rule in tests/tests/architecture.rs and docs/ARCHITECTURE.md: {unruled:?}"
    );
}

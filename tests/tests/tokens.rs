//! `runbook tokens create|list|revoke` and `runbook audit` through the binary, on SQLite and
//! (with `RUNBOOK_TEST_POSTGRES_URL`) PostgreSQL.

use runbook_tests::postgres::PostgresDatabase;
use runbook_tests::{Outcome, Test};
use serde_json::Value;

fn runbook(store: &str, args: &[&str]) -> Outcome {
    Test::new()
        .env("USER", "alice")
        .args(args)
        .args(["--store", store])
        .run()
}

fn json(store: &str, args: &[&str]) -> Value {
    let out = runbook(store, &[args, &["--format", "json"]].concat());
    assert_eq!(out.code, 0, "{args:?}\n{}{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|error| panic!("{args:?}: {error}\n{}", out.stdout))
}

fn tokens_and_audit_round_trip(store: &str) {
    let created = runbook(store, &["tokens", "create", "splunk", "--role", "operator"]);
    assert_eq!(created.code, 0, "{}{}", created.stdout, created.stderr);
    let token = created.stdout.trim().to_owned();
    assert!(token.starts_with("rbk_") && token.len() == 68, "{token:?}");
    assert_eq!(
        created.stdout,
        format!("{token}\n"),
        "only the token on stdout"
    );
    assert!(
        created.stderr.contains("shown only this once"),
        "{}",
        created.stderr
    );
    assert!(!created.stderr.contains(&token));

    let duplicate = runbook(store, &["tokens", "create", "splunk", "--role", "admin"]);
    assert_eq!(
        duplicate.code, 2,
        "{}{}",
        duplicate.stdout, duplicate.stderr
    );
    assert!(duplicate.stdout.is_empty(), "{}", duplicate.stdout);
    assert!(
        duplicate
            .stderr
            .contains("a token named splunk already exists"),
        "{}",
        duplicate.stderr
    );

    let viewer = runbook(store, &["tokens", "create", "console", "--role", "viewer"]);
    assert_eq!(viewer.code, 0, "{}", viewer.stderr);

    let listed = json(store, &["tokens", "list"]);
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["name"], "console");
    assert_eq!(listed[1]["name"], "splunk");
    assert_eq!(listed[1]["role"], "operator");
    assert_eq!(listed[1]["created_by"], "cli:alice");
    assert_eq!(listed[1]["last_used_at"], Value::Null);
    assert_eq!(listed[1]["revoked_at"], Value::Null);
    let text = serde_json::to_string(listed).expect("text");
    assert!(!text.contains(&token[4..]), "no token in the listing");

    let revoked = runbook(store, &["tokens", "revoke", "splunk"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(
        revoked.stderr.contains("revoked token splunk"),
        "{}",
        revoked.stderr
    );
    let listed = json(store, &["tokens", "list"]);
    assert!(listed[1]["revoked_at"].is_string(), "{listed}");
    assert_eq!(listed[0]["revoked_at"], Value::Null);
    let unknown = runbook(store, &["tokens", "revoke", "nobody"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no token named nobody"),
        "{}",
        unknown.stderr
    );

    let entries = json(store, &["audit"]);
    let entries = entries.as_array().expect("an array");
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["actor"].as_str().unwrap_or_default(),
                entry["action"].as_str().unwrap_or_default(),
                entry["target"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cli:alice", "token.revoked", "splunk"),
            ("cli:alice", "token.created", "console"),
            ("cli:alice", "token.created", "splunk"),
        ]
    );
    assert_eq!(
        entries[2]["detail"],
        serde_json::json!({"role": "operator"})
    );
    assert_eq!(entries[2]["remote_addr"], Value::Null);

    let limited = json(store, &["audit", "--limit", "1"]);
    assert_eq!(limited.as_array().map(Vec::len), Some(1));
    assert_eq!(limited[0]["action"], "token.revoked");
    let by_action = json(
        store,
        &["audit", "--action", "token.created", "--since", "1h"],
    );
    assert_eq!(by_action.as_array().map(Vec::len), Some(2), "{by_action}");
    let nobody = json(store, &["audit", "--actor", "splunk"]);
    assert_eq!(nobody, serde_json::json!([]));
    let future = json(store, &["audit", "--since", "2999-01-01"]);
    assert_eq!(future, serde_json::json!([]));

    let human = runbook(store, &["audit"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("token.revoked"), "{}", human.stdout);
    let human = runbook(store, &["tokens", "list"]);
    assert!(human.stdout.contains("operator"), "{}", human.stdout);
}

#[test]
fn tokens_and_audit_through_the_binary_on_sqlite() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    tokens_and_audit_round_trip(&store);
    // The token is nowhere in the database's files.
    let created = runbook(&store, &["tokens", "create", "hidden", "--role", "admin"]);
    let token = created.stdout.trim().to_owned();
    for file in std::fs::read_dir(folder.path()).expect("the folder") {
        let bytes = std::fs::read(file.expect("an entry").path()).expect("a file");
        assert!(!String::from_utf8_lossy(&bytes).contains(&token[4..]));
    }
}

#[test]
fn tokens_and_audit_through_the_binary_on_postgres() {
    let Some(database) = PostgresDatabase::create() else {
        return;
    };
    tokens_and_audit_round_trip(&database.url);
}

#[test]
fn bad_names_roles_and_times_are_usage_errors() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = format!("sqlite://{}", folder.path().join("runs.db").display());
    let bad_name = runbook(&store, &["tokens", "create", "cli:bob", "--role", "admin"]);
    assert_eq!(bad_name.code, 2);
    assert!(
        bad_name.stderr.contains("is not a token name"),
        "{}",
        bad_name.stderr
    );
    let bad_role = runbook(&store, &["tokens", "create", "x", "--role", "root"]);
    assert_eq!(bad_role.code, 2);
    assert!(bad_role.stderr.contains("viewer"), "{}", bad_role.stderr);
    let bad_since = runbook(&store, &["audit", "--since", "yesterday"]);
    assert_eq!(bad_since.code, 2);
    assert!(
        bad_since.stderr.contains("`yesterday`"),
        "{}",
        bad_since.stderr
    );
    let none = runbook("none", &["tokens", "list"]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(json(&store, &["tokens", "list"]) == serde_json::json!([]));
}

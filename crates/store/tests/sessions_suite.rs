//! Web console sessions, on SQLite and PostgreSQL (see store_suite.rs for how the backends are
//! chosen): made from a token, acting as it, ended by signing out, by expiry and by revoking
//! the token; only hashes stored; signing in and out audited.

#[macro_use]
mod common;

use std::time::Duration;

use runbook_store::auth::{Role, token_hash};
use runbook_store::{Actor, AuditFilter, SqlStore, TokenCreated, VerifiedToken};

backend_tests!(
    a_session_acts_as_its_token_until_signed_out,
    a_revoked_token_ends_its_sessions_and_makes_none,
    an_expired_session_is_refused_and_deleted_at_the_next_sign_in,
    only_the_hash_of_a_session_id_is_stored,
);

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
}

async fn token(store: &SqlStore, name: &str, role: Role) -> String {
    match store
        .create_token(name, role, &Actor::cli("cli:alice"))
        .await
        .expect("create_token")
    {
        TokenCreated::Created(token) => token,
        TokenCreated::NameTaken => panic!("token {name} already exists"),
    }
}

const HOUR: Duration = Duration::from_secs(3600);

async fn a_session_acts_as_its_token_until_signed_out(url: &str) {
    let store = open(url).await;
    let token = token(&store, "lead", Role::Approver).await;
    let session = store
        .create_session(&token, HOUR, Some("10.0.0.7:5000".to_owned()))
        .await
        .expect("create_session")
        .expect("a session");
    assert!(
        session.id.starts_with("rbs_") && session.id.len() == 68,
        "{}",
        session.id
    );
    assert_ne!(session.id, token);
    let lead = VerifiedToken {
        name: "lead".to_owned(),
        role: Role::Approver,
    };
    assert_eq!(session.token, lead);
    assert_eq!(
        store.verify_session(&session.id).await.expect("verify"),
        Some(lead.clone())
    );
    // A token is not a session id, nor a session id a token.
    assert_eq!(store.verify_session(&token).await.expect("verify"), None);
    assert_eq!(store.verify_token(&session.id).await.expect("verify"), None);

    let actor = Actor {
        name: "lead".to_owned(),
        address: Some("10.0.0.7:5000".to_owned()),
    };
    assert!(store.end_session(&session.id, &actor).await.expect("end"));
    assert!(!store.end_session(&session.id, &actor).await.expect("again"));
    assert_eq!(
        store.verify_session(&session.id).await.expect("verify"),
        None
    );

    let audit = store
        .list_audit(&AuditFilter::default())
        .await
        .expect("audit");
    let actions: Vec<_> = audit
        .iter()
        .map(|entry| (entry.action.as_str(), entry.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("console.signed_out", "lead"),
            ("console.signed_in", "lead"),
            ("token.created", "cli:alice"),
        ]
    );
    assert_eq!(audit[1].remote_addr.as_deref(), Some("10.0.0.7:5000"));
}

async fn a_revoked_token_ends_its_sessions_and_makes_none(url: &str) {
    let store = open(url).await;
    let token = token(&store, "viewer", Role::Viewer).await;
    let session = store
        .create_session(&token, HOUR, None)
        .await
        .expect("create_session")
        .expect("a session");
    store
        .revoke_token("viewer", &Actor::cli("cli:alice"))
        .await
        .expect("revoke");
    assert_eq!(
        store.verify_session(&session.id).await.expect("verify"),
        None
    );
    assert_eq!(
        store
            .create_session(&token, HOUR, None)
            .await
            .expect("create"),
        None
    );
    let wrong = format!("rbk_{}", "0".repeat(64));
    assert_eq!(
        store
            .create_session(&wrong, HOUR, None)
            .await
            .expect("create"),
        None
    );
    assert_eq!(
        store.verify_session("rbs_short").await.expect("verify"),
        None
    );
}

async fn an_expired_session_is_refused_and_deleted_at_the_next_sign_in(url: &str) {
    let store = open(url).await;
    let token = token(&store, "operator", Role::Operator).await;
    let brief = store
        .create_session(&token, Duration::from_millis(1), None)
        .await
        .expect("create_session")
        .expect("a session");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.verify_session(&brief.id).await.expect("verify"), None);
    let lasting = store
        .create_session(&token, HOUR, None)
        .await
        .expect("create_session")
        .expect("a session");
    assert!(
        store
            .verify_session(&lasting.id)
            .await
            .expect("verify")
            .is_some()
    );
    // The expired one was deleted: ending it finds nothing.
    assert!(
        !store
            .end_session(&brief.id, &Actor::cli("operator"))
            .await
            .expect("end")
    );
}

async fn only_the_hash_of_a_session_id_is_stored(url: &str) {
    let store = open(url).await;
    let token = token(&store, "admin", Role::Admin).await;
    let session = store
        .create_session(&token, HOUR, None)
        .await
        .expect("create_session")
        .expect("a session");
    let stored: Vec<(String, String)> =
        common::rows(url, "SELECT session_hash, token_name FROM console_sessions").await;
    assert_eq!(stored, [(token_hash(&session.id), "admin".to_owned())]);
}

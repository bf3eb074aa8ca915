//! API tokens and the audit log, on SQLite and PostgreSQL (see store_suite.rs for how the
//! backends are chosen).

#[macro_use]
mod common;

use runbook_store::auth::{Role, token_hash};
use runbook_store::{
    Actor, AuditFilter, NewAuditEntry, SqlStore, TokenCreated, TokenRevoked, VerifiedToken,
};
use serde_json::json;

backend_tests!(
    a_token_is_created_listed_verified_and_revoked,
    only_the_hash_of_a_token_is_stored,
    wrong_malformed_and_revoked_tokens_are_refused,
    a_name_is_never_given_to_a_second_token,
    creating_and_revoking_tokens_is_audited,
    the_audit_log_is_listed_newest_first_with_filters,
);

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
}

fn alice() -> Actor {
    Actor::cli("cli:alice")
}

async fn create(store: &SqlStore, name: &str, role: Role) -> String {
    match store
        .create_token(name, role, &alice())
        .await
        .expect("create_token")
    {
        TokenCreated::Created(token) => token,
        TokenCreated::NameTaken => panic!("token {name} already exists"),
    }
}

async fn a_token_is_created_listed_verified_and_revoked(url: &str) {
    let store = open(url).await;
    let token = create(&store, "splunk", Role::Operator).await;
    let other = create(&store, "console", Role::Viewer).await;
    assert_ne!(token, other);

    let listed = store.list_tokens().await.expect("list_tokens");
    let names: Vec<_> = listed.iter().map(|token| token.name.as_str()).collect();
    assert_eq!(names, ["console", "splunk"]);
    assert_eq!(listed[1].role, Role::Operator);
    assert_eq!(listed[1].created_by, "cli:alice");
    assert_eq!(listed[1].last_used_at, None);
    assert_eq!(listed[1].revoked_at, None);

    let verified = store.verify_token(&token).await.expect("verify_token");
    assert_eq!(
        verified,
        Some(VerifiedToken {
            name: "splunk".into(),
            role: Role::Operator
        })
    );
    let listed = store.list_tokens().await.expect("list_tokens");
    let used = listed[1].last_used_at.clone().expect("its use is recorded");
    assert!(listed[0].last_used_at.is_none());
    // A second use within the minute writes nothing.
    store.verify_token(&token).await.expect("verify_token");
    let listed = store.list_tokens().await.expect("list_tokens");
    assert_eq!(listed[1].last_used_at.as_deref(), Some(used.as_str()));

    assert_eq!(
        store
            .revoke_token("splunk", &alice())
            .await
            .expect("revoke"),
        TokenRevoked::Revoked
    );
    assert_eq!(store.verify_token(&token).await.expect("verify"), None);
    let listed = store.list_tokens().await.expect("list_tokens");
    let revoked_at = listed[1].revoked_at.clone().expect("revoked");
    assert_eq!(
        store.revoke_token("splunk", &alice()).await.expect("again"),
        TokenRevoked::AlreadyRevoked(revoked_at)
    );
    assert_eq!(
        store.revoke_token("nobody", &alice()).await.expect("none"),
        TokenRevoked::NotFound
    );
    // The other token is untouched.
    assert!(store.verify_token(&other).await.expect("verify").is_some());
    store.close().await;
}

async fn only_the_hash_of_a_token_is_stored(url: &str) {
    let store = open(url).await;
    let token = create(&store, "splunk", Role::Admin).await;
    let random_part = token.strip_prefix("rbk_").expect("the prefix").to_owned();
    let stored: Vec<(String, String)> =
        common::rows(url, "SELECT name, token_hash FROM api_tokens").await;
    assert_eq!(stored, [("splunk".to_owned(), token_hash(&token))]);
    store.close().await;

    if let Some(path) = url.strip_prefix("sqlite://") {
        // Every byte the database wrote (the file and its write-ahead log, if any).
        let folder = std::path::Path::new(path).parent().expect("a folder");
        let mut checked = 0;
        for file in std::fs::read_dir(folder).expect("the folder") {
            let bytes = std::fs::read(file.expect("an entry").path()).expect("a file");
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(&random_part),
                "the token is in the database file"
            );
            checked += usize::from(text.contains(&token_hash(&token)));
        }
        assert!(checked > 0, "the hash is in the database file");
    } else {
        let texts: Vec<(String, String)> = common::rows(
            url,
            "SELECT name || role || token_hash || created_at || created_by, \
             action || COALESCE(target, '') || detail FROM api_tokens, audit_log",
        )
        .await;
        assert!(!texts.is_empty());
        for (token_row, audit_row) in texts {
            assert!(!token_row.contains(&random_part), "{token_row}");
            assert!(!audit_row.contains(&random_part), "{audit_row}");
        }
    }
}

/// Rows of two text columns, read with a connection of its own.
async fn wrong_malformed_and_revoked_tokens_are_refused(url: &str) {
    let store = open(url).await;
    let token = create(&store, "splunk", Role::Approver).await;
    let mut wrong = token.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("ascii");
    for presented in [
        wrong.as_str(),
        &token[..token.len() - 1],
        &format!("{token} "),
        &token.to_uppercase(),
        &token_hash(&token),
        "",
    ] {
        assert_eq!(
            store.verify_token(presented).await.expect("verify"),
            None,
            "{presented:?} is refused"
        );
    }
    assert!(store.verify_token(&token).await.expect("verify").is_some());
    store
        .revoke_token("splunk", &alice())
        .await
        .expect("revoke");
    assert_eq!(store.verify_token(&token).await.expect("verify"), None);
    store.close().await;
}

async fn a_name_is_never_given_to_a_second_token(url: &str) {
    let store = open(url).await;
    let token = create(&store, "splunk", Role::Viewer).await;
    let again = store
        .create_token("splunk", Role::Admin, &alice())
        .await
        .expect("create_token");
    assert_eq!(again, TokenCreated::NameTaken);
    store
        .revoke_token("splunk", &alice())
        .await
        .expect("revoke");
    let after_revoke = store
        .create_token("splunk", Role::Admin, &alice())
        .await
        .expect("create_token");
    assert_eq!(after_revoke, TokenCreated::NameTaken);
    let listed = store.list_tokens().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role, Role::Viewer);
    assert_eq!(store.verify_token(&token).await.expect("verify"), None);
    // Only the first creation and the revocation were audited.
    let actions: Vec<_> = store
        .list_audit(&AuditFilter::default())
        .await
        .expect("list_audit")
        .into_iter()
        .map(|entry| entry.action)
        .collect();
    assert_eq!(actions, ["token.revoked", "token.created"]);
    store.close().await;
}

async fn creating_and_revoking_tokens_is_audited(url: &str) {
    let store = open(url).await;
    let admin = Actor {
        name: "root-token".into(),
        address: Some("203.0.113.7:51234".into()),
    };
    store
        .create_token("splunk", Role::Operator, &admin)
        .await
        .expect("create");
    store
        .revoke_token("splunk", &alice())
        .await
        .expect("revoke");
    store
        .revoke_token("splunk", &alice())
        .await
        .expect("revoke again");
    let entries = store
        .list_audit(&AuditFilter::default())
        .await
        .expect("list_audit");
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (revoked, created) = (&entries[0], &entries[1]);
    assert!(revoked.id > created.id);
    assert!(revoked.at >= created.at);
    assert_eq!(created.actor, "root-token");
    assert_eq!(created.action, "token.created");
    assert_eq!(created.target.as_deref(), Some("splunk"));
    assert_eq!(created.detail, json!({"role": "operator"}));
    assert_eq!(created.remote_addr.as_deref(), Some("203.0.113.7:51234"));
    assert_eq!(revoked.actor, "cli:alice");
    assert_eq!(revoked.action, "token.revoked");
    assert_eq!(revoked.remote_addr, None);
    store.close().await;
}

async fn the_audit_log_is_listed_newest_first_with_filters(url: &str) {
    let store = open(url).await;
    for (actor, action, target) in [
        ("splunk", "webhook.accepted", "splunk-suspect-host"),
        (
            "console",
            "run.started",
            "0193a1b2-0000-7000-8000-000000000001",
        ),
        ("splunk", "webhook.refused", "splunk-suspect-host"),
        (
            "console",
            "run.cancelled",
            "0193a1b2-0000-7000-8000-000000000001",
        ),
    ] {
        store
            .append_audit(&NewAuditEntry {
                actor: Actor {
                    name: actor.into(),
                    address: Some("198.51.100.2:40000".into()),
                },
                action: action.into(),
                target: Some(target.into()),
                detail: json!({"why": action}),
            })
            .await
            .expect("append_audit");
    }
    let all = store
        .list_audit(&AuditFilter::default())
        .await
        .expect("all");
    let actions: Vec<_> = all.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "run.cancelled",
            "webhook.refused",
            "run.started",
            "webhook.accepted"
        ]
    );
    assert_eq!(all[0].detail, json!({"why": "run.cancelled"}));

    let by_actor = store
        .list_audit(&AuditFilter {
            actor: Some("splunk".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("by actor");
    let actions: Vec<_> = by_actor.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, ["webhook.refused", "webhook.accepted"]);

    let by_action = store
        .list_audit(&AuditFilter {
            action: Some("run.started".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("by action");
    assert_eq!(by_action.len(), 1);
    assert_eq!(by_action[0].actor, "console");

    let limited = store
        .list_audit(&AuditFilter {
            limit: Some(2),
            ..AuditFilter::default()
        })
        .await
        .expect("limited");
    assert_eq!(limited, all[..2]);

    let since_third = store
        .list_audit(&AuditFilter {
            since: Some(all[1].at.clone()),
            ..AuditFilter::default()
        })
        .await
        .expect("since");
    assert!(since_third.iter().all(|entry| entry.at >= all[1].at));
    assert!(since_third.len() >= 2);
    let future = store
        .list_audit(&AuditFilter {
            since: Some("2999-01-01T00:00:00.000000Z".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("future");
    assert!(future.is_empty());
    store.close().await;
}

//! Tests of `approvals`.

use super::*;

#[test]
fn a_run_starter_is_recognised_whatever_kind_of_name_started_it() {
    assert!(is_self_approval("alice", "api:alice"));
    assert!(is_self_approval("alice", "hook:alice"));
    assert!(is_self_approval("cli:alice", "enqueue:alice"));
    assert!(is_self_approval("alice", "alice"));
    assert!(!is_self_approval("bob", "api:alice"));
    assert!(!is_self_approval("alice", "api:alice-bot"));
    assert!(!is_self_approval("bob", "cli"));
}

#[test]
fn approvers_name_deciders_or_their_roles_and_only_deciding_roles_decide() {
    let alice = Decider {
        name: "alice".into(),
        role: Role::Approver,
    };
    assert!(is_allowed(&alice, &[]));
    assert!(is_allowed(&alice, &["alice".into()]));
    assert!(is_allowed(&alice, &["approver".into()]));
    assert!(!is_allowed(&alice, &["bob".into(), "admin".into()]));
    let viewer = Decider {
        name: "alice".into(),
        role: Role::Viewer,
    };
    assert!(!is_allowed(&viewer, &[]));
    assert!(!is_allowed(&viewer, &["alice".into()]));
}

/// A store in a temporary folder with a run started by alice, waiting at `review`.
async fn waiting(folder: &tempfile::TempDir) -> (SqlStore, String) {
    use runbook_engine::{NewRun, Store};
    let url = format!("sqlite://{}", folder.path().join("runs.db").display());
    let store = SqlStore::open(&url).await.expect("a store");
    let run_id = "01a2373a-0000-7000-8000-000000000001".to_owned();
    store
        .create_run(&NewRun {
            run_id: run_id.clone(),
            playbook_name: "gated".into(),
            playbook_source: "name: gated\nsteps: []\n".into(),
            playbook_hash: "00".repeat(32),
            playbook_path: None,
            inputs: json!({}),
            started_by: "cli:alice".into(),
            claimed_by: None,
        })
        .await
        .expect("a run");
    let asked = store
        .request_approval(&NewApproval {
            run_id: run_id.clone(),
            step_id: "review".into(),
            summary: "Tag WIN-DC01".into(),
            detail: json!({}),
            approvers: Vec::new(),
            required: 1,
            requested_by: "cli:alice".into(),
            expires_at: "2999-01-01T00:00:00.000000Z".into(),
        })
        .await
        .expect("an approval");
    assert!(asked);
    (store, run_id)
}

#[tokio::test]
async fn the_gate_of_a_cancelled_run_is_not_listed_nor_decided() {
    let folder = tempfile::tempdir().expect("a folder");
    let (store, run_id) = waiting(&folder).await;
    let bob = Decider {
        name: "bob".into(),
        role: Role::Approver,
    };
    assert_eq!(store.pending_approvals().await.expect("listed").len(), 1);
    store.cancel_run(&run_id).await.expect("cancelled");
    assert!(
        store.pending_approvals().await.expect("listed").is_empty(),
        "nobody is asked to decide for a run that ended"
    );
    let decided = store
        .decide_approval(
            &run_id,
            "review",
            &bob,
            Decision::Approve,
            Some("late"),
            &Actor::cli("cli:bob"),
        )
        .await
        .expect("decided");
    assert_eq!(decided, Decided::NotPending(ApprovalStatus::Expired));
    let stored = store
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(stored.status, ApprovalStatus::Expired);
    assert!(stored.decisions.is_empty(), "nothing recorded");
    let audited = store
        .list_audit(&crate::AuditFilter::default())
        .await
        .expect("the audit log");
    assert!(audited.is_empty(), "a refusal is not audited: {audited:?}");
    store.close().await;
}

#[tokio::test]
async fn the_gate_of_a_run_that_goes_on_is_listed_and_decided() {
    let folder = tempfile::tempdir().expect("a folder");
    let (store, run_id) = waiting(&folder).await;
    let bob = Decider {
        name: "bob".into(),
        role: Role::Approver,
    };
    let decided = store
        .decide_approval(
            &run_id,
            "review",
            &bob,
            Decision::Approve,
            None,
            &Actor::cli("cli:bob"),
        )
        .await
        .expect("decided");
    assert_eq!(
        decided,
        Decided::Recorded {
            status: ApprovalStatus::Approved
        }
    );
    store.close().await;
}

#[test]
fn statuses_and_decisions_round_trip_through_their_names() {
    for status in [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Denied,
        ApprovalStatus::Expired,
    ] {
        assert_eq!(ApprovalStatus::parse(status.as_str()), Some(status));
    }
    for decision in [Decision::Approve, Decision::Deny] {
        assert_eq!(Decision::parse(decision.as_str()), Some(decision));
    }
    assert_eq!(ApprovalStatus::parse("Pending"), None);
}

//! runbook's own approvals (request, list, decide, expire), on SQLite and PostgreSQL (see
//! store_suite.rs for how the backends are chosen).

#[macro_use]
mod common;

use std::sync::Arc;

use common::{new_run, new_run_id};
use runbook_engine::Store;
use runbook_store::{
    Actor, ApprovalStatus, AuditFilter, Decided, Decider, Decision, NewApproval, Role, SqlStore,
};
use serde_json::json;

backend_tests!(
    an_approval_is_requested_once_and_read_back,
    one_denial_ends_an_approval_and_is_audited,
    distinct_approvals_reach_the_required_count,
    who_may_decide_is_checked_before_anything_is_written,
    an_approval_past_its_time_expires,
    racing_approvers_are_counted_once_each,
    a_parked_run_waits_for_a_decision_or_its_deadline,
    ended_approvals_are_listed_newest_first_with_their_decisions,
);

const LATER: &str = "2999-01-01T00:00:00.000000Z";
const PAST: &str = "2000-01-01T00:00:00.000000Z";

async fn open(url: &str) -> SqlStore {
    SqlStore::open(url)
        .await
        .unwrap_or_else(|error| panic!("opening {url}: {error}"))
}

/// A run started by `started_by`, waiting at an approval of step `review`.
async fn waiting_run(
    store: &SqlStore,
    started_by: &str,
    approvers: &[&str],
    required: u32,
) -> String {
    waiting_run_until(store, started_by, approvers, required, LATER).await
}

async fn waiting_run_until(
    store: &SqlStore,
    started_by: &str,
    approvers: &[&str],
    required: u32,
    expires_at: &str,
) -> String {
    let run_id = new_run_id();
    let mut run = new_run(&run_id, "tag-suspect-host");
    run.started_by = started_by.to_owned();
    store.create_run(&run).await.expect("create_run");
    let requested = store
        .request_approval(&approval(
            &run_id, started_by, approvers, required, expires_at,
        ))
        .await
        .expect("request_approval");
    assert!(requested);
    run_id
}

fn approval(
    run_id: &str,
    requested_by: &str,
    approvers: &[&str],
    required: u32,
    expires_at: &str,
) -> NewApproval {
    NewApproval {
        run_id: run_id.to_owned(),
        step_id: "review".to_owned(),
        summary: "Tag 3 hosts with IR-suspect".to_owned(),
        detail: json!({"package": "Custom Tagging - Add Tags", "targets": 3}),
        approvers: approvers.iter().map(|name| (*name).to_owned()).collect(),
        required,
        requested_by: requested_by.to_owned(),
        expires_at: expires_at.to_owned(),
    }
}

fn decider(name: &str, role: Role) -> Decider {
    Decider {
        name: name.to_owned(),
        role,
    }
}

async fn decide(
    store: &SqlStore,
    run_id: &str,
    who: &Decider,
    decision: Decision,
    comment: Option<&str>,
) -> Decided {
    let actor = Actor {
        name: who.name.clone(),
        address: Some("203.0.113.7:51234".to_owned()),
    };
    store
        .decide_approval(run_id, "review", who, decision, comment, &actor)
        .await
        .expect("decide_approval")
}

async fn decided_entries(store: &SqlStore) -> Vec<runbook_store::AuditEntry> {
    store
        .list_audit(&AuditFilter {
            action: Some("approval.decided".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("list_audit")
}

async fn an_approval_is_requested_once_and_read_back(url: &str) {
    let store = open(url).await;
    let run_id = waiting_run(&store, "api:alice", &["bob", "approver"], 2).await;
    // A resumed step asks again: the first request stands.
    let again = store
        .request_approval(&NewApproval {
            summary: "something else".into(),
            required: 5,
            ..approval(&run_id, "api:alice", &[], 1, PAST)
        })
        .await
        .expect("request again");
    assert!(!again);

    let stored = store
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(stored.summary, "Tag 3 hosts with IR-suspect");
    assert_eq!(stored.detail["targets"], 3);
    assert_eq!(stored.approvers, ["bob", "approver"]);
    assert_eq!(stored.required, 2);
    assert_eq!(stored.requested_by, "api:alice");
    assert_eq!(stored.expires_at, LATER);
    assert_eq!(stored.status, ApprovalStatus::Pending);
    assert_eq!(stored.decided_at, None);
    assert!(stored.decisions.is_empty());
    assert!(!stored.requested_at.is_empty());

    let other = waiting_run(&store, "cli:carol", &[], 1).await;
    let pending = store.pending_approvals().await.expect("pending");
    let runs: Vec<&str> = pending.iter().map(|gate| gate.run_id.as_str()).collect();
    assert_eq!(runs, [run_id.as_str(), other.as_str()], "oldest first");
    assert_eq!(pending[0], stored);

    assert_eq!(store.approval(&run_id, "other").await.expect("read"), None);
    let error = store
        .request_approval(&approval(&new_run_id(), "api:alice", &[], 1, LATER))
        .await
        .expect_err("no such run");
    assert!(error.to_string().contains("not recorded"), "{error}");
    store.close().await;
}

async fn one_denial_ends_an_approval_and_is_audited(url: &str) {
    let store = open(url).await;
    let run_id = waiting_run(&store, "api:alice", &[], 2).await;
    let bob = decider("bob", Role::Approver);
    assert_eq!(
        decide(&store, &run_id, &bob, Decision::Approve, None).await,
        Decided::Recorded {
            status: ApprovalStatus::Pending
        }
    );
    let carol = decider("carol", Role::Admin);
    assert_eq!(
        decide(&store, &run_id, &carol, Decision::Deny, Some("wrong hosts")).await,
        Decided::Recorded {
            status: ApprovalStatus::Denied
        }
    );
    let dave = decider("dave", Role::Approver);
    assert_eq!(
        decide(&store, &run_id, &dave, Decision::Approve, None).await,
        Decided::NotPending(ApprovalStatus::Denied)
    );

    let stored = store
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(stored.status, ApprovalStatus::Denied);
    assert!(stored.decided_at.is_some());
    let decisions: Vec<(&str, Decision, Option<&str>)> = stored
        .decisions
        .iter()
        .map(|made| {
            (
                made.decided_by.as_str(),
                made.decision,
                made.comment.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("bob", Decision::Approve, None),
            ("carol", Decision::Deny, Some("wrong hosts"))
        ]
    );
    assert!(store.pending_approvals().await.expect("pending").is_empty());

    let audited = decided_entries(&store).await;
    assert_eq!(audited.len(), 2, "two decisions recorded, the refusal not");
    let denial = &audited[0];
    assert_eq!(denial.actor, "carol");
    assert_eq!(
        denial.target.as_deref(),
        Some(format!("{run_id}/review").as_str())
    );
    assert_eq!(denial.remote_addr.as_deref(), Some("203.0.113.7:51234"));
    assert_eq!(denial.detail["decision"], "deny");
    assert_eq!(denial.detail["status"], "denied");
    assert_eq!(denial.detail["comment"], "wrong hosts");
    assert_eq!(denial.detail["role"], "admin");
    store.close().await;
}

async fn distinct_approvals_reach_the_required_count(url: &str) {
    let store = open(url).await;
    let run_id = waiting_run(&store, "hook:splunk", &[], 2).await;
    let bob = decider("bob", Role::Approver);
    assert_eq!(
        decide(
            &store,
            &run_id,
            &bob,
            Decision::Approve,
            Some("looks right")
        )
        .await,
        Decided::Recorded {
            status: ApprovalStatus::Pending
        }
    );
    // Twice the same approver is one approval.
    assert_eq!(
        decide(&store, &run_id, &bob, Decision::Approve, None).await,
        Decided::AlreadyDecided
    );
    assert_eq!(
        decide(&store, &run_id, &bob, Decision::Deny, None).await,
        Decided::AlreadyDecided
    );
    let pending = store.pending_approvals().await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].decisions.len(), 1);
    assert_eq!(
        pending[0].decisions[0].comment.as_deref(),
        Some("looks right")
    );

    let carol = decider("carol", Role::Approver);
    assert_eq!(
        decide(&store, &run_id, &carol, Decision::Approve, None).await,
        Decided::Recorded {
            status: ApprovalStatus::Approved
        }
    );
    let dave = decider("dave", Role::Approver);
    assert_eq!(
        decide(&store, &run_id, &dave, Decision::Approve, None).await,
        Decided::NotPending(ApprovalStatus::Approved)
    );
    let stored = store
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(stored.status, ApprovalStatus::Approved);
    assert_eq!(stored.decisions.len(), 2);
    assert!(stored.decided_at.is_some());
    assert!(store.pending_approvals().await.expect("pending").is_empty());
    assert_eq!(decided_entries(&store).await.len(), 2);
    // Expiring a decided approval changes nothing.
    assert!(
        !store
            .expire_approval(&run_id, "review")
            .await
            .expect("expire")
    );
    store.close().await;
}

async fn who_may_decide_is_checked_before_anything_is_written(url: &str) {
    let store = open(url).await;
    let run_id = waiting_run(&store, "api:alice", &["bob", "admin"], 1).await;
    // The one who started the run, by token name or any other kind of name.
    for name in ["alice", "api:alice", "cli:alice"] {
        assert_eq!(
            decide(
                &store,
                &run_id,
                &decider(name, Role::Admin),
                Decision::Approve,
                None
            )
            .await,
            Decided::SelfApproval,
            "{name}"
        );
    }
    // Neither named nor of a named role.
    assert_eq!(
        decide(
            &store,
            &run_id,
            &decider("carol", Role::Approver),
            Decision::Approve,
            None
        )
        .await,
        Decided::NotAllowed
    );
    // A role that does not decide approvals, even when named.
    let open_run = waiting_run(&store, "api:alice", &[], 1).await;
    assert_eq!(
        decide(
            &store,
            &open_run,
            &decider("eve", Role::Viewer),
            Decision::Approve,
            None
        )
        .await,
        Decided::NotAllowed
    );
    assert_eq!(
        decide(
            &store,
            &open_run,
            &decider("olga", Role::Operator),
            Decision::Deny,
            None
        )
        .await,
        Decided::NotAllowed
    );
    assert_eq!(
        decide(
            &store,
            &new_run_id(),
            &decider("bob", Role::Approver),
            Decision::Approve,
            None
        )
        .await,
        Decided::NotFound
    );
    let untouched = store
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(untouched.status, ApprovalStatus::Pending);
    assert!(untouched.decisions.is_empty());
    assert!(
        decided_entries(&store).await.is_empty(),
        "refusals are not audited"
    );

    // Named by role, and named by name.
    assert_eq!(
        decide(
            &store,
            &run_id,
            &decider("dave", Role::Admin),
            Decision::Approve,
            None
        )
        .await,
        Decided::Recorded {
            status: ApprovalStatus::Approved
        }
    );
    let named = waiting_run(&store, "api:alice", &["bob"], 1).await;
    assert_eq!(
        decide(
            &store,
            &named,
            &decider("bob", Role::Approver),
            Decision::Approve,
            None
        )
        .await,
        Decided::Recorded {
            status: ApprovalStatus::Approved
        }
    );
    store.close().await;
}

async fn an_approval_past_its_time_expires(url: &str) {
    let store = open(url).await;
    // The step's timeout ends a gate nobody decided.
    let run_id = waiting_run(&store, "api:alice", &[], 1).await;
    assert!(
        store
            .expire_approval(&run_id, "review")
            .await
            .expect("expire")
    );
    assert!(
        !store
            .expire_approval(&run_id, "review")
            .await
            .expect("again")
    );
    assert!(
        !store
            .expire_approval(&new_run_id(), "review")
            .await
            .expect("none")
    );
    let stored = store
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(stored.status, ApprovalStatus::Expired);
    assert!(stored.decided_at.is_some());
    let bob = decider("bob", Role::Approver);
    assert_eq!(
        decide(&store, &run_id, &bob, Decision::Approve, None).await,
        Decided::NotPending(ApprovalStatus::Expired)
    );

    // A gate past its time is neither listed nor decided, and is marked expired when tried.
    let late = waiting_run_until(&store, "api:alice", &[], 1, PAST).await;
    assert!(store.pending_approvals().await.expect("pending").is_empty());
    assert_eq!(
        decide(&store, &late, &bob, Decision::Approve, None).await,
        Decided::NotPending(ApprovalStatus::Expired)
    );
    let stored = store
        .approval(&late, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(stored.status, ApprovalStatus::Expired);
    assert!(stored.decisions.is_empty());
    assert!(decided_entries(&store).await.is_empty());
    store.close().await;
}

async fn racing_approvers_are_counted_once_each(url: &str) {
    const APPROVERS: usize = 8;
    const REQUIRED: u32 = 3;
    let mut stores = Vec::new();
    for _ in 0..2 {
        stores.push(Arc::new(open(url).await));
    }
    let run_id = waiting_run(&stores[0], "api:alice", &[], REQUIRED).await;
    let start = Arc::new(tokio::sync::Barrier::new(APPROVERS));
    let mut handles = Vec::new();
    for index in 0..APPROVERS {
        let store = stores[index % stores.len()].clone();
        let start = start.clone();
        let run_id = run_id.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            let who = decider(&format!("approver-{index}"), Role::Approver);
            decide(&store, &run_id, &who, Decision::Approve, None).await
        }));
    }
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.expect("an approver ran"));
    }
    let count = |wanted: &Decided| outcomes.iter().filter(|outcome| *outcome == wanted).count();
    assert_eq!(
        count(&Decided::Recorded {
            status: ApprovalStatus::Pending
        }),
        REQUIRED as usize - 1,
        "{outcomes:?}"
    );
    assert_eq!(
        count(&Decided::Recorded {
            status: ApprovalStatus::Approved
        }),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        count(&Decided::NotPending(ApprovalStatus::Approved)),
        APPROVERS - REQUIRED as usize,
        "{outcomes:?}"
    );
    let stored = stores[0]
        .approval(&run_id, "review")
        .await
        .expect("read")
        .expect("requested");
    assert_eq!(stored.status, ApprovalStatus::Approved);
    assert_eq!(stored.decisions.len(), REQUIRED as usize);
    assert_eq!(decided_entries(&stores[0]).await.len(), REQUIRED as usize);
    for store in stores {
        store.close().await;
    }
}

/// A run parked at its gate is not claimed (it holds no worker) until the decision that
/// settles the gate wakes it; a run parked until a time past is claimable again.
async fn a_parked_run_waits_for_a_decision_or_its_deadline(url: &str) {
    let store = open(url).await;
    let stale = std::time::Duration::from_secs(30);
    let run_id = new_run_id();
    let mut run = new_run(&run_id, "gated");
    run.started_by = "api:alice".to_owned();
    store.enqueue(&run, None, None).await.expect("enqueue");
    let claimed = store
        .claim_next("worker-1", stale)
        .await
        .expect("claim")
        .expect("the queued run");
    let fence = runbook_store::Fence {
        holder: "worker-1".to_owned(),
        epoch: claimed.epoch,
    };
    store
        .request_approval(&approval(&run_id, "api:alice", &[], 1, LATER))
        .await
        .expect("request_approval");
    assert!(
        store
            .park_claim(&run_id, &fence, LATER)
            .await
            .expect("park")
    );
    assert_eq!(
        store.queue_depth().await.expect("depth"),
        0,
        "parked runs wait for people"
    );
    assert!(
        store
            .claim_next("worker-2", stale)
            .await
            .expect("claim")
            .is_none(),
        "a parked run is not claimed"
    );
    // A second approval needed would keep it parked; one settles the gate and wakes it.
    let decided = decide(
        &store,
        &run_id,
        &decider("bob", Role::Approver),
        Decision::Approve,
        None,
    )
    .await;
    assert_eq!(
        decided,
        Decided::Recorded {
            status: ApprovalStatus::Approved
        }
    );
    let woken = store
        .claim_next("worker-2", stale)
        .await
        .expect("claim")
        .expect("woken by the decision");
    assert_eq!(woken.record.run_id, run_id);

    // Parked until a time that has passed: claimable again (the step then finds its gate
    // expired).
    let other = new_run_id();
    store
        .enqueue(&new_run(&other, "gated"), None, None)
        .await
        .expect("enqueue");
    let claimed = store
        .claim_next("worker-3", stale)
        .await
        .expect("claim")
        .expect("the other run");
    let fence = runbook_store::Fence {
        holder: "worker-3".to_owned(),
        epoch: claimed.epoch,
    };
    assert!(store.park_claim(&other, &fence, PAST).await.expect("park"));
    let again = store
        .claim_next("worker-4", stale)
        .await
        .expect("claim")
        .expect("its deadline passed");
    assert_eq!(again.record.run_id, other);
}

async fn ended_approvals_are_listed_newest_first_with_their_decisions(url: &str) {
    let store = open(url).await;
    let pending = waiting_run(&store, "api:alice", &[], 1).await;
    let denied = waiting_run(&store, "api:alice", &[], 1).await;
    let approved = waiting_run(&store, "api:alice", &[], 2).await;
    let lead = decider("lead", Role::Approver);
    let bob = decider("bob", Role::Approver);
    decide(&store, &denied, &lead, Decision::Deny, Some("not now")).await;
    decide(&store, &approved, &lead, Decision::Approve, None).await;
    decide(&store, &approved, &bob, Decision::Approve, Some("ok")).await;

    let ended = store
        .decided_approvals(10)
        .await
        .expect("decided_approvals");
    let listed: Vec<(&str, ApprovalStatus)> = ended
        .iter()
        .map(|approval| (approval.run_id.as_str(), approval.status))
        .collect();
    assert_eq!(
        listed,
        [
            (approved.as_str(), ApprovalStatus::Approved),
            (denied.as_str(), ApprovalStatus::Denied),
        ],
        "{pending} is pending and not listed"
    );
    let who: Vec<(&str, Option<&str>)> = ended[0]
        .decisions
        .iter()
        .map(|decision| (decision.decided_by.as_str(), decision.comment.as_deref()))
        .collect();
    assert_eq!(who, [("lead", None), ("bob", Some("ok"))]);
    assert!(ended[0].decided_at.is_some());
    assert_eq!(store.decided_approvals(1).await.expect("one").len(), 1);
}

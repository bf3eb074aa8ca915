//! runbook's own approvals: the gate of an `approve` step, listed by `GET /api/v1/approvals`
//! and `runbook approvals list`, decided by `POST /api/v1/approvals/{run_id}/{step_id}`,
//! `runbook approve` or the web console.
//!
//! One approval per run and step. A step asks for it ([`SqlStore::request_approval`], which
//! keeps the first request when a resumed step asks again), deciders record their decisions
//! ([`SqlStore::decide_approval`]), the step reads the outcome ([`SqlStore::approval`]) and,
//! at its timeout, ends a gate nobody decided ([`SqlStore::expire_approval`]).
//!
//! Who may decide, checked in this order by [`SqlStore::decide_approval`]:
//! - the approval exists and is `pending`, with its `expires_at` still ahead and its run not
//!   ended (`queued` or `running`): a gate past its time, or whose run was cancelled or ended
//!   otherwise while it waited, is marked `expired` then and there, and refused;
//! - the decider did not start the run ([`is_self_approval`] says how names are compared);
//! - the decider's role decides approvals ([`Role::allows`] with
//!   [`Action::DecideApproval`]), and, when the approval names approvers, the decider's name
//!   or its role's name is among them;
//! - the decider has not decided this approval before (a decision is final; two approvals
//!   by one person are not two distinct approvals).
//!
//! A recorded decision and the approval's new status land in one transaction with the audit
//! entry `approval.decided`. The transaction starts by writing the approval's row (on
//! PostgreSQL a row lock, on SQLite the writer lock), so concurrent deciders are serialised:
//! with `required: 2`, two approvers deciding at once cannot each count only their own
//! approval and leave the gate pending.

use std::collections::BTreeMap;

use runbook_engine::{ApprovalGate, GateDecision, GateState, StoreError};
use serde_json::{Value, json};

use crate::audit::{APPEND_AUDIT, Actor, NewAuditEntry, audit_binds};
use crate::auth::{Action, Role};
use crate::store::{SqlStore, json_text, now_text};

/// A gate an `approve` step asks for ([`SqlStore::request_approval`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    /// The run waiting at the gate.
    pub run_id: String,
    /// The `approve` step's id (one gate per step of a run).
    pub step_id: String,
    /// What the decider is asked, rendered by the step.
    pub summary: String,
    /// What else the decider sees (the plan of the next side-effecting step), as JSON.
    pub detail: Value,
    /// Token names and role names allowed to decide; empty: anyone whose role decides
    /// approvals.
    pub approvers: Vec<String>,
    /// Distinct approvals needed (at least 1; 0 is stored as 1).
    pub required: u32,
    /// Who started the run (its `started_by`): never allowed to decide its own gate.
    pub requested_by: String,
    /// When the gate stops taking decisions (RFC 3339 in the time columns' form): the step's
    /// deadline, kept across resumes.
    pub expires_at: String,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for decisions.
    Pending,
    /// Enough distinct approvals were recorded: the run goes on.
    Approved,
    /// Somebody denied it: one denial ends the gate.
    Denied,
    /// Nobody decided before its time: the step fails.
    Expired,
}

impl ApprovalStatus {
    /// The status as the store and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    fn parse(text: &str) -> Option<ApprovalStatus> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::Expired,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// One decider's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Counts toward the approvals `required`.
    Approve,
    /// Ends the gate at once: the step fails.
    Deny,
}

impl Decision {
    /// The decision as the store and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }

    fn parse(text: &str) -> Option<Decision> {
        match text {
            "approve" => Some(Decision::Approve),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }
}

/// A decision as recorded on an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDecision {
    /// The decider's name ([`Decider::name`]).
    pub decided_by: String,
    /// What they decided.
    pub decision: Decision,
    /// Why, if they said (the step's `comments` output).
    pub comment: Option<String>,
    /// When, RFC 3339, UTC.
    pub at: String,
}

/// An approval as stored, with the decisions recorded so far (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// The run waiting at the gate.
    pub run_id: String,
    /// The `approve` step's id.
    pub step_id: String,
    /// What the decider is asked.
    pub summary: String,
    /// What else the decider sees, as JSON.
    pub detail: Value,
    /// Who may decide (empty: anyone whose role decides approvals).
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub required: u32,
    /// Who started the run.
    pub requested_by: String,
    /// When the step asked, RFC 3339, UTC.
    pub requested_at: String,
    /// When the gate stops taking decisions.
    pub expires_at: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// When it left `pending`, if it did.
    pub decided_at: Option<String>,
    /// The decisions so far, oldest first.
    pub decisions: Vec<ApprovalDecision>,
}

/// Who decides: the name the decision is recorded under (a token's name through the API, the
/// name given to `runbook approve`) and the role it acts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    /// Compared with the approval's approvers and with who started the run.
    pub name: String,
    /// Must decide approvals; its name may also be what the approvers list names.
    pub role: Role,
}

/// What [`SqlStore::decide_approval`] did. Only `Recorded` changed anything (and audited it);
/// the others tell the caller why not (the API answers 404 or 409 or 403 from them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// No approval for this run and step.
    NotFound,
    /// The approval has ended with this status (a gate past its time counts as expired).
    NotPending(ApprovalStatus),
    /// The decider started the run: nobody approves their own run.
    SelfApproval,
    /// The decider's role does not decide approvals, or the approval names approvers and
    /// neither the decider's name nor its role is among them.
    NotAllowed,
    /// The decider decided this approval before; a decision is not changed.
    AlreadyDecided,
    /// The decision is recorded; the approval's status is now this (still `Pending` while
    /// fewer than `required` distinct approvals are in).
    Recorded {
        /// The approval's status after this decision.
        status: ApprovalStatus,
    },
}

/// Whether `decider` is who started the run (`requested_by`), which the store refuses.
///
/// The rule: two names are the same person when they are equal, or when they are equal once
/// a leading `<kind>:` is taken off each (`api:alice`, `hook:alice`, `cli:alice`,
/// `enqueue:alice` and `alice` are all "alice"). A run's `started_by` is `<kind>:<name>`
/// while a token's name has no kind, so comparing the bare names catches a token that
/// started a run through the API approving it, and a user who queued a run from the command
/// line approving it as themselves. It errs toward refusing: a trigger and a token that
/// happen to share a name count as one person, and the decider is told to ask someone else.
pub fn is_self_approval(decider: &str, requested_by: &str) -> bool {
    fn bare(name: &str) -> &str {
        name.split_once(':').map_or(name, |(_, rest)| rest)
    }
    decider == requested_by || bare(decider) == bare(requested_by)
}

/// Whether `decider` may decide an approval that names `approvers`.
fn is_allowed(decider: &Decider, approvers: &[String]) -> bool {
    decider.role.allows(Action::DecideApproval)
        && (approvers.is_empty()
            || approvers
                .iter()
                .any(|approver| *approver == decider.name || approver == decider.role.as_str()))
}

#[derive(Debug, sqlx::FromRow)]
struct ApprovalRow {
    run_id: String,
    step_id: String,
    summary: String,
    detail: String,
    approvers: String,
    required: i64,
    requested_by: String,
    requested_at: String,
    expires_at: String,
    status: String,
    decided_at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct DecisionRow {
    run_id: String,
    step_id: String,
    decided_by: String,
    decision: String,
    comment: Option<String>,
    at: String,
}

/// What the first statement of a decision returns.
#[derive(Debug, sqlx::FromRow)]
struct GateRow {
    status: String,
    approvers: String,
    required: i64,
    requested_by: String,
}

const APPROVAL_COLUMNS: &str = "run_id, step_id, summary, detail, approvers, required, \
     requested_by, requested_at, expires_at, status, decided_at";

const INSERT_APPROVAL: &str = "INSERT INTO approvals (run_id, step_id, summary, detail, \
     approvers, required, requested_by, requested_at, expires_at, status) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending') \
     ON CONFLICT (run_id, step_id) DO NOTHING";

static SELECT_APPROVAL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE run_id = $1 AND step_id = $2")
});

/// Whether the run of the approval aliased `approvals` still goes on (queued, parked or
/// running): the gate of a cancelled or otherwise ended run waits for nobody.
const RUN_GOES_ON: &str = "EXISTS (SELECT 1 FROM runs AS run WHERE run.run_id = approvals.run_id \
     AND run.status IN ('queued', 'running'))";

static SELECT_PENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals \
         WHERE status = 'pending' AND expires_at > $1 AND {RUN_GOES_ON} \
         ORDER BY requested_at, run_id, step_id"
    )
});

const SELECT_DECISIONS: &str = "SELECT run_id, step_id, decided_by, decision, comment, at \
     FROM approval_decisions WHERE run_id = $1 AND step_id = $2 ORDER BY at, decided_by";

static SELECT_PENDING_DECISIONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT decision.run_id, decision.step_id, \
         decision.decided_by, decision.decision, decision.comment, decision.at \
         FROM approval_decisions AS decision JOIN approvals \
           ON approvals.run_id = decision.run_id AND approvals.step_id = decision.step_id \
         WHERE approvals.status = 'pending' AND approvals.expires_at > $1 AND {RUN_GOES_ON} \
         ORDER BY decision.at, decision.decided_by"
    )
});

/// The first statement of a decision: writes the approval's row (locking it against other
/// deciders), marks it expired if its time has passed (`$3`: now) or its run ended (cancelled
/// while it waited: nothing waits for the decision any more), and returns what the checks
/// need. Every expression of a SET reads the row as it was.
static LOCK_GATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let ends = format!("status = 'pending' AND (expires_at <= $3 OR NOT {RUN_GOES_ON})");
    format!(
        "UPDATE approvals SET \
         status = CASE WHEN {ends} THEN 'expired' ELSE status END, \
         decided_at = CASE WHEN {ends} THEN $3 ELSE decided_at END \
         WHERE run_id = $1 AND step_id = $2 \
         RETURNING status, approvers, required, requested_by"
    )
});

const INSERT_DECISION: &str = "INSERT INTO approval_decisions (run_id, step_id, decided_by, \
     decision, comment, at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (run_id, step_id, decided_by) DO NOTHING";

const COUNT_APPROVALS: &str = "SELECT COUNT(*) FROM approval_decisions \
     WHERE run_id = $1 AND step_id = $2 AND decision = 'approve'";

const SET_STATUS: &str = "UPDATE approvals SET status = $3, decided_at = $4 \
     WHERE run_id = $1 AND step_id = $2 AND status = 'pending'";

const EXPIRE: &str = "UPDATE approvals SET status = 'expired', decided_at = $3 \
     WHERE run_id = $1 AND step_id = $2 AND status = 'pending'";

fn stored_status(text: &str, what: &str) -> Result<ApprovalStatus, StoreError> {
    ApprovalStatus::parse(text)
        .ok_or_else(|| StoreError::new(format!("{what} has an unknown status `{text}`")))
}

fn stored_approvers(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::new(format!(
            "the approvers of {what} are not a JSON list of names: {error}"
        ))
    })
}

fn stored_required(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| {
        StoreError::new(format!(
            "{what} needs an impossible number of approvals: {value}"
        ))
    })
}

fn approval_name(run_id: &str, step_id: &str) -> String {
    format!("the approval of step {step_id} of run {run_id}")
}

impl DecisionRow {
    fn into_decision(self) -> Result<ApprovalDecision, StoreError> {
        let decision = Decision::parse(&self.decision).ok_or_else(|| {
            StoreError::new(format!(
                "a decision on {} is an unknown `{}`",
                approval_name(&self.run_id, &self.step_id),
                self.decision
            ))
        })?;
        Ok(ApprovalDecision {
            decided_by: self.decided_by,
            decision,
            comment: self.comment,
            at: self.at,
        })
    }
}

impl ApprovalRow {
    fn into_approval(self, decisions: Vec<ApprovalDecision>) -> Result<Approval, StoreError> {
        let what = approval_name(&self.run_id, &self.step_id);
        let detail = serde_json::from_str(&self.detail).map_err(|error| {
            StoreError::new(format!(
                "the detail of {what} holds JSON that cannot be read: {error}"
            ))
        })?;
        Ok(Approval {
            detail,
            approvers: stored_approvers(&self.approvers, &what)?,
            required: stored_required(self.required, &what)?,
            status: stored_status(&self.status, &what)?,
            run_id: self.run_id,
            step_id: self.step_id,
            summary: self.summary,
            requested_by: self.requested_by,
            requested_at: self.requested_at,
            expires_at: self.expires_at,
            decided_at: self.decided_at,
            decisions,
        })
    }
}

/// How a decision's transaction ended.
enum Outcome {
    Decided(Decided),
    /// The checks found the stored row unreadable; nothing was written.
    Unreadable(StoreError),
}

/// Wakes a run parked at a gate that a decision settled.
const WAKE_RUN: &str = "UPDATE runs SET not_before = NULL WHERE run_id = $1 AND status = 'queued'";

impl SqlStore {
    /// Asks for an approval (the `approve` step, when it starts waiting). Idempotent: when the
    /// run's step asked before (a resumed step asks again), the first request is kept as it
    /// is, decisions included, and the answer is false. True when this call asked.
    pub async fn request_approval(&self, approval: &NewApproval) -> Result<bool, StoreError> {
        let doing = format!(
            "requesting {}",
            approval_name(&approval.run_id, &approval.step_id)
        );
        let approvers = json_text(&json!(approval.approvers));
        let inserted = on_pool!(self, pool => sqlx::query(INSERT_APPROVAL)
            .bind(&approval.run_id)
            .bind(&approval.step_id)
            .bind(&approval.summary)
            .bind(json_text(&approval.detail))
            .bind(&approvers)
            .bind(i64::from(approval.required.max(1)))
            .bind(&approval.requested_by)
            .bind(now_text())
            .bind(&approval.expires_at)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail_for_run(&approval.run_id, &doing, error))?;
        Ok(inserted > 0)
    }

    /// The approval of a run's step with its decisions, if it was asked for.
    pub async fn approval(
        &self,
        run_id: &str,
        step_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let doing = format!("reading {}", approval_name(run_id, step_id));
        let select = SELECT_APPROVAL.as_str();
        let found = on_pool!(self, pool => async {
            let Some(row) = sqlx::query_as::<_, ApprovalRow>(select)
                .bind(run_id)
                .bind(step_id)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let decisions = sqlx::query_as::<_, DecisionRow>(SELECT_DECISIONS)
                .bind(run_id)
                .bind(step_id)
                .fetch_all(pool)
                .await?;
            Ok::<_, sqlx::Error>(Some((row, decisions)))
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        let Some((row, decisions)) = found else {
            return Ok(None);
        };
        let decisions = decisions
            .into_iter()
            .map(DecisionRow::into_decision)
            .collect::<Result<Vec<_>, _>>()?;
        row.into_approval(decisions).map(Some)
    }

    /// The approvals waiting for a decision (pending, their time not yet past), oldest first,
    /// each with its decisions so far: what an approver is shown.
    pub async fn pending_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        let now = now_text();
        let select = SELECT_PENDING.as_str();
        let select_decisions = SELECT_PENDING_DECISIONS.as_str();
        let (rows, decisions) = on_pool!(self, pool => async {
            let rows = sqlx::query_as::<_, ApprovalRow>(select)
                .bind(&now)
                .fetch_all(pool)
                .await?;
            let decisions = sqlx::query_as::<_, DecisionRow>(select_decisions)
                .bind(&now)
                .fetch_all(pool)
                .await?;
            Ok::<_, sqlx::Error>((rows, decisions))
        }
        .await)
        .map_err(|error| self.fail("listing pending approvals", error))?;
        let mut by_gate: BTreeMap<(String, String), Vec<ApprovalDecision>> = BTreeMap::new();
        for row in decisions {
            let gate = (row.run_id.clone(), row.step_id.clone());
            by_gate.entry(gate).or_default().push(row.into_decision()?);
        }
        rows.into_iter()
            .map(|row| {
                let decisions = by_gate
                    .remove(&(row.run_id.clone(), row.step_id.clone()))
                    .unwrap_or_default();
                row.into_approval(decisions)
            })
            .collect()
    }

    /// Records `decider`'s decision on the approval of a run's step, if they may decide it
    /// (see the module's documentation for the checks and their order), and the approval's
    /// new status: `denied` on a denial, `approved` once `required` distinct deciders
    /// approved, else still `pending`. The decision, the status and the audit entry
    /// `approval.decided` (by `actor`, the one who made the request) land together or not at
    /// all. Refusals write nothing and audit nothing, except that a gate found past its time
    /// is marked `expired`.
    pub async fn decide_approval(
        &self,
        run_id: &str,
        step_id: &str,
        decider: &Decider,
        decision: Decision,
        comment: Option<&str>,
        actor: &Actor,
    ) -> Result<Decided, StoreError> {
        let what = approval_name(run_id, step_id);
        let doing = format!("deciding {what}");
        let now = now_text();
        let lock_gate = LOCK_GATE.as_str();
        let outcome = on_pool!(self, pool => async {
            let mut transaction = pool.begin().await?;
            let gate = sqlx::query_as::<_, GateRow>(lock_gate)
                .bind(run_id)
                .bind(step_id)
                .bind(&now)
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(gate) = gate else {
                transaction.rollback().await?;
                return Ok(Outcome::Decided(Decided::NotFound));
            };
            let checked = stored_status(&gate.status, &what).and_then(|status| {
                Ok((
                    status,
                    stored_approvers(&gate.approvers, &what)?,
                    stored_required(gate.required, &what)?,
                ))
            });
            let (status, approvers, required) = match checked {
                Ok(checked) => checked,
                Err(error) => {
                    transaction.rollback().await?;
                    return Ok(Outcome::Unreadable(error));
                }
            };
            let refusal = if status != ApprovalStatus::Pending {
                Some(Decided::NotPending(status))
            } else if is_self_approval(&decider.name, &gate.requested_by) {
                Some(Decided::SelfApproval)
            } else if !is_allowed(decider, &approvers) {
                Some(Decided::NotAllowed)
            } else {
                None
            };
            if let Some(refusal) = refusal {
                // Commits the expiry the first statement may have written; nothing else.
                transaction.commit().await?;
                return Ok(Outcome::Decided(refusal));
            }
            let inserted = sqlx::query(INSERT_DECISION)
                .bind(run_id)
                .bind(step_id)
                .bind(&decider.name)
                .bind(decision.as_str())
                .bind(comment)
                .bind(&now)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            if inserted == 0 {
                transaction.rollback().await?;
                return Ok(Outcome::Decided(Decided::AlreadyDecided));
            }
            let approvals: i64 = sqlx::query_scalar(COUNT_APPROVALS)
                .bind(run_id)
                .bind(step_id)
                .fetch_one(&mut *transaction)
                .await?;
            let status = match decision {
                Decision::Deny => ApprovalStatus::Denied,
                Decision::Approve if approvals >= i64::from(required) => ApprovalStatus::Approved,
                Decision::Approve => ApprovalStatus::Pending,
            };
            if status != ApprovalStatus::Pending {
                sqlx::query(SET_STATUS)
                    .bind(run_id)
                    .bind(step_id)
                    .bind(status.as_str())
                    .bind(&now)
                    .execute(&mut *transaction)
                    .await?;
                // A run parked at this gate is claimable at once, not at its deadline.
                sqlx::query(WAKE_RUN)
                    .bind(run_id)
                    .execute(&mut *transaction)
                    .await?;
            }
            let entry = NewAuditEntry {
                actor: actor.clone(),
                action: "approval.decided".to_owned(),
                target: Some(format!("{run_id}/{step_id}")),
                detail: json!({
                    "run_id": run_id,
                    "step_id": step_id,
                    "decided_by": decider.name,
                    "role": decider.role.as_str(),
                    "decision": decision.as_str(),
                    "comment": comment,
                    "status": status.as_str(),
                }),
            };
            let [at, audit_actor, action, target, detail, address] = audit_binds(&entry);
            sqlx::query(APPEND_AUDIT)
                .bind(at)
                .bind(audit_actor)
                .bind(action)
                .bind(target)
                .bind(detail)
                .bind(address)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok::<Outcome, sqlx::Error>(Outcome::Decided(Decided::Recorded { status }))
        }
        .await)
        .map_err(|error| self.fail(&doing, error))?;
        match outcome {
            Outcome::Decided(decided) => Ok(decided),
            Outcome::Unreadable(error) => Err(error),
        }
    }

    /// Ends an approval nobody decided in time (the step's timeout): `expired` if it is still
    /// pending. True when this call expired it; false when it had ended already (a decision
    /// that landed first stands) or does not exist.
    pub async fn expire_approval(&self, run_id: &str, step_id: &str) -> Result<bool, StoreError> {
        let doing = format!("expiring {}", approval_name(run_id, step_id));
        let expired = on_pool!(self, pool => sqlx::query(EXPIRE)
            .bind(run_id)
            .bind(step_id)
            .bind(now_text())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(|error| self.fail(&doing, error))?;
        Ok(expired > 0)
    }
}

/// The engine's view of a gate (the `approve` step reads and writes through the `Store`
/// trait): the same rows.
pub(crate) fn gate_state(approval: &Approval) -> GateState {
    GateState {
        status: approval.status.as_str().to_owned(),
        decisions: approval
            .decisions
            .iter()
            .map(|decision| GateDecision {
                decided_by: decision.decided_by.clone(),
                approve: decision.decision == Decision::Approve,
                comment: decision.comment.clone(),
                at: decision.at.clone(),
            })
            .collect(),
    }
}

/// The store's request for an engine's gate.
pub(crate) fn new_approval(gate: &ApprovalGate) -> NewApproval {
    NewApproval {
        run_id: gate.run_id.clone(),
        step_id: gate.step_id.clone(),
        summary: gate.summary.clone(),
        detail: gate.detail.clone(),
        approvers: gate.approvers.clone(),
        required: gate.required,
        requested_by: gate.requested_by.clone(),
        expires_at: parse_deadline(&gate.expires_at),
    }
}

/// A deadline in the time columns' form (the engine writes RFC 3339 with milliseconds).
fn parse_deadline(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| crate::queue::time_text(time.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| text.to_owned())
}

mod decided;

#[cfg(test)]
mod tests;

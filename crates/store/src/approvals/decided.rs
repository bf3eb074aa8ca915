//! Approvals that ended (approved, denied or expired), most recent first: what the web
//! console shows under the pending ones, with who decided and when.

use runbook_engine::StoreError;

use super::{APPROVAL_COLUMNS, Approval, ApprovalRow, DecisionRow, SELECT_DECISIONS};
use crate::store::SqlStore;

static SELECT_DECIDED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status <> 'pending' \
         ORDER BY decided_at DESC, run_id DESC, step_id LIMIT $1"
    )
});

impl SqlStore {
    /// The `limit` approvals that ended most recently, each with its decisions.
    pub async fn decided_approvals(&self, limit: u32) -> Result<Vec<Approval>, StoreError> {
        let select = SELECT_DECIDED.as_str();
        let found = on_pool!(self, pool => async {
            let rows = sqlx::query_as::<_, ApprovalRow>(select)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            let mut found = Vec::with_capacity(rows.len());
            for row in rows {
                let decisions = sqlx::query_as::<_, DecisionRow>(SELECT_DECISIONS)
                    .bind(&row.run_id)
                    .bind(&row.step_id)
                    .fetch_all(pool)
                    .await?;
                found.push((row, decisions));
            }
            Ok::<_, sqlx::Error>(found)
        }
        .await)
        .map_err(|error| self.fail("listing decided approvals", error))?;
        found
            .into_iter()
            .map(|(row, decisions)| {
                let decisions = decisions
                    .into_iter()
                    .map(DecisionRow::into_decision)
                    .collect::<Result<Vec<_>, _>>()?;
                row.into_approval(decisions)
            })
            .collect()
    }
}

//! `await_approval:` steps: the action to wait for, `timeout`, and a polling `interval` longer
//! than zero.

use crate::model::{AwaitApprovalStep, defaults};
use crate::templates::{Scope, Site};
use crate::yaml::Entry;

use crate::check::{Checker, Owner};

impl Checker<'_> {
    pub(super) fn await_approval(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<AwaitApprovalStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["action", "timeout", "interval"],
            &[("action_id", "`action`")],
        )?;
        let action = self.required_action(&fields, scope, site);
        let timeout = self.duration_or(&fields, "timeout", defaults::APPROVAL_TIMEOUT);
        let interval = self.duration_or(&fields, "interval", defaults::APPROVAL_INTERVAL);
        self.positive(&fields, "interval", interval)?;
        Some(AwaitApprovalStep {
            action: action?,
            timeout: timeout?,
            interval: interval?,
        })
    }
}

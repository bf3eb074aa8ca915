//! `stop_action:` steps: the action to stop.

use crate::model::StopActionStep;
use crate::templates::{Scope, Site};
use crate::yaml::Entry;

use crate::check::{Checker, Owner};

impl Checker<'_> {
    pub(super) fn stop_action(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<StopActionStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["action"],
            &[("action_id", "`action`")],
        )?;
        let action = self.required_action(&fields, scope, site);
        Some(StopActionStep { action: action? })
    }
}

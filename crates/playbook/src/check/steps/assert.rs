//! `assert:` steps: `that`, a condition (a template or a boolean, never plain text), and an
//! optional `message`.

use crate::model::AssertStep;
use crate::templates::{Scope, Site};
use crate::yaml::Entry;

use crate::check::{Checker, Owner};

impl Checker<'_> {
    pub(super) fn assert(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<AssertStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["that", "message"],
            &[
                ("condition", "`that`"),
                ("expr", "`that`"),
                ("msg", "`message`"),
            ],
        )?;
        let that = self
            .required(
                &fields,
                "that",
                Some("e.g. `that: \"{{ steps.results.failed == 0 }}\"`".into()),
            )
            .and_then(|entry| self.condition(entry, scope, site));
        let message = match fields.get("message") {
            Some(entry) => Some(self.scalar_template(entry, scope, site)?),
            None => None,
        };
        Some(AssertStep {
            that: that?,
            message,
        })
    }
}

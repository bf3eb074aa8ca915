//! `poll:` steps: the action to wait for, `expected` (a count or a template), `until_percent`,
//! `timeout`, a polling `interval` longer than zero and not longer than `max_interval`,
//! `allow_partial` and `max_rows`.

use crate::codes;
use crate::model::{PollStep, TemplateValue, defaults};
use crate::templates::{Scope, Site, looks_like_template};
use crate::yaml::{Entry, NodeKind};

use crate::check::{Checker, Owner};

const POLL_KEYS: [&str; 8] = [
    "action",
    "expected",
    "until_percent",
    "timeout",
    "interval",
    "max_interval",
    "allow_partial",
    "max_rows",
];

impl Checker<'_> {
    pub(super) fn poll(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<PollStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &POLL_KEYS,
            &[("action_id", "`action`"), ("percent", "`until_percent`")],
        )?;
        let action = self.required_action(&fields, scope, site);
        let expected = match fields.get("expected") {
            Some(entry) => self.expected(entry, scope, site).map(Some),
            None => Some(None),
        };
        let until_percent = match fields.get("until_percent") {
            Some(entry) => self
                .integer(entry, 1, 100)
                .and_then(|percent| u8::try_from(percent).ok()),
            None => Some(defaults::POLL_UNTIL_PERCENT),
        };
        let timeout = self.duration_or(&fields, "timeout", defaults::POLL_TIMEOUT);
        let intervals = self.intervals(
            &fields,
            defaults::POLL_INTERVAL,
            defaults::POLL_MAX_INTERVAL,
        );
        let allow_partial = match fields.get("allow_partial") {
            Some(entry) => self.boolean(entry),
            None => Some(false),
        };
        let max_rows = match fields.get("max_rows") {
            Some(entry) => self
                .integer(entry, 1, 1_000_000)
                .and_then(|rows| usize::try_from(rows).ok()),
            None => Some(defaults::POLL_MAX_ROWS),
        };
        Some(PollStep {
            action: action?,
            expected: expected?,
            until_percent: until_percent?,
            timeout: timeout?,
            interval: intervals?.0,
            max_interval: intervals?.1,
            allow_partial: allow_partial?,
            max_rows: max_rows?,
        })
    }

    /// `expected`: how many endpoints should answer, a count of 0 or more or a template.
    fn expected(&mut self, entry: &Entry, scope: &Scope, site: Site<'_>) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Int(count) if *count < 0 => {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    format!("`expected` is {count}; it must be 0 or more"),
                );
                None
            }
            NodeKind::Int(_) => Some(self.template_value(entry, scope, site)),
            NodeKind::Str(text) if looks_like_template(text) => {
                Some(self.template_value(entry, scope, site))
            }
            _ => {
                self.wrong_type("expected", "an integer or a template", &entry.value);
                None
            }
        }
    }
}

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
        let action = self.action_to_wait_for(&fields, scope, site);
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
        let interval = self.duration_or(&fields, "interval", defaults::POLL_INTERVAL);
        self.positive(&fields, "interval", interval)?;
        let max_interval = self.duration_or(&fields, "max_interval", defaults::POLL_MAX_INTERVAL);
        if let (Some(interval), Some(max_interval)) = (interval, max_interval)
            && interval > max_interval
        {
            let at = fields.get("max_interval").or(fields.get("interval"));
            if let Some(entry) = at {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    "`interval` is longer than `max_interval` (default 2m)",
                )
                .help = Some("raise `max_interval` or lower `interval`".into());
            }
            return None;
        }
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
            interval: interval?,
            max_interval: max_interval?,
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

//! `issue:` steps, the only kind that sends a side effect: name, target, package and action
//! group (never `Default`), `expire` and `distribute` (not longer than `expire`),
//! `issue_seconds`, `min_endpoints` (not above the guard's `max_endpoints`); and `retry`, which an issue step may not have.

use crate::codes;
use crate::model::{
    DEFAULT_ACTION_GROUP_HELP, DEFAULT_ACTION_GROUP_REFUSED, IssueStep, TemplateValue, defaults,
    is_default_action_group,
};
use crate::templates::{Scope, Site};
use crate::yaml::Entry;

use crate::check::{Checker, Owner};

const ISSUE_KEYS: [&str; 8] = [
    "name",
    "target",
    "package",
    "action_group",
    "expire",
    "distribute",
    "issue_seconds",
    "min_endpoints",
];

impl Checker<'_> {
    pub(super) fn issue(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IssueStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &ISSUE_KEYS,
            &[
                (
                    "expire_seconds",
                    "`expire` as a duration, e.g. `expire: 1h`",
                ),
                ("group", "`target` (the group) or `action_group`"),
            ],
        )?;
        let name = self.required_scalar(
            &fields,
            "name",
            "e.g. `name: \"IR tag {{ inputs.hostname }}\"`",
            scope,
            site,
        );
        let target = self.required_scalar(
            &fields,
            "target",
            "usually `target: \"{{ steps.<target step>.group }}\"`",
            scope,
            site,
        );
        let package = self.required_scalar(
            &fields,
            "package",
            "usually `package: \"{{ steps.<parameterize step>.package_spec }}\"`",
            scope,
            site,
        );
        let action_group = self
            .required(
                &fields,
                "action_group",
                Some("e.g. `action_group: All Computers`".into()),
            )
            .and_then(|entry| self.action_group(entry, scope, site));
        let expire = self.duration_or(&fields, "expire", defaults::ISSUE_EXPIRE);
        let distribute = self.duration_or(&fields, "distribute", defaults::ISSUE_DISTRIBUTE);
        if let (Some(expire), Some(distribute), Some(entry)) =
            (expire, distribute, fields.get("distribute"))
            && distribute > expire
        {
            self.error(codes::OUT_OF_RANGE, entry.value.span, entry.value.length, "`distribute` is longer than `expire`: endpoints would be reached after the action expired")
                .help = Some("make `distribute` shorter than `expire` (default 1h)".into());
            return None;
        }
        let issue_seconds = match fields.get("issue_seconds") {
            Some(entry) => Some(self.integer(entry, 0, i64::MAX)?.unsigned_abs()),
            None => None,
        };
        let min_endpoints = match fields.get("min_endpoints") {
            Some(entry) => self.min_endpoints(entry),
            None => Some(defaults::ISSUE_MIN_ENDPOINTS),
        };
        Some(IssueStep {
            name: name?,
            target: target?,
            package: package?,
            action_group: action_group?,
            expire: expire?,
            distribute: distribute?,
            issue_seconds,
            min_endpoints: min_endpoints?,
        })
    }

    /// `min_endpoints`: a whole number, 0 or more, not above the guard's `max_endpoints`
    /// (such a step could never issue).
    fn min_endpoints(&mut self, entry: &Entry) -> Option<u64> {
        let minimum = self.integer(entry, 0, i64::MAX)?.unsigned_abs();
        if let Some(limit) = self.max_endpoints
            && minimum > limit
        {
            self.error(
                codes::MIN_ABOVE_MAX_ENDPOINTS,
                entry.value.span,
                entry.value.length,
                format!(
                    "`min_endpoints` is {minimum}, more than the guard's `max_endpoints` {limit}: this step could never issue"
                ),
            )
            .help = Some(format!(
                "lower `min_endpoints` to {limit} or less, or raise `guard.max_endpoints`"
            ));
            return None;
        }
        Some(minimum)
    }

    /// The action group: any group but `Default`, which holds no machines (the rule the
    /// engine and the adapter apply too).
    fn action_group(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        let value = self.scalar_template(entry, scope, site)?;
        if value.as_str().is_some_and(is_default_action_group) {
            self.error(
                codes::DEFAULT_ACTION_GROUP,
                entry.value.span,
                entry.value.length,
                DEFAULT_ACTION_GROUP_REFUSED,
            )
            .help = Some(DEFAULT_ACTION_GROUP_HELP.into());
            return None;
        }
        Some(value)
    }

    /// `retry` on an issue step: refused, because an action is never issued twice.
    /// `retry` on a step that sends (`issue`, `stop_action`): never retried by the engine.
    pub(super) fn retry_not_allowed(&mut self, retry: &Entry, kind: &str) {
        let (message, help) = if kind == "issue" {
            (
                "`retry` is not allowed on an `issue` step: an action is never issued twice",
                "retry the read-only steps around it instead (target, parameterize, await_approval, poll)",
            )
        } else {
            (
                "`retry` is not allowed on a `stop_action` step: a step that sends is never retried",
                "send the stop again from a later run: stopping an action that already ended succeeds",
            )
        };
        self.error(
            codes::RETRY_NOT_ALLOWED,
            retry.key_span,
            retry.key_length,
            message,
        )
        .help = Some(help.into());
    }
}

//! `issue:` steps, the only kind that sends a side effect: name, target, package and action
//! group (never `Default`), `expire` and `distribute` (not longer than `expire`),
//! `issue_seconds`, `min_endpoints` (not above the guard's `max_endpoints`), the time window
//! `not_before`/`not_after` (RFC 3339; `not_after` after `not_before`, never with `expire`),
//! `rollout` (checked in `rollout.rs`); and `retry`, which an issue step may not have.

use chrono::{DateTime, Utc};

use crate::codes;
use crate::model::{
    ACTION_TIME_HELP, DEFAULT_ACTION_GROUP_HELP, DEFAULT_ACTION_GROUP_REFUSED, IssueStep,
    TemplateValue, defaults, is_default_action_group, parse_action_time,
};
use crate::templates::{Scope, Site};
use crate::yaml::Entry;

use crate::check::{Checker, Owner};

const ISSUE_KEYS: [&str; 11] = [
    "name",
    "target",
    "package",
    "action_group",
    "expire",
    "distribute",
    "issue_seconds",
    "min_endpoints",
    "not_before",
    "not_after",
    "rollout",
];

/// An `issue` time as the model keeps it, if written.
type OptionalTime = Option<Box<TemplateValue>>;

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
            // With `not_after`, `expire` is not used: `distribute` is checked against the window.
            && fields.get("not_after").is_none()
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
        let rollout = match fields.get("rollout") {
            Some(entry) => Some(self.rollout(entry).map(Box::new)),
            None => Some(None),
        };
        let (not_before, not_after) = self.window(&fields, distribute, scope, site)?;
        Some(IssueStep {
            name: name?,
            target: target?,
            package: package?,
            action_group: action_group?,
            expire: expire?,
            distribute: distribute?,
            issue_seconds,
            min_endpoints: min_endpoints?,
            not_before,
            not_after,
            rollout: rollout?,
        })
    }

    /// One `issue` time, if written: a template (checked at run time) or an RFC 3339 time
    /// with its offset, returned read.
    fn action_time(
        &mut self,
        fields: &crate::check::fields::Fields<'_>,
        key: &str,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<Option<(TemplateValue, Option<DateTime<Utc>>)>> {
        let Some(entry) = fields.get(key) else {
            return Some(None);
        };
        let value = self.scalar_template(entry, scope, site)?;
        if value.has_template() {
            return Some(Some((value, None)));
        }
        let text = match &value.value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let Some(at) = parse_action_time(&text) else {
            self.error(
                codes::INVALID_TIME,
                entry.value.span,
                entry.value.length,
                format!("`{key}` is not an RFC 3339 time with an offset: `{text}`"),
            )
            .help = Some(ACTION_TIME_HELP.into());
            return None;
        };
        Some(Some((value, Some(at))))
    }

    /// `not_before` and `not_after`: each a template or an RFC 3339 time with its offset;
    /// written as times, `not_after` must come after `not_before` (and after `distribute`
    /// from it). `not_after` with `expire` is refused: both would say when the action ends.
    fn window(
        &mut self,
        fields: &crate::check::fields::Fields<'_>,
        distribute: Option<std::time::Duration>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<(OptionalTime, OptionalTime)> {
        let not_before = self.action_time(fields, "not_before", scope, site);
        let not_after = self.action_time(fields, "not_after", scope, site);
        let (not_before, not_after) = (not_before?, not_after?);
        if let (Some(_), Some(expire)) = (&not_after, fields.get("expire")) {
            self.error(
                codes::CONFLICTING_KEYS,
                expire.key_span,
                expire.key_length,
                "`expire` and `not_after` both say when the action ends: write one of them",
            )
            .help = Some(
                "keep `not_after` (the action's end time) and drop `expire`, or the other way round"
                    .into(),
            );
            return None;
        }
        if let (Some((_, Some(start))), Some((_, Some(end)))) = (&not_before, &not_after)
            && let Some(entry) = fields.get("not_after")
        {
            if end <= start {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    "`not_after` is not after `not_before`: the action would end before it starts",
                )
                .help = Some("make `not_after` later than `not_before`".into());
                return None;
            }
            if let Some(distribute) = distribute
                && (*end - *start).to_std().is_ok_and(|span| distribute > span)
            {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    "the window from `not_before` to `not_after` is shorter than `distribute`: endpoints would be reached after the action expired",
                )
                .help = Some("widen the window or shorten `distribute`".into());
                return None;
            }
        }
        Some((
            not_before.map(|(value, _)| Box::new(value)),
            not_after.map(|(value, _)| Box::new(value)),
        ))
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

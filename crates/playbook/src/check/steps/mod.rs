//! `steps:`: the list, the keys every step has (`id`, `name`, `when`, `timeout`, `retry`,
//! `continue_on_error`), exactly one kind key per step, and one module per step kind with that
//! kind's checks. A new kind is a new module here and one arm in `Checker::step_kind`.

mod approval;
mod approve;
mod assert;
mod for_each;
mod http;
mod issue;
mod log;
mod parameterize;
mod poll;
mod question;
mod rollout;
mod set;
mod stop_action;
mod target;

use std::collections::HashMap;

use crate::codes;
use crate::model::{DEFAULT_RETRY_BACKOFF, Retry, STEP_KINDS, Span, Step, StepKind, TemplateValue};
use crate::suggest::did_you_mean;
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, Node, NodeKind};

use super::fields::written_string;
use super::{Checker, Fields, Owner};

const COMMON_STEP_KEYS: [&str; 6] = [
    "id",
    "name",
    "when",
    "timeout",
    "retry",
    "continue_on_error",
];
/// Keys of a step kind written on the step itself, and where they belong.
const STEP_ALIASES: [(&str, &str); 5] = [
    ("package", "it inside a `parameterize:` step"),
    ("params", "it inside a `parameterize:` step"),
    (
        "action",
        "it inside an `await_approval:`, `poll:` or `stop_action:` step",
    ),
    ("get", "it inside a `question:` step"),
    ("condition", "`when`"),
];

/// Kinds whose steps send a side effect: the engine never retries them, so `retry` is refused.
const SENDING_KINDS: [&str; 2] = ["issue", "stop_action"];

impl Checker<'_> {
    /// The `steps:` entry and its items: empty when it is missing, empty or not a list (each
    /// reported).
    pub(super) fn step_list<'n>(&mut self, fields: &Fields<'n>) -> &'n [Node] {
        let Some(entry) = self.required(
            fields,
            "steps",
            Some("add `steps:` with at least one step".into()),
        ) else {
            return &[];
        };
        match &entry.value.kind {
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.error(
                        codes::EMPTY_LIST,
                        entry.key_span,
                        entry.key_length,
                        "`steps` is empty",
                    )
                    .help = Some("a playbook needs at least one step".into());
                }
                items
            }
            _ => {
                self.wrong_type("steps", "a list of steps", &entry.value);
                &[]
            }
        }
    }

    /// The steps of one list (the main steps, or an `on_failure`/`finally` handler) whose
    /// first step is the `first`-th of the playbook (step ids are unique across all lists, and
    /// a step sees only the steps before it). `None` when any is bad.
    pub(super) fn steps_from(
        &mut self,
        nodes: &[Node],
        first: usize,
        handler: bool,
        scope: &Scope,
        seen_ids: &mut HashMap<String, Span>,
    ) -> Option<Vec<Step>> {
        let mut steps = Vec::new();
        let mut ok = true;
        for (offset, node) in nodes.iter().enumerate() {
            match self.step(node, first + offset, handler, scope, seen_ids) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    /// An optional handler list (`on_failure`, `finally`): a non-empty list of steps.
    pub(super) fn handler_list<'n>(&mut self, fields: &Fields<'n>, key: &str) -> &'n [Node] {
        let Some(entry) = fields.get(key) else {
            return &[];
        };
        match &entry.value.kind {
            NodeKind::Seq(items) if items.is_empty() => {
                self.error(
                    codes::EMPTY_LIST,
                    entry.key_span,
                    entry.key_length,
                    format!("`{key}` is empty"),
                )
                .help = Some(format!("give `{key}` at least one step, or leave it out"));
                &[]
            }
            NodeKind::Seq(items) => items,
            _ => {
                self.wrong_type(key, "a list of steps", &entry.value);
                &[]
            }
        }
    }

    fn step(
        &mut self,
        node: &Node,
        index: usize,
        handler: bool,
        scope: &Scope,
        seen_ids: &mut HashMap<String, Span>,
    ) -> Option<Step> {
        let what = match written_string(node, "id") {
            Some(id) => format!("step `{id}`"),
            None => format!("step {}", index + 1),
        };
        let owner = Owner::node(&what, node);
        let mut allowed: Vec<&str> = COMMON_STEP_KEYS.to_vec();
        allowed.extend(STEP_KINDS);
        let fields = self.fields(node, owner, &allowed, &STEP_ALIASES)?;

        let id = self.step_id(&fields, owner, seen_ids);
        let span = fields.get("id").map_or(node.span, |entry| entry.value.span);
        let kinds = self.kind_keys(&fields, &allowed, id.as_deref(), &what);

        let when_text = fields
            .get("when")
            .and_then(|entry| entry.value.to_json().as_str().map(str::to_owned));
        let site = Site {
            step_index: Some(index),
            step_when: when_text.as_deref(),
            handler,
        };
        let mut ok = true;
        let name = self.optional(&fields, "name", &mut ok, Self::string);
        let when = self.optional(&fields, "when", &mut ok, |checker, entry| {
            checker.condition(entry, scope, site)
        });
        let timeout = self.optional(&fields, "timeout", &mut ok, Self::duration);
        let continue_on_error = self
            .optional(&fields, "continue_on_error", &mut ok, Self::boolean)
            .unwrap_or(false);
        let retry = self.optional(&fields, "retry", &mut ok, Self::retry);
        if let (Some(retry_entry), Some(kind)) = (fields.get("retry"), kinds.first())
            && SENDING_KINDS.contains(&kind.key.as_str())
        {
            self.retry_not_allowed(retry_entry, &kind.key);
            ok = false;
        }
        if let (Some(retry_entry), Some(kind)) = (fields.get("retry"), kinds.first())
            && kind.key == "for_each"
        {
            // Each item's steps are recorded as they finish: a second attempt of the loop
            // would find them done (and could send an item's action twice).
            self.error(
                codes::RETRY_NOT_ALLOWED,
                retry_entry.key_span,
                retry_entry.key_length,
                "`retry` is not allowed on a `for_each` step: its items are never run twice",
            )
            .help = Some("put `retry` on the read-only steps inside the loop".into());
            ok = false;
        }

        let kind = kinds
            .first()
            .and_then(|entry| self.step_kind(entry, scope, site, id.as_deref()));
        if kinds.len() != 1 {
            return None;
        }
        let (Some(id), Some(kind), true) = (id, kind, ok) else {
            return None;
        };
        Some(Step {
            id,
            name,
            when,
            timeout,
            retry,
            continue_on_error,
            kind,
            span,
        })
    }

    /// The step's kind keys, reporting none (unless a misspelt one was already reported) and
    /// more than one. `id` is the step's id when it is valid.
    fn kind_keys<'n>(
        &mut self,
        fields: &Fields<'n>,
        allowed: &[&str],
        id: Option<&str>,
        what: &str,
    ) -> Vec<&'n Entry> {
        let kinds: Vec<&Entry> = fields
            .entries
            .iter()
            .filter(|entry| STEP_KINDS.contains(&entry.key.as_str()))
            .collect();
        // A misspelt kind key already got "unknown key, did you mean `log`?"; saying "no
        // kind" on top of it would be noise.
        let misspelt_kind = fields.entries.iter().any(|entry| {
            !allowed.contains(&entry.key.as_str()) && did_you_mean(&entry.key, STEP_KINDS).is_some()
        });
        if kinds.is_empty() && !misspelt_kind {
            let label = id.map_or(what.to_owned(), |id| format!("step `{id}`"));
            let (span, length) = fields.get("id").map_or((fields.owner.span, 1), |entry| {
                (entry.value.span, entry.value.length)
            });
            self.error(
                codes::MISSING_STEP_KIND,
                span,
                length,
                format!("{label} has no kind"),
            )
            .help = Some(format!("add exactly one of: {}", STEP_KINDS.join(", ")));
        }
        for extra in kinds.iter().skip(1) {
            self.error(
                codes::MULTIPLE_STEP_KINDS,
                extra.key_span,
                extra.key_length,
                format!(
                    "this step is already a `{}` step; a step has exactly one kind",
                    kinds[0].key
                ),
            )
            .help = Some(format!("move `{}` into a step of its own", extra.key));
        }
        kinds
    }

    fn retry(&mut self, entry: &Entry) -> Option<Retry> {
        let owner = Owner::key("`retry`", entry);
        let fields = self.fields(&entry.value, owner, &["attempts", "backoff"], &[])?;
        let attempts = self
            .required(
                &fields,
                "attempts",
                Some("e.g. `retry: { attempts: 3, backoff: 10s }`".into()),
            )
            .and_then(|attempts| self.integer(attempts, 1, 100));
        let backoff = self.duration_or(&fields, "backoff", DEFAULT_RETRY_BACKOFF);
        Some(Retry {
            attempts: u32::try_from(attempts?).ok()?,
            backoff: backoff?,
        })
    }

    /// The `action` an `await_approval`, `poll` or `stop_action` step reads.
    fn required_action(
        &mut self,
        fields: &Fields<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        self.required_scalar(
            fields,
            "action",
            "usually `action: \"{{ steps.<issue step>.action_id }}\"`",
            scope,
            site,
        )
    }

    /// The kind key's value, checked by the kind's module.
    fn step_kind(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
        id: Option<&str>,
    ) -> Option<StepKind> {
        let what = format!("`{}`", entry.key);
        let owner = Owner::key(&what, entry);
        match entry.key.as_str() {
            "target" => self.target(entry, owner, scope, site).map(StepKind::Target),
            "parameterize" => self
                .parameterize(entry, owner, scope, site)
                .map(StepKind::Parameterize),
            "issue" => self.issue(entry, owner, scope, site).map(StepKind::Issue),
            "await_approval" => self
                .await_approval(entry, owner, scope, site)
                .map(StepKind::AwaitApproval),
            "poll" => self.poll(entry, owner, scope, site).map(StepKind::Poll),
            "question" => self
                .question(entry, owner, scope, site)
                .map(StepKind::Question),
            "stop_action" => self
                .stop_action(entry, owner, scope, site)
                .map(StepKind::StopAction),
            "approve" => self
                .approve(entry, owner, scope, site)
                .map(StepKind::Approve),
            "assert" => self.assert(entry, owner, scope, site).map(StepKind::Assert),
            "log" => self.log(entry, scope, site).map(StepKind::Log),
            "set" => self.set(entry, scope, site).map(StepKind::Set),
            "for_each" => self
                .for_each(entry, owner, scope, site, id)
                .map(StepKind::ForEach),
            "http" => self.http(entry, owner, scope, site).map(StepKind::Http),
            _ => None,
        }
    }
}

//! `approve:` steps: a `summary` (a template), `approvers` (token or role names), `required`
//! (distinct approvals, 1 to 20) and `timeout`. Approvers that could never decide, or fewer
//! names than `required`, are refused (RB051): such a gate could only time out.

use crate::codes;
use crate::model::{ApproveStep, defaults};
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, NodeKind};

use crate::check::{Checker, Owner};

/// Roles that may decide approvals; the others, named as approvers, never could.
const DECIDING_ROLES: [&str; 2] = ["approver", "admin"];
const OTHER_ROLES: [&str; 2] = ["viewer", "operator"];

/// The most distinct approvals a gate may ask for.
const MAX_REQUIRED: i64 = 20;

/// Whether `name` can be a token name (what `runbook tokens create` accepts).
fn is_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Checker<'_> {
    pub(super) fn approve(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<ApproveStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["summary", "approvers", "required", "timeout"],
            &[
                ("message", "`summary`"),
                ("approvals", "`required`"),
                ("users", "`approvers`"),
            ],
        )?;
        let summary = self.required_scalar(
            &fields,
            "summary",
            "say what is decided, e.g. `summary: \"Tag {{ steps.scope.text }}\"`",
            scope,
            site,
        );
        let mut ok = true;
        let approvers = self
            .optional(&fields, "approvers", &mut ok, |checker, entry| {
                checker.approvers(entry)
            })
            .unwrap_or_default();
        let required = self
            .optional(&fields, "required", &mut ok, |checker, entry| {
                checker.integer(entry, 1, MAX_REQUIRED)
            })
            .map_or(Some(defaults::APPROVE_REQUIRED), |required| {
                u32::try_from(required).ok()
            });
        let timeout = self.duration_or(&fields, "timeout", defaults::APPROVE_TIMEOUT);
        self.positive(&fields, "timeout", timeout)?;
        let required = required?;
        let names_only = approvers
            .iter()
            .all(|name| !DECIDING_ROLES.contains(&name.as_str()));
        if ok
            && names_only
            && !approvers.is_empty()
            && required as usize > approvers.len()
            && let Some(entry) = fields.get("required")
        {
            self.error(
                codes::UNMEETABLE_APPROVAL,
                entry.value.span,
                entry.value.length,
                format!(
                    "`required` is {required} but `approvers` names {} decider{}: the gate \
                     could only time out",
                    approvers.len(),
                    if approvers.len() == 1 { "" } else { "s" }
                ),
            )
            .help =
                Some("name more approvers, a role (`approver`), or lower `required`".to_owned());
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(ApproveStep {
            summary: summary?,
            approvers,
            required,
            timeout: timeout?,
        })
    }

    /// `approvers`: a non-empty list of token or role names, each once.
    fn approvers(&mut self, entry: &Entry) -> Option<Vec<String>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                "approvers",
                "a list of token or role names, e.g. `[alice, approver]`",
                &entry.value,
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.key_span,
                entry.key_length,
                "`approvers` is empty: nobody could decide",
            )
            .help = Some("leave `approvers` out to let any approver decide".into());
            return None;
        }
        let mut names: Vec<String> = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let NodeKind::Str(name) = &item.kind else {
                self.error(
                    codes::WRONG_TYPE,
                    item.span,
                    item.length,
                    format!("an approver must be a name, not {}", item.type_name()),
                );
                ok = false;
                continue;
            };
            if !is_token_name(name) {
                self.error(
                    codes::INVALID_NAME,
                    item.span,
                    item.length,
                    format!("`{name}` is not a token or role name"),
                )
                .help = Some(
                    "a token name (`runbook tokens create NAME`: letters, digits, `.`, `_`, \
                     `-`) or the role `approver`"
                        .into(),
                );
                ok = false;
                continue;
            }
            if OTHER_ROLES.contains(&name.as_str()) {
                self.error(
                    codes::UNMEETABLE_APPROVAL,
                    item.span,
                    item.length,
                    format!("the role `{name}` does not decide approvals"),
                )
                .help = Some("name the role `approver` (or `admin`), or token names".into());
                ok = false;
                continue;
            }
            if names.contains(name) {
                self.warning(
                    codes::REDUNDANT,
                    item.span,
                    item.length,
                    format!("approver `{name}` is listed twice"),
                    None,
                );
                continue;
            }
            names.push(name.clone());
        }
        ok.then_some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::is_token_name;

    #[test]
    fn approvers_are_token_names() {
        assert!(is_token_name("alice"));
        assert!(is_token_name("ir-leads.eu_1"));
        assert!(!is_token_name(""));
        assert!(!is_token_name("alice smith"));
        assert!(!is_token_name(&"a".repeat(65)));
    }
}

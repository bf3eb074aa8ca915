//! `secrets:`: the environment variables a playbook may read, each a valid name, listed once.

use crate::codes;
use crate::yaml::{Entry, NodeKind};

use super::Checker;
use super::names::is_identifier;

impl Checker<'_> {
    pub(super) fn secrets(&mut self, entry: &Entry) -> Option<Vec<String>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                "secrets",
                "a list of environment variable names",
                &entry.value,
            );
            return None;
        };
        let mut names: Vec<String> = Vec::new();
        let mut ok = true;
        for item in items {
            let NodeKind::Str(name) = &item.kind else {
                self.error(
                    codes::WRONG_TYPE,
                    item.span,
                    item.length,
                    format!("a secret name must be a string, not {}", item.type_name()),
                );
                ok = false;
                continue;
            };
            if !is_identifier(name, true) {
                self.error(
                    codes::INVALID_NAME,
                    item.span,
                    item.length,
                    format!("`{name}` is not an environment variable name"),
                )
                .help = Some("use letters, digits and `_`, e.g. `SLACK_WEBHOOK`".into());
                ok = false;
                continue;
            }
            if names.contains(name) {
                self.warning(
                    codes::REDUNDANT,
                    item.span,
                    item.length,
                    format!("secret `{name}` is listed twice"),
                    None,
                );
                continue;
            }
            names.push(name.clone());
        }
        ok.then_some(names)
    }
}

//! `set:` steps: at least one value, each named so that templates can read it as
//! `steps.<id>.<name>`.

use indexmap::IndexMap;

use crate::codes;
use crate::model::TemplateValue;
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, NodeKind};

use crate::check::Checker;
use crate::check::names::NameRule;

const SET_NAMES: NameRule = NameRule {
    message: |name| format!("`{name}` cannot be read as `steps.<id>.{name}`"),
    help: "use letters, digits and `_`",
};

impl Checker<'_> {
    pub(super) fn set(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IndexMap<String, TemplateValue>> {
        let NodeKind::Map(entries) = &entry.value.kind else {
            self.wrong_type("set", "a mapping of names to values", &entry.value);
            return None;
        };
        if entries.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.key_span,
                entry.key_length,
                "`set` names no values",
            );
            return None;
        }
        self.named_entries(entries, &SET_NAMES, |checker, value| {
            Some(checker.template_value(value, scope, site))
        })
    }
}

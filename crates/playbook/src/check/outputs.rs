//! `outputs:`: each output's name, and its template checked against every name in scope.

use indexmap::IndexMap;

use crate::model::TemplateValue;
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, NodeKind};

use super::Checker;
use super::names::NameRule;

const OUTPUT_NAMES: NameRule = NameRule {
    message: |name| format!("output name `{name}` is not allowed"),
    help: "use letters, digits and `_`",
};

impl Checker<'_> {
    pub(super) fn outputs(
        &mut self,
        entry: &Entry,
        scope: &Scope,
    ) -> Option<IndexMap<String, TemplateValue>> {
        let NodeKind::Map(entries) = &entry.value.kind else {
            self.wrong_type(
                "outputs",
                "a mapping of output names to templates",
                &entry.value,
            );
            return None;
        };
        // Outputs are rendered after the last step, outside any step.
        let site = Site {
            step_index: None,
            step_when: None,
            handler: false,
        };
        self.named_entries(entries, &OUTPUT_NAMES, |checker, output| {
            Some(checker.template_value(output, scope, site))
        })
    }
}

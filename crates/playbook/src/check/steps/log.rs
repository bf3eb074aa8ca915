//! `log:` steps: one message, text or a template, never a list or a mapping.

use crate::model::TemplateValue;
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, NodeKind};

use crate::check::Checker;

impl Checker<'_> {
    pub(super) fn log(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Null => {
                self.wrong_type("log", "a message (text or template)", &entry.value);
                None
            }
            _ => Some(self.template_value(entry, scope, site)),
        }
    }
}

//! `parameterize:` steps: a package by `package` (name) or `package_id`, never both, and its
//! `params` (each value a scalar that may hold templates).

use indexmap::IndexMap;

use crate::codes;
use crate::model::{PackageRef, ParameterizeStep, TemplateValue};
use crate::templates::{Scope, Site};
use crate::yaml::{Entry, NodeKind};

use crate::check::{Checker, Owner};

impl Checker<'_> {
    pub(super) fn parameterize(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<ParameterizeStep> {
        let fields = self.fields(
            &entry.value,
            owner,
            &["package", "package_id", "params"],
            &[
                ("parameters", "`params`"),
                ("name", "`package`"),
                ("id", "`package_id`"),
            ],
        )?;
        let package = match (fields.get("package"), fields.get("package_id")) {
            (Some(name), None) => self
                .scalar_template(name, scope, site)
                .map(PackageRef::Name),
            (None, Some(id)) => self.scalar_template(id, scope, site).map(PackageRef::Id),
            (None, None) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    owner.span,
                    owner.length,
                    "`parameterize` needs `package` (a name) or `package_id`",
                )
                .help = Some("e.g. `package: Custom Tagging - Add Tags`".into());
                None
            }
            (Some(_), Some(id)) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    id.key_span,
                    id.key_length,
                    "`parameterize` has both `package` and `package_id`; keep one",
                );
                None
            }
        };
        let params = match fields.get("params") {
            None => Some(IndexMap::new()),
            Some(params) => self.params(params, scope, site),
        };
        Some(ParameterizeStep {
            package: package?,
            params: params?,
        })
    }

    /// `params`: a mapping of parameter keys (`$1`, ...) to scalars; empty when null.
    fn params(
        &mut self,
        params: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<IndexMap<String, TemplateValue>> {
        match &params.value.kind {
            NodeKind::Map(entries) => {
                let mut map = IndexMap::new();
                let mut ok = true;
                for param in entries {
                    match self.scalar_template(param, scope, site) {
                        Some(value) => {
                            map.insert(param.key.clone(), value);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(map)
            }
            NodeKind::Null => Some(IndexMap::new()),
            _ => {
                self.wrong_type("params", "a mapping like `$1: value`", &params.value);
                None
            }
        }
    }
}

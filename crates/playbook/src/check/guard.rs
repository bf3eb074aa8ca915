//! `guard:`: the playbook-wide limits checked before an action is sent (`max_endpoints`).

use crate::model::Guard;
use crate::yaml::Entry;

use super::{Checker, Owner};

impl Checker<'_> {
    pub(super) fn guard(&mut self, entry: &Entry) -> Option<Guard> {
        let owner = Owner::key("`guard`", entry);
        let fields = self.fields(&entry.value, owner, &["max_endpoints"], &[])?;
        let max_endpoints = match fields.get("max_endpoints") {
            Some(max) => Some(u64::try_from(self.integer(max, 1, i64::MAX)?).ok()?),
            None => None,
        };
        Some(Guard { max_endpoints })
    }
}

//! `target:` steps: exactly one of `all`/`any` clauses, `filter_group` or raw `text`; each
//! clause's sensor (no templates), operator, value (a valid regex for `matches`) and `when`.

use crate::codes;
use crate::model::{Clause, Combine, Operator, Spanned, TargetStep};
use crate::templates::{Scope, Site, looks_like_template};
use crate::yaml::{Entry, Node, NodeKind};

use crate::check::values::regex_reason;
use crate::check::{Checker, Owner};

impl Checker<'_> {
    pub(super) fn target(
        &mut self,
        entry: &Entry,
        owner: Owner<'_>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TargetStep> {
        let choices = ["all", "any", "filter_group", "text"];
        let fields = self.fields(
            &entry.value,
            owner,
            &choices,
            &[
                ("clauses", "`all:` or `any:`"),
                ("group", "`filter_group`"),
                ("question", "`text`"),
            ],
        )?;
        let present: Vec<&Entry> = choices.iter().filter_map(|key| fields.get(key)).collect();
        match present.as_slice() {
            [] => {
                self.error(codes::CONFLICTING_KEYS, owner.span, owner.length, "`target` needs one of `all`, `any`, `filter_group` or `text`")
                    .help = Some("e.g. `target: { all: [ { sensor: Computer Name, op: equals, value: \"{{ inputs.hostname }}\" } ] }`".into());
                None
            }
            [one] => match one.key.as_str() {
                "all" | "any" => {
                    let combine = if one.key == "all" {
                        Combine::All
                    } else {
                        Combine::Any
                    };
                    self.clauses(one, scope, site)
                        .map(|clauses| TargetStep::Clauses { combine, clauses })
                }
                "filter_group" => self
                    .scalar_template(one, scope, site)
                    .map(TargetStep::FilterGroup),
                _ => self.target_text(one),
            },
            [first, rest @ ..] => {
                for extra in rest {
                    self.error(
                        codes::CONFLICTING_KEYS,
                        extra.key_span,
                        extra.key_length,
                        format!("`target` already has `{}`; use only one of `all`, `any`, `filter_group`, `text`", first.key),
                    );
                }
                None
            }
        }
    }

    /// `target.text`: sent as written, so it may not hold templates.
    fn target_text(&mut self, entry: &Entry) -> Option<TargetStep> {
        let text = self.string(entry)?;
        if looks_like_template(&text) {
            self.error(
                codes::TEMPLATE_IN_RAW_TEXT,
                entry.value.span,
                entry.value.length,
                "`target.text` is sent to Tanium as written and may not hold templates",
            )
            .help =
                Some("put dynamic values in `all:`/`any:` clauses, which quote them safely".into());
            return None;
        }
        Some(TargetStep::Text(Spanned {
            value: text,
            span: entry.value.span,
        }))
    }

    fn clauses(&mut self, entry: &Entry, scope: &Scope, site: Site<'_>) -> Option<Vec<Clause>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                &entry.key,
                "a list of clauses `{ sensor, op, value }`",
                &entry.value,
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.key_span,
                entry.key_length,
                format!("`{}` has no clauses", entry.key),
            )
            .help = Some("add at least one `{ sensor, op, value }` clause".into());
            return None;
        }
        let mut clauses = Vec::new();
        let mut ok = true;
        for item in items {
            match self.clause(item, scope, site) {
                Some(clause) => clauses.push(clause),
                None => ok = false,
            }
        }
        ok.then_some(clauses)
    }

    fn clause(&mut self, item: &Node, scope: &Scope, site: Site<'_>) -> Option<Clause> {
        let fields = self.fields(
            item,
            Owner::node("a clause", item),
            &["sensor", "op", "value", "when"],
            &[("operator", "`op`")],
        )?;
        let mut ok = true;
        let sensor = self
            .required(
                &fields,
                "sensor",
                Some("e.g. `sensor: Computer Name`".into()),
            )
            .and_then(|entry| self.sensor(entry));
        let op = self
            .required(&fields, "op", Some("e.g. `op: equals`".into()))
            .and_then(|entry| {
                let word = self.string(entry)?;
                let names = Operator::ALL.map(Operator::as_str);
                self.word(
                    entry,
                    &word,
                    &names,
                    "a clause operator",
                    Operator::from_name,
                )
            });
        let value = self.required_scalar(
            &fields,
            "value",
            "e.g. `value: \"{{ inputs.hostname }}\"`",
            scope,
            site,
        );
        if let (Some(Operator::Matches), Some(value), Some(entry)) =
            (op, &value, fields.get("value"))
            && let Some(pattern) = value.as_str()
            && !looks_like_template(pattern)
            && let Err(error) = regex::Regex::new(pattern)
        {
            let reason = regex_reason(&error);
            self.error(
                codes::INVALID_REGEX,
                entry.value.span,
                entry.value.length,
                format!("`matches` needs a regular expression: {reason}"),
            );
            ok = false;
        }
        let when = self.optional(&fields, "when", &mut ok, |checker, entry| {
            checker.condition(entry, scope, site)
        });
        let clause = Clause {
            sensor: sensor?,
            op: op?,
            value: value?,
            when,
            span: item.span,
        };
        ok.then_some(clause)
    }

    /// A sensor name is part of the question's structure and may not hold templates.
    fn sensor(&mut self, entry: &Entry) -> Option<String> {
        let sensor = self.string(entry)?;
        if looks_like_template(&sensor) {
            self.error(
                codes::TEMPLATE_IN_RAW_TEXT,
                entry.value.span,
                entry.value.length,
                "a sensor name may not hold templates",
            )
            .help = Some(
                "sensor names are part of the question's structure; only `value` may be dynamic"
                    .into(),
            );
            return None;
        }
        Some(sensor)
    }
}

//! `target:` steps: exactly one of `all`/`any` clauses, `filter_group` or raw `text`; each
//! clause's sensor (no templates), operator, `value` (a valid regex for `matches`) or `values`
//! (any of a list, for the operators that take one) and `when`. `question.from` reads its
//! clauses here too.

use crate::codes;
use crate::model::{
    Clause, ClauseOperand, Combine, MAX_CLAUSE_VALUES, Operator, Spanned, TargetStep, TemplateValue,
};
use crate::templates::{Scope, Site, looks_like_template};
use crate::yaml::{Entry, Node, NodeKind};

use crate::check::values::regex_reason;
use crate::check::{Checker, Fields, Owner};

/// Why a sensor name may not hold templates, and what may.
pub(super) const SENSOR_NAME_HELP: &str = "sensor names are part of the question's structure; only values may be dynamic (a clause's `value` or `values`, a sensor's `params`)";

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

    pub(super) fn clauses(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<Vec<Clause>> {
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
            &["sensor", "op", "value", "values", "when"],
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
        let value = self.clause_operand(&fields, op, scope, site);
        if let (Some(Operator::Matches), Some(ClauseOperand::One(value)), Some(entry)) =
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

    /// Exactly one of `value` (one value) and `values` (any of a list, for the operators that
    /// take one).
    fn clause_operand(
        &mut self,
        fields: &Fields<'_>,
        op: Option<Operator>,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<ClauseOperand> {
        match (fields.get("value"), fields.get("values")) {
            (Some(value), Some(values)) => {
                self.error(
                    codes::CONFLICTING_KEYS,
                    values.key_span,
                    values.key_length,
                    "this clause already has `value`; use `value` for one value or `values` for any of a list",
                )
                .help = Some(format!(
                    "`value` is at line {}; remove one of the two",
                    value.key_span.line
                ));
                None
            }
            (None, Some(values)) => {
                if let Some(op) = op.filter(|op| !op.takes_values()) {
                    self.error(
                        codes::VALUES_NOT_ALLOWED,
                        values.key_span,
                        values.key_length,
                        format!("`{}` compares with one value; `values` is for `equals`, `not_equals`, `contains`, `starts_with` and `ends_with`", op.as_str()),
                    )
                    .help = Some(match op {
                        Operator::Matches => "write one regular expression with alternatives, e.g. `value: \"^(web|db)-\"`".into(),
                        _ => "write one `value`, or one clause per value under `any:`".into(),
                    });
                    return None;
                }
                self.clause_values(values, scope, site)
                    .map(ClauseOperand::AnyOf)
            }
            (Some(_), None) | (None, None) => self
                .required_scalar(
                    fields,
                    "value",
                    "e.g. `value: \"{{ inputs.hostname }}\"`, or `values: [a, b]` for any of a list",
                    scope,
                    site,
                )
                .map(ClauseOperand::One),
        }
    }

    /// `values`: a list of values (each a scalar, which may be a template), at most
    /// [`MAX_CLAUSE_VALUES`], or one template that gives a list.
    fn clause_values(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Str(text) if looks_like_template(text) => {
                Some(self.template_value(entry, scope, site))
            }
            NodeKind::Seq(items) => {
                let mut ok = true;
                for item in items {
                    if matches!(
                        item.kind,
                        NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Null
                    ) {
                        self.error(
                            codes::WRONG_TYPE,
                            item.span,
                            item.length,
                            format!(
                                "each of `values` must be a single value, not {}",
                                item.type_name()
                            ),
                        );
                        ok = false;
                    }
                }
                if items.len() > MAX_CLAUSE_VALUES {
                    self.error(
                        codes::TOO_MANY_VALUES,
                        entry.key_span,
                        entry.key_length,
                        format!(
                            "`values` has {} values; a clause takes at most {MAX_CLAUSE_VALUES}",
                            items.len()
                        ),
                    )
                    .help = Some(
                        "target a filter group instead, or split the list over several steps"
                            .into(),
                    );
                    ok = false;
                }
                let value = self.template_value(entry, scope, site);
                ok.then_some(value)
            }
            _ => {
                self.wrong_type(
                    "values",
                    "a list of values or one template that gives a list, e.g. \"{{ steps.hits.rows | map(attribute='Computer Name') | list }}\"",
                    &entry.value,
                );
                None
            }
        }
    }

    /// A sensor name is part of the question's structure and may not hold templates.
    pub(super) fn sensor(&mut self, entry: &Entry) -> Option<String> {
        let sensor = self.string(entry)?;
        if looks_like_template(&sensor) {
            self.error(
                codes::TEMPLATE_IN_RAW_TEXT,
                entry.value.span,
                entry.value.length,
                "a sensor name may not hold templates",
            )
            .help = Some(SENSOR_NAME_HELP.into());
            return None;
        }
        Some(sensor)
    }
}

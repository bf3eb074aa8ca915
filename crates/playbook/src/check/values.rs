//! Reading one value, shared by every area: strings, booleans, integers in a range, numbers,
//! durations, one word of a fixed list, regular expressions, and values that may hold
//! templates (whose names are checked against the scope).

use std::time::Duration;

use crate::codes;
use crate::duration::{format_duration, parse_duration};
use crate::model::TemplateValue;
use crate::suggest::did_you_mean;
use crate::templates::{Scope, Site, looks_like_template};
use crate::yaml::{Entry, NodeKind};

use super::{Checker, Fields};

/// The last line of a regex error is the reason; the lines above repeat the pattern.
pub(super) fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or("").trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

impl Checker<'_> {
    pub(crate) fn string(&mut self, entry: &Entry) -> Option<String> {
        match &entry.value.kind {
            NodeKind::Str(text) => Some(text.clone()),
            _ => {
                self.wrong_type(&entry.key, "a string", &entry.value);
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, entry: &Entry) -> Option<bool> {
        match &entry.value.kind {
            NodeKind::Bool(value) => Some(*value),
            _ => {
                self.wrong_type(&entry.key, "`true` or `false`", &entry.value);
                None
            }
        }
    }

    pub(crate) fn integer(&mut self, entry: &Entry, minimum: i64, maximum: i64) -> Option<i64> {
        match &entry.value.kind {
            NodeKind::Int(value) if (minimum..=maximum).contains(value) => Some(*value),
            NodeKind::Int(value) => {
                let range = if maximum == i64::MAX {
                    format!("at least {minimum}")
                } else {
                    format!("between {minimum} and {maximum}")
                };
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is {value}; it must be {range}", entry.key),
                );
                None
            }
            _ => {
                self.wrong_type(&entry.key, "an integer", &entry.value);
                None
            }
        }
    }

    pub(crate) fn number(&mut self, entry: &Entry) -> Option<f64> {
        match &entry.value.kind {
            NodeKind::Int(value) => Some(*value as f64),
            NodeKind::Float(value) if value.is_finite() => Some(*value),
            _ => {
                self.wrong_type(&entry.key, "a number", &entry.value);
                None
            }
        }
    }

    /// One of `names`, parsed by `parse`; another word is `INVALID_CHOICE`, called "not
    /// `what`", with the closest name or the list.
    pub(crate) fn word<T>(
        &mut self,
        entry: &Entry,
        word: &str,
        names: &[&str],
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        parse(word).or_else(|| {
            let help = match did_you_mean(word, names.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("use one of: {}", names.join(", ")),
            };
            self.error(
                codes::INVALID_CHOICE,
                entry.value.span,
                entry.value.length,
                format!("`{word}` is not {what}"),
            )
            .help = Some(help);
            None
        })
    }

    pub(crate) fn duration(&mut self, entry: &Entry) -> Option<Duration> {
        match &entry.value.kind {
            NodeKind::Str(text) => match parse_duration(text) {
                Ok(duration) => Some(duration),
                Err(error) => {
                    self.error(
                        codes::INVALID_DURATION,
                        entry.value.span,
                        entry.value.length,
                        format!("`{}`: {error}", entry.key),
                    )
                    .help = Some(
                        "durations are one number and one unit: `500ms`, `30s`, `10m`, `2h`, `1d`"
                            .into(),
                    );
                    None
                }
            },
            NodeKind::Int(value) => {
                self.error(
                    codes::INVALID_DURATION,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is a bare number; a duration needs a unit", entry.key),
                )
                .help = Some(format!(
                    "write `{value}s` for seconds, or `{value}m` for minutes"
                ));
                None
            }
            _ => {
                self.wrong_type(&entry.key, "a duration like `30s`", &entry.value);
                None
            }
        }
    }

    pub(super) fn duration_or(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        default: Duration,
    ) -> Option<Duration> {
        match fields.get(key) {
            Some(entry) => self.duration(entry),
            None => Some(default),
        }
    }

    /// Refuses a zero polling interval, which would hammer the server.
    pub(super) fn positive(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        value: Option<Duration>,
    ) -> Option<()> {
        if value == Some(Duration::ZERO)
            && let Some(entry) = fields.get(key)
        {
            self.error(
                codes::OUT_OF_RANGE,
                entry.value.span,
                entry.value.length,
                format!("`{key}` must be longer than 0s"),
            );
            return None;
        }
        Some(())
    }

    /// A waiting step's `interval` (longer than zero) and `max_interval` (not shorter than
    /// `interval`), with their defaults. `None` when either is bad (each reported).
    pub(super) fn intervals(
        &mut self,
        fields: &Fields<'_>,
        default_interval: Duration,
        default_max: Duration,
    ) -> Option<(Duration, Duration)> {
        let interval = self.duration_or(fields, "interval", default_interval);
        self.positive(fields, "interval", interval)?;
        let max_interval = self.duration_or(fields, "max_interval", default_max);
        let (interval, max_interval) = (interval?, max_interval?);
        if interval > max_interval {
            let at = fields.get("max_interval").or(fields.get("interval"));
            if let Some(entry) = at {
                self.error(
                    codes::OUT_OF_RANGE,
                    entry.value.span,
                    entry.value.length,
                    format!(
                        "`interval` is longer than `max_interval` (default {})",
                        format_duration(default_max)
                    ),
                )
                .help = Some("raise `max_interval` or lower `interval`".into());
            }
            return None;
        }
        Some((interval, max_interval))
    }

    /// A value that may hold templates: any scalar, list or map (strings are templates).
    pub(super) fn template_value(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> TemplateValue {
        let value = entry.value.to_json();
        self.templates
            .check_value(&value, entry.value.span, scope, site, &mut self.problems);
        TemplateValue {
            value,
            span: entry.value.span,
        }
    }

    /// The required scalar `key`, which may hold templates; `help` says what to add when it is
    /// missing.
    pub(super) fn required_scalar(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        help: &str,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        self.required(fields, key, Some(help.to_owned()))
            .and_then(|entry| self.scalar_template(entry, scope, site))
    }

    /// A scalar (string, number or bool) that may hold templates.
    pub(super) fn scalar_template(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Seq(_) | NodeKind::Map(_) => {
                self.wrong_type(&entry.key, "a single value or a template", &entry.value);
                None
            }
            NodeKind::Null => {
                self.error(
                    codes::WRONG_TYPE,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is empty", entry.key),
                );
                None
            }
            _ => Some(self.template_value(entry, scope, site)),
        }
    }

    /// A condition: a template expression or a boolean. Plain text would always be truthy,
    /// which is never what the author meant.
    pub(super) fn condition(
        &mut self,
        entry: &Entry,
        scope: &Scope,
        site: Site<'_>,
    ) -> Option<TemplateValue> {
        match &entry.value.kind {
            NodeKind::Bool(_) => Some(self.template_value(entry, scope, site)),
            NodeKind::Str(text) if looks_like_template(text) => {
                Some(self.template_value(entry, scope, site))
            }
            NodeKind::Str(text) => {
                self.error(
                    codes::WRONG_TYPE,
                    entry.value.span,
                    entry.value.length,
                    format!("`{}` is plain text, which is always true", entry.key),
                )
                .help = Some(format!(
                    "write the expression as a quoted template: `{}: \"{{{{ {text} }}}}\"`",
                    entry.key
                ));
                None
            }
            _ => {
                self.wrong_type(
                    &entry.key,
                    "a template expression like \"{{ inputs.x }}\"",
                    &entry.value,
                );
                None
            }
        }
    }
}

//! Cron lines: reading one with a message that names the bad field and says why, and the
//! firing times of a line in an IANA time zone.
//!
//! Firing times are searched on the zone's wall clock (croner over naive date-times) and then
//! placed on the time line by the rule of Vixie cron, which is what `cron(8)` documents:
//!
//! - A *fixed-time* line (the second, minute and hour fields are plain numbers, lists or
//!   ranges: no `*`, no `/`) names times of day. A named time that does not exist because the
//!   clocks went forward runs once, at the first instant after the gap; a named time that
//!   happens twice because the clocks went back runs once, at its first occurrence.
//! - An *interval* line (`*` or `/` in one of those fields, e.g. `*/15 * * * *`, `@hourly`)
//!   follows real time: wall-clock times inside a gap do not exist and are not run (the
//!   interval goes on after it), and the repeated hour is run on both passes, because those
//!   firings are an interval apart in real time.

use std::collections::BTreeSet;

use chrono::{
    DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset as _, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

use crate::suggest::did_you_mean;

/// Shorthands accepted instead of five fields, and what they stand for.
pub(crate) const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A field of a cron line: its name in messages and the values it allows.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    minimum: u32,
    maximum: u32,
    /// Letters allowed besides numbers, for the hint.
    words: Option<&'static str>,
}

const SECOND: Field = Field {
    name: "second",
    minimum: 0,
    maximum: 59,
    words: None,
};
const MINUTE: Field = Field {
    name: "minute",
    minimum: 0,
    maximum: 59,
    words: None,
};
const HOUR: Field = Field {
    name: "hour",
    minimum: 0,
    maximum: 23,
    words: None,
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    minimum: 1,
    maximum: 31,
    words: Some("`L` (last day), `15W` (weekday nearest the 15th)"),
};
const MONTH: Field = Field {
    name: "month",
    minimum: 1,
    maximum: 12,
    words: Some("JAN-DEC"),
};
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    minimum: 0,
    maximum: 7,
    words: Some("SUN-SAT (0 and 7 are Sunday), `5#2` (second Friday), `5L` (last Friday)"),
};

const FIVE_FIELDS: [Field; 5] = [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];
const SIX_FIELDS: [Field; 6] = [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];

const SHAPE_HELP: &str = "five fields: minute hour day-of-month month day-of-week (e.g. `0 */6 * * *`), \
     or six with seconds first, or a shorthand like `@daily`";

/// A cron line that was read successfully.
#[derive(Debug, Clone)]
pub(crate) struct CronLine {
    cron: Cron,
    fixed_time: bool,
}

/// What is wrong with a cron line, and which characters of it (offset and length in
/// characters) the caret should point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronProblem {
    pub message: String,
    pub help: Option<String>,
    pub offset: usize,
    pub length: usize,
}

impl CronProblem {
    fn whole(text: &str, message: impl Into<String>, help: Option<String>) -> Self {
        Self {
            message: message.into(),
            help,
            offset: 0,
            length: text.chars().count().max(1),
        }
    }
}

fn parser() -> CronParser {
    // Years are not part of the format; seconds are allowed as an optional first field.
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Reads a cron line. Every bad field is reported, each with its name, the reason and its
/// position in the line.
pub(crate) fn parse_cron(text: &str) -> Result<CronLine, Vec<CronProblem>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(vec![CronProblem::whole(
            text,
            "the cron line is empty",
            Some(SHAPE_HELP.to_owned()),
        )]);
    }
    let expanded;
    let (pattern, located) = if trimmed.starts_with('@') {
        let lowered = trimmed.to_ascii_lowercase();
        match NICKNAMES.iter().find(|(nickname, _)| *nickname == lowered) {
            Some((_, pattern)) => {
                expanded = (*pattern).to_owned();
                (expanded.as_str(), false)
            }
            None => {
                let help = match did_you_mean(trimmed, NICKNAMES.iter().map(|(name, _)| *name)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "shorthands are {}",
                        NICKNAMES.map(|(name, _)| format!("`{name}`")).join(", ")
                    ),
                };
                let message = if lowered == "@reboot" {
                    "`@reboot` is not a schedule: runbook fires runs at times, not at start-up"
                        .to_owned()
                } else {
                    format!("`{trimmed}` is not a cron shorthand")
                };
                return Err(vec![CronProblem::whole(text, message, Some(help))]);
            }
        }
    } else {
        (text, true)
    };

    // Each field with its character offset in `text`, so that a caret can point at it.
    let mut fields: Vec<(usize, &str)> = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (char_index, (byte_index, c)) in pattern.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some((char_index, byte_index)),
            (true, Some((char_start, byte_start))) => {
                fields.push((char_start, &pattern[byte_start..byte_index]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((char_start, byte_start)) = start {
        fields.push((char_start, &pattern[byte_start..]));
    }

    let layout: &[Field] = match fields.len() {
        5 => &FIVE_FIELDS,
        6 => &SIX_FIELDS,
        count => {
            let help = if count == 7 {
                "a seventh (year) field is not supported; write five fields, or six with seconds first".to_owned()
            } else {
                SHAPE_HELP.to_owned()
            };
            return Err(vec![CronProblem::whole(
                text,
                format!(
                    "the cron line has {count} field{}; it needs 5 or 6",
                    if count == 1 { "" } else { "s" }
                ),
                Some(help),
            )]);
        }
    };

    // Each field is tried on its own (the others as `*`), so that the message can name it.
    let mut problems = Vec::new();
    for (index, (field, (offset, field_text))) in layout.iter().zip(&fields).enumerate() {
        let alone: Vec<&str> = (0..fields.len())
            .map(|other| if other == index { *field_text } else { "*" })
            .collect();
        if let Err(error) = parser().parse(&alone.join(" ")) {
            let (message, help) = explain(field, field_text, &error);
            let (offset, length) = if located {
                (*offset, field_text.chars().count())
            } else {
                (0, text.chars().count())
            };
            problems.push(CronProblem {
                message,
                help,
                offset,
                length: length.max(1),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let cron = parser().parse(pattern).map_err(|error| {
        vec![CronProblem::whole(
            text,
            format!("the cron line cannot be read: {}", croner_reason(&error)),
            Some(SHAPE_HELP.to_owned()),
        )]
    })?;
    // A line like `0 0 30 2 *` reads fine and never fires; searching from a leap year's start
    // finds every line that fires at all (croner gives up after searching for a long while).
    let leap_year_start = NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    if cron.find_next_occurrence(&leap_year_start, true).is_err() {
        return Err(vec![CronProblem::whole(
            text,
            "the cron line never fires: no date matches its day and month fields",
            Some(
                "check the day of month against the months: February has 28 or 29 days; April, June, September and November have 30"
                    .to_owned(),
            ),
        )]);
    }
    // The time fields are all but the last three (day of month, month, day of week).
    let fixed_time = !fields[..fields.len() - 3]
        .iter()
        .any(|(_, field)| field.contains('*') || field.contains('/'));
    Ok(CronLine { cron, fixed_time })
}

/// Why one field was refused, in words, with a hint.
fn explain(field: &Field, text: &str, error: &CronError) -> (String, Option<String>) {
    let name = field.name;
    let range = format!("{}-{}", field.minimum, field.maximum);
    let allowed = match field.words {
        Some(words) => format!(
            "the {name} field takes numbers {range}, `*`, lists `a,b`, ranges `a-b`, steps `*/n`, and {words}"
        ),
        None => format!(
            "the {name} field takes numbers {range}, `*`, lists `a,b`, ranges `a-b` and steps `*/n`"
        ),
    };
    for item in text.trim_start_matches('+').split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(0) => {
                    return (
                        format!("{name} field `{text}`: a step of 0 never advances"),
                        Some("use a step of 1 or more, e.g. `*/5`".to_owned()),
                    );
                }
                Ok(_) => {}
                Err(_) => {
                    return (
                        format!("{name} field `{text}`: the step `{step}` is not a number"),
                        Some(allowed),
                    );
                }
            }
            if base.is_empty() || base.chars().all(|c| c.is_ascii_digit()) {
                return (
                    format!("{name} field `{text}`: a step needs `*` or a range before the `/`"),
                    Some(format!(
                        "write `*/{step}` for every {step}, or `a-b/{step}` for a range"
                    )),
                );
            }
        }
        // Only the numbers before any `#` or letter suffix are values of the field.
        let values_part = base.split('#').next().unwrap_or(base);
        let numbers: Vec<u32> = values_part
            .split(|c: char| !c.is_ascii_digit())
            .filter(|digits| !digits.is_empty())
            .filter_map(|digits| digits.parse().ok())
            .collect();
        if let Some(out) = numbers
            .iter()
            .find(|value| **value < field.minimum || **value > field.maximum)
        {
            let help = if field.name == "day of month" && *out == 0 {
                "days of the month start at 1".to_owned()
            } else if field.name == "hour" && *out == 24 {
                "hours run 0-23; midnight is 0".to_owned()
            } else {
                allowed
            };
            return (
                format!("{name} field `{text}`: {out} is outside {range}"),
                Some(help),
            );
        }
        if let Some((low, high)) = values_part.split_once('-')
            && let (Ok(low), Ok(high)) = (low.parse::<u32>(), high.parse::<u32>())
            && low > high
        {
            return (
                format!("{name} field `{text}`: the range {low}-{high} runs backwards"),
                Some(format!(
                    "ranges cannot wrap around; write `{low}-{},{}-{high}`",
                    field.maximum, field.minimum
                )),
            );
        }
    }
    if text.chars().any(|c| c.is_alphabetic()) {
        return (
            format!("{name} field `{text}` is not understood"),
            Some(allowed),
        );
    }
    (
        format!("{name} field `{text}`: {}", croner_reason(error)),
        Some(allowed),
    )
}

/// croner's message without its prefix and final full stop.
fn croner_reason(error: &CronError) -> String {
    let text = error.to_string();
    let text = [
        "Component error: ",
        "Invalid pattern: ",
        "Pattern contains illegal characters: ",
    ]
    .iter()
    .fold(text.as_str(), |text, prefix| {
        text.strip_prefix(prefix).unwrap_or(text)
    })
    .trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "invalid".to_owned(),
    }
}

/// Most wall-clock times to look at in one search, so that no line can spin for long.
const MAX_WALL_TIMES: usize = 1_000_000;

impl CronLine {
    /// True when the line names times of day (no `*` or `/` in its time fields).
    pub(crate) fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    /// The first `count` firing times strictly after `after`, in order, by the rules in the
    /// module documentation.
    pub(crate) fn firings_after(
        &self,
        zone: Tz,
        after: DateTime<Utc>,
        count: usize,
    ) -> Vec<DateTime<Utc>> {
        if count == 0 {
            return Vec::new();
        }
        // The search walks the wall clock, which passes a repeated hour once. When `after`
        // falls before or inside the first pass, firings of the second pass lie ahead in time
        // but behind on the wall clock: start that much earlier.
        let offset_at = |instant: DateTime<Utc>| {
            i64::from(
                zone.offset_from_utc_datetime(&instant.naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        };
        let nearby_minimum = [
            after.checked_sub_signed(TimeDelta::days(2)),
            Some(after),
            after.checked_add_signed(TimeDelta::days(2)),
        ]
        .into_iter()
        .flatten()
        .map(offset_at)
        .min()
        .unwrap_or(0);
        let lookback = TimeDelta::seconds((offset_at(after) - nearby_minimum).max(0));
        let local_after = after.with_timezone(&zone).naive_local();
        let Some(mut wall) = local_after
            .checked_sub_signed(TimeDelta::nanoseconds(i64::from(
                local_after.and_utc().timestamp_subsec_nanos(),
            )))
            .and_then(|whole_second| whole_second.checked_sub_signed(lookback))
        else {
            return Vec::new();
        };

        let mut found: BTreeSet<DateTime<Utc>> = BTreeSet::new();
        for _ in 0..MAX_WALL_TIMES {
            let Ok(next) = self.cron.find_next_occurrence(&wall, false) else {
                break;
            };
            wall = next;
            // `settled` is an instant no later wall-clock time can precede.
            let (instants, settled) = match zone.from_local_datetime(&wall) {
                LocalResult::Single(instant) => {
                    let instant = instant.with_timezone(&Utc);
                    (vec![instant], Some(instant))
                }
                LocalResult::Ambiguous(earlier, later) => {
                    let earlier = earlier.with_timezone(&Utc);
                    if self.fixed_time {
                        (vec![earlier], None)
                    } else {
                        (vec![earlier, later.with_timezone(&Utc)], None)
                    }
                }
                LocalResult::None if self.fixed_time => match first_instant_after_gap(zone, wall) {
                    Some(instant) => (vec![instant], Some(instant)),
                    None => (Vec::new(), None),
                },
                LocalResult::None => (Vec::new(), None),
            };
            found.extend(instants.into_iter().filter(|instant| *instant > after));
            if let (Some(settled), Some(last_needed)) = (settled, found.iter().nth(count - 1))
                && settled >= *last_needed
            {
                break;
            }
        }
        found.into_iter().take(count).collect()
    }
}

/// The first instant whose wall-clock time is at or after `wall`, for a `wall` that falls in a
/// gap: the moment the clocks went forward.
fn first_instant_after_gap(zone: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Offsets lie within -12h..+14h, so the answer lies within 15 hours of `wall` read as UTC;
    // the wall clock only moves forward over so short a stretch around a gap.
    let wall_as_utc = wall.and_utc().timestamp();
    let local = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0)
            .map(|instant| instant.with_timezone(&zone).naive_local())
    };
    let mut low = wall_as_utc - 15 * 3600;
    let mut high = wall_as_utc + 15 * 3600;
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if local(middle)? >= wall {
            high = middle;
        } else {
            low = middle;
        }
    }
    DateTime::from_timestamp(high, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<CronProblem> {
        parse_cron(text).err().unwrap_or_default()
    }

    #[test]
    fn five_and_six_fields_and_shorthands_are_read() {
        for text in [
            "0 */6 * * *",
            "*/10 * * * * *",
            "@daily",
            "@HOURLY",
            "0 9 * * MON-FRI",
            "0 0 L * *",
            "0 3 * JAN,JUL 5#2",
            "0 0 29 2 *",
        ] {
            assert!(parse_cron(text).is_ok(), "{text}: {:?}", problems(text));
        }
    }

    #[test]
    fn a_bad_field_is_named_and_located() {
        let found = problems("0 25 * * *");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message, "hour field `25`: 25 is outside 0-23");
        assert_eq!((found[0].offset, found[0].length), (2, 2));

        let found = problems("*/0 * 0 13 *");
        let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "minute field `*/0`: a step of 0 never advances",
                "day of month field `0`: 0 is outside 1-31",
                "month field `13`: 13 is outside 1-12",
            ]
        );
        assert_eq!(found[2].offset, 8);
        assert!(
            problems("0 22-2 * * *")[0]
                .message
                .contains("runs backwards")
        );
        assert!(
            problems("0 0 * * FUNDAY")[0]
                .message
                .contains("day of week")
        );
    }

    #[test]
    fn wrong_shapes_are_explained() {
        assert!(problems("0 0 * *")[0].message.contains("has 4 fields"));
        assert!(
            problems("0 0 0 * * * 2030")[0]
                .help
                .as_deref()
                .is_some_and(|help| help.contains("year"))
        );
        assert!(problems("")[0].message.contains("empty"));
        assert_eq!(
            problems("@dialy")[0].help.as_deref(),
            Some("did you mean `@daily`?")
        );
        assert!(problems("@reboot")[0].message.contains("not a schedule"));
        assert!(problems("0 0 30 2 *")[0].message.contains("never fires"));
    }

    #[test]
    fn fixed_time_lines_name_times_of_day() {
        let fixed = |text: &str| parse_cron(text).map(|line| line.is_fixed_time()).ok();
        assert_eq!(fixed("30 2 * * *"), Some(true));
        assert_eq!(fixed("0 1,2 * * 1-5"), Some(true));
        assert_eq!(fixed("@daily"), Some(true));
        assert_eq!(fixed("0 */6 * * *"), Some(false));
        assert_eq!(fixed("30 * * * *"), Some(false));
        assert_eq!(fixed("@hourly"), Some(false));
        assert_eq!(fixed("*/5 30 2 * * *"), Some(false));
    }
}

//! Durations as playbooks write them: one number, one unit (`500ms`, `30s`, `10m`, `2h`, `1d`).

use std::time::Duration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration")]
    Empty,
    /// No number before the unit.
    #[error("`{0}` has no number: write one number and one unit, like `30s`")]
    MissingNumber(String),
    /// No unit after the number.
    #[error("`{0}` has no unit: write one of ms, s, m, h, d after the number, like `{0}s`")]
    MissingUnit(String),
    /// A unit that is not one of ms, s, m, h, d.
    #[error("`{unit}` in `{text}` is not a unit: use ms, s, m, h or d")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// The number does not fit.
    #[error("`{0}` is too long a duration")]
    Overflow(String),
}

/// Parses `500ms`, `30s`, `10m`, `2h`, `1d`: one whole number, one unit, nothing else.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(runbook_playbook::parse_duration("10m"), Ok(Duration::from_secs(600)));
/// assert!(runbook_playbook::parse_duration("1h30m").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    if number.is_empty() {
        return Err(DurationError::MissingNumber(trimmed.to_owned()));
    }
    if unit.is_empty() {
        return Err(DurationError::MissingUnit(trimmed.to_owned()));
    }
    let amount: u64 = number
        .parse()
        .map_err(|_| DurationError::Overflow(trimmed.to_owned()))?;
    let unit_millis: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(DurationError::UnknownUnit {
                text: trimmed.to_owned(),
                unit: unit.trim().to_owned(),
            });
        }
    };
    let millis = amount
        .checked_mul(unit_millis)
        .ok_or_else(|| DurationError::Overflow(trimmed.to_owned()))?;
    Ok(Duration::from_millis(millis))
}

/// Writes a duration the way a playbook would, in the largest unit that divides it exactly.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_reads() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert_eq!(
            parse_duration("s"),
            Err(DurationError::MissingNumber("s".into()))
        );
        assert!(matches!(
            parse_duration("1h30m"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("5 min"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::MissingNumber(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["500ms", "30s", "10m", "2h", "1d", "0s", "90s"] {
            let duration = parse_duration(text).expect("valid duration");
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}

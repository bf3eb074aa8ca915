//! Time zones: IANA names only, and for a name that is not one, the zone it most likely means
//! (other case, a city without its region, a common abbreviation, a close spelling).

use chrono_tz::Tz;

use crate::codes;
use crate::suggest::did_you_mean;
use crate::yaml::Entry;

use super::checks::Walker;

/// Zone abbreviations people write, with the IANA zone they most often mean.
const ABBREVIATIONS: [(&str, &str); 12] = [
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("MDT", "America/Denver"),
    ("CDT", "America/Chicago"),
    ("CST", "America/Chicago"),
    ("EDT", "America/New_York"),
    ("CEST", "Europe/Berlin"),
    ("BST", "Europe/London"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("AEST", "Australia/Sydney"),
    ("AEDT", "Australia/Sydney"),
];

impl Walker<'_> {
    /// A `timezone`: an IANA zone name; a mistyped one gets the zone it most likely means.
    pub(super) fn timezone(&mut self, entry: &Entry) -> Option<Tz> {
        let name = self.checker.string(entry)?;
        if let Ok(zone) = name.parse::<Tz>() {
            return Some(zone);
        }
        let suggestion = suggest_zone(&name);
        let help = match suggestion {
            Some(zone) => format!("did you mean `{zone}`?"),
            None => "use an IANA time zone name like `Europe/Berlin`, `America/New_York` or `UTC`"
                .to_owned(),
        };
        self.checker
            .error(
                codes::UNKNOWN_TIME_ZONE,
                entry.value.span,
                entry.value.length,
                format!("unknown time zone `{name}`"),
            )
            .help = Some(help);
        None
    }
}

/// The IANA zone a mistyped name most likely means: the same name in other case, a city
/// written without its region (`Berlin`, `new york`), a common abbreviation (`PST`), or a
/// close spelling.
fn suggest_zone(name: &str) -> Option<&'static str> {
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name());
    let normalized = name.trim().replace(' ', "_");
    if let Some(zone) = names().find(|zone| zone.eq_ignore_ascii_case(&normalized)) {
        return Some(zone);
    }
    if let Some((_, zone)) = ABBREVIATIONS
        .iter()
        .find(|(abbreviation, _)| abbreviation.eq_ignore_ascii_case(&normalized))
    {
        return Some(zone);
    }
    if !normalized.contains('/')
        && let Some(zone) = names().find(|zone| {
            zone.contains('/')
                && zone
                    .rsplit('/')
                    .next()
                    .is_some_and(|city| city.eq_ignore_ascii_case(&normalized))
        })
    {
        return Some(zone);
    }
    did_you_mean(&normalized, names().filter(|zone| zone.contains('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_suggestions() {
        assert_eq!(suggest_zone("europe/berlin"), Some("Europe/Berlin"));
        assert_eq!(suggest_zone("New York"), Some("America/New_York"));
        assert_eq!(suggest_zone("PST"), Some("America/Los_Angeles"));
        assert_eq!(suggest_zone("Europe/Berln"), Some("Europe/Berlin"));
    }
}

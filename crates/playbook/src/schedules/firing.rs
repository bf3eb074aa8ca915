//! When a schedule fires: its next firings in its time zone (daylight-saving changes handled
//! by the cron module's rule), the latest missed firing for `catch_up: latest`, and the key
//! that makes a firing unique across serve processes.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::Schedule;
use super::cron;

impl Schedule {
    /// Firing times strictly after `after`, in UTC, at most `count` of them, in order.
    ///
    /// The cron line is read on the wall clock of [`Schedule::timezone`]. Daylight saving:
    /// a time of day named by a fixed-time line (no `*` or `/` in its second, minute and hour
    /// fields) that does not exist runs once at the first instant after the gap, and one that
    /// happens twice runs once, at its first occurrence; an interval line (`*/15 * * * *`,
    /// `0 */6 * * *`, `@hourly`) follows real time through both changes. A cron line that
    /// does not parse (only possible for a hand-built `Schedule`) has no firings.
    ///
    /// ```
    /// # use chrono::{TimeZone, Utc};
    /// let file = runbook_playbook::load_schedules(
    ///     "schedules.yaml",
    ///     "version: 1\nschedules:\n  - { name: nightly, playbook: p.yaml, cron: '30 2 * * *', timezone: America/New_York }\n",
    /// ).file.expect("valid");
    /// // 2:30 does not exist in New York on 2026-03-08: the run happens at 3:00 EDT.
    /// let firings = file.schedules[0].next_firings(Utc.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap(), 2);
    /// assert_eq!(firings[0].to_rfc3339(), "2026-03-07T07:30:00+00:00");
    /// assert_eq!(firings[1].to_rfc3339(), "2026-03-08T07:00:00+00:00");
    /// ```
    pub fn next_firings(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        match cron::parse_cron(&self.cron) {
            Ok(line) => line.firings_after(self.timezone, after, count),
            Err(_) => Vec::new(),
        }
    }

    /// The firing key that makes a firing unique across serve processes:
    /// `"<name>@<RFC3339 UTC>"`, to the second, e.g. `sweep@2026-03-08T07:00:00Z`.
    pub fn firing_key(&self, at: DateTime<Utc>) -> String {
        format!(
            "{}@{}",
            self.name,
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// The latest firing in `(after, until]`, for `catch_up: latest` after downtime.
    pub fn last_firing_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let line = cron::parse_cron(&self.cron).ok()?;
        // Look back from `until` in growing windows, so that a frequent line does not walk
        // every firing of a long downtime and a rare one is still found.
        let mut window = TimeDelta::hours(1);
        loop {
            let from = until
                .checked_sub_signed(window)
                .map_or(after, |from| from.max(after));
            let mut cursor = from;
            let mut latest = None;
            'window: loop {
                const BATCH: usize = 256;
                let batch = line.firings_after(self.timezone, cursor, BATCH);
                let full = batch.len() == BATCH;
                for firing in batch {
                    if firing > until {
                        break 'window;
                    }
                    latest = Some(firing);
                    cursor = firing;
                }
                if !full {
                    break;
                }
            }
            if latest.is_some() || from == after {
                return latest;
            }
            window = window.checked_mul(4)?;
        }
    }

    /// True when the cron line names times of day (see [`Schedule::next_firings`]).
    pub fn is_fixed_time(&self) -> bool {
        cron::parse_cron(&self.cron).is_ok_and(|line| line.is_fixed_time())
    }
}

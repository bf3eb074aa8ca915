//! The schedules file: which playbooks `runbook serve` runs, when, and with which inputs.
//!
//! ```yaml
//! version: 1
//! schedules:
//!   - name: sweep-windows
//!     playbook: ../playbooks/client-log-level.yaml
//!     cron: "0 */6 * * *"
//!     timezone: Europe/Berlin
//!     inputs: { level: 1 }
//! ```
//!
//! [`load_schedules`] reads and checks the file itself (keys, types, names, cron lines, time
//! zones, allowed words); [`load_schedules_with_playbooks`] also loads each playbook through a
//! callback (this crate does no I/O), validates it and checks the schedule's inputs against its
//! declarations. Like [`load`](crate::load), both collect every problem in one pass.
//!
//! Modules: `model` (the file as read), `checks` (keys, names, cron lines, inputs, words),
//! `zones` (IANA names and suggestions), `cron` (reading a cron line and its firing times),
//! `firing` (a schedule's next and missed firings), `loading` (the entry points, playbooks and
//! their inputs) and `schema` (the JSON Schema).

mod checks;
mod cron;
mod firing;
mod loading;
mod model;
mod schema;
mod zones;

pub use loading::{load_schedules, load_schedules_with_playbooks, resolve_playbook_path};
pub use model::{
    CatchUp, LoadedSchedules, Mark, Overlap, PlaybookSource, Schedule, ScheduleFile, ScheduleMarks,
};
pub use schema::schedules_json_schema;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Span;
    use chrono::TimeZone as _;
    use chrono::Utc;
    use chrono_tz::Tz;

    const GOOD: &str = "version: 1\nschedules:\n  - name: sweep\n    playbook: p.yaml\n    cron: \"0 */6 * * *\"\n    timezone: Europe/Berlin\n    inputs: { level: 1 }\n    overlap: queue\n    catch_up: latest\n    enabled: false\n";

    #[test]
    fn a_full_entry_is_read() {
        let loaded = load_schedules("s.yaml", GOOD);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let file = loaded.file.expect("valid");
        let schedule = &file.schedules[0];
        assert_eq!(schedule.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(schedule.overlap, Overlap::Queue);
        assert_eq!(schedule.catch_up, CatchUp::Latest);
        assert!(!schedule.enabled);
        assert_eq!(schedule.inputs["level"], serde_json::json!(1));
        assert_eq!(schedule.marks.cron.span, Span::new(5, 11));
    }

    #[test]
    fn defaults_apply() {
        let loaded = load_schedules(
            "s.yaml",
            "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '@daily' }\n",
        );
        let file = loaded.file.expect("valid");
        let schedule = &file.schedules[0];
        assert_eq!(schedule.timezone, Tz::UTC);
        assert_eq!(
            (schedule.overlap, schedule.catch_up, schedule.enabled),
            (Overlap::Skip, CatchUp::None, true)
        );
    }

    #[test]
    fn firing_keys_are_utc_to_the_second() {
        let file = load_schedules("s.yaml", GOOD).file.expect("valid");
        let at = Utc
            .with_ymd_and_hms(2026, 3, 8, 7, 0, 0)
            .single()
            .expect("valid time");
        assert_eq!(
            file.schedules[0].firing_key(at),
            "sweep@2026-03-08T07:00:00Z"
        );
    }

    #[test]
    fn the_latest_missed_firing_is_found() {
        let file = load_schedules("s.yaml", GOOD).file.expect("valid");
        let schedule = &file.schedules[0];
        let at = |day, hour, minute| {
            Utc.with_ymd_and_hms(2026, 1, day, hour, minute, 0)
                .single()
                .expect("valid time")
        };
        // Berlin is UTC+1 in January: firings at 23:00, 05:00, 11:00 and 17:00 UTC.
        assert_eq!(
            schedule.last_firing_between(at(1, 0, 0), at(3, 12, 0)),
            Some(at(3, 11, 0))
        );
        assert_eq!(
            schedule.last_firing_between(at(3, 11, 0), at(3, 12, 0)),
            None
        );
        assert_eq!(
            schedule.last_firing_between(at(3, 10, 0), at(3, 11, 0)),
            Some(at(3, 11, 0))
        );
    }
}

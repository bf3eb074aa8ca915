//! The scheduler task: fires each schedule's runs into the store's queue at its cron times.
//!
//! Every serve process with `--schedules` runs one; they need not agree on anything, because a
//! firing is queued under its firing key (`name@time`), which the store keeps unique: the
//! first process to fire it makes the run, the others find it fired. The schedules file and
//! each playbook are read again at every firing, so a fix (or a mistake) takes effect without
//! a restart; an invalid playbook skips its firing with an error in the log, and an invalid
//! schedules file keeps the last good one in force.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use runbook_engine::NewRun;
use runbook_playbook::{CatchUp, Overlap, Schedule, ScheduleFile};
use runbook_store::{Enqueued, QueueEntry, SqlStore};
use tokio::sync::{Notify, watch};

use super::metrics::Metrics;
use crate::commands::enqueue::queued_run;

/// The longest the scheduler sleeps without reading the schedules file again, so that a new
/// schedule is noticed even while no other fires.
const LONGEST_NAP: Duration = Duration::from_secs(60);

/// How long the scheduler waits before trying a firing again after the store failed it.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What became of one firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Firing {
    /// Queued, found fired already, or skipped on purpose (overlap, invalid playbook).
    Settled,
    /// The store did not answer; the firing stays due.
    StoreFailed,
}

/// Firing times are computed this many at a time: usually one or two are due, and computing
/// thousands (a seconds field over a long sleep) costs real time.
const FIRING_BATCH: usize = 8;

/// How many due firings are counted one by one; past this, the latest is looked up directly
/// (a seconds field over a long suspension would otherwise mean millions of firing times).
const MISSED_COUNT_LIMIT: usize = 1_000;

/// The latest firing of `schedule` in `(cursor, now]`, and how many earlier ones were due too
/// (counted up to about [`MISSED_COUNT_LIMIT`]).
fn due_firings(
    schedule: &Schedule,
    cursor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, usize) {
    let mut latest = None;
    let mut due = 0usize;
    let mut from = cursor;
    'batches: loop {
        let batch = schedule.next_firings(from, FIRING_BATCH);
        let full = batch.len() == FIRING_BATCH;
        for firing in batch {
            if firing > now {
                break 'batches;
            }
            latest = Some(firing);
            due += 1;
            from = firing;
        }
        if !full {
            break;
        }
        if due >= MISSED_COUNT_LIMIT {
            latest = schedule.last_firing_between(from, now).or(latest);
            break;
        }
    }
    (latest, due.saturating_sub(1))
}

/// Reads and validates a schedules file; the error is the rendered diagnostics.
pub fn load_file(path: &Path) -> Result<ScheduleFile, String> {
    let source = crate::files::read_text(path, crate::files::Kind::Schedules)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let loaded = runbook_playbook::load_schedules(&path.display().to_string(), &source);
    for warning in loaded
        .diagnostics
        .iter()
        .filter(|diagnostic| !diagnostic.is_error())
    {
        tracing::warn!(
            file = %path.display(),
            "{}",
            runbook_playbook::render_human(std::slice::from_ref(warning), false).trim_end()
        );
    }
    match loaded.file {
        Some(file) if !loaded.has_errors() => Ok(file),
        _ => Err(runbook_playbook::render_human(&loaded.diagnostics, false)),
    }
}

/// The scheduler of one serve process.
pub struct Scheduler {
    path: PathBuf,
    file: ScheduleFile,
    /// Per schedule: firings up to this time have been handled.
    cursors: HashMap<String, DateTime<Utc>>,
    store: Arc<SqlStore>,
    metrics: Arc<Metrics>,
    /// Wakes this process's idle workers when a run is queued.
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Scheduler")
            .field("path", &self.path)
            .field("schedules", &self.file.schedules.len())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    pub fn new(
        path: PathBuf,
        file: ScheduleFile,
        store: Arc<SqlStore>,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Scheduler {
        Scheduler {
            path,
            file,
            cursors: HashMap::new(),
            store,
            metrics,
            wake,
        }
    }

    /// Fires schedules until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let start = Utc::now();
        for schedule in self.file.schedules.clone() {
            self.cursors.insert(schedule.name.clone(), start);
            if !schedule.enabled {
                tracing::info!(schedule = %schedule.name, "schedule disabled");
                continue;
            }
            // Checked now so that a broken playbook shows at start, not at its first firing.
            match self.prepare(&schedule) {
                Ok(_) => tracing::info!(
                    schedule = %schedule.name,
                    cron = %schedule.cron,
                    timezone = %schedule.timezone,
                    next = ?schedule.next_firings(start, 1).first().map(DateTime::to_rfc3339),
                    "schedule loaded"
                ),
                Err(error) => tracing::error!(
                    schedule = %schedule.name,
                    error = %error,
                    "schedule loaded, but its playbook cannot run; its firings are skipped until it is fixed"
                ),
            }
        }
        self.catch_up(start).await;
        let mut store_failed = false;
        loop {
            let now = Utc::now();
            let mut nap = self
                .next_firing()
                .map(|next| (next - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(LONGEST_NAP)
                .min(LONGEST_NAP);
            if store_failed {
                // The failed firing is still due: try it again, without spinning on it.
                nap = nap.max(STORE_RETRY);
            }
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            let now = Utc::now();
            self.reload(now);
            store_failed = self.fire_due(now).await;
        }
        tracing::debug!("scheduler stopped");
    }

    fn enabled(&self) -> impl Iterator<Item = &Schedule> {
        self.file
            .schedules
            .iter()
            .filter(|schedule| schedule.enabled)
    }

    fn next_firing(&self) -> Option<DateTime<Utc>> {
        self.enabled()
            .filter_map(|schedule| {
                let cursor = self.cursors.get(&schedule.name)?;
                schedule.next_firings(*cursor, 1).into_iter().next()
            })
            .min()
    }

    /// Reads the schedules file again; a broken file keeps the last good one in force.
    fn reload(&mut self, now: DateTime<Utc>) {
        match load_file(&self.path) {
            Ok(file) => {
                for schedule in &file.schedules {
                    if !self.cursors.contains_key(&schedule.name) {
                        tracing::info!(schedule = %schedule.name, "new schedule");
                        self.cursors.insert(schedule.name.clone(), now);
                    }
                }
                self.file = file;
            }
            Err(error) => tracing::error!(
                file = %self.path.display(),
                error = %error,
                "the schedules file is invalid; the last valid version stays in force"
            ),
        }
    }

    /// Fires what is due; true when the store failed a firing, which stays due.
    async fn fire_due(&mut self, now: DateTime<Utc>) -> bool {
        let mut store_failed = false;
        let schedules: Vec<Schedule> = self.enabled().cloned().collect();
        for schedule in schedules {
            let Some(cursor) = self.cursors.get(&schedule.name).copied() else {
                continue;
            };
            let (latest, missed) = due_firings(&schedule, cursor, now);
            let Some(latest) = latest else {
                continue;
            };
            if missed > 0 {
                tracing::warn!(
                    schedule = %schedule.name,
                    missed,
                    "firings were missed (the process was suspended or too busy); firing the latest only"
                );
            }
            self.cursors.insert(schedule.name.clone(), latest);
            if self.fire(&schedule, latest).await == Firing::StoreFailed {
                self.cursors.insert(schedule.name.clone(), cursor);
                store_failed = true;
            }
        }
        store_failed
    }

    /// `catch_up: latest`: a firing missed while no serve process was up runs once now.
    async fn catch_up(&mut self, start: DateTime<Utc>) {
        let schedules: Vec<Schedule> = self
            .enabled()
            .filter(|schedule| schedule.catch_up == CatchUp::Latest)
            .cloned()
            .collect();
        for schedule in schedules {
            let latest = match self.store.latest_firing(&schedule.name).await {
                Ok(latest) => latest,
                Err(error) => {
                    tracing::error!(schedule = %schedule.name, %error, "cannot read the latest firing; no catch-up");
                    continue;
                }
            };
            // A schedule that never fired has missed nothing yet.
            let Some(latest) = latest else { continue };
            if let Some(missed) = schedule.last_firing_between(latest, start) {
                tracing::info!(
                    schedule = %schedule.name,
                    firing = %missed.to_rfc3339(),
                    "catching up a firing missed while no serve process was up"
                );
                self.fire(&schedule, missed).await;
            }
        }
    }

    /// The run a firing of `schedule` queues: its playbook read and validated now.
    fn prepare(&self, schedule: &Schedule) -> Result<NewRun, String> {
        let path = runbook_playbook::resolve_playbook_path(&self.path, &schedule.playbook);
        let shown = path.display().to_string();
        let source = crate::files::read_text(&path, crate::files::Kind::Playbook)
            .map_err(|error| format!("cannot read playbook {shown}: {error}"))?;
        let loaded = runbook_playbook::load(&shown, &source);
        let Some(playbook) = loaded.playbook else {
            return Err(format!(
                "playbook {shown} is invalid:\n{}",
                runbook_playbook::render_human(&loaded.diagnostics, false)
            ));
        };
        let inputs =
            runbook_playbook::bind_inputs(&playbook, &[], &schedule.inputs).map_err(|errors| {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                format!(
                    "the schedule's inputs do not fit playbook {shown}: {}",
                    errors.join("; ")
                )
            })?;
        queued_run(
            &playbook,
            &source,
            Some(shown),
            &inputs,
            format!("schedule:{}", schedule.name),
        )
    }

    async fn fire(&self, schedule: &Schedule, at: DateTime<Utc>) -> Firing {
        let key = schedule.firing_key(at);
        let run = match self.prepare(schedule) {
            Ok(run) => run,
            Err(error) => {
                self.metrics.firing("invalid");
                tracing::error!(
                    schedule = %schedule.name,
                    firing_key = %key,
                    error = %error,
                    "firing skipped: the playbook cannot run"
                );
                return Firing::Settled;
            }
        };
        if schedule.overlap == Overlap::Skip {
            // Another process may have fired this very firing: that is not an overlap.
            let fired = self.store.has_fired(&key).await;
            let active = self.store.active_runs_of_schedule(&schedule.name).await;
            match (fired, active) {
                (Ok(true), _) => {
                    self.metrics.firing("already_fired");
                    return Firing::Settled;
                }
                (Ok(false), Ok(active)) if active > 0 => {
                    self.metrics.firing("skipped_overlap");
                    tracing::info!(
                        schedule = %schedule.name,
                        firing_key = %key,
                        active,
                        "firing skipped: the previous run is still going (overlap: skip)"
                    );
                    return Firing::Settled;
                }
                (Ok(false), Ok(_)) => {}
                (Err(error), _) | (_, Err(error)) => {
                    self.metrics.firing("store_error");
                    tracing::error!(schedule = %schedule.name, firing_key = %key, %error, "the store did not answer; the firing is tried again");
                    return Firing::StoreFailed;
                }
            }
        }
        let entry = QueueEntry {
            schedule_name: Some(&schedule.name),
            firing_key: Some(&key),
            waits_for_previous: schedule.overlap == Overlap::Queue,
        };
        match self.store.enqueue_entry(&run, &entry).await {
            Ok(Enqueued::Queued(run_id)) => {
                self.metrics.firing("queued");
                self.wake.notify_one();
                tracing::info!(
                    schedule = %schedule.name,
                    firing_key = %key,
                    run_id = %run_id,
                    "fired"
                );
                Firing::Settled
            }
            Ok(Enqueued::AlreadyFired) => {
                self.metrics.firing("already_fired");
                tracing::debug!(schedule = %schedule.name, firing_key = %key, "already fired by another process");
                Firing::Settled
            }
            Err(error) => {
                self.metrics.firing("store_error");
                tracing::error!(schedule = %schedule.name, firing_key = %key, %error, "the store did not answer; the firing is tried again");
                Firing::StoreFailed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn every_second() -> Schedule {
        let loaded = runbook_playbook::load_schedules(
            "schedules.yaml",
            "version: 1\nschedules:\n  - { name: tick, playbook: p.yaml, cron: '* * * * * *' }\n",
        );
        loaded.file.expect("valid").schedules.remove(0)
    }

    #[test]
    fn only_the_latest_due_firing_is_fired_and_the_rest_counted() {
        let schedule = every_second();
        let cursor = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
        let now = cursor + chrono::TimeDelta::milliseconds(5_500);
        let (latest, missed) = due_firings(&schedule, cursor, now);
        assert_eq!(latest, Some(cursor + chrono::TimeDelta::seconds(5)));
        assert_eq!(missed, 4);
        // Nothing due yet: no firing, nothing missed.
        let (latest, missed) = due_firings(&schedule, cursor, cursor);
        assert_eq!((latest, missed), (None, 0));
        // Exactly on time: one firing, none missed.
        let (latest, missed) =
            due_firings(&schedule, cursor, cursor + chrono::TimeDelta::seconds(1));
        assert_eq!(latest, Some(cursor + chrono::TimeDelta::seconds(1)));
        assert_eq!(missed, 0);
    }

    #[test]
    fn a_long_suspension_is_counted_in_bounded_time() {
        let schedule = every_second();
        let cursor = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
        let now = cursor + chrono::TimeDelta::days(30);
        let (latest, missed) = due_firings(&schedule, cursor, now);
        assert_eq!(
            latest,
            Some(now),
            "the latest firing, found without walking to it"
        );
        assert!(missed + 1 >= MISSED_COUNT_LIMIT, "{missed}");
    }
}

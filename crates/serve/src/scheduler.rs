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

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use runbook_engine::{NewRun, StoreError};
use runbook_playbook::{CatchUp, Overlap, Schedule, ScheduleFile};
use runbook_store::{Enqueued, QueueEntry, SqlStore};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::files::{self, Kind};
use crate::metrics::Metrics;
use crate::record::queued_run;

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

/// What the scheduler asks of the store's queue: [`SqlStore`]'s methods of the same names.
/// A trait so that the scheduler's tests run on paused time against a queue in memory (a
/// database answers from threads of its own, which paused time does not wait for).
#[async_trait]
pub trait FiringQueue: Send + Sync {
    /// The time of the schedule's latest firing that made a run, if any.
    async fn latest_firing(&self, schedule_name: &str)
    -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Whether a run was queued for this firing key already (by any process).
    async fn has_fired(&self, firing_key: &str) -> Result<bool, StoreError>;
    /// Runs of the schedule that are queued or running.
    async fn active_runs_of_schedule(&self, schedule_name: &str) -> Result<u64, StoreError>;
    /// Queues a run, once per firing key.
    async fn enqueue_entry(
        &self,
        run: &NewRun,
        entry: &QueueEntry<'_>,
    ) -> Result<Enqueued, StoreError>;
}

#[async_trait]
impl FiringQueue for SqlStore {
    async fn latest_firing(
        &self,
        schedule_name: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        SqlStore::latest_firing(self, schedule_name).await
    }

    async fn has_fired(&self, firing_key: &str) -> Result<bool, StoreError> {
        SqlStore::has_fired(self, firing_key).await
    }

    async fn active_runs_of_schedule(&self, schedule_name: &str) -> Result<u64, StoreError> {
        SqlStore::active_runs_of_schedule(self, schedule_name).await
    }

    async fn enqueue_entry(
        &self,
        run: &NewRun,
        entry: &QueueEntry<'_>,
    ) -> Result<Enqueued, StoreError> {
        SqlStore::enqueue_entry(self, run, entry).await
    }
}

/// Reads and validates a schedules file; the error is the rendered diagnostics.
pub fn load_schedules(path: &Path) -> Result<ScheduleFile, String> {
    let source = files::read_text(path, Kind::Schedules)
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

/// The secrets each enabled schedule's playbook lists that are not set in this process's
/// environment, as `(schedule, names)`: its firings would queue runs that a worker of this
/// process fails at once. Playbooks that cannot be read or are invalid are left to the firing,
/// which reads them again and says why.
pub fn unset_schedule_secrets(
    path: &Path,
    file: &ScheduleFile,
    is_set: impl Fn(&str) -> bool,
) -> Vec<(String, Vec<String>)> {
    file.schedules
        .iter()
        .filter(|schedule| schedule.enabled)
        .filter_map(|schedule| {
            let playbook_path = runbook_playbook::resolve_playbook_path(path, &schedule.playbook);
            let source = files::read_text(&playbook_path, Kind::Playbook).ok()?;
            let playbook = runbook_playbook::load(&schedule.playbook, &source).playbook?;
            let unset: Vec<String> = playbook
                .secrets
                .iter()
                .filter(|name| !is_set(name))
                .cloned()
                .collect();
            (!unset.is_empty()).then(|| (schedule.name.clone(), unset))
        })
        .collect()
}

/// The scheduler of one serve process.
pub struct Scheduler {
    path: PathBuf,
    file: ScheduleFile,
    /// Per schedule: firings up to this time have been handled.
    cursors: HashMap<String, DateTime<Utc>>,
    store: Arc<dyn FiringQueue>,
    metrics: Arc<Metrics>,
    /// Wakes this process's idle workers when a run is queued.
    wake: Arc<Notify>,
    clock: Clock,
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
    /// A scheduler of `file` (read from `path`, and read again at every firing) that queues
    /// into `store`, counts into `metrics`, wakes `wake` when it queued a run, and reads the
    /// time from `clock`.
    pub fn new(
        path: PathBuf,
        file: ScheduleFile,
        store: Arc<dyn FiringQueue>,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
        clock: Clock,
    ) -> Scheduler {
        Scheduler {
            path,
            file,
            cursors: HashMap::new(),
            store,
            metrics,
            wake,
            clock,
        }
    }

    /// Fires schedules until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let start = self.clock.now();
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
            let now = self.clock.now();
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
                () = self.clock.sleep(nap) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            let now = self.clock.now();
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
        match load_schedules(&self.path) {
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
        let source = files::read_text(&path, Kind::Playbook)
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
        // A schedule's inputs are written in the schedules file: a secret one would be kept
        // in clear there (RB045), key or not.
        let secret: Vec<&str> = playbook
            .inputs
            .iter()
            .filter(|(_, declaration)| declaration.secret)
            .map(|(name, _)| name.as_str())
            .collect();
        if !secret.is_empty() {
            return Err(format!(
                "playbook {shown} has secret input(s) {}: a schedule cannot give them (RB045); \
                 read the value from serve's environment with `secrets:` instead",
                secret.join(", ")
            ));
        }
        queued_run(
            &playbook,
            &source,
            Some(shown),
            &inputs,
            format!("schedule:{}", schedule.name),
            None,
        )
        .map(|queued| queued.run)
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
            ..QueueEntry::default()
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
            // A firing is not a keyed enqueue: a duplicate is only ever another process's
            // firing of the same key.
            Ok(Enqueued::AlreadyFired | Enqueued::Duplicate(_)) => {
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
    use std::sync::Mutex;

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

    /// A queue in memory whose runs end as soon as they are queued (none is ever active).
    /// `failures` enqueues fail first.
    #[derive(Debug, Default)]
    struct MemoryQueue {
        /// Schedule, firing key and when (on tokio's clock) each run was queued.
        runs: Mutex<Vec<(String, String, tokio::time::Instant)>>,
        failures: Mutex<u32>,
    }

    impl MemoryQueue {
        fn keys(&self) -> Vec<String> {
            let runs = self.runs.lock().expect("not poisoned");
            runs.iter().map(|(_, key, _)| key.clone()).collect()
        }
    }

    #[async_trait]
    impl FiringQueue for MemoryQueue {
        async fn latest_firing(
            &self,
            schedule_name: &str,
        ) -> Result<Option<DateTime<Utc>>, StoreError> {
            let runs = self.runs.lock().expect("not poisoned");
            Ok(runs
                .iter()
                .filter(|(schedule, _, _)| schedule == schedule_name)
                .filter_map(|(_, key, _)| crate::worker::firing_time(key))
                .max())
        }

        async fn has_fired(&self, firing_key: &str) -> Result<bool, StoreError> {
            let runs = self.runs.lock().expect("not poisoned");
            Ok(runs.iter().any(|(_, key, _)| key == firing_key))
        }

        async fn active_runs_of_schedule(&self, _schedule_name: &str) -> Result<u64, StoreError> {
            Ok(0)
        }

        async fn enqueue_entry(
            &self,
            run: &NewRun,
            entry: &QueueEntry<'_>,
        ) -> Result<Enqueued, StoreError> {
            {
                let mut failures = self.failures.lock().expect("not poisoned");
                if *failures > 0 {
                    *failures -= 1;
                    return Err(StoreError::new("the database is away"));
                }
            }
            let key = entry.firing_key.expect("a firing key").to_owned();
            if self.has_fired(&key).await? {
                return Ok(Enqueued::AlreadyFired);
            }
            let schedule = entry.schedule_name.expect("a schedule").to_owned();
            let mut runs = self.runs.lock().expect("not poisoned");
            runs.push((schedule, key, tokio::time::Instant::now()));
            Ok(Enqueued::Queued(run.run_id.clone()))
        }
    }

    /// Runs a scheduler of one schedule `tick` (with these `fields` besides its name and
    /// playbook) from `start` for `span` of paused time.
    async fn schedule_for(
        fields: &str,
        queue: Arc<MemoryQueue>,
        start: DateTime<Utc>,
        span: Duration,
    ) -> Arc<Metrics> {
        let folder = tempfile::tempdir().expect("temporary folder");
        std::fs::write(
            folder.path().join("p.yaml"),
            "version: 1\nname: tick\nsteps:\n  - id: hello\n    log: hi\n",
        )
        .expect("write the playbook");
        let path = folder.path().join("schedules.yaml");
        std::fs::write(
            &path,
            format!("version: 1\nschedules:\n  - {{ name: tick, playbook: p.yaml, {fields} }}\n"),
        )
        .expect("write the schedules");
        let file = load_schedules(&path).expect("valid schedules");
        let metrics = Arc::new(Metrics::default());
        let scheduler = Scheduler::new(
            path,
            file,
            queue,
            metrics.clone(),
            Arc::new(Notify::new()),
            Clock::following_tokio(start),
        );
        let (stop, stopping) = watch::channel(false);
        let running = tokio::spawn(scheduler.run(stopping));
        tokio::time::sleep(span).await;
        stop.send(true).expect("the scheduler listens");
        running.await.expect("the scheduler stopped");
        metrics
    }

    #[tokio::test(start_paused = true)]
    async fn firings_are_queued_at_their_times_on_paused_time() {
        let queue = Arc::new(MemoryQueue::default());
        let start = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap()
            + chrono::TimeDelta::milliseconds(500);
        let began = tokio::time::Instant::now();
        let metrics = schedule_for(
            "cron: '* * * * * *'",
            queue.clone(),
            start,
            Duration::from_secs(3),
        )
        .await;
        assert_eq!(
            queue.keys(),
            [
                "tick@2026-03-08T07:00:01Z",
                "tick@2026-03-08T07:00:02Z",
                "tick@2026-03-08T07:00:03Z"
            ]
        );
        let runs = queue.runs.lock().expect("not poisoned");
        let offsets: Vec<u128> = runs
            .iter()
            .map(|(_, _, at)| (*at - began).as_millis())
            .collect();
        assert_eq!(offsets, [500, 1_500, 2_500], "each at its second");
        let text = metrics.render(None);
        assert!(
            text.contains("runbook_schedule_firings_total{outcome=\"queued\"} 3"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_firing_the_store_failed_is_tried_again_a_second_later() {
        let queue = Arc::new(MemoryQueue::default());
        *queue.failures.lock().expect("not poisoned") = 1;
        let start = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 30).unwrap();
        let began = tokio::time::Instant::now();
        let metrics = schedule_for(
            "cron: '0 * * * * *'",
            queue.clone(),
            start,
            Duration::from_secs(45),
        )
        .await;
        let runs = queue.runs.lock().expect("not poisoned");
        assert_eq!(runs.len(), 1, "{runs:?}");
        let (_, key, at) = &runs[0];
        assert_eq!(key, "tick@2026-03-08T07:01:00Z", "the firing that failed");
        assert_eq!(
            (*at - began).as_millis(),
            31_000,
            "due at 30 s, retried 1 s later"
        );
        let text = metrics.render(None);
        assert!(
            text.contains("runbook_schedule_firings_total{outcome=\"store_error\"} 1"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_missed_firing_is_caught_up_once_at_start() {
        let queue = Arc::new(MemoryQueue::default());
        queue.runs.lock().expect("not poisoned").push((
            "tick".into(),
            "tick@2026-03-08T06:00:00Z".into(),
            tokio::time::Instant::now(),
        ));
        let start = Utc.with_ymd_and_hms(2026, 3, 8, 9, 30, 0).unwrap();
        schedule_for(
            "cron: '0 0 * * * *', catch_up: latest",
            queue.clone(),
            start,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(
            queue.keys(),
            ["tick@2026-03-08T06:00:00Z", "tick@2026-03-08T09:00:00Z"],
            "the latest missed firing only, once"
        );
    }

    #[test]
    fn unset_secrets_of_enabled_schedules_are_named() {
        let folder = tempfile::tempdir().expect("temporary folder");
        std::fs::write(
            folder.path().join("p.yaml"),
            "version: 1\nname: keyed\nsecrets: [HOOK_KEY, OTHER_KEY]\nsteps:\n  - id: hello\n    log: hi\n",
        )
        .expect("write the playbook");
        let path = folder.path().join("schedules.yaml");
        std::fs::write(
            &path,
            "version: 1\nschedules:\n  - { name: on, playbook: p.yaml, cron: '@daily' }\n  \
             - { name: off, playbook: p.yaml, cron: '@daily', enabled: false }\n  \
             - { name: gone, playbook: missing.yaml, cron: '@daily' }\n",
        )
        .expect("write the schedules");
        let file = load_schedules(&path).expect("valid schedules");
        let unset = unset_schedule_secrets(&path, &file, |name| name == "OTHER_KEY");
        assert_eq!(unset, vec![("on".to_owned(), vec!["HOOK_KEY".to_owned()])]);
        assert!(unset_schedule_secrets(&path, &file, |_| true).is_empty());
    }
}

//! The simulator's state and its behaviour over time.
//!
//! Nothing here runs on a timer: every status is derived from the sim clock when asked.
//! An action stores its start time and the indexes of its targeted machines; a machine's
//! status at time `t` comes from delays drawn from a hash of (seed, action id, machine), so a
//! 100,000-machine action costs a pass over its targets per poll and no memory per machine.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Endpoint, Faults, PackageDef, SimConfig, UserDef};
use crate::question::{self, CompiledFilter, Filter};
use crate::sensors::{self, SensorDef};
use crate::{mix, unit};

/// About a thousand years: the furthest date the simulator writes.
const MAX_SIM_MILLIS: f64 = 1000.0 * 365.0 * 86_400.0 * 1000.0;

/// Sim seconds since the simulator started.
pub(crate) type SimTime = f64;

/// The scaled clock.
#[derive(Debug)]
pub(crate) struct Clock {
    started: tokio::time::Instant,
    scale: f64,
    /// The date of sim time 0.
    epoch: DateTime<Utc>,
    /// Sim time at `started`: 0 for a new simulator, later for one restored from a state file.
    offset: SimTime,
}

impl Clock {
    pub(crate) fn new(scale: f64) -> Clock {
        // Whole milliseconds, so that a date read into sim time (`at`) and back is the same
        // (a restored clock keeps the epoch its file recorded).
        let now = Utc::now();
        let epoch = chrono::DurationRound::duration_trunc(now, chrono::Duration::milliseconds(1))
            .unwrap_or(now);
        Clock::resumed(scale, epoch, 0.0)
    }

    /// A clock that reads `offset` now and dates sim time 0 at `epoch` (a restored simulator).
    pub(crate) fn resumed(scale: f64, epoch: DateTime<Utc>, offset: SimTime) -> Clock {
        Clock {
            started: tokio::time::Instant::now(),
            scale,
            epoch,
            offset,
        }
    }

    pub(crate) fn now(&self) -> SimTime {
        self.offset + self.started.elapsed().as_secs_f64() * self.scale
    }

    pub(crate) fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    pub(crate) fn date(&self, at: SimTime) -> DateTime<Utc> {
        // Clamped: a client may send an absurd expire_seconds; dates must not overflow.
        // Rounded: a date read back through `at` gives the same date.
        let millis = (at * 1000.0).round().clamp(0.0, MAX_SIM_MILLIS) as i64;
        self.epoch
            .checked_add_signed(chrono::Duration::milliseconds(millis))
            .unwrap_or(self.epoch)
    }

    pub(crate) fn iso(&self, at: SimTime) -> String {
        iso(self.date(at))
    }

    /// The sim time of a date (before sim time 0 for a date before the simulator started).
    pub(crate) fn at(&self, date: DateTime<Utc>) -> SimTime {
        (date - self.epoch).num_milliseconds() as f64 / 1000.0
    }
}

pub(crate) fn iso(date: DateTime<Utc>) -> String {
    date.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Tanium's "not set" date, plus some seconds (a pending action's expiration).
pub(crate) fn placeholder(plus_seconds: u64) -> String {
    let base = Utc
        .with_ymd_and_hms(2001, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    iso(base + chrono::Duration::seconds(plus_seconds.min(1 << 34) as i64))
}

/// A computer group (filter or ad hoc).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: u64,
    pub name: String,
    /// As sent to clients: with a leading space.
    pub text: String,
    pub filter: Filter,
    pub compiled: CompiledFilter,
    /// Created through `POST /groups` (shown by the inspector).
    pub created_by_client: bool,
    pub action_group: bool,
}

/// An issued action.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub id: u64,
    pub name: String,
    pub comment: String,
    pub action_group_id: u64,
    pub target_group_id: Option<u64>,
    pub package_index: usize,
    pub parameters: Vec<(String, String)>,
    pub targeted: Vec<u32>,
    pub created_at: SimTime,
    pub approved_at: Option<SimTime>,
    pub approver_id: Option<u64>,
    pub needs_approval: bool,
    pub stopped_at: Option<SimTime>,
    pub expire_seconds: u64,
    pub distribute_seconds: u64,
    pub saved_action_id: u64,
    pub user_id: u64,
    pub history_question_id: u64,
    /// The `start_time` it was issued with: it does not start before.
    pub start_at: Option<SimTime>,
    /// The `expiration_time` it was issued with: it expires then (instead of `expire_seconds`
    /// after its start).
    pub end_at: Option<SimTime>,
}

/// A sensor a question selects, with its parameter values in the order of its definition.
#[derive(Debug, Clone)]
pub(crate) struct Select {
    pub sensor: &'static SensorDef,
    pub params: Vec<String>,
}

/// A question asked through `POST /questions`, or an issue of a saved question.
#[derive(Debug, Clone)]
pub(crate) struct QuestionRecord {
    pub id: u64,
    pub query_text: String,
    pub selects: Vec<Select>,
    pub context_group_id: Option<u64>,
    /// Online machines that pass the filter (as the fleet was when it was asked).
    pub matching: Vec<u32>,
    pub created_at: SimTime,
    pub expire_seconds: u64,
    /// The saved question it is an issue of.
    pub saved_question_id: Option<u64>,
}

/// One row of a question's answers: its cells (each a list of texts), how many machines gave
/// them, the first of them.
#[derive(Debug, Clone)]
pub(crate) struct AnswerRow {
    pub cells: Vec<Vec<String>>,
    pub count: u64,
    pub first_machine: u32,
}

/// Reads whose grouped answers are kept for their next pages.
const KEPT_ANSWERS: usize = 16;

impl Shared {
    /// The answers of the read with this cache id, worked out by `compute` on its first page.
    pub(crate) fn answers_of(
        &self,
        cache_id: u64,
        compute: impl FnOnce() -> Vec<AnswerRow>,
    ) -> Arc<Vec<AnswerRow>> {
        let kept = || {
            self.answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, rows)) = kept().iter().find(|(id, _)| *id == cache_id) {
            return rows.clone();
        }
        let rows = Arc::new(compute());
        let mut answers = kept();
        answers.push_back((cache_id, rows.clone()));
        while answers.len() > KEPT_ANSWERS {
            answers.pop_front();
        }
        rows
    }
}

/// A saved question, its text read once.
#[derive(Debug, Clone)]
pub(crate) struct SavedQuestion {
    pub id: u64,
    pub name: String,
    pub query_text: String,
    pub issue_seconds: u64,
    pub selects: Vec<Select>,
    pub compiled: CompiledFilter,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user_id: u64,
    pub created_at: SimTime,
}

/// What a machine reports for an action at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MachineStatus {
    Waiting,
    Downloading,
    Running,
    Completed,
    Verified,
    Failed,
    Expired,
    Stopped,
}

impl MachineStatus {
    pub(crate) fn word(self) -> &'static str {
        match self {
            MachineStatus::Waiting => "Waiting",
            MachineStatus::Downloading => "Downloading",
            MachineStatus::Running => "Running",
            MachineStatus::Completed => "Completed",
            MachineStatus::Verified => "Verified",
            MachineStatus::Failed => "Failed",
            MachineStatus::Expired => "Expired",
            MachineStatus::Stopped => "Stopped",
        }
    }
}

/// The state behind a mutex. Handlers lock it briefly and never across an await.
#[derive(Debug)]
pub(crate) struct Inner {
    pub groups: Vec<Group>,
    pub actions: BTreeMap<u64, Action>,
    pub questions: HashMap<u64, QuestionRecord>,
    pub sessions: HashMap<String, Session>,
    pub next_group_id: u64,
    pub next_action_id: u64,
    pub next_question_id: u64,
    pub next_session: u64,
    pub next_stop_id: u64,
    /// cache id -> (object id, frozen sim time), so that pages of one read agree.
    pub caches: HashMap<u64, (u64, SimTime)>,
    pub cache_order: VecDeque<u64>,
    pub next_cache_id: u64,
    pub rng: StdRng,
    pub faults: Faults,
}

/// Requests served, by method and path.
pub(crate) type RequestCounts = Mutex<BTreeMap<(String, String), u64>>;
/// Requests being served now, and the most served at once, by method and path.
pub(crate) type InFlight = Mutex<BTreeMap<(String, String), (u64, u64)>>;

/// Everything shared by the handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimConfig,
    pub clock: Clock,
    pub inner: Mutex<Inner>,
    pub requests: RequestCounts,
    pub in_flight: InFlight,
    /// The bodies of the requests under `/api/v2` other than GETs, the first
    /// [`MAX_BODIES`](crate::inspect::MAX_BODIES) of them.
    pub bodies: Mutex<Vec<crate::inspect::RecordedRequest>>,
    /// The grouped answers of the latest reads, by cache id: the pages of one read (one
    /// cache id) group the answers once.
    pub answers: Mutex<VecDeque<(u64, Arc<Vec<AnswerRow>>)>>,
    /// Online machines in the fleet (`estimated_total`).
    pub online_count: usize,
    /// The saved questions.
    pub saved: Vec<SavedQuestion>,
    /// The machines of `failing_endpoints`: their actions always end `Failed`.
    pub failing: HashSet<u32>,
}

const MAX_CACHES: usize = 4096;

impl Shared {
    pub(crate) fn new(config: SimConfig) -> Result<Shared, crate::SimError> {
        config.validate()?;
        let mut groups: Vec<Group> = Vec::new();
        let mut next_group_id = 1;
        let mut add_group = |groups: &mut Vec<Group>,
                             name: &str,
                             text: &str,
                             action_group: bool|
         -> Result<(), crate::SimError> {
            let filter = resolve_text(groups, text)
                .map_err(|reason| crate::SimError::Config(format!("group '{name}': {reason}")))?;
            let compiled = filter
                .compile()
                .map_err(|error| crate::SimError::Config(format!("group '{name}': {error}")))?;
            groups.push(Group {
                id: next_group_id,
                name: name.to_owned(),
                text: format!(" {}", text.trim()),
                filter,
                compiled,
                created_by_client: false,
                action_group,
            });
            next_group_id += 1;
            Ok(())
        };
        add_group(&mut groups, "All Computers", "", false)?;
        add_group(
            &mut groups,
            "No Computers",
            "Computer Name does not match \".*\"",
            false,
        )?;
        for group in &config.groups {
            add_group(&mut groups, &group.name, &group.text, false)?;
        }
        for group in &config.action_groups {
            add_group(&mut groups, &group.name, &group.text, true)?;
        }
        // Show "All Computers" as the recorded server does.
        if let Some(all) = groups.first_mut() {
            all.text = " All Computers".to_owned();
        }
        let online_count = config
            .fleet
            .iter()
            .filter(|endpoint| endpoint.online)
            .count();
        let inner = Inner {
            groups,
            actions: BTreeMap::new(),
            questions: HashMap::new(),
            sessions: HashMap::new(),
            next_group_id,
            next_action_id: 5001,
            next_question_id: 90_001,
            next_session: 1,
            next_stop_id: 1,
            caches: HashMap::new(),
            cache_order: VecDeque::new(),
            next_cache_id: 3_000_000_001,
            rng: StdRng::seed_from_u64(config.seed),
            faults: config.faults.clone(),
        };
        let saved = crate::saved::compile(&config, &inner.groups)?;
        let failing = failing_machines(&config);
        Ok(Shared {
            clock: Clock::new(config.time_scale),
            config,
            inner: Mutex::new(inner),
            requests: Mutex::new(BTreeMap::new()),
            in_flight: Mutex::new(BTreeMap::new()),
            bodies: Mutex::new(Vec::new()),
            answers: Mutex::new(VecDeque::new()),
            online_count,
            saved,
            failing,
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a handler panicked mid-update; the state is plain data,
        // so carry on rather than take the whole simulator down.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn fleet(&self) -> &[Endpoint] {
        &self.config.fleet
    }

    pub(crate) fn package(&self, index: usize) -> &PackageDef {
        &self.config.packages[index]
    }

    pub(crate) fn user(&self, id: u64) -> Option<&UserDef> {
        self.config.users.iter().find(|user| user.id == id)
    }

    /// When the action started running on the fleet, if it has.
    /// Not before its approval, nor before its `start_time`.
    pub(crate) fn action_start(&self, action: &Action, now: SimTime) -> Option<SimTime> {
        let approved = self.approval_time(action, now)?;
        let start = action.start_at.map_or(approved, |at| at.max(approved));
        (start <= now).then_some(start)
    }

    /// When the action was approved (created, when it needed none), if it was by `now`.
    /// An approval after the simulated approver denied it (`auto_deny_after`) does not count.
    pub(crate) fn approval_time(&self, action: &Action, now: SimTime) -> Option<SimTime> {
        if !action.needs_approval {
            return Some(action.created_at);
        }
        let approved = self.first_approval(action)?;
        let denied = self.deny_deadline(action);
        (approved <= now && denied.is_none_or(|denied| approved <= denied)).then_some(approved)
    }

    /// The first approval, by a user or the simulated colleague (`auto_approve_after`), at
    /// whatever time.
    fn first_approval(&self, action: &Action) -> Option<SimTime> {
        let auto = self
            .config
            .auto_approve_after
            .map(|after| action.created_at + after.as_secs_f64());
        match (action.approved_at, auto) {
            (Some(manual), Some(auto)) => Some(manual.min(auto)),
            (manual, auto) => manual.or(auto),
        }
    }

    /// When the simulated approver denies the action if nobody approved it before
    /// (`auto_deny_after` after its creation).
    fn deny_deadline(&self, action: &Action) -> Option<SimTime> {
        if !action.needs_approval {
            return None;
        }
        self.config
            .auto_deny_after
            .map(|after| action.created_at + after.as_secs_f64())
    }

    /// When the simulated approver denied the action, if it did by `now`: nobody approved
    /// it by its deadline, nor stopped it before.
    pub(crate) fn denied_at(&self, action: &Action, now: SimTime) -> Option<SimTime> {
        let deadline = self.deny_deadline(action)?;
        let approved_first = self
            .first_approval(action)
            .is_some_and(|approved| approved <= deadline);
        let stopped_first = action.stopped_at.is_some_and(|stopped| stopped < deadline);
        (deadline <= now && !approved_first && !stopped_first).then_some(deadline)
    }

    /// When the action was stopped, if it was by `now`: by a client or an operator, or by a
    /// denied approval (which reads back as a stop).
    pub(crate) fn stopped_at(&self, action: &Action, now: SimTime) -> Option<SimTime> {
        match (action.stopped_at, self.denied_at(action, now)) {
            (Some(stopped), Some(denied)) => Some(stopped.min(denied)),
            (stopped, denied) => stopped.or(denied),
        }
    }

    pub(crate) fn approved(&self, action: &Action, now: SimTime) -> bool {
        self.approval_time(action, now).is_some()
    }

    /// When an action that started at `start` expires: its `expiration_time` when it was
    /// issued with one, else `expire_seconds` after its start.
    pub(crate) fn expires_at(&self, action: &Action, start: SimTime) -> SimTime {
        action
            .end_at
            .unwrap_or(start + action.expire_seconds as f64)
    }

    fn verifies(&self, action: &Action) -> bool {
        self.package(action.package_index).verify_group_id != 0
    }

    /// When each step of the action happens on a machine, if the action has started by `now`
    /// and the machine is online; drawn from a hash of (seed, action id, machine).
    fn timeline(&self, action: &Action, machine: u32, now: SimTime) -> Option<Timeline> {
        let endpoint = self.fleet().get(machine as usize)?;
        if !endpoint.online {
            return None;
        }
        let start = self.action_start(action, now)?;
        let hash = mix(
            self.config.seed ^ action.id.wrapping_mul(0x9e37_79b9),
            u64::from(machine),
        );
        let offset = action.distribute_seconds as f64 * unit(hash, 0);
        // Clients take a couple of seconds to pick an action up, so the first polls have no rows.
        let waiting_at = start + offset + 2.0 + 3.0 * unit(hash, 1);
        let downloading_at = waiting_at + 1.0 + 3.0 * unit(hash, 2);
        let running_at = downloading_at + 1.0 + 6.0 * unit(hash, 3);
        let finished_at = running_at + 2.0 + 12.0 * unit(hash, 4);
        let failed = self.failing.contains(&machine) || unit(hash, 5) < self.config.failure_share;
        let verify = self.verifies(action) && !failed;
        let verified_at = finished_at + 3.0 + 15.0 * unit(hash, 6);
        let expires_at = self.expires_at(action, start);
        let cut = match action.stopped_at {
            Some(stopped) if stopped < expires_at => (stopped, MachineStatus::Stopped),
            _ => (expires_at, MachineStatus::Expired),
        };
        Some(Timeline {
            waiting_at,
            downloading_at,
            running_at,
            finished_at,
            verified_at,
            failed,
            verify,
            cut,
        })
    }

    /// A machine's status at `now`, `None` when it has not reported (yet, or ever).
    pub(crate) fn machine_status(
        &self,
        action: &Action,
        machine: u32,
        now: SimTime,
    ) -> Option<MachineStatus> {
        let timeline = self.timeline(action, machine, now)?;
        let (cut_at, cut_status) = timeline.cut;
        if now >= cut_at {
            return Some(match timeline.natural(cut_at) {
                Some(status) if is_final(status, timeline.verify) => status,
                _ => cut_status,
            });
        }
        timeline.natural(now)
    }

    /// When the package's command finished successfully on the machine, if it did by `at`
    /// (and before the action was stopped or expired): from then on its effect holds there.
    pub(crate) fn completed_at(
        &self,
        action: &Action,
        machine: u32,
        at: SimTime,
    ) -> Option<SimTime> {
        let timeline = self.timeline(action, machine, at)?;
        let finished = timeline.finished_at;
        (!timeline.failed && finished <= at && finished < timeline.cut.0).then_some(finished)
    }

    /// The action's status word at `now`.
    pub(crate) fn action_status(&self, action: &Action, now: SimTime) -> &'static str {
        let Some(start) = self.action_start(action, now) else {
            // Stopped before anyone approved it (or before its start time), or past its
            // expiration time before it started.
            return if self.stopped_at(action, now).is_some() {
                "Stopped"
            } else if action.end_at.is_some_and(|end| now >= end) {
                "Expired"
            } else {
                "Pending"
            };
        };
        let expires_at = self.expires_at(action, start);
        if let Some(stopped) = action.stopped_at
            && stopped < expires_at
        {
            return "Stopped";
        }
        if now < expires_at {
            return "Active";
        }
        let verify = self.verifies(action);
        let all_finished = action.targeted.iter().all(|&machine| {
            let before_expiry = expires_at - 1e-6;
            match self.fleet().get(machine as usize) {
                Some(endpoint) if endpoint.online => self
                    .machine_status(action, machine, before_expiry)
                    .is_some_and(|status| is_final(status, verify)),
                _ => true,
            }
        });
        if all_finished { "Closed" } else { "Expired" }
    }

    pub(crate) fn expiration(&self, action: &Action, now: SimTime) -> String {
        match (self.action_start(action, now), action.end_at) {
            (_, Some(end)) => self.clock.iso(end),
            (Some(start), None) => self.clock.iso(self.expires_at(action, start)),
            (None, None) => placeholder(action.expire_seconds),
        }
    }
}

/// The fleet indexes of the endpoints named in `failing_endpoints` (ignoring case).
fn failing_machines(config: &SimConfig) -> HashSet<u32> {
    if config.failing_endpoints.is_empty() {
        return HashSet::new();
    }
    config
        .fleet
        .iter()
        .enumerate()
        .filter(|(_, endpoint)| {
            config
                .failing_endpoints
                .iter()
                .any(|name| name.trim().eq_ignore_ascii_case(&endpoint.computer_name))
        })
        .map(|(index, _)| index as u32)
        .collect()
}

/// When each step of an action happens on one machine.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    waiting_at: SimTime,
    downloading_at: SimTime,
    running_at: SimTime,
    finished_at: SimTime,
    verified_at: SimTime,
    failed: bool,
    verify: bool,
    /// When the action is stopped or expires, and what unfinished machines then say.
    cut: (SimTime, MachineStatus),
}

impl Timeline {
    /// The status at `at` had nothing cut the action short.
    fn natural(&self, at: SimTime) -> Option<MachineStatus> {
        if at < self.waiting_at {
            None
        } else if at < self.downloading_at {
            Some(MachineStatus::Waiting)
        } else if at < self.running_at {
            Some(MachineStatus::Downloading)
        } else if at < self.finished_at {
            Some(MachineStatus::Running)
        } else if self.failed {
            Some(MachineStatus::Failed)
        } else if self.verify && at < self.verified_at {
            Some(MachineStatus::Completed)
        } else if self.verify {
            Some(MachineStatus::Verified)
        } else {
            Some(MachineStatus::Completed)
        }
    }
}

/// Final for the action: verification packages are not done at `Completed`.
pub(crate) fn is_final(status: MachineStatus, verify: bool) -> bool {
    match status {
        MachineStatus::Completed => !verify,
        MachineStatus::Verified
        | MachineStatus::Failed
        | MachineStatus::Expired
        | MachineStatus::Stopped => true,
        MachineStatus::Waiting | MachineStatus::Downloading | MachineStatus::Running => false,
    }
}

/// Parses filter text, expands group names against `groups` and checks the sensors.
pub(crate) fn resolve_text(groups: &[Group], text: &str) -> Result<Filter, String> {
    let filter = question::parse(text).map_err(|error| error.to_string())?;
    resolve_filter(groups, filter)
}

pub(crate) fn resolve_filter(groups: &[Group], filter: Filter) -> Result<Filter, String> {
    let lookup = |name: &str| {
        let wanted = name.trim();
        if wanted.eq_ignore_ascii_case("all machines") {
            return Some(Filter::All);
        }
        groups
            .iter()
            .find(|group| !group.action_group && group.name.eq_ignore_ascii_case(wanted))
            .map(|group| group.filter.clone())
    };
    let filter = filter.expand_groups(&lookup)?;
    check_sensors(&filter)?;
    Ok(filter)
}

pub(crate) fn check_sensors(filter: &Filter) -> Result<(), String> {
    for clause in filter.clauses() {
        if sensors::by_name(&clause.sensor).is_none() {
            return Err(format!("unknown sensor '{}'", clause.sensor));
        }
    }
    Ok(())
}

impl Inner {
    /// A new cache id that freezes `at` for the object `object_id`.
    pub(crate) fn new_cache(&mut self, object_id: u64, at: SimTime) -> u64 {
        let cache_id = self.next_cache_id;
        self.next_cache_id += 1;
        self.caches.insert(cache_id, (object_id, at));
        self.cache_order.push_back(cache_id);
        while self.cache_order.len() > MAX_CACHES {
            if let Some(old) = self.cache_order.pop_front() {
                self.caches.remove(&old);
            }
        }
        cache_id
    }

    pub(crate) fn group(&self, id: u64) -> Option<&Group> {
        self.groups.iter().find(|group| group.id == id)
    }

    /// Draws the next fault decision in 0..1.
    pub(crate) fn draw(&mut self) -> f64 {
        self.rng.random::<f64>()
    }
}

impl Shared {
    pub(crate) fn stop_action(&self, id: u64) -> bool {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.actions.get_mut(&id) {
            Some(action) => {
                if action.stopped_at.is_none() {
                    action.stopped_at = Some(now);
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Session lifetime in sim seconds, if limited.
    pub(crate) fn session_ttl(&self) -> Option<f64> {
        self.lock()
            .faults
            .login_session_ttl
            .map(|ttl: Duration| ttl.as_secs_f64())
    }
}

#[cfg(test)]
mod tests;

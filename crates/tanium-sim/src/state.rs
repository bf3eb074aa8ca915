//! The simulator's state and its behaviour over time.
//!
//! Nothing here runs on a timer: every status is derived from the sim clock when asked.
//! An action stores its start time and the indexes of its targeted machines; a machine's
//! status at time `t` comes from delays drawn from a hash of (seed, action id, machine), so a
//! 100,000-machine action costs a pass over its targets per poll and no memory per machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Endpoint, Faults, PackageDef, SimConfig, UserDef, known_sensor};
use crate::question::{self, CompiledFilter, Filter};
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
        Clock::resumed(scale, Utc::now(), 0.0)
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
        let millis = (at * 1000.0).clamp(0.0, MAX_SIM_MILLIS) as i64;
        self.epoch
            .checked_add_signed(chrono::Duration::milliseconds(millis))
            .unwrap_or(self.epoch)
    }

    pub(crate) fn iso(&self, at: SimTime) -> String {
        iso(self.date(at))
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
}

/// A question asked through `POST /questions`.
#[derive(Debug, Clone)]
pub(crate) struct QuestionRecord {
    pub id: u64,
    pub query_text: String,
    pub selects: Vec<String>,
    pub context_group_id: Option<u64>,
    /// Online machines that pass the filter.
    pub matching: Vec<u32>,
    pub created_at: SimTime,
    pub expire_seconds: u64,
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

/// Everything shared by the handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimConfig,
    pub clock: Clock,
    pub inner: Mutex<Inner>,
    pub requests: RequestCounts,
    /// Online machines in the fleet (`estimated_total`).
    pub online_count: usize,
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
        Ok(Shared {
            clock: Clock::new(config.time_scale),
            config,
            inner: Mutex::new(inner),
            requests: Mutex::new(BTreeMap::new()),
            online_count,
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

    /// Machines (online or not) that pass a compiled filter.
    pub(crate) fn select(&self, filter: &CompiledFilter) -> Vec<u32> {
        self.fleet()
            .iter()
            .enumerate()
            .filter(|(_, endpoint)| filter.matches(*endpoint))
            .map(|(index, _)| index as u32)
            .collect()
    }

    /// When the action started running on the fleet, if it has.
    pub(crate) fn action_start(&self, action: &Action, now: SimTime) -> Option<SimTime> {
        if !action.needs_approval {
            return Some(action.created_at);
        }
        let auto = self
            .config
            .auto_approve_after
            .map(|after| action.created_at + after.as_secs_f64())
            .filter(|at| *at <= now);
        match (action.approved_at, auto) {
            (Some(manual), Some(auto)) => Some(manual.min(auto)),
            (manual, auto) => manual.or(auto).filter(|at| *at <= now),
        }
    }

    pub(crate) fn approved(&self, action: &Action, now: SimTime) -> bool {
        self.action_start(action, now).is_some()
    }

    fn verifies(&self, action: &Action) -> bool {
        self.package(action.package_index).verify_group_id != 0
    }

    /// A machine's status at `now`, `None` when it has not reported (yet, or ever).
    pub(crate) fn machine_status(
        &self,
        action: &Action,
        machine: u32,
        now: SimTime,
    ) -> Option<MachineStatus> {
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
        let failed = unit(hash, 5) < self.config.failure_share;
        let verify = self.verifies(action) && !failed;
        let verified_at = finished_at + 3.0 + 15.0 * unit(hash, 6);

        let natural = |at: SimTime| -> Option<MachineStatus> {
            if at < waiting_at {
                None
            } else if at < downloading_at {
                Some(MachineStatus::Waiting)
            } else if at < running_at {
                Some(MachineStatus::Downloading)
            } else if at < finished_at {
                Some(MachineStatus::Running)
            } else if failed {
                Some(MachineStatus::Failed)
            } else if verify && at < verified_at {
                Some(MachineStatus::Completed)
            } else if verify {
                Some(MachineStatus::Verified)
            } else {
                Some(MachineStatus::Completed)
            }
        };
        let expires_at = start + action.expire_seconds as f64;
        let cut = match action.stopped_at {
            Some(stopped) if stopped < expires_at => Some((stopped, MachineStatus::Stopped)),
            _ => Some((expires_at, MachineStatus::Expired)),
        };
        if let Some((cut_at, cut_status)) = cut
            && now >= cut_at
        {
            let at_cut = natural(cut_at);
            return Some(match at_cut {
                Some(status) if is_final(status, verify) => status,
                _ => cut_status,
            });
        }
        natural(now)
    }

    /// The action's status word at `now`.
    pub(crate) fn action_status(&self, action: &Action, now: SimTime) -> &'static str {
        let Some(start) = self.action_start(action, now) else {
            // Stopped before anyone approved it.
            return if action.stopped_at.is_some() {
                "Stopped"
            } else {
                "Pending"
            };
        };
        let expires_at = start + action.expire_seconds as f64;
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
        match self.action_start(action, now) {
            Some(start) => self.clock.iso(start + action.expire_seconds as f64),
            None => placeholder(action.expire_seconds),
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
        if known_sensor(&clause.sensor).is_none() {
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
mod tests {
    use super::*;

    fn shared(config: SimConfig) -> Shared {
        Shared::new(config).unwrap()
    }

    fn action(shared: &Shared, needs_approval: bool, package_index: usize) -> Action {
        Action {
            id: 77,
            name: "a".to_owned(),
            comment: String::new(),
            action_group_id: 1,
            target_group_id: None,
            package_index,
            parameters: Vec::new(),
            targeted: (0..shared.fleet().len() as u32).collect(),
            created_at: 0.0,
            approved_at: None,
            approver_id: None,
            needs_approval,
            stopped_at: None,
            expire_seconds: 600,
            distribute_seconds: 0,
            saved_action_id: 1,
            user_id: 1,
            history_question_id: 1,
        }
    }

    #[test]
    fn machines_move_through_statuses_to_a_final_one() {
        let shared = shared(SimConfig::default());
        let action = action(&shared, false, 0);
        let online = shared.fleet().iter().position(|e| e.online).unwrap() as u32;
        let offline = shared.fleet().iter().position(|e| !e.online).unwrap() as u32;
        assert_eq!(shared.machine_status(&action, online, 0.0), None);
        let mut seen = Vec::new();
        for step in 0..400 {
            if let Some(status) = shared.machine_status(&action, online, step as f64 * 0.1)
                && seen.last() != Some(&status)
            {
                seen.push(status);
            }
        }
        assert_eq!(
            &seen[..3],
            &[
                MachineStatus::Waiting,
                MachineStatus::Downloading,
                MachineStatus::Running
            ]
        );
        assert!(matches!(
            seen[3],
            MachineStatus::Completed | MachineStatus::Failed
        ));
        assert_eq!(shared.machine_status(&action, offline, 500.0), None);
        assert_eq!(shared.action_status(&action, 100.0), "Active");
        assert_eq!(shared.action_status(&action, 601.0), "Closed");
    }

    #[test]
    fn verification_packages_go_completed_then_verified() {
        let config = SimConfig {
            failure_share: 0.0,
            ..SimConfig::default()
        };
        let shared = shared(config);
        let verify_index = shared
            .config
            .packages
            .iter()
            .position(|p| p.verify_group_id != 0)
            .unwrap();
        let action = action(&shared, false, verify_index);
        let machine = shared.fleet().iter().position(|e| e.online).unwrap() as u32;
        let statuses: Vec<_> = (0..600)
            .filter_map(|step| shared.machine_status(&action, machine, step as f64 * 0.1))
            .collect();
        let completed = statuses
            .iter()
            .position(|s| *s == MachineStatus::Completed)
            .unwrap();
        let verified = statuses
            .iter()
            .position(|s| *s == MachineStatus::Verified)
            .unwrap();
        assert!(completed < verified);
    }

    #[test]
    fn approval_gates_the_start_and_expiry_cuts_unfinished_machines() {
        let config = SimConfig {
            approval_required: true,
            ..SimConfig::default()
        };
        let shared = shared(config);
        let mut action = action(&shared, true, 0);
        action.expire_seconds = 2;
        assert_eq!(shared.action_status(&action, 50.0), "Pending");
        assert!(shared.machine_status(&action, 0, 50.0).is_none());
        let mut stopped_while_pending = action.clone();
        stopped_while_pending.stopped_at = Some(5.0);
        assert_eq!(
            shared.action_status(&stopped_while_pending, 50.0),
            "Stopped"
        );
        action.approved_at = Some(10.0);
        assert_eq!(shared.action_status(&action, 11.0), "Active");
        // Two seconds is too short for any machine to finish.
        assert_eq!(
            shared.machine_status(&action, 0, 13.0),
            Some(MachineStatus::Expired)
        );
        assert_eq!(shared.action_status(&action, 13.0), "Expired");
        action.expire_seconds = 600;
        action.stopped_at = Some(10.5);
        assert_eq!(
            shared.machine_status(&action, 0, 11.0),
            Some(MachineStatus::Stopped)
        );
        assert_eq!(shared.action_status(&action, 11.0), "Stopped");
    }

    #[test]
    fn auto_approval_starts_pending_actions() {
        let config = SimConfig {
            approval_required: true,
            auto_approve_after: Some(Duration::from_secs(30)),
            ..SimConfig::default()
        };
        let shared = shared(config);
        let action = action(&shared, true, 0);
        assert_eq!(shared.action_start(&action, 29.0), None);
        assert_eq!(shared.action_start(&action, 31.0), Some(30.0));
    }

    #[test]
    fn built_in_groups_select_the_right_machines() {
        let shared = shared(SimConfig::default());
        let inner = shared.lock();
        let by_name = |name: &str| {
            inner
                .groups
                .iter()
                .find(|g| g.name == name && !g.action_group)
                .unwrap()
        };
        assert_eq!(
            shared.select(&by_name("All Computers").compiled).len(),
            shared.fleet().len()
        );
        assert!(shared.select(&by_name("No Computers").compiled).is_empty());
        let default = inner
            .groups
            .iter()
            .find(|g| g.name == "Default" && g.action_group)
            .unwrap();
        assert!(shared.select(&default.compiled).is_empty());
        let windows = shared.select(&by_name("All Windows").compiled);
        assert!(
            windows
                .iter()
                .all(|&m| shared.fleet()[m as usize].os_platform == "Windows")
        );
        assert!(!windows.is_empty());
    }
}

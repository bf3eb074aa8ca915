//! What a state file holds (version 2; version 1 files are read too), taken from a running
//! simulator and put back into a new one.
//!
//! Version 2 (sensors and saved questions) writes a question's selects as
//! `{"sensor": name, "params": [...]}` where version 1 wrote the sensor's name alone. A
//! version 1 file records the fingerprint of the world as version 1 saw it: without the
//! packages added since ([`ADDED_PACKAGES`]) and without the sensor values a fleet file may
//! now give, so a file written before is still recognised as this world's.
//!
//! The file keeps what clients changed: the groups they created, the actions they issued
//! (with approvals and stops), their questions and login sessions, and the id counters, so
//! that ids are never handed out twice. The world itself (fleet, packages, built-in groups,
//! users, seed) comes from the configuration; the file records a fingerprint of it and is
//! refused by a simulator whose world differs, since actions name machines by their place in
//! the fleet and packages by id. Paging caches are not kept (a page read across a restart
//! reads the time of the restart), nor are the request counts of `/sim/requests`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::SimConfig;
use crate::question::{Clause, Filter, Operator};
use crate::sensors;
use crate::state::{Action, Group, Inner, QuestionRecord, Select, Session, Shared, SimTime};

/// The `format` of every state file: what tells one from any other JSON file.
pub(crate) const FORMAT: &str = "runbook-sim-state";
/// The version this build writes (it reads every version up to it).
pub(crate) const VERSION: u64 = 2;

/// Packages added to the built-in world after version 1: not in a version 1 fingerprint.
const ADDED_PACKAGES: &[u64] = &[173_206];

/// Keys of a fleet endpoint that version 1 knew (the fingerprint of a version 1 file).
const V1_ENDPOINT_KEYS: &[&str] = &[
    "computer_name",
    "ip_address",
    "operating_system",
    "os_platform",
    "custom_tags",
    "online",
];

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub format: String,
    pub version: u64,
    pub world: WorldId,
    pub clock: ClockRecord,
    pub state: Contents,
}

/// Which world the file was written for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldId {
    /// A hash of the fleet, packages, groups, action groups, users and seed.
    pub fingerprint: String,
    pub endpoints: usize,
    pub packages: usize,
    pub seed: u64,
}

/// The simulated clock when the file was written: sim time `sim_seconds` at the wall-clock
/// time `saved_at`, and the date of sim time 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClockRecord {
    pub epoch: DateTime<Utc>,
    pub sim_seconds: f64,
    pub saved_at: DateTime<Utc>,
    /// Simulated seconds per real second when written (for a person reading the file).
    pub time_scale: f64,
}

/// What clients changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contents {
    pub counters: Counters,
    pub groups: Vec<GroupRecord>,
    pub actions: Vec<ActionRecord>,
    pub questions: Vec<QuestionEntry>,
    pub sessions: Vec<SessionRecord>,
}

/// The next ids the simulator hands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Counters {
    pub next_group_id: u64,
    pub next_action_id: u64,
    pub next_question_id: u64,
    pub next_session: u64,
    pub next_stop_id: u64,
    pub next_cache_id: u64,
}

/// A group a client created (`POST /groups`, or the ad hoc target group of an action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupRecord {
    pub id: u64,
    pub name: String,
    pub text: String,
    pub filter: FilterRecord,
}

/// A filter, exactly as the simulator holds it (group names already expanded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FilterRecord {
    All,
    And(Vec<FilterRecord>),
    Or(Vec<FilterRecord>),
    Not(Box<FilterRecord>),
    Clause {
        sensor: String,
        params: Vec<String>,
        operator: String,
        value: String,
    },
    Group(String),
}

/// An issued action. Machines are indexes into the fleet, as runs of consecutive indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionRecord {
    pub id: u64,
    pub name: String,
    pub comment: String,
    pub action_group_id: u64,
    pub target_group_id: Option<u64>,
    pub package_id: u64,
    pub parameters: Vec<(String, String)>,
    pub targeted: Vec<[u32; 2]>,
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
    /// The `start_time` it was issued with (absent from files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<SimTime>,
    /// The `expiration_time` it was issued with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<SimTime>,
}

/// A question asked through `POST /questions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuestionEntry {
    pub id: u64,
    pub query_text: String,
    pub selects: Vec<SelectRecord>,
    pub context_group_id: Option<u64>,
    pub matching: Vec<[u32; 2]>,
    pub created_at: SimTime,
    pub expire_seconds: u64,
}

/// A sensor a question selects: `{"sensor", "params"}`, or (version 1) its name alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum SelectRecord {
    WithParams { sensor: String, params: Vec<String> },
    Name(String),
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionRecord {
    pub session: String,
    pub user_id: u64,
    pub created_at: SimTime,
}

/// The world a configuration makes, as the file records it.
pub(crate) fn world_id(config: &SimConfig) -> WorldId {
    fingerprint(config, config.describe_identity(), config.packages.len())
}

/// The world a configuration makes, as a version 1 file recorded it.
pub(crate) fn world_id_v1(config: &SimConfig) -> WorldId {
    let mut described = config.describe_identity();
    if let Some(endpoints) = described["fleet"]["endpoints"].as_array_mut() {
        for endpoint in endpoints {
            if let Some(fields) = endpoint.as_object_mut() {
                fields.retain(|key, _| V1_ENDPOINT_KEYS.contains(&key.as_str()));
            }
        }
    }
    if let Some(packages) = described["packages"].as_array_mut() {
        packages.retain(|package| {
            !package["id"]
                .as_u64()
                .is_some_and(|id| ADDED_PACKAGES.contains(&id))
        });
        for package in packages.iter_mut() {
            if let Some(fields) = package.as_object_mut() {
                fields.remove("effect");
            }
        }
    }
    let packages = described["packages"].as_array().map_or(0, Vec::len);
    fingerprint(config, described, packages)
}

fn fingerprint(config: &SimConfig, described: Value, packages: usize) -> WorldId {
    let parts: Vec<&Value> = [
        "fleet",
        "packages",
        "groups",
        "action_groups",
        "users",
        "seed",
    ]
    .iter()
    .map(|key| &described[*key])
    .collect();
    let text = serde_json::to_string(&parts).unwrap_or_default();
    // FNV-1a: stable from one build to the next, unlike std's hasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    WorldId {
        fingerprint: format!("{hash:016x}"),
        endpoints: config.fleet.len(),
        packages,
        seed: config.seed,
    }
}

/// What clients changed so far, in an order that does not depend on hashing (so that two
/// snapshots of the same state serialize alike).
pub(crate) fn contents(shared: &Shared) -> Contents {
    let inner = shared.lock();
    let groups = inner
        .groups
        .iter()
        .filter(|group| group.created_by_client)
        .map(|group| GroupRecord {
            id: group.id,
            name: group.name.clone(),
            text: group.text.clone(),
            filter: filter_record(&group.filter),
        })
        .collect();
    let actions = inner
        .actions
        .values()
        .map(|action| action_record(shared, action))
        .collect();
    let mut questions: Vec<QuestionEntry> = inner
        .questions
        .values()
        .map(|question| QuestionEntry {
            id: question.id,
            query_text: question.query_text.clone(),
            selects: question
                .selects
                .iter()
                .map(|select| SelectRecord::WithParams {
                    sensor: select.sensor.name.to_owned(),
                    params: select.params.clone(),
                })
                .collect(),
            context_group_id: question.context_group_id,
            matching: runs_of(&question.matching),
            created_at: question.created_at,
            expire_seconds: question.expire_seconds,
        })
        .collect();
    questions.sort_by_key(|question| question.id);
    let mut sessions: Vec<SessionRecord> = inner
        .sessions
        .iter()
        .map(|(session, found)| SessionRecord {
            session: session.clone(),
            user_id: found.user_id,
            created_at: found.created_at,
        })
        .collect();
    sessions.sort_by(|a, b| a.session.cmp(&b.session));
    Contents {
        counters: Counters {
            next_group_id: inner.next_group_id,
            next_action_id: inner.next_action_id,
            next_question_id: inner.next_question_id,
            next_session: inner.next_session,
            next_stop_id: inner.next_stop_id,
            next_cache_id: inner.next_cache_id,
        },
        groups,
        actions,
        questions,
        sessions,
    }
}

fn action_record(shared: &Shared, action: &Action) -> ActionRecord {
    ActionRecord {
        id: action.id,
        name: action.name.clone(),
        comment: action.comment.clone(),
        action_group_id: action.action_group_id,
        target_group_id: action.target_group_id,
        package_id: shared.package(action.package_index).id,
        parameters: action.parameters.clone(),
        targeted: runs_of(&action.targeted),
        created_at: action.created_at,
        approved_at: action.approved_at,
        approver_id: action.approver_id,
        needs_approval: action.needs_approval,
        stopped_at: action.stopped_at,
        expire_seconds: action.expire_seconds,
        distribute_seconds: action.distribute_seconds,
        saved_action_id: action.saved_action_id,
        user_id: action.user_id,
        history_question_id: action.history_question_id,
        start_at: action.start_at,
        end_at: action.end_at,
    }
}

/// Puts saved contents into a simulator just made from the same world. Every reference is
/// checked (machines, packages, groups, users), so a file edited by hand is refused with
/// what is wrong rather than making the simulator panic later.
pub(crate) fn restore(shared: &Shared, contents: Contents) -> Result<(), String> {
    let mut inner = shared.lock();
    let counters = contents.counters;
    for record in contents.groups {
        if inner.group(record.id).is_some() {
            return Err(format!("group {} is there twice", record.id));
        }
        let filter = filter_of(record.filter)?;
        let compiled = filter
            .compile()
            .map_err(|error| format!("group {}: {error}", record.id))?;
        inner.groups.push(Group {
            id: record.id,
            name: record.name,
            text: record.text,
            filter,
            compiled,
            created_by_client: true,
            action_group: false,
        });
    }
    for record in contents.actions {
        let action = action_of(shared, &inner, record)?;
        inner.actions.insert(action.id, action);
    }
    let fleet = shared.fleet().len();
    for entry in contents.questions {
        if let Some(id) = entry
            .context_group_id
            .filter(|id| inner.group(*id).is_none())
        {
            return Err(format!(
                "question {} names group {id}, which is not there",
                entry.id
            ));
        }
        let selects = entry
            .selects
            .into_iter()
            .map(|record| select_of(record, entry.id))
            .collect::<Result<_, _>>()?;
        let record = QuestionRecord {
            id: entry.id,
            query_text: entry.query_text,
            selects,
            saved_question_id: None,
            context_group_id: entry.context_group_id,
            matching: expand_runs(&entry.matching, fleet)
                .map_err(|error| format!("question {}: {error}", entry.id))?,
            created_at: time(entry.created_at, "a question's creation")?,
            expire_seconds: entry.expire_seconds,
        };
        inner.questions.insert(record.id, record);
    }
    for record in contents.sessions {
        if shared.user(record.user_id).is_none() {
            return Err(format!(
                "a session names user {}, who is not there",
                record.user_id
            ));
        }
        inner.sessions.insert(
            record.session,
            Session {
                user_id: record.user_id,
                created_at: time(record.created_at, "a session's creation")?,
            },
        );
    }
    restore_counters(&mut inner, &counters)
}

/// A select read back: a sensor of the catalogue, its parameters as the definition has them.
fn select_of(record: SelectRecord, question: u64) -> Result<Select, String> {
    let (name, mut params) = match record {
        SelectRecord::WithParams { sensor, params } => (sensor, params),
        SelectRecord::Name(sensor) => (sensor, Vec::new()),
    };
    let sensor = sensors::by_name(&name)
        .ok_or_else(|| format!("question {question} selects '{name}', which is not a sensor"))?;
    params.resize(sensor.params.len(), String::new());
    Ok(Select { sensor, params })
}

/// The counters, never below an id already taken (a file edited by hand could say so).
fn restore_counters(inner: &mut Inner, counters: &Counters) -> Result<(), String> {
    let above = |taken: Option<u64>, next: u64, what: &str| match taken {
        Some(id) if id >= next => Err(format!(
            "the next {what} id is {next}, but {what} {id} exists"
        )),
        _ => Ok(next),
    };
    inner.next_group_id = above(
        inner.groups.iter().map(|group| group.id).max(),
        counters.next_group_id,
        "group",
    )?;
    inner.next_action_id = above(
        inner.actions.keys().next_back().copied(),
        counters.next_action_id,
        "action",
    )?;
    inner.next_question_id = above(
        inner.questions.keys().max().copied(),
        counters.next_question_id,
        "question",
    )?;
    inner.next_session = counters.next_session;
    inner.next_stop_id = counters.next_stop_id;
    inner.next_cache_id = counters.next_cache_id;
    Ok(())
}

fn action_of(shared: &Shared, inner: &Inner, record: ActionRecord) -> Result<Action, String> {
    let id = record.id;
    let package_index = shared
        .config
        .packages
        .iter()
        .position(|package| package.id == record.package_id)
        .ok_or_else(|| {
            format!(
                "action {id} runs package {}, which is not there",
                record.package_id
            )
        })?;
    let groups = std::iter::once(record.action_group_id).chain(record.target_group_id);
    for group in groups {
        if inner.group(group).is_none() {
            return Err(format!(
                "action {id} names group {group}, which is not there"
            ));
        }
    }
    let users = std::iter::once(record.user_id).chain(record.approver_id);
    for user in users {
        if shared.user(user).is_none() {
            return Err(format!("action {id} names user {user}, who is not there"));
        }
    }
    if inner.actions.contains_key(&id) {
        return Err(format!("action {id} is there twice"));
    }
    let optional = |at: Option<SimTime>, what: &str| at.map(|at| time(at, what)).transpose();
    Ok(Action {
        id,
        name: record.name,
        comment: record.comment,
        action_group_id: record.action_group_id,
        target_group_id: record.target_group_id,
        package_index,
        parameters: record.parameters,
        targeted: expand_runs(&record.targeted, shared.fleet().len())
            .map_err(|error| format!("action {id}: {error}"))?,
        created_at: time(record.created_at, "an action's creation")?,
        approved_at: optional(record.approved_at, "an approval")?,
        approver_id: record.approver_id,
        needs_approval: record.needs_approval,
        stopped_at: optional(record.stopped_at, "a stop")?,
        expire_seconds: record.expire_seconds,
        distribute_seconds: record.distribute_seconds,
        saved_action_id: record.saved_action_id,
        user_id: record.user_id,
        history_question_id: record.history_question_id,
        start_at: record.start_at.filter(|at| at.is_finite()),
        end_at: record.end_at.filter(|at| at.is_finite()),
    })
}

/// A sim time read back: finite and not negative.
fn time(at: SimTime, what: &str) -> Result<SimTime, String> {
    if at.is_finite() && at >= 0.0 {
        Ok(at)
    } else {
        Err(format!("the time of {what} is {at}"))
    }
}

pub(crate) fn filter_record(filter: &Filter) -> FilterRecord {
    match filter {
        Filter::All => FilterRecord::All,
        Filter::And(items) => FilterRecord::And(items.iter().map(filter_record).collect()),
        Filter::Or(items) => FilterRecord::Or(items.iter().map(filter_record).collect()),
        Filter::Not(inner) => FilterRecord::Not(Box::new(filter_record(inner))),
        Filter::Clause(clause) => FilterRecord::Clause {
            sensor: clause.sensor.clone(),
            params: clause.params.clone(),
            operator: clause.operator.wire_name().to_owned(),
            value: clause.value.clone(),
        },
        Filter::Group(name) => FilterRecord::Group(name.clone()),
    }
}

pub(crate) fn filter_of(record: FilterRecord) -> Result<Filter, String> {
    let all = |items: Vec<FilterRecord>| -> Result<Vec<Filter>, String> {
        items.into_iter().map(filter_of).collect()
    };
    Ok(match record {
        FilterRecord::All => Filter::All,
        FilterRecord::And(items) => Filter::And(all(items)?),
        FilterRecord::Or(items) => Filter::Or(all(items)?),
        FilterRecord::Not(inner) => Filter::Not(Box::new(filter_of(*inner)?)),
        FilterRecord::Clause {
            sensor,
            params,
            operator,
            value,
        } => Filter::Clause(Clause {
            sensor,
            params,
            operator: Operator::from_wire_name(&operator)
                .ok_or_else(|| format!("unknown filter operator '{operator}'"))?,
            value,
        }),
        FilterRecord::Group(name) => Filter::Group(name),
    })
}

/// Machine indexes as runs `[first, last]` of consecutive indexes (an action on the whole
/// fleet is one pair, whatever its size). The order is kept.
pub(crate) fn runs_of(machines: &[u32]) -> Vec<[u32; 2]> {
    let mut runs: Vec<[u32; 2]> = Vec::new();
    for &machine in machines {
        match runs.last_mut() {
            Some(run) if run[1].checked_add(1) == Some(machine) => run[1] = machine,
            _ => runs.push([machine, machine]),
        }
    }
    runs
}

/// The machine indexes of runs, each checked against the fleet's size.
pub(crate) fn expand_runs(runs: &[[u32; 2]], fleet: usize) -> Result<Vec<u32>, String> {
    let mut machines = Vec::new();
    for &[first, last] in runs {
        if first > last || last as usize >= fleet {
            return Err(format!(
                "machines {first} to {last} are not in a fleet of {fleet}"
            ));
        }
        machines.extend(first..=last);
    }
    Ok(machines)
}

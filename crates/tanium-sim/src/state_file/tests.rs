use std::time::Duration;

use chrono::Utc;

use super::format::{self, Contents, expand_runs, runs_of};
use super::*;
use crate::state::{Action, Group, QuestionRecord, Select, Session};

fn folder() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// A simulator with something of every kind a client can change.
fn busy_simulator() -> Shared {
    let shared = Shared::new(SimConfig::default()).unwrap();
    {
        let mut inner = shared.lock();
        let text = "Computer Name starts with WIN and not (Custom Tag Exists[\"a,b\"] equals true)";
        let filter = crate::state::resolve_text(&inner.groups, text).unwrap();
        let compiled = filter.compile().unwrap();
        let group_id = inner.next_group_id;
        inner.next_group_id += 1;
        inner.groups.push(Group {
            id: group_id,
            name: String::new(),
            text: format!(" {text}"),
            filter,
            compiled: compiled.clone(),
            created_by_client: true,
            action_group: false,
        });
        let targeted = shared.select_at(&inner, &compiled, 0.0);
        assert!(targeted.len() > 2);
        for (offset, approved) in [(0, None), (1, Some(12.5))] {
            let id = inner.next_action_id;
            inner.next_action_id += 1;
            inner.actions.insert(
                id,
                Action {
                    id,
                    name: format!("tag [runbook r{offset} tag]"),
                    comment: "why".to_owned(),
                    action_group_id: 1,
                    target_group_id: Some(group_id),
                    package_index: 1,
                    parameters: vec![("$1".to_owned(), "durable".to_owned())],
                    targeted: targeted.clone(),
                    created_at: 3.25 + offset as f64,
                    approved_at: approved,
                    approver_id: approved.map(|_| 2),
                    needs_approval: approved.is_some(),
                    stopped_at: approved.map(|at| at + 1.0),
                    expire_seconds: 600,
                    distribute_seconds: 5,
                    saved_action_id: 7000 + id,
                    user_id: 1,
                    history_question_id: 800_000 + id,
                    start_at: None,
                    end_at: None,
                },
            );
        }
        let question_id = inner.next_question_id;
        inner.next_question_id += 1;
        inner.questions.insert(
            question_id,
            QuestionRecord {
                id: question_id,
                query_text: "Get Computer Name from all machines".to_owned(),
                selects: vec![
                    Select {
                        sensor: crate::sensors::by_name("Computer Name").unwrap(),
                        params: Vec::new(),
                    },
                    Select {
                        sensor: crate::sensors::by_name("File Exists").unwrap(),
                        params: vec!["C:\\Users\\Public\\evil.exe".to_owned()],
                    },
                ],
                context_group_id: Some(group_id),
                matching: vec![0, 1, 2, 7, 9],
                created_at: 4.0,
                expire_seconds: 600,
                saved_question_id: None,
            },
        );
        for (number, user_id) in [(1, 1), (2, 2)] {
            inner.sessions.insert(
                format!("{user_id}-20{number}-abc"),
                Session {
                    user_id,
                    created_at: number as f64,
                },
            );
        }
        inner.next_session = 3;
        inner.next_stop_id = 2;
        inner.next_cache_id += 17;
    }
    shared
}

#[test]
fn contents_survive_serialization_and_restoring() {
    let shared = busy_simulator();
    let contents = format::contents(&shared);
    assert_eq!(contents.actions.len(), 2);
    assert_eq!(contents.groups.len(), 1);
    let text = serde_json::to_string(&contents).unwrap();
    let read: Contents = serde_json::from_str(&text).unwrap();
    assert_eq!(read, contents);

    let restored = Shared::new(SimConfig::default()).unwrap();
    format::restore(&restored, read).unwrap();
    assert_eq!(format::contents(&restored), contents);
    let (before, after) = (shared.lock(), restored.lock());
    let group = after.groups.last().unwrap();
    assert_eq!(group.filter, before.groups.last().unwrap().filter);
    assert_eq!(
        restored.select_at(&after, &group.compiled, 0.0),
        shared.select_at(&before, &before.groups.last().unwrap().compiled, 0.0)
    );
    assert_eq!(after.next_action_id, before.next_action_id);
    assert_eq!(after.next_cache_id, before.next_cache_id);
    // What clients read of an action is the same in both.
    for (id, action) in &before.actions {
        let again = &after.actions[id];
        for now in [0.0, 10.0, 13.0, 40.0, 700.0] {
            assert_eq!(
                restored.action_status(again, now),
                shared.action_status(action, now)
            );
            for machine in &action.targeted {
                assert_eq!(
                    restored.machine_status(again, *machine, now),
                    shared.machine_status(action, *machine, now)
                );
            }
        }
    }
}

#[test]
fn machines_are_kept_as_runs_in_their_order() {
    let machines = [0, 1, 2, 3, 7, 8, 20, 5, 6];
    let runs = runs_of(&machines);
    assert_eq!(runs, vec![[0, 3], [7, 8], [20, 20], [5, 6]]);
    assert_eq!(expand_runs(&runs, 21).unwrap(), machines);
    assert!(runs_of(&[]).is_empty());
    assert_eq!(runs_of(&[u32::MAX, 0]), vec![[u32::MAX, u32::MAX], [0, 0]]);
    let error = expand_runs(&[[3, 40]], 36).unwrap_err();
    assert!(error.contains("not in a fleet of 36"), "{error}");
    assert!(expand_runs(&[[5, 4]], 36).is_err());
}

#[test]
fn a_file_is_written_at_start_and_read_back_by_the_next_simulator() {
    let folder = folder();
    let path = folder.path().join("sim.json");
    let (shared, persistence, status) = open(&path, SimConfig::default()).unwrap();
    assert!(!status.restored);
    assert!(path.exists(), "written at start");
    let busy = busy_simulator();
    format::restore(&shared, format::contents(&busy)).unwrap();
    let action_id = *busy.lock().actions.keys().next().unwrap();
    drop(busy);
    persistence.save().unwrap();
    let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(written["format"], "runbook-sim-state");
    assert_eq!(written["version"], 2);
    assert_eq!(written["state"]["actions"][0]["id"], action_id);
    drop((shared, persistence));

    let (restored, _persistence, status) = open(&path, SimConfig::default()).unwrap();
    assert!(status.restored);
    assert_eq!(status.actions, 2);
    let inner = restored.lock();
    assert_eq!(inner.next_action_id, action_id + 2);
    assert!(inner.actions.contains_key(&action_id));
    assert!(!sibling(&path, ".tmp").exists(), "no temporary file left");
}

#[test]
fn a_file_in_use_by_another_simulator_is_refused() {
    let folder = folder();
    let path = folder.path().join("sim.json");
    let _first = open(&path, SimConfig::default()).unwrap();
    let error = open(&path, SimConfig::default()).unwrap_err().to_string();
    assert!(error.contains("in use by another simulator"), "{error}");
    assert!(error.contains(&path.display().to_string()), "{error}");
}

/// The error of opening a file holding `text`, which must name the file and say `expected`.
fn refused(text: &str, config: SimConfig, expected: &str) {
    let folder = folder();
    let path = folder.path().join("state.json");
    std::fs::write(&path, text).unwrap();
    let error = match open(&path, config) {
        Ok(_) => panic!("{text:.80} was accepted"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains(expected), "{error}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "left as it was"
    );
}

/// A valid file of the default world, as JSON to spoil.
fn valid_file() -> Value {
    let folder = folder();
    let path = folder.path().join("state.json");
    let (shared, persistence, _) = open(&path, SimConfig::default()).unwrap();
    {
        let busy = busy_simulator();
        let contents = format::contents(&busy);
        drop(busy);
        format::restore(&shared, contents).unwrap();
    }
    persistence.save().unwrap();
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn corrupt_and_foreign_files_are_refused_naming_the_file() {
    let config = SimConfig::default;
    refused("", config(), "it is empty");
    refused("{\"format\": \"runbook-sim-st", config(), "it is not JSON");
    refused("[1, 2]", config(), "no \"format\"");
    refused("{\"actions\": []}", config(), "not a simulator state file");
    let mut newer = valid_file();
    newer["version"] = json!(3);
    refused(&newer.to_string(), config(), "written by a newer runbook");
    let mut older = valid_file();
    older["version"] = json!(0);
    refused(
        &older.to_string(),
        config(),
        "\"version\" is not a version from 1 to 2",
    );
    let mut broken = valid_file();
    broken["state"]["actions"][0]["targeted"] = json!("all");
    refused(&broken.to_string(), config(), "invalid simulator state");
    let mut dangling = valid_file();
    dangling["state"]["actions"][0]["package_id"] = json!(999);
    refused(&dangling.to_string(), config(), "runs package 999");
    let mut outside = valid_file();
    outside["state"]["actions"][0]["targeted"] = json!([[0, 500]]);
    refused(&outside.to_string(), config(), "not in a fleet of 36");
    let mut behind = valid_file();
    behind["state"]["counters"]["next_action_id"] = json!(5001);
    refused(&behind.to_string(), config(), "the next action id is 5001");
    let mut timeless = valid_file();
    timeless["state"]["actions"][0]["created_at"] = json!(-1.0);
    refused(
        &timeless.to_string(),
        config(),
        "the time of an action's creation",
    );
}

#[test]
fn a_file_of_another_world_is_refused() {
    let file = valid_file().to_string();
    let other_fleet = SimConfig::with_generated_fleet(5);
    refused(
        &file,
        other_fleet,
        "another world (36 endpoints, 7 packages, seed 7",
    );
    let other_seed = SimConfig {
        seed: 8,
        ..SimConfig::default()
    };
    refused(&file, other_seed, "seed 8");
    let mut renamed = SimConfig::default();
    renamed.fleet[0].computer_name = "SOMEONE-ELSE".to_owned();
    refused(&file, renamed, "fingerprint");
    // The knobs are not the world: another time scale or failure share is fine.
    let folder = folder();
    let path = folder.path().join("state.json");
    std::fs::write(&path, &file).unwrap();
    let faster = SimConfig {
        time_scale: 60.0,
        failure_share: 0.5,
        approval_required: true,
        ..SimConfig::default()
    };
    let (shared, _, status) = open(&path, faster).unwrap();
    assert!(status.restored);
    assert_eq!(shared.lock().actions.len(), 2);
}

#[test]
fn the_clock_goes_on_from_the_recorded_time() {
    let epoch = Utc::now() - chrono::Duration::hours(1);
    let record = |seconds_ago: i64| ClockRecord {
        epoch,
        sim_seconds: 100.0,
        saved_at: Utc::now() - chrono::Duration::seconds(seconds_ago),
        time_scale: 1.0,
    };
    let same_speed = resumed_clock(&record(10), 1.0);
    assert!(
        (same_speed.now() - 110.0).abs() < 1.0,
        "{}",
        same_speed.now()
    );
    assert_eq!(same_speed.epoch(), epoch);
    // Down for ten seconds at 60x: ten simulated minutes passed for the fleet.
    let faster = resumed_clock(&record(10), 60.0);
    assert!((faster.now() - 700.0).abs() < 60.0, "{}", faster.now());
    // A wall clock set back never sets the simulated clock back.
    let earlier = resumed_clock(&record(-3600), 1.0);
    assert!(earlier.now() >= 100.0 && earlier.now() < 101.0);
}

#[test]
fn a_restored_simulator_goes_on_where_it_was() {
    let folder = folder();
    let path = folder.path().join("state.json");
    let config = SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    };
    let (shared, persistence, _) = open(&path, config.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let before = shared.clock.now();
    shared.lock().next_stop_id = 9; // a change, so the file is written with the clock of now
    persistence.save().unwrap();
    drop((shared, persistence));
    let (restored, _, status) = open(&path, config).unwrap();
    assert!(
        status.sim_seconds >= before,
        "{} < {before}",
        status.sim_seconds
    );
    assert!(restored.clock.now() >= before);
    assert_eq!(restored.lock().next_stop_id, 9);
}

/// A state file written by the simulator before sensors and saved questions (format version
/// 1, by the build before them, unchanged): a group, an action tagging WIN-DC01 "Legacy", a
/// question selecting two sensors.
const V1_FILE: &str = include_str!("state-v1.json");

#[test]
fn a_version_1_file_is_read_and_written_back_as_version_2() {
    let folder = folder();
    let path = folder.path().join("state.json");
    std::fs::write(&path, V1_FILE).unwrap();
    let (shared, persistence, status) = open(&path, SimConfig::default()).unwrap();
    assert!(status.restored);
    assert_eq!(status.actions, 1);
    {
        let inner = shared.lock();
        let question = &inner.questions[&90_001];
        let names: Vec<&str> = question.selects.iter().map(|s| s.sensor.name).collect();
        assert_eq!(names, vec!["Computer Name", "Custom Tags"]);
        // The action of the old file completed long ago: WIN-DC01 carries its tag now.
        let world = shared.world(&inner, shared.clock.now());
        let tags = crate::sensors::by_name("Custom Tags").unwrap();
        let answer = world.machine(0).unwrap().answer(tags, &[]);
        assert!(answer.iter().any(|tag| tag == "Legacy"), "{answer:?}");
    }
    persistence.save().unwrap();
    let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(written["version"], 2);
    assert_eq!(
        written["state"]["questions"][0]["selects"][1],
        json!({ "sensor": "Custom Tags", "params": [] })
    );
    drop((shared, persistence));
    // Read again as version 2.
    let (again, _persistence, _) = open(&path, SimConfig::default()).unwrap();
    assert!(again.lock().actions.contains_key(&5001));
}

#[test]
fn a_version_1_file_of_another_world_is_still_refused() {
    let mut renamed = SimConfig::default();
    renamed.fleet[0].computer_name = "SOMEONE-ELSE".to_owned();
    refused(V1_FILE, renamed, "another world");
    // What version 1 did not know does not make another world of it.
    let mut processes = SimConfig::default();
    processes.fleet[3].running_processes = Some(vec!["sqlservr.exe".to_owned()]);
    assert_eq!(
        format::world_id_v1(&processes),
        format::world_id_v1(&SimConfig::default())
    );
    assert_ne!(
        format::world_id(&processes),
        format::world_id(&SimConfig::default())
    );
}

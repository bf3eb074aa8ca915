//! The clock, statuses over time, approval and the built-in groups.

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
        start_at: None,
        end_at: None,
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
        shared
            .select_at(&inner, &by_name("All Computers").compiled, 0.0)
            .len(),
        shared.fleet().len()
    );
    assert!(
        shared
            .select_at(&inner, &by_name("No Computers").compiled, 0.0)
            .is_empty()
    );
    let default = inner
        .groups
        .iter()
        .find(|g| g.name == "Default" && g.action_group)
        .unwrap();
    assert!(shared.select_at(&inner, &default.compiled, 0.0).is_empty());
    let windows = shared.select_at(&inner, &by_name("All Windows").compiled, 0.0);
    assert!(
        windows
            .iter()
            .all(|&m| shared.fleet()[m as usize].os_platform == "Windows")
    );
    assert!(!windows.is_empty());
}

#[test]
fn a_start_time_holds_the_action_and_an_expiration_time_ends_it() {
    let shared = shared(SimConfig::default());
    let mut action = action(&shared, false, 0);
    action.start_at = Some(100.0);
    action.end_at = Some(400.0);
    let online = shared.fleet().iter().position(|e| e.online).unwrap() as u32;
    // Before its start time: pending, no machine reports, though it needed no approval.
    assert!(shared.approved(&action, 50.0));
    assert_eq!(shared.action_start(&action, 99.0), None);
    assert_eq!(shared.action_status(&action, 99.0), "Pending");
    assert_eq!(shared.machine_status(&action, online, 99.0), None);
    // The reported times are the ones it was issued with, before and after it starts.
    assert_eq!(shared.expiration(&action, 50.0), shared.clock.iso(400.0));
    assert_eq!(shared.action_start(&action, 101.0), Some(100.0));
    assert_eq!(shared.action_status(&action, 101.0), "Active");
    assert!(matches!(
        shared.machine_status(&action, online, 200.0),
        Some(MachineStatus::Completed | MachineStatus::Failed)
    ));
    // Its expiration time, not `expire_seconds` (600) after the start, ends it.
    assert_eq!(shared.action_status(&action, 399.0), "Active");
    assert_ne!(shared.action_status(&action, 401.0), "Active");
    // Approved after its start time: it starts at the approval.
    let mut late = self::action(&shared, true, 0);
    late.start_at = Some(10.0);
    late.approved_at = Some(20.0);
    assert_eq!(shared.action_start(&late, 30.0), Some(20.0));
    // Never started, past its expiration time: expired.
    let mut never = self::action(&shared, true, 0);
    never.end_at = Some(5.0);
    assert_eq!(shared.action_status(&never, 4.0), "Pending");
    assert_eq!(shared.action_status(&never, 6.0), "Expired");
}

#[test]
fn named_failing_endpoints_fail_and_the_others_complete() {
    let mut config = SimConfig {
        failure_share: 0.0,
        ..SimConfig::default()
    };
    let online: Vec<usize> = (0..config.fleet.len())
        .filter(|&index| config.fleet[index].online)
        .collect();
    let failing = online[0];
    // Named in another case: still that endpoint.
    config.failing_endpoints = vec![config.fleet[failing].computer_name.to_ascii_lowercase()];
    let shared = shared(config);
    let action = action(&shared, false, 0);
    for &machine in &online {
        let status = shared.machine_status(&action, machine as u32, 500.0);
        let expected = if machine == failing {
            MachineStatus::Failed
        } else {
            MachineStatus::Completed
        };
        assert_eq!(
            status,
            Some(expected),
            "{}",
            shared.fleet()[machine].computer_name
        );
    }
    assert_eq!(shared.completed_at(&action, failing as u32, 500.0), None);
}

#[test]
fn an_action_pending_too_long_is_denied_and_reads_as_stopped() {
    let config = SimConfig {
        approval_required: true,
        auto_deny_after: Some(Duration::from_secs(30)),
        ..SimConfig::default()
    };
    let shared = shared(config);
    let mut action = action(&shared, true, 0);
    assert_eq!(shared.action_status(&action, 29.0), "Pending");
    assert_eq!(shared.stopped_at(&action, 29.0), None);
    assert_eq!(shared.denied_at(&action, 31.0), Some(30.0));
    assert_eq!(shared.stopped_at(&action, 31.0), Some(30.0));
    assert_eq!(shared.action_status(&action, 31.0), "Stopped");
    assert!(!shared.approved(&action, 1000.0));
    assert!(shared.machine_status(&action, 0, 1000.0).is_none());
    // An approval after the denial does not count; one before it wins.
    action.approved_at = Some(40.0);
    assert!(!shared.approved(&action, 1000.0));
    assert_eq!(shared.action_status(&action, 50.0), "Stopped");
    action.approved_at = Some(20.0);
    assert_eq!(shared.denied_at(&action, 1000.0), None);
    assert_eq!(shared.action_status(&action, 50.0), "Active");
    // Stopped before its deadline: the stop stands, no denial.
    action.approved_at = None;
    action.stopped_at = Some(10.0);
    assert_eq!(shared.denied_at(&action, 1000.0), None);
    assert_eq!(shared.stopped_at(&action, 1000.0), Some(10.0));
    // Without approval there is nothing to deny.
    let plain = self::action(&shared, false, 0);
    assert_eq!(shared.denied_at(&plain, 1000.0), None);
}

#[test]
fn approval_and_denial_whichever_comes_first_wins() {
    let both = |approve: u64, deny: u64| {
        shared(SimConfig {
            approval_required: true,
            auto_approve_after: Some(Duration::from_secs(approve)),
            auto_deny_after: Some(Duration::from_secs(deny)),
            ..SimConfig::default()
        })
    };
    let approves = both(10, 30);
    let action = action(&approves, true, 0);
    assert_eq!(approves.action_start(&action, 100.0), Some(10.0));
    assert_eq!(approves.stopped_at(&action, 100.0), None);
    let denies = both(30, 10);
    assert_eq!(denies.action_start(&action, 100.0), None);
    assert_eq!(denies.action_status(&action, 100.0), "Stopped");
    // At the same time, the approval wins.
    let tie = both(20, 20);
    assert_eq!(tie.action_start(&action, 100.0), Some(20.0));
}

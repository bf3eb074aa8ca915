//! Unit tests of the staged rollout: the failure budget, and what a resume refuses.

use super::*;

fn staged(max_failed_percent: u8) -> Rollout {
    Rollout {
        waves: vec![
            runbook_playbook::Wave::Count(1),
            runbook_playbook::Wave::Percent(100),
        ],
        until_percent: 90,
        max_failed_percent,
        pause: Duration::ZERO,
        stop_on_abort: true,
        interval: Duration::from_secs(5),
    }
}

fn record(wave: u32, targeted: u64, failed: u64, finished: u64) -> WaveRecord {
    WaveRecord {
        wave,
        action_id: u64::from(wave) * 10,
        saved_action_id: 0,
        targeted,
        completed: finished - failed,
        failed,
        finished,
        done: true,
    }
}

fn progress(waves: Vec<WaveRecord>) -> Progress {
    Progress {
        names: (0..100).map(|index| format!("h{index}")).collect(),
        sizes: vec![1, 100],
        waves,
        ..Progress::default()
    }
}

#[test]
fn failures_beyond_the_budget_abort_per_wave_and_overall() {
    // Exactly at the budget goes on; beyond stops.
    assert_eq!(
        abort_reason(&staged(5), &progress(vec![record(1, 20, 1, 20)]), None),
        None
    );
    let why =
        abort_reason(&staged(5), &progress(vec![record(1, 20, 2, 20)]), None).expect("10% failed");
    assert!(
        why.contains("2 of its 20 finished endpoints failed"),
        "{why}"
    );
    // The share over every wave is a weighted mean of the waves' shares: waves each within
    // the budget never abort it together.
    let waves = vec![record(1, 1, 0, 1), record(2, 99, 4, 80)];
    assert_eq!(abort_reason(&staged(5), &progress(waves), None), None);
    // An earlier wave whose late endpoints failed stops the rollout too.
    let waves = vec![record(1, 10, 2, 10), record(2, 90, 0, 80)];
    let late = abort_reason(&staged(5), &progress(waves), None).expect("wave 1 beyond");
    assert!(
        late.contains("at wave 2: 2 of wave 1's 10 finished"),
        "{late}"
    );
    // Nothing finished: no share to exceed. An action cut short aborts whatever the share.
    assert_eq!(
        abort_reason(&staged(0), &progress(vec![record(1, 5, 0, 0)]), None),
        None
    );
    let cut = abort_reason(
        &staged(50),
        &progress(vec![record(1, 5, 0, 1)]),
        Some("action 10 was expired".to_owned()),
    )
    .expect("cut short");
    assert!(cut.contains("wave 1: action 10 was expired"), "{cut}");
}

#[test]
fn progress_round_trips_through_json_as_the_store_keeps_it() {
    let mut saved = progress(vec![record(1, 1, 0, 1)]);
    saved.next_wave_at = Some(time_text_precise(Utc::now()));
    let value = serde_json::to_value(&saved).expect("serializes");
    assert_eq!(serde_json::from_value::<Progress>(value).ok(), Some(saved));
    let outputs = rollout_outputs(
        &progress(vec![record(1, 1, 0, 1), record(2, 99, 3, 90)]),
        false,
    );
    assert_eq!(outputs["targeted"], json!(100));
    assert_eq!(outputs["totals"]["failed"], json!(3));
    assert_eq!(outputs["totals"]["finished"], json!(91));
    assert_eq!(outputs["waves"][1]["action_id"], json!(20));
}

#[test]
fn a_listing_saved_with_hidden_names_is_not_resumed() {
    let mut saved = progress(Vec::new());
    assert!(!hides_names(&saved));
    saved.names[3] = format!("{}-web01", crate::redact::REDACTED);
    assert!(hides_names(&saved));
}

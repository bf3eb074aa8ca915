//! What a wait shows while it waits: how far it is toward what it waits for.
//!
//! Pure functions of the wait's state (its event), so that the rule is tested without a
//! terminal; `render.rs` draws the result with indicatif, on a terminal only.
//!
//! The rule, wait by wait:
//! - `poll`: a bar of the endpoints that must finish (the step's `until_percent` of the
//!   `expected` endpoints), filled with those finished. It is full exactly when the step's
//!   condition is met (which also needs `until_percent` of the endpoints reporting), never
//!   before. The reporting share and the per-status counts are text beside it.
//! - `await_approval`: no bar (elapsed time against a timeout is not progress), a spinner with
//!   the time waited and the time left before the deadline.
//! - `question`: a bar of the endpoints that must answer (the step's `until_percent` of the
//!   endpoints the question reached), filled with those that answered; full exactly when the
//!   step has its share.
//!
//! Off a terminal the same text is printed as plain lines, one when the message changes: the
//! clock (time waited, deadline) alone does not print a line, so a log file is not flooded.
//! - `issue` with `rollout`: each wave's wait is a poll's bar (its `poll_progress` events, the
//!   wave's endpoints as `expected`); `render.rs` prints a line as each wave starts and ends.
//! - Waits still to come get an arm in [`wait_display`]: loops with the items done out of the
//!   total ([`Gauge::Bar`] with `done` and `total`).

use std::collections::BTreeMap;
use std::time::Duration;

use runbook_engine::Event;
use runbook_engine::values::{endpoints_needed, humanize, poll_reached, question_reached, share};

/// How a wait's progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gauge {
    /// A bar `position` of `length` full (`length` at least 1; full only when the wait is over).
    Bar { position: u64, length: u64 },
    /// No measurable progress: a spinner.
    Spinner,
}

/// What a wait shows: its gauge and the text beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitDisplay {
    pub gauge: Gauge,
    /// What the wait has reached; off a terminal, a line is printed only when this changes.
    pub message: String,
    /// The time waited or left, which changes at every check.
    pub clock: Option<String>,
}

impl WaitDisplay {
    /// The whole text: the message, then the clock.
    pub fn text(&self) -> String {
        match &self.clock {
            Some(clock) => format!("{} · {clock}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The display of a wait event; `None` for events that are not waits.
pub fn wait_display(event: &Event) -> Option<WaitDisplay> {
    match event {
        Event::LoopItem {
            step_id,
            done,
            total,
            ..
        } => Some(WaitDisplay {
            gauge: Gauge::Bar {
                position: u64::try_from(*done).unwrap_or(u64::MAX),
                length: u64::try_from(*total).unwrap_or(u64::MAX),
            },
            message: format!("{step_id}: {done} of {total} items done"),
            clock: None,
        }),
        Event::ApprovalWaiting {
            action_id,
            waited_seconds,
            timeout_seconds,
            left_seconds,
            ..
        } => Some(approval(
            *action_id,
            *waited_seconds,
            *timeout_seconds,
            *left_seconds,
        )),
        Event::PollProgress {
            action_id,
            mr_tested,
            estimated_total,
            finished,
            expected,
            statuses,
            until_percent,
            left_seconds,
            ..
        } => Some(poll(&PollState {
            action_id: *action_id,
            until_percent: *until_percent,
            mr_tested: *mr_tested,
            estimated_total: *estimated_total,
            finished: *finished,
            expected: *expected,
            statuses,
            left_seconds: *left_seconds,
        })),
        Event::QuestionProgress {
            question_id,
            mr_tested,
            estimated_total,
            until_percent,
            left_seconds,
            ..
        } => Some(question(
            *question_id,
            (*mr_tested, *estimated_total),
            *until_percent,
            *left_seconds,
        )),
        // Loops, when they land, show their progress here.
        _ => None,
    }
}

/// A poll's state, as its event reports it.
#[derive(Debug, Clone, Copy)]
pub struct PollState<'a> {
    pub action_id: u64,
    pub until_percent: u8,
    pub mr_tested: u64,
    pub estimated_total: u64,
    pub finished: u64,
    pub expected: u64,
    pub statuses: &'a BTreeMap<String, u64>,
    pub left_seconds: Option<u64>,
}

/// A poll: the finished endpoints against the number the step needs.
pub fn poll(state: &PollState<'_>) -> WaitDisplay {
    let reached = poll_reached(
        state.mr_tested,
        state.estimated_total,
        state.finished,
        state.expected,
        state.until_percent,
    );
    let needed = endpoints_needed(state.expected, state.until_percent);
    let length = needed.max(1);
    let position = if reached {
        length
    } else {
        // Enough finished but too few reported yet: one short of full.
        state.finished.min(length - 1)
    };
    // Rounded down, so that 99.9% never reads as 100%.
    let reporting = share(state.mr_tested, state.estimated_total).floor();
    let mut message = if state.expected == 0 {
        format!(
            "action {}: no endpoint expected, nothing to wait for",
            state.action_id
        )
    } else {
        format!(
            "action {}: {}/{} finished, {needed} needed ({}%)",
            state.action_id, state.finished, state.expected, state.until_percent
        )
    };
    message.push_str(&format!(" · {reporting:.0}% reporting"));
    if !reached && state.finished >= needed && state.expected > 0 {
        message.push_str(&format!(" (waiting for {}%)", state.until_percent));
    }
    let counts: Vec<String> = state
        .statuses
        .iter()
        .map(|(status, count)| format!("{status} {count}"))
        .collect();
    if !counts.is_empty() {
        message.push_str(&format!(" · {}", counts.join(", ")));
    }
    let clock = match (reached, state.left_seconds) {
        (false, Some(left)) => Some(format!("deadline in {}", duration(left))),
        _ => None,
    };
    WaitDisplay {
        gauge: Gauge::Bar { position, length },
        message,
        clock,
    }
}

/// A question's wait: the endpoints that answered against the number the step needs.
pub fn question(
    question_id: u64,
    (mr_tested, estimated_total): (u64, u64),
    until_percent: u8,
    left_seconds: Option<u64>,
) -> WaitDisplay {
    let reached = question_reached(mr_tested, estimated_total, until_percent);
    let needed = endpoints_needed(estimated_total, until_percent);
    let length = needed.max(1);
    let position = if reached {
        length
    } else {
        mr_tested.min(length - 1)
    };
    let message = if estimated_total == 0 {
        format!("question {question_id}: no endpoint reached yet ({until_percent}% must answer)")
    } else {
        format!(
            "question {question_id}: {mr_tested}/{estimated_total} answered, {needed} needed ({until_percent}%)"
        )
    };
    let clock = match (reached, left_seconds) {
        (false, Some(left)) => Some(format!("deadline in {}", duration(left))),
        _ => None,
    };
    WaitDisplay {
        gauge: Gauge::Bar { position, length },
        message,
        clock,
    }
}

/// An approval wait: a spinner, the time waited and the deadline.
pub fn approval(
    action_id: u64,
    waited_seconds: u64,
    timeout_seconds: u64,
    left_seconds: Option<u64>,
) -> WaitDisplay {
    let deadline = match left_seconds {
        Some(left) => format!("deadline in {}", duration(left)),
        None => format!("timeout {}", duration(timeout_seconds)),
    };
    WaitDisplay {
        gauge: Gauge::Spinner,
        message: format!("waiting for approval of action {action_id}"),
        clock: Some(format!("{} waited · {deadline}", duration(waited_seconds))),
    }
}

fn duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    humanize(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs
            .iter()
            .map(|(status, count)| ((*status).to_owned(), *count))
            .collect()
    }

    fn state(
        statuses: &BTreeMap<String, u64>,
        until_percent: u8,
        (mr_tested, estimated_total): (u64, u64),
        (finished, expected): (u64, u64),
    ) -> PollState<'_> {
        PollState {
            action_id: 5001,
            until_percent,
            mr_tested,
            estimated_total,
            finished,
            expected,
            statuses,
            left_seconds: Some(1740),
        }
    }

    fn bar(display: &WaitDisplay) -> (u64, u64) {
        match display.gauge {
            Gauge::Bar { position, length } => (position, length),
            Gauge::Spinner => panic!("a poll draws a bar: {display:?}"),
        }
    }

    #[test]
    fn everyone_reporting_and_nothing_finished_is_an_empty_bar() {
        let counts = statuses(&[("Waiting", 1)]);
        let display = poll(&state(&counts, 100, (1, 1), (0, 1)));
        assert_eq!(bar(&display), (0, 1));
        assert_eq!(
            display.text(),
            "action 5001: 0/1 finished, 1 needed (100%) · 100% reporting · Waiting 1 · deadline in 29m"
        );
        // Off a terminal a line is printed when the message changes, not at every check.
        assert_eq!(display.clock.as_deref(), Some("deadline in 29m"));
        // The bar, not the reporting share, is what the wait measures.
        let counts = statuses(&[("Running", 40)]);
        let display = poll(&state(&counts, 90, (40, 40), (0, 40)));
        assert_eq!(bar(&display), (0, 36));
    }

    #[test]
    fn half_finished_is_half_a_bar() {
        let counts = statuses(&[("Completed", 5), ("Running", 5)]);
        let display = poll(&state(&counts, 100, (10, 10), (5, 10)));
        assert_eq!(bar(&display), (5, 10));
        assert!(
            display
                .message
                .starts_with("action 5001: 5/10 finished, 10 needed (100%) · 100% reporting · Completed 5, Running 5"),
            "{}",
            display.message
        );
        // Half of what a 90% poll needs.
        let display = poll(&state(&counts, 90, (10, 10), (5, 10)));
        assert_eq!(bar(&display), (5, 9));
    }

    #[test]
    fn the_bar_is_full_exactly_when_the_target_is_reached() {
        let counts = statuses(&[("Completed", 9), ("Running", 1)]);
        let display = poll(&state(&counts, 90, (10, 10), (9, 10)));
        assert_eq!(bar(&display), (9, 9));
        assert_eq!(display.clock, None, "{}", display.text());
        // One short of the target: not full.
        let display = poll(&state(&counts, 90, (10, 10), (8, 10)));
        assert_eq!(bar(&display), (8, 9));
        // Enough finished, too few reporting: the step goes on, so the bar is not full.
        let display = poll(&state(&counts, 90, (8, 10), (9, 10)));
        assert_eq!(bar(&display), (8, 9));
        assert!(
            display.message.contains("80% reporting (waiting for 90%)"),
            "{}",
            display.message
        );
        // More finished than needed: full, never past full.
        let display = poll(&state(&counts, 90, (10, 10), (10, 10)));
        assert_eq!(bar(&display), (9, 9));
    }

    #[test]
    fn mr_tested_past_estimated_total_moves_neither_bar_nor_share_past_100() {
        let counts = statuses(&[("Completed", 3), ("Running", 9)]);
        let display = poll(&state(&counts, 90, (12, 10), (3, 10)));
        assert_eq!(bar(&display), (3, 9));
        assert!(
            display.message.contains("· 100% reporting ·"),
            "{}",
            display.message
        );
        // More finished endpoints than expected: reached, and the text says what was seen.
        let display = poll(&state(&counts, 100, (12, 10), (12, 10)));
        assert_eq!(bar(&display), (10, 10));
        assert!(display.message.contains("12/10 finished"));
    }

    #[test]
    fn nothing_expected_is_nothing_to_wait_for() {
        let counts = BTreeMap::new();
        let display = poll(&state(&counts, 90, (0, 0), (0, 0)));
        assert_eq!(bar(&display), (1, 1));
        assert_eq!(
            display.text(),
            "action 5001: no endpoint expected, nothing to wait for · 0% reporting"
        );
    }

    #[test]
    fn reporting_is_rounded_down() {
        let counts = BTreeMap::new();
        let display = poll(&state(&counts, 90, (999, 1000), (0, 1000)));
        assert!(
            display.message.contains("· 99% reporting"),
            "{}",
            display.message
        );
    }

    #[test]
    fn an_approval_wait_is_a_spinner_with_its_deadline() {
        let display = approval(5001, 30, 4 * 3600, Some(4 * 3600 - 30));
        assert_eq!(display.gauge, Gauge::Spinner);
        assert_eq!(
            display.text(),
            "waiting for approval of action 5001 · 30s waited · deadline in 3h59m30s"
        );
        assert_eq!(display.message, "waiting for approval of action 5001");
        let display = approval(5001, 0, 60, None);
        assert_eq!(
            display.text(),
            "waiting for approval of action 5001 · 0s waited · timeout 1m"
        );
    }

    #[test]
    fn a_question_fills_with_the_endpoints_that_answered_until_its_share() {
        let display = question(4001, (0, 0), 95, Some(600));
        assert_eq!(bar(&display), (0, 1));
        assert_eq!(
            display.text(),
            "question 4001: no endpoint reached yet (95% must answer) · deadline in 10m"
        );
        let display = question(4001, (10, 20), 95, Some(590));
        assert_eq!(bar(&display), (10, 19));
        assert_eq!(
            display.text(),
            "question 4001: 10/20 answered, 19 needed (95%) · deadline in 9m50s"
        );
        // Full exactly when the share is reached, never past full.
        assert_eq!(bar(&question(4001, (18, 20), 95, Some(1))), (18, 19));
        let display = question(4001, (19, 20), 95, Some(1));
        assert_eq!(bar(&display), (19, 19));
        assert_eq!(display.clock, None);
        assert_eq!(bar(&question(4001, (57, 56), 100, None)), (56, 56));
    }

    #[test]
    fn only_waits_have_a_display() {
        let event = Event::Log {
            step_id: "log".into(),
            message: "hello".into(),
        };
        assert_eq!(wait_display(&event), None);
        let event = Event::ApprovalWaiting {
            step_id: "approved".into(),
            action_id: 1,
            waited_seconds: 0,
            timeout_seconds: 60,
            left_seconds: Some(60),
        };
        assert_eq!(
            wait_display(&event).map(|display| display.gauge),
            Some(Gauge::Spinner)
        );
    }
}

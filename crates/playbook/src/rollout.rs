//! `issue.rollout`: a staged rollout, the action issued in cumulative waves. The model, its
//! defaults, and how wave sizes follow from the number of endpoints listed (pure, so that
//! the validator, the engine and `runbook plan` agree).

use std::time::Duration;

/// One wave as written: a count of endpoints, or a share of those listed. Waves are
/// cumulative: each says how many endpoints have the action once it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wave {
    /// This many endpoints (at least 1), capped at the number listed.
    Count(u64),
    /// This share of the endpoints listed, 1 to 100, rounded up.
    Percent(u8),
}

impl Wave {
    /// How many endpoints this wave reaches (cumulatively) of `total` listed.
    pub fn reach(self, total: u64) -> u64 {
        match self {
            Wave::Count(count) => count.min(total),
            Wave::Percent(percent) => (total * u64::from(percent)).div_ceil(100),
        }
    }
}

impl std::fmt::Display for Wave {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wave::Count(count) => write!(formatter, "{count}"),
            Wave::Percent(percent) => write!(formatter, "{percent}%"),
        }
    }
}

/// `issue.rollout`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Cumulative waves; the validator makes sure the last is `100%`.
    pub waves: Vec<Wave>,
    /// A wave is done when this share of its endpoints finished (completed or failed).
    pub until_percent: u8,
    /// The most failures allowed, as a share of the finished endpoints, per wave and overall.
    pub max_failed_percent: u8,
    /// The wait between two waves (on the run's clock).
    pub pause: Duration,
    /// Stop the running wave's action when the rollout aborts.
    pub stop_on_abort: bool,
    /// How often a wave's results are read at first (growing while nothing changes).
    pub interval: Duration,
}

/// Defaults of `issue.rollout`.
pub mod rollout_defaults {
    use std::time::Duration;

    /// `rollout.until_percent`.
    pub const UNTIL_PERCENT: u8 = 90;
    /// `rollout.max_failed_percent`.
    pub const MAX_FAILED_PERCENT: u8 = 5;
    /// `rollout.pause`.
    pub const PAUSE: Duration = Duration::ZERO;
    /// `rollout.stop_on_abort`.
    pub const STOP_ON_ABORT: bool = true;
    /// `rollout.interval`.
    pub const INTERVAL: Duration = Duration::from_secs(5);
    /// The longest wait between two reads of a wave's results.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(30);
}

impl Rollout {
    /// The cumulative size of each wave for `total` endpoints listed: never smaller than the
    /// wave before (a count below an earlier share reaches no one new), and the last reaches
    /// everyone. A wave whose size equals the one before adds no endpoint and issues nothing.
    pub fn sizes(&self, total: u64) -> Vec<u64> {
        let mut reached = 0;
        let last = self.waves.len().saturating_sub(1);
        self.waves
            .iter()
            .enumerate()
            .map(|(index, wave)| {
                let size = if index == last {
                    total
                } else {
                    wave.reach(total)
                };
                reached = reached.max(size);
                reached
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(waves: &[Wave]) -> Rollout {
        Rollout {
            waves: waves.to_vec(),
            until_percent: 90,
            max_failed_percent: 5,
            pause: Duration::ZERO,
            stop_on_abort: true,
            interval: Duration::from_secs(5),
        }
    }

    #[test]
    fn sizes_come_from_counts_and_shares_rounded_up_and_cumulative() {
        let waves = rollout(&[
            Wave::Count(1),
            Wave::Percent(10),
            Wave::Percent(50),
            Wave::Percent(100),
        ]);
        assert_eq!(waves.sizes(40), vec![1, 4, 20, 40]);
        assert_eq!(waves.sizes(5), vec![1, 1, 3, 5]);
        assert_eq!(waves.sizes(0), vec![0, 0, 0, 0]);
        assert_eq!(waves.sizes(1001), vec![1, 101, 501, 1001]);
        // A count larger than an earlier share never shrinks the rollout.
        let mixed = rollout(&[Wave::Percent(50), Wave::Count(3), Wave::Percent(100)]);
        assert_eq!(mixed.sizes(20), vec![10, 10, 20]);
        // Counts are capped at what was listed; the last wave is everyone.
        let counts = rollout(&[Wave::Count(10), Wave::Count(50)]);
        assert_eq!(counts.sizes(7), vec![7, 7]);
        assert_eq!(counts.sizes(80), vec![10, 80]);
    }

    #[test]
    fn waves_read_back_as_written() {
        assert_eq!(Wave::Count(3).to_string(), "3");
        assert_eq!(Wave::Percent(25).to_string(), "25%");
    }
}

//! The clock the engine waits on.
//!
//! Against the built-in simulator (`runbook run --sim`) time runs faster: the simulator's
//! endpoints report in simulated seconds, and the engine's waits (approval checks, poll
//! intervals, timeouts) are measured on the same scale, so a demo finishes in seconds while the
//! playbook keeps its real intervals. Against a real server the scale is 1.

use std::time::Duration;

use tokio::time::Instant;

/// A clock running `scale` playbook seconds per real second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    scale: f64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::real()
    }
}

impl Pace {
    /// Real time.
    pub fn real() -> Self {
        Pace { scale: 1.0 }
    }

    /// `scale` playbook seconds per real second (values below 1 are taken as 1).
    pub fn scaled(scale: f64) -> Self {
        Pace {
            scale: if scale.is_finite() && scale > 1.0 {
                scale
            } else {
                1.0
            },
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The real duration that `playbook_time` takes on this clock.
    pub fn real_duration(&self, playbook_time: Duration) -> Duration {
        playbook_time.div_f64(self.scale)
    }

    /// Sleeps for `playbook_time` on this clock.
    pub async fn sleep(&self, playbook_time: Duration) {
        tokio::time::sleep(self.real_duration(playbook_time)).await;
    }

    /// Starts a stopwatch on this clock.
    pub fn start(&self) -> Stopwatch {
        Stopwatch {
            started: Instant::now(),
            scale: self.scale,
        }
    }
}

/// Elapsed playbook time since it was started.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    started: Instant,
    scale: f64,
}

impl Stopwatch {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed().mul_f64(self.scale)
    }
}

/// The clock of one wait (an approval, a poll): how long it has waited, counting what it
/// waited before an interruption (a resumed wait keeps the deadline recorded when the step
/// first started), and how long it has left.
#[derive(Debug, Clone, Copy)]
pub struct WaitClock {
    stopwatch: Stopwatch,
    /// Playbook time waited before this process took the wait over (zero on a first start).
    before: Duration,
    /// Playbook time left when this process took the wait over.
    left: Duration,
}

impl WaitClock {
    /// A wait with `left` of playbook time to go, which had already waited `before`.
    pub fn new(pace: &Pace, before: Duration, left: Duration) -> Self {
        Self {
            stopwatch: pace.start(),
            before,
            left,
        }
    }

    /// Playbook time waited in all, across interruptions.
    pub fn waited(&self) -> Duration {
        self.before + self.stopwatch.elapsed()
    }

    /// Playbook time waited before an interruption (zero when the wait never was interrupted).
    pub fn waited_before(&self) -> Duration {
        self.before
    }

    /// Playbook time left before the deadline.
    pub fn left(&self) -> Duration {
        self.left.saturating_sub(self.stopwatch.elapsed())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.stopwatch.elapsed() >= self.left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_time_is_shorter_in_real_time() {
        let pace = Pace::scaled(60.0);
        assert_eq!(
            pace.real_duration(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(Pace::scaled(0.1).scale(), 1.0);
        assert_eq!(Pace::scaled(f64::NAN).scale(), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn stopwatch_counts_playbook_time() {
        let pace = Pace::scaled(10.0);
        let stopwatch = pace.start();
        pace.sleep(Duration::from_secs(30)).await;
        let elapsed = stopwatch.elapsed();
        assert!(
            elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(31),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_resumed_wait_counts_what_it_waited_before() {
        let pace = Pace::scaled(1.0);
        let clock = WaitClock::new(&pace, Duration::from_secs(40), Duration::from_secs(20));
        assert_eq!(clock.waited_before(), Duration::from_secs(40));
        pace.sleep(Duration::from_secs(15)).await;
        assert_eq!(clock.waited().as_secs(), 55);
        assert_eq!(clock.left().as_secs(), 5);
        assert!(!clock.expired());
        pace.sleep(Duration::from_secs(5)).await;
        assert!(clock.expired());
        assert_eq!(clock.left(), Duration::ZERO);
    }
}

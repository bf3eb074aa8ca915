//! The scheduler's clock: the time of day that firings are computed from, and its sleep.
//!
//! A serve process uses [`Clock::system`]: the wall clock, so that a firing missed while the
//! machine was suspended (which tokio's monotonic clock does not count) is noticed on waking.
//! Tests use [`Clock::following_tokio`], a time of day that moves only with tokio's clock, so
//! that under `tokio::time::pause` a minute of schedule firings takes no real time.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Where the scheduler reads the time and how it waits.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// `None`: the system's wall clock. `Some`: this time of day at this tokio instant, moving
    /// with tokio's clock from there.
    anchor: Option<(DateTime<Utc>, tokio::time::Instant)>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock { anchor: None }
    }

    /// A clock that reads `start` now and then moves with tokio's clock (paused in tests).
    pub fn following_tokio(start: DateTime<Utc>) -> Clock {
        Clock {
            anchor: Some((start, tokio::time::Instant::now())),
        }
    }

    /// The time of day.
    pub fn now(&self) -> DateTime<Utc> {
        match self.anchor {
            None => Utc::now(),
            Some((start, at)) => {
                let elapsed =
                    chrono::TimeDelta::from_std(at.elapsed()).unwrap_or(chrono::TimeDelta::MAX);
                start
                    .checked_add_signed(elapsed)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }

    /// Waits `duration` on tokio's clock (which a paused runtime advances by itself).
    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_clock_following_tokio_moves_only_with_it() {
        let start = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
        let clock = Clock::following_tokio(start);
        assert_eq!(clock.now(), start);
        clock.sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::TimeDelta::seconds(90));
    }
}

//! The lease a process holds on a run it drives, on the monotonic clock.
//!
//! A claim in the store says *who* drives a run (the holder and its claim epoch, a fencing
//! token that every durable write of the run is conditional on). The lease says *until when*
//! the holder may still start a side effect: it is renewed by each heartbeat that the store
//! accepted, from the instant that heartbeat was *sent* (so a heartbeat delayed in flight
//! never extends it), and lasts `term`, which is shorter than the staleness after which
//! another process may take the run over. A process that was paused (SIGSTOP, a suspended
//! VM, swap) wakes up with an expired lease: before it may send anything it must renew the
//! lease with a fenced write, which fails once another process has claimed the run.
//! docs/durability.md argues what this guarantees and under which assumptions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A holder's lease on one run. Cheap to clone; the heartbeat and the engine share it.
#[derive(Debug, Clone)]
pub struct Lease {
    inner: Arc<LeaseInner>,
}

#[derive(Debug)]
struct LeaseInner {
    run_id: String,
    holder: String,
    epoch: i64,
    term: Duration,
    valid_until: Mutex<Instant>,
    lost: watch::Sender<bool>,
}

impl Lease {
    /// A lease granted by a claim (or heartbeat) that was sent at `sent_at`.
    pub fn new(
        run_id: impl Into<String>,
        holder: impl Into<String>,
        epoch: i64,
        term: Duration,
        sent_at: Instant,
    ) -> Lease {
        let (lost, _) = watch::channel(false);
        Lease {
            inner: Arc::new(LeaseInner {
                run_id: run_id.into(),
                holder: holder.into(),
                epoch,
                term,
                valid_until: Mutex::new(sent_at + term),
                lost,
            }),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// The holder id written in the claim (`serve:<host>:<pid>:<n>`, `cli:<host>:<pid>`).
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// The claim epoch: every claim of a run takes the next one.
    pub fn epoch(&self) -> i64 {
        self.inner.epoch
    }

    /// How long a renewal lasts.
    pub fn term(&self) -> Duration {
        self.inner.term
    }

    /// A heartbeat or renewal sent at `sent_at` was accepted: the lease runs `term` from then
    /// (never shortened by a renewal that was sent earlier and answered later).
    pub fn renewed(&self, sent_at: Instant) {
        if self.is_lost() {
            return;
        }
        let mut valid_until = self
            .inner
            .valid_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let candidate = sent_at + self.inner.term;
        if candidate > *valid_until {
            *valid_until = candidate;
        }
    }

    /// The store said the claim is gone (taken over, released, the run removed): for good.
    pub fn lose(&self) {
        self.inner.lost.send_replace(true);
    }

    pub fn is_lost(&self) -> bool {
        *self.inner.lost.borrow()
    }

    /// Turns true once the lease is lost, so that a wait can stop at once.
    pub fn lost_signal(&self) -> watch::Receiver<bool> {
        self.inner.lost.subscribe()
    }

    /// How long the holder may still start a side effect; `None` once lost or expired.
    pub fn remaining(&self) -> Option<Duration> {
        if self.is_lost() {
            return None;
        }
        let valid_until = *self
            .inner
            .valid_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        (valid_until > now).then(|| valid_until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_runs_from_when_its_heartbeat_was_sent() {
        let sent = Instant::now();
        let lease = Lease::new("run", "serve:a", 3, Duration::from_secs(27), sent);
        assert_eq!(lease.remaining(), Some(Duration::from_secs(27)));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(lease.remaining(), Some(Duration::from_secs(7)));
        // A renewal sent before the last one that answers late does not shorten the lease.
        lease.renewed(sent);
        assert_eq!(lease.remaining(), Some(Duration::from_secs(7)));
        lease.renewed(Instant::now());
        assert_eq!(lease.remaining(), Some(Duration::from_secs(27)));
        tokio::time::advance(Duration::from_secs(28)).await;
        assert_eq!(lease.remaining(), None, "expired after a long pause");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_stays_lost() {
        let lease = Lease::new("run", "serve:a", 1, Duration::from_secs(10), Instant::now());
        let mut signal = lease.lost_signal();
        lease.lose();
        assert!(lease.is_lost());
        assert_eq!(lease.remaining(), None);
        lease.renewed(Instant::now());
        assert_eq!(lease.remaining(), None);
        assert!(signal.wait_for(|lost| *lost).await.is_ok());
    }
}

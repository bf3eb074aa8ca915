//! Who holds a run: the holder ids written to the store's claim columns, whether a holder is
//! gone, and how long a holder's requests may take (see `docs/durability.md`).
//!
//! Holder ids are `<host>:<pid>:<random>` for a serve process ([`worker_id`]) and
//! `cli:<host>:<pid>` for `runbook run` and `runbook runs resume`.

use std::time::Duration;

/// This machine's name, as holder ids carry it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// This serve process's id in the store's claim columns: host, pid and a random part (a pid
/// is reused after a restart, and the new process must not count the dead one's runs as its
/// own).
pub fn worker_id() -> String {
    let host = host_name();
    // The tail of a UUIDv7 is random.
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[24..])
}

/// Whether a holder (`cli:<host>:<pid>` for `runbook run` and `runs resume`,
/// `<host>:<pid>:<random>` for a serve process) ran on this machine and its process has
/// ended: a dead process can send nothing more. A pid reused by a new process reads as alive,
/// which only costs a wait.
pub fn holder_is_gone(holder: &str) -> bool {
    let parts: Vec<&str> = holder.split(':').collect();
    let (host, pid) = match parts.as_slice() {
        ["cli", host, pid] => (*host, *pid),
        [host, pid, _random] => (*host, *pid),
        _ => return false,
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == host_name() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// How long a heartbeat may be old before its holder counts as stopped, unless told otherwise
/// (`serve --stale-after`; `runbook run` and `runs resume` use this).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30);

/// Whether a run the store holds as `running` has lost the process that drove it, as
/// `runs list` and `runs show` say (`interrupted`): no holder, a holder of this machine whose
/// process is gone, or a heartbeat older than `stale_after` at `now` (or missing or
/// unreadable). Only a display state: the record stays `running` until a resume or a worker
/// claims it, and claims decide staleness in the store, not with this function.
pub fn is_interrupted(
    claimed_by: Option<&str>,
    heartbeat_at: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
    stale_after: Duration,
) -> bool {
    let Some(holder) = claimed_by else {
        return true;
    };
    if holder_is_gone(holder) {
        return true;
    }
    let Some(beat) = heartbeat_at.and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
    else {
        return true;
    };
    let stale = chrono::TimeDelta::from_std(stale_after).unwrap_or(chrono::TimeDelta::MAX);
    now.signed_duration_since(beat.with_timezone(&chrono::Utc)) > stale
}

/// How long a request of a process with this request timeout may take, with a margin (a
/// second and a tenth, for a server still creating what it was sent when the client gave up):
/// a process that takes a run over from this one waits that long before it acts on an intent
/// this one left unresolved. A timeout under a second counts as one second.
pub fn send_grace(request_timeout: Duration) -> Duration {
    let timeout = request_timeout.max(Duration::from_secs(1));
    timeout + Duration::from_secs(1) + timeout / 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_holders_of_this_machine_whose_process_ended_are_gone() {
        let host = host_name();
        let alive = std::process::id();
        // Far above any pid Linux hands out (pid_max is at most 2^22).
        let dead = 4_000_000_000_u32;
        assert!(!holder_is_gone(&format!("cli:{host}:{alive}")));
        assert!(holder_is_gone(&format!("cli:{host}:{dead}")));
        assert!(!holder_is_gone(&format!("{host}:{alive}:0a1b2c3d")));
        assert!(holder_is_gone(&format!("{host}:{dead}:0a1b2c3d")));
        assert!(!holder_is_gone(&format!("cli:another-host:{dead}")));
        assert!(!holder_is_gone(&format!("another-host:{dead}:0a1b2c3d")));
        assert!(!holder_is_gone("something else"));
    }

    #[test]
    fn a_run_is_interrupted_when_its_holder_is_gone_or_silent() {
        let host = host_name();
        let alive = format!("cli:{host}:{}", std::process::id());
        let dead = format!("cli:{host}:4000000000");
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T08:00:40.000000Z")
            .map(|time| time.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        let fresh = Some("2026-12-02T08:00:30.000000Z");
        let stale = Some("2026-12-02T08:00:00.000000Z");
        let limit = DEFAULT_STALE_AFTER;
        assert!(!is_interrupted(Some(&alive), fresh, now, limit));
        assert!(is_interrupted(Some(&alive), stale, now, limit));
        assert!(is_interrupted(Some(&dead), fresh, now, limit));
        assert!(is_interrupted(None, fresh, now, limit));
        assert!(is_interrupted(Some(&alive), None, now, limit));
        assert!(is_interrupted(Some(&alive), Some("yesterday"), now, limit));
        // Another machine's holder that still beats is not judged by its pid.
        assert!(!is_interrupted(
            Some("cli:elsewhere:4000000000"),
            fresh,
            now,
            limit
        ));
    }

    #[test]
    fn worker_ids_differ_between_processes_of_one_host() {
        let first = worker_id();
        let second = worker_id();
        assert_ne!(first, second);
        assert!(
            first.contains(&format!(":{}:", std::process::id())),
            "{first}"
        );
    }

    #[test]
    fn the_send_grace_is_the_request_timeout_with_a_margin() {
        assert_eq!(send_grace(Duration::from_secs(60)), Duration::from_secs(67));
        assert_eq!(
            send_grace(Duration::ZERO),
            send_grace(Duration::from_secs(1))
        );
    }
}

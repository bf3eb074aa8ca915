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

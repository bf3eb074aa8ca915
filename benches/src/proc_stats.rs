//! CPU time and resident memory of a process, read from `/proc` (Linux).
//!
//! `getrusage` would need `libc` and `unsafe` (forbidden in this workspace); `/proc/<pid>/stat`
//! holds the same user and system times, summed over every thread of the process, in clock
//! ticks of `USER_HZ`, which the kernel fixes at 100 per second for `/proc` on every mainstream
//! architecture. A 10 ms tick is coarse for one run but fine for totals over hundreds of runs.

use std::time::Duration;

use crate::BenchError;

/// Ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// User and system CPU time of a process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    /// User plus system time.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The CPU time spent since `earlier`.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// CPU time of this process so far.
pub fn cpu_time() -> Result<CpuTime, BenchError> {
    cpu_time_of("self")
}

/// CPU time of process `pid` (`"self"` or a number) so far.
pub fn cpu_time_of(pid: &str) -> Result<CpuTime, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&stat).ok_or_else(|| {
        BenchError::Io(std::io::Error::other(format!(
            "unexpected /proc/{pid}/stat format"
        )))
    })
}

/// Fields 14 (utime) and 15 (stime) of `/proc/<pid>/stat`. The second field is the command
/// name in parentheses and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`.
fn parse_stat(stat: &str) -> Option<CpuTime> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name come field 3 (state) onwards: utime is field 14, so index 11 here.
    let ticks = |index: usize| -> Option<Duration> {
        let value: u64 = fields.get(index)?.parse().ok()?;
        Some(Duration::from_secs_f64(value as f64 / USER_HZ))
    };
    Some(CpuTime {
        user: ticks(11)?,
        system: ticks(12)?,
    })
}

/// Peak resident memory (`VmHWM`) of this process, in KiB.
pub fn peak_rss_kib() -> Result<u64, BenchError> {
    status_kib("self", "VmHWM")
}

/// Resident memory now (`VmRSS`) of this process, in KiB.
pub fn rss_kib() -> Result<u64, BenchError> {
    status_kib("self", "VmRSS")
}

/// A `kB` line of `/proc/<pid>/status`, such as `VmHWM` or `VmRSS`.
pub fn status_kib(pid: &str, key: &str) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_kib(&status, key).ok_or_else(|| {
        BenchError::Io(std::io::Error::other(format!(
            "no {key} line in /proc/{pid}/status"
        )))
    })
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Kibibytes as mebibytes, for printing.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 3 0";
        let cpu = parse_stat(stat).expect("parses");
        assert_eq!(cpu.user, Duration::from_millis(2500));
        assert_eq!(cpu.system, Duration::from_millis(370));
        assert_eq!(cpu.total(), Duration::from_millis(2870));
    }

    #[test]
    fn a_truncated_stat_line_is_refused() {
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn status_lines_are_read_by_key_not_by_prefix() {
        let status = "VmHWMx:\t1 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(123_456));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(100));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_peak_rss() {
        let before = cpu_time().expect("/proc/self/stat is readable");
        let after = cpu_time().expect("/proc/self/stat is readable");
        assert!(after.total() >= before.total(), "CPU time never goes back");
        // The kernel syncs per-thread RSS counters lazily, so VmHWM may trail VmRSS for a
        // moment: only check that both are read and plausible (a test binary holds > 100 KiB).
        let peak = peak_rss_kib().expect("VmHWM is there");
        let now = rss_kib().expect("VmRSS is there");
        assert!(peak > 100 && now > 100, "peak {peak} KiB, now {now} KiB");
    }
}

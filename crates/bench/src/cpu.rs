//! CPU time of a process: precise (ns, summed over its live threads) from
//! `/proc/<pid>/task/*/schedstat`, and coarse (clock ticks, all threads ever) from
//! `/proc/<pid>/stat` as a cross-check.

use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// Reads processes' CPU time; knows the kernel's clock tick.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    ticks_per_sec: u64,
}

impl CpuClock {
    /// Asks `getconf CLK_TCK` once for the unit of `/proc/<pid>/stat`.
    pub fn new() -> Result<CpuClock> {
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .context("running 'getconf CLK_TCK'")?;
        if !out.status.success() {
            bail!("'getconf CLK_TCK' failed: {}", out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let ticks_per_sec: u64 = text
            .trim()
            .parse()
            .with_context(|| format!("'getconf CLK_TCK' printed '{}'", text.trim()))?;
        if ticks_per_sec == 0 {
            bail!("'getconf CLK_TCK' printed 0");
        }
        Ok(CpuClock { ticks_per_sec })
    }

    /// user + system time of `pid` (`None`: this process) so far.
    pub fn cpu(&self, pid: Option<u32>) -> Result<Duration> {
        let path = match pid {
            Some(p) => format!("/proc/{p}/stat"),
            None => "/proc/self/stat".to_string(),
        };
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let ticks = utime_plus_stime(&stat).ok_or_else(|| anyhow!("{path}: unexpected format"))?;
        Ok(Duration::from_nanos(
            ticks.saturating_mul(1_000_000_000) / self.ticks_per_sec,
        ))
    }
}

/// Fields 14 and 15 of `stat` (utime, stime), counted after the `(comm)` field, which may
/// itself contain spaces and parentheses.
fn utime_plus_stime(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ')' come field 3 (state) onwards: utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// On-CPU time of `pid` (`None`: this process) so far, in ns precision: the sum over its
/// threads of the first field of `/proc/<pid>/task/<tid>/schedstat`. Threads that have
/// exited are not counted (none of the three processes measured retires threads mid-run).
///
/// A running thread's figure is only brought up to date when it is scheduled, so for this
/// process the calling thread first yields (which updates it); other processes' threads are
/// read while they wait for work, when their figures are current.
pub fn sched_cpu(pid: Option<u32>) -> Result<Duration> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => {
            std::thread::yield_now();
            "/proc/self/task".to_string()
        }
    };
    let mut total = 0u64;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let path = entry
            .with_context(|| format!("listing {dir}"))?
            .path()
            .join("schedstat");
        // A thread may exit between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let ns: u64 = text
            .split_ascii_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("{}: unexpected format", path.display()))?;
        total += ns;
    }
    Ok(Duration::from_nanos(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(utime_plus_stime(stat), Some(10));
        assert_eq!(utime_plus_stime("garbage"), None);
    }

    #[test]
    fn own_cpu_is_readable() {
        let clock = CpuClock::new().unwrap();
        assert!(clock.cpu(None).is_ok());
        // Spin until our own CPU time has grown by 20 ms: on a loaded machine that takes
        // longer than 20 ms of wall time, so the bound is generous and the test not flaky.
        let start = sched_cpu(None).unwrap();
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        while sched_cpu(None).unwrap() < start + Duration::from_millis(20) {
            assert!(
                std::time::Instant::now() < give_up,
                "CPU time did not advance while spinning"
            );
        }
    }
}

//! What Linux's /proc says about a process: memory, threads, open files, fd limits.

use anyhow::{Context, Result};

/// A process's memory and handles, from /proc/<pid>/status and /proc/<pid>/fd.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStatus {
    /// Resident set size now (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (VmHWM), KiB.
    pub hwm_kib: u64,
    pub threads: u64,
    /// Open file descriptors (sockets included); 0 when /proc/<pid>/fd is not readable.
    pub fds: u64,
}

impl ProcStatus {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    pub fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

/// Reads /proc/<pid>/status (pid "self" for this process).
pub fn status(pid: &str) -> Result<ProcStatus> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let mut s = parse_status(&text);
    s.fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Ok(s)
}

fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn parse_status(text: &str) -> ProcStatus {
    ProcStatus {
        rss_kib: field(text, "VmRSS:"),
        hwm_kib: field(text, "VmHWM:"),
        threads: field(text, "Threads:"),
        fds: 0,
    }
}

/// CPU time (user + system, all threads) a process has used so far, in seconds, from
/// /proc/<pid>/stat (Linux counts it in ticks of 1/100 s).
pub fn cpu_s(pid: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu_ticks(&text)
        .map(|t| t as f64 / 100.0)
        .with_context(|| format!("no utime/stime in {path}"))
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// This process's open-files limit (soft, hard), from /proc/self/limits. A child (the
/// collector) inherits it.
pub fn nofile_limit() -> Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    parse_nofile(&text).context("no 'Max open files' line in /proc/self/limits")
}

fn parse_nofile(text: &str) -> Option<(u64, u64)> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let mut words = rest.split_whitespace();
    let value = |w: Option<&str>| match w {
        Some("unlimited") => Some(u64::MAX),
        Some(v) => v.parse().ok(),
        None => None,
    };
    Some((value(words.next())?, value(words.next())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_limits() {
        let s = parse_status("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t3\n");
        assert_eq!((s.rss_kib, s.hwm_kib, s.threads), (1024, 2048, 3));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 20000                files\n";
        assert_eq!(parse_nofile(limits), Some((1024, 20000)));
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }
}

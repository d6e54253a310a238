//! The path to an address that did not answer, refused with ICMP, or stalled a handshake:
//! TCP SYNs to the same address and port with TTL 1, 2, ... (a few at once per hop), each
//! answer recorded (ICMP time exceeded, ICMP unreachable with its type and code, a TCP
//! reset, a SYN-ACK) until the destination or a refusal answers, several hops in a row stay
//! silent, or the budget runs out. The sentence that names the device is in `verdict.rs`;
//! the probe itself is per platform (`linux.rs`: unprivileged, the ICMP read from the
//! socket's error queue; `windows.rs`: ICMP echoes with a TTL through the IP helper API, as
//! tracert, IPv4 only, labelled as such since the TCP path may differ). Other platforms say
//! plainly that the path was not traced.

use std::net::SocketAddr;

use crate::report::PathTrace;
use crate::settings::TraceSettings;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(any(target_os = "linux", windows))]
mod verdict;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(windows)]
use windows as platform;

/// The method's name in reports, and what it sends (which decides the verdict's words).
#[cfg(target_os = "linux")]
const METHOD: (&str, verdict::Probe) = ("tcp_syn_ttl", verdict::Probe::TcpSyn);
#[cfg(windows)]
const METHOD: (&str, verdict::Probe) = ("icmp_echo_ttl", verdict::Probe::IcmpEcho);

/// How a trace ended, for its verdict.
#[cfg(any(target_os = "linux", windows))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The last hop's answer ends the trace: the destination, a refusal, or this server.
    Answered,
    /// This many silent hops in a row.
    Silent(u8),
    /// The budget, in milliseconds, ran out.
    Budget(u64),
    /// Every TTL up to this one was tried.
    MaxHops(u8),
}

/// Traces the path to `addr` within the settings' bounds. Never fails: a trace that could
/// not run says why in its verdict.
pub(crate) async fn trace(addr: SocketAddr, settings: &TraceSettings) -> PathTrace {
    #[cfg(target_os = "linux")]
    {
        traced(addr, settings).await
    }
    #[cfg(windows)]
    {
        match addr {
            SocketAddr::V4(_) => traced(addr, settings).await,
            SocketAddr::V6(_) => not_traced(
                addr,
                "on Windows this version traces IPv4 addresses only (ICMP echo, as tracert)",
            ),
        }
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = settings;
        not_traced(addr, "this version traces on Linux and Windows only")
    }
}

/// A trace that did not run, and why.
fn not_traced(addr: SocketAddr, why: &str) -> PathTrace {
    PathTrace {
        method: "none".to_string(),
        port: addr.port(),
        hops: Vec::new(),
        verdict: format!("the path was not traced: {why}"),
        device: None,
        probes_sent: 0,
        duration_us: 0,
    }
}

#[cfg(any(target_os = "linux", windows))]
async fn traced(addr: SocketAddr, s: &TraceSettings) -> PathTrace {
    use crate::report::HopAnswer;
    use tokio::time::Instant;

    let start = Instant::now();
    let deadline = start + s.budget;
    let budget_ms = u64::try_from(s.budget.as_millis()).unwrap_or(u64::MAX);
    let mut hops = Vec::new();
    let mut sent = 0u32;
    let mut silent = 0u8;
    let mut ended = Ended::MaxHops(s.max_hops);
    for ttl in 1..=s.max_hops.max(1) {
        let now = Instant::now();
        if now >= deadline {
            ended = Ended::Budget(budget_ms);
            break;
        }
        let wait = s.hop_wait.min(deadline - now);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..s.probes_per_hop.max(1) {
            set.spawn(platform::probe(addr, ttl, wait));
        }
        let mut answers = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(hop)) => answers.push(hop),
                Ok(Err(e)) => {
                    let why = format!("a probe socket failed: {}", crate::words::io(&e));
                    return not_traced(addr, &why);
                }
                Err(e) => tracing::error!(error = %e, "a trace probe task failed"),
            }
            sent += 1;
        }
        // The first answer counts; silence only when every probe of the hop was silent.
        answers.sort_by_key(|h| (h.answer == HopAnswer::NoAnswer, h.rtt_us));
        let Some(hop) = answers.into_iter().next() else {
            continue;
        };
        let answer = hop.answer.clone();
        hops.push(hop);
        match answer {
            HopAnswer::TimeExceeded => silent = 0,
            HopAnswer::NoAnswer => {
                silent += 1;
                if silent >= s.silent_hops.max(1) {
                    ended = Ended::Silent(silent);
                    break;
                }
                if Instant::now() >= deadline {
                    ended = Ended::Budget(budget_ms);
                    break;
                }
            }
            _ => {
                ended = Ended::Answered;
                break;
            }
        }
    }
    let (verdict, device) = verdict::verdict_of(METHOD.1, addr, &hops, ended);
    PathTrace {
        method: METHOD.0.to_string(),
        port: addr.port(),
        hops,
        verdict,
        device,
        probes_sent: sent,
        duration_us: crate::net::micros(start),
    }
}

//! One probe of a path trace on Windows: an ICMP echo with this TTL through the IP helper
//! API (`crate::icmp_windows`), as tracert sends it. What a LocalSystem service may do
//! without a raw socket; its answers are about ICMP, so the verdict says the TCP path may
//! differ. IPv4 only (the caller says so for IPv6).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::icmp_windows::{EchoOutcome, IcmpHandle};
use crate::report::{Hop, HopAnswer};

/// One echo to `addr`'s address with this TTL; what answered within `wait`. An error only
/// when the ICMP handle could not be opened or the call failed outright.
pub(super) async fn probe(addr: SocketAddr, ttl: u8, wait: Duration) -> io::Result<Hop> {
    let IpAddr::V4(dest) = addr.ip() else {
        return Err(io::Error::other(
            "the ICMP trace of Windows is for IPv4 addresses",
        ));
    };
    let echo = tokio::task::spawn_blocking(move || IcmpHandle::open()?.echo(dest, ttl, wait))
        .await
        .map_err(|e| io::Error::other(format!("the ICMP probe's thread ended: {e}")))??;
    let answer = match echo.outcome {
        EchoOutcome::Reached => HopAnswer::EchoReply,
        EchoOutcome::TtlExpired => HopAnswer::TimeExceeded,
        EchoOutcome::Unreachable(code) => HopAnswer::Unreachable { icmp_type: 3, code },
        EchoOutcome::Silent => HopAnswer::NoAnswer,
    };
    let rtt_us = (answer != HopAnswer::NoAnswer)
        .then(|| u64::try_from(echo.rtt.as_micros()).unwrap_or(u64::MAX));
    Ok(Hop {
        ttl,
        address: echo.from.map(IpAddr::V4),
        rtt_us,
        answer,
    })
}

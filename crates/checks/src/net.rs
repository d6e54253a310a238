//! The network stages before TLS: name resolution, TCP connect, and the HTTP CONNECT tunnel.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::failure::FailureKind;
use crate::lines::{LineLimits, LineStream};
use crate::report::{AddressSource, DnsReport, FamilyTiming, TcpStats};
use crate::settings::ProbeSettings;
use crate::StageError;

/// Resolves `host:port` the way the host itself does (the OS resolver, so hosts files and
/// corporate DNS count), unless an override routes it elsewhere.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    settings: &ProbeSettings,
) -> Result<DnsReport, (StageError, u64)> {
    let start = Instant::now();
    if let Some(addrs) = settings.overrides.get(host, port) {
        return Ok(DnsReport {
            source: AddressSource::Override,
            duration_us: 0,
            addresses: addrs.to_vec(),
            families: Vec::new(),
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(DnsReport {
            source: AddressSource::System,
            duration_us: 0,
            addresses: vec![SocketAddr::new(ip, port)],
            families: Vec::new(),
        });
    }
    let lookup = tokio::net::lookup_host((host, port));
    let result = tokio::time::timeout(settings.timeouts.dns, lookup).await;
    let took = micros(start);
    match result {
        Err(_) => Err((
            StageError::new(
                FailureKind::DnsTimeout,
                format!(
                    "no answer for {host} within {} ms",
                    settings.timeouts.dns.as_millis()
                ),
            ),
            took,
        )),
        Ok(Err(e)) => Err((classify_dns_error(host, &e), took)),
        Ok(Ok(iter)) => {
            let mut addresses: Vec<SocketAddr> = Vec::new();
            for a in iter {
                if !addresses.contains(&a) {
                    addresses.push(a);
                }
            }
            if addresses.is_empty() {
                return Err((
                    StageError::new(FailureKind::DnsNxdomain, format!("{host} has no address")),
                    took,
                ));
            }
            // Over its budget (`dns_slow`): ask again, one family at a time, to tell a
            // resolver slow for AAAA only from one slow for everything.
            let families = if Duration::from_micros(took) > settings.budgets.dns {
                time_families(host, settings.timeouts.dns).await
            } else {
                Vec::new()
            };
            Ok(DnsReport {
                source: AddressSource::System,
                duration_us: took,
                addresses,
                families,
            })
        }
    }
}

/// The OS resolver asked for `host` once per address family (A alone, AAAA alone),
/// concurrently, each bounded by `timeout`: a lookup still running then is reported as
/// unanswered and left to finish on the blocking pool. IPv4 first.
async fn time_families(host: &str, timeout: Duration) -> Vec<FamilyTiming> {
    let v4 = time_family(host, Family::V4, timeout);
    let v6 = time_family(host, Family::V6, timeout);
    let (v4, v6) = tokio::join!(v4, v6);
    vec![v4, v6]
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

async fn time_family(host: &str, family: Family, timeout: Duration) -> FamilyTiming {
    let (name, domain) = match family {
        Family::V4 => ("ipv4", socket2::Domain::IPV4),
        Family::V6 => ("ipv6", socket2::Domain::IPV6),
    };
    let hints = dns_lookup::AddrInfoHints {
        flags: 0,
        address: domain.into(),
        socktype: socket2::Type::STREAM.into(),
        protocol: 0,
    };
    let owned = host.to_owned();
    let start = Instant::now();
    let lookup = tokio::task::spawn_blocking(move || {
        let mut addresses: Vec<IpAddr> = Vec::new();
        for info in dns_lookup::getaddrinfo(Some(&owned), None, Some(hints))? {
            let ip = info?.sockaddr.ip();
            if !addresses.contains(&ip) {
                addresses.push(ip);
            }
        }
        Ok::<_, dns_lookup::LookupError>(addresses.len())
    });
    let result = tokio::time::timeout(timeout, lookup).await;
    let duration_us = micros(start);
    let (addresses, error) = match result {
        Err(_) => (
            0,
            Some(format!("no answer within {} ms", timeout.as_millis())),
        ),
        Ok(Err(_)) => (0, Some("the lookup did not finish".to_owned())),
        // gai_strerror's words, without the prefix std's and dns-lookup's errors carry.
        Ok(Ok(Err(e))) => {
            let text = e.to_string();
            let words = text.trim_start_matches("failed to lookup address information: ");
            (0, Some(words.to_owned()))
        }
        Ok(Ok(Ok(n))) => (u32::try_from(n).unwrap_or(u32::MAX), None),
    };
    FamilyTiming {
        family: name.to_owned(),
        duration_us,
        addresses,
        error,
    }
}

/// getaddrinfo's errors reach us as text on Unix and as WSA codes on Windows; both are
/// mapped to "the name does not exist" versus "the resolver failed".
fn classify_dns_error(host: &str, e: &io::Error) -> StageError {
    const WSAHOST_NOT_FOUND: i32 = 11001;
    const WSANO_DATA: i32 = 11004;
    let text = e.to_string();
    let nx_text = [
        "not known",
        "No address associated",
        "nodename nor servname",
        "No such host",
    ]
    .iter()
    .any(|t| text.contains(t));
    let nx_code = matches!(e.raw_os_error(), Some(WSAHOST_NOT_FOUND | WSANO_DATA));
    if nx_text || nx_code {
        StageError::new(
            FailureKind::DnsNxdomain,
            format!("{host} does not resolve ({text})"),
        )
    } else {
        StageError::new(
            FailureKind::DnsFailure,
            format!("resolving {host} failed ({text})"),
        )
    }
}

/// The address the OS sends from toward `addr`: the source of its route, found by
/// connecting a UDP socket (which sends no packet), so it is known even when every SYN is
/// dropped. None when the OS has no route to it.
pub(crate) fn route_source(addr: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = match addr {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(addr).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Opens a TCP connection within the timeout.
pub(crate) async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, StageError> {
    connected(addr, timeout, TcpStream::connect(addr)).await
}

/// Opens a TCP connection whose MSS is `mss`, set before connecting so the SYN announces it
/// and the server sends segments no larger (the retry that tells an MTU black hole).
#[cfg(unix)]
pub(crate) async fn connect_with_mss(
    addr: SocketAddr,
    mss: u32,
    timeout: Duration,
) -> Result<TcpStream, StageError> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| classify_connect_error(addr, &e))?;
    socket2::SockRef::from(&socket)
        .set_tcp_mss(mss)
        .map_err(|e| {
            StageError::new(
                FailureKind::TcpError,
                format!("could not set the MSS to {mss}: {}", crate::words::io(&e)),
            )
        })?;
    connected(addr, timeout, socket.connect(addr)).await
}

/// The MSS the kernel uses on a connected socket (TCP_MAXSEG), where it can be read.
pub(crate) fn mss(stream: &TcpStream) -> Option<u32> {
    #[cfg(unix)]
    return socket2::SockRef::from(stream).tcp_mss().ok();
    #[cfg(not(unix))]
    {
        let _ = stream;
        None
    }
}

/// A second handle on a connection's socket (Linux), so its `TCP_INFO` can be read when the
/// dialog is over, after TLS and the line reader have consumed the stream. Elsewhere never
/// made: `of` says None.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct TcpWatch {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
}

impl TcpWatch {
    /// None where the OS does not tell (not Linux) or the descriptor cannot be duplicated.
    pub(crate) fn of(stream: &TcpStream) -> Option<TcpWatch> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let fd = stream.as_fd().try_clone_to_owned().ok()?;
            Some(TcpWatch { fd })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stream;
            None
        }
    }

    /// The round trip and retransmissions so far; None if the OS would not say.
    pub(crate) fn stats(&self) -> Option<TcpStats> {
        #[cfg(target_os = "linux")]
        return crate::tcp_info_linux::read(&self.fd).ok();
        #[cfg(not(target_os = "linux"))]
        None
    }
}

/// The name servers the OS resolver asks, in order, where the OS says which: the
/// `nameserver` lines of /etc/resolv.conf (inside `ip netns exec`, the namespace's own). Empty
/// elsewhere. Read bounded (64 KiB, at most 8 servers).
pub(crate) fn os_resolvers() -> Vec<String> {
    #[cfg(unix)]
    {
        use std::io::Read;
        let mut text = String::new();
        let read = std::fs::File::open("/etc/resolv.conf")
            .and_then(|f| f.take(64 * 1024).read_to_string(&mut text));
        if read.is_err() {
            return Vec::new();
        }
        parse_nameservers(&text)
    }
    #[cfg(not(unix))]
    Vec::new()
}

/// The `nameserver` lines of a resolv.conf, in order (at most 8, each at most 64 characters).
#[cfg(any(unix, test))]
fn parse_nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => Some(addr.chars().take(64).collect()),
                _ => None,
            }
        })
        .take(8)
        .collect()
}

/// A connection attempt bounded by the timeout, its failure classified.
async fn connected(
    addr: SocketAddr,
    timeout: Duration,
    attempt: impl std::future::Future<Output = io::Result<TcpStream>>,
) -> Result<TcpStream, StageError> {
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(StageError::new(
            FailureKind::TcpTimeout,
            format!("no answer from {addr} within {} ms", timeout.as_millis()),
        )),
        Ok(Err(e)) => Err(classify_connect_error(addr, &e)),
        Ok(Ok(stream)) => {
            // Dialog lines are small and latency is what we measure.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

fn classify_connect_error(addr: SocketAddr, e: &io::Error) -> StageError {
    let kind = match e.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::TcpRefused,
        io::ErrorKind::TimedOut => FailureKind::TcpTimeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            FailureKind::TcpUnreachable
        }
        _ => FailureKind::TcpError,
    };
    StageError::new(kind, crate::words::connect(&addr, e))
}

/// Asks an HTTP proxy for a tunnel to `host:port` over an open connection. The reply head is
/// read with the same bounds as any server dialog.
pub(crate) async fn connect_tunnel(
    stream: TcpStream,
    host: &str,
    port: u16,
    limits: LineLimits,
    timeout: Duration,
) -> Result<TcpStream, StageError> {
    let mut lines = LineStream::new(stream, limits, Instant::now() + timeout);
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    lines
        .send(&format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: eceprobe/{}\r\n",
            env!("CARGO_PKG_VERSION")
        ))
        .await
        .map_err(as_proxy_error)?;
    let status_line = lines.read_line().await.map_err(as_proxy_error)?;
    let status = parse_status_line(&status_line).ok_or_else(|| {
        StageError::new(
            FailureKind::ProxyUnexpected,
            format!("the proxy answered '{}' to CONNECT", truncate(&status_line)),
        )
    })?;
    // Skip the rest of the head, bounded like any dialog.
    while !lines.read_line().await.map_err(as_proxy_error)?.is_empty() {}
    let kind = match status {
        200..=299 => return lines.into_inner(),
        407 => FailureKind::ProxyAuthRequired,
        502..=504 => FailureKind::ProxyUpstreamFailed,
        _ => FailureKind::ProxyDenied,
    };
    Err(StageError::new(
        kind,
        format!(
            "the proxy answered '{}' to CONNECT {authority}",
            truncate(&status_line)
        ),
    ))
}

/// A proxy that times out or closes is reported as a proxy problem, not a protocol one.
fn as_proxy_error(e: StageError) -> StageError {
    StageError::new(FailureKind::ProxyUnexpected, e.detail)
}

/// `HTTP/1.x NNN reason` -> NNN.
pub(crate) fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Server text is shown to people; keep it to one screen line.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

pub(crate) fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The route's source is found without a listener or a packet: a port nobody serves
    /// (as a dropped SYN would be) still has one.
    #[test]
    fn the_source_address_is_the_routes_without_a_connection() {
        let source = route_source("127.0.0.9:995".parse().unwrap());
        assert!(source.is_some_and(|ip| ip.is_loopback()), "{source:?}");
        // Where IPv6 loopback is off there is no route, and no source is made up.
        if let Some(ip) = route_source("[::1]:995".parse().unwrap()) {
            assert!(ip.is_loopback(), "{ip}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 200 Connection established"),
            Some(200)
        );
        assert_eq!(
            parse_status_line("HTTP/1.0 407 Proxy Authentication Required"),
            Some(407)
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 20"), None);
    }

    #[test]
    fn resolver_errors_are_told_apart() {
        // The texts glibc's gai_strerror gives, as std wraps them, and Windows' WSA codes.
        let nx =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(classify_dns_error("h", &nx).kind, FailureKind::DnsNxdomain);
        let again = io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(
            classify_dns_error("h", &again).kind,
            FailureKind::DnsFailure
        );
        let win = io::Error::from_raw_os_error(11001);
        assert_eq!(classify_dns_error("h", &win).kind, FailureKind::DnsNxdomain);
    }

    #[test]
    fn nameservers_in_order() {
        let conf = "# comment\nsearch corp.example\nnameserver 10.0.0.53\nnameserver   10.0.0.54 # two\noptions timeout:1\nnameserver\n";
        assert_eq!(parse_nameservers(conf), ["10.0.0.53", "10.0.0.54"]);
        assert!(parse_nameservers("").is_empty());
    }

    #[test]
    fn connect_errors_are_told_apart() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let e = |k| classify_connect_error(a, &io::Error::from(k)).kind;
        assert_eq!(e(io::ErrorKind::ConnectionRefused), FailureKind::TcpRefused);
        assert_eq!(
            e(io::ErrorKind::HostUnreachable),
            FailureKind::TcpUnreachable
        );
        assert_eq!(
            e(io::ErrorKind::NetworkUnreachable),
            FailureKind::TcpUnreachable
        );
        assert_eq!(e(io::ErrorKind::PermissionDenied), FailureKind::TcpError);
    }
}

//! One probe of a path trace on Linux, as an unprivileged process can: a non-blocking TCP
//! connect with IP_TTL (IPV6_UNICAST_HOPS) set and IP_RECVERR (IPV6_RECVERR) on. In
//! SYN_SENT, an ICMP time exceeded or unreachable aborts the connect (EHOSTUNREACH and the
//! like) and, with RECVERR, the kernel queues the ICMP on the socket with the address of
//! the device that sent it, its type and code; `recvmsg(MSG_ERRQUEUE)` reads it. A reset
//! gives ECONNREFUSED and a SYN-ACK completes the connect (closed at once with a reset).
//! No raw socket, so no CAP_NET_RAW.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use tokio::net::TcpSocket;
use tokio::time::Instant;

use crate::report::{Hop, HopAnswer};

/// `sock_extended_err.ee_origin` of an ICMP / ICMPv6 message (the kernel's own errors, no
/// route or a local firewall, are told by the connect's error alone).
const ORIGIN_ICMP: u8 = 2;
const ORIGIN_ICMP6: u8 = 3;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP6_TIME_EXCEEDED: u8 = 3;

/// What the error queue held.
struct Queued {
    origin: u8,
    icmp_type: u8,
    code: u8,
    from: Option<IpAddr>,
}

/// One SYN to `addr` with this TTL; what answered within `wait`. An error only when the
/// socket could not be made.
pub(super) async fn probe(addr: SocketAddr, ttl: u8, wait: Duration) -> io::Result<Hop> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let raw = socket2::SockRef::from(&socket);
    match addr {
        SocketAddr::V4(_) => {
            raw.set_ttl_v4(u32::from(ttl))?;
            setsockopt(&socket, sockopt::Ipv4RecvErr, &true).map_err(io::Error::from)?;
        }
        SocketAddr::V6(_) => {
            raw.set_unicast_hops_v6(u32::from(ttl))?;
            setsockopt(&socket, sockopt::Ipv6RecvErr, &true).map_err(io::Error::from)?;
        }
    }
    // A SYN-ACK is closed with a reset, never a FIN: the trace holds nothing open.
    raw.set_linger(Some(Duration::ZERO))?;
    // The same socket (a second descriptor), to read its error queue once the failed
    // connect has consumed the first.
    let errors = raw.try_clone()?;
    let sent = Instant::now();
    let result = tokio::time::timeout(wait, socket.connect(addr)).await;
    let rtt_us = Some(crate::net::micros(sent));
    let hop = |address: Option<IpAddr>, answer| Hop {
        ttl,
        address,
        rtt_us,
        answer,
    };
    Ok(match result {
        Err(_) => Hop {
            ttl,
            address: None,
            rtt_us: None,
            answer: HopAnswer::NoAnswer,
        },
        Ok(Ok(_connected)) => hop(Some(addr.ip()), HopAnswer::SynAck),
        Ok(Err(e)) => match queued(&errors) {
            Some(q) if q.origin == ORIGIN_ICMP || q.origin == ORIGIN_ICMP6 => {
                let exceeded = match q.origin {
                    ORIGIN_ICMP => q.icmp_type == ICMP_TIME_EXCEEDED,
                    _ => q.icmp_type == ICMP6_TIME_EXCEEDED,
                };
                let answer = match exceeded {
                    true => HopAnswer::TimeExceeded,
                    false => HopAnswer::Unreachable {
                        icmp_type: q.icmp_type,
                        code: q.code,
                    },
                };
                hop(q.from, answer)
            }
            _ if e.kind() == io::ErrorKind::ConnectionRefused => {
                hop(Some(addr.ip()), HopAnswer::Reset)
            }
            _ => hop(
                None,
                HopAnswer::Local {
                    reason: crate::words::io(&e),
                },
            ),
        },
    })
}

/// The first entry of the socket's error queue, if any (never waits).
fn queued(socket: &socket2::Socket) -> Option<Queued> {
    let mut data = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
    let msg =
        recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut space), flags).ok()?;
    for cmsg in msg.cmsgs().ok()? {
        match cmsg {
            ControlMessageOwned::Ipv4RecvErr(ee, from) => {
                return Some(Queued {
                    origin: ee.ee_origin,
                    icmp_type: ee.ee_type,
                    code: ee.ee_code,
                    from: from.map(|a| IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))),
                })
            }
            ControlMessageOwned::Ipv6RecvErr(ee, from) => {
                return Some(Queued {
                    origin: ee.ee_origin,
                    icmp_type: ee.ee_type,
                    code: ee.ee_code,
                    from: from.map(|a| IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr))),
                })
            }
            _ => {}
        }
    }
    None
}

//! Binding an endpoint address according to its fault (listening, refusing, black-holing) and
//! the accept loop that hands each connection to its protocol.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};
use tracing::{debug, warn};

use crate::config::{Endpoint, Fault, Hostnames};
use crate::oauth::Authority;
use crate::{faults, https, imap, pop3, smtp};

/// Open connections per address beyond which new ones are closed at once: the lab must not
/// run out of file descriptors because a benchmark or a bug opened too many.
const MAX_CONNS: usize = 4096;
/// How long one filler connect may take before we conclude the accept queue is full.
const FILL_PROBE: Duration = Duration::from_millis(100);
const MAX_FILLERS: usize = 8;

/// Everything a connection handler needs to know about the address it was accepted on.
pub(crate) struct ConnCtx {
    pub endpoint: Endpoint,
    pub fault: Fault,
    /// Certificate for the endpoint's host (or the fault's bad one).
    pub tls: Arc<ServerConfig>,
    pub hostnames: Arc<Hostnames>,
    /// The front-end server name this address claims to be, e.g.
    /// `LAB1PR01CA0001.outlook.office365.com`.
    pub frontend: String,
    pub idle: Duration,
    /// The lab's token authority: the token endpoint mints, the mail servers verify.
    pub oauth: Arc<Authority>,
}

impl ConnCtx {
    /// Exchange's greeting tag: base64 of the front end's name in UTF-16LE.
    pub(crate) fn frontend_blob(&self) -> String {
        let utf16: Vec<u8> = self
            .frontend
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        base64::engine::general_purpose::STANDARD.encode(utf16)
    }
}

/// The name of the front end serving address `index` of an endpoint.
pub(crate) fn frontend_name(index: usize, hostnames: &Hostnames) -> String {
    format!("LAB1PR01CA{:04}.{}", index + 1, hostnames.outlook)
}

/// Address `index` of an endpoint lives on 127.0.0.{index+1}.
pub(crate) fn address_ip(index: usize) -> Option<Ipv4Addr> {
    let last = u8::try_from(index + 1).ok().filter(|b| *b < 255)?;
    Some(Ipv4Addr::new(127, 0, 0, last))
}

/// An address whose SYNs go unanswered: a listener with a zero backlog whose accept queue
/// the lab fills itself and never drains. Linux does not refuse a SYN when the accept queue
/// is full, it drops it, so a client's connect() retransmits until its own timeout, exactly
/// like a firewall that silently discards. Dropping this releases everything.
pub(crate) struct BlackHole {
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

/// A [`BlackHole`] bound at `at` (port 0: any free port).
pub(crate) async fn black_hole(at: SocketAddr) -> io::Result<(SocketAddr, BlackHole)> {
    let socket = match at {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(at)?;
    let listener = socket.listen(0)?;
    let addr = listener.local_addr()?;
    let mut fillers = Vec::new();
    for _ in 0..MAX_FILLERS {
        match timeout(FILL_PROBE, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            Ok(Err(e)) => return Err(e),
            // A SYN went unanswered: the queue is full, later clients will hang too.
            Err(_) => {
                return Ok((
                    addr,
                    BlackHole {
                        _listener: listener,
                        _fillers: fillers,
                    },
                ))
            }
        }
    }
    warn!(%addr, "black-hole accept queue never filled; connects to it may succeed");
    Ok((
        addr,
        BlackHole {
            _listener: listener,
            _fillers: fillers,
        },
    ))
}

/// A port on `ip` that nothing listens on: bound, noted, released.
pub(crate) fn refused_port(ip: IpAddr) -> io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
    l.local_addr()
}

/// Accepts until told to stop, then closes the listener and every connection it spawned.
/// `handler` serves one accepted connection.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    label: &'static str,
    accepted: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
    handler: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            // Any change means stop; an error means the lab was dropped.
            _ = stop.changed() => break,
            res = listener.accept() => match res {
                Ok((tcp, peer)) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    if conns.len() >= MAX_CONNS {
                        warn!(listener = label, "too many open connections; closing new one");
                        continue;
                    }
                    // Replies are small and latency matters (trickle, benchmarks).
                    let _ = tcp.set_nodelay(true);
                    conns.spawn(handler(tcp, peer));
                }
                Err(e) => {
                    // E.g. EMFILE: back off instead of spinning.
                    warn!(listener = label, error = %e, "accept failed");
                    sleep(Duration::from_millis(50)).await;
                }
            },
            Some(res) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = res {
                    if e.is_panic() {
                        warn!(listener = label, "connection task panicked");
                    }
                }
            }
        }
    }
    drop(listener);
    conns.shutdown().await;
}

/// Serves one connection accepted on an endpoint address.
pub(crate) async fn serve_endpoint(tcp: TcpStream, peer: SocketAddr, ctx: Arc<ConnCtx>) {
    debug!(endpoint = %ctx.endpoint, %peer, fault = ?ctx.fault, "connection accepted");
    if ctx.fault == Fault::Silent {
        return faults::silent(tcp).await;
    }
    match ctx.endpoint {
        Endpoint::Imap => imap::serve(tcp, ctx).await,
        Endpoint::Pop3 => pop3::serve(tcp, ctx).await,
        Endpoint::Smtp => smtp::serve(tcp, peer.ip(), ctx).await,
        Endpoint::Login | Endpoint::OutlookHttps | Endpoint::EceWeb => https::serve(tcp, ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert_eq!(address_ip(0), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(address_ip(5), Some(Ipv4Addr::new(127, 0, 0, 6)));
        assert_eq!(address_ip(254), None);
        assert_eq!(
            frontend_name(0, &Hostnames::default()),
            "LAB1PR01CA0001.outlook.office365.com"
        );
    }
}

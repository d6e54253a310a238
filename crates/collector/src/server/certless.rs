//! Connections without a client certificate on the agents' port are bounded. They exist for
//! one call, `Enrollment.Join` (`cert_gate.rs` answers every other path UNAUTHENTICATED),
//! and a join is decided within 15 s; yet HTTP/2 would let such a client keep its
//! connection open and idle for ever, and many of them would hold file descriptors the
//! agents' streams and the database need. So, besides the handshake's own bounds
//! (`agent_tls.rs`): at most [`MAX_CERTLESS`] at once, and at most
//! [`MAX_CERTLESS_PER_SOURCE`] of them from one source address (an IPv6 /64 counts as one),
//! so one host cannot take every place and block the joins of all others; one more is
//! closed at once, and logged. Each is closed [`CERTLESS_LIFETIME`] after its handshake
//! whatever it does. A connection with a certificate is not touched.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// Connections without a client certificate open at once (joins in progress).
pub(super) const MAX_CERTLESS: usize = 64;
/// Of them, from one source address: a few agents behind one NAT join at once, yet one
/// host cannot fill [`MAX_CERTLESS`].
pub(super) const MAX_CERTLESS_PER_SOURCE: usize = 4;
/// How long one may stay open: a join (the agent's whole call is bounded at 30 s) with room.
pub(super) const CERTLESS_LIFETIME: Duration = Duration::from_secs(60);

/// An agent's connection as tonic serves it; bounded when it has no client certificate.
pub(crate) struct AgentConn<S> {
    inner: S,
    bound: Option<Bound>,
}

struct Bound {
    /// Held while the connection lives: its place among [`MAX_CERTLESS`].
    _slot: OwnedSemaphorePermit,
    /// And its place among its source's [`MAX_CERTLESS_PER_SOURCE`].
    _source: SourceSlot,
    deadline: Pin<Box<Sleep>>,
}

impl<S> AgentConn<S> {
    /// A connection with a client certificate: as it is.
    pub(super) fn trusted(inner: S) -> AgentConn<S> {
        AgentConn { inner, bound: None }
    }

    /// A connection without one: it holds `slot` and `source` and ends after `lifetime`.
    pub(super) fn bounded(
        inner: S,
        slot: OwnedSemaphorePermit,
        source: SourceSlot,
        lifetime: Duration,
    ) -> Self {
        AgentConn {
            inner,
            bound: Some(Bound {
                _slot: slot,
                _source: source,
                deadline: Box::pin(tokio::time::sleep(lifetime)),
            }),
        }
    }

    /// Whether its time is over (and the waker is registered for when it will be).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.bound
            .as_mut()
            .is_some_and(|b| b.deadline.as_mut().poll(cx).is_ready())
    }
}

/// The certificate-less connections open per source address.
#[derive(Clone, Default)]
pub(super) struct PerSource(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection's place among its source's; given back when dropped.
pub(super) struct SourceSlot {
    open: PerSource,
    source: IpAddr,
}

impl PerSource {
    /// The source `ip` counts as: itself, or its /64 for IPv6 (what one host is given).
    fn source(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        }
    }

    /// A place for one more connection from `ip`; None when its source holds
    /// [`MAX_CERTLESS_PER_SOURCE`] already.
    pub(super) fn take(&self, ip: IpAddr) -> Option<SourceSlot> {
        let source = Self::source(ip);
        // Nothing panics while holding the lock; a poisoned count is still a count.
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(source).or_insert(0);
        if *n >= MAX_CERTLESS_PER_SOURCE {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            open: self.clone(),
            source,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.source);
            }
        }
    }
}

fn over() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "a connection without a client certificate is closed {} s after its handshake",
            CERTLESS_LIFETIME.as_secs()
        ),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for AgentConn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Over: the end of the stream, so hyper closes the connection (an idle one too:
        // the deadline's timer wakes this read).
        if self.expired(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AgentConn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(over()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The same connection information as the stream inside (the gate and `Hello` read the
/// client's certificate from it).
impl<S: Connected> Connected for AgentConn<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_bounded_connection_ends_at_its_deadline_even_idle_and_frees_its_slot() {
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let (ours, mut theirs) = tokio::io::duplex(64);
        let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
        let lifetime = Duration::from_millis(300);
        let per_source = PerSource::default();
        let source = per_source.take("127.0.0.1".parse().unwrap()).unwrap();
        let mut conn = AgentConn::bounded(ours, slot, source, lifetime);
        assert!(Arc::clone(&slots).try_acquire_owned().is_err(), "held");
        theirs.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        // Idle from now: the read ends (end of stream) when the lifetime is over.
        let started = tokio::time::Instant::now();
        let n = conn.read(&mut buf).await.unwrap();
        assert_eq!(n, 0);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(conn.write_all(b"late").await.is_err());
        drop(conn);
        assert!(Arc::clone(&slots).try_acquire_owned().is_ok(), "freed");
        assert!(
            per_source.0.lock().unwrap().is_empty(),
            "its source's place freed"
        );
        // A trusted connection has no deadline.
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut conn = AgentConn::trusted(ours);
        let reading = tokio::spawn(async move { conn.read(&mut [0u8; 4]).await.map(|_| ()) });
        tokio::time::sleep(lifetime * 3).await;
        assert!(!reading.is_finished());
        theirs.write_all(b"x").await.unwrap();
        reading.await.unwrap().unwrap();
    }
}

#[cfg(test)]
mod per_source_tests {
    use super::*;

    #[test]
    fn one_source_gets_its_share_an_ipv6_64_is_one_source_and_places_come_back() {
        let open = PerSource::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..MAX_CERTLESS_PER_SOURCE)
            .map(|_| open.take(a).unwrap())
            .collect();
        assert!(open.take(a).is_none());
        assert!(open.take("10.0.0.2".parse().unwrap()).is_some());
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let six: Vec<_> = (0..MAX_CERTLESS_PER_SOURCE)
            .map(|i| open.take(v6(&format!("2001:db8::{i}"))).unwrap())
            .collect();
        assert!(open.take(v6("2001:db8::ffff:1")).is_none(), "same /64");
        assert!(open.take(v6("2001:db8:0:1::1")).is_some(), "another /64");
        drop(held);
        drop(six);
        assert!(open.take(a).is_some());
    }
}

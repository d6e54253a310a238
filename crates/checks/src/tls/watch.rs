//! A transparent stream wrapper that counts the bytes it carried each way. A handshake that
//! timed out is told apart by them: the ClientHello went out and not one byte came back (a
//! stall: the server's flight is lost on the way) versus a server that answered and then
//! went silent. The counts are shared, so they stay readable after a timeout dropped the
//! handshake (and the stream with it).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from and written to a [`Watched`] stream.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    read: AtomicU64,
    written: AtomicU64,
}

impl Counts {
    pub(crate) fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// `S`, counting what it carries; otherwise it reads and writes exactly as `S` does.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S) -> (Watched<S>, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let watched = Watched {
            inner,
            counts: counts.clone(),
        };
        (watched, counts)
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        add(&this.counts.read, buf.filled().len().saturating_sub(before));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        add(&this.counts.written, n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        add(&this.counts.written, n);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_ways() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut w, counts) = Watched::new(a);
        w.write_all(b"hello").await.unwrap();
        assert_eq!((counts.written(), counts.read()), (5, 0));
        b.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 8];
        let n = w.read(&mut buf).await.unwrap();
        assert_eq!(n, 3);
        assert_eq!((counts.written(), counts.read()), (5, 3));
    }
}

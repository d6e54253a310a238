//! Bounded, timed reading and writing for the line protocols (IMAP, POP3, SMTP) and the raw
//! HTTP heads read by the proxy and the hostile HTTPS faults. Every read has a size cap and an
//! idle timeout so a misbehaving client can neither grow memory nor pin a task.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::{sleep, timeout};

/// Longest command line accepted from a client.
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// Longest HTTP request head accepted by the proxy and the raw HTTPS paths.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Why a session stopped reading.
#[derive(Debug)]
pub(crate) enum End {
    /// The client closed the connection.
    Closed,
    /// The client said nothing for the idle timeout.
    Idle,
    /// The client sent a line longer than `MAX_LINE`.
    TooLong,
    Io(io::Error),
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> Self {
        End::Io(e)
    }
}

/// A line-oriented server session over any byte stream (plain TCP or TLS).
pub(crate) struct Session<S> {
    io: BufReader<S>,
    /// `Fault::Delay`: slept before every reply.
    delay: Option<Duration>,
    idle: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    pub(crate) fn new(stream: S, delay: Option<Duration>, idle: Duration) -> Self {
        Session {
            io: BufReader::with_capacity(MAX_LINE, stream),
            delay,
            idle,
        }
    }

    /// The next line without its CR LF, lossily decoded (clients may send anything).
    pub(crate) async fn read_line(&mut self) -> Result<String, End> {
        let idle = self.idle;
        match timeout(idle, read_bounded_line(&mut self.io)).await {
            Ok(r) => r,
            Err(_) => Err(End::Idle),
        }
    }

    /// Sends one reply (possibly multi-line, already CR LF terminated) after the injected delay.
    pub(crate) async fn send(&mut self, text: &str) -> Result<(), End> {
        if let Some(d) = self.delay {
            sleep(d).await;
        }
        self.write_raw(text.as_bytes()).await
    }

    /// Sends the greeting, one byte per `interval` when trickling (`Fault::Trickle`).
    pub(crate) async fn greet(&mut self, text: &str, trickle: Option<Duration>) -> Result<(), End> {
        let Some(interval) = trickle else {
            return self.send(text).await;
        };
        for byte in text.as_bytes() {
            self.write_raw(std::slice::from_ref(byte)).await?;
            sleep(interval).await;
        }
        Ok(())
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), End> {
        let io = &mut self.io;
        let write = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        // A client that stops reading must not park the task forever on a full socket.
        match timeout(self.idle, write).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(End::Idle),
        }
    }

    /// Closes the write side cleanly (TLS close_notify, then FIN).
    pub(crate) async fn close(mut self) {
        let _ = timeout(self.idle, self.io.shutdown()).await;
    }

    /// The underlying stream. Bytes the client pipelined after the last line are discarded on
    /// purpose: after STARTTLS they must not be treated as the TLS handshake (or worse, as
    /// commands that appear to arrive inside TLS, the classic STARTTLS injection).
    pub(crate) fn into_inner(self) -> (S, usize) {
        let leftover = self.io.buffer().len();
        (self.io.into_inner(), leftover)
    }
}

async fn read_bounded_line<R: AsyncRead + Unpin>(io: &mut BufReader<R>) -> Result<String, End> {
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = io.fill_buf().await?;
        if buf.is_empty() {
            return Err(End::Closed);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE {
            return Err(End::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        io.consume(take);
        if done {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// Reads an HTTP request head up to and including the blank line. Returns the head and any
/// bytes that arrived after it (which a tunnel must forward). `None` when the client closed,
/// went idle, or sent more than `MAX_HEAD` bytes without finishing the head.
pub(crate) async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    idle: Duration,
) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = match timeout(idle, io.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => return Ok(None),
        };
        if n == 0 {
            return Ok(None);
        }
        // Only the new bytes (plus 3 for a terminator split across reads) need scanning.
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf[scan_from..], b"\r\n\r\n") {
            let end = scan_from + i + 4;
            let rest = buf.split_off(end);
            return Ok(Some((buf, rest)));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The request line's method and target, e.g. `("CONNECT", "login.microsoftonline.com:443")`.
pub(crate) fn request_line(head: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let first = text.lines().next()?;
    let mut parts = first.split_ascii_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    Some((method, target))
}

/// The value of header `name` (case-insensitive) in a request head.
pub(crate) fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    text.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

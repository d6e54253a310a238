//! A line-oriented dialog with a server that may be hostile: every line is bounded in length,
//! the whole dialog in bytes, and every read and write by one stage deadline. Memory never
//! exceeds one line plus one read chunk, whatever the server sends.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::failure::FailureKind;
use crate::StageError;

const CHUNK: usize = 4096;

/// Bounds for a dialog.
#[derive(Clone, Copy, Debug)]
pub struct LineLimits {
    /// Longest line accepted, in bytes (SMTP allows 512 per reply line; Microsoft's longest
    /// IMAP/POP3 lines are about 150).
    pub max_line: usize,
    /// Most bytes accepted over the whole dialog.
    pub max_total: u64,
}

pub(crate) struct LineStream<S> {
    stream: S,
    buf: Vec<u8>,
    limits: LineLimits,
    received: u64,
    deadline: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineStream<S> {
    pub(crate) fn new(stream: S, limits: LineLimits, deadline: Instant) -> Self {
        LineStream {
            stream,
            buf: Vec::with_capacity(512),
            limits,
            received: 0,
            deadline,
        }
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Reads one line, without its CRLF. Invalid UTF-8 is replaced, not rejected: a
    /// garbled reply is reported as unexpected by the caller with the text shown.
    pub(crate) async fn read_line(&mut self) -> Result<String, StageError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() >= self.limits.max_line {
                return Err(StageError::new(
                    FailureKind::ProtocolLineTooLong,
                    format!(
                        "a reply line exceeded {} bytes without ending (after {} bytes received)",
                        self.limits.max_line, self.received
                    ),
                ));
            }
            let mut chunk = [0u8; CHUNK];
            let want = CHUNK.min(self.limits.max_line - self.buf.len());
            let n =
                match tokio::time::timeout_at(self.deadline, self.stream.read(&mut chunk[..want]))
                    .await
                {
                    Err(_) => return Err(self.timeout()),
                    Ok(Err(e)) => {
                        return Err(StageError::new(
                            FailureKind::ProtocolClosed,
                            format!("reading the reply failed: {}", crate::words::io(&e)),
                        ))
                    }
                    Ok(Ok(0)) => {
                        return Err(StageError::new(
                            FailureKind::ProtocolClosed,
                            format!(
                                "the server closed the connection after {} bytes",
                                self.received
                            ),
                        ))
                    }
                    Ok(Ok(n)) => n,
                };
            self.received += n as u64;
            if self.received > self.limits.max_total {
                return Err(StageError::new(
                    FailureKind::ProtocolTooMuchData,
                    format!(
                        "the server sent more than {} bytes without finishing its reply",
                        self.limits.max_total
                    ),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A new deadline for what follows (the next stage of the same dialog).
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// Sends one command line (CRLF added).
    pub(crate) async fn send(&mut self, line: &str) -> Result<(), StageError> {
        self.send_shown(line, line).await
    }

    /// Sends a line that carries credentials: an error names it as `shown`, never the line.
    pub(crate) async fn send_shown(&mut self, line: &str, shown: &str) -> Result<(), StageError> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let write = async {
            self.stream.write_all(&bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout_at(self.deadline, write).await {
            Err(_) => Err(self.timeout()),
            Ok(Err(e)) => Err(StageError::new(
                FailureKind::ProtocolClosed,
                format!("sending '{shown}' failed: {}", crate::words::io(&e)),
            )),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Gives the stream back for a TLS upgrade. Bytes already buffered would have been sent
    /// before the handshake: a server (or a man in the middle) injecting data there is
    /// refused, as RFC 3207 requires.
    pub(crate) fn into_inner(self) -> Result<S, StageError> {
        if self.buf.is_empty() {
            Ok(self.stream)
        } else {
            Err(StageError::new(
                FailureKind::ProtocolUnexpected,
                format!(
                    "the server sent {} bytes after its STARTTLS reply, before the TLS handshake",
                    self.buf.len()
                ),
            ))
        }
    }

    fn timeout(&self) -> StageError {
        StageError::new(
            FailureKind::ProtocolTimeout,
            format!(
                "the server did not finish its reply in time ({} bytes received)",
                self.received
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    fn limits() -> LineLimits {
        LineLimits {
            max_line: 64,
            max_total: 256,
        }
    }

    #[tokio::test]
    async fn reads_crlf_lines_and_keeps_the_rest() {
        let (mut server, client) = tokio::io::duplex(1024);
        server.write_all(b"* OK ready\r\n* CAPA").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut lines = LineStream::new(client, limits(), deadline);
        assert_eq!(lines.read_line().await.unwrap(), "* OK ready");
        server.write_all(b"BILITY\n").await.unwrap();
        assert_eq!(lines.read_line().await.unwrap(), "* CAPABILITY");
        assert!(lines.into_inner().is_ok());
    }

    #[tokio::test]
    async fn endless_line_stops_at_the_bound() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        server.write_all(&[b'A'; 10_000]).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut lines = LineStream::new(client, limits(), deadline);
        let err = lines.read_line().await.unwrap_err();
        assert_eq!(err.kind, FailureKind::ProtocolLineTooLong);
        assert!(lines.received() <= 64, "read {} bytes", lines.received());
    }

    #[tokio::test]
    async fn many_short_lines_stop_at_the_total_bound() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        server.write_all(&b"* x\r\n".repeat(1000)).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut lines = LineStream::new(client, limits(), deadline);
        let err = loop {
            if let Err(e) = lines.read_line().await {
                break e;
            }
        };
        assert_eq!(err.kind, FailureKind::ProtocolTooMuchData);
    }

    #[tokio::test]
    async fn silence_times_out_at_the_deadline() {
        let (_server, client) = tokio::io::duplex(1024);
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut lines = LineStream::new(client, limits(), deadline);
        let err = lines.read_line().await.unwrap_err();
        assert_eq!(err.kind, FailureKind::ProtocolTimeout);
    }

    #[tokio::test]
    async fn data_injected_before_tls_is_refused() {
        let (mut server, client) = tokio::io::duplex(1024);
        server.write_all(b"220 go ahead\r\nEVIL").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut lines = LineStream::new(client, limits(), deadline);
        lines.read_line().await.unwrap();
        let err = lines.into_inner().err().unwrap();
        assert_eq!(err.kind, FailureKind::ProtocolUnexpected);
    }
}

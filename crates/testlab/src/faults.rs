//! Hostile server behaviours shared by every protocol: what a broken front end, a middlebox
//! or a wrong service behind the port looks like from the client's side.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

use crate::config::Fault;

/// How long `Fault::Silent` holds a connection before dropping it, so a forgotten client
/// socket does not keep a task alive for the whole life of a long demo.
const SILENT_HOLD: Duration = Duration::from_secs(600);

/// A TLS alert record, version TLS 1.0, fatal `protocol_version`: what a server (or
/// middlebox) that only speaks TLS < 1.2 answers to a modern ClientHello.
pub(crate) const LEGACY_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];

/// The protocol whose greeting a hostile fault imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Imap,
    Pop3,
    Smtp,
    Https,
}

/// `Fault::Silent`: keep the socket open, never read, never write.
pub(crate) async fn silent(tcp: TcpStream) {
    sleep(SILENT_HOLD).await;
    drop(tcp);
}

/// `Fault::TlsLegacyOnly`: read the ClientHello (so closing does not turn into a reset that
/// could hide the alert), answer with the alert, close.
pub(crate) async fn legacy_alert(mut tcp: TcpStream, idle: Duration) {
    let mut hello = [0u8; 16 * 1024];
    let _ = timeout(idle, tcp.read(&mut hello)).await;
    if timeout(idle, tcp.write_all(&LEGACY_ALERT)).await.is_err() {
        return;
    }
    let _ = tcp.shutdown().await;
    // Wait briefly for the client to hang up, for the same no-reset reason.
    let _ = timeout(Duration::from_secs(1), tcp.read(&mut hello)).await;
}

/// Plays the greeting-stage faults (`EndlessLine`, `HugeBanner`, `Garbage`). Returns true when
/// the fault took the connection over and the caller must not run the normal dialogue.
pub(crate) async fn hostile_greeting<S>(
    stream: &mut S,
    fault: &Fault,
    proto: Proto,
    idle: Duration,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match fault {
        Fault::EndlessLine => {
            endless_line(stream, idle).await;
            true
        }
        Fault::HugeBanner(bytes) => {
            huge_banner(stream, *bytes, proto, idle).await;
            true
        }
        Fault::Garbage => {
            garbage(stream, proto, idle).await;
            true
        }
        _ => false,
    }
}

/// `A` bytes without a newline until the peer closes or stops reading for `idle`.
async fn endless_line<S: AsyncWrite + Unpin>(stream: &mut S, idle: Duration) {
    let chunk = [b'A'; 4096];
    loop {
        match timeout(idle, stream.write_all(&chunk)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// Roughly `total` bytes of ~100-byte lines that look like the start of a multi-line
/// greeting, then nothing: the greeting never completes.
async fn huge_banner<S: AsyncWrite + Unpin>(
    stream: &mut S,
    total: usize,
    proto: Proto,
    idle: Duration,
) {
    let mut sent = 0usize;
    let mut n = 0u64;
    if proto == Proto::Https {
        // A status line first, so the padding reads as an endless header block.
        let prefix = b"HTTP/1.1 200 OK\r\n";
        match timeout(idle, stream.write_all(prefix)).await {
            Ok(Ok(())) => sent += prefix.len(),
            _ => return,
        }
    }
    while sent < total {
        n += 1;
        let line = banner_line(proto, n);
        match timeout(idle, stream.write_all(line.as_bytes())).await {
            Ok(Ok(())) => sent += line.len(),
            _ => return,
        }
    }
    let _ = timeout(idle, stream.flush()).await;
    // Hold the connection as a stuck server would; the client's own bound must end it.
    sleep(idle).await;
}

fn banner_line(proto: Proto, n: u64) -> String {
    let head = match proto {
        Proto::Imap => format!("* OK [LAB-PADDING {n:08}] "),
        Proto::Pop3 => format!("+OK padding {n:08} "),
        Proto::Smtp => format!("220-LAB1PR01CA0001.outlook.office365.com padding {n:08} "),
        Proto::Https => format!("X-Lab-Padding-{n:08}: "),
    };
    let pad = 98usize.saturating_sub(head.len());
    format!("{head}{}\r\n", "x".repeat(pad))
}

/// Something that is clearly not the expected protocol, then close: a different service
/// behind the port (a web server on the mail port, an SSH server on 443).
async fn garbage<S: AsyncWrite + Unpin>(stream: &mut S, proto: Proto, idle: Duration) {
    let text: &[u8] = match proto {
        Proto::Https => b"SSH-2.0-OpenSSH_9.6p1 lab\r\nProtocol mismatch.\r\n",
        _ => b"HTTP/1.1 400 Bad Request\r\n\r\n",
    };
    let _ = timeout(idle, async {
        stream.write_all(text).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

/// The delay configured by `Fault::Delay`, if any.
pub(crate) fn delay_of(f: &Fault) -> Option<Duration> {
    match f {
        Fault::Delay(d) => Some(*d),
        _ => None,
    }
}

/// The trickle interval configured by `Fault::Trickle`, if any.
pub(crate) fn trickle_of(f: &Fault) -> Option<Duration> {
    match f {
        Fault::Trickle(d) => Some(*d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_lines_are_about_100_bytes() {
        for p in [Proto::Imap, Proto::Pop3, Proto::Smtp, Proto::Https] {
            let l = banner_line(p, 7);
            assert!((95..=110).contains(&l.len()), "{p:?}: {}", l.len());
            assert!(l.ends_with("\r\n"));
        }
    }
}

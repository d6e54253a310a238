//! For the fuzz targets in `fuzz/` only (not an API): the parsers that read what a server
//! sends, driven over bytes held in memory. Each dialog reads `reply` as the server's whole
//! side and discards what the client writes; a failure comes back as its kind and detail.
//! The HTTP exchanges (`http.rs`, hyper) read their response the same way.

use std::time::Duration;

use tokio::time::Instant;

use crate::catalog::HttpExpect;
use crate::http::{self, HttpGet, HttpPost};
use crate::lines::{LineLimits, LineStream};
use crate::oauth::token::{parse_answer, NoToken};
use crate::oauth::xoauth2;
use crate::report::ProtocolInfo;
use crate::{mail, FailureKind, Secret, StageError};

/// A failure as a dialog reports it.
pub type Failure = (FailureKind, String);

type Memory<'a> = tokio::io::Join<&'a [u8], tokio::io::Sink>;

fn lines(reply: &[u8], limits: LineLimits) -> LineStream<Memory<'_>> {
    // Bytes in memory never keep a read waiting: the deadline is never reached.
    let deadline = Instant::now() + Duration::from_secs(3600);
    LineStream::new(tokio::io::join(reply, tokio::io::sink()), limits, deadline)
}

fn failure(e: StageError) -> Failure {
    (e.kind, e.detail)
}

/// Every line `reply` yields under `limits`, then the error that ended the reading, and the
/// bytes the reader took in.
pub async fn read_lines(reply: &[u8], limits: LineLimits) -> (Vec<String>, Failure, u64) {
    let mut stream = lines(reply, limits);
    let mut out = Vec::new();
    loop {
        match stream.read_line().await {
            Ok(line) => out.push(line),
            Err(e) => return (out, failure(e), stream.received()),
        }
    }
}

/// Which dialog reads the reply.
#[derive(Clone, Copy, Debug)]
pub enum Dialog {
    Imap,
    Pop3,
    SmtpPlain,
    SmtpSecure,
    Xoauth2Imap { sasl_ir: bool },
    Xoauth2Pop3,
    Xoauth2Smtp,
}

/// Runs one dialog over `reply`: what it recorded of the server, and its verdict.
pub async fn dialog(
    which: Dialog,
    reply: &[u8],
    limits: LineLimits,
) -> (ProtocolInfo, Result<(), Failure>) {
    let mut stream = lines(reply, limits);
    let mut info = ProtocolInfo::default();
    let token = Secret::new("eyJ0eXAiOiJKV1QifQ.e30.c2ln".to_string());
    let user = "probe@example.com";
    let verdict = match which {
        Dialog::Imap => mail::imap(&mut stream, &mut info).await,
        Dialog::Pop3 => mail::pop3(&mut stream, &mut info).await,
        Dialog::SmtpPlain => mail::smtp_plain(&mut stream, &mut info, "[192.0.2.1]").await,
        Dialog::SmtpSecure => mail::smtp_secure(&mut stream, &mut info, "[192.0.2.1]").await,
        Dialog::Xoauth2Imap { sasl_ir } => xoauth2::imap(&mut stream, user, &token, sasl_ir).await,
        Dialog::Xoauth2Pop3 => xoauth2::pop3(&mut stream, user, &token).await,
        Dialog::Xoauth2Smtp => xoauth2::smtp(&mut stream, user, &token).await,
    };
    info.bytes_received = stream.received();
    (info, verdict.map_err(failure))
}

/// The front-end server an IMAP/POP3 greeting names.
pub fn front_end_from_greeting(greeting: &str) -> Option<String> {
    mail::front_end_from_greeting(greeting)
}

/// What the token endpoint's answer is read as.
#[derive(Debug)]
pub enum TokenAnswer {
    Granted(crate::oauth::TokenGrant),
    /// A refusal, and the failure it is reported as (kind from its AADSTS number).
    Refused(crate::oauth::TokenRefusal, Failure),
    Invalid(Failure),
}

/// Reads a token endpoint's answer (HTTP status and body).
pub fn token_answer(status: u16, body: &[u8]) -> TokenAnswer {
    match parse_answer(status, body) {
        Ok(grant) => TokenAnswer::Granted(grant),
        Err(NoToken::Refused(r)) => {
            let f = failure(r.to_stage_error());
            TokenAnswer::Refused(r, f)
        }
        Err(NoToken::Invalid(e)) => TokenAnswer::Invalid(failure(e)),
    }
}

/// A connection whose server answers `reply` once the client has written (its request), and
/// then closes; what the client writes is discarded. Before that a read waits, as over a
/// network: hyper refuses bytes that come before its request ("unexpected message").
struct Replay {
    reply: std::io::Cursor<Vec<u8>>,
    asked: bool,
    waiting: Option<std::task::Waker>,
}

impl tokio::io::AsyncRead for Replay {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.asked {
            self.waiting = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.reply).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Replay {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.asked = true;
        if let Some(w) = self.waiting.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn http_stream(reply: Vec<u8>) -> Replay {
    Replay {
        reply: std::io::Cursor::new(reply),
        asked: false,
        waiting: None,
    }
}

fn http_deadline() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// The network checks' GET (`/` of a Microsoft host; with `openid`, the OpenID
/// configuration) answered by `reply`, its body bounded by `max_bytes`: what it recorded,
/// and its verdict.
pub async fn http_get(
    reply: Vec<u8>,
    max_bytes: usize,
    openid: bool,
) -> (ProtocolInfo, Result<(), Failure>) {
    let expect = if openid {
        HttpExpect::OpenidConfiguration
    } else {
        HttpExpect::AnyResponse
    };
    let req = HttpGet {
        host: "login.microsoftonline.com",
        port: 443,
        path: "/organizations/v2.0/.well-known/openid-configuration",
        expect: &expect,
        max_bytes,
    };
    let mut info = ProtocolInfo::default();
    let verdict = http::get(http_stream(reply), req, http_deadline(), &mut info).await;
    (info, verdict.map_err(failure))
}

/// The token endpoint's form POST of `form` answered by `reply`, its body bounded by
/// `max_bytes`: the status and body, or the failure.
pub async fn http_post(
    reply: Vec<u8>,
    max_bytes: usize,
    form: &str,
) -> Result<(u16, Vec<u8>), Failure> {
    let req = HttpPost {
        host: "login.microsoftonline.com",
        port: 443,
        path: "/organizations/oauth2/v2.0/token",
        form,
        max_bytes,
    };
    http::post_form(http_stream(reply), req, http_deadline())
        .await
        .map(|(status, body)| (status, body.to_vec()))
        .map_err(failure)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn http_exchanges_read_a_reply_held_in_memory() {
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 45\r\n\r\n{\"token_endpoint\":\"https://x.example/token\"}\n";
        let (info, verdict) = http_get(reply.to_vec(), 1024, true).await;
        assert_eq!(verdict, Ok(()));
        assert_eq!(info.http_status, Some(200));
        assert_eq!(
            info.token_endpoint.as_deref(),
            Some("https://x.example/token")
        );
        let (status, body) = http_post(reply.to_vec(), 1024, "a=b").await.unwrap();
        assert_eq!((status, body.len()), (200, 45));
    }
}

//! For the fuzz targets in `fuzz/` only (not an API): the parsers that read what a server
//! sends, driven over bytes held in memory. Each dialog reads `reply` as the server's whole
//! side and discards what the client writes; a failure comes back as its kind and detail.

use std::time::Duration;

use tokio::time::Instant;

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

//! SMTP submission on port 587 as Exchange Online answers: plain greeting and EHLO, STARTTLS,
//! then EHLO again advertising AUTH; XOAUTH2 checked against the lab's tokens (AUTH LOGIN is
//! refused: basic authentication is off). No message is ever accepted for delivery.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::debug;

use crate::clock;
use crate::config::Fault;
use crate::faults::{delay_of, hostile_greeting, trickle_of, Proto};
use crate::lineio::{End, Session};
use crate::listener::ConnCtx;
use crate::oauth::xoauth2;
use crate::tls;

/// What the server does after a reply.
#[derive(Debug, PartialEq, Eq)]
enum Then {
    /// Read the next command.
    Continue,
    /// Close the connection cleanly (QUIT, timeout, overlong line).
    Close,
    /// Upgrade to TLS.
    StartTls,
    /// The client is gone; just drop the connection.
    Lost,
}

pub(crate) async fn serve(mut tcp: TcpStream, peer: IpAddr, ctx: Arc<ConnCtx>) {
    // The greeting-stage faults act on the plain-text banner; certificate and TLS-version
    // faults wait for STARTTLS (inside `tls::accept`).
    if hostile_greeting(&mut tcp, &ctx.fault, Proto::Smtp, ctx.idle).await {
        return;
    }
    let mut s = Session::new(tcp, delay_of(&ctx.fault), ctx.idle);
    let greeting = format!(
        "220 {} Microsoft ESMTP MAIL Service ready at {}\r\n",
        ctx.frontend,
        clock::rfc2822_now()
    );
    if s.greet(&greeting, trickle_of(&ctx.fault)).await.is_err() {
        return;
    }
    match dialogue(&mut s, &ctx, peer, false).await {
        Then::StartTls => {}
        Then::Close => return s.close().await,
        Then::Continue | Then::Lost => return,
    }
    let (tcp, leftover) = s.into_inner();
    if leftover > 0 {
        debug!(
            bytes = leftover,
            "discarding plaintext pipelined after STARTTLS"
        );
    }
    let Some(stream) = tls::accept(tcp, &ctx).await else {
        return;
    };
    let mut s = Session::new(stream, delay_of(&ctx.fault), ctx.idle);
    if dialogue(&mut s, &ctx, peer, true).await == Then::Close {
        s.close().await;
    }
}

/// Runs commands until the session ends or the client asks for STARTTLS (never `Continue`).
async fn dialogue<S>(s: &mut Session<S>, ctx: &ConnCtx, peer: IpAddr, tls: bool) -> Then
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut authed = false;
    loop {
        let line = match next_line(s).await {
            Ok(line) => line,
            Err(then) => return then,
        };
        let (reply, then) = match sasl(&line, &ctx.fault, tls && !authed) {
            Some((mech, initial)) => match authenticate(s, ctx, mech, initial).await {
                Ok((reply, ok)) => {
                    authed = ok;
                    (reply, Then::Continue)
                }
                Err(then) => return then,
            },
            None => respond(&line, &ctx.fault, &ctx.frontend, peer, tls, authed),
        };
        if s.send(&reply).await.is_err() {
            return Then::Lost;
        }
        if then != Then::Continue {
            return then;
        }
    }
}

async fn next_line<S: AsyncRead + AsyncWrite + Unpin>(s: &mut Session<S>) -> Result<String, Then> {
    match s.read_line().await {
        Ok(line) => Ok(line),
        Err(End::Idle) => {
            let _ = s
                .send("451 4.7.0 Timeout waiting for client input\r\n")
                .await;
            Err(Then::Close)
        }
        Err(End::TooLong) => {
            let _ = s.send("500 5.5.6 Line too long\r\n").await;
            Err(Then::Close)
        }
        Err(End::Closed) => Err(Then::Lost),
        Err(End::Io(e)) => {
            debug!(endpoint = "smtp", error = %e, "read failed");
            Err(Then::Lost)
        }
    }
}

/// An offered SASL mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mech {
    XOauth2,
    Login,
}

/// `AUTH XOAUTH2|LOGIN [initial response]` when authentication is possible and the
/// mechanism is offered: the mechanism and the initial response, if any.
fn sasl(line: &str, fault: &Fault, possible: bool) -> Option<(Mech, Option<String>)> {
    let mut words = line.split_ascii_whitespace();
    if !possible || !words.next()?.eq_ignore_ascii_case("AUTH") {
        return None;
    }
    let mech = match words.next()?.to_ascii_uppercase().as_str() {
        "XOAUTH2" if *fault != Fault::NoXoauth2 => Mech::XOauth2,
        "LOGIN" => Mech::Login,
        _ => return None,
    };
    Some((mech, words.next().map(str::to_string)))
}

/// Runs one SASL exchange: the final reply and whether the client is now authenticated.
async fn authenticate<S>(
    s: &mut Session<S>,
    ctx: &ConnCtx,
    mech: Mech,
    initial: Option<String>,
) -> Result<(String, bool), Then>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let cancelled = "501 5.7.0 Authentication cancelled\r\n".to_string();
    match mech {
        Mech::XOauth2 => {
            let blob = match initial {
                Some(b) => b,
                None => challenge(s, "334 \r\n").await?,
            };
            if blob.trim() == "*" {
                return Ok((cancelled, false));
            }
            let verdict = xoauth2::smtp(&ctx.oauth, &blob, &ctx.frontend);
            debug!(endpoint = "smtp", ok = verdict.is_ok(), "XOAUTH2");
            Ok(match verdict {
                Ok(()) => ("235 2.7.0 Authentication successful\r\n".into(), true),
                Err(reply) => (format!("{reply}\r\n"), false),
            })
        }
        Mech::Login => {
            // Basic authentication is off in Exchange Online: ask for both, refuse.
            for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"]
                .into_iter()
                .skip(usize::from(initial.is_some()))
            {
                if challenge(s, prompt).await?.trim() == "*" {
                    return Ok((cancelled, false));
                }
            }
            let reply = format!(
                "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [{}]\r\n",
                ctx.frontend
            );
            Ok((reply, false))
        }
    }
}

/// Sends a SASL challenge and reads the client's response line.
async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut Session<S>,
    prompt: &str,
) -> Result<String, Then> {
    if s.send(prompt).await.is_err() {
        return Err(Then::Lost);
    }
    next_line(s).await
}

fn respond(
    line: &str,
    fault: &Fault,
    frontend: &str,
    peer: IpAddr,
    tls: bool,
    authed: bool,
) -> (String, Then) {
    let mut words = line.split_ascii_whitespace();
    let verb = words.next().unwrap_or_default().to_ascii_uppercase();
    let arg = words.next();
    let reply = |text: &str| (format!("{text}\r\n"), Then::Continue);
    match verb.as_str() {
        "EHLO" if arg.is_none() => reply("501 5.5.4 Invalid domain name"),
        "EHLO" => (ehlo(fault, frontend, peer, tls), Then::Continue),
        "HELO" => reply(&format!("250 {frontend} Hello [{peer}]")),
        "STARTTLS" if tls => reply("503 5.5.1 Bad sequence of commands"),
        "STARTTLS" if *fault == Fault::NoStarttls => reply("502 5.3.3 Command not implemented"),
        "STARTTLS" => ("220 2.0.0 SMTP server ready\r\n".into(), Then::StartTls),
        "AUTH" if authed => reply("503 5.5.1 Bad sequence of commands"),
        // Offered mechanisms after STARTTLS are handled by `authenticate`.
        "AUTH" => reply("504 5.7.4 Unrecognized authentication type"),
        "MAIL" if authed => reply("250 2.1.0 Sender OK"),
        "MAIL" => reply("530 5.7.57 Client not authenticated to send mail"),
        "RCPT" if authed => reply("250 2.1.5 Recipient OK"),
        "RCPT" | "DATA" | "BDAT" => reply("503 5.5.1 Bad sequence of commands"),
        "NOOP" => reply("250 2.0.0 OK"),
        "RSET" => reply("250 2.0.0 Resetting"),
        "QUIT" => (
            "221 2.0.0 Service closing transmission channel\r\n".into(),
            Then::Close,
        ),
        _ => reply("500 5.3.3 Unrecognized command"),
    }
}

fn ehlo(fault: &Fault, frontend: &str, peer: IpAddr, tls: bool) -> String {
    let mut lines = vec![
        format!("{frontend} Hello [{peer}]"),
        "SIZE 157286400".into(),
        "PIPELINING".into(),
        "DSN".into(),
        "ENHANCEDSTATUSCODES".into(),
    ];
    if tls {
        let auth = if *fault == Fault::NoXoauth2 {
            "AUTH LOGIN"
        } else {
            "AUTH LOGIN XOAUTH2"
        };
        lines.push(auth.into());
    } else if *fault != Fault::NoStarttls {
        lines.push("STARTTLS".into());
    }
    for ext in ["8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"] {
        lines.push(ext.into());
    }
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const FE: &str = "LAB1PR01CA0001.outlook.office365.com";
    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn ehlo_before_and_after_tls() {
        let plain = ehlo(&Fault::None, FE, IP, false);
        assert!(plain.starts_with(&format!("250-{FE} Hello [127.0.0.1]\r\n")));
        assert!(plain.contains("250-STARTTLS\r\n") && !plain.contains("AUTH"));
        assert!(plain.ends_with("250 SMTPUTF8\r\n"));
        let secure = ehlo(&Fault::None, FE, IP, true);
        assert!(secure.contains("250-AUTH LOGIN XOAUTH2\r\n") && !secure.contains("STARTTLS"));
        assert!(!ehlo(&Fault::NoStarttls, FE, IP, false).contains("STARTTLS"));
        assert!(ehlo(&Fault::NoXoauth2, FE, IP, true).contains("250-AUTH LOGIN\r\n"));
    }

    #[test]
    fn commands() {
        let r = |l: &str, f: &Fault, tls: bool| respond(l, f, FE, IP, tls, false);
        assert_eq!(r("STARTTLS", &Fault::None, false).1, Then::StartTls);
        assert!(r("STARTTLS", &Fault::NoStarttls, false)
            .0
            .starts_with("502"));
        assert!(r("AUTH XOAUTH2", &Fault::None, false)
            .0
            .starts_with("504 5.7.4"));
        assert_eq!(
            sasl("auth xoauth2 eA==", &Fault::None, true),
            Some((Mech::XOauth2, Some("eA==".into())))
        );
        assert_eq!(
            sasl("AUTH LOGIN", &Fault::None, true),
            Some((Mech::Login, None))
        );
        assert_eq!(sasl("AUTH XOAUTH2", &Fault::NoXoauth2, true), None);
        assert_eq!(sasl("AUTH XOAUTH2", &Fault::None, false), None);
        assert!(r("AUTH XOAUTH2", &Fault::NoXoauth2, true)
            .0
            .starts_with("504"));
        assert!(respond("AUTH XOAUTH2", &Fault::None, FE, IP, true, true)
            .0
            .starts_with("503"));
        assert!(respond("MAIL FROM:<a@b>", &Fault::None, FE, IP, true, true)
            .0
            .starts_with("250 2.1.0"));
        assert_eq!(r("QUIT", &Fault::None, false).1, Then::Close);
        assert_eq!(
            r("WHAT", &Fault::None, false).0,
            "500 5.3.3 Unrecognized command\r\n"
        );
    }
}

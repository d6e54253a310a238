//! SMTP submission on port 587 as Exchange Online answers: plain greeting and EHLO, STARTTLS,
//! then EHLO again advertising AUTH. Authentication itself is a stub that always refuses.

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
    loop {
        let line = match s.read_line().await {
            Ok(line) => line,
            Err(End::Idle) => {
                let _ = s
                    .send("451 4.7.0 Timeout waiting for client input\r\n")
                    .await;
                return Then::Close;
            }
            Err(End::TooLong) => {
                let _ = s.send("500 5.5.6 Line too long\r\n").await;
                return Then::Close;
            }
            Err(End::Closed) => return Then::Lost,
            Err(End::Io(e)) => {
                debug!(endpoint = "smtp", error = %e, "read failed");
                return Then::Lost;
            }
        };
        let (reply, then) = respond(&line, &ctx.fault, &ctx.frontend, peer, tls);
        if s.send(&reply).await.is_err() {
            return Then::Lost;
        }
        if then != Then::Continue {
            return then;
        }
    }
}

fn respond(line: &str, fault: &Fault, frontend: &str, peer: IpAddr, tls: bool) -> (String, Then) {
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
        "AUTH" if !tls => reply("504 5.7.4 Unrecognized authentication type"),
        "AUTH" => {
            let mech = arg.unwrap_or_default().to_ascii_uppercase();
            let offered = mech == "LOGIN" || (mech == "XOAUTH2" && *fault != Fault::NoXoauth2);
            if offered {
                // Stub: no credential is ever accepted yet.
                reply("535 5.7.3 Authentication unsuccessful")
            } else {
                reply("504 5.7.4 Unrecognized authentication type")
            }
        }
        "MAIL" => reply("530 5.7.57 Client not authenticated to send mail"),
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
        let r = |l: &str, f: &Fault, tls: bool| respond(l, f, FE, IP, tls);
        assert_eq!(r("STARTTLS", &Fault::None, false).1, Then::StartTls);
        assert!(r("STARTTLS", &Fault::NoStarttls, false)
            .0
            .starts_with("502"));
        assert!(r("AUTH XOAUTH2", &Fault::None, false)
            .0
            .starts_with("504 5.7.4"));
        assert!(r("AUTH XOAUTH2", &Fault::None, true)
            .0
            .starts_with("535 5.7.3"));
        assert!(r("AUTH XOAUTH2", &Fault::NoXoauth2, true)
            .0
            .starts_with("504"));
        assert_eq!(r("QUIT", &Fault::None, false).1, Then::Close);
        assert_eq!(
            r("WHAT", &Fault::None, false).0,
            "500 5.3.3 Unrecognized command\r\n"
        );
    }
}

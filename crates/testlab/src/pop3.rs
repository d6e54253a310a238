//! POP3 on port 995 as Exchange Online answers: greeting naming the front end, CAPA, QUIT,
//! `AUTH XOAUTH2` (continuation or initial response) checked against the lab's tokens, and an
//! empty maildrop once logged in. Everything else is Exchange's generic protocol error.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::Fault;
use crate::faults::{delay_of, hostile_greeting, trickle_of, Proto};
use crate::lineio::{End, Session};
use crate::listener::ConnCtx;
use crate::oauth::xoauth2;
use crate::tls;
use tracing::debug;

const AUTH_FAILED: &str = "-ERR Authentication failure: unknown user name or bad password.\r\n";
const PROTOCOL_ERROR: &str = "-ERR Protocol error. 14\r\n";

pub(crate) async fn serve(tcp: TcpStream, ctx: Arc<ConnCtx>) {
    let Some(mut stream) = tls::accept(tcp, &ctx).await else {
        return;
    };
    if hostile_greeting(&mut stream, &ctx.fault, Proto::Pop3, ctx.idle).await {
        return;
    }
    let mut s = Session::new(stream, delay_of(&ctx.fault), ctx.idle);
    let greeting = format!(
        "+OK The Microsoft Exchange POP3 service is ready. [{}]\r\n",
        ctx.frontend_blob()
    );
    if s.greet(&greeting, trickle_of(&ctx.fault)).await.is_err() {
        return;
    }
    let mut logged_in = false;
    loop {
        let Some(line) = next_line(&mut s).await else {
            return;
        };
        let (reply, last) = match auth_xoauth2(&line, &ctx.fault, logged_in) {
            Some(initial) => {
                let blob = match initial {
                    Some(blob) => blob,
                    None => {
                        if s.send("+ \r\n").await.is_err() {
                            return;
                        }
                        let Some(l) = next_line(&mut s).await else {
                            return;
                        };
                        l
                    }
                };
                (login(&ctx, &blob, &mut logged_in), false)
            }
            None => respond(&line, &ctx.fault, logged_in),
        };
        if s.send(reply).await.is_err() {
            return;
        }
        if last {
            break;
        }
    }
    s.close().await;
}

/// The next line; None when the session is over (the goodbye, if any, already sent).
async fn next_line<S: AsyncRead + AsyncWrite + Unpin>(s: &mut Session<S>) -> Option<String> {
    match s.read_line().await {
        Ok(line) => Some(line),
        Err(End::Idle) => {
            let _ = s.send("-ERR Connection is closed. 13\r\n").await;
            None
        }
        Err(End::TooLong) => {
            let _ = s.send(PROTOCOL_ERROR).await;
            None
        }
        Err(End::Closed) => None,
        Err(End::Io(e)) => {
            debug!(endpoint = "pop3", error = %e, "read failed");
            None
        }
    }
}

/// `AUTH XOAUTH2 [initial response]` before login, when XOAUTH2 is offered.
fn auth_xoauth2(line: &str, fault: &Fault, logged_in: bool) -> Option<Option<String>> {
    let mut words = line.split_ascii_whitespace();
    let is_auth = words.next()?.eq_ignore_ascii_case("AUTH")
        && words.next()?.eq_ignore_ascii_case("XOAUTH2")
        && *fault != Fault::NoXoauth2
        && !logged_in;
    is_auth.then(|| words.next().map(str::to_string))
}

fn login(ctx: &ConnCtx, blob: &str, logged_in: &mut bool) -> &'static str {
    if blob.trim() == "*" {
        return PROTOCOL_ERROR;
    }
    *logged_in = xoauth2::pop3(&ctx.oauth, blob);
    debug!(endpoint = "pop3", logged_in = *logged_in, "XOAUTH2");
    if *logged_in {
        "+OK User successfully authenticated.\r\n"
    } else {
        AUTH_FAILED
    }
}

/// The reply to one command line, and whether the server hangs up after it.
fn respond(line: &str, fault: &Fault, logged_in: bool) -> (&'static str, bool) {
    let mut words = line.split_ascii_whitespace();
    let command = words.next().unwrap_or_default().to_ascii_uppercase();
    match command.as_str() {
        "CAPA" if *fault == Fault::NoXoauth2 => {
            ("+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN\r\nUSER\r\n.\r\n", false)
        }
        "CAPA" => (
            "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n",
            false,
        ),
        "QUIT" => (
            "+OK Microsoft Exchange Server POP3 server signing off.\r\n",
            true,
        ),
        "AUTH" | "USER" | "PASS" if logged_in => {
            ("-ERR Command is not valid in this state.\r\n", false)
        }
        // Basic authentication is off in Exchange Online.
        "AUTH"
            if words
                .next()
                .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) =>
        {
            (AUTH_FAILED, false)
        }
        "STAT" if logged_in => ("+OK 0 0\r\n", false),
        "LIST" | "UIDL" if logged_in => ("+OK\r\n.\r\n", false),
        "NOOP" if logged_in => ("+OK\r\n", false),
        _ => (PROTOCOL_ERROR, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let (r, _) = respond("capa", &Fault::None, false);
        assert_eq!(
            r,
            "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n"
        );
        assert!(!respond("CAPA", &Fault::NoXoauth2, false)
            .0
            .contains("XOAUTH2"));
        assert!(respond("QUIT", &Fault::None, false).1);
        assert_eq!(respond("", &Fault::None, false).0, PROTOCOL_ERROR);
        assert_eq!(respond("STAT", &Fault::None, false).0, PROTOCOL_ERROR);
        assert_eq!(respond("STAT", &Fault::None, true).0, "+OK 0 0\r\n");
        assert_eq!(
            auth_xoauth2("auth xoauth2", &Fault::None, false),
            Some(None)
        );
        assert_eq!(
            auth_xoauth2("AUTH XOAUTH2 eA==", &Fault::None, false),
            Some(Some("eA==".into()))
        );
        assert_eq!(auth_xoauth2("AUTH XOAUTH2", &Fault::NoXoauth2, false), None);
        assert_eq!(auth_xoauth2("AUTH XOAUTH2", &Fault::None, true), None);
    }
}

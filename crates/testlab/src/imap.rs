//! IMAP4 on port 993 as Exchange Online answers: greeting naming the front end, CAPABILITY,
//! NOOP, LOGOUT, XOAUTH2 (SASL-IR or continuation) checked against the lab's tokens, and an
//! empty INBOX once connected. Unknown commands are a BAD, as Exchange says to them.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::Fault;
use crate::faults::{delay_of, hostile_greeting, trickle_of, Proto};
use crate::lineio::{End, Session};
use crate::listener::ConnCtx;
use crate::oauth::xoauth2::{self, ImapLogin};
use crate::tls;
use tracing::debug;

const CAPABILITY: &str =
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
const CAPABILITY_NO_XOAUTH2: &str =
    "IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
const FLAGS: &str = "(\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)";

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotAuthenticated,
    /// Authenticated, but the mailbox cannot be opened: every command is refused.
    NotConnected,
    Connected,
}

/// How the session ends when a read fails.
enum Stop {
    /// Say goodbye (already sent) and close cleanly.
    Close,
    /// The client is gone.
    Drop,
}

pub(crate) async fn serve(tcp: TcpStream, ctx: Arc<ConnCtx>) {
    let Some(mut stream) = tls::accept(tcp, &ctx).await else {
        return;
    };
    if hostile_greeting(&mut stream, &ctx.fault, Proto::Imap, ctx.idle).await {
        return;
    }
    let mut s = Session::new(stream, delay_of(&ctx.fault), ctx.idle);
    let greeting = format!(
        "* OK The Microsoft Exchange IMAP4 service is ready. [{}]\r\n",
        ctx.frontend_blob()
    );
    if s.greet(&greeting, trickle_of(&ctx.fault)).await.is_err() {
        return;
    }
    let mut state = State::NotAuthenticated;
    loop {
        let line = match next_line(&mut s).await {
            Ok(line) => line,
            Err(Stop::Close) => break,
            Err(Stop::Drop) => return,
        };
        let (reply, last) = match authenticate_xoauth2(&line, &ctx.fault, state) {
            Some((tag, initial)) => {
                let blob = match initial {
                    Some(blob) => blob,
                    None => {
                        if s.send("+ \r\n").await.is_err() {
                            return;
                        }
                        match next_line(&mut s).await {
                            Ok(l) => l,
                            Err(Stop::Close) => break,
                            Err(Stop::Drop) => return,
                        }
                    }
                };
                (login(&ctx, &tag, &blob, &mut state), false)
            }
            None => respond(&line, &ctx.fault, &mut state),
        };
        if s.send(&reply).await.is_err() {
            return;
        }
        if last {
            break;
        }
    }
    s.close().await;
}

async fn next_line<S: AsyncRead + AsyncWrite + Unpin>(s: &mut Session<S>) -> Result<String, Stop> {
    match s.read_line().await {
        Ok(line) => Ok(line),
        Err(End::Idle) => {
            let _ = s.send("* BYE Connection is closed. 13\r\n").await;
            Err(Stop::Close)
        }
        Err(End::TooLong) => {
            let _ = s
                .send("* BAD Command Error. 12\r\n* BYE Connection is closed. 13\r\n")
                .await;
            Err(Stop::Close)
        }
        Err(End::Closed) => Err(Stop::Drop),
        Err(End::Io(e)) => {
            debug!(endpoint = "imap", error = %e, "read failed");
            Err(Stop::Drop)
        }
    }
}

/// `<tag> AUTHENTICATE XOAUTH2 [initial response]` before login, when XOAUTH2 is offered:
/// the tag and the initial response, if any.
fn authenticate_xoauth2(
    line: &str,
    fault: &Fault,
    state: State,
) -> Option<(String, Option<String>)> {
    let mut words = line.split_ascii_whitespace();
    let tag = words.next()?;
    let is_auth = words.next()?.eq_ignore_ascii_case("AUTHENTICATE")
        && words.next()?.eq_ignore_ascii_case("XOAUTH2")
        && *fault != Fault::NoXoauth2
        && state == State::NotAuthenticated;
    is_auth.then(|| (tag.to_string(), words.next().map(str::to_string)))
}

/// The tagged answer to an XOAUTH2 response; moves the session on.
fn login(ctx: &ConnCtx, tag: &str, blob: &str, state: &mut State) -> String {
    if blob.trim() == "*" {
        return format!("{tag} BAD AUTHENTICATE aborted.\r\n");
    }
    let outcome = xoauth2::imap(&ctx.oauth, blob);
    debug!(endpoint = "imap", ?outcome, "XOAUTH2");
    match outcome {
        ImapLogin::Failed => format!("{tag} NO AUTHENTICATE failed.\r\n"),
        ImapLogin::NotConnected => {
            *state = State::NotConnected;
            format!("{tag} OK AUTHENTICATE completed.\r\n")
        }
        ImapLogin::Connected => {
            *state = State::Connected;
            format!("{tag} OK AUTHENTICATE completed.\r\n")
        }
    }
}

/// The reply to one command line (other than an XOAUTH2 login), and whether the server
/// hangs up after it.
fn respond(line: &str, fault: &Fault, state: &mut State) -> (String, bool) {
    let mut words = line.split_ascii_whitespace();
    let (Some(tag), Some(command)) = (words.next(), words.next()) else {
        return ("* BAD Command Error. 12\r\n".into(), false);
    };
    let command = command.to_ascii_uppercase();
    let reply = |text: &str| (format!("{tag} {text}\r\n"), false);
    if command == "LOGOUT" {
        return (
            format!(
                "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n{tag} OK LOGOUT completed.\r\n"
            ),
            true,
        );
    }
    if *state == State::NotConnected {
        return reply("BAD User is authenticated but not connected.");
    }
    let authenticated = *state == State::Connected;
    match command.as_str() {
        "CAPABILITY" => {
            let caps = if *fault == Fault::NoXoauth2 {
                CAPABILITY_NO_XOAUTH2
            } else {
                CAPABILITY
            };
            (
                format!("* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed.\r\n"),
                false,
            )
        }
        "NOOP" => reply("OK NOOP completed."),
        "AUTHENTICATE" | "LOGIN" if authenticated => {
            reply("BAD Command received in Invalid state.")
        }
        // Basic authentication is off in Exchange Online: PLAIN and LOGIN always fail.
        "AUTHENTICATE"
            if words
                .next()
                .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) =>
        {
            reply("NO AUTHENTICATE failed.")
        }
        "LOGIN" => reply("NO LOGIN failed."),
        "EXAMINE" | "SELECT" if !authenticated => reply("BAD Command received in Invalid state."),
        "EXAMINE" | "SELECT" => {
            let examine = command == "EXAMINE";
            let folder = words.next().unwrap_or_default().trim_matches('"');
            if !folder.eq_ignore_ascii_case("INBOX") {
                return reply(&format!("NO {command} failed."));
            }
            let (permanent, mode) = if examine {
                ("()", "READ-ONLY")
            } else {
                (FLAGS, "READ-WRITE")
            };
            (
                format!(
                    "* 0 EXISTS\r\n* 0 RECENT\r\n* FLAGS {FLAGS}\r\n* OK [PERMANENTFLAGS {permanent}] Permanent flags\r\n* OK [UIDVALIDITY 14] UIDVALIDITY value\r\n* OK [UIDNEXT 1] The next unique identifier value\r\n{tag} OK [{mode}] {command} completed.\r\n"
                ),
                false,
            )
        }
        _ => reply("BAD Command Error. 12"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(line: &str, fault: &Fault) -> (String, bool) {
        respond(line, fault, &mut State::NotAuthenticated)
    }

    #[test]
    fn replies() {
        let (reply, last) = r("a1 capability", &Fault::None);
        assert!(
            reply.contains("AUTH=XOAUTH2") && reply.ends_with("a1 OK CAPABILITY completed.\r\n")
        );
        assert!(!last);
        let (reply, _) = r("a1 CAPABILITY", &Fault::NoXoauth2);
        assert!(!reply.contains("XOAUTH2"));
        assert_eq!(r("x", &Fault::None).0, "* BAD Command Error. 12\r\n");
        assert_eq!(r("a2 FOO", &Fault::None).0, "a2 BAD Command Error. 12\r\n");
        assert!(r("a3 LOGOUT", &Fault::None).1);
        assert_eq!(r("a4 LOGIN u p", &Fault::None).0, "a4 NO LOGIN failed.\r\n");
        let mut nc = State::NotConnected;
        assert_eq!(
            respond("a5 NOOP", &Fault::None, &mut nc).0,
            "a5 BAD User is authenticated but not connected.\r\n"
        );
        let mut c = State::Connected;
        let (ex, _) = respond("a6 EXAMINE INBOX", &Fault::None, &mut c);
        assert!(
            ex.starts_with("* 0 EXISTS\r\n")
                && ex.ends_with("a6 OK [READ-ONLY] EXAMINE completed.\r\n")
        );
    }

    #[test]
    fn xoauth2_is_recognised() {
        let st = State::NotAuthenticated;
        assert_eq!(
            authenticate_xoauth2("a1 authenticate xoauth2 Zm9v", &Fault::None, st),
            Some(("a1".into(), Some("Zm9v".into())))
        );
        assert_eq!(
            authenticate_xoauth2("a1 AUTHENTICATE XOAUTH2", &Fault::None, st),
            Some(("a1".into(), None))
        );
        assert_eq!(
            authenticate_xoauth2("a1 AUTHENTICATE XOAUTH2", &Fault::NoXoauth2, st),
            None
        );
        assert_eq!(
            authenticate_xoauth2("a1 AUTHENTICATE XOAUTH2 x", &Fault::None, State::Connected),
            None
        );
    }
}

//! IMAP4 on port 993 as Exchange Online answers before login: greeting naming the front end,
//! CAPABILITY, NOOP, LOGOUT; everything else is a BAD, as Exchange says to unknown commands.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::config::Fault;
use crate::faults::{delay_of, hostile_greeting, trickle_of, Proto};
use crate::lineio::{End, Session};
use crate::listener::ConnCtx;
use crate::tls;
use tracing::debug;

const CAPABILITY: &str =
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
const CAPABILITY_NO_XOAUTH2: &str =
    "IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";

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
    loop {
        let line = match s.read_line().await {
            Ok(line) => line,
            Err(End::Idle) => {
                let _ = s.send("* BYE Connection is closed. 13\r\n").await;
                break;
            }
            Err(End::TooLong) => {
                let _ = s
                    .send("* BAD Command Error. 12\r\n* BYE Connection is closed. 13\r\n")
                    .await;
                break;
            }
            Err(End::Closed) => return,
            Err(End::Io(e)) => return debug!(endpoint = "imap", error = %e, "read failed"),
        };
        let (reply, last) = respond(&line, &ctx.fault);
        if s.send(&reply).await.is_err() {
            return;
        }
        if last {
            break;
        }
    }
    s.close().await;
}

/// The reply to one command line, and whether the server hangs up after it.
fn respond(line: &str, fault: &Fault) -> (String, bool) {
    let mut words = line.split_ascii_whitespace();
    let (Some(tag), Some(command)) = (words.next(), words.next()) else {
        return ("* BAD Command Error. 12\r\n".into(), false);
    };
    match command.to_ascii_uppercase().as_str() {
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
        "NOOP" => (format!("{tag} OK NOOP completed.\r\n"), false),
        "LOGOUT" => (
            format!(
                "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n{tag} OK LOGOUT completed.\r\n"
            ),
            true,
        ),
        _ => (format!("{tag} BAD Command Error. 12\r\n"), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let (r, last) = respond("a1 capability", &Fault::None);
        assert!(r.contains("AUTH=XOAUTH2") && r.ends_with("a1 OK CAPABILITY completed.\r\n"));
        assert!(!last);
        let (r, _) = respond("a1 CAPABILITY", &Fault::NoXoauth2);
        assert!(!r.contains("XOAUTH2"));
        assert_eq!(respond("x", &Fault::None).0, "* BAD Command Error. 12\r\n");
        assert_eq!(
            respond("a2 FOO", &Fault::None).0,
            "a2 BAD Command Error. 12\r\n"
        );
        assert!(respond("a3 LOGOUT", &Fault::None).1);
    }
}

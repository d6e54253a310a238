//! POP3 on port 995 as Exchange Online answers before login: greeting naming the front end,
//! CAPA, QUIT; everything else is Exchange's generic protocol error.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::config::Fault;
use crate::faults::{delay_of, hostile_greeting, trickle_of, Proto};
use crate::lineio::{End, Session};
use crate::listener::ConnCtx;
use crate::tls;
use tracing::debug;

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
    loop {
        let line = match s.read_line().await {
            Ok(line) => line,
            Err(End::Idle) => {
                let _ = s.send("-ERR Connection is closed. 13\r\n").await;
                break;
            }
            Err(End::TooLong) => {
                let _ = s.send("-ERR Protocol error. 14\r\n").await;
                break;
            }
            Err(End::Closed) => return,
            Err(End::Io(e)) => return debug!(endpoint = "pop3", error = %e, "read failed"),
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
    let command = line
        .split_ascii_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match command.as_str() {
        "CAPA" => {
            let sasl = if *fault == Fault::NoXoauth2 {
                "SASL PLAIN"
            } else {
                "SASL PLAIN XOAUTH2"
            };
            (
                format!("+OK\r\nTOP\r\nUIDL\r\n{sasl}\r\nUSER\r\n.\r\n"),
                false,
            )
        }
        "QUIT" => (
            "+OK Microsoft Exchange Server POP3 server signing off.\r\n".into(),
            true,
        ),
        _ => ("-ERR Protocol error. 14\r\n".into(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let (r, _) = respond("capa", &Fault::None);
        assert_eq!(
            r,
            "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n"
        );
        assert!(!respond("CAPA", &Fault::NoXoauth2).0.contains("XOAUTH2"));
        assert!(respond("QUIT", &Fault::None).1);
        assert_eq!(respond("", &Fault::None).0, "-ERR Protocol error. 14\r\n");
    }
}

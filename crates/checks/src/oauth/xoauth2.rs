//! XOAUTH2: the SASL string and the login dialogs on IMAP, POP3 and SMTP, continuing a
//! session whose greeting and capabilities `mail.rs` has read. Each refusal is mapped to
//! its cause (M365-FACTS.md, "Refusals and what they mean"). Nothing is ever sent beyond
//! proving the session: IMAP opens INBOX read-only, POP3 asks STAT, SMTP sends no mail.

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite};

use super::secret::Secret;
use crate::failure::FailureKind;
use crate::lines::LineStream;
use crate::mail::smtp_reply_shown;
use crate::net::truncate;
use crate::StageError;

/// base64 of `user=<user>\x01auth=Bearer <token>\x01\x01`. For a shared mailbox `user` is
/// the shared mailbox's address, whoever the token belongs to.
pub fn sasl_string(user: &str, token: &Secret) -> Secret {
    let raw = Secret::new(format!(
        "user={user}\x01auth=Bearer {}\x01\x01",
        token.expose()
    ));
    Secret::new(base64::engine::general_purpose::STANDARD.encode(raw.expose()))
}

/// The credentials of one login, and what may be shown of the server's replies.
struct Login<'a> {
    sasl: Secret,
    token: &'a Secret,
}

impl Login<'_> {
    /// A server reply as it may appear in a detail: truncated, and withheld entirely if it
    /// echoes any part of the credentials' tail (a hostile or broken server).
    fn shown(&self, line: &str) -> String {
        let echoes = |s: &Secret| {
            let s = s.expose();
            let tail = &s[s.len().saturating_sub(16)..];
            !tail.is_empty() && line.contains(tail)
        };
        if echoes(&self.sasl) || echoes(self.token) {
            "[reply withheld: it echoes the credentials]".to_string()
        } else {
            truncate(line)
        }
    }

    fn error(&self, kind: FailureKind, what: &str, line: &str) -> StageError {
        StageError::new(kind, format!("{what}: '{}'", self.shown(line)))
    }
}

/// IMAP: `a2 AUTHENTICATE XOAUTH2 <b64>` (SASL-IR when advertised, else after the `+`),
/// then `a3 EXAMINE INBOX` to prove the session reaches the mailbox, then LOGOUT.
pub(crate) async fn imap<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    user: &str,
    token: &Secret,
    sasl_ir: bool,
) -> Result<(), StageError> {
    let login = Login {
        sasl: sasl_string(user, token),
        token,
    };
    let shown = "a2 AUTHENTICATE XOAUTH2 [credentials]";
    if sasl_ir {
        let cmd = Secret::new(format!("a2 AUTHENTICATE XOAUTH2 {}", login.sasl.expose()));
        lines.send_shown(cmd.expose(), shown).await?;
    } else {
        lines.send("a2 AUTHENTICATE XOAUTH2").await?;
    }
    let mut sent = sasl_ir;
    loop {
        let line = lines.read_line().await?;
        if line.starts_with('+') {
            if sent {
                // An error challenge (base64 JSON): the client answers with an empty line
                // and the server then says NO.
                lines.send("").await?;
            } else {
                lines.send_shown(login.sasl.expose(), shown).await?;
                sent = true;
            }
        } else if let Some(status) = line.strip_prefix("a2 ") {
            if status.starts_with("OK") {
                break;
            }
            let kind = if status.starts_with("NO") {
                FailureKind::Xoauth2Rejected
            } else {
                FailureKind::Xoauth2Malformed
            };
            return Err(login.error(kind, "IMAP refused the XOAUTH2 login", &line));
        } else if !line.starts_with("* ") {
            return Err(login.error(
                FailureKind::ProtocolUnexpected,
                "IMAP reply to AUTHENTICATE is not an untagged, tagged or continuation response",
                &line,
            ));
        }
    }
    lines.send("a3 EXAMINE INBOX").await?;
    loop {
        let line = lines.read_line().await?;
        if let Some(status) = line.strip_prefix("a3 ") {
            if status.starts_with("OK") {
                break;
            }
            return Err(login.error(
                FailureKind::MailboxNotConnected,
                "IMAP accepted the token, then EXAMINE INBOX was answered",
                &line,
            ));
        }
        if line.starts_with("* BAD") || line.starts_with("* BYE") {
            return Err(login.error(
                FailureKind::MailboxNotConnected,
                "IMAP accepted the token, then EXAMINE INBOX was answered",
                &line,
            ));
        }
        if !line.starts_with("* ") {
            return Err(login.error(
                FailureKind::ProtocolUnexpected,
                "IMAP reply to EXAMINE is not an untagged or tagged response",
                &line,
            ));
        }
    }
    let _ = lines.send("a4 LOGOUT").await;
    Ok(())
}

/// POP3: `AUTH XOAUTH2`, the server's `+`, the b64 on its own line, then `STAT` and QUIT.
pub(crate) async fn pop3<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    user: &str,
    token: &Secret,
) -> Result<(), StageError> {
    let login = Login {
        sasl: sasl_string(user, token),
        token,
    };
    lines.send("AUTH XOAUTH2").await?;
    let line = lines.read_line().await?;
    if !line.starts_with('+') || line.starts_with("+OK") {
        return Err(login.error(
            FailureKind::Xoauth2Rejected,
            "POP3 did not accept AUTH XOAUTH2",
            &line,
        ));
    }
    lines
        .send_shown(login.sasl.expose(), "[XOAUTH2 credentials]")
        .await?;
    let mut line = lines.read_line().await?;
    if line.starts_with('+') && !line.starts_with("+OK") {
        // An error challenge: answer with an empty line, the refusal follows.
        lines.send("").await?;
        line = lines.read_line().await?;
    }
    if !line.starts_with("+OK") {
        let kind = if line.starts_with("-ERR") {
            FailureKind::Xoauth2Rejected
        } else {
            FailureKind::ProtocolUnexpected
        };
        return Err(login.error(kind, "POP3 refused the XOAUTH2 login", &line));
    }
    lines.send("STAT").await?;
    let line = lines.read_line().await?;
    if !line.starts_with("+OK") {
        return Err(login.error(
            FailureKind::MailboxNotConnected,
            "POP3 accepted the token, then STAT was answered",
            &line,
        ));
    }
    let _ = lines.send("QUIT").await;
    Ok(())
}

/// SMTP after STARTTLS and EHLO: `AUTH XOAUTH2 <b64>` (a `334` with no text asks for it on
/// its own line), `235` expected, then QUIT. No mail is sent.
pub(crate) async fn smtp<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    user: &str,
    token: &Secret,
) -> Result<(), StageError> {
    let login = Login {
        sasl: sasl_string(user, token),
        token,
    };
    let cmd = Secret::new(format!("AUTH XOAUTH2 {}", login.sasl.expose()));
    lines
        .send_shown(cmd.expose(), "AUTH XOAUTH2 [credentials]")
        .await?;
    let mut answered_334 = false;
    let (code, texts) = loop {
        let (code, texts) = smtp_reply_shown(lines, &|line| login.shown(line)).await?;
        if code != 334 || answered_334 {
            break (code, texts);
        }
        answered_334 = true;
        if texts.iter().all(|t| t.trim().is_empty()) {
            lines
                .send_shown(login.sasl.expose(), "[XOAUTH2 credentials]")
                .await?;
        } else {
            // An error challenge: an empty line ends the exchange, the refusal follows.
            lines.send("").await?;
        }
    };
    let text = texts.join(" ");
    let reply = format!("{code} {text}");
    if code == 235 {
        let _ = lines.send("QUIT").await;
        return Ok(());
    }
    let _ = lines.send("QUIT").await;
    let lower = text.to_ascii_lowercase();
    let kind = match code {
        535 if lower.contains("disabled for the tenant") => FailureKind::SmtpAuthDisabledTenant,
        535 if lower.contains("disabled for the mailbox") => FailureKind::SmtpAuthDisabledMailbox,
        535 => FailureKind::Xoauth2Rejected,
        501 => FailureKind::Xoauth2Malformed,
        504 => FailureKind::Xoauth2Missing,
        _ => FailureKind::ProtocolUnexpected,
    };
    Err(login.error(kind, "SMTP refused the XOAUTH2 login", &reply))
}

#[cfg(test)]
#[path = "xoauth2_tests.rs"]
mod tests;

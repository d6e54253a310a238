//! The mail dialogs: just enough IMAP, POP3 and SMTP to prove the server is Microsoft 365
//! as ECE will meet it (greeting, capabilities, XOAUTH2 advertised). The network checks
//! never log in; the OAuth checks continue from the capabilities into `oauth::xoauth2`.

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::failure::FailureKind;
use crate::lines::LineStream;
use crate::net::truncate;
use crate::report::ProtocolInfo;
use crate::StageError;

pub(crate) fn unexpected(what: &str, line: &str) -> StageError {
    StageError::new(
        FailureKind::ProtocolUnexpected,
        format!("{what}: '{}'", truncate(line)),
    )
}

pub(crate) fn require_xoauth2(info: &ProtocolInfo, proto: &str) -> Result<(), StageError> {
    if info
        .sasl_mechanisms
        .iter()
        .any(|m| m.eq_ignore_ascii_case("XOAUTH2"))
    {
        Ok(())
    } else {
        Err(StageError::new(
            FailureKind::Xoauth2Missing,
            format!(
                "{proto} advertises SASL [{}] without XOAUTH2",
                info.sasl_mechanisms.join(" ")
            ),
        ))
    }
}

/// Microsoft's IMAP and POP3 greetings end in `[<base64 of UTF-16LE server name>]`.
pub(crate) fn front_end_from_greeting(greeting: &str) -> Option<String> {
    let start = greeting.rfind('[')?;
    let end = greeting[start..].find(']')? + start;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&greeting[start + 1..end])
        .ok()?;
    if raw.len() % 2 != 0 || raw.is_empty() {
        return None;
    }
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let name = String::from_utf16(&units).ok()?;
    let plausible = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    plausible.then_some(name)
}

/// Reads an Exchange IMAP/POP3 greeting: keeps it and the front-end server it names, and
/// checks that it starts with `ok`.
async fn exchange_greeting<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
    ok: &str,
    proto: &str,
) -> Result<(), StageError> {
    let greeting = lines.read_line().await?;
    info.front_end = front_end_from_greeting(&greeting);
    info.greeting = Some(truncate(&greeting));
    if greeting.starts_with(ok) {
        Ok(())
    } else {
        let what = format!("{proto} greeting is not '{ok}'");
        Err(unexpected(&what, &greeting))
    }
}

/// IMAP over implicit TLS: `* OK` greeting, then `CAPABILITY` must list `AUTH=XOAUTH2`.
pub(crate) async fn imap<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
) -> Result<(), StageError> {
    imap_capabilities(lines, info).await?;
    // Polite close; the verdict does not wait for the reply.
    let _ = lines.send("a2 LOGOUT").await;
    require_xoauth2(info, "IMAP")
}

/// The IMAP greeting and `a1 CAPABILITY`: capabilities and SASL mechanisms into `info`.
pub(crate) async fn imap_capabilities<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
) -> Result<(), StageError> {
    exchange_greeting(lines, info, "* OK", "IMAP").await?;
    lines.send("a1 CAPABILITY").await?;
    loop {
        let line = lines.read_line().await?;
        if let Some(rest) = line.strip_prefix("* CAPABILITY ") {
            info.capabilities = rest.split_whitespace().map(String::from).collect();
        } else if let Some(status) = line.strip_prefix("a1 ") {
            if !status.starts_with("OK") {
                return Err(unexpected("IMAP CAPABILITY was refused", &line));
            }
            break;
        } else if !line.starts_with("* ") {
            return Err(unexpected(
                "IMAP reply is not an untagged or tagged response",
                &line,
            ));
        }
    }
    info.sasl_mechanisms = info
        .capabilities
        .iter()
        .filter_map(|c| c.strip_prefix("AUTH="))
        .map(String::from)
        .collect();
    Ok(())
}

/// POP3 over implicit TLS: `+OK` greeting, then `CAPA` must list `SASL ... XOAUTH2`.
pub(crate) async fn pop3<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
) -> Result<(), StageError> {
    pop3_capabilities(lines, info).await?;
    let _ = lines.send("QUIT").await;
    require_xoauth2(info, "POP3")
}

/// The POP3 greeting and `CAPA`: capabilities and SASL mechanisms into `info`.
pub(crate) async fn pop3_capabilities<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
) -> Result<(), StageError> {
    exchange_greeting(lines, info, "+OK", "POP3").await?;
    lines.send("CAPA").await?;
    let status = lines.read_line().await?;
    if !status.starts_with("+OK") {
        return Err(unexpected("POP3 CAPA was refused", &status));
    }
    loop {
        let line = lines.read_line().await?;
        if line == "." {
            break;
        }
        let mut words = line.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("SASL")) {
            info.sasl_mechanisms = words.map(String::from).collect();
        }
        info.capabilities.push(line);
    }
    Ok(())
}

/// One SMTP reply, possibly multi-line: the code and the text of each line.
pub(crate) async fn smtp_reply<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
) -> Result<(u16, Vec<String>), StageError> {
    smtp_reply_shown(lines, &truncate).await
}

/// [`smtp_reply`], where a line that is not a reply appears in the error as `shown` makes
/// it: after credentials were sent, a server echoing them must not put them in a detail.
pub(crate) async fn smtp_reply_shown<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    shown: &(dyn Fn(&str) -> String + Sync),
) -> Result<(u16, Vec<String>), StageError> {
    let not_a_reply = |line: &str| {
        StageError::new(
            FailureKind::ProtocolUnexpected,
            format!("not an SMTP reply: '{}'", shown(line)),
        )
    };
    let mut texts = Vec::new();
    loop {
        let line = lines.read_line().await?;
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c))
            .ok_or_else(|| not_a_reply(&line))?;
        let sep = line.as_bytes().get(3).copied();
        texts.push(line.get(4..).unwrap_or_default().to_string());
        match sep {
            Some(b'-') => continue,
            Some(b' ') | None => return Ok((code, texts)),
            _ => return Err(not_a_reply(&line)),
        }
    }
}

/// EHLO and its keywords (first word of each line after the greeting line).
async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    name: &str,
) -> Result<Vec<String>, StageError> {
    lines.send(&format!("EHLO {name}")).await?;
    let (code, texts) = smtp_reply(lines).await?;
    if code != 250 {
        let text = texts.first().map(String::as_str).unwrap_or_default();
        return Err(unexpected("EHLO was refused", &format!("{code} {text}")));
    }
    Ok(texts.into_iter().skip(1).collect())
}

/// SMTP before TLS: `220` greeting, `EHLO` listing STARTTLS, `STARTTLS` answered 220.
/// `helo_name` is what the client calls itself (an address literal of the local end).
pub(crate) async fn smtp_plain<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
    helo_name: &str,
) -> Result<(), StageError> {
    let (code, texts) = smtp_reply(lines).await?;
    let first = texts.first().cloned().unwrap_or_default();
    info.greeting = Some(truncate(&format!("{code} {first}")));
    info.front_end = first
        .split_whitespace()
        .next()
        .filter(|h| h.contains('.'))
        .map(String::from);
    if code != 220 {
        return Err(unexpected(
            "SMTP greeting is not 220",
            &format!("{code} {first}"),
        ));
    }
    info.capabilities_before_tls = ehlo(lines, helo_name).await?;
    let offers_starttls = info
        .capabilities_before_tls
        .iter()
        .any(|k| k.eq_ignore_ascii_case("STARTTLS"));
    if !offers_starttls {
        return Err(StageError::new(
            FailureKind::StarttlsMissing,
            format!(
                "EHLO lists [{}] without STARTTLS",
                info.capabilities_before_tls.join(", ")
            ),
        ));
    }
    lines.send("STARTTLS").await?;
    let (code, texts) = smtp_reply(lines).await?;
    if code != 220 {
        let text = texts.first().map(String::as_str).unwrap_or_default();
        return Err(StageError::new(
            FailureKind::StarttlsMissing,
            format!("STARTTLS was answered '{code} {}'", truncate(text)),
        ));
    }
    Ok(())
}

/// SMTP after TLS: `EHLO` again, which must list `AUTH ... XOAUTH2`.
pub(crate) async fn smtp_secure<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
    helo_name: &str,
) -> Result<(), StageError> {
    smtp_capabilities(lines, info, helo_name).await?;
    let _ = lines.send("QUIT").await;
    require_xoauth2(info, "SMTP")
}

/// `EHLO` after TLS: capabilities and the `AUTH` mechanisms into `info`.
pub(crate) async fn smtp_capabilities<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut LineStream<S>,
    info: &mut ProtocolInfo,
    helo_name: &str,
) -> Result<(), StageError> {
    info.capabilities = ehlo(lines, helo_name).await?;
    info.sasl_mechanisms = info
        .capabilities
        .iter()
        .find_map(|k| {
            let mut words = k.split_whitespace();
            let first = words.next()?;
            first
                .eq_ignore_ascii_case("AUTH")
                .then(|| words.map(String::from).collect())
        })
        .unwrap_or_default();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_end_blob_decodes() {
        let name = "BN9PR03CA0123.namprd03.prod.outlook.com";
        let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let blob = base64::engine::general_purpose::STANDARD.encode(utf16);
        let greeting = format!("* OK The Microsoft Exchange IMAP4 service is ready. [{blob}]");
        assert_eq!(front_end_from_greeting(&greeting).as_deref(), Some(name));
        assert_eq!(front_end_from_greeting("* OK ready [not base64!]"), None);
        assert_eq!(front_end_from_greeting("* OK ready"), None);
    }
}

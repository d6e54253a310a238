//! Library errors as sentences a person can act on: the one place that turns rustls' TLS and
//! certificate errors, TLS alerts and I/O errors into words with the facts (dates, names,
//! issuers, addresses). The probes, the agent's link to the collector and the collector's
//! log of refused agents all speak through it, so no `Debug` text of a library type
//! (`ExpiredContext { .. }`, `DnsName("..")`, `UnknownIssuer`) reaches a report, a log line
//! or a page. (`{:?}` of a library error is for developers' debug logs only.)

use std::error::Error as StdError;
use std::fmt::Display;
use std::io;
use std::time::Duration;

use rustls::AlertDescription;

use crate::report::CertInfo;

mod cert;
#[cfg(test)]
mod tests;

pub use cert::certificate;

/// What was seen of the peer's certificates, so sentences can name them. Every field may be
/// unknown: then only the facts rustls' error carries are given.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    /// The name the certificate was checked against (the TLS server name).
    pub host: Option<&'a str>,
    /// The chain as the peer presented it, leaf first.
    pub chain: &'a [CertInfo],
    /// Who trusts or not, as the sentence names it: "this server" (a probe on an ECE
    /// server), "this collector".
    pub relying: &'a str,
}

impl<'a> Seen<'a> {
    /// Checked against `host` by this server (the probes' view).
    pub fn new(host: Option<&'a str>, chain: &'a [CertInfo]) -> Seen<'a> {
        Seen {
            host,
            chain,
            relying: "this server",
        }
    }

    /// Nothing known beyond the error itself.
    pub fn nothing() -> Seen<'static> {
        Seen {
            host: None,
            chain: &[],
            relying: "this server",
        }
    }

    /// The same facts, trusted (or not) by `relying`.
    pub fn relying(self, relying: &'a str) -> Seen<'a> {
        Seen { relying, ..self }
    }
}

/// A rustls error as a sentence.
pub fn tls(e: &rustls::Error, seen: &Seen<'_>) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(ce) => certificate(ce, seen),
        E::AlertReceived(a) => format!(
            "the peer ended the TLS handshake with the alert '{}'",
            alert(*a)
        ),
        E::PeerIncompatible(why) => format!(
            "the peer offers no TLS version or parameter this side accepts ({})",
            identifier(&format!("{why:?}"))
        ),
        E::PeerMisbehaved(why) => format!(
            "the peer broke the TLS protocol ({})",
            identifier(&format!("{why:?}"))
        ),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the peer's reply is not TLS (a plain-text service, or something in between answers instead)".to_string()
        }
        E::InappropriateHandshakeMessage { .. } => {
            "the peer sent a TLS handshake message out of order".to_string()
        }
        E::NoCertificatesPresented => "the peer presented no certificate".to_string(),
        E::DecryptError => {
            "a TLS record could not be decrypted: the connection was altered on the way".to_string()
        }
        E::PeerSentOversizedRecord => "the peer sent a TLS record larger than allowed".to_string(),
        E::NoApplicationProtocol => {
            "the peer supports none of the application protocols offered (ALPN)".to_string()
        }
        E::HandshakeNotComplete => "the TLS handshake did not complete".to_string(),
        E::General(text) => text.clone(),
        E::Other(other) => other.to_string(),
        other => identifier(&format!("{other:?}")),
    }
}

/// A TLS alert's name in words, e.g. "unknown CA", "handshake failure".
pub fn alert(a: AlertDescription) -> String {
    match a {
        AlertDescription::UnknownCA => "unknown CA".to_string(),
        AlertDescription::DecryptError => "decrypt error (a signature did not verify)".to_string(),
        AlertDescription::ProtocolVersion => "protocol version not supported".to_string(),
        AlertDescription::UnknownPSKIdentity => "unknown PSK identity".to_string(),
        AlertDescription::Unknown(code) => format!("number {code}, not a standard alert"),
        other => identifier(&format!("{other:?}")),
    }
}

/// The alert in rustls' text "received fatal alert: DecryptError". h2 keeps only the text
/// of an I/O error (the rustls error inside is gone by the time tonic returns it), so the
/// alert is recognised by its name.
pub fn alert_in_text(text: &str) -> Option<AlertDescription> {
    let rest = text.split("received fatal alert: ").nth(1)?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (0..=u8::MAX)
        .map(AlertDescription::from)
        .find(|a| format!("{a:?}") == name)
}

/// An I/O error as words: what happened to the connection, or the TLS error inside it.
pub fn io(e: &io::Error) -> String {
    if let Some(tls_error) = tls_inside(e) {
        return tls(tls_error, &Seen::nothing());
    }
    match kind_words(e.kind()) {
        Some(words) => words.to_string(),
        None => without_os_code(&e.to_string()),
    }
}

/// Any error as words: its own message, then the TLS or I/O cause inside it in words
/// (hyper says "connection error"; the cause says what happened to the connection).
pub fn error(e: &(dyn StdError + 'static)) -> String {
    if let Some(t) = e.downcast_ref::<rustls::Error>() {
        return tls(t, &Seen::nothing());
    }
    if let Some(i) = e.downcast_ref::<io::Error>() {
        return io(i);
    }
    let top = without_os_code(&e.to_string());
    let cause = e.source().and_then(|s| {
        find::<rustls::Error>(s)
            .map(|t| tls(t, &Seen::nothing()))
            .or_else(|| find::<io::Error>(s).map(io))
    });
    match cause {
        Some(c) if !top.contains(&c) => format!("{top}: {c}"),
        _ => top,
    }
}

/// A failed TCP connect to `peer` (an address, or host:port) as one sentence, e.g.
/// "connection refused by 10.0.0.5:993".
pub fn connect(peer: &dyn Display, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => format!("connection refused by {peer}"),
        io::ErrorKind::TimedOut => format!("no answer from {peer} (timed out)"),
        io::ErrorKind::HostUnreachable => format!("no route to {peer}"),
        io::ErrorKind::NetworkUnreachable => format!("the network of {peer} is unreachable"),
        _ => format!("connecting to {peer} failed: {}", io(e)),
    }
}

/// The rustls error an I/O error carries (tokio-rustls wraps them so).
pub fn tls_inside(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The first error of type `T` in `e`'s source chain, `e` included. An `io::Error` is
/// looked into too (its `source()` skips the error it wraps).
pub fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(found) = find::<T>(inner) {
                return Some(found);
            }
        }
        next = current.source();
    }
    None
}

/// A Unix time as a UTC calendar date, "2026-12-06".
pub fn utc_date(unix_s: i64) -> String {
    let date = u64::try_from(unix_s)
        .ok()
        .and_then(|s| x509_cert::der::DateTime::from_unix_duration(Duration::from_secs(s)).ok());
    match date {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        None => format!("{unix_s} seconds after 1970"),
    }
}

/// "1 day", "30 days"; under a day, "hours".
pub fn days(seconds: u64) -> String {
    match seconds / 86_400 {
        0 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    }
}

/// A certificate's presented name as text: webpki gives `DnsName("mail.contoso.example")`
/// (its `Debug`), which becomes `mail.contoso.example`.
pub fn presented_name(s: &str) -> String {
    for wrapper in ["DnsName(", "IpAddress(", "UriName(", "Other("] {
        if let Some(inner) = s.strip_prefix(wrapper).and_then(|r| r.strip_suffix(')')) {
            return inner.trim_matches('"').to_string();
        }
    }
    s.trim_matches('"').to_string()
}

fn kind_words(kind: io::ErrorKind) -> Option<&'static str> {
    use io::ErrorKind as K;
    Some(match kind {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by the peer",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::HostUnreachable => "no route to the host",
        K::NetworkUnreachable => "the network is unreachable",
        K::NotConnected => "not connected",
        K::UnexpectedEof | K::BrokenPipe => "the peer closed the connection",
        K::PermissionDenied => "not permitted on this host (a local firewall or policy)",
        K::AddrNotAvailable => "the address is not available on this host",
        K::AddrInUse => "the address is already in use",
        _ => return None,
    })
}

/// "Connection refused (os error 111)" -> "Connection refused": the code adds nothing a
/// person can use, and differs by OS.
fn without_os_code(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text.to_string(),
    }
}

/// A library's identifier (a unit variant's `Debug`) as words, for the cases no sentence
/// covers yet (rustls adds variants): `Tls12NotOffered` -> "tls12 not offered",
/// `UnknownCA` -> "unknown CA". Anything after the name (fields) is dropped, so no braces
/// or quotes reach a person.
pub fn identifier(debug: &str) -> String {
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev_lower =
            i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
        let boundary =
            c == '_' || (c.is_ascii_uppercase() && (prev_lower || (prev_upper && next_lower)));
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c != '_' {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let words: Vec<String> = words
        .into_iter()
        .map(|w| {
            // Acronyms (CA, PSK) stay as they are; other words are lower-cased.
            if w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase()) {
                w
            } else {
                w.to_ascii_lowercase()
            }
        })
        .collect();
    match words.is_empty() {
        true => "an unnamed error".to_string(),
        false => words.join(" "),
    }
}

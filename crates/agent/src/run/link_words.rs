//! The link to the collector failing, in words an administrator acts on: tonic says only
//! "transport error" and rustls "received fatal alert: DecryptError", so the error's source
//! chain is walked for what it carries (a status the collector sent, a TLS error or alert,
//! an I/O error) and each is said with the collector's address and the fix. The generic
//! TLS and I/O sentences are `eceprobe_checks::words`'; what they mean for the link (the
//! bundle, `enroll`) is here.

use std::error::Error as StdError;
use std::io;

use eceprobe_checks::words::{self, Seen};
use rustls::{AlertDescription, CertificateError};
use tonic::{Code, Status};

/// Where the agent connects: for sentences.
struct Collector {
    /// "collector.corp.example:7443".
    authority: String,
    host: String,
    plaintext: bool,
}

impl Collector {
    fn from_url(url: &str) -> Collector {
        let plaintext = url.starts_with("http://");
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url);
        let authority = rest.split('/').next().unwrap_or(rest).to_string();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
            None => authority
                .rsplit_once(':')
                .map_or(authority.as_str(), |(h, _)| h)
                .to_string(),
        };
        Collector {
            authority,
            host,
            plaintext,
        }
    }
}

/// Why the link to the collector at `collector_url` failed, in one sentence with the fix.
pub fn link_error(err: &(dyn StdError + 'static), collector_url: &str) -> String {
    let at = Collector::from_url(collector_url);
    // A status the collector itself sent (no transport error under it): its words.
    if let Some(status) = words::find::<Status>(err) {
        if status.source().is_none() {
            return answered(status);
        }
    }
    if let Some(tls) = words::find::<rustls::Error>(err) {
        return tls_words(tls, &at);
    }
    if let Some(alert) = alert_in_chain(err) {
        return refused_at_tls(alert);
    }
    if resolving_failed(err) {
        let why = words::find::<io::Error>(err).map_or_else(String::new, |e| format!(" ({e})"));
        return format!(
            "cannot resolve {}{why}: check the host name in --collector and this server's DNS",
            at.host
        );
    }
    if let Some(e) = words::find::<io::Error>(err) {
        return io_words(e, &at);
    }
    if chain_text(err).contains("error reading a body from connection") {
        // h2 says this when the collector's end of a running stream went away (the
        // process stopped or was killed, or the network cut it): rustls' text under it
        // (close_notify, with a link to its docs) says nothing an operator acts on.
        return format!(
            "the collector at {} went away while streaming (it stopped or restarted, or the network between cut the connection)",
            at.authority
        );
    }
    if chain_text(err).contains("connection closed") {
        // hyper fails a request on a closed connection with "operation was canceled" and
        // no cause; a TLS 1.3 refusal of this agent's certificate often looks just so.
        return closed(&at, "connection closed");
    }
    format!(
        "the link to the collector at {} failed: {}",
        at.authority,
        chain_text(err)
    )
}

/// The collector answered and refused: its own message says why.
fn answered(status: &Status) -> String {
    let message = status.message();
    match status.code() {
        // A joined agent: the collector's own words name the new token to get.
        Code::PermissionDenied if message.contains(eceprobe_proto::refusal::JOINED_FIX) => {
            format!("the collector refused this agent: {message}")
        }
        Code::PermissionDenied if message.contains("revoked") => {
            "the collector refused this agent: its certificate is revoked; enroll the agent again (eceprobe-collector enroll) and install the new bundle".to_string()
        }
        Code::PermissionDenied | Code::Unauthenticated | Code::InvalidArgument => {
            format!("the collector refused this agent: {message}")
        }
        Code::Unavailable => format!("the collector is unavailable: {message}"),
        code => format!(
            "the collector ended the stream ({}): {message}",
            words::identifier(&format!("{code:?}"))
        ),
    }
}

fn tls_words(e: &rustls::Error, at: &Collector) -> String {
    use rustls::Error as E;
    let theirs = |ce: &CertificateError| {
        words::certificate(ce, &Seen::nothing().relying("this agent")).replacen(
            "the certificate",
            "the collector's certificate",
            1,
        )
    };
    match e {
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => format!(
            "the collector's certificate is not from the CA in ca.pem: this agent's bundle is from another collector, or the collector's CA was made again; enroll this agent with the collector at {} again",
            at.authority
        ),
        E::InvalidCertificate(
            ce @ (CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }),
        ) => format!(
            "{}: put one of its names in --collector, or set server_name",
            theirs(ce)
        ),
        E::InvalidCertificate(ce) => theirs(ce),
        E::AlertReceived(alert) => refused_at_tls(*alert),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => format!(
            "the collector at {} does not answer in TLS: if it serves agents in plaintext, use http:// and --plaintext (loopback only)",
            at.authority
        ),
        other => format!(
            "TLS with the collector at {} failed: {}",
            at.authority,
            words::tls(other, &Seen::nothing())
        ),
    }
}

/// The collector's TLS refused this agent: the alert says why.
fn refused_at_tls(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let why = match alert {
        // BadSignature (another CA of the same name) gives decrypt_error.
        A::UnknownCA | A::DecryptError => {
            "it was issued by another CA (a bundle from another collector); enroll this agent again with this collector"
        }
        A::CertificateExpired => {
            "it has expired or is not valid yet (check this server's clock); enroll this agent again"
        }
        A::CertificateRevoked => "it is revoked; enroll this agent again",
        A::CertificateRequired | A::NoCertificate => {
            "none was sent; check agent.pem and agent.key in the TLS directory"
        }
        _ => {
            return format!(
                "the collector refused the TLS handshake with the alert '{}'; its log says why",
                words::alert(alert)
            )
        }
    };
    format!("the collector does not accept this agent's certificate: {why}")
}

fn io_words(e: &io::Error, at: &Collector) -> String {
    let a = &at.authority;
    match e.kind() {
        io::ErrorKind::ConnectionRefused => format!(
            "connection refused by {a}: nothing listens there; check that the collector runs and that --collector names its agent port"
        ),
        io::ErrorKind::TimedOut => format!(
            "no answer from {a} (timed out): a firewall drops the connection, or the address is wrong"
        ),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            format!("no route to {a}: check this server's routes and the firewall")
        }
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => closed(at, &words::io(e)),
        _ => format!(
            "the link to the collector at {a} failed: {}",
            words::io(e)
        ),
    }
}

/// A TLS alert the collector sent, named in the chain's text (see
/// [`words::alert_in_text`]).
fn alert_in_chain(err: &(dyn StdError + 'static)) -> Option<AlertDescription> {
    let mut next = Some(err);
    while let Some(e) = next {
        let text = match e.downcast_ref::<Status>() {
            Some(s) => s.message().to_string(),
            None => e.to_string(),
        };
        if let Some(alert) = words::alert_in_text(&text) {
            return Some(alert);
        }
        next = e.source();
    }
    None
}

/// The collector hung up before it answered.
fn closed(at: &Collector, how: &str) -> String {
    let hint = match at.plaintext {
        true => "if the collector serves TLS, use https:// and the agent's bundle",
        false => "if it refused this agent's certificate (another collector's bundle, revoked, expired), the collector's log says so with this server's address",
    };
    format!(
        "the collector at {} closed the connection before answering ({how}); {hint}",
        at.authority
    )
}

/// hyper-util's connector says "dns error" around the resolver's I/O error; the resolver's
/// own text says so on Unix and Windows.
fn resolving_failed(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if text == "dns error" || text.contains("failed to lookup address information") {
            return true;
        }
        next = e.source();
    }
    false
}

/// Each error of the chain once, joined; a status by its message (its `Display` is a
/// struct dump).
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = match e.downcast_ref::<Status>() {
            Some(s) => s.message().to_string(),
            None => e.to_string(),
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

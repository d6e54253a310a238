//! Certificate errors as sentences: which certificate, the dates, the names, the issuer.

use rustls::CertificateError as C;
use rustls_pki_types::UnixTime;

use super::{days, identifier, presented_name, utc_date, Seen};
use crate::report::CertInfo;

/// Why a certificate was refused, with the facts: "the certificate 'CN=x' expired on
/// 2026-05-01, 30 days ago (this server's clock says 2026-05-31)"; "the certificate is for
/// wrong.example.net, not outlook.office365.com"; "the certificate 'CN=x' was issued by
/// 'CN=Rogue CA', which this server does not trust".
pub fn certificate(e: &C, seen: &Seen<'_>) -> String {
    let leaf = seen.chain.first();
    let this = leaf.map_or_else(|| "the certificate".to_string(), named);
    match e {
        C::ExpiredContext { time, not_after } => {
            let which = cert_ending(seen.chain, *not_after).map_or_else(|| this.clone(), named);
            format!(
                "{which} expired on {}, {} ago ({} clock says {})",
                date(*not_after),
                days(time.as_secs().saturating_sub(not_after.as_secs())),
                seen.relying_possessive(),
                date(*time)
            )
        }
        C::Expired => match leaf {
            Some(c) => format!("{this} has expired (valid until {})", day(c)),
            None => "the certificate has expired".to_string(),
        },
        C::NotValidYetContext { time, not_before } => format!(
            "{this} is not valid until {}, {} from now ({} clock says {})",
            date(*not_before),
            days(not_before.as_secs().saturating_sub(time.as_secs())),
            seen.relying_possessive(),
            date(*time)
        ),
        C::NotValidYet => format!("{this} is not valid yet (check {} clock)", seen.relying_possessive()),
        C::NotValidForNameContext { expected, presented } => {
            let names = match leaf.map(|c| c.dns_names.clone()) {
                Some(n) if !n.is_empty() => n,
                _ => presented.iter().map(|p| presented_name(p)).collect(),
            };
            not_for(&names, &expected.to_str())
        }
        C::NotValidForName => {
            let names = leaf.map(|c| c.dns_names.clone()).unwrap_or_default();
            not_for(&names, seen.host.unwrap_or("the name asked for"))
        }
        C::UnknownIssuer => untrusted(&this, leaf, seen),
        C::BadSignature => match leaf {
            Some(c) => format!(
                "the signature on {this} does not verify with the key of '{}' that {} trusts: it was issued by another CA of the same name, or altered",
                c.issuer,
                seen.relying
            ),
            None => "a signature in the certificate chain does not verify: it was issued by another CA of the same name, or altered".to_string(),
        },
        C::Revoked => format!("{this} has been revoked by its issuer"),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            format!("{this} is not issued for this use (its extended key usage does not allow it)")
        }
        C::BadEncoding => "the certificate presented is malformed (not valid X.509)".to_string(),
        C::UnhandledCriticalExtension => {
            format!("{this} has a critical extension that is not supported here")
        }
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            format!("{this} is signed with an algorithm that is not supported here")
        }
        C::UnknownRevocationStatus => {
            format!("the revocation status of {this} could not be determined")
        }
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "the certificate revocation list has expired".to_string()
        }
        C::ApplicationVerificationFailure => format!("{this} was refused by an application check"),
        C::Other(other) => format!("{this} was refused: {other}"),
        other => format!("{this} was refused ({})", identifier(&format!("{other:?}"))),
    }
}

impl Seen<'_> {
    /// "this server's", "this collector's".
    fn relying_possessive(&self) -> String {
        format!("{}'s", self.relying)
    }
}

/// "the certificate 'CN=outlook.office365.com'".
fn named(c: &CertInfo) -> String {
    format!("the certificate '{}'", c.subject)
}

fn date(t: UnixTime) -> String {
    utc_date(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
}

/// The certificate's expiry date, "2026-12-06".
fn day(c: &CertInfo) -> String {
    utc_date(c.not_after_unix)
}

/// The certificate of the chain whose validity ends at `not_after` (webpki checks every
/// certificate of the path; the leaf is the usual one).
fn cert_ending(chain: &[CertInfo], not_after: UnixTime) -> Option<&CertInfo> {
    let t = i64::try_from(not_after.as_secs()).ok()?;
    chain.iter().find(|c| c.not_after_unix == t)
}

fn not_for(names: &[String], expected: &str) -> String {
    match names {
        [] => format!("the certificate names no host (no subjectAltName DNS name), so it is not for {expected}"),
        names => format!("the certificate is for {}, not {expected}", names.join(", ")),
    }
}

/// The issuer of the leaf, and where the presented chain ends when that is elsewhere.
fn untrusted(this: &str, leaf: Option<&CertInfo>, seen: &Seen<'_>) -> String {
    let Some(leaf) = leaf else {
        return format!(
            "the certificate was issued by a CA that {} does not trust",
            seen.relying
        );
    };
    let mut text = format!(
        "{this} was issued by '{}', which {} does not trust",
        leaf.issuer, seen.relying
    );
    if let Some(root) = seen.chain.last().map(|c| &c.issuer) {
        if *root != leaf.issuer {
            text.push_str(&format!("; the chain presented ends at '{root}'"));
        }
    }
    text
}

//! Turns a DER certificate into the few fields a person needs to recognise it.

use std::fmt::Write;

use rustls_pki_types::CertificateDer;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::report::CertInfo;

/// Parses a certificate; None when it is not parseable X.509 (then only its presence
/// matters, and the TLS verdict already says what is wrong with it).
pub fn cert_info(der: &CertificateDer<'_>) -> Option<CertInfo> {
    let cert = Certificate::from_der(der.as_ref()).ok()?;
    let tbs = &cert.tbs_certificate;
    let not_after = tbs.validity.not_after;
    let dns_names = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san
            .0
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    let mut sha256 = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(sha256, "{b:02x}");
    }
    Some(CertInfo {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        dns_names,
        not_after: not_after.to_date_time().to_string(),
        not_after_unix: i64::try_from(not_after.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
        sha256,
    })
}

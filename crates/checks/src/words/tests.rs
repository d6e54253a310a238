use std::io;

use rustls::{AlertDescription, CertificateError};
use rustls_pki_types::{ServerName, UnixTime};

use super::*;

/// No `Debug` text of a library type.
fn assert_words(s: &str) {
    for bad in ["{", "}", "Context", "DnsName(", "UnixTime(", "\\\""] {
        assert!(!s.contains(bad), "{bad} in {s:?}");
    }
}

fn leaf(subject: &str, issuer: &str, names: &[&str], not_after_unix: i64) -> CertInfo {
    CertInfo {
        subject: subject.into(),
        issuer: issuer.into(),
        dns_names: names.iter().map(|n| n.to_string()).collect(),
        not_after: String::new(),
        not_after_unix,
        sha256: String::new(),
    }
}

const DAY: u64 = 86_400;

#[test]
fn an_expired_certificate_gives_its_date_and_how_long_ago() {
    // The issue's own example: 30 days past 2026-11-06 (1_793_930_263).
    let e = CertificateError::ExpiredContext {
        time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_796_522_763)),
        not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_793_930_263)),
    };
    let chain = [leaf(
        "CN=smtp.office365.com",
        "CN=Lab CA",
        &["smtp.office365.com"],
        1_793_930_263,
    )];
    let s = certificate(&e, &Seen::new(Some("smtp.office365.com"), &chain));
    assert_eq!(
        s,
        "the certificate 'CN=smtp.office365.com' expired on 2026-11-06, 30 days ago (this server's clock says 2026-12-06)"
    );
    // Nothing seen: still the dates.
    let s = certificate(&e, &Seen::nothing());
    assert!(
        s.starts_with("the certificate expired on 2026-11-06, 30 days ago"),
        "{s}"
    );
}

#[test]
fn a_wrong_name_says_for_what_and_not_what() {
    let e = CertificateError::NotValidForNameContext {
        expected: ServerName::try_from("smtp.office365.com").unwrap(),
        presented: vec!["DnsName(\"mail.contoso.example\")".into()],
    };
    let s = certificate(&e, &Seen::nothing());
    assert_eq!(
        s,
        "the certificate is for mail.contoso.example, not smtp.office365.com"
    );
    assert_words(&s);
}

#[test]
fn an_unknown_issuer_is_named() {
    let chain = [
        leaf("CN=outlook.office365.com", "CN=Rogue CA", &[], 0),
        leaf("CN=Rogue CA", "CN=Rogue Root", &[], 0),
    ];
    let s = certificate(&CertificateError::UnknownIssuer, &Seen::new(None, &chain));
    assert_eq!(
        s,
        "the certificate 'CN=outlook.office365.com' was issued by 'CN=Rogue CA', which this server does not trust; the chain presented ends at 'CN=Rogue Root'"
    );
    let s = certificate(
        &CertificateError::UnknownIssuer,
        &Seen::nothing().relying("this collector"),
    );
    assert!(s.contains("this collector does not trust"), "{s}");
}

#[test]
fn every_certificate_error_is_words() {
    #[allow(deprecated)]
    let all = [
        CertificateError::BadEncoding,
        CertificateError::Expired,
        CertificateError::NotValidYet,
        CertificateError::Revoked,
        CertificateError::UnhandledCriticalExtension,
        CertificateError::UnknownIssuer,
        CertificateError::UnknownRevocationStatus,
        CertificateError::ExpiredRevocationList,
        CertificateError::BadSignature,
        CertificateError::UnsupportedSignatureAlgorithm,
        CertificateError::NotValidForName,
        CertificateError::InvalidPurpose,
        CertificateError::ApplicationVerificationFailure,
        CertificateError::NotValidYetContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(100 * DAY)),
            not_before: UnixTime::since_unix_epoch(std::time::Duration::from_secs(102 * DAY)),
        },
    ];
    let chain = [leaf("CN=a", "CN=b", &["a.example"], 0)];
    for e in all {
        for seen in [Seen::nothing(), Seen::new(Some("a.example"), &chain)] {
            assert_words(&certificate(&e, &seen));
            assert_words(&tls(&rustls::Error::InvalidCertificate(e.clone()), &seen));
        }
    }
}

#[test]
fn alerts_and_tls_errors_are_words() {
    assert_eq!(
        alert(AlertDescription::DecryptError),
        "decrypt error (a signature did not verify)"
    );
    assert_eq!(alert(AlertDescription::UnknownCA), "unknown CA");
    assert_eq!(
        alert(AlertDescription::HandshakeFailure),
        "handshake failure"
    );
    assert_eq!(
        alert(AlertDescription::CertificateRequired),
        "certificate required"
    );
    assert_eq!(
        alert(AlertDescription::Unknown(250)),
        "number 250, not a standard alert"
    );
    assert_eq!(
        alert_in_text("h2 protocol error: received fatal alert: DecryptError"),
        Some(AlertDescription::DecryptError)
    );
    assert_eq!(alert_in_text("received fatal alert: Nonsense"), None);
    assert_eq!(alert_in_text("connection reset"), None);
    let errors = [
        rustls::Error::AlertReceived(AlertDescription::BadCertificate),
        rustls::Error::DecryptError,
        rustls::Error::NoCertificatesPresented,
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
        rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::TooMuchEarlyDataReceived),
        rustls::Error::FailedToGetCurrentTime,
        rustls::Error::InappropriateHandshakeMessage {
            expect_types: vec![rustls::HandshakeType::ServerHello],
            got_type: rustls::HandshakeType::Finished,
        },
    ];
    for e in errors {
        assert_words(&tls(&e, &Seen::nothing()));
    }
}

#[test]
fn io_errors_are_words() {
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert_eq!(
        connect(&"10.0.0.5:993", &refused),
        "connection refused by 10.0.0.5:993"
    );
    let os = io::Error::from_raw_os_error(111);
    assert_eq!(io(&os), "connection refused");
    let tls_inside = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
    );
    assert_eq!(
        io(&tls_inside),
        "the certificate was issued by a CA that this server does not trust"
    );
    assert_eq!(without_os_code("Bad thing (os error 5)"), "Bad thing");
}

#[test]
fn causes_are_found_inside_io_errors() {
    let inner = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::AlertReceived(AlertDescription::UnknownCA),
    );
    let outer = io::Error::other(inner);
    let found = find::<rustls::Error>(&outer);
    assert_eq!(
        found,
        Some(&rustls::Error::AlertReceived(AlertDescription::UnknownCA))
    );
    assert!(find::<std::fmt::Error>(&outer).is_none());
}

#[test]
fn identifiers_become_words() {
    assert_eq!(identifier("Tls12NotOffered"), "tls12 not offered");
    assert_eq!(identifier("UnknownCA"), "unknown CA");
    assert_eq!(
        identifier("BadCertificateStatusResponse"),
        "bad certificate status response"
    );
    assert_eq!(identifier("Foo { x: 1 }"), "foo");
    assert_eq!(presented_name("DnsName(\"a.example\")"), "a.example");
    assert_eq!(presented_name("IpAddress(10.0.0.1)"), "10.0.0.1");
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(1_796_522_763), "2026-12-06");
    assert_eq!(days(86_399), "less than a day");
    assert_eq!(days(30 * 86_400 + 5), "30 days");
}

//! Certificate and TLS-version faults produce the verification errors a real client sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use eceprobe_testlab::{Endpoint, Fault, LabConfig, Testlab};
use rustls::{AlertDescription, CertificateError};
use tokio::io::BufReader;
use tokio::net::TcpStream;

async fn start(ep: Endpoint, f: Fault) -> Testlab {
    Testlab::start(LabConfig::healthy().fault(ep, f))
        .await
        .unwrap()
}

/// The handshake error a client trusting `roots` gets from `ep` under `f`.
async fn handshake_error(ep: Endpoint, f: Fault, trust_interceptor: bool) -> rustls::Error {
    let lab = start(ep, f).await;
    let mut roots = vec![lab.ca_pem()];
    if trust_interceptor {
        roots.push(lab.interceptor_ca_pem());
    }
    let err = tls_connect(
        lab.addrs(ep)[0],
        ep.host(lab.hostnames()),
        client_config(&roots),
    )
    .await
    .expect_err("handshake should fail");
    rustls_error(&err).unwrap_or_else(|| panic!("not a rustls error: {err:?}"))
}

fn cert_error(e: rustls::Error) -> CertificateError {
    match e {
        rustls::Error::InvalidCertificate(c) => c,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn untrusted_cert_is_unknown_issuer() {
    let e = cert_error(handshake_error(Endpoint::Imap, Fault::UntrustedCert, true).await);
    assert_eq!(e, CertificateError::UnknownIssuer);
}

#[tokio::test]
async fn expired_cert_is_expired() {
    let e = cert_error(handshake_error(Endpoint::Login, Fault::ExpiredCert, false).await);
    assert!(
        matches!(
            e,
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn wrong_name_cert_is_not_valid_for_name() {
    let e = cert_error(handshake_error(Endpoint::Pop3, Fault::WrongNameCert, false).await);
    assert!(
        matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn intercepted_cert_depends_on_trusting_the_interceptor() {
    let e =
        cert_error(handshake_error(Endpoint::OutlookHttps, Fault::InterceptedCert, false).await);
    assert_eq!(e, CertificateError::UnknownIssuer);

    let lab = start(Endpoint::OutlookHttps, Fault::InterceptedCert).await;
    let roots = [lab.ca_pem(), lab.interceptor_ca_pem()];
    let tls = tls_connect(
        lab.addrs(Endpoint::OutlookHttps)[0],
        "outlook.office365.com",
        client_config(&roots),
    )
    .await
    .unwrap();
    // The chain ends at the interception CA, which the server sends along.
    let chain = tls.get_ref().1.peer_certificates().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].as_ref(), lab.interceptor_ca_der().as_ref());
}

#[tokio::test]
async fn missing_intermediate_sends_the_leaf_alone() {
    let lab = Testlab::start(
        LabConfig::healthy()
            .fault(Endpoint::Imap, Fault::MissingIntermediate)
            .fault(Endpoint::Pop3, Fault::None),
    )
    .await
    .unwrap();
    let imap = lab.addrs(Endpoint::Imap)[0];
    let host = "outlook.office365.com";
    // Trusting the root is not enough: no path leads from the leaf to it.
    let err = tls_connect(imap, host, client_config(&[lab.ca_pem()]))
        .await
        .expect_err("a leaf alone cannot reach the root");
    assert_eq!(
        cert_error(rustls_error(&err).unwrap()),
        CertificateError::UnknownIssuer
    );

    // The healthy POP3 endpoint sends the lab intermediate second; trusted as an anchor, it
    // verifies the IMAP leaf, which so is the lab intermediate's and arrives alone.
    let pop3 = tls_connect(
        lab.addrs(Endpoint::Pop3)[0],
        host,
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let intermediate = pop3.get_ref().1.peer_certificates().unwrap()[1].clone();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(intermediate).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tls_connect(imap, host, std::sync::Arc::new(cfg))
        .await
        .unwrap();
    let chain = tls.get_ref().1.peer_certificates().unwrap();
    assert_eq!(chain.len(), 1, "only the leaf is sent");
}

#[tokio::test]
async fn expiring_cert_still_verifies() {
    let lab = start(Endpoint::Imap, Fault::ExpiringCert(5)).await;
    tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn smtp_cert_fault_applies_after_starttls() {
    let lab = start(Endpoint::Smtp, Fault::UntrustedCert).await;
    let tcp = TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
        .await
        .unwrap();
    let mut r = BufReader::new(tcp);
    assert!(line(&mut r).await.starts_with("220 "));
    send(&mut r, "STARTTLS\r\n").await;
    assert_eq!(line(&mut r).await, "220 2.0.0 SMTP server ready\r\n");
    let err = tls_upgrade(
        r.into_inner(),
        "smtp.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        cert_error(rustls_error(&err).unwrap()),
        CertificateError::UnknownIssuer
    );
}

#[tokio::test]
async fn legacy_tls_answers_protocol_version_alert() {
    let e = handshake_error(Endpoint::Imap, Fault::TlsLegacyOnly, false).await;
    assert_eq!(
        e,
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
    );

    let lab = start(Endpoint::Smtp, Fault::TlsLegacyOnly).await;
    let mut r = BufReader::new(
        TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
            .await
            .unwrap(),
    );
    line(&mut r).await;
    send(&mut r, "STARTTLS\r\n").await;
    line(&mut r).await;
    let err = tls_upgrade(
        r.into_inner(),
        "smtp.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        rustls_error(&err),
        Some(rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion
        ))
    );
}

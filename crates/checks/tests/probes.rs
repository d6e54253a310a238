//! Every check against a healthy simulated Microsoft 365, and every fault producing the
//! right failure kind at the right stage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_fails, lab, lab_with, LabOptions};
use eceprobe_checks::{anchor_label, CheckId, FailureKind, Outcome, RootSource, Stage};
use eceprobe_testlab::{Endpoint, Fault, LabConfig};

#[tokio::test]
async fn healthy_lab_passes_every_check_with_details() {
    let l = lab(LabConfig::healthy()).await;
    let suite = l.prober.suite(&l.specs).await;
    assert_eq!(suite.checks.len(), 6);
    for c in &suite.checks {
        assert_eq!(
            c.outcome,
            Outcome::Pass,
            "{} failed: {:#?}",
            c.check,
            c.failure
        );
        let used = c.used_attempt().expect("a used address");
        let tls = used.tls.as_ref().expect("TLS details");
        assert!(
            tls.trusted && tls.expected_root == Some(true),
            "{}",
            c.check
        );
        // The lab's CA is declared in expected_roots, not one of Microsoft's.
        assert_eq!(tls.expected_root_source, Some(RootSource::Declared));
        assert_eq!(
            anchor_label(tls.expected_root, tls.expected_root_source),
            Some("an expected root you declared")
        );
        assert_eq!(
            tls.chain.len(),
            2,
            "leaf + intermediate, as Microsoft sends"
        );
        assert!(
            tls.chain[0].dns_names.contains(&c.host),
            "{:?}",
            tls.chain[0]
        );
        assert_eq!(tls.chain[0].sha256.len(), 64);
        assert!(tls
            .version
            .as_deref()
            .unwrap_or_default()
            .starts_with("TLSv1."));
        assert!(tls.cipher.is_some());
    }
    let by_id = |id| suite.checks.iter().find(|c| c.check == id).unwrap();

    let imap = by_id(CheckId::Imap)
        .used_attempt()
        .unwrap()
        .protocol
        .clone()
        .unwrap();
    assert_eq!(
        imap.front_end.as_deref(),
        Some("LAB1PR01CA0001.outlook.office365.com"),
        "the front-end server decoded from the greeting blob"
    );
    assert!(imap.sasl_mechanisms.contains(&"XOAUTH2".to_string()));
    assert!(imap
        .greeting
        .unwrap()
        .starts_with("* OK The Microsoft Exchange IMAP4"));

    let pop3 = by_id(CheckId::Pop3)
        .used_attempt()
        .unwrap()
        .protocol
        .clone()
        .unwrap();
    assert_eq!(pop3.sasl_mechanisms, vec!["PLAIN", "XOAUTH2"]);

    let smtp = by_id(CheckId::Smtp);
    let stages: Vec<Stage> = smtp
        .used_attempt()
        .unwrap()
        .stages
        .iter()
        .map(|s| s.stage)
        .collect();
    assert_eq!(
        stages,
        vec![Stage::Tcp, Stage::Starttls, Stage::Tls, Stage::Protocol]
    );
    let sp = smtp.used_attempt().unwrap().protocol.clone().unwrap();
    assert!(sp.capabilities_before_tls.iter().any(|k| k == "STARTTLS"));
    assert!(!sp.capabilities.iter().any(|k| k == "STARTTLS"));
    assert_eq!(sp.sasl_mechanisms, vec!["LOGIN", "XOAUTH2"]);

    let login = by_id(CheckId::LoginHttps)
        .used_attempt()
        .unwrap()
        .protocol
        .clone()
        .unwrap();
    assert_eq!(login.http_status, Some(200));
    assert_eq!(
        login.token_endpoint.as_deref(),
        Some("https://login.microsoftonline.com/common/oauth2/v2.0/token")
    );
    let outlook = by_id(CheckId::OutlookHttps)
        .used_attempt()
        .unwrap()
        .protocol
        .clone()
        .unwrap();
    assert_eq!(outlook.http_status, Some(302));
}

/// (endpoint, fault, check, expected kind, expected stage)
fn fault_table() -> Vec<(Endpoint, Fault, CheckId, FailureKind, Stage)> {
    use CheckId as C;
    use Endpoint as E;
    use FailureKind as K;
    vec![
        (E::Imap, Fault::Refuse, C::Imap, K::TcpRefused, Stage::Tcp),
        (
            E::Pop3,
            Fault::BlackHole,
            C::Pop3,
            K::TcpTimeout,
            Stage::Tcp,
        ),
        (E::Imap, Fault::Silent, C::Imap, K::TlsStalled, Stage::Tls),
        (
            E::Smtp,
            Fault::Silent,
            C::Smtp,
            K::ProtocolTimeout,
            Stage::Starttls,
        ),
        // A Microsoft name on someone else's chain, trusted here or not, is interception.
        (
            E::Imap,
            Fault::UntrustedCert,
            C::Imap,
            K::TlsIntercepted,
            Stage::Tls,
        ),
        (
            E::EceWeb,
            Fault::UntrustedCert,
            C::EceUrl,
            K::TlsUntrusted,
            Stage::Tls,
        ),
        (
            E::Login,
            Fault::ExpiredCert,
            C::LoginHttps,
            K::TlsExpired,
            Stage::Tls,
        ),
        (
            E::OutlookHttps,
            Fault::WrongNameCert,
            C::OutlookHttps,
            K::TlsNameMismatch,
            Stage::Tls,
        ),
        (
            E::Smtp,
            Fault::ExpiredCert,
            C::Smtp,
            K::TlsExpired,
            Stage::Tls,
        ),
        (
            E::Pop3,
            Fault::TlsLegacyOnly,
            C::Pop3,
            K::TlsVersionUnsupported,
            Stage::Tls,
        ),
        (
            E::Imap,
            Fault::NoXoauth2,
            C::Imap,
            K::Xoauth2Missing,
            Stage::Protocol,
        ),
        (
            E::Pop3,
            Fault::NoXoauth2,
            C::Pop3,
            K::Xoauth2Missing,
            Stage::Protocol,
        ),
        (
            E::Smtp,
            Fault::NoXoauth2,
            C::Smtp,
            K::Xoauth2Missing,
            Stage::Protocol,
        ),
        (
            E::Smtp,
            Fault::NoStarttls,
            C::Smtp,
            K::StarttlsMissing,
            Stage::Starttls,
        ),
        (
            E::Login,
            Fault::HttpStatus(503),
            C::LoginHttps,
            K::HttpStatus,
            Stage::Protocol,
        ),
        (
            E::Login,
            Fault::NoTokenEndpoint,
            C::LoginHttps,
            K::OpenidInvalid,
            Stage::Protocol,
        ),
        (
            E::Imap,
            Fault::Garbage,
            C::Imap,
            K::ProtocolUnexpected,
            Stage::Protocol,
        ),
        (
            E::Smtp,
            Fault::Garbage,
            C::Smtp,
            K::ProtocolUnexpected,
            Stage::Starttls,
        ),
        (
            E::EceWeb,
            Fault::Refuse,
            C::EceUrl,
            K::TcpRefused,
            Stage::Tcp,
        ),
        (
            E::EceWeb,
            Fault::ExpiredCert,
            C::EceUrl,
            K::TlsExpired,
            Stage::Tls,
        ),
    ]
}

#[tokio::test]
async fn every_fault_gives_its_kind_at_its_stage() {
    for (endpoint, fault, check, kind, stage) in fault_table() {
        let l = lab(LabConfig::healthy().fault(endpoint, fault.clone())).await;
        let report = l.run(check).await;
        assert_eq!(report.outcome, Outcome::Fail, "{endpoint:?} {fault:?}");
        assert_fails(&report, kind, stage);
        l.lab.shutdown().await;
    }
}

#[tokio::test]
async fn bad_certificates_are_kept_so_down_and_bad_cert_differ() {
    let l = lab(LabConfig::healthy().fault(Endpoint::Imap, Fault::UntrustedCert)).await;
    let report = l.run(CheckId::Imap).await;
    let tls = report.used_attempt().unwrap().tls.clone().unwrap();
    assert!(!tls.trusted);
    assert!(
        !tls.chain.is_empty(),
        "the untrusted chain is still reported"
    );
    assert!(tls.chain[0]
        .dns_names
        .contains(&"outlook.office365.com".to_string()));
    let detail = report.failure.unwrap().detail;
    assert!(
        detail.contains(eceprobe_testlab::ROGUE_CN) && detail.contains("does not trust"),
        "the failure names the CA that issued the chain: {detail}"
    );
    // The certificate is refused after the server hello: the version is known.
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"), "{tls:#?}");
    // Judged by key although not trusted: the rogue CA is none of the expected roots.
    assert_eq!(
        (tls.expected_root, tls.expected_root_source),
        (Some(false), None)
    );
}

/// The certificate failures in words, with the facts: which certificate, the dates, the
/// names, the issuer. No `Debug` text of rustls' errors.
#[tokio::test]
async fn certificate_failures_are_sentences_with_the_facts() {
    let cases = [
        (
            Endpoint::Smtp,
            Fault::ExpiredCert,
            CheckId::Smtp,
            vec![
                "the certificate 'CN=smtp.office365.com' expired on 20",
                ", 30 days ago (this server's clock says 20",
                "; the chain presented ends at '",
                "CN=eceprobe testlab Root CA",
            ],
        ),
        (
            Endpoint::OutlookHttps,
            Fault::WrongNameCert,
            CheckId::OutlookHttps,
            vec!["the certificate is for wrong.example.net, not outlook.office365.com"],
        ),
        (
            Endpoint::Imap,
            Fault::UntrustedCert,
            CheckId::Imap,
            vec![
                "the certificate 'CN=outlook.office365.com' was issued by ",
                "CN=eceprobe testlab Rogue CA",
                "which this server does not trust",
            ],
        ),
    ];
    for (endpoint, fault, check, facts) in cases {
        let l = lab(LabConfig::healthy().fault(endpoint, fault.clone())).await;
        let detail = l.run(check).await.failure.expect("fails").detail;
        for fact in facts {
            assert!(
                detail.contains(fact),
                "{fault:?}: '{fact}' not in: {detail}"
            );
        }
        for debug in ["{", "Context", "DnsName(", "UnixTime(", "UnknownIssuer"] {
            assert!(!detail.contains(debug), "{fault:?}: {debug} in: {detail}");
        }
        l.lab.shutdown().await;
    }
}

/// The CA an interception names: the lab's inspecting proxy's, as the user reads it.
const PROXY_CA: &str = "eceprobe testlab Interception CA";

#[tokio::test]
async fn interception_is_a_failure_naming_the_proxy_ca_whether_trusted_or_not() {
    for trust_interceptor in [true, false] {
        let opts = LabOptions {
            trust_interceptor,
            ..LabOptions::default()
        };
        let l = lab_with(
            LabConfig::healthy().fault(Endpoint::Imap, Fault::InterceptedCert),
            opts,
        )
        .await;
        let report = l.run(CheckId::Imap).await;
        assert_fails(&report, FailureKind::TlsIntercepted, Stage::Tls);
        let f = report.failure.as_ref().unwrap();
        assert!(
            f.detail.contains(PROXY_CA) && f.detail.contains("' inspects TLS to this host"),
            "trusted {trust_interceptor}: {}",
            f.detail
        );
        assert!(
            f.hint.contains("exclude outlook.office365.com")
                && f.hint.contains("from TLS inspection"),
            "{}",
            f.hint
        );
        let tls = report.used_attempt().unwrap().tls.clone().unwrap();
        assert_eq!(tls.trusted, trust_interceptor);
        assert_eq!(tls.expected_root, Some(false), "judged by key either way");
        assert!(tls.chain_root.unwrap().contains(PROXY_CA));
        assert_eq!(
            anchor_label(tls.expected_root, tls.expected_root_source),
            Some("an unexpected root (interception?)")
        );
        // A trusted interception completed the handshake; the dialog never ran through it.
        let stages: Vec<_> = report
            .used_attempt()
            .unwrap()
            .stages
            .iter()
            .map(|s| (s.stage, s.ok))
            .collect();
        assert_eq!(stages.last(), Some(&(Stage::Tls, false)), "{stages:?}");
        l.lab.shutdown().await;
    }
}

#[tokio::test]
async fn a_genuine_chain_whose_root_this_host_lacks_stays_untrusted() {
    // The lab's CA stands in for Microsoft's root (an expected root) but this host trusts
    // only the proxy's CA: the chain is Microsoft's own, the root is what is missing.
    let opts = LabOptions {
        trust_lab_ca: false,
        ..LabOptions::default()
    };
    let l = lab_with(LabConfig::healthy(), opts).await;
    let report = l.run(CheckId::Imap).await;
    assert_fails(&report, FailureKind::TlsUntrusted, Stage::Tls);
    let f = report.failure.as_ref().unwrap();
    assert!(
        f.detail
            .contains("the chain verifies up to an expected root you declared, which this server does not trust"),
        "{}",
        f.detail
    );
    assert!(
        f.hint.contains("update the root certificates"),
        "{}",
        f.hint
    );
    assert!(!f.detail.contains("inspects TLS"), "{}", f.detail);
    let tls = report.used_attempt().unwrap().tls.clone().unwrap();
    assert!(!tls.trusted);
    assert_eq!(
        (tls.expected_root, tls.expected_root_source),
        (Some(true), Some(RootSource::Declared))
    );
    l.lab.shutdown().await;
}

#[tokio::test]
async fn ece_urls_own_ca_is_never_called_interception() {
    // ECE's URL may chain to any CA: the proxy's CA there is just a CA this host trusts.
    let l = lab(LabConfig::healthy().fault(Endpoint::EceWeb, Fault::InterceptedCert)).await;
    let report = l.run(CheckId::EceUrl).await;
    assert_eq!(report.outcome, Outcome::Pass, "{report:#?}");
    // Not trusted here: untrusted, with the ECE URL's fix, not Microsoft's.
    let opts = LabOptions {
        trust_interceptor: false,
        ..LabOptions::default()
    };
    let l = lab_with(
        LabConfig::healthy().fault(Endpoint::EceWeb, Fault::InterceptedCert),
        opts,
    )
    .await;
    let report = l.run(CheckId::EceUrl).await;
    assert_fails(&report, FailureKind::TlsUntrusted, Stage::Tls);
    let hint = &report.failure.as_ref().unwrap().hint;
    assert!(
        hint.contains("install the root of the CA that issued it"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_certificate_expiring_soon_is_a_warning() {
    let l = lab(LabConfig::healthy().fault(Endpoint::EceWeb, Fault::ExpiringCert(10))).await;
    let report = l.run(CheckId::EceUrl).await;
    assert_eq!(report.outcome, Outcome::Warn, "{report:#?}");
    assert_eq!(report.warnings[0].kind, FailureKind::CertExpiringSoon);
    assert!(
        report.warnings[0].hint.contains("C2"),
        "{}",
        report.warnings[0].hint
    );
    // 60 days left is fine with the default 30-day horizon.
    let l = lab(LabConfig::healthy().fault(Endpoint::EceWeb, Fault::ExpiringCert(60))).await;
    assert_eq!(l.run(CheckId::EceUrl).await.outcome, Outcome::Pass);
}

#[tokio::test]
async fn sovereign_cloud_profiles_probe_their_own_hosts() {
    use eceprobe_checks::{catalog, Cloud};
    let hosts = Cloud::GccHigh.hosts();
    let lab_hosts = eceprobe_testlab::Hostnames {
        login: hosts.login.clone(),
        outlook: hosts.outlook.clone(),
        smtp: hosts.smtp.clone(),
        ece: "ece.agency.example".into(),
    };
    let mut l = lab(LabConfig::healthy().hostnames(lab_hosts)).await;
    l.specs = catalog(&hosts, "agency.onmicrosoft.us", None);
    let suite = l.prober.suite(&l.specs).await;
    assert!(suite.all_passed(), "{suite:#?}");
    let login = suite
        .checks
        .iter()
        .find(|c| c.check == CheckId::LoginHttps)
        .unwrap();
    assert_eq!(login.host, "login.microsoftonline.us");
    let endpoint = login
        .used_attempt()
        .unwrap()
        .protocol
        .clone()
        .unwrap()
        .token_endpoint;
    assert_eq!(
        endpoint.as_deref(),
        Some("https://login.microsoftonline.us/agency.onmicrosoft.us/oauth2/v2.0/token")
    );
}

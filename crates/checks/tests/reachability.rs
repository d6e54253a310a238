//! Several addresses per name, proxies, and a suite's concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{assert_fails, lab, lab_with, LabOptions, Proxy};
use eceprobe_checks::{AddressSource, CheckId, FailureKind, Outcome, Stage};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, ProxyMode};

#[tokio::test]
async fn some_addresses_failing_is_partial_reachability() {
    let faults = vec![Fault::None, Fault::Refuse, Fault::None, Fault::BlackHole];
    let l = lab(LabConfig::healthy().addresses(Endpoint::Imap, faults)).await;
    let report = l.run(CheckId::Imap).await;
    assert_fails(&report, FailureKind::PartialReachability, Stage::Tcp);
    let detail = &report.failure.as_ref().unwrap().detail;
    assert!(
        detail.starts_with("reachable on 2 of 4 addresses"),
        "{detail}"
    );
    assert!(
        detail.contains("tcp_refused") && detail.contains("tcp_timeout"),
        "{detail}"
    );
    assert_eq!(report.attempts.len(), 4, "every address is probed");
    let used = report.used_attempt().unwrap();
    assert!(
        used.passed(),
        "the details shown are those of a working address"
    );
    assert_eq!(report.dns.as_ref().unwrap().source, AddressSource::Override);
}

#[tokio::test]
async fn all_addresses_failing_reports_the_common_failure() {
    let l = lab(LabConfig::healthy().addresses(Endpoint::Pop3, vec![Fault::Refuse, Fault::Refuse]))
        .await;
    let report = l.run(CheckId::Pop3).await;
    assert_fails(&report, FailureKind::TcpRefused, Stage::Tcp);
    assert_eq!(report.attempts.len(), 2);
}

#[tokio::test]
async fn https_through_a_connect_proxy() {
    let opts = LabOptions {
        proxy: Proxy::Lab,
        ..LabOptions::default()
    };
    let l = lab_with(LabConfig::healthy().proxy(ProxyMode::Allow), opts).await;
    let report = l.run(CheckId::LoginHttps).await;
    assert_eq!(report.outcome, Outcome::Pass, "{report:#?}");
    assert_eq!(
        report.via_proxy,
        Some(l.lab.proxy_addr().unwrap().to_string())
    );
    assert_eq!(report.dns.as_ref().unwrap().source, AddressSource::Proxy);
    let stages: Vec<Stage> = report
        .used_attempt()
        .unwrap()
        .stages
        .iter()
        .map(|s| s.stage)
        .collect();
    assert_eq!(
        stages,
        vec![Stage::Tcp, Stage::Proxy, Stage::Tls, Stage::Protocol]
    );
    assert!(l
        .lab
        .proxy_connects()
        .contains(&"login.microsoftonline.com:443".to_string()));
    // Mail protocols never go through an HTTP proxy (ECE does not send them there).
    let imap = l.run(CheckId::Imap).await;
    assert_eq!(imap.via_proxy, None);
}

#[tokio::test]
async fn proxy_refusals_have_their_own_kinds() {
    for (mode, kind) in [
        (ProxyMode::Deny403, FailureKind::ProxyDenied),
        (ProxyMode::RequireAuth407, FailureKind::ProxyAuthRequired),
    ] {
        let opts = LabOptions {
            proxy: Proxy::Lab,
            ..LabOptions::default()
        };
        let l = lab_with(LabConfig::healthy().proxy(mode), opts).await;
        assert_fails(&l.run(CheckId::LoginHttps).await, kind, Stage::Proxy);
    }
}

#[tokio::test]
async fn an_unreachable_proxy_is_named_as_such() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let opts = LabOptions {
        proxy: Proxy::At(closed.to_string()),
        ..LabOptions::default()
    };
    let l = lab_with(LabConfig::healthy(), opts).await;
    let report = l.run(CheckId::LoginHttps).await;
    assert_fails(&report, FailureKind::ProxyUnreachable, Stage::Tcp);
    assert!(report.failure.unwrap().hint.contains("proxy"));
}

#[tokio::test]
async fn a_proxy_that_cannot_reach_the_target_is_upstream_failed() {
    let opts = LabOptions {
        proxy: Proxy::Lab,
        ..LabOptions::default()
    };
    let mut l = lab_with(LabConfig::healthy().proxy(ProxyMode::Allow), opts).await;
    // The lab's proxy knows no such host and answers 502, as a real one does when its own
    // DNS or firewall fails.
    l.specs = eceprobe_checks::catalog(
        &eceprobe_checks::Cloud::Global.hosts(),
        "common",
        Some("https://unknown.example.org/"),
    );
    let report = l.run(CheckId::EceUrl).await;
    assert_fails(&report, FailureKind::ProxyUpstreamFailed, Stage::Proxy);
    assert!(report.failure.unwrap().detail.contains("502"));
}

#[tokio::test]
async fn a_suite_runs_its_checks_concurrently() {
    let delay = Duration::from_millis(300);
    let cfg = LabConfig::healthy()
        .fault(Endpoint::Imap, Fault::Delay(delay))
        .fault(Endpoint::Pop3, Fault::Delay(delay))
        .fault(Endpoint::Smtp, Fault::Delay(delay));
    let l = lab(cfg).await;
    let suite = l.prober.suite(&l.specs).await;
    assert!(suite.all_passed(), "{suite:#?}");
    let sum: u64 = suite.checks.iter().map(|c| c.duration_us).sum();
    let slowest = suite.checks.iter().map(|c| c.duration_us).max().unwrap();
    assert!(slowest >= 300_000, "the delayed checks took their delay");
    assert!(
        suite.duration_us < sum,
        "a suite takes about its slowest check ({slowest} us), not the sum ({sum} us): {} us",
        suite.duration_us
    );
}

//! Handshakes whose answer never comes: a stall (the ClientHello went out, not one byte
//! back) is `tls_stalled` after a retry with a small MSS; a server that answered and then
//! went silent is still `tls_timeout`; through a proxy the retry is skipped, saying why.
//! (The retry that gets through, an MTU black hole, needs a path with a small MTU: see
//! `crates/agent/tests/mtu_netns.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_fails, lab, lab_with, test_timeouts, LabOptions, Proxy};
use eceprobe_checks::{
    catalog, CheckId, Cloud, FailureKind, ProbeSettings, Prober, Stage, Trust, TrustOptions,
};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, ProxyMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_server_that_never_answers_the_client_hello_is_a_stall() {
    let l = lab(LabConfig::healthy().fault(Endpoint::Imap, Fault::Silent)).await;
    let report = l.run(CheckId::Imap).await;
    assert_fails(&report, FailureKind::TlsStalled, Stage::Tls);
    let failure = report.failure.unwrap();
    for fact in [
        "the ClientHello (",
        "bytes) went out but not one byte of the server's TLS answer arrived within 2000 ms",
        "a retry with MSS 536 stalled too: the server's TLS answer never arrived",
    ] {
        assert!(failure.detail.contains(fact), "{fact}: {}", failure.detail);
    }
    assert!(failure.hint.contains("IPS"), "{}", failure.hint);
    // The stage's time is the first handshake's; the retry is not counted in it.
    let tls = report.attempts[0].stages.last().unwrap();
    assert_eq!((tls.stage, tls.ok), (Stage::Tls, false));
    assert!(tls.duration_us < 3_000_000, "{}", tls.duration_us);
    // Then the path is traced: on loopback the first SYN is the server's (a SYN-ACK), so
    // TCP gets through and what drops TLS is not a port rule.
    let path = report.attempts[0].path.as_ref().expect("a path trace");
    if cfg!(target_os = "linux") {
        assert_eq!(path.method, "tcp_syn_ttl", "{path:?}");
        assert!(
            path.verdict
                .contains("is accepted (SYN-ACK): the TCP path to"),
            "{}",
            path.verdict
        );
        assert_eq!(path.hops.len(), 1, "{path:?}");
        assert!(
            failure.detail.contains("; path: SYN to "),
            "{}",
            failure.detail
        );
        assert_eq!(failure.device, None);
    }
}

#[tokio::test]
async fn a_server_that_answered_then_went_silent_is_a_timeout() {
    // Reads the ClientHello, sends the first bytes of a handshake record, then holds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut hello = [0u8; 4096];
                let _ = tcp.read(&mut hello).await;
                let _ = tcp.write_all(&[0x16, 0x03, 0x03, 0x00, 0x7a]).await;
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            });
        }
    });
    let mut settings = ProbeSettings {
        timeouts: test_timeouts(),
        ..ProbeSettings::default()
    };
    let over = format!("outlook.office365.com:993:127.0.0.1:{}", addr.port());
    settings.overrides.add_spec(&over).unwrap();
    let trust = Trust::new(&TrustOptions::default()).unwrap();
    let prober = Prober::new(settings, trust);
    let specs = catalog(&Cloud::Global.hosts(), "common", None);
    let imap = specs.iter().find(|s| s.id == CheckId::Imap).unwrap();
    let report = prober.check(imap).await;
    assert_fails(&report, FailureKind::TlsTimeout, Stage::Tls);
    let detail = report.failure.unwrap().detail;
    assert!(
        detail.contains(
            "no TLS handshake within 2000 ms (the server sent 5 bytes, then nothing more)"
        ),
        "{detail}"
    );
}

#[tokio::test]
async fn through_a_proxy_the_small_mss_retry_is_skipped() {
    let cfg = LabConfig::healthy()
        .fault(Endpoint::OutlookHttps, Fault::Silent)
        .proxy(ProxyMode::Allow);
    let opts = LabOptions {
        proxy: Proxy::Lab,
        ..LabOptions::default()
    };
    let l = lab_with(cfg, opts).await;
    let report = l.run(CheckId::OutlookHttps).await;
    assert_fails(&report, FailureKind::TlsStalled, Stage::Tls);
    let detail = report.failure.unwrap().detail;
    assert!(
        detail.contains("not retried with a small MSS: the connection goes through the proxy"),
        "{detail}"
    );
}

//! Hostile or broken servers: endless lines, huge banners, one byte at a time. Each must
//! fail with a clear kind within its stage timeout, having read no more than the bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{assert_fails, lab, test_timeouts};
use eceprobe_checks::{CheckId, FailureKind, ProbeSettings, Stage};
use eceprobe_testlab::{Endpoint, Fault, LabConfig};

/// The bounds the probes use (ProbeSettings' defaults), plus one read chunk of slack.
fn max_line() -> u64 {
    ProbeSettings::default().lines.max_line as u64
}
fn max_total() -> u64 {
    ProbeSettings::default().lines.max_total + 4096
}

#[tokio::test]
async fn endless_line_stops_at_the_line_bound() {
    for (endpoint, check, stage) in [
        (Endpoint::Imap, CheckId::Imap, Stage::Protocol),
        (Endpoint::Pop3, CheckId::Pop3, Stage::Protocol),
        (Endpoint::Smtp, CheckId::Smtp, Stage::Starttls),
    ] {
        let l = lab(LabConfig::healthy().fault(endpoint, Fault::EndlessLine)).await;
        let report = l.run(check).await;
        assert_fails(&report, FailureKind::ProtocolLineTooLong, stage);
        let got = report
            .used_attempt()
            .unwrap()
            .protocol
            .as_ref()
            .unwrap()
            .bytes_received;
        assert!(
            got <= max_line(),
            "{check}: read {got} bytes of an endless line"
        );
    }
}

#[tokio::test]
async fn ten_megabyte_banner_stops_at_the_dialog_bound() {
    for (endpoint, check, stage) in [
        (Endpoint::Imap, CheckId::Imap, Stage::Protocol),
        (Endpoint::Smtp, CheckId::Smtp, Stage::Starttls),
    ] {
        let l = lab(LabConfig::healthy().fault(endpoint, Fault::HugeBanner(10 << 20))).await;
        let report = l.run(check).await;
        let failure = report.failure.clone().unwrap();
        // IMAP's banner lines are untagged responses, so the bound that trips is the total;
        // SMTP's are 220- continuation lines of one reply.
        assert_eq!(
            failure.kind,
            FailureKind::ProtocolTooMuchData,
            "{check}: {failure:?}"
        );
        assert_eq!(failure.stage, stage);
        let got = report
            .used_attempt()
            .unwrap()
            .protocol
            .as_ref()
            .unwrap()
            .bytes_received;
        assert!(
            got <= max_total(),
            "{check}: read {got} bytes of a 10 MB banner"
        );
    }
}

#[tokio::test]
async fn one_byte_per_interval_times_out_on_the_stage_clock() {
    let l =
        lab(LabConfig::healthy().fault(Endpoint::Imap, Fault::Trickle(Duration::from_millis(200))))
            .await;
    let start = Instant::now();
    let report = l.run(CheckId::Imap).await;
    let took = start.elapsed();
    assert_fails(&report, FailureKind::ProtocolTimeout, Stage::Protocol);
    let limit = test_timeouts().tls + test_timeouts().protocol + Duration::from_secs(1);
    assert!(
        took < limit,
        "a trickling server held the probe for {took:?}"
    );
}

#[tokio::test]
async fn hostile_https_servers_are_bounded_too() {
    for (fault, kind) in [
        (
            Fault::HugeBanner(10 << 20),
            FailureKind::ProtocolTooMuchData,
        ),
        // Endless 'A's are not an HTTP status line: refused at once, nothing buffered.
        (Fault::EndlessLine, FailureKind::ProtocolUnexpected),
        (Fault::Garbage, FailureKind::ProtocolUnexpected),
        (
            Fault::Trickle(Duration::from_millis(200)),
            FailureKind::ProtocolTimeout,
        ),
    ] {
        let l = lab(LabConfig::healthy().fault(Endpoint::Login, fault.clone())).await;
        let start = Instant::now();
        let report = l.run(CheckId::LoginHttps).await;
        assert_fails(&report, kind, Stage::Protocol);
        let limit = test_timeouts().tls + test_timeouts().protocol + Duration::from_secs(1);
        assert!(
            start.elapsed() < limit,
            "{fault:?} held the probe {:?}",
            start.elapsed()
        );
    }
}

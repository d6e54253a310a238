//! A path that works but slowly: a server whose every answer on 993 waits 1.5 s passes,
//! with a `slow` warning that names the stage and the figure against its budget; a healthy
//! lab flags nothing of the kind, round after round, and each address carries its
//! connection's round trip and retransmissions (Linux). Real sockets, testlab on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{lab, lab_timed, LabOptions};
use eceprobe_checks::{CheckId, FailureKind, Outcome, Stage, SuiteReport, Timeouts};
use eceprobe_testlab::{Endpoint, Fault, LabConfig};

/// The kinds a healthy path must never raise.
const PATH_KINDS: [FailureKind; 3] = [
    FailureKind::Slow,
    FailureKind::PacketLoss,
    FailureKind::DnsSlow,
];

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_on_993_waiting_1_5_s_is_a_slow_warning_naming_the_stage() {
    let cfg = LabConfig::healthy().fault(Endpoint::Imap, Fault::Delay(Duration::from_millis(1500)));
    // The agent's own timeouts: the delayed server is slow, not down.
    let l = lab_timed(cfg, LabOptions::default(), Timeouts::default()).await;
    let report = l.run(CheckId::Imap).await;
    assert_eq!(report.outcome, Outcome::Warn, "{report:#?}");
    assert!(report.failure.is_none(), "{report:#?}");
    let slow = report
        .warnings
        .iter()
        .find(|w| w.kind == FailureKind::Slow)
        .unwrap_or_else(|| panic!("no slow warning: {report:#?}"));
    assert_eq!(slow.stage, Stage::Tls, "{slow:#?}");
    assert!(
        slow.detail.starts_with("the TLS handshake took 1.5")
            && slow.detail.contains("(its budget is 1 s)")
            && slow.detail.contains("the protocol dialog took ")
            && slow.detail.contains("(its budget is 3 s)"),
        "{}",
        slow.detail
    );
    assert!(
        slow.hint.contains("took longer than its budget") && slow.hint.contains("(C10)"),
        "{}",
        slow.hint
    );
    // Only IMAP's server is delayed: POP3 on the same host is not slow.
    let pop3 = l.run(CheckId::Pop3).await;
    assert_eq!(pop3.outcome, Outcome::Pass, "{pop3:#?}");
}

/// The checks of a suite that raised one of the path kinds, as "check: kind: detail".
fn flagged(suite: &SuiteReport) -> Vec<String> {
    suite
        .checks
        .iter()
        .flat_map(|c| c.warnings.iter().map(move |w| (c, w)))
        .filter(|(_, w)| PATH_KINDS.contains(&w.kind))
        .map(|(c, w)| format!("{}: {}: {}", c.check, w.kind, w.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_lab_flags_no_slowness_nor_loss() {
    let l = lab(LabConfig::healthy()).await;
    for round in 0..3 {
        let suite = l.prober.suite(&l.specs).await;
        assert!(suite.all_passed(), "{suite:#?}");
        assert_eq!(flagged(&suite), Vec::<String>::new(), "round {round}");
        if cfg!(target_os = "linux") {
            for c in &suite.checks {
                for a in &c.attempts {
                    let tcp = a
                        .tcp_info
                        .unwrap_or_else(|| panic!("{}: no TCP_INFO", c.check));
                    // A busy machine's loopback may see a tail loss probe (a retransmission
                    // the peer already had); never loss.
                    assert!(tcp.segments_out > 0, "{}: {tcp:?}", c.check);
                    assert!(tcp.rtt_us > 0, "{}: {tcp:?}", c.check);
                }
            }
        }
    }
}

/// The false-positive figure of docs/BENCHMARKS.md: the whole catalog against the healthy
/// lab, `ECEPROBE_ROUNDS` times (100 by default), counting every `slow`, `packet_loss` and
/// `dns_slow`. `cargo test -p eceprobe-checks --test slow -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run by hand for docs/BENCHMARKS.md"]
async fn false_positive_rate_against_the_healthy_lab() {
    let rounds: usize = std::env::var("ECEPROBE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let l = lab(LabConfig::healthy()).await;
    let (mut checks, mut seen) = (0usize, Vec::new());
    // The margin: the slowest each stage was, and the most retransmissions, of any check.
    let mut slowest: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut retransmits, mut spurious) = (0u32, 0u32);
    for _ in 0..rounds {
        let suite = l.prober.suite(&l.specs).await;
        checks += suite.checks.len();
        seen.extend(flagged(&suite));
        for a in suite.checks.iter().flat_map(|c| &c.attempts) {
            for s in &a.stages {
                let max = slowest.entry(s.stage.to_string()).or_default();
                *max = (*max).max(s.duration_us);
            }
            if let Some(t) = a.tcp_info {
                retransmits = retransmits.max(t.retransmits);
                spurious = spurious.max(t.spurious);
            }
        }
    }
    println!(
        "false positives: {} of {checks} checks in {rounds} rounds of the catalog",
        seen.len()
    );
    for (stage, us) in &slowest {
        println!("  slowest {stage}: {:.1} ms", *us as f64 / 1000.0);
    }
    println!("  most retransmissions on one connection: {retransmits} ({spurious} spurious)");
    for s in &seen {
        println!("  {s}");
    }
    assert!(seen.is_empty());
}

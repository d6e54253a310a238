//! The gap engine's tests of the probe's path warnings: `slow`, `packet_loss` and `dns_slow`
//! become warning findings, and a check the agent called slow is not called slow twice.

use super::tests::{agent, all_pass, NOW};
use super::*;

#[test]
fn the_probes_path_warnings_are_warning_findings_once_each() {
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks[0].warning_kinds = vec!["slow".into()];
    // Slow by the agent's budget and by the policy's slow_ms: one finding.
    checks[0].duration_us = 6_000_000;
    checks[1].warning_kinds = vec!["packet_loss".into(), "dns_slow".into()];
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    assert!(
        found.iter().all(|f| f.severity == Severity::Warning),
        "{found:?}"
    );
    let of = |check: &CheckName| {
        found
            .iter()
            .filter(|f| &f.check == check)
            .map(|f| (f.kind, f.detail.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&checks[0].check), [(FindingKind::Slow, "slow")]);
    assert_eq!(
        of(&checks[1].check),
        [
            (FindingKind::PacketLoss, "packet_loss"),
            (FindingKind::DnsSlow, "dns_slow")
        ]
    );
    assert_eq!(FindingKind::PacketLoss.as_str(), "packet_loss");
    assert_eq!(FindingKind::DnsSlow.as_str(), "dns_slow");
}

//! The gap engine's tests of silence: what a silent agent keeps (last known failures and
//! missing checks) and what the collector's own downtime does not count.

use super::tests::{agent, all_pass, check, gaps, NOW};
use super::*;

#[test]
fn a_silent_agent_keeps_its_last_known_failures_beside_the_stale_gaps() {
    let mut silent = agent("app", Role::Application);
    silent.seen_unix_ms = NOW - 10 * 60_000;
    let mut checks = all_pass("app");
    checks[4] = check("app", CheckId::Smtp, "fail");
    let found = evaluate(&Policy::default(), &[silent], &checks, NOW);
    let smtp: Vec<_> = found
        .iter()
        .filter(|g| g.check == CheckId::Smtp.into())
        .collect();
    assert_eq!(smtp.len(), 2, "{smtp:?}");
    // A check never reported stays missing too, as last known.
    let mut partial = checks.clone();
    partial.retain(|c| c.check.id() != CheckId::Pop3);
    let mut silent_again = agent("app", Role::Application);
    silent_again.seen_unix_ms = NOW - 10 * 60_000;
    let again = evaluate(&Policy::default(), &[silent_again], &partial, NOW);
    let missing = again
        .iter()
        .find(|g| g.kind == FindingKind::Missing)
        .expect("missing stays");
    assert_eq!(missing.check, CheckId::Pop3.into());
    assert_eq!(
        missing.detail,
        "never reported (last known; agent silent since 2027-01-15 07:50Z)"
    );
    assert!(smtp.iter().any(|g| g.kind == FindingKind::Stale));
    let failing = smtp
        .iter()
        .find(|g| g.kind == FindingKind::Failing)
        .expect("the known failure stays open");
    assert_eq!(failing.severity, Severity::Gap);
    assert_eq!(
        failing.detail,
        "tcp_refused (last known; agent silent since 2027-01-15 07:50Z)"
    );
    let stale = smtp.iter().find(|g| g.kind == FindingKind::Stale).unwrap();
    assert!(
        stale
            .detail
            .ends_with("while the collector was up; last heard 2027-01-15 07:50Z"),
        "{}",
        stale.detail
    );
}

/// The collector's own downtime: the 34 s outage and restart of the field report.
#[test]
fn the_collectors_downtime_is_not_an_agents_silence() {
    use crate::store::AwakeSpan;
    let policy = Policy::default();
    let window = 3 * 60_000;
    let killed = NOW - 60_000;
    let restarted = killed + 34_000;
    let awake = Awake::from_spans(vec![
        AwakeSpan {
            started_unix_ms: NOW - 3_600_000,
            alive_unix_ms: killed,
        },
        AwakeSpan {
            started_unix_ms: restarted,
            alive_unix_ms: restarted,
        },
    ]);
    // Heard 5 s before the kill, still backing off to reconnect.
    let mut backing_off = agent("app", Role::Application);
    backing_off.seen_unix_ms = killed - 5_000;
    let mut checks = all_pass("app");
    checks[2] = check("app", CheckId::Imap, "fail");
    // Just under the window of the collector's awake time after the restart: not stale,
    // and the known failure is as measured, not "last known".
    let at = restarted + window - 5_000 - 1;
    let found = evaluate_awake(&policy, &[backing_off.clone()], &checks, at, &awake);
    assert_eq!(
        gaps(&found),
        vec![("app".into(), CheckId::Imap.into(), FindingKind::Failing)]
    );
    assert_eq!(found[0].detail, "tcp_refused");
    // Counted on the wall clock it would have been stale: 34 s of downtime in it.
    assert!(evaluate(&policy, &[backing_off.clone()], &checks, at)
        .iter()
        .any(|g| g.kind == FindingKind::Stale));
    // Past the window of awake time it is stale.
    let found = evaluate_awake(&policy, &[backing_off], &checks, at + 2, &awake);
    assert!(found.iter().any(|g| g.kind == FindingKind::Stale));

    // An agent that was already stale before the outage stays stale through the restart:
    // its stale gaps are not closed and reopened by the collector's restart.
    let mut dead = agent("gone", Role::Application);
    dead.seen_unix_ms = killed - 2 * window;
    let found = evaluate_awake(&policy, &[dead], &all_pass("gone"), restarted + 1, &awake);
    assert_eq!(
        found
            .iter()
            .filter(|g| g.kind == FindingKind::Stale)
            .count(),
        5
    );
}

//! The gap engine's retirement tests: a check required only because it is reported (a
//! mailbox's OAuth checks) retires once its agent goes on without it; required ones never do.

use super::*;

/// The stale window of the test agents: 3 intervals of 60 s.
const WINDOW: i64 = 3 * 60_000;

fn received(mut c: CheckView, at: i64) -> CheckView {
    c.received_unix_ms = at;
    c
}

#[test]
fn a_mailbox_check_the_agent_stopped_reporting_is_retired() {
    let agents = [agent("svc", Role::Services)];
    // The agent reports its catalog checks every cycle (the last a second ago), but the
    // mailbox's checks and ece-config not for over a stale window: removed from its
    // configuration. Failing, warning or slow, they raise nothing.
    let long_ago = NOW - 1000 - WINDOW - 1;
    let mut checks = all_pass("svc");
    let mut token = received(oauth("svc", TOKEN, "warn", None), long_ago);
    token.warning_kinds = vec!["offline_access_missing".into()];
    token.duration_us = 60_000_000;
    checks.push(token);
    let imap = oauth("svc", IMAP, "fail", Some("mailbox_not_connected"));
    checks.push(received(imap, long_ago));
    let mut ece = received(check("svc", CheckId::EceConfig, "fail"), long_ago);
    ece.failure_kind = Some("ece_es_too_old".into());
    checks.push(ece);
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    assert!(found.is_empty(), "{found:?}");
    let gone = retired(&Policy::default(), &agents, &checks);
    let mut gone: Vec<String> = gone.iter().map(|(_, c)| c.to_string()).collect();
    gone.sort();
    assert_eq!(gone, ["ece-config", IMAP, TOKEN]);
    // Another agent's newer results do not retire this one's checks.
    let other = agent("app", Role::Application);
    let only_old = vec![received(
        oauth("svc", IMAP, "fail", Some("mailbox_not_connected")),
        long_ago,
    )];
    let mut fleet = only_old.clone();
    fleet.extend(all_pass("app"));
    let found = gaps(&evaluate(
        &Policy::default(),
        &[agent("svc", Role::Services), other],
        &fleet,
        NOW,
    ));
    assert!(
        found.contains(&(
            "svc".into(),
            CheckName::parse(IMAP).unwrap(),
            FindingKind::Failing
        )),
        "{found:?}"
    );
}

#[test]
fn a_mailbox_check_reported_within_the_stale_window_is_still_a_gap() {
    let agents = [agent("svc", Role::Services)];
    let imap = CheckName::parse(IMAP).unwrap();
    // Exactly a stale window older than the agent's newest result, and a cycle older.
    for at in [NOW - 1000 - WINDOW, NOW - 61_000] {
        let mut checks = all_pass("svc");
        let failing = oauth("svc", IMAP, "fail", Some("mailbox_not_connected"));
        checks.push(received(failing, at));
        let found = evaluate(&Policy::default(), &agents, &checks, NOW);
        assert_eq!(
            gaps(&found),
            vec![("svc".into(), imap.clone(), FindingKind::Failing)],
            "received at NOW - {} ms",
            NOW - at
        );
        assert_eq!(found[0].detail, "mailbox_not_connected");
    }
    // A cycle slower than the stale window delivers the mailbox with the rest: the agent
    // has nothing newer, so nothing is retired however long ago that was.
    let checks: Vec<CheckView> = all_pass("svc")
        .into_iter()
        .chain([oauth("svc", IMAP, "fail", Some("mailbox_not_connected"))])
        .map(|c| received(c, NOW - 2 * WINDOW))
        .collect();
    let mut slow = agent("svc", Role::Services);
    slow.seen_unix_ms = NOW - 1000; // heartbeating meanwhile
    let found = gaps(&evaluate(&Policy::default(), &[slow], &checks, NOW));
    assert_eq!(found, vec![("svc".into(), imap, FindingKind::Failing)]);
}

#[test]
fn a_stale_agent_lists_its_recent_mailbox_checks_but_not_the_retired_ones() {
    let mut silent = agent("svc", Role::Services);
    silent.seen_unix_ms = NOW - 10 * 60_000;
    let last = silent.seen_unix_ms;
    // Its last cycle had the catalog checks and one mailbox; another mailbox had been
    // removed well before it went silent.
    let mut checks: Vec<CheckView> = all_pass("svc")
        .into_iter()
        .map(|c| received(c, last))
        .collect();
    checks.push(received(oauth("svc", TOKEN, "pass", None), last));
    checks.push(received(oauth("svc", IMAP, "fail", None), last));
    let removed = "oauth-imap/old@contoso.com";
    checks.push(received(
        oauth("svc", removed, "fail", None),
        last - WINDOW - 1,
    ));
    let found = gaps(&evaluate(&Policy::default(), &[silent], &checks, NOW));
    // The kept mailbox's failing login stays, as last known, beside its stale gap.
    let imap = CheckName::parse(IMAP).unwrap();
    assert!(found.contains(&("svc".into(), imap, FindingKind::Failing)));
    assert!(
        found
            .iter()
            .filter(|g| g.2 != FindingKind::Failing)
            .all(|g| g.2 == FindingKind::Stale),
        "{found:?}"
    );
    assert_eq!(
        found.len(),
        5 + 2 + 1,
        "the catalog and the kept mailbox stale, its failure last known: {found:?}"
    );
    for name in [TOKEN, IMAP] {
        let name = CheckName::parse(name).unwrap();
        assert!(found.contains(&("svc".into(), name, FindingKind::Stale)));
    }
    assert!(
        !found.iter().any(|g| g.1.to_string() == removed),
        "{found:?}"
    );
}

#[test]
fn a_catalog_check_the_role_requires_never_retires() {
    // imap's latest result is far older than the rest: still evaluated (failing).
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks[2] = received(check("svc", CheckId::Imap, "fail"), NOW - 10 * WINDOW);
    let found = gaps(&evaluate(&Policy::default(), &agents, &checks, NOW));
    assert_eq!(
        found,
        vec![("svc".into(), CheckId::Imap.into(), FindingKind::Failing)]
    );
    // A catalog check the role does not require stays a warning however old.
    checks[2] = check("svc", CheckId::Imap, "pass");
    checks.push(received(
        check("svc", CheckId::EceUrl, "fail"),
        NOW - 10 * WINDOW,
    ));
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].check.id(), found[0].severity),
        (CheckId::EceUrl, Severity::Warning)
    );
    assert!(retired(&Policy::default(), &agents, &checks).is_empty());
}

#[test]
fn a_protocol_check_is_not_retired_while_the_token_fails() {
    // The token has failed for longer than the window: the agent skips the logins, so imap
    // has not been tested since it failed. It keeps its last state: still a gap.
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks.push(oauth("svc", TOKEN, "fail", Some("invalid_client")));
    let imap = oauth("svc", IMAP, "fail", Some("mailbox_not_connected"));
    checks.push(received(imap, NOW - 1000 - 5 * WINDOW));
    let found = gaps(&evaluate(&Policy::default(), &agents, &checks, NOW));
    let (token, imap) = (
        CheckName::parse(TOKEN).unwrap(),
        CheckName::parse(IMAP).unwrap(),
    );
    assert_eq!(
        found,
        vec![
            ("svc".into(), token, FindingKind::Failing),
            ("svc".into(), imap, FindingKind::Failing),
        ]
    );
    assert!(retired(&Policy::default(), &agents, &checks).is_empty());
}

#[test]
fn a_protocol_check_the_passing_token_runs_without_is_retired() {
    // The token passes every cycle, imap not for over a window: removed from `protocols`.
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks.push(oauth("svc", TOKEN, "pass", None));
    let imap = oauth("svc", IMAP, "fail", Some("mailbox_not_connected"));
    checks.push(received(imap, NOW - 1000 - WINDOW - 1));
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    assert!(found.is_empty(), "{found:?}");
    let gone: Vec<String> = retired(&Policy::default(), &agents, &checks)
        .iter()
        .map(|(_, c)| c.to_string())
        .collect();
    assert_eq!(gone, [IMAP]);
    // Within the window of the token's result, it is still evaluated.
    let n = checks.len();
    checks[n - 1].received_unix_ms = NOW - 1000 - WINDOW;
    let found = gaps(&evaluate(&Policy::default(), &agents, &checks, NOW));
    assert_eq!(
        found,
        vec![(
            "svc".into(),
            CheckName::parse(IMAP).unwrap(),
            FindingKind::Failing
        )]
    );
}

#[test]
fn a_removed_mailbox_retires_its_token_and_protocol_checks() {
    // Neither the token nor imap for over a window, the token failing last: both retired.
    let agents = [agent("svc", Role::Services)];
    let long_ago = NOW - 1000 - WINDOW - 1;
    for token_outcome in ["fail", "pass"] {
        let mut checks = all_pass("svc");
        let kind = (token_outcome == "fail").then_some("invalid_client");
        checks.push(received(oauth("svc", TOKEN, token_outcome, kind), long_ago));
        let imap = oauth("svc", IMAP, "fail", Some("mailbox_not_connected"));
        checks.push(received(imap, long_ago - 2 * WINDOW));
        let found = evaluate(&Policy::default(), &agents, &checks, NOW);
        assert!(found.is_empty(), "{token_outcome}: {found:?}");
        let mut gone: Vec<String> = retired(&Policy::default(), &agents, &checks)
            .iter()
            .map(|(_, c)| c.to_string())
            .collect();
        gone.sort();
        assert_eq!(gone, [IMAP, TOKEN], "{token_outcome}");
    }
}

//! The gap engine's tests: pure, with explicit timestamps.

use super::*;

pub(super) const NOW: i64 = 1_800_000_000_000;

pub(super) fn agent(id: &str, role: Role) -> AgentView {
    AgentView {
        agent_id: id.into(),
        role,
        deployment: "prod".into(),
        probe_interval_s: 60,
        seen_unix_ms: NOW - 1000,
        first_seen_unix_ms: NOW - 3_600_000,
    }
}

pub(super) fn check(agent: &str, check: CheckId, outcome: &str) -> CheckView {
    CheckView {
        agent_id: agent.into(),
        check: check.into(),
        outcome: outcome.into(),
        failure_kind: (outcome == "fail").then(|| "tcp_refused".to_string()),
        warning_kinds: Vec::new(),
        duration_us: 20_000,
        received_unix_ms: NOW - 1000,
        not_microsoft: None,
    }
}

pub(super) fn all_pass(agent: &str) -> Vec<CheckView> {
    CheckId::REQUIRED_BY_DEFAULT
        .into_iter()
        .map(|c| check(agent, c, "pass"))
        .collect()
}

pub(super) fn gaps(f: &[GapFinding]) -> Vec<(String, CheckName, FindingKind)> {
    f.iter()
        .filter(|g| g.severity == Severity::Gap)
        .map(|g| (g.agent_id.clone(), g.check.clone(), g.kind))
        .collect()
}

#[test]
fn names_match_the_serde_names() {
    for k in [
        FindingKind::Failing,
        FindingKind::Missing,
        FindingKind::Stale,
        FindingKind::Slow,
        FindingKind::CertExpiring,
        FindingKind::Intercepted,
        FindingKind::JavaTruststoreIncomplete,
        FindingKind::TokenLifetimeUnexpected,
        FindingKind::OfflineAccessMissing,
        FindingKind::RefreshBlockedOnServices,
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
    for s in [Severity::Gap, Severity::Warning] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
}

#[test]
fn a_healthy_fleet_has_no_findings() {
    let agents = [
        agent("svc", Role::Services),
        agent("app", Role::Application),
    ];
    let checks = [all_pass("svc"), all_pass("app")].concat();
    assert!(evaluate(&Policy::default(), &agents, &checks, NOW).is_empty());
}

#[test]
fn failing_missing_and_stale_are_gaps() {
    let mut silent = agent("old", Role::Application);
    silent.seen_unix_ms = NOW - 4 * 60_000;
    let agents = [
        agent("svc", Role::Services),
        agent("app", Role::Application),
        silent,
    ];
    let mut checks = all_pass("svc");
    checks[2] = check("svc", CheckId::Imap, "fail");
    let mut app = all_pass("app");
    app.retain(|c| c.check.id() != CheckId::Pop3);
    checks.extend(app);
    let found = gaps(&evaluate(&Policy::default(), &agents, &checks, NOW));
    assert!(found.contains(&("svc".into(), CheckId::Imap.into(), FindingKind::Failing)));
    assert!(found.contains(&("app".into(), CheckId::Pop3.into(), FindingKind::Missing)));
    assert_eq!(
        found
            .iter()
            .filter(|g| g.0 == "old" && g.2 == FindingKind::Stale)
            .count(),
        5
    );
    // The silent agent never reported anything: its checks are missing as well, as last
    // known (they were missing before it fell silent, and nothing says otherwise).
    assert_eq!(
        found
            .iter()
            .filter(|g| g.0 == "old" && g.2 == FindingKind::Missing)
            .count(),
        5
    );
    assert_eq!(found.len(), 12);
}

#[test]
fn a_new_agent_has_its_stale_window_to_report_before_checks_are_missing() {
    let mut fresh = agent("new", Role::Services);
    fresh.first_seen_unix_ms = NOW - 60_000;
    let checks = vec![check("new", CheckId::Imap, "fail")];
    let found = gaps(&evaluate(
        &Policy::default(),
        &[fresh.clone()],
        &checks,
        NOW,
    ));
    assert_eq!(
        found,
        vec![("new".into(), CheckId::Imap.into(), FindingKind::Failing)]
    );
    fresh.first_seen_unix_ms = NOW - 4 * 60_000;
    let found = gaps(&evaluate(&Policy::default(), &[fresh], &checks, NOW));
    assert_eq!(found.len(), 5, "four missing and one failing: {found:?}");
}

#[test]
fn the_retriever_policy_relaxes_pop3() {
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks[3] = check("svc", CheckId::Pop3, "fail");
    let policy = Policy::from_toml("retriever = \"imap\"").unwrap();
    let found = evaluate(&policy, &agents, &checks, NOW);
    assert!(gaps(&found).is_empty());
    assert_eq!(
        found[0].severity,
        Severity::Warning,
        "still shown, as a warning"
    );
}

#[test]
fn warnings_for_interception_expiry_and_slowness() {
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks[0].warning_kinds = vec!["tls_intercepted".into()];
    checks[1].warning_kinds = vec!["cert_expiring_soon".into()];
    checks[2].duration_us = 6_000_000;
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    let kinds: Vec<FindingKind> = found.iter().map(|f| f.kind).collect();
    assert_eq!(
        found.iter().filter(|f| f.severity == Severity::Gap).count(),
        0
    );
    for k in [
        FindingKind::Intercepted,
        FindingKind::CertExpiring,
        FindingKind::Slow,
    ] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
}

#[test]
fn refresh_blocked_on_the_services_server_is_a_deployment_gap() {
    let agents = [
        agent("svc", Role::Services),
        agent("app", Role::Application),
    ];
    let mut checks = all_pass("svc");
    checks[0] = check("svc", CheckId::LoginHttps, "fail");
    checks.extend(all_pass("app"));
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    let refresh: Vec<_> = found
        .iter()
        .filter(|f| f.kind == FindingKind::RefreshBlockedOnServices)
        .collect();
    assert_eq!(refresh.len(), 1);
    assert_eq!(refresh[0].agent_id, "svc");
    assert!(refresh[0].detail.contains("app"), "{}", refresh[0].detail);
}

fn oauth(agent: &str, name: &str, outcome: &str, kind: Option<&str>) -> CheckView {
    CheckView {
        agent_id: agent.into(),
        check: CheckName::parse(name).unwrap(),
        outcome: outcome.into(),
        failure_kind: kind.map(str::to_owned),
        warning_kinds: Vec::new(),
        duration_us: 300_000,
        received_unix_ms: NOW - 1000,
        not_microsoft: None,
    }
}

const IMAP: &str = "oauth-imap/ece-mail@contoso.com";
const TOKEN: &str = "oauth-token/ece-mail@contoso.com";

#[test]
fn a_failing_mailbox_check_is_a_gap_whatever_the_role_requires() {
    // The policy requires nothing of services servers: the mailbox check still is.
    let policy = Policy::from_toml("[roles]\nservices = []\n").unwrap();
    let agents = [agent("svc", Role::Services)];
    let checks = vec![
        oauth("svc", TOKEN, "pass", None),
        oauth("svc", IMAP, "fail", Some("mailbox_not_connected")),
        // A catalog check the role does not need stays a warning.
        check("svc", CheckId::Smtp, "fail"),
    ];
    let found = evaluate(&policy, &agents, &checks, NOW);
    let imap = CheckName::parse(IMAP).unwrap();
    assert_eq!(
        gaps(&found),
        vec![("svc".into(), imap.clone(), FindingKind::Failing)]
    );
    let g = found.iter().find(|f| f.check == imap).unwrap();
    assert_eq!(g.detail, "mailbox_not_connected");
    let smtp = found
        .iter()
        .find(|f| f.check.id() == CheckId::Smtp)
        .unwrap();
    assert_eq!(smtp.severity, Severity::Warning);
    assert!(smtp.detail.contains("not required"), "{}", smtp.detail);
}

#[test]
fn a_failing_ece_config_is_a_gap_whatever_the_role_requires() {
    let policy = Policy::from_toml("[roles]\nservices = []\n").unwrap();
    let agents = [agent("svc", Role::Services)];
    let mut ece = check("svc", CheckId::EceConfig, "fail");
    ece.failure_kind = Some("ece_es_too_old".into());
    let found = evaluate(&policy, &agents, &[ece], NOW);
    assert_eq!(
        gaps(&found),
        vec![(
            "svc".into(),
            CheckId::EceConfig.into(),
            FindingKind::Failing
        )]
    );
    assert_eq!(found[0].detail, "ece_es_too_old");
    // Never missing where it was not reported.
    assert!(evaluate(&Policy::default(), &agents, &all_pass("svc"), NOW).is_empty());
}

/// A chain ECE's Java cannot build (`java_untrusted`, `chain_incomplete`) fails its check
/// as a chain this server cannot build does (`tls_untrusted`): a gap where the role needs
/// the check, a warning where it does not.
#[test]
fn java_s_chain_failures_are_gaps_like_tls_untrusted() {
    let policy = Policy::from_toml("retriever = \"imap\"").unwrap();
    let agents = [agent("svc", Role::Services)];
    for kind in ["tls_untrusted", "java_untrusted", "chain_incomplete"] {
        let mut checks = all_pass("svc");
        for c in checks.iter_mut().filter(|c| {
            matches!(
                c.check.id(),
                CheckId::Imap | CheckId::Pop3 | CheckId::OutlookHttps
            )
        }) {
            c.outcome = "fail".into();
            c.failure_kind = Some(kind.into());
        }
        let found = evaluate(&policy, &agents, &checks, NOW);
        let mut failing: Vec<(CheckName, Severity, &str)> = found
            .iter()
            .map(|f| {
                assert_eq!(f.kind, FindingKind::Failing, "{kind}: {f:?}");
                (f.check.clone(), f.severity, f.detail.as_str())
            })
            .collect();
        failing.sort();
        let not_required = format!("{kind} (not required by the policy)");
        assert_eq!(
            failing,
            vec![
                (CheckId::OutlookHttps.into(), Severity::Gap, kind),
                (CheckId::Imap.into(), Severity::Gap, kind),
                (
                    CheckId::Pop3.into(),
                    Severity::Warning,
                    not_required.as_str()
                ),
            ],
            "{kind}"
        );
    }
}

/// `ece-java` is required where it is reported (ECE's Java found), whatever the role: a
/// runtime that cannot speak Microsoft's TLS is a gap; never missing where not reported.
#[test]
fn a_failing_ece_java_is_a_gap_where_reported() {
    let policy = Policy::from_toml("[roles]\nservices = []\n").unwrap();
    let agents = [agent("svc", Role::Services)];
    let mut java = check("svc", CheckId::EceJava, "fail");
    java.failure_kind = Some("java_tls_incompatible".into());
    let found = evaluate(&policy, &agents, &[java], NOW);
    assert_eq!(
        gaps(&found),
        vec![("svc".into(), CheckId::EceJava.into(), FindingKind::Failing)]
    );
    assert_eq!(found[0].detail, "java_tls_incompatible");
    assert!(evaluate(&Policy::default(), &agents, &all_pass("svc"), NOW).is_empty());
}

/// A trust store lacking roots Microsoft publishes breaks ECE at the next rotation, not
/// today: a warning finding of its own kind on `ece-java`, never a gap.
#[test]
fn an_incomplete_java_trust_store_is_a_warning_not_a_gap() {
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    let mut java = check("svc", CheckId::EceJava, "warn");
    java.warning_kinds = vec!["java_truststore_incomplete".into()];
    checks.push(java);
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    assert!(gaps(&found).is_empty(), "{found:?}");
    let warnings: Vec<(CheckName, FindingKind, &str)> = found
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| (f.check.clone(), f.kind, f.detail.as_str()))
        .collect();
    assert_eq!(
        warnings,
        vec![(
            CheckId::EceJava.into(),
            FindingKind::JavaTruststoreIncomplete,
            "java_truststore_incomplete"
        )]
    );
    assert_eq!(
        FindingKind::JavaTruststoreIncomplete.as_str(),
        "java_truststore_incomplete"
    );
}

#[test]
fn mailbox_checks_are_never_missing_but_go_stale_with_their_agent() {
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    checks.push(oauth("svc", TOKEN, "pass", None));
    checks.push(oauth("svc", IMAP, "pass", None));
    // Another server's mailboxes are not this one's.
    checks.push(oauth("app", "oauth-smtp/other@contoso.com", "pass", None));
    assert!(evaluate(&Policy::default(), &agents, &checks, NOW).is_empty());

    let mut silent = agent("svc", Role::Services);
    silent.seen_unix_ms = NOW - 10 * 60_000;
    let found = gaps(&evaluate(&Policy::default(), &[silent], &checks, NOW));
    assert!(found.iter().all(|g| g.2 == FindingKind::Stale), "{found:?}");
    assert_eq!(
        found.len(),
        5 + 2,
        "five catalog checks and two of the mailbox"
    );
    for name in [TOKEN, IMAP] {
        let name = CheckName::parse(name).unwrap();
        assert!(found.contains(&("svc".into(), name, FindingKind::Stale)));
    }
}

#[test]
fn oauth_warnings_are_warning_findings_of_their_kind() {
    let agents = [agent("svc", Role::Services)];
    let mut checks = all_pass("svc");
    let mut token = oauth("svc", TOKEN, "warn", None);
    token.warning_kinds = vec![
        "token_lifetime_unexpected".into(),
        "offline_access_missing".into(),
        "some_future_warning".into(),
    ];
    checks.push(token);
    let found = evaluate(&Policy::default(), &agents, &checks, NOW);
    assert!(gaps(&found).is_empty(), "{found:?}");
    let kinds: Vec<(&str, &str)> = found
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| (f.kind.as_str(), f.detail.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("token_lifetime_unexpected", "token_lifetime_unexpected"),
            ("offline_access_missing", "offline_access_missing"),
        ]
    );
    assert!(found.iter().all(|f| f.check.to_string() == TOKEN));
}

/// Retiring checks a server stopped reporting (a removed mailbox), and what never retires.
#[path = "engine_retire_tests.rs"]
mod retire;

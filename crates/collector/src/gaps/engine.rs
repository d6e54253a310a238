//! The gap engine: from each agent's latest results and the policy, what is missing, failing
//! or stale (gaps) and what is degraded (warnings). Pure: no storage, no clock of its own.
//!
//! The OAuth checks of a mailbox (`oauth-imap/<mailbox>`, see [`crate::checkname`]) are
//! required wherever they are reported, whatever the role: the administrator configured the
//! mailbox because ECE uses it. Their failure is a gap, they go stale with their agent, and
//! they are never missing (the mailboxes are known only from what the agent reports).
//! `ece-config` follows the same rule ([`CheckName::required_when_reported`]): it runs only
//! where the administrator declared ECE facts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use eceprobe_checks::{CheckId, Role};
use serde::Serialize;

use super::policy::Policy;
use crate::checkname::CheckName;

/// What the engine needs to know of an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView {
    pub agent_id: String,
    pub role: Role,
    pub deployment: String,
    pub probe_interval_s: u32,
    pub seen_unix_ms: i64,
    pub first_seen_unix_ms: i64,
}

/// An agent's latest result for one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckView {
    pub agent_id: String,
    pub check: CheckName,
    /// "pass", "warn" or "fail".
    pub outcome: String,
    pub failure_kind: Option<String>,
    pub warning_kinds: Vec<String>,
    pub duration_us: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Gap,
    Warning,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A check fails now.
    Failing,
    /// A required check was never reported.
    Missing,
    /// The agent has been silent for too many intervals.
    Stale,
    /// Passing, but slower than the policy allows.
    Slow,
    CertExpiring,
    Intercepted,
    /// OAuth: the access token does not live the 60 minutes the checklist expects (C3).
    TokenLifetimeUnexpected,
    /// OAuth: the grant returned no new refresh token; `offline_access` is missing (C3).
    OfflineAccessMissing,
    /// The token endpoint works from an application server but not from a services server
    /// of the same deployment: creation works, refresh (which runs there) will not (C8).
    RefreshBlockedOnServices,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Gap => "gap",
            Severity::Warning => "warning",
        }
    }
}

impl FindingKind {
    /// The name used in the store, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Failing => "failing",
            FindingKind::Missing => "missing",
            FindingKind::Stale => "stale",
            FindingKind::Slow => "slow",
            FindingKind::CertExpiring => "cert_expiring",
            FindingKind::Intercepted => "intercepted",
            FindingKind::TokenLifetimeUnexpected => "token_lifetime_unexpected",
            FindingKind::OfflineAccessMissing => "offline_access_missing",
            FindingKind::RefreshBlockedOnServices => "refresh_blocked_on_services",
        }
    }

    /// The warning finding a probe's warning kind gives, on any check; None for a kind
    /// that is shown on the check but is not a finding. The one table of them.
    pub fn of_warning(kind: &str) -> Option<FindingKind> {
        Some(match kind {
            "tls_intercepted" => FindingKind::Intercepted,
            "cert_expiring_soon" => FindingKind::CertExpiring,
            "token_lifetime_unexpected" => FindingKind::TokenLifetimeUnexpected,
            "offline_access_missing" => FindingKind::OfflineAccessMissing,
            _ => return None,
        })
    }
}

/// One gap or warning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GapFinding {
    pub deployment: String,
    pub agent_id: String,
    pub check: CheckName,
    pub severity: Severity,
    pub kind: FindingKind,
    pub detail: String,
}

/// A probe interval of 0 (not declared) counts as the agent default.
const DEFAULT_INTERVAL_S: u32 = 60;

pub fn evaluate(
    policy: &Policy,
    agents: &[AgentView],
    checks: &[CheckView],
    now_unix_ms: i64,
) -> Vec<GapFinding> {
    let mut by_agent: HashMap<&str, Vec<&CheckView>> = HashMap::new();
    for c in checks {
        by_agent.entry(c.agent_id.as_str()).or_default().push(c);
    }
    let mut out = Vec::new();
    let mut live: Vec<&AgentView> = Vec::new();
    for agent in agents {
        let finding = |check, severity, kind, detail: String| GapFinding {
            deployment: agent.deployment.clone(),
            agent_id: agent.agent_id.clone(),
            check,
            severity,
            kind,
            detail,
        };
        let required = policy.required(agent.role);
        let reported: BTreeMap<&CheckName, &CheckView> = by_agent
            .get(agent.agent_id.as_str())
            .map(|v| v.iter().map(|c| (&c.check, *c)).collect())
            .unwrap_or_default();
        let interval = match agent.probe_interval_s {
            0 => DEFAULT_INTERVAL_S,
            s => s,
        };
        let silent_ms = now_unix_ms.saturating_sub(agent.seen_unix_ms);
        let stale_ms = i64::from(interval) * i64::from(policy.stale_after_intervals) * 1000;
        if silent_ms > stale_ms {
            // The detail stays the same while the agent stays silent: the gap's opening time
            // says since when.
            let detail = format!(
                "no result or heartbeat for over {} s ({} probe intervals)",
                stale_ms / 1000,
                policy.stale_after_intervals
            );
            // The role's checks and the mailboxes' checks it reported.
            let stale: BTreeSet<CheckName> = required
                .iter()
                .map(|c| CheckName::from(*c))
                .chain(
                    reported
                        .keys()
                        .filter(|c| c.required_when_reported())
                        .map(|c| (*c).clone()),
                )
                .collect();
            for check in stale {
                let detail = detail.clone();
                out.push(finding(check, Severity::Gap, FindingKind::Stale, detail));
            }
            continue;
        }
        live.push(agent);
        // A new agent gets the stale window to report everything before a check counts
        // as missing: its first probe cycle is still running.
        let settling = now_unix_ms.saturating_sub(agent.first_seen_unix_ms) <= stale_ms;
        for check in required.iter().filter(|_| !settling) {
            let check = CheckName::from(*check);
            if !reported.contains_key(&check) {
                let detail = "never reported".to_string();
                out.push(finding(check, Severity::Gap, FindingKind::Missing, detail));
            }
        }
        for (check, c) in &reported {
            // A mailbox's OAuth check (and ece-config) is required by being configured.
            let is_required = check.required_when_reported() || required.contains(&check.id());
            if c.outcome == "fail" {
                let kind = c.failure_kind.clone().unwrap_or_else(|| "failed".into());
                let (severity, detail) = match is_required {
                    true => (Severity::Gap, kind),
                    false => (
                        Severity::Warning,
                        format!("{kind} (not required by the policy)"),
                    ),
                };
                out.push(finding(
                    (*check).clone(),
                    severity,
                    FindingKind::Failing,
                    detail,
                ));
                continue;
            }
            for w in &c.warning_kinds {
                if let Some(kind) = FindingKind::of_warning(w) {
                    out.push(finding(
                        (*check).clone(),
                        Severity::Warning,
                        kind,
                        w.clone(),
                    ));
                }
            }
            if u128::from(c.duration_us) > policy.slow.as_micros() {
                let detail = format!("{} ms", c.duration_us / 1000);
                out.push(finding(
                    (*check).clone(),
                    Severity::Warning,
                    FindingKind::Slow,
                    detail,
                ));
            }
        }
    }
    out.extend(refresh_findings(&live, &by_agent));
    out.sort();
    out
}

/// Deployment level: sign-in reachable from an application server but not from a services
/// server means tokens are created fine and then never refreshed.
fn refresh_findings(
    live: &[&AgentView],
    by_agent: &HashMap<&str, Vec<&CheckView>>,
) -> Vec<GapFinding> {
    let login = |a: &AgentView| {
        by_agent
            .get(a.agent_id.as_str())
            .and_then(|v| v.iter().find(|c| c.check.id() == CheckId::LoginHttps))
            .map(|c| c.outcome != "fail")
    };
    let mut out = Vec::new();
    for services in live.iter().filter(|a| a.role == Role::Services) {
        if login(services) != Some(false) {
            continue;
        }
        let working = live.iter().find(|a| {
            a.deployment == services.deployment
                && a.role == Role::Application
                && login(a) == Some(true)
        });
        if let Some(app) = working {
            out.push(GapFinding {
                deployment: services.deployment.clone(),
                agent_id: services.agent_id.clone(),
                check: CheckId::LoginHttps.into(),
                severity: Severity::Gap,
                kind: FindingKind::RefreshBlockedOnServices,
                detail: format!(
                    "login.microsoftonline.com works from application server {} but not from this services server: tokens are created but never refreshed (C8)",
                    app.agent_id
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn agent(id: &str, role: Role) -> AgentView {
        AgentView {
            agent_id: id.into(),
            role,
            deployment: "prod".into(),
            probe_interval_s: 60,
            seen_unix_ms: NOW - 1000,
            first_seen_unix_ms: NOW - 3_600_000,
        }
    }

    fn check(agent: &str, check: CheckId, outcome: &str) -> CheckView {
        CheckView {
            agent_id: agent.into(),
            check: check.into(),
            outcome: outcome.into(),
            failure_kind: (outcome == "fail").then(|| "tcp_refused".to_string()),
            warning_kinds: Vec::new(),
            duration_us: 20_000,
        }
    }

    fn all_pass(agent: &str) -> Vec<CheckView> {
        [
            CheckId::LoginHttps,
            CheckId::OutlookHttps,
            CheckId::Imap,
            CheckId::Pop3,
            CheckId::Smtp,
        ]
        .into_iter()
        .map(|c| check(agent, c, "pass"))
        .collect()
    }

    fn gaps(f: &[GapFinding]) -> Vec<(String, CheckName, FindingKind)> {
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
        assert_eq!(found.len(), 7);
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
}

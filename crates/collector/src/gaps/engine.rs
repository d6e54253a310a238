//! The gap engine: from each agent's latest results and the policy, what is missing, failing
//! or stale (gaps) and what is degraded (warnings). Pure: no storage, no clock of its own.
//!
//! The OAuth checks of a mailbox (`oauth-imap/<mailbox>`, see [`crate::checkname`]) are
//! required wherever they are reported, whatever the role: the administrator configured the
//! mailbox because ECE uses it. Their failure is a gap, they go stale with their agent, and
//! they are never missing (the mailboxes are known only from what the agent reports).
//! `ece-config` follows the same rule ([`CheckName::required_when_reported`]): it runs only
//! where the administrator declared ECE facts.
//!
//! Such a check is *retired* once its agent has gone on delivering results for more than
//! its stale window (`stale_after_intervals` probe intervals) without it, by the times the
//! collector received them: the administrator removed the mailbox (or the ECE facts) from
//! the agent's configuration. A retired check is as if never reported: no finding of any
//! kind, and not among the stale checks when its agent goes silent. The checks the role
//! requires never retire (they go missing or stale instead). A mailbox's protocol check
//! (`oauth-imap|pop3|smtp/<mailbox>`) retires with the mailbox's `oauth-token` check, or
//! when that token check has gone on passing (not failing: the agent skips the logins
//! without a token) for more than the window without it; while the token fails it keeps
//! its last state, untested.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use eceprobe_checks::{CheckId, Role};
use serde::Serialize;

use super::awake::Awake;
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
    /// When the collector received (stored) the result, on the collector's clock: the
    /// store's `received_unix_ms`, not the agent's `started_unix_ms`, whose clock may be
    /// wrong. Compared with the agent's other results to find retired checks.
    pub received_unix_ms: i64,
    /// The `address_not_microsoft` warning's detail, when an address the server's OS
    /// resolver gave for the check's host lies outside Microsoft's published ranges for it
    /// (judged against the list in use by [`super::check_view`]).
    pub not_microsoft: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Gap,
    Warning,
}

/// The finding kind of a server that did not answer an audit: found by the audit
/// (`audits/report.rs`), never by the engine, but owned and worded as the other kinds.
pub const NOT_ANSWERED: &str = "not_answered";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A check fails now.
    Failing,
    /// A required check was never reported.
    Missing,
    /// The agent has been silent for too many intervals.
    Stale,
    /// Passing, but slower than the policy allows (the whole check), or a stage over the
    /// agent's budget (the probe's `slow` warning).
    Slow,
    /// The probe's `packet_loss` warning: the connection needed retransmissions.
    PacketLoss,
    /// The probe's `dns_slow` warning: the OS resolver answered after its budget.
    DnsSlow,
    CertExpiring,
    Intercepted,
    /// `ece-java`'s `java_truststore_incomplete` warning: ECE's Java trust store lacks roots
    /// Microsoft publishes; today's chains pass, the next rotation breaks ECE (C9).
    JavaTruststoreIncomplete,
    /// OAuth: the access token does not live the 60 minutes the checklist expects (C3).
    TokenLifetimeUnexpected,
    /// OAuth: the grant returned no new refresh token; `offline_access` is missing (C3).
    OfflineAccessMissing,
    /// The token endpoint works from an application server but not from a services server
    /// of the same deployment: creation works, refresh (which runs there) will not (C8).
    RefreshBlockedOnServices,
    /// The server's DNS gave a Microsoft host an address outside every range Microsoft
    /// publishes for it: split-horizon DNS, an inspecting proxy, a hijack (issue 15).
    AddressNotMicrosoft,
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
            FindingKind::PacketLoss => "packet_loss",
            FindingKind::DnsSlow => "dns_slow",
            FindingKind::CertExpiring => "cert_expiring",
            FindingKind::Intercepted => "intercepted",
            FindingKind::JavaTruststoreIncomplete => "java_truststore_incomplete",
            FindingKind::TokenLifetimeUnexpected => "token_lifetime_unexpected",
            FindingKind::OfflineAccessMissing => "offline_access_missing",
            FindingKind::RefreshBlockedOnServices => "refresh_blocked_on_services",
            FindingKind::AddressNotMicrosoft => "address_not_microsoft",
        }
    }

    /// The warning finding a probe's warning kind gives, on any check; None for a kind
    /// that is shown on the check but is not a finding. The one table of them.
    /// `tls_intercepted` arrives as a warning only from agents before issue 13; newer ones
    /// fail the check with it, which is a `failing` finding like any failure, as are
    /// `java_untrusted` and `chain_incomplete` (a chain ECE's Java cannot build) and
    /// `ece-java`'s `java_tls_incompatible`.
    pub fn of_warning(kind: &str) -> Option<FindingKind> {
        Some(match kind {
            "tls_intercepted" => FindingKind::Intercepted,
            "cert_expiring_soon" => FindingKind::CertExpiring,
            "java_truststore_incomplete" => FindingKind::JavaTruststoreIncomplete,
            "token_lifetime_unexpected" => FindingKind::TokenLifetimeUnexpected,
            "offline_access_missing" => FindingKind::OfflineAccessMissing,
            "slow" => FindingKind::Slow,
            "packet_loss" => FindingKind::PacketLoss,
            "dns_slow" => FindingKind::DnsSlow,
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

/// How long the agent may stay silent before it is stale: `stale_after_intervals` of its
/// probe intervals, in ms.
fn stale_window_ms(policy: &Policy, agent: &AgentView) -> i64 {
    let interval = match agent.probe_interval_s {
        0 => DEFAULT_INTERVAL_S,
        s => s,
    };
    i64::from(interval) * i64::from(policy.stale_after_intervals) * 1000
}

/// The agent's checks it still runs: `mine` (its latest results) without the retired ones.
/// A check required only because it is reported (a mailbox's, `ece-config`) is retired when
/// the agent's newest result was received more than the stale window after the check's own:
/// each probe cycle reaches the collector as one batch, so the agent has run whole cycles
/// for that long without it. Measured against the agent's own results, not the clock or
/// its heartbeats: an agent that delivers no results (silent, or only heartbeating)
/// retires nothing, and a cycle slower than the window does not retire its own checks.
///
/// A mailbox's protocol check (`oauth-imap|pop3|smtp/<mailbox>`) is measured against the
/// mailbox's `oauth-token` check instead, since the agent skips the logins when the token
/// fails: retired with the token check, or when the token check's latest result is more
/// than the window newer than its own and did not fail (the logins ran without this
/// protocol). Without a token check of the mailbox, the general rule applies.
fn in_force<'a>(
    required: &BTreeSet<CheckId>,
    stale_ms: i64,
    mine: &[&'a CheckView],
) -> Vec<&'a CheckView> {
    let newest = mine
        .iter()
        .map(|c| c.received_unix_ms)
        .max()
        .unwrap_or(i64::MIN);
    let old = |c: &CheckView, than: i64| than.saturating_sub(c.received_unix_ms) > stale_ms;
    let by_newest = |c: &CheckView| {
        c.check.required_when_reported() && !required.contains(&c.check.id()) && old(c, newest)
    };
    // The token check of each mailbox, with whether it is retired.
    let tokens: HashMap<&str, (&CheckView, bool)> = mine
        .iter()
        .filter(|c| c.check.id() == CheckId::OauthToken)
        .filter_map(|c| Some((c.check.mailbox()?, (*c, by_newest(c)))))
        .collect();
    mine.iter()
        .copied()
        .filter(|c| {
            let protocol = c.check.is_oauth() && c.check.id() != CheckId::OauthToken;
            let token = c
                .check
                .mailbox()
                .and_then(|m| tokens.get(m))
                .filter(|_| protocol);
            let retired = match token {
                Some(&(_, true)) => true,
                Some(&(t, false)) => t.outcome != "fail" && old(c, t.received_unix_ms),
                None => by_newest(c),
            };
            !retired
        })
        .collect()
}

/// The retired checks (see the module doc) of the given agents, by (agent, check): the
/// dashboard shows them as never reported, as the engine treats them. Checks of an agent
/// not in `agents` are never retired.
pub fn retired<'a>(
    policy: &Policy,
    agents: &[AgentView],
    checks: &'a [CheckView],
) -> HashSet<(&'a str, &'a CheckName)> {
    let mut by_agent: HashMap<&str, Vec<&CheckView>> = HashMap::new();
    for c in checks {
        by_agent.entry(c.agent_id.as_str()).or_default().push(c);
    }
    let mut out = HashSet::new();
    for agent in agents {
        let Some(mine) = by_agent.get(agent.agent_id.as_str()) else {
            continue;
        };
        let required = policy.required(agent.role);
        let kept: HashSet<&CheckName> = in_force(&required, stale_window_ms(policy, agent), mine)
            .into_iter()
            .map(|c| &c.check)
            .collect();
        out.extend(
            mine.iter()
                .filter(|c| !kept.contains(&c.check))
                .map(|c| (c.agent_id.as_str(), &c.check)),
        );
    }
    out
}

/// [`evaluate_awake`] with the collector taken as always awake (audits, tests).
pub fn evaluate(
    policy: &Policy,
    agents: &[AgentView],
    checks: &[CheckView],
    now_unix_ms: i64,
) -> Vec<GapFinding> {
    evaluate_awake(policy, agents, checks, now_unix_ms, &Awake::always())
}

/// The findings of every agent as of `now`. An agent is stale once the collector has been
/// awake for longer than the agent's window without hearing from it: the collector's own
/// downtime (`awake`) never counts as an agent's silence. A stale agent's last known
/// failures and warnings stay, marked as such, beside its stale gaps: what was known broken
/// is not forgotten because the agent fell silent.
pub fn evaluate_awake(
    policy: &Policy,
    agents: &[AgentView],
    checks: &[CheckView],
    now_unix_ms: i64,
    awake: &Awake,
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
        let stale_ms = stale_window_ms(policy, agent);
        // Retired checks are left out here, so they raise nothing below (nor stale).
        let reported: BTreeMap<&CheckName, &CheckView> = by_agent
            .get(agent.agent_id.as_str())
            .map(|v| {
                in_force(&required, stale_ms, v)
                    .into_iter()
                    .map(|c| (&c.check, c))
                    .collect()
            })
            .unwrap_or_default();
        let silent_ms = awake.awake_ms(agent.seen_unix_ms, now_unix_ms);
        // What the findings of its checks say: as measured, or as last known.
        let mut last_known = None;
        if silent_ms > stale_ms {
            // The detail stays the same while the agent stays silent: the gap's opening time
            // says since when.
            let silent_since = crate::civil::utc_minutes(agent.seen_unix_ms);
            let detail = format!(
                "no result or heartbeat for over {} s ({} probe intervals) while the collector was up; last heard {silent_since}",
                stale_ms / 1000,
                policy.stale_after_intervals
            );
            // The role's checks and the mailboxes' checks it reported (not retired).
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
            last_known = Some(format!("last known; agent silent since {silent_since}"));
        } else {
            live.push(agent);
        }
        // The key of a gap leaves the detail out, so a failure that becomes "last known"
        // stays the same open gap, with its "since".
        let mark = |detail: String| match &last_known {
            Some(note) => format!("{detail} ({note})"),
            None => detail,
        };
        // A new agent gets the stale window to report everything before a check counts as
        // missing: its first probe cycle is still running.
        let settling = now_unix_ms.saturating_sub(agent.first_seen_unix_ms) <= stale_ms;
        for check in required.iter().filter(|_| !settling) {
            let check = CheckName::from(*check);
            if !reported.contains_key(&check) {
                let detail = mark("never reported".to_string());
                out.push(finding(check, Severity::Gap, FindingKind::Missing, detail));
            }
        }
        for (check, c) in &reported {
            // A mailbox's OAuth check (and ece-config) is required by being configured.
            let is_required = check.required_when_reported() || required.contains(&check.id());
            // Whatever the check's outcome: an answer not Microsoft's often makes TLS fail.
            if let Some(detail) = &c.not_microsoft {
                out.push(finding(
                    (*check).clone(),
                    Severity::Warning,
                    FindingKind::AddressNotMicrosoft,
                    mark(detail.clone()),
                ));
            }
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
                    mark(detail),
                ));
                continue;
            }
            for w in &c.warning_kinds {
                if let Some(kind) = FindingKind::of_warning(w) {
                    out.push(finding(
                        (*check).clone(),
                        Severity::Warning,
                        kind,
                        mark(w.clone()),
                    ));
                }
            }
            // The agent's own `slow` (a stage over its budget) already said it: one finding.
            let said_slow = c.warning_kinds.iter().any(|w| w == "slow");
            if !said_slow && u128::from(c.duration_us) > policy.slow.as_micros() {
                let detail = format!("{} ms", c.duration_us / 1000);
                out.push(finding(
                    (*check).clone(),
                    Severity::Warning,
                    FindingKind::Slow,
                    mark(detail),
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
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "engine_silence_tests.rs"]
mod silence_tests;

#[cfg(test)]
#[path = "engine_path_tests.rs"]
mod path_tests;

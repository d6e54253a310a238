//! What an audit found, from its records alone (pure): each server's verdicts (its latest
//! result per check tagged with the audit), the gaps the policy finds in them, the servers
//! that did not answer (the diff between two audits' gaps is `crate::gap_diff`).

use std::collections::BTreeMap;

use crate::endpoints::EndpointList;
use crate::gaps::{agent_view, check_view, evaluate, found_gap, Policy, NOT_ANSWERED};
use crate::store::{AuditServerRecord, FoundGap, KnownAgent, StoredResult};

/// Each server's latest result per check among the audit's results, by server then check.
pub fn verdicts(results: &[StoredResult]) -> BTreeMap<&str, BTreeMap<&str, &StoredResult>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, &StoredResult>> = BTreeMap::new();
    for r in results {
        let slot = out
            .entry(r.agent_id.as_str())
            .or_default()
            .entry(r.check.as_str())
            .or_insert(r);
        if r.seq > slot.seq {
            *slot = r;
        }
    }
    out
}

/// The audit's gaps: the policy over the answered servers' verdicts (as if they were the
/// fleet's latest state at `at_unix_ms`, none stale, none still settling in), and a
/// [`NOT_ANSWERED`] gap for every server that did not answer.
pub fn findings(
    policy: &Policy,
    servers: &[AuditServerRecord],
    agents: &[KnownAgent],
    results: &[StoredResult],
    at_unix_ms: i64,
    endpoints: &EndpointList,
) -> Vec<FoundGap> {
    let known: BTreeMap<&str, &KnownAgent> = agents
        .iter()
        .map(|a| (a.record.agent_id.as_str(), a))
        .collect();
    let mut out = Vec::new();
    let mut views = Vec::new();
    for s in servers {
        let agent = known.get(s.agent_id.as_str());
        if s.answered_unix_ms.is_some() {
            if let Some(agent) = agent {
                let mut view = agent_view(agent);
                view.seen_unix_ms = at_unix_ms;
                view.first_seen_unix_ms = i64::MIN;
                views.push(view);
            }
            continue;
        }
        out.push(FoundGap {
            agent_id: s.agent_id.clone(),
            check: String::new(),
            kind: NOT_ANSWERED.to_owned(),
            severity: "gap".to_owned(),
            deployment: agent
                .map(|a| a.record.deployment.clone())
                .unwrap_or_default(),
            detail: match s.ordered {
                true => "ordered, but sent no result for the audit before its deadline".into(),
                false => "not connected when the audit started, so never ordered".into(),
            },
        });
    }
    let checks: Vec<_> = verdicts(results)
        .values()
        .flat_map(|by_check| by_check.values())
        .filter_map(|r| check_view(&crate::convert::state_of(r), endpoints))
        .collect();
    out.extend(
        evaluate(policy, &views, &checks, at_unix_ms)
            .into_iter()
            .map(found_gap),
    );
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AgentRecord;

    fn result(agent: &str, seq: u64, check: &str, outcome: &str) -> StoredResult {
        StoredResult {
            agent_id: agent.into(),
            seq,
            check: check.into(),
            started_unix_ms: 0,
            outcome: outcome.into(),
            failure_kind: (outcome == "fail").then(|| "tcp_refused".into()),
            failure_stage: (outcome == "fail").then(|| "tcp".into()),
            duration_us: 1000,
            warning_kinds: Vec::new(),
            detail: Vec::new(),
            received_unix_ms: 0,
        }
    }

    fn known(id: &str) -> KnownAgent {
        KnownAgent {
            record: AgentRecord {
                // Long silent and just enrolled: an audit's findings must ignore both.
                seen_unix_ms: 0,
                ..AgentRecord::for_test(id)
            },
            last_seq: 0,
            spool_dropped: 0,
            first_seen_unix_ms: 0,
            quarantined: 0,
        }
    }

    #[test]
    fn findings_use_the_latest_audit_result_and_flag_who_did_not_answer() {
        let servers = [
            AuditServerRecord {
                agent_id: "svc-1".into(),
                ordered: true,
                answered_unix_ms: Some(5),
            },
            AuditServerRecord {
                agent_id: "svc-2".into(),
                ordered: false,
                answered_unix_ms: None,
            },
        ];
        let mut results: Vec<_> = ["login-https", "outlook-https", "pop3", "smtp"]
            .iter()
            .zip(1..)
            .map(|(c, seq)| result("svc-1", seq, c, "pass"))
            .collect();
        results.push(result("svc-1", 10, "imap", "fail"));
        results.push(result("svc-1", 11, "pop3", "fail"));
        results.push(result("svc-1", 3, "pop3", "pass"));
        let found = findings(
            &Policy::default(),
            &servers,
            &[known("svc-1"), known("svc-2")],
            &results,
            1_800_000_000_000,
            &EndpointList::snapshot(),
        );
        let keys: Vec<_> = found
            .iter()
            .map(|g| (g.agent_id.as_str(), g.check.as_str(), g.kind.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("svc-1", "imap", "failing"),
                ("svc-1", "pop3", "failing"),
                ("svc-2", "", NOT_ANSWERED),
            ]
        );
    }

    /// An audit judges the addresses its results' OS resolver gave, as the live view does,
    /// against the list it is given.
    #[test]
    fn an_audits_results_are_judged_against_the_endpoint_list() {
        use prost::Message;
        let servers = [AuditServerRecord {
            agent_id: "svc-1".into(),
            ordered: true,
            answered_unix_ms: Some(5),
        }];
        let mut imap = result("svc-1", 1, "imap", "pass");
        imap.detail = eceprobe_proto::v1::CheckResult {
            host: "outlook.office365.com".into(),
            dns: Some(eceprobe_proto::v1::Dns {
                source: "system".into(),
                addresses: vec!["10.9.8.7:993".into()],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let found = findings(
            &Policy::default(),
            &servers,
            &[known("svc-1")],
            &[imap],
            1_800_000_000_000,
            &EndpointList::snapshot(),
        );
        let g = found
            .iter()
            .find(|g| g.kind == "address_not_microsoft")
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!((g.check.as_str(), g.severity.as_str()), ("imap", "warning"));
        assert!(g.detail.contains("10.9.8.7"), "{}", g.detail);
    }
}

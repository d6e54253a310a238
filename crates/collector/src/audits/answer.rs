//! Audits as every reader shows them, as the wire messages: the Query API answers these,
//! and the dashboard, its JSON API and the report exports render the same ones (read here
//! from the audits' records in-process, never through the Query service).

use eceprobe_proto::v1::{self as pb, CheckResult};

use super::{report as found, AuditError, AuditFindings, AuditSummary, Audits};
use crate::endpoints::EndpointList;
use crate::gap_diff::GapDiff;
use crate::result_view::{detail, outcome_word, target};
use crate::store::FoundGap;

/// A list of audits answers at most this many.
const MAX_AUDITS_LIMIT: u32 = 1000;

/// Audits newest first, of one deployment's scope or all (`limit` 0: the default 50).
pub async fn list(
    audits: &Audits,
    deployment: Option<&str>,
    limit: u32,
) -> Result<Vec<pb::Audit>, AuditError> {
    let limit = match limit {
        0 => 50,
        n => n.min(MAX_AUDITS_LIMIT),
    };
    let found = audits.list(deployment, limit).await?;
    Ok(found.iter().map(audit).collect())
}

/// Starts an audit (returns once the agents in scope are ordered), read back with the
/// servers recorded in its scope.
pub async fn run(
    audits: &Audits,
    deployment: &str,
    deadline_s: u32,
) -> Result<pb::Audit, AuditError> {
    let started = audits.start(deployment, deadline_s).await?;
    Ok(audit(&audits.summary(&started.audit_id).await?))
}

/// One audit's report: verdicts, gaps, diff with the previous audit of its scope, the
/// firewall rules its gaps ask for (`endpoints`: the list in use).
pub async fn report_of(
    audits: &Audits,
    audit_id: &str,
    endpoints: &EndpointList,
) -> Result<pb::AuditReport, AuditError> {
    Ok(report(&audits.findings(audit_id).await?, endpoints))
}

/// The gaps of two audits compared.
pub async fn diff_of(audits: &Audits, from: &str, to: &str) -> Result<pb::AuditDiff, AuditError> {
    Ok(diff(from, to, &audits.diff(from, to).await?))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn audit(s: &AuditSummary) -> pb::Audit {
    let r = &s.record;
    pb::Audit {
        audit_id: r.audit_id.clone(),
        deployment: r.deployment.clone(),
        started_unix_ms: r.started_unix_ms,
        deadline_unix_ms: r.deadline_unix_ms,
        closed_unix_ms: r.closed_unix_ms.unwrap_or(0),
        state: match r.closed_unix_ms {
            Some(_) => "closed",
            None => "running",
        }
        .into(),
        servers: count(s.servers.len()),
        ordered: count(s.servers.iter().filter(|x| x.ordered).count()),
        answered: count(
            s.servers
                .iter()
                .filter(|x| x.answered_unix_ms.is_some())
                .count(),
        ),
    }
}

fn gap(g: &FoundGap) -> pb::Gap {
    pb::Gap {
        deployment: g.deployment.clone(),
        agent_id: g.agent_id.clone(),
        check: g.check.clone(),
        severity: g.severity.clone(),
        kind: g.kind.clone(),
        detail: g.detail.clone(),
        ..pb::Gap::default()
    }
}

pub fn diff(from: &str, to: &str, d: &GapDiff) -> pb::AuditDiff {
    let gaps = |v: &[FoundGap]| v.iter().map(gap).collect();
    pb::AuditDiff {
        from_audit_id: from.to_owned(),
        to_audit_id: to.to_owned(),
        new_gaps: gaps(&d.new),
        resolved_gaps: gaps(&d.resolved),
        unchanged_gaps: gaps(&d.unchanged),
    }
}

/// A result as an audit's verdict: also what the fix of an open gap is read from
/// ([`crate::export::findings::open_gap_remedy`]).
pub fn verdict(r: &CheckResult) -> pb::AuditVerdict {
    let outcome = outcome_word(r.outcome).unwrap_or_default();
    // A warning's words (the interception CA, the expiry date) belong in the report as a
    // failure's do: a "warn" verdict carries its first warning.
    let f = r
        .failure
        .clone()
        .or_else(|| r.warnings.first().cloned())
        .unwrap_or_default();
    pb::AuditVerdict {
        check: r.check.clone(),
        outcome: outcome.into(),
        failure_kind: f.kind,
        stage: f.stage,
        detail: f.detail,
        hint: f.hint,
        seq: r.seq,
        target: target(&r.host, r.port),
        device: f.device,
    }
}

/// `endpoints`: the list in use, which names each firewall rule's endpoint set.
pub fn report(f: &AuditFindings, endpoints: &EndpointList) -> pb::AuditReport {
    let verdicts = found::verdicts(&f.results);
    let servers = f
        .summary
        .servers
        .iter()
        .map(|s| {
            let agent = f.agents.iter().find(|a| a.record.agent_id == s.agent_id);
            let (hostname, role, deployment) = agent
                .map(|a| {
                    let r = &a.record;
                    (r.hostname.clone(), r.role.clone(), r.deployment.clone())
                })
                .unwrap_or_default();
            pb::AuditServer {
                agent_id: s.agent_id.clone(),
                hostname,
                role,
                deployment,
                ordered: s.ordered,
                answered_unix_ms: s.answered_unix_ms.unwrap_or(0),
                verdicts: verdicts
                    .get(s.agent_id.as_str())
                    .map(|by_check| by_check.values().map(|r| verdict(&detail(r))).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let to = &f.summary.record.audit_id;
    pb::AuditReport {
        audit: Some(audit(&f.summary)),
        servers,
        gaps: f.gaps.iter().map(gap).collect(),
        diff: f.previous.as_ref().map(|(from, d)| diff(from, to, d)),
        policy: f.policy.clone(),
        change_request: Some(change_request(f, endpoints)),
    }
}

/// The firewall rules the audit's network gaps ask for, from the audit's own results.
fn change_request(f: &AuditFindings, endpoints: &EndpointList) -> pb::NetworkChangeRequest {
    let inputs = crate::change_request::Inputs::new(
        &f.summary.record.deployment,
        f.gaps.iter().map(gap).collect(),
        f.agents
            .iter()
            .map(crate::change_request::ServerFacts::from_known)
            .collect(),
        &f.results,
    );
    crate::change_request::network::request(&inputs, endpoints)
}

//! JSON: the document `audit show --json`, `audit run --wait --json` and the JSON export
//! share, so a script reads one shape whichever it called: the audit, its servers and
//! verdicts, its gaps (each with the checklist item it breaks and the fix), the diff, a
//! summary with the counts, and the policy in force.

use eceprobe_checks::ChecklistItem;
use eceprobe_proto::v1::{
    Audit, AuditDiff, AuditReport, AuditServer, AuditVerdict, FirewallRule, Gap,
    NetworkChangeRequest,
};
use serde_json::{json, Value};

use super::{counts, item, policy, scope, utc};

pub fn audit_json(a: &Audit) -> Value {
    json!({
        "audit_id": a.audit_id, "deployment": a.deployment, "state": a.state,
        "started_unix_ms": a.started_unix_ms, "deadline_unix_ms": a.deadline_unix_ms,
        "closed_unix_ms": (a.closed_unix_ms != 0).then_some(a.closed_unix_ms),
        "servers": a.servers, "ordered": a.ordered, "answered": a.answered,
    })
}

fn verdict_json(v: &AuditVerdict) -> Value {
    let mut out = json!({
        "check": v.check, "target": v.target, "outcome": v.outcome, "seq": v.seq,
        "failure_kind": v.failure_kind, "stage": v.stage, "detail": v.detail, "hint": v.hint,
    });
    // The device a path trace named, in its own field for a change request.
    if !v.device.is_empty() {
        out["device"] = json!(v.device);
    }
    out
}

fn server_json(s: &AuditServer) -> Value {
    json!({
        "agent_id": s.agent_id, "hostname": s.hostname, "role": s.role,
        "deployment": s.deployment, "ordered": s.ordered,
        "answered_unix_ms": (s.answered_unix_ms != 0).then_some(s.answered_unix_ms),
        "verdicts": s.verdicts.iter().map(verdict_json).collect::<Vec<_>>(),
    })
}

fn gap_json(g: &Gap) -> Value {
    json!({
        "deployment": g.deployment, "agent_id": g.agent_id, "check": g.check,
        "severity": g.severity, "kind": g.kind,
        "owner": crate::gaps::owner_name(&g.kind, &g.detail), "detail": g.detail,
    })
}

pub fn gaps_json(gaps: &[Gap]) -> Vec<Value> {
    gaps.iter().map(gap_json).collect()
}

pub fn diff_json(d: &AuditDiff) -> Value {
    json!({
        "from_audit_id": d.from_audit_id, "to_audit_id": d.to_audit_id,
        "new": gaps_json(&d.new_gaps), "resolved": gaps_json(&d.resolved_gaps),
        "unchanged": gaps_json(&d.unchanged_gaps),
    })
}

/// The audit's gaps with their remedies.
fn findings_json(r: &AuditReport) -> Vec<Value> {
    r.gaps
        .iter()
        .map(|g| {
            let server = r.servers.iter().find(|s| s.agent_id == g.agent_id);
            let found = item(g, server);
            let mut v = gap_json(g);
            if let Some(map) = v.as_object_mut() {
                map.insert(
                    "checklist_item".into(),
                    ChecklistItem::join(&found.remedy.items).into(),
                );
                map.insert("fix".into(), found.remedy.fix.into());
            }
            v
        })
        .collect()
}

fn summary_json(r: &AuditReport) -> Value {
    let c = counts(r);
    let audit = r.audit.as_ref();
    let deployment = audit.map(|a| a.deployment.as_str()).unwrap_or("");
    let changes = r.diff.as_ref().map(|d| {
        json!({
            "from_audit_id": d.from_audit_id,
            "new": d.new_gaps.len(), "resolved": d.resolved_gaps.len(),
            "unchanged": d.unchanged_gaps.len(),
        })
    });
    json!({
        "audit_id": audit.map(|a| a.audit_id.as_str()),
        "scope": scope(deployment),
        "state": audit.map(|a| a.state.as_str()),
        "started_utc": audit.map(|a| utc(a.started_unix_ms)),
        "closed_utc": audit.filter(|a| a.closed_unix_ms != 0).map(|a| utc(a.closed_unix_ms)),
        "servers": c.servers, "ordered": c.ordered, "answered": c.answered,
        "not_answered": c.servers.saturating_sub(c.answered),
        "checks_run": c.checks, "gaps": c.gaps, "warnings": c.warnings,
        "first_audit_of_scope": r.diff.is_none(),
        "changes": changes,
    })
}

/// The whole report.
pub fn report_json(r: &AuditReport) -> Value {
    let policy = policy(r);
    json!({
        "summary": summary_json(r),
        "audit": r.audit.as_ref().map(audit_json),
        "servers": r.servers.iter().map(server_json).collect::<Vec<_>>(),
        "gaps": findings_json(r),
        "diff": r.diff.as_ref().map(diff_json),
        "policy": (!policy.is_empty()).then_some(policy),
        "change_request": r.change_request.as_ref().map(change_request_json),
    })
}

/// The firewall rules of the audit's network gaps, field by field, with the set-2 note.
fn change_request_json(c: &NetworkChangeRequest) -> Value {
    let rule = |r: &FirewallRule| {
        json!({
            "agent_id": r.agent_id,
            "hostname": r.hostname,
            "source_addresses": r.source_addresses,
            "source_unknown": (!r.source_unknown.is_empty()).then_some(&r.source_unknown),
            "destination_host": r.destination_host,
            "destination_addresses": r.destination_addresses,
            "port": r.port,
            "protocol": r.protocol,
            "endpoint_set": (r.endpoint_set != 0).then_some(r.endpoint_set),
            "endpoint_category": (!r.endpoint_category.is_empty()).then_some(&r.endpoint_category),
            "endpoint_required": r.endpoint_required,
            "fails_now": r.fails_now,
            "needed_by": r.needed_by,
            "checks": r.checks,
            "blocked": r.blocked,
        })
    };
    json!({
        "rules": c.rules.iter().map(rule).collect::<Vec<_>>(),
        "note": (!c.set_2_note.is_empty()).then_some(&c.set_2_note),
        "not_rules": c.not_rules,
        "endpoint_list": c.endpoint_list,
    })
}

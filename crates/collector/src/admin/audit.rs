//! `audit run|list|show|diff|report`: audits over the Query API, tables for people, JSON
//! for scripts, reports for a change ticket (`eceprobe_collector::export`). `audit run
//! --wait` exits 0 with no gap, 1 with gaps (a server that did not answer is one), 2 when
//! the audit could not run (any error on the way). Tables list failures first, then
//! warnings, then passes, and "What to do, by team" gives the fix of every gap and warning
//! under the team that closes it.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use eceprobe_collector::export::by_team::what_to_do_by_team;
use eceprobe_collector::export::json::{audit_json, diff_json, report_json};
use eceprobe_collector::export::{self, Format};
use eceprobe_collector::order::{by_attention, Attention};
use eceprobe_proto::v1::{
    Audit, AuditDiff, AuditReport, AuditVerdict, DiffAuditsRequest, Gap, GetAuditRequest,
    ListAuditsRequest, RunAuditRequest,
};

use super::{client, said, table, utc};

/// How often `--wait` asks whether the audit has closed.
const WAIT_POLL: Duration = Duration::from_millis(300);
/// Beyond the deadline, how long `--wait` gives the collector to close the audit.
const WAIT_GRACE_MS: i64 = 30_000;

fn scope(deployment: &str) -> &str {
    match deployment {
        "" => "all deployments",
        d => d,
    }
}

fn or_dash(s: &str) -> String {
    match s {
        "" => "-".into(),
        s => s.to_owned(),
    }
}

/// Gaps, then warnings ([`by_attention`]), by server, then check.
fn gap_table(gaps: &[Gap]) -> String {
    if gaps.is_empty() {
        return "no gaps\n".into();
    }
    let mut gaps: Vec<&Gap> = gaps.iter().collect();
    // Stable: the checks' order stays within each server.
    gaps.sort_by(|a, b| a.check.cmp(&b.check));
    by_attention(&mut gaps, |g| {
        (Attention::of_severity(&g.severity), g.agent_id.as_str())
    });
    let rows = gaps
        .iter()
        .map(|g| {
            vec![
                g.agent_id.clone(),
                or_dash(&g.check),
                g.severity.to_uppercase(),
                g.kind.clone(),
                g.detail.clone(),
            ]
        })
        .collect();
    table(&["SERVER", "CHECK", "SEVERITY", "KIND", "DETAIL"], rows)
}

fn headline(a: &Audit) -> String {
    let closed = match a.closed_unix_ms {
        0 => format!("running until {}", utc(a.deadline_unix_ms)),
        t => format!("closed {}", utc(t)),
    };
    format!(
        "audit {} ({}): started {}, {closed}; {} servers in scope, {} ordered, {} answered\n",
        a.audit_id,
        scope(&a.deployment),
        utc(a.started_unix_ms),
        a.servers,
        a.ordered,
        a.answered
    )
}

/// Gaps (not warnings) in an audit's report decide the exit code of `run --wait`.
fn has_gaps(r: &AuditReport) -> bool {
    r.gaps.iter().any(|g| g.severity == "gap")
}

/// `audit run`: returns the text and the exit code.
pub async fn run(
    url: &str,
    deployment: String,
    deadline_s: u32,
    wait: bool,
    as_json: bool,
) -> anyhow::Result<(String, u8)> {
    let mut query = client(url).await?;
    let audit = query
        .run_audit(RunAuditRequest {
            deployment,
            deadline_s,
        })
        .await
        .map_err(said)?
        .into_inner();
    if !wait {
        let text = match as_json {
            true => serde_json::to_string_pretty(&audit_json(&audit))?,
            false => headline(&audit),
        };
        return Ok((text, 0));
    }
    let give_up = audit.deadline_unix_ms + WAIT_GRACE_MS;
    let report = loop {
        let report = query
            .get_audit(GetAuditRequest {
                audit_id: audit.audit_id.clone(),
            })
            .await
            .map_err(said)
            .with_context(|| format!("reading audit {}", audit.audit_id))?
            .into_inner();
        if report.audit.as_ref().is_some_and(|a| a.state == "closed") {
            break report;
        }
        anyhow::ensure!(
            eceprobe_proto::now_ms() < give_up,
            "audit {} did not close by its deadline",
            audit.audit_id
        );
        tokio::time::sleep(WAIT_POLL).await;
    };
    let code = u8::from(has_gaps(&report));
    let text = match as_json {
        true => serde_json::to_string_pretty(&report_json(&report))?,
        false => format!(
            "{}\n{}{}",
            headline(report.audit.as_ref().unwrap_or(&audit)),
            gap_table(&report.gaps),
            what_to_do(&report)
        ),
    };
    Ok((text, code))
}

/// "What to do, by team": the fix of every finding as the reports give it
/// ([`export::remedies`]: gaps then warnings), under the team that closes it; empty when
/// there is none.
fn what_to_do(report: &AuditReport) -> String {
    match what_to_do_by_team(&export::remedies(report)) {
        t if t.is_empty() => t,
        t => format!("\n{t}"),
    }
}

pub async fn list(
    url: &str,
    deployment: String,
    limit: u32,
    as_json: bool,
) -> anyhow::Result<String> {
    let audits = client(url)
        .await?
        .list_audits(ListAuditsRequest { deployment, limit })
        .await
        .map_err(said)?
        .into_inner()
        .audits;
    if as_json {
        return Ok(serde_json::to_string_pretty(
            &audits.iter().map(audit_json).collect::<Vec<_>>(),
        )?);
    }
    if audits.is_empty() {
        return Ok("no audits\n".into());
    }
    let rows = audits
        .iter()
        .map(|a| {
            vec![
                a.audit_id.clone(),
                scope(&a.deployment).to_owned(),
                utc(a.started_unix_ms),
                a.state.clone(),
                a.servers.to_string(),
                a.answered.to_string(),
            ]
        })
        .collect();
    Ok(table(
        &["AUDIT", "SCOPE", "STARTED", "STATE", "SERVERS", "ANSWERED"],
        rows,
    ))
}

fn diff_text(d: &AuditDiff) -> String {
    let mut out = format!(
        "from {} to {}: {} new, {} resolved, {} unchanged\n",
        d.from_audit_id,
        d.to_audit_id,
        d.new_gaps.len(),
        d.resolved_gaps.len(),
        d.unchanged_gaps.len()
    );
    for (title, gaps) in [("New", &d.new_gaps), ("Resolved", &d.resolved_gaps)] {
        if !gaps.is_empty() {
            out.push_str(&format!("\n{title}:\n{}", gap_table(gaps)));
        }
    }
    out
}

/// Each server's verdicts, failures then warnings then passes, by check.
fn verdict_rows(report: &AuditReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for s in &report.servers {
        if s.answered_unix_ms == 0 {
            let why = match s.ordered {
                true => "did not answer",
                false => "not connected",
            };
            let dash = || "-".to_string();
            rows.push(vec![s.agent_id.clone(), dash(), dash(), dash(), why.into()]);
        }
        let mut verdicts: Vec<&AuditVerdict> = s.verdicts.iter().collect();
        by_attention(&mut verdicts, |v| {
            (Attention::of_outcome(&v.outcome), v.check.as_str())
        });
        for v in verdicts {
            let detail = match v.failure_kind.as_str() {
                "" => String::new(),
                kind => format!("{kind}: {}", v.detail),
            };
            rows.push(vec![
                s.agent_id.clone(),
                v.check.clone(),
                v.outcome.to_uppercase(),
                or_dash(&v.stage),
                detail,
            ]);
        }
    }
    rows
}

pub async fn show(url: &str, audit_id: String, as_json: bool) -> anyhow::Result<String> {
    let report = client(url)
        .await?
        .get_audit(GetAuditRequest { audit_id })
        .await
        .map_err(said)?
        .into_inner();
    if as_json {
        return Ok(serde_json::to_string_pretty(&report_json(&report))?);
    }
    let mut out = report.audit.as_ref().map(headline).unwrap_or_default();
    out.push('\n');
    out.push_str(&table(
        &["SERVER", "CHECK", "RESULT", "STAGE", "DETAIL"],
        verdict_rows(&report),
    ));
    out.push_str("\nGaps:\n");
    out.push_str(&gap_table(&report.gaps));
    out.push_str(&what_to_do(&report));
    match &report.diff {
        Some(d) => out.push_str(&format!("\nSince the previous audit, {}", diff_text(d))),
        None => out.push_str("\nNo previous closed audit of the same scope to compare with.\n"),
    }
    Ok(out)
}

pub async fn diff(url: &str, from: String, to: String, as_json: bool) -> anyhow::Result<String> {
    let d = client(url)
        .await?
        .diff_audits(DiffAuditsRequest {
            from_audit_id: from,
            to_audit_id: to,
        })
        .await
        .map_err(said)?
        .into_inner();
    if as_json {
        return Ok(serde_json::to_string_pretty(&diff_json(&d))?);
    }
    Ok(diff_text(&d))
}

/// `audit report`: the audit in a report format, to stdout (returned) or to a file (then the
/// returned text says where). The audit is read before the file is touched, so a failed
/// read never truncates an earlier report.
pub async fn report(
    url: &str,
    audit_id: String,
    format: Format,
    out: Option<&Path>,
) -> anyhow::Result<String> {
    let report = client(url)
        .await?
        .get_audit(GetAuditRequest {
            audit_id: audit_id.clone(),
        })
        .await
        .map_err(said)
        .with_context(|| format!("reading audit {audit_id}"))?
        .into_inner();
    let text = export::render(&report, format);
    let Some(path) = out else {
        return Ok(text);
    };
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the report to {}", path.display()))?;
    Ok(format!("report written to {}\n", path.display()))
}

//! The demo's audit: run once the agents are in, what each server cannot do, the reports.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use eceprobe_collector::checkname::CheckName;
use eceprobe_collector::export::{self, Format};
use eceprobe_proto::v1::{AuditReport, GetAuditRequest, ListAuditsRequest, ListServersRequest};

use super::{DEPLOYMENT, SERVERS};
use eceprobe_collector::admin;

/// Waits until both agents have said hello (an audit orders only connected agents).
async fn wait_for_agents(query_url: &str) -> anyhow::Result<()> {
    let mut query = admin::client(query_url).await?;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let known = query
            .list_servers(ListServersRequest {
                deployment: DEPLOYMENT.into(),
            })
            .await?
            .into_inner()
            .servers
            .len();
        if known == SERVERS.len() {
            // Registered for orders right after being recorded: give that a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < give_up,
            "only {known} of {} demo agents connected within 30 s",
            SERVERS.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) async fn audit_and_report(
    query_url: &str,
    dir: &Path,
    deadline_s: u32,
) -> anyhow::Result<u8> {
    wait_for_agents(query_url).await?;
    println!(
        "\nRunning an audit of deployment '{DEPLOYMENT}' (every server runs every check now)...\n"
    );
    let (text, code) =
        admin::audit::run(query_url, DEPLOYMENT.into(), deadline_s, true, false).await?;
    print!("{text}");
    let report = latest_report(query_url).await?;
    let blocked = blocked_lines(&report);
    if !blocked.is_empty() {
        println!("\nWhat each server cannot do:");
        for line in blocked {
            println!("  {line}");
        }
    }
    let id = report
        .audit
        .as_ref()
        .map(|a| a.audit_id.clone())
        .unwrap_or_default();
    println!();
    for format in [Format::Markdown, Format::Html] {
        let path = dir.join(format!("audit-{id}.{}", format.extension()));
        std::fs::write(&path, export::render(&report, format))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report: {}", path.display());
    }
    Ok(code)
}

async fn latest_report(query_url: &str) -> anyhow::Result<AuditReport> {
    let mut query = admin::client(query_url).await?;
    let audits = query
        .list_audits(ListAuditsRequest {
            deployment: DEPLOYMENT.into(),
            limit: 1,
        })
        .await?
        .into_inner()
        .audits;
    let audit = audits.first().context("the audit is not recorded")?;
    Ok(query
        .get_audit(GetAuditRequest {
            audit_id: audit.audit_id.clone(),
        })
        .await?
        .into_inner())
}

/// One line per failing check: the server, the address and port it cannot reach (or the
/// mailbox Microsoft refuses), how.
fn blocked_lines(report: &AuditReport) -> Vec<String> {
    let mut out = Vec::new();
    for s in &report.servers {
        for v in s.verdicts.iter().filter(|v| v.outcome == "fail") {
            let name = CheckName::parse(&v.check).ok();
            let mailbox_check = name
                .as_ref()
                .and_then(|n| Some((n.id().as_str(), n.mailbox()?)));
            let line = match mailbox_check {
                Some((check, mailbox)) => format!(
                    "{} ({}) reaches {} but {mailbox} is refused for {check}: {} at the {} stage",
                    s.agent_id, s.role, v.target, v.failure_kind, v.stage
                ),
                None => format!(
                    "{} ({}) cannot reach {} for {}: {} at the {} stage",
                    s.agent_id, s.role, v.target, v.check, v.failure_kind, v.stage
                ),
            };
            out.push(line);
        }
    }
    out
}

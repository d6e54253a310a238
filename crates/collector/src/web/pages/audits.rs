//! `/audits` and `/audits/{id}`: the audits, and one audit's verdicts, gaps (with the
//! checklist item and the fix), the diff with the previous audit, and its exports.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use eceprobe_checks::ChecklistItem;
use eceprobe_proto::v1::{Audit, AuditReport, Gap};
use maud::{html, Markup};

use super::{layout, owner_title, when};
use crate::export::remedy;
use crate::gaps::owner_name;
use crate::web::api::{audits_params, path};
use crate::web::error::PageError;
use crate::web::params::{self, NoQuery};
use crate::web::views::audits::{list, report};
use crate::web::WebState;

pub async fn list_page(State(state): State<WebState>, uri: Uri) -> Result<Markup, PageError> {
    let (deployment, limit) = audits_params(&uri)?;
    let audits = list(&state, deployment, limit).await?;
    Ok(layout("Audits", true, render_list(&audits)))
}

pub async fn audit_page(
    State(state): State<WebState>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let audit_id = params::audit_id(&path(id)?)?;
    params::query::<NoQuery>(&uri)?;
    let r = report(&state, &audit_id).await?;
    let running = r.audit.as_ref().is_some_and(|a| a.closed_unix_ms == 0);
    Ok(layout(
        &format!("Audit {audit_id}"),
        running,
        render_report(&audit_id, &r),
    ))
}

fn scope(deployment: &str) -> &str {
    match deployment {
        "" => "all deployments",
        d => d,
    }
}

pub fn render_list(audits: &[Audit]) -> Markup {
    html! {
        h1 { "Audits" }
        p {
            button.run-audit type="button" data-deployment="" { "Run audit of every deployment" }
            " " span.audit-status role="status" {}
        }
        table {
            thead { tr { th { "audit" } th { "scope" } th { "state" } th { "started" } th { "closed" } th { "servers" } th { "ordered" } th { "answered" } } }
            tbody {
                @for a in audits {
                    tr {
                        td { a href=(format!("/audits/{}", a.audit_id)) { (a.audit_id) } }
                        td { (scope(&a.deployment)) }
                        td { (a.state) }
                        td { (when(a.started_unix_ms)) }
                        td { (when(a.closed_unix_ms)) }
                        td.num { (a.servers) } td.num { (a.ordered) } td.num { (a.answered) }
                    }
                }
                @if audits.is_empty() { tr { td colspan="8" { "No audit yet." } } }
            }
        }
    }
}

fn gap_rows(gaps: &[Gap], r: &AuditReport) -> Markup {
    html! {
        table {
            thead { tr { th { "server" } th { "check" } th { "severity" } th { "kind" } th { "owner" } th { "detail" } th { "checklist" } th { "fix" } } }
            tbody {
                @for g in gaps {
                    @let server = r.servers.iter().find(|s| s.agent_id == g.agent_id);
                    @let verdict = server.and_then(|s| s.verdicts.iter().find(|v| v.check == g.check));
                    @let fix = remedy(g, server, verdict);
                    tr class=(if g.severity == "gap" { "gap" } else { "warn" }) {
                        td { a href=(format!("/servers/{}", g.agent_id)) { (g.agent_id) } }
                        @let owner = owner_name(&g.kind, &g.detail);
                        td { (g.check) } td { (g.severity) } td { (g.kind) }
                        td.owner title=(owner_title(owner)) { (owner) } td { (g.detail) }
                        td { (ChecklistItem::join(&fix.items)) } td { (fix.fix) }
                    }
                }
                @if gaps.is_empty() { tr { td colspan="8" { "None." } } }
            }
        }
    }
}

pub fn render_report(audit_id: &str, r: &AuditReport) -> Markup {
    html! {
        h1 { "Audit " (audit_id) }
        @if let Some(a) = &r.audit {
            p.summary {
                (scope(&a.deployment)) ": " (a.state) ", started " (when(a.started_unix_ms))
                @if a.closed_unix_ms != 0 { ", closed " (when(a.closed_unix_ms)) } @else { ", deadline " (when(a.deadline_unix_ms)) }
                ". " (a.servers) " servers in scope, " (a.ordered) " ordered, " (a.answered) " answered."
            }
        }
        p.exports {
            "Report: "
            @for ext in ["md", "html", "csv", "json"] {
                a href=(format!("/api/audits/{audit_id}/report.{ext}")) { (ext) } " "
            }
        }
        h2 { "Gaps and warnings" }
        (gap_rows(&r.gaps, r))
        h2 { "Changes since the previous audit" }
        @match &r.diff {
            Some(d) => {
                p { "Compared with " a href=(format!("/audits/{}", d.from_audit_id)) { (d.from_audit_id) } ": "
                    (d.new_gaps.len()) " new, " (d.resolved_gaps.len()) " resolved, " (d.unchanged_gaps.len()) " unchanged." }
                h3 { "New" } (gap_rows(&d.new_gaps, r))
                h3 { "Resolved" } (gap_rows(&d.resolved_gaps, r))
            }
            None => { p { "First audit of this scope: nothing to compare with." } }
        }
        h2 { "Verdicts" }
        @for s in &r.servers {
            section.server {
                h3 { a href=(format!("/servers/{}", s.agent_id)) { (s.agent_id) } " " small { (s.hostname) " " (s.role) " " (s.deployment) } }
                @if s.answered_unix_ms == 0 {
                    p.gap { @if s.ordered { "Ordered, did not answer before the deadline." } @else { "Not connected when the audit started: not ordered." } }
                }
                @if !s.verdicts.is_empty() {
                    table {
                        thead { tr { th { "check" } th { "target" } th { "outcome" } th { "failure" } th { "hint" } } }
                        tbody {
                            @for v in &s.verdicts {
                                tr class=(match v.outcome.as_str() { "pass" => "pass", "warn" => "warn", _ => "gap" }) {
                                    td { (v.check) } td { (v.target) } td { (v.outcome) }
                                    td { (v.failure_kind) @if !v.stage.is_empty() { " (" (v.stage) ")" } @if !v.detail.is_empty() { br; small { (v.detail) } } }
                                    td { (v.hint) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !r.policy.is_empty() {
            h2 { "Policy in force" }
            pre { (r.policy) }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Each gap of an audit says who closes it, the team's words in its title.
    #[test]
    fn an_audits_gaps_show_their_owner() {
        let html = super::render_report("a-1", &crate::export::sample::sample()).into_string();
        assert!(html.contains("<th>owner</th>"), "{html}");
        assert!(
            html.contains(
                r#"<td class="owner" title="the network team (firewall, proxy, DNS)">network</td>"#
            ),
            "{html}"
        );
        // The server that did not answer: its agent's host.
        assert!(html.contains(">host</td>"), "{html}");
    }
}

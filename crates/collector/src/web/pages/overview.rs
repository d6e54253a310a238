//! `/`: deployments, then servers (rows) by checks (columns), each cell coloured by state and
//! linking to that check on the server's page.

use axum::extract::State;
use axum::http::Uri;
use maud::{html, Markup};

use super::{ago, duration, layout, pager, query_part, when};
use crate::web::api::overview_params;
use crate::web::error::PageError;
use crate::web::params;
use crate::web::views::cells::{Cell, CellState, MailboxesCell};
use crate::web::views::overview::{build, Overview};
use crate::web::WebState;

pub async fn page(State(state): State<WebState>, uri: Uri) -> Result<Markup, PageError> {
    let (deployment, paging) = overview_params(&uri)?;
    let view = build(&state, deployment, paging).await?;
    Ok(layout("Overview", true, render(&view)))
}

/// Deployment names come from agents: only those the filter accepts become links.
fn filterable(deployment: &str) -> bool {
    params::id("deployment", deployment).is_ok()
}

fn cell(agent_id: &str, c: &Cell) -> Markup {
    let label = match c.state {
        CellState::Pass => "ok",
        CellState::Warn => "warn",
        CellState::Gap => "GAP",
        CellState::Missing => "missing",
        CellState::Stale => "stale",
        CellState::NotRequired => "-",
    };
    let title = match (&c.kind, c.duration_us) {
        (Some(k), Some(d)) => format!("{}: {} ({})", c.check, k, duration(d)),
        (Some(k), None) => format!("{}: {}", c.check, k),
        (None, Some(d)) => format!("{}: {} ({})", c.check, c.state.as_str(), duration(d)),
        (None, None) => format!("{}: {}", c.check, c.state.as_str()),
    };
    html! {
        td class=(format!("cell {}", c.state.as_str())) title=(title) {
            a href=(format!("/servers/{agent_id}#check-{}", c.check)) {
                (label)
                @if let (CellState::Gap | CellState::Warn, Some(k)) = (c.state, &c.kind) {
                    br; small { (k) }
                }
            }
        }
    }
}

/// The server's mailboxes (OAuth checks): the worst state, linking to the server page's
/// "Mailboxes (OAuth)" section.
fn mailboxes(agent_id: &str, m: &MailboxesCell) -> Markup {
    let title = match m.mailboxes {
        0 => "mailboxes: no OAuth check reported".to_owned(),
        n => format!("mailboxes: {n} with OAuth checks; {}", m.summary),
    };
    html! {
        td class=(format!("cell mailboxes {}", m.state.as_str())) title=(title) {
            @if m.mailboxes == 0 {
                "-"
            } @else {
                a href=(format!("/servers/{agent_id}#mailboxes")) { (m.summary) }
            }
        }
    }
}

pub fn render(v: &Overview) -> Markup {
    let filter = v.deployment.as_deref();
    let base = format!("/?{}", query_part(&[("deployment", filter)]));
    html! {
        h1 { "Overview" }
        p.summary {
            strong class=(if v.open_gaps > 0 { "count gap" } else { "count pass" }) {
                (v.open_gaps) " open gap" @if v.open_gaps != 1 { "s" }
            }
            ", " (v.open_warnings) " warning" @if v.open_warnings != 1 { "s" }
            " across " (v.deployments.len()) " deployment" @if v.deployments.len() != 1 { "s" }
            ". Last evaluated " (when(v.evaluated_unix_ms)) " ("
            (ago(v.generated_unix_ms, v.evaluated_unix_ms)) "); this page refreshes every 15 s."
        }
        p.summary.collectors {
            "Served by collector " code { (v.collector) } ". "
            @match &v.leader {
                Some(leader) if *leader == v.collector => { "It leads: it evaluates the gaps and delivers webhooks." }
                Some(leader) => { "Collector " code { (leader) } " leads: it evaluates the gaps and delivers webhooks." }
                None => { "Which collector leads is not known (just started, or the database does not answer): gap evaluation may be stopped; see the collectors' logs." }
            }
        }
        section.deployments {
            h2 { "Deployments" }
            table {
                thead { tr { th { "deployment" } th { "servers" } th { "open gaps" } th { "warnings" } th {} } }
                tbody {
                    @for d in &v.deployments {
                        tr class=[(d.open_gaps > 0).then_some("has-gaps")] {
                            td {
                                @if filterable(&d.deployment) {
                                    a href=(format!("/?deployment={}", d.deployment)) { (d.deployment) }
                                } @else {
                                    (d.deployment)
                                }
                            }
                            td.num { (d.servers) }
                            td.num { (d.open_gaps) }
                            td.num { (d.open_warnings) }
                            td {
                                @if filterable(&d.deployment) {
                                    a href=(format!("/gaps?deployment={}", d.deployment)) { "gaps" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.actions {
            form.filter method="get" action="/" {
                label for="deployment" { "Deployment " }
                select #deployment name="deployment" {
                    option value="" selected[filter.is_none()] { "all" }
                    @for d in v.deployments.iter().filter(|d| filterable(&d.deployment)) {
                        option value=(d.deployment) selected[filter == Some(d.deployment.as_str())] { (d.deployment) }
                    }
                }
                input type="hidden" name="per_page" value=(v.pagination.per_page);
                button type="submit" { "Show" }
            }
            button.run-audit type="button" data-deployment=(filter.unwrap_or("")) {
                "Run audit" @if let Some(d) = filter { " of " (d) } @else { " of every deployment" }
            }
            span.audit-status role="status" {}
        }
        h2 { "Servers" @if let Some(d) = filter { " of " (d) } }
        (pager(&base, &v.pagination))
        table.matrix {
            thead {
                tr {
                    th { "server" } th { "deployment" } th { "role" } th { "agent" } th { "last seen" }
                    @for c in &v.checks { th.check { (c) } }
                    th.check title="OAuth checks of the mailboxes configured on the server" { "mailboxes" }
                }
            }
            tbody {
                @for s in &v.servers {
                    tr {
                        th.server scope="row" {
                            a href=(format!("/servers/{}", s.agent_id)) { (s.agent_id) }
                            @if s.hostname != s.agent_id && !s.hostname.is_empty() { br; small { (s.hostname) } }
                        }
                        td { (s.deployment) }
                        td { (s.role) }
                        td { (s.agent_version) @for n in &s.version_notes { br; small.warn { (n) } } }
                        td title=(when(s.last_seen_unix_ms)) {
                            (ago(v.generated_unix_ms, s.last_seen_unix_ms))
                            @if s.connected { " " span.connected title="connected now" { "connected" } }
                        }
                        @for c in &s.cells { (cell(&s.agent_id, c)) }
                        (mailboxes(&s.agent_id, &s.mailboxes))
                    }
                }
                @if v.servers.is_empty() {
                    tr { td colspan=(6 + v.checks.len()) { "No server has reported yet." } }
                }
            }
        }
        (pager(&base, &v.pagination))
        @if v.latency_warnings > 0 {
            h2 #latency { "Latency warnings on this page" }
            p.muted { "A stage far slower than on the other servers of the same deployment and role, or than the server's own last 7 days (computed now; not gaps)." }
            ul.latency {
                @for s in &v.servers {
                    @for w in &s.latency_warnings {
                        li.warn {
                            a href=(format!("/servers/{}#check-{}", s.agent_id, w.check)) { (s.agent_id) }
                            " " strong { (w.kind) } ": " (w.detail)
                        }
                    }
                }
            }
        }
        p.legend {
            span.cell.pass { "ok" } " pass " span.cell.warn { "warn" } " warning "
            span.cell.gap { "GAP" } " gap (a required check fails) " span.cell.missing { "missing" }
            " / " span.cell.stale { "stale" } " not reported or silent " span.cell.not_required { "-" } " not required"
        }
    }
}

//! `/servers/{agent_id}`: the server's facts and open gaps, then each check: its state,
//! the failure with its remedy, stages with timings per address, TLS and the certificate
//! chain, SASL mechanisms, and its history as a chart.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use eceprobe_checks::CheckId;
use maud::{html, Markup};

use super::{ago, chart, duration, layout, when};
use crate::gaps::now_ms;
use crate::web::api::path;
use crate::web::error::PageError;
use crate::web::params::{self, NoQuery};
use crate::web::views::server::{
    build, history, AttemptView, CheckDetail, FindingView, History, ServerView,
};
use crate::web::WebState;

/// Results drawn in each check's chart.
const CHART_POINTS: u32 = 60;

pub async fn page(
    State(state): State<WebState>,
    uri: Uri,
    agent: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let agent_id = params::id("agent id", &path(agent)?)?;
    params::query::<NoQuery>(&uri)?;
    let view = build(&state, &agent_id).await?;
    let mut charts = Vec::new();
    for check in CheckId::ALL {
        if view.checks.iter().any(|c| c.check == check.as_str()) {
            charts.push(history(&state, &agent_id, check, CHART_POINTS).await?);
        }
    }
    let title = format!("Server {agent_id}");
    Ok(layout(&title, false, render(&view, &charts)))
}

fn finding(f: &FindingView, class: &str) -> Markup {
    html! {
        div class=(format!("finding {class}")) {
            p { strong { (f.kind) } @if !f.stage.is_empty() { " at stage " (f.stage) } }
            @if !f.detail.is_empty() { p.detail { (f.detail) } }
            @if !f.hint.is_empty() { p.hint { strong { "What to do: " } (f.hint) } }
        }
    }
}

fn attempt(a: &AttemptView) -> Markup {
    html! {
        div.attempt {
            h4 { "Address " (a.address) }
            table.stages {
                thead { tr { th { "stage" } th { "result" } th { "time" } } }
                tbody {
                    @for s in &a.stages {
                        tr class=(if s.ok { "pass" } else { "gap" }) {
                            td { (s.stage) } td { (if s.ok { "ok" } else { "failed" }) } td.num { (duration(s.duration_us)) }
                        }
                    }
                }
            }
            @if let Some(f) = &a.failure { (finding(f, "gap")) }
            @for w in &a.warnings { (finding(w, "warn")) }
            @if let Some(t) = &a.tls {
                p {
                    "TLS " (t.version) " " (t.cipher) "; "
                    (if t.trusted { "trusted" } else { "NOT trusted" })
                    @match t.expected_root {
                        Some(true) => { ", ends at a Microsoft root" }
                        Some(false) => { ", ends at an unexpected root (interception?)" }
                        None => {}
                    }
                    @if !t.chain_root.is_empty() { " (" (t.chain_root) ")" }
                }
                @if !t.chain.is_empty() {
                    table.chain {
                        thead { tr { th { "#" } th { "subject" } th { "issuer" } th { "expires" } th { "days left" } } }
                        tbody {
                            @for (i, c) in t.chain.iter().enumerate() {
                                tr class=[(c.days_left < 30).then_some("warn")] {
                                    td.num { (i) }
                                    td { (c.subject) @if !c.dns_names.is_empty() { br; small { (c.dns_names.join(", ")) } } }
                                    td { (c.issuer) }
                                    td { (c.not_after) }
                                    td.num { (c.days_left) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(p) = &a.protocol {
                dl.protocol {
                    @if !p.greeting.is_empty() { dt { "greeting" } dd { code { (p.greeting) } } }
                    @if !p.front_end.is_empty() { dt { "front end" } dd { (p.front_end) } }
                    @if !p.sasl_mechanisms.is_empty() { dt { "SASL mechanisms" } dd { (p.sasl_mechanisms.join(" ")) } }
                    @if !p.capabilities.is_empty() { dt { "capabilities" } dd { (p.capabilities.join(" ")) } }
                    @if !p.capabilities_before_tls.is_empty() { dt { "before TLS" } dd { (p.capabilities_before_tls.join(" ")) } }
                    @if p.http_status != 0 { dt { "HTTP status" } dd { (p.http_status) } }
                    @if !p.token_endpoint.is_empty() { dt { "token endpoint" } dd { (p.token_endpoint) } }
                }
            }
        }
    }
}

fn check(v: &ServerView, c: &CheckDetail, chart_of: Option<&History>) -> Markup {
    let state = v
        .cells
        .iter()
        .find(|cell| cell.check == c.check)
        .map(|cell| cell.state.as_str())
        .unwrap_or("pass");
    html! {
        section.check id=(format!("check-{}", c.check)) {
            h3 class=(format!("state {state}")) { (c.check) ": " (state) " " small { (c.outcome) ", " (duration(c.duration_us)) } }
            p.muted {
                (c.host) ":" (c.port) " - result #" (c.seq) " started " (when(c.started_unix_ms))
                @if !c.via_proxy.is_empty() { " via proxy " (c.via_proxy) }
                @if !c.used_address.is_empty() { " - details from " (c.used_address) }
            }
            @if let Some(f) = &c.failure { (finding(f, "gap")) }
            @for w in &c.warnings { (finding(w, "warn")) }
            @if let Some(d) = &c.dns {
                p { "DNS (" (d.source) ", " (duration(d.duration_us)) "): " (d.addresses.join(", ")) }
            }
            @for a in &c.attempts { (attempt(a)) }
            @if let Some(h) = chart_of {
                h4 { "History" }
                (chart::render(h))
            }
        }
    }
}

pub fn render(v: &ServerView, charts: &[History]) -> Markup {
    let s = &v.server;
    let now = now_ms();
    html! {
        h1 { "Server " (s.agent_id) }
        table.facts {
            tr { th { "host name" } td { (s.hostname) } }
            tr { th { "deployment" } td { (s.deployment) } }
            tr { th { "role" } td { (s.role) } }
            tr { th { "agent version" } td { (s.agent_version) } }
            tr { th { "OS" } td { (s.os) } }
            @if !s.ece_version.is_empty() { tr { th { "ECE" } td { (s.ece_version) " " (s.ece_es) } } }
            tr { th { "last seen" } td { (when(s.last_seen_unix_ms)) " (" (ago(now, s.last_seen_unix_ms)) ")" @if s.connected { ", connected now" } } }
            tr { th { "probe interval" } td { (s.probe_interval_s) " s" } }
            tr { th { "results" } td { (s.last_seq) " stored" @if s.spool_dropped > 0 { ", " (s.spool_dropped) " dropped by the agent's spool" } } }
        }
        h2 { "Open gaps and warnings" }
        @if v.open_gaps.is_empty() {
            p.pass { "None." }
        } @else {
            table {
                thead { tr { th { "check" } th { "severity" } th { "kind" } th { "detail" } th { "since" } } }
                tbody {
                    @for g in &v.open_gaps {
                        tr class=(if g.severity == "gap" { "gap" } else { "warn" }) {
                            td { a href=(format!("#check-{}", g.check)) { (g.check) } }
                            td { (g.severity) } td { (g.kind) } td { (g.detail) } td { (when(g.opened_unix_ms)) }
                        }
                    }
                }
            }
        }
        h2 { "Checks" }
        p.cells {
            @for c in &v.cells {
                a class=(format!("cell {}", c.state.as_str())) href=(format!("#check-{}", c.check)) { (c.check) ": " (c.state.as_str()) }
                " "
            }
        }
        @if v.checks.is_empty() { p { "This server has not reported any result yet." } }
        @for c in &v.checks {
            (check(v, c, charts.iter().find(|h| h.check == c.check)))
        }
    }
}

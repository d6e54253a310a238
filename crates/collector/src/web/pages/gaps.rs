//! `/gaps`: open gaps and warnings, newest first, filterable, with since when and how many
//! times each opened in the last 7 days.

use crate::web::views::cells::COLUMNS;
use axum::extract::State;
use axum::http::Uri;
use maud::{html, Markup};

use super::{ago, layout, pager, query_part, when};
use crate::gaps::now_ms;
use crate::web::api::gaps_params;
use crate::web::error::PageError;
use crate::web::views::gaps::{build, GapsView};
use crate::web::WebState;

pub async fn page(State(state): State<WebState>, uri: Uri) -> Result<Markup, PageError> {
    let (filters, paging) = gaps_params(&uri)?;
    let view = build(&state, filters, paging).await?;
    Ok(layout("Gaps", true, render(&view)))
}

pub fn render(v: &GapsView) -> Markup {
    let f = &v.filters;
    let base = format!(
        "/gaps?{}",
        query_part(&[
            ("deployment", f.deployment.as_deref()),
            ("server", f.server.as_deref()),
            ("check", f.check.as_deref()),
            ("severity", f.severity.as_deref()),
        ])
    );
    let now = now_ms();
    html! {
        h1 { "Open gaps and warnings" }
        p.summary { (v.pagination.total) " open. Last evaluated " (when(v.evaluated_unix_ms)) " (" (ago(now, v.evaluated_unix_ms)) ")." }
        form.filter method="get" action="/gaps" {
            label { "deployment " input type="text" name="deployment" value=(f.deployment.as_deref().unwrap_or("")) size="12"; }
            label { " server " input type="text" name="server" value=(f.server.as_deref().unwrap_or("")) size="16"; }
            label { " check "
                select name="check" {
                    option value="" selected[f.check.is_none()] { "any" }
                    @for c in COLUMNS {
                        option value=(c.as_str()) selected[f.check.as_deref() == Some(c.as_str())] { (c.as_str()) }
                    }
                    // A mailbox's check (reached from a link) stays selected.
                    @if let Some(other) = f.check.as_deref().filter(|c| !COLUMNS.iter().any(|k| k.as_str() == *c)) {
                        option value=(other) selected { (other) }
                    }
                }
            }
            label { " severity "
                select name="severity" {
                    option value="" selected[f.severity.is_none()] { "any" }
                    @for s in ["gap", "warning"] {
                        option value=(s) selected[f.severity.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            input type="hidden" name="per_page" value=(v.pagination.per_page);
            " " button type="submit" { "Filter" }
        }
        (pager(&base, &v.pagination))
        table.gaps {
            thead { tr { th { "since" } th { "server" } th { "deployment" } th { "check" } th { "severity" } th { "kind" } th { "detail" } th { "opened in 7 days" } } }
            tbody {
                @for g in &v.gaps {
                    tr class=(if g.severity == "gap" { "gap" } else { "warn" }) {
                        td title=(ago(now, g.opened_unix_ms)) { (when(g.opened_unix_ms)) }
                        td { a href=(format!("/servers/{}#check-{}", g.agent_id, g.check)) { (g.agent_id) } }
                        td { (g.deployment) }
                        td { (g.check) }
                        td { (g.severity) }
                        td { (g.kind) }
                        td { (g.detail) }
                        td.num { (g.times_opened_last_7_days) }
                    }
                }
                @if v.gaps.is_empty() { tr { td colspan="8" { "No open gap matches." } } }
            }
        }
        (pager(&base, &v.pagination))
    }
}

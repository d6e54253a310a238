//! `/gaps`: open gaps and warnings, newest first, filterable, with since when and how many
//! times each opened in the last 7 days; each page's rows grouped by who closes them (the
//! owner, in `Owner::ALL`'s order, then the unknown ones).

use crate::web::views::cells::COLUMNS;
use axum::extract::State;
use axum::http::Uri;
use eceprobe_proto::now_ms;
use maud::{html, Markup};

use super::{ago, layout, owner_title, pager, query_part, when};
use crate::gaps::OwnerFilter;
use crate::web::api::gaps_params;
use crate::web::error::PageError;
use crate::web::views::gaps::{build, GapRow, GapsView};
use crate::web::WebState;
use eceprobe_checks::ChecklistItem;
use eceprobe_checks::Owner;

pub async fn page(State(state): State<WebState>, uri: Uri) -> Result<Markup, PageError> {
    let (filters, paging) = gaps_params(&uri)?;
    let timeline = super::timeline::section(&state, (&filters).into()).await?;
    let view = build(&state, filters, paging).await?;
    let list = crate::web::views::endpoints::build(&state.tracker.endpoints(), false);
    Ok(layout(
        "Gaps",
        true,
        html! { (render(&view)) (timeline) (super::endpoints::footer(&list)) },
    ))
}

/// Every owner's name, in [`Owner::ALL`]'s order, then `unknown`.
fn owner_names() -> impl Iterator<Item = &'static str> {
    Owner::ALL
        .iter()
        .map(|o| o.as_str())
        .chain([crate::gaps::UNKNOWN])
}

/// The page's rows by owner, in [`Owner::ALL`]'s order then the unknown ones, each group
/// newest opened first as the page reads them.
fn by_owner(gaps: &[GapRow]) -> Vec<(&'static str, Vec<&GapRow>)> {
    owner_names()
        .map(|name| {
            (
                name,
                gaps.iter().filter(|g| g.owner == name).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// The row's fix, folded under its detail so 50 rows stay readable: the summary names the
/// checklist item(s), opening it gives the fix (the server page's "What to do").
fn fix(g: &GapRow) -> Markup {
    html! {
        @if !g.fix.is_empty() {
            // The id keeps it open across the page's refresh (app.js).
            details.fix id=(format!("fix-{}", g.gap_id)) {
                summary {
                    "What to do"
                    @if !g.checklist_item.is_empty() {
                        " (" span.checklist title=(ChecklistItem::join_long(&g.checklist_item)) { (ChecklistItem::join(&g.checklist_item)) } ")"
                    }
                }
                p.hint { (g.fix) }
            }
        }
    }
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
            ("owner", f.owner.map(OwnerFilter::as_str)),
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
            label { " owner "
                select name="owner" {
                    option value="" selected[f.owner.is_none()] { "any" }
                    @for o in owner_names() {
                        option value=(o) selected[f.owner.map(OwnerFilter::as_str) == Some(o)] { (o) }
                    }
                }
            }
            input type="hidden" name="per_page" value=(v.pagination.per_page);
            " " button type="submit" { "Filter" }
        }
        (pager(&base, &v.pagination))
        table.gaps {
            thead { tr { th { "since" } th { "server" } th { "deployment" } th { "check" } th { "severity" } th { "kind" } th { "owner" } th { "detail" } th { "opened in 7 days" } } }
            // Grouped by who closes them, the team's words as each group's heading.
            @for (owner, rows) in by_owner(&v.gaps) {
                tbody.owner-group {
                    tr.owner-heading { th colspan="9" { (owner_title(owner)) " (" (rows.len()) ")"
                        @for (deployment, href) in crate::web::change_request::links(f.deployment.as_deref(), owner, rows.iter().map(|g| g.deployment.as_str())) {
                            " " a.change-request href=(href) { "change request (" (deployment) ")" }
                        }
                    } }
                    @for g in rows {
                        tr class=(if g.severity == "gap" { "gap" } else { "warn" }) {
                            td title=(ago(now, g.opened_unix_ms)) { (when(g.opened_unix_ms)) }
                            td { a href=(format!("/servers/{}#check-{}", g.agent_id, g.check)) { (g.agent_id) } }
                            td { (g.deployment) }
                            td { (g.check) }
                            td { (g.severity) }
                            td { (g.kind) }
                            td.owner { (g.owner) }
                            td { (g.detail) (fix(g)) }
                            td.num { (g.times_opened_last_7_days) }
                        }
                    }
                }
            }
            @if v.gaps.is_empty() { tbody { tr { td colspan="9" { "No open gap matches." } } } }
        }
        (pager(&base, &v.pagination))
    }
}

//! The gap timeline around its chart: on its own page (`/timeline?deployment=&server=&days=`),
//! and as a section of the gaps page (its deployment and server filters; the whole fleet
//! without one) and of a server's page
//! (the last 7 days, with a link to the 30). Says in words when nothing was open, how many
//! lanes were left out (with a link to the gaps page filtered the same way), and lists
//! every bar below the chart for screen readers.

use axum::extract::State;
use axum::http::Uri;
use maud::{html, Markup};

use super::timeline_svg::{bar_words, legend, render as chart};
use super::{layout, query_part};
use crate::web::api::timeline_params;
use crate::web::error::{PageError, WebError};
use crate::web::params::TIMELINE_DAYS;
use crate::web::views::timeline::{build, TimelineScope, TimelineView};
use crate::web::WebState;

pub async fn page(State(state): State<WebState>, uri: Uri) -> Result<Markup, PageError> {
    let (scope, days) = timeline_params(&uri)?;
    let view = build(&state, scope, days).await?;
    let title = format!("Gap timeline of {}", view.scope.words());
    Ok(layout(
        &title,
        false,
        html! { h1 { (title) } (render(&view)) },
    ))
}

/// The last 7 days of `scope` as a section of another page, under its own heading.
pub async fn section(state: &WebState, scope: TimelineScope) -> Result<Markup, WebError> {
    let view = build(state, scope, TIMELINE_DAYS[0]).await?;
    Ok(html! {
        section.timeline #timeline {
            h2 { "Timeline of gaps and warnings" }
            (render(&view))
        }
    })
}

/// A link to the same scope's timeline page over `days`.
fn link(scope: &TimelineScope, days: u32) -> String {
    format!(
        "/timeline?{}days={days}",
        query_part(&[
            ("deployment", scope.deployment.as_deref()),
            ("server", scope.server.as_deref()),
        ])
    )
}

/// The list's `id`, stable per scope: the gaps page's refresh (app.js) reopens only the
/// `details` with an id that were open, so without one the list folds up every 15 s.
/// Names are cut to the characters an id reads plainly; the scope's words stay in the page.
fn list_id(scope: &TimelineScope) -> String {
    let part = |label: &str, name: Option<&str>| match name {
        None => String::new(),
        Some(n) => format!(
            "-{label}-{}",
            n.chars()
                .take(128)
                .map(
                    |c| match c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        true => c,
                        false => '_',
                    }
                )
                .collect::<String>()
        ),
    };
    format!(
        "timeline-list{}{}",
        part("deployment", scope.deployment.as_deref()),
        part("server", scope.server.as_deref())
    )
}

pub fn render(v: &TimelineView) -> Markup {
    let gaps_page = format!(
        "/gaps?{}",
        query_part(&[
            ("deployment", v.scope.deployment.as_deref()),
            ("server", v.scope.server.as_deref()),
        ])
    );
    let gaps_page = gaps_page.trim_end_matches(['?', '&']);
    html! {
        p.timeline-days {
            "Last "
            @for (i, d) in TIMELINE_DAYS.iter().enumerate() {
                @if i > 0 { " | " }
                @if *d == v.days { strong { (d) " days" } }
                @else { a href=(link(&v.scope, *d)) { (d) " days" } }
            }
            " (UTC)"
        }
        @if v.lanes.is_empty() {
            p.muted.timeline-empty {
                "No gap or warning was open in the last " (v.days) " days for " (v.scope.words()) "."
            }
        } @else {
            (chart(v))
            (legend())
            @if v.lanes_not_shown > 0 {
                p.timeline-more {
                    "... and " (v.lanes_not_shown) " more lanes not drawn (the first "
                    (v.lanes.len()) " by first opening are): see "
                    a href=(gaps_page) { "the gaps page" } " for the ones open now."
                }
            }
            details.timeline-list id=(list_id(&v.scope)) {
                summary { "The timeline as a list" }
                ul {
                    @for lane in &v.lanes {
                        @for b in &lane.bars { li { (bar_words(v, lane, b)) } }
                        @if lane.openings_not_drawn > 0 {
                            li { (lane.server) " " (lane.check) ": " (lane.kind) ": "
                                (lane.openings_not_drawn) " earlier openings in the window not drawn." }
                        }
                    }
                }
            }
        }
    }
}

//! The footer naming Microsoft's endpoint list in use (issue 15, item 4): which list the
//! `address_not_microsoft` warnings were judged against, and why it was not replaced if the
//! last load failed. Its sets are at `/api/endpoints`.

use maud::{html, Markup};

use crate::web::views::endpoints::EndpointsView;

pub fn footer(v: &EndpointsView) -> Markup {
    let o = &v.origin;
    html! {
        footer.endpoints {
            p.muted {
                "Microsoft's endpoint list in use: " (o.described) ", " (v.sets_count)
                " endpoint sets ("
                a href="/api/endpoints" { "the sets" } ")."
            }
            @if let Some(e) = &v.last_error {
                div.finding.warn { "Last load failed (" (e.at) "): " (e.message) }
            }
        }
    }
}

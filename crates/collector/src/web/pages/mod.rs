//! The dashboard's pages, rendered on the server with maud: templates checked at compile
//! time that escape every spliced value by default, so a hostile host name or detail from
//! an agent cannot become markup (there is no way to forget an escape call). No inline
//! script or style (the CSP forbids both): one stylesheet and one small script, embedded.

pub mod audits;
mod chart;
mod endpoints;
pub mod gaps;
pub mod overview;
pub mod server;
pub mod timeline;
mod timeline_svg;

use maud::{html, Markup, DOCTYPE};

use super::assets::{CSS_PATH, JS_PATH};
use super::views::PageInfo;
use crate::civil::utc_minutes;

/// The page around the content: navigation, the script (auto-refresh, the audit button).
/// `refresh`: the script reloads the page every 15 s.
pub fn layout(title: &str, refresh: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - eceprobe" }
                link rel="stylesheet" href=(CSS_PATH);
                script src=(JS_PATH) defer {}
            }
            body data-refresh=[refresh.then_some("15")] {
                header.top {
                    a.brand href="/" { "eceprobe" }
                    nav {
                        a href="/" { "Overview" }
                        a href="/gaps" { "Gaps" }
                        a href="/audits" { "Audits" }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// "2026-11-28 15:23Z", or a dash for "never".
pub fn when(unix_ms: i64) -> String {
    match unix_ms {
        0 => "-".to_owned(),
        t => utc_minutes(t),
    }
}

/// A duration for people: "850 us", "12.3 ms", "4.10 s".
pub fn duration(us: u64) -> String {
    match us {
        0..=999 => format!("{us} us"),
        1000..=999_999 => format!("{:.1} ms", us as f64 / 1000.0),
        _ => format!("{:.2} s", us as f64 / 1_000_000.0),
    }
}

/// "3 min ago" etc., relative to `now`.
pub fn ago(now_ms: i64, then_ms: i64) -> String {
    if then_ms == 0 {
        return "never".to_owned();
    }
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// Previous / next links that keep the other parameters (`base` ends with `?` or `&`).
pub fn pager(base: &str, p: &PageInfo) -> Markup {
    let link = |page: u64| format!("{base}page={page}&per_page={}", p.per_page);
    html! {
        nav.pager {
            @if u64::from(p.page) > 1 {
                a href=(link(u64::from(p.page) - 1)) rel="prev" { "< previous" }
            }
            span { "page " (p.page) " of " (p.pages) " (" (p.total) " in all)" }
            @if u64::from(p.page) < p.pages {
                a href=(link(u64::from(p.page) + 1)) rel="next" { "next >" }
            }
        }
    }
}

/// `key=value&` for each value given (values are validated ids and names: URL-safe).
pub fn query_part(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}&")))
        .collect()
}

/// The team an owner's name (`network`, ..., `unknown`) stands for, in words: a heading or
/// an owner cell's title.
pub fn owner_title(name: &str) -> &'static str {
    crate::export::by_team::team_words(name)
}

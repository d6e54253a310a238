//! The gap timeline drawn as an inline SVG, as the check history chart is: one lane per
//! (server, check, kind), a bar per opening coloured by owner (tall for a gap, thin for a
//! warning), an arrow past the right edge for one still open and past the left edge for
//! one opened before the window, a grid line and a label at each 00:00Z. Every bar says
//! in its `<title>` what it was. Presentation attributes only: the CSP forbids inline
//! styles.

use eceprobe_checks::Owner;
use maud::{html, Markup};

use super::{owner_title, when};
use crate::civil::civil_from_days;
use crate::web::views::timeline::{BarView, LaneView, TimelineView, DAY_MS};

const W: f64 = 960.0;
/// The lane labels' column.
const PLOT_LEFT: f64 = 260.0;
/// Room on the right for the arrows of open gaps and the "now" label.
const PLOT_RIGHT: f64 = W - 36.0;
/// Room above the lanes for the "now" label (the day labels are below).
const TOP: f64 = 16.0;
const LANE: f64 = 18.0;
const GAP_BAR: f64 = 12.0;
const WARNING_BAR: f64 = 5.0;
/// Below the lanes: the day labels and the caption.
const AXIS: f64 = 36.0;
/// A bar is at least this wide, so a gap of a minute in a month still shows.
const MIN_BAR: f64 = 2.0;
/// Lane labels longer than this are cut (the full name is in the label's title).
const LABEL_CHARS: usize = 40;

/// The fill of an owner's bars, for the chart and its legend.
pub fn owner_colour(owner: &str) -> &'static str {
    match Owner::ALL.into_iter().find(|o| o.as_str() == owner) {
        Some(Owner::Network) => "#1f6fb4",
        Some(Owner::M365) => "#7b3fa6",
        Some(Owner::Ece) => "#d9730d",
        Some(Owner::Host) => "#6b4a2b",
        None => "#8a8a8a",
    }
}

/// "3 d 4 h", "2 h 5 min", "12 min", "40 s".
pub fn lasted(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// "Tue 12-01": the day starting at this midnight (days since 1970-01-01, a Thursday).
fn day_label(day: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let (_, month, dom) = civil_from_days(day);
    let weekday = WEEKDAYS[usize::try_from(day.rem_euclid(7)).unwrap_or(0)];
    format!("{weekday} {month:02}-{dom:02}")
}

/// One opening in words: the bar's tooltip and the list's line.
pub fn bar_words(v: &TimelineView, lane: &LaneView, b: &BarView) -> String {
    let mut s = format!(
        "{} {}: {} ({}), owner {} ({}). Opened {}",
        lane.server,
        lane.check,
        lane.kind,
        b.severity,
        b.owner,
        owner_title(b.owner),
        when(b.opened_unix_ms),
    );
    if b.opened_before_window {
        s.push_str(&format!(
            ", before this {}-day window starts (drawn from its left edge)",
            v.days
        ));
    }
    match b.closed_unix_ms {
        Some(c) => {
            s.push_str(&format!(
                "; closed {} after {}",
                when(c),
                lasted(c - b.opened_unix_ms)
            ));
            if let Some(r) = &b.close_reason {
                s.push_str(&format!(" ({r})"));
            }
        }
        None => s.push_str(&format!(
            "; still open, for {} so far",
            lasted(v.end_unix_ms - b.opened_unix_ms)
        )),
    }
    s.push('.');
    if !b.detail.is_empty() {
        s.push_str(&format!(" Detail: {}", b.detail));
    }
    s
}

/// The chart's summary for screen readers (and its `<title>`).
pub fn summary(v: &TimelineView) -> String {
    // Counted, not drawn: a lane draws only its latest openings.
    let openings: u64 = v.lanes.iter().map(|l| l.openings_in_window).sum();
    let open: usize = v.lanes.iter().map(LaneView::open_bars).sum();
    let mut s = format!(
        "Gap timeline of {}, the last {} days ({} to {}, UTC): {} openings of gaps and warnings \
         in {} lanes (server, check, kind), {} still open",
        v.scope.words(),
        v.days,
        when(v.start_unix_ms),
        when(v.end_unix_ms),
        openings,
        v.lanes.len(),
        open
    );
    if v.lanes_not_shown > 0 {
        s.push_str(&format!("; {} more lanes not drawn", v.lanes_not_shown));
    }
    s.push('.');
    s
}

pub fn render(v: &TimelineView) -> Markup {
    let span = (v.end_unix_ms - v.start_unix_ms).max(1) as f64;
    let x = |t: i64| {
        let t = t.clamp(v.start_unix_ms, v.end_unix_ms);
        PLOT_LEFT + (t - v.start_unix_ms) as f64 / span * (PLOT_RIGHT - PLOT_LEFT)
    };
    let lanes_h = v.lanes.len() as f64 * LANE;
    let h = TOP + lanes_h + AXIS;
    let axis_y = TOP + lanes_h;
    let first_day = (v.start_unix_ms + DAY_MS - 1).div_euclid(DAY_MS);
    let last_day = v.end_unix_ms.div_euclid(DAY_MS);
    // About ten labels at most: every day over a week, every third over a month.
    let step = i64::from(v.days.div_ceil(10).max(1));
    let label = summary(v);
    html! {
        svg.timeline viewBox=(format!("0 0 {W} {h}")) width=(W) height=(h) role="img"
            aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            @for day in first_day..=last_day {
                @let dx = format!("{:.1}", x(day * DAY_MS));
                line.day-tick x1=(dx) x2=(dx) y1=(TOP) y2=(axis_y + 4.0) stroke="#ddd" {}
                @if (day - first_day) % step == 0 {
                    text.day-label x=(dx) dx="2" y=(axis_y + 14.0) font-size="10" { (day_label(day)) }
                }
            }
            line.axis x1=(PLOT_LEFT) x2=(PLOT_RIGHT) y1=(axis_y) y2=(axis_y) stroke="#888" {}
            line.now x1=(PLOT_RIGHT) x2=(PLOT_RIGHT) y1=(TOP) y2=(axis_y + 4.0) stroke="#444" stroke-dasharray="3 2" {}
            text x=(PLOT_RIGHT) y=(TOP - 4.0) font-size="10" text-anchor="middle" { "now" }
            text.axis-caption x=(PLOT_LEFT) y=(axis_y + 30.0) font-size="10" fill="#555" {
                "Time in UTC: a line at each 00:00Z, labelled with the day it starts; "
                (when(v.start_unix_ms)) " to " (when(v.end_unix_ms))
            }
            @for (i, lane) in v.lanes.iter().enumerate() {
                @let y = TOP + i as f64 * LANE;
                (lane_row(v, lane, y, &x))
            }
        }
    }
}

fn lane_row(v: &TimelineView, lane: &LaneView, y: f64, x: &impl Fn(i64) -> f64) -> Markup {
    let name = format!("{} {} {}", lane.server, lane.check, lane.kind);
    let shown: String = match name.chars().count() > LABEL_CHARS {
        true => name
            .chars()
            .take(LABEL_CHARS - 3)
            .chain("...".chars())
            .collect(),
        false => name.clone(),
    };
    let mut label_title = format!("{name}: {} openings in the window", lane.openings_in_window);
    if lane.openings_not_drawn > 0 {
        label_title.push_str(&format!(
            ", the earliest {} not drawn (the latest {} are)",
            lane.openings_not_drawn,
            lane.bars.len()
        ));
    }
    html! {
        g.lane {
            a href=(format!("/servers/{}#check-{}", lane.server, lane.check)) {
                text.lane-label x="4" y=(y + LANE - 5.0) font-size="11" {
                    title { (label_title) }
                    (shown)
                }
            }
            line x1=(PLOT_LEFT) x2=(PLOT_RIGHT) y1=(y + LANE) y2=(y + LANE) stroke="#f0f0f0" {}
            @for b in &lane.bars { (bar(v, lane, b, y, x)) }
        }
    }
}

fn bar(v: &TimelineView, lane: &LaneView, b: &BarView, y: f64, x: &impl Fn(i64) -> f64) -> Markup {
    let x0 = x(b.opened_unix_ms);
    let x1 = x(b.closed_unix_ms.unwrap_or(v.end_unix_ms));
    let width = (x1 - x0).max(MIN_BAR);
    let height = match b.severity.as_str() {
        "gap" => GAP_BAR,
        _ => WARNING_BAR,
    };
    let top = y + (LANE - height) / 2.0;
    let mid = top + height / 2.0;
    let open = b.closed_unix_ms.is_none();
    let class = format!(
        "bar {} {}{}{}",
        b.severity,
        b.owner,
        if open { " open" } else { "" },
        if b.opened_before_window {
            " before-window"
        } else {
            ""
        }
    );
    let fill = owner_colour(b.owner);
    html! {
        g class=(class) {
            title { (bar_words(v, lane, b)) }
            rect x=(format!("{x0:.1}")) y=(format!("{top:.1}")) width=(format!("{width:.1}")) height=(height) fill=(fill)
                stroke=[open.then_some("#111")] stroke-dasharray=[open.then_some("3 2")] {}
            @if open {
                polygon.open-end points=(format!("{:.1},{:.1} {:.1},{mid:.1} {:.1},{:.1}", x0 + width, top - 2.0, x0 + width + 8.0, x0 + width, top + height + 2.0)) fill=(fill) {}
            }
            @if b.opened_before_window {
                polygon.before-window points=(format!("{x0:.1},{:.1} {:.1},{mid:.1} {x0:.1},{:.1}", top - 2.0, x0 - 8.0, top + height + 2.0)) fill=(fill) {}
            }
        }
    }
}

/// What the colours, the heights and the arrows mean.
pub fn legend() -> Markup {
    let owners: Vec<&str> = Owner::ALL
        .iter()
        .map(|o| o.as_str())
        .chain([crate::gaps::UNKNOWN])
        .collect();
    html! {
        svg.timeline-legend viewBox="0 0 960 22" width="960" height="22" role="img"
            aria-label="Legend: colour by owner (network, m365, ece, host, unknown); a tall bar is a gap, a thin bar a warning; an arrow on the right: still open; an arrow on the left: opened before the window"
            xmlns="http://www.w3.org/2000/svg" {
            @for (i, o) in owners.iter().enumerate() {
                @let lx = 4.0 + i as f64 * 92.0;
                rect x=(lx) y="5" width="14" height="12" fill=(owner_colour(o)) {}
                text x=(lx + 18.0) y="15" font-size="11" { (o) }
            }
            rect x="470" y="5" width="24" height="12" fill="#999" {}
            text x="498" y="15" font-size="11" { "gap" }
            rect x="530" y="8.5" width="24" height="5" fill="#999" {}
            text x="558" y="15" font-size="11" { "warning" }
            rect x="616" y="5" width="24" height="12" fill="#999" stroke="#111" stroke-dasharray="3 2" {}
            polygon points="640,3 648,11 640,19" fill="#999" {}
            text x="652" y="15" font-size="11" { "still open" }
            polygon points="730,3 722,11 730,19" fill="#999" {}
            rect x="730" y="5" width="24" height="12" fill="#999" {}
            text x="758" y="15" font-size="11" { "opened before the window" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_days_read_as_words() {
        assert_eq!(lasted(40_000), "40 s");
        assert_eq!(lasted(12 * 60_000), "12 min");
        assert_eq!(lasted(2 * 3_600_000 + 5 * 60_000), "2 h 5 min");
        assert_eq!(lasted(3 * DAY_MS + 4 * 3_600_000 + 59_000), "3 d 4 h");
        assert_eq!(day_label(0), "Thu 01-01");
        // 2026-12-01 was a Tuesday.
        assert_eq!(day_label(1_796_083_200_000 / DAY_MS), "Tue 12-01");
    }
}

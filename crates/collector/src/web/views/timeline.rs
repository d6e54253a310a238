//! The gap timeline (issue 15): every gap and warning open at some moment of the last 7 or
//! 30 days, of one deployment, one server or the whole fleet, one lane per (server, check,
//! kind), each opening a bar from when it opened to when it closed (or to now). Lanes are
//! ordered by their first opening, so servers a change broke at the same minute sit side by
//! side; at most [`MAX_LANES`] lanes, and in each its latest [`BARS_PER_LANE`] openings,
//! with how many more there were.

use eceprobe_proto::now_ms;
use serde::Serialize;

use crate::gaps::owner_name;
use crate::store::timeline::TimelineWindow;
use crate::web::error::WebError;
use crate::web::views::gaps::GapFilters;
use crate::web::WebState;

/// Lanes drawn; the rest are counted and linked to the gaps page.
pub const MAX_LANES: u32 = 60;
/// Openings drawn in one lane (its latest): a gap that flaps every interval for a month
/// would otherwise be thousands of bars thinner than a pixel.
pub const BARS_PER_LANE: u32 = 50;
pub const DAY_MS: i64 = 86_400_000;

/// Whose gaps: one deployment's, one server's, both conditions, or the whole fleet's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TimelineScope {
    pub deployment: Option<String>,
    pub server: Option<String>,
}

impl TimelineScope {
    /// "deployment prod", "server svc-1", "every deployment": what the page says it covers.
    pub fn words(&self) -> String {
        match (&self.deployment, &self.server) {
            (Some(d), Some(s)) => format!("server {s} in deployment {d}"),
            (Some(d), None) => format!("deployment {d}"),
            (None, Some(s)) => format!("server {s}"),
            (None, None) => "every deployment".to_owned(),
        }
    }
}

/// The gaps page's timeline: its deployment and server filters (not its check, severity
/// and owner: the timeline shows what else broke at the same time).
impl From<&GapFilters> for TimelineScope {
    fn from(f: &GapFilters) -> TimelineScope {
        TimelineScope {
            deployment: f.deployment.clone(),
            server: f.server.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineView {
    pub scope: TimelineScope,
    pub days: u32,
    /// The window: `days` days up to the moment the page was built.
    pub start_unix_ms: i64,
    pub end_unix_ms: i64,
    /// Lanes overlapping the window, drawn or not.
    pub lanes_total: u64,
    /// Lanes beyond [`MAX_LANES`], not drawn.
    pub lanes_not_shown: u64,
    pub lanes: Vec<LaneView>,
}

/// One (server, check, kind).
#[derive(Debug, Clone, Serialize)]
pub struct LaneView {
    pub server: String,
    /// Its latest opening's deployment.
    pub deployment: String,
    pub check: String,
    pub kind: String,
    /// Openings that overlapped the window...
    pub openings_in_window: u64,
    /// ...of which these, the earliest, are not drawn ([`BARS_PER_LANE`]).
    pub openings_not_drawn: u64,
    pub bars: Vec<BarView>,
}

/// One opening of a gap or warning.
#[derive(Debug, Clone, Serialize)]
pub struct BarView {
    pub gap_id: i64,
    /// `gap` or `warning`.
    pub severity: String,
    /// Who closes it: `network`, `m365`, `ece`, `host` or `unknown` (derived from the kind).
    pub owner: &'static str,
    pub detail: String,
    pub opened_unix_ms: i64,
    /// None: still open.
    pub closed_unix_ms: Option<i64>,
    /// Why it closed when not fixed ("retired").
    pub close_reason: Option<String>,
    /// It opened before the window starts: the bar starts at the window's left edge.
    pub opened_before_window: bool,
}

impl LaneView {
    /// Bars still open now.
    pub fn open_bars(&self) -> usize {
        self.bars
            .iter()
            .filter(|b| b.closed_unix_ms.is_none())
            .count()
    }
}

/// The timeline of `scope` over the last `days` days (7 or 30, checked by the caller).
pub async fn build(
    state: &WebState,
    scope: TimelineScope,
    days: u32,
) -> Result<TimelineView, WebError> {
    let end_unix_ms = now_ms();
    let start_unix_ms = end_unix_ms - i64::from(days) * DAY_MS;
    let read = state
        .store
        .gap_timeline(&TimelineWindow {
            deployment: scope.deployment.clone(),
            agent_id: scope.server.clone(),
            start_unix_ms,
            end_unix_ms,
            max_lanes: MAX_LANES,
            bars_per_lane: BARS_PER_LANE,
        })
        .await?;
    let lanes: Vec<LaneView> = read
        .lanes
        .into_iter()
        .map(|lane| {
            let drawn = lane.gaps.len() as u64;
            LaneView {
                deployment: lane
                    .gaps
                    .last()
                    .map(|g| g.deployment.clone())
                    .unwrap_or_default(),
                server: lane.agent_id,
                check: lane.check,
                kind: lane.kind,
                openings_in_window: lane.gaps_in_window,
                openings_not_drawn: lane.gaps_in_window.saturating_sub(drawn),
                bars: lane
                    .gaps
                    .into_iter()
                    .map(|g| BarView {
                        gap_id: g.gap_id,
                        owner: owner_name(&g.kind, &g.detail),
                        opened_before_window: g.opened_unix_ms < start_unix_ms,
                        severity: g.severity,
                        detail: g.detail,
                        opened_unix_ms: g.opened_unix_ms,
                        closed_unix_ms: g.closed_unix_ms,
                        close_reason: g.close_reason,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(TimelineView {
        scope,
        days,
        start_unix_ms,
        end_unix_ms,
        lanes_total: read.lanes_total,
        lanes_not_shown: read.lanes_total.saturating_sub(lanes.len() as u64),
        lanes,
    })
}

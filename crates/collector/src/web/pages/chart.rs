//! A check's history as a small inline SVG: latency as a line over the last results,
//! failures as red marks on the baseline, and the check's gaps opening (red) and closing
//! (green) as vertical lines. Presentation attributes and classes only: the CSP forbids
//! inline styles.

use maud::{html, Markup};

use super::{duration, when};
use crate::web::views::server::History;

const W: f64 = 600.0;
const H: f64 = 120.0;
/// Room for the axis labels.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 16.0;
const TOP: f64 = 8.0;

pub fn render(h: &History) -> Markup {
    if h.points.is_empty() {
        return html! { p.muted { "No history stored for this check." } };
    }
    let first = h.points.first().map(|p| p.started_unix_ms).unwrap_or(0);
    let last = h.points.last().map(|p| p.started_unix_ms).unwrap_or(0);
    let span = (last - first).max(1) as f64;
    let max_us = h
        .points
        .iter()
        .map(|p| p.duration_us)
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |t: i64| match h.points.len() {
        1 => LEFT + (W - LEFT) / 2.0,
        _ => LEFT + (t - first) as f64 / span * (W - LEFT - 4.0),
    };
    let y = |us: u64| TOP + (1.0 - us as f64 / max_us as f64) * (H - TOP - BOTTOM);
    let line: Vec<String> = h
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.started_unix_ms), y(p.duration_us)))
        .collect();
    let in_range = |t: i64| (first..=last).contains(&t);
    let failures = h.points.iter().filter(|p| p.outcome == "fail").count();
    let label = format!(
        "{} latency over the last {} results ({} failed), {} to {}",
        h.check,
        h.points.len(),
        failures,
        when(first),
        when(last)
    );
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H) role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            line.axis x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#888" {}
            line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(H - BOTTOM) stroke="#888" {}
            text x="2" y=(TOP + 8.0) font-size="10" { (duration(max_us)) }
            text x="2" y=(H - BOTTOM) font-size="10" { "0" }
            text x=(LEFT) y=(H - 2.0) font-size="10" { (when(first)) }
            text x=(W - 4.0) y=(H - 2.0) font-size="10" text-anchor="end" { (when(last)) }
            @for g in &h.gaps {
                @if in_range(g.opened_unix_ms) {
                    line.gap-open x1=(x(g.opened_unix_ms)) x2=(x(g.opened_unix_ms)) y1=(TOP) y2=(H - BOTTOM)
                        stroke="#c0392b" stroke-dasharray="4 2" {
                        title { (g.severity) " " (g.kind) " opened " (when(g.opened_unix_ms)) }
                    }
                }
                @if let Some(c) = g.closed_unix_ms.filter(|c| in_range(*c)) {
                    line.gap-close x1=(x(c)) x2=(x(c)) y1=(TOP) y2=(H - BOTTOM) stroke="#2e7d32" stroke-dasharray="4 2" {
                        title { (g.severity) " " (g.kind) " closed " (when(c)) }
                    }
                }
            }
            polyline.latency points=(line.join(" ")) fill="none" stroke="#1f5fa8" stroke-width="1.5" {}
            @for p in h.points.iter().filter(|p| p.outcome == "fail") {
                rect.failure x=(format!("{:.1}", x(p.started_unix_ms) - 2.0)) y=(H - BOTTOM - 8.0) width="4" height="8" fill="#c0392b" {
                    title { (when(p.started_unix_ms)) " failed: " (p.failure_kind.as_deref().unwrap_or("fail")) }
                }
            }
        }
    }
}

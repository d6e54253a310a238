//! Latency warnings: a check whose stage durations are far above the same check on the
//! other servers of its deployment and role (`slower_than_peers`), or above its own median
//! of the last 7 days (`latency_regression`). The kinds, their meaning and their hints are
//! the probe engine's (`FailureKind`); the collector finds them, because only it sees the
//! fleet and the history.
//!
//! - `thresholds.rs`: the `[latency]` table of the policy file, with its defaults.
//! - `judge.rs`: the pure judgment over figures the store read (`Store::timings`).
//! - `find.rs`: the one entry point the views and reports call: read, judge, word.
//!
//! These are warnings beside the gaps, never gaps: the tracker does not record them, no
//! webhook is sent, and they are computed when a page or report is built, from what the
//! store keeps for them (migration 0010: an index with each result's stage durations, and
//! one timing sample per check and hour).

mod find;
mod judge;
mod thresholds;

pub use crate::store::{median, Timings};
pub use find::{audit_latency_warnings, latency_warnings, Target};
pub use judge::{judge, Peer};
pub use thresholds::{LatencyThresholds, LatencyThresholdsFile};

use serde::Serialize;

/// One latency warning, with both figures, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencyWarning {
    pub agent_id: String,
    pub check: String,
    /// `slower_than_peers` or `latency_regression`.
    pub kind: String,
    /// Who closes it (`network`): [`crate::gaps::owner_name`] of the kind.
    pub owner: &'static str,
    /// The stage furthest over its reference (`dns`, `tcp`, `tls`, `protocol`, ...).
    pub stage: String,
    /// This server's figure: the median of the stage over its last results, microseconds.
    pub here_us: u64,
    /// The reference: the peers' median, or this server's 7-day median, microseconds.
    pub reference_us: u64,
    /// How many peers, or how many hourly samples, the reference is the median of.
    pub reference_count: u32,
    /// How many recent results `here_us` is the median of.
    pub here_count: u32,
    /// The sentence: "tls on outlook.office365.com:993 took 1.9 s here (median of the last
    /// 5); the median of 4 other application servers of deployment prod is 0.12 s".
    pub detail: String,
    /// What to do (the probe engine's hint for the kind).
    pub hint: String,
}

pub const SLOWER_THAN_PEERS: &str = "slower_than_peers";
pub const LATENCY_REGRESSION: &str = "latency_regression";

/// A duration for people: "0.12 s", "1.9 s", "45 ms".
pub fn seconds(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 100.0 {
        format!("{} ms", (ms.round() as u64).max(if us > 0 { 1 } else { 0 }))
    } else if ms < 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms < 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{:.0} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests;

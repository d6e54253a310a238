//! `[latency]` in the policy file: when a stage is far enough over its reference to say so.
//! Both conditions must hold (a ratio alone fires on a 2 ms stage becoming 7 ms; a margin
//! alone fires on a 4 s stage with ordinary jitter), and both figures are medians of
//! several samples, so one slow probe is never a warning.

use serde::Deserialize;

/// The thresholds in force (defaults: 3x and 300 ms over, 3 peers, the last 5 results, 24
/// hourly samples of the last 7 days).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyThresholds {
    /// Over `factor_tenths / 10` times the reference (30: 3.0x).
    pub factor_tenths: u32,
    /// And more than this above it, milliseconds.
    pub margin_ms: u64,
    /// Peers with a figure for the stage needed to compare with them.
    pub min_peers: u32,
    /// How many of the check's last results make this server's figure (their median);
    /// at least 3 of them must have passed and timed the stage.
    pub recent: u32,
    /// Hourly samples needed for a 7-day median.
    pub min_baseline_hours: u32,
}

/// Fewer timed results than this make no figure.
pub const MIN_RECENT: usize = 3;

/// The most results a figure may be the median of: what the store keeps per check.
pub const MAX_RECENT: u32 = 10;

impl Default for LatencyThresholds {
    fn default() -> Self {
        LatencyThresholds {
            factor_tenths: 30,
            margin_ms: 300,
            min_peers: 3,
            recent: 5,
            min_baseline_hours: 24,
        }
    }
}

/// `[latency]` as written; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyThresholdsFile {
    factor: Option<f64>,
    margin_ms: Option<u64>,
    min_peers: Option<u32>,
    recent: Option<u32>,
    min_baseline_hours: Option<u32>,
}

impl LatencyThresholds {
    /// The thresholds from `[latency]`; an error names the key and the range.
    pub fn from_file(file: LatencyThresholdsFile) -> Result<Self, (String, String)> {
        let mut t = LatencyThresholds::default();
        let bad = |key: &str, message: &str| (format!("latency.{key}"), message.to_owned());
        if let Some(f) = file.factor {
            if !(1.5..=100.0).contains(&f) {
                return Err(bad("factor", "use a ratio from 1.5 to 100 (e.g. 3.0)"));
            }
            t.factor_tenths = (f * 10.0).round() as u32;
        }
        if let Some(ms) = file.margin_ms {
            if ms > 600_000 {
                return Err(bad("margin_ms", "use 0 to 600000 milliseconds"));
            }
            t.margin_ms = ms;
        }
        if let Some(n) = file.min_peers {
            if !(1..=1000).contains(&n) {
                return Err(bad("min_peers", "use 1 to 1000 peers"));
            }
            t.min_peers = n;
        }
        if let Some(n) = file.recent {
            if !(MIN_RECENT as u32..=MAX_RECENT).contains(&n) {
                return Err(bad("recent", "use 3 to 10 results"));
            }
            t.recent = n;
        }
        if let Some(n) = file.min_baseline_hours {
            if !(3..=168).contains(&n) {
                return Err(bad(
                    "min_baseline_hours",
                    "use 3 to 168 hourly samples (7 days)",
                ));
            }
            t.min_baseline_hours = n;
        }
        Ok(t)
    }

    /// `[latency]` with every key, as [`LatencyThresholds::from_file`] reads it back.
    pub fn to_toml(&self) -> String {
        format!(
            "[latency]\nfactor = {}.{}\nmargin_ms = {}\nmin_peers = {}\nrecent = {}\nmin_baseline_hours = {}\n",
            self.factor_tenths / 10,
            self.factor_tenths % 10,
            self.margin_ms,
            self.min_peers,
            self.recent,
            self.min_baseline_hours,
        )
    }

    /// Whether `here` is far enough over `reference` to warn.
    pub fn over(&self, here_us: u64, reference_us: u64) -> bool {
        u128::from(here_us) * 10 > u128::from(reference_us) * u128::from(self.factor_tenths)
            && here_us.saturating_sub(reference_us) > self.margin_ms.saturating_mul(1000)
    }
}

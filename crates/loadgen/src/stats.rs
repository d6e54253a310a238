//! Latency percentiles (nearest rank), in milliseconds.

use std::time::Duration;

/// The nearest-rank percentile `p` (0-100) of sorted values; None when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    let rank = (p.clamp(0.0, 100.0) / 100.0 * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// Count, median, p99, max and mean of a set of latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(latencies: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let count = ms.len();
        if count == 0 {
            return Summary::default();
        }
        Summary {
            count,
            p50_ms: percentile(&ms, 50.0).unwrap_or_default(),
            p99_ms: percentile(&ms, 99.0).unwrap_or_default(),
            max_ms: ms.last().copied().unwrap_or_default(),
            mean_ms: ms.iter().sum::<f64>() / count as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        let v = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&v, 50.0), Some(2.0));
        assert_eq!(percentile(&v, 99.0), Some(3.0));
    }

    #[test]
    fn summary_of_durations() {
        let d: Vec<Duration> = (1..=1000).rev().map(Duration::from_millis).collect();
        let s = Summary::of(&d);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() < 1e-9, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() < 1e-9, "{s:?}");
        assert!((s.mean_ms - 500.5).abs() < 1e-9, "{s:?}");
        assert_eq!(Summary::of(&[]), Summary::default());
    }
}

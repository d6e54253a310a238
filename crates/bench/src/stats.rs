//! Order statistics over samples.

/// The `q` quantile (0..=1) by nearest rank; `None` for no samples.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

pub fn median(samples: &[f64]) -> Option<f64> {
    quantile(samples, 0.5)
}

pub fn p90(samples: &[f64]) -> Option<f64> {
    quantile(samples, 0.9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(median(&s), Some(5.0));
        assert_eq!(p90(&s), Some(9.0));
        assert_eq!(quantile(&s, 1.0), Some(10.0));
        assert_eq!(quantile(&s, 0.0), Some(1.0));
        assert_eq!(median(&[]), None);
    }
}

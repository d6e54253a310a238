//! Jitter and exponential backoff, so a fleet of agents neither probes nor reconnects in
//! lockstep. The randomness only spreads timings; it needs no cryptographic quality.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A number in [0, 1), different on every call.
pub fn unit_random() -> f64 {
    // RandomState is seeded per instance from the OS; hashing a counter spreads it.
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `base` moved by up to ±`fraction` of itself.
pub fn jittered(base: Duration, fraction: f64) -> Duration {
    let spread = base.as_secs_f64() * fraction * (2.0 * unit_random() - 1.0);
    Duration::from_secs_f64((base.as_secs_f64() + spread).max(0.0))
}

/// Exponential backoff with full jitter: each wait is random in [0, cap], the cap doubling
/// from `first` up to `max` and back to `first` on `reset` (after a healthy connection).
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    cap: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            cap: first,
        }
    }

    pub fn next_wait(&mut self) -> Duration {
        let wait = self.cap.mul_f64(unit_random()).max(self.first / 4);
        self.cap = (self.cap * 2).min(self.max);
        wait
    }

    pub fn reset(&mut self) {
        self.cap = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_in_range_and_varies() {
        let values: Vec<f64> = (0..100).map(|_| unit_random()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let distinct: std::collections::BTreeSet<u64> =
            values.iter().map(|v| v.to_bits()).collect();
        assert!(distinct.len() > 90, "{distinct:?}");
    }

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..20 {
            let w = b.next_wait();
            assert!(w <= Duration::from_secs(60), "{w:?}");
        }
        assert_eq!(b.cap, Duration::from_secs(60));
        b.reset();
        assert!(b.next_wait() <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_the_fraction() {
        for _ in 0..100 {
            let j = jittered(Duration::from_secs(60), 0.1);
            assert!(
                j >= Duration::from_secs(54) && j <= Duration::from_secs(66),
                "{j:?}"
            );
        }
    }
}

//! How long checks take, as a distribution: a Prometheus histogram per check, observed as
//! ingest stores results (`eceprobe_check_duration_seconds` on `/metrics`). The per server
//! and check "duration of the last run" is `/metrics/detail`'s; this is the low-cardinality
//! answer to "are imap logins getting slower across the fleet" (`histogram_quantile`).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Upper bounds of the buckets, in seconds (`+Inf` is implied): from a fast HTTPS probe
/// (tens of ms) to a check that ran into its timeouts (10-30 s).
pub const BOUNDS_S: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

/// At most this many distinct check labels; results of further ones count under
/// [`OTHER`], so a newer agent's many new check names cannot grow the scrape without bound.
const MAX_CHECKS: usize = 64;

/// The label of checks past [`MAX_CHECKS`].
pub const OTHER: &str = "other";

/// One check's observations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// Observations at most `BOUNDS_S[i]` and above the bound before (not cumulative; the
    /// exposition adds them up).
    pub per_bucket: [u64; BOUNDS_S.len()],
    /// Every observation, `+Inf` included.
    pub count: u64,
    pub sum_us: u64,
}

/// The histograms by check; cheap to update (one short lock per stored batch).
#[derive(Debug, Default)]
pub struct CheckDurations {
    by_check: Mutex<BTreeMap<String, Buckets>>,
}

/// A check's label: the check id without the mailbox (`oauth-imap/ece@contoso.com` is
/// `oauth-imap`): one histogram per kind of check, whatever the mailboxes.
pub fn check_label(check: &str) -> &str {
    check.split_once('/').map_or(check, |(id, _)| id)
}

impl CheckDurations {
    /// Counts the checks' durations (check name, microseconds).
    pub fn observe<'a>(&self, results: impl IntoIterator<Item = (&'a str, u64)>) {
        // A panic elsewhere while holding the lock leaves counts that are still counts.
        let mut map = self.by_check.lock().unwrap_or_else(|e| e.into_inner());
        for (check, us) in results {
            let label = check_label(check);
            let label = if map.contains_key(label) || map.len() < MAX_CHECKS {
                label
            } else {
                OTHER
            };
            let b = map.entry(label.to_owned()).or_default();
            let seconds = us as f64 / 1e6;
            if let Some(i) = BOUNDS_S.iter().position(|bound| seconds <= *bound) {
                b.per_bucket[i] += 1;
            }
            b.count += 1;
            b.sum_us = b.sum_us.saturating_add(us);
        }
    }

    /// A copy of every check's histogram, by label.
    pub fn snapshot(&self) -> Vec<(String, Buckets)> {
        let map = self.by_check.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_their_bucket_by_check_kind() {
        let d = CheckDurations::default();
        d.observe([
            ("imap", 40_000),
            ("imap", 100_000),
            ("imap", 31_000_000),
            ("oauth-imap/a@b.c", 600_000),
        ]);
        let snap = d.snapshot();
        assert_eq!(snap.len(), 2);
        let (label, imap) = &snap[0];
        assert_eq!(label, "imap");
        assert_eq!(imap.per_bucket[0], 1, "0.04 s <= 0.05");
        assert_eq!(imap.per_bucket[1], 1, "0.1 s <= 0.1 (le is inclusive)");
        assert_eq!(imap.per_bucket.iter().sum::<u64>(), 2, "31 s only in +Inf");
        assert_eq!(imap.count, 3);
        assert_eq!(imap.sum_us, 31_140_000);
        assert_eq!(snap[1].0, "oauth-imap");
    }

    #[test]
    fn check_labels_are_bounded() {
        let d = CheckDurations::default();
        let names: Vec<String> = (0..100).map(|i| format!("new-check-{i}")).collect();
        d.observe(names.iter().map(|n| (n.as_str(), 1)));
        let snap = d.snapshot();
        assert_eq!(snap.len(), MAX_CHECKS + 1);
        let other = snap.iter().find(|(l, _)| l == OTHER).unwrap();
        assert_eq!(other.1.count, 100 - MAX_CHECKS as u64);
    }
}

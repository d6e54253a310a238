//! The collector's own time awake, against which an agent's silence is measured: while the
//! collector is down (stopped, crashed, restarting) nobody listens, so that time is no
//! agent's silence. Without this, a restart made every agent stale that had not yet
//! reconnected, and real gaps were closed and reopened by the monitor's own outage.

use crate::store::AwakeSpan;

/// When the collector was up and accepting agents: recorded spans, the newest of which is
/// the running collector (it extends to "now"). No spans: always awake (a store from
/// before spans were recorded, or a test that does not care).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Awake {
    spans: Vec<AwakeSpan>,
}

impl Awake {
    /// Every moment counts as awake.
    pub fn always() -> Awake {
        Awake::default()
    }

    /// The recorded spans, in the order they were recorded (oldest first); the last is the
    /// collector running now.
    pub fn from_spans(spans: Vec<AwakeSpan>) -> Awake {
        Awake { spans }
    }

    /// How long, in ms, the collector was awake between `since` and `now`: the silence an
    /// agent last heard at `since` is accountable for. Time before the first recorded span
    /// counts as awake (nothing is known of it), gaps between spans do not, and the newest
    /// span runs until `now`.
    pub fn awake_ms(&self, since: i64, now: i64) -> i64 {
        if now <= since {
            return 0;
        }
        let Some(first) = self.spans.first() else {
            return now - since;
        };
        // The spans as intervals clamped to [since, now]: a clock stepped forward or back
        // can leave a span ending in the future or overlapping another, and no moment may
        // count twice. Merged into their union, then summed.
        let last = self.spans.len() - 1;
        let mut intervals: Vec<(i64, i64)> = self
            .spans
            .iter()
            .enumerate()
            .map(|(i, span)| {
                let end = if i == last { now } else { span.alive_unix_ms };
                (span.started_unix_ms, end)
            })
            .chain(std::iter::once((i64::MIN, first.started_unix_ms)))
            .map(|(start, end)| (start.max(since), end.min(now)))
            .filter(|(start, end)| start < end)
            .collect();
        intervals.sort_unstable();
        let mut total: i64 = 0;
        let mut covered_to = since;
        for (start, end) in intervals {
            let start = start.max(covered_to);
            if end > start {
                total = total.saturating_add(end - start);
                covered_to = end;
            }
        }
        total.min(now - since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(started_unix_ms: i64, alive_unix_ms: i64) -> AwakeSpan {
        AwakeSpan {
            started_unix_ms,
            alive_unix_ms,
        }
    }

    #[test]
    fn without_spans_all_time_is_awake() {
        assert_eq!(Awake::always().awake_ms(1_000, 61_000), 60_000);
        assert_eq!(
            Awake::always().awake_ms(5_000, 1_000),
            0,
            "clock stepped back"
        );
    }

    #[test]
    fn downtime_between_runs_is_nobodys_silence() {
        // Up 0..100 s, down 100..134 s (a SIGKILL, 34 s), up again from 134 s.
        let awake = Awake::from_spans(vec![span(0, 100_000), span(134_000, 134_000)]);
        // Heard 5 s before the kill; 10 s after the restart: 15 s of silence, not 49.
        assert_eq!(awake.awake_ms(95_000, 144_000), 15_000);
        // Heard after the restart: plain elapsed time.
        assert_eq!(awake.awake_ms(140_000, 150_000), 10_000);
        // Heard long before the first recorded run: that time counts (unknown = awake).
        let from_before = Awake::from_spans(vec![span(50_000, 100_000), span(134_000, 134_000)]);
        assert_eq!(from_before.awake_ms(0, 144_000), 50_000 + 50_000 + 10_000);
    }

    #[test]
    fn spans_from_a_stepped_clock_count_each_moment_once() {
        // A clock a day fast left the first run "alive" in the future, overlapping the next
        // runs; the next restart must still not count its downtime nor the overlap twice.
        let day = 86_400_000;
        let awake = Awake::from_spans(vec![
            span(0, 100_000 + day),
            span(50_000, 100_000),
            span(200_000, 200_000),
        ]);
        // Awake from 0 until 200 s... as the first span claims (a day past): at most the
        // elapsed time, never more.
        assert_eq!(awake.awake_ms(150_000, 210_000), 60_000);
        assert_eq!(awake.awake_ms(0, 300_000), 300_000);
        // Without the runaway span: 0..100 s, down until 200 s, up since.
        let honest = Awake::from_spans(vec![
            span(0, 100_000),
            span(50_000, 100_000),
            span(200_000, 200_000),
        ]);
        assert_eq!(honest.awake_ms(90_000, 210_000), 10_000 + 10_000);
    }
}

//! Which collector the uplink tries next, when several share one database (issue 18).
//!
//! The agent stays on the collector it is connected to. When that one cannot be reached
//! or its stream breaks, the next in the list is tried at once; when every collector of a
//! round failed, the uplink waits its backoff and starts the next round at the collector
//! that worked last. So a fleet never hammers: at most one try per collector per backoff
//! wait, as one collector got before. Nothing is lost or doubled by a move: the new
//! collector's Welcome says what the shared database stored, and the spool resends the
//! rest (the store keeps results unique on agent and seq).

/// What to do after a collector failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try this collector now: the round is not over.
    Now(usize),
    /// Every collector of the round failed: wait the backoff, then try this one.
    AfterWait(usize),
}

/// The position in the list of collectors. Indexes only; the URLs stay with the uplink.
#[derive(Debug)]
pub struct Rotation {
    count: usize,
    at: usize,
    last_good: usize,
    /// Collectors that failed in this round.
    failed: usize,
}

impl Rotation {
    pub fn new(count: usize) -> Rotation {
        Rotation {
            count: count.max(1),
            at: 0,
            last_good: 0,
            failed: 0,
        }
    }

    /// The collector to connect to now.
    pub fn current(&self) -> usize {
        self.at
    }

    /// The current collector took this agent (its Welcome came): a later round starts
    /// here, and its break starts a new round.
    pub fn connected(&mut self) {
        self.last_good = self.at;
        self.failed = 0;
    }

    /// The current collector is unreachable or unavailable: the next one, or a wait when
    /// the round is over.
    pub fn unreachable(&mut self) -> Next {
        self.failed += 1;
        if self.failed < self.count {
            self.at = (self.at + 1) % self.count;
            return Next::Now(self.at);
        }
        self.failed = 0;
        self.at = self.last_good;
        Next::AfterWait(self.at)
    }

    /// A failure that is not the collector's (a refusal about this agent, a spool error,
    /// a result refused for good): stay on it, after the backoff.
    pub fn stay(&mut self) {
        self.failed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_collector_waits_after_every_failure() {
        let mut r = Rotation::new(1);
        for _ in 0..3 {
            assert_eq!(r.unreachable(), Next::AfterWait(0));
        }
    }

    #[test]
    fn a_round_tries_each_once_then_waits_and_starts_where_it_last_worked() {
        let mut r = Rotation::new(3);
        r.connected();
        // A breaks: B and C at once, then a wait and A again (the last that worked).
        assert_eq!(r.unreachable(), Next::Now(1));
        assert_eq!(r.unreachable(), Next::Now(2));
        assert_eq!(r.unreachable(), Next::AfterWait(0));
        // A is still down, B takes the agent: B is where later rounds start.
        assert_eq!(r.unreachable(), Next::Now(1));
        r.connected();
        assert_eq!(r.current(), 1);
        assert_eq!(r.unreachable(), Next::Now(2));
        assert_eq!(r.unreachable(), Next::Now(0));
        assert_eq!(r.unreachable(), Next::AfterWait(1));
    }

    #[test]
    fn staying_starts_the_round_again() {
        let mut r = Rotation::new(2);
        assert_eq!(r.unreachable(), Next::Now(1));
        r.stay();
        assert_eq!(r.current(), 1);
        assert_eq!(r.unreachable(), Next::Now(0));
        assert_eq!(r.unreachable(), Next::AfterWait(0));
    }
}

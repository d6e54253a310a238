//! How much reaches the event log: an administrator reads it, and other programs share it,
//! so an agent failing in a loop must not fill it. Two limits, both counted per process
//! (a service restarted by its recovery actions starts afresh, at most once a minute):
//! - the same message is written at most once per `repeat_window`; the repeats held back
//!   are said in the next time it is written;
//! - at most `burst` events at once, then one per `refill` (a token bucket); the events
//!   held back are said in the next event written.
//!
//! Events of an `always` kind pass both (they happen once per process). Pure: the time is
//! given, so the tests need no clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub burst: u32,
    pub refill: Duration,
    pub repeat_window: Duration,
    /// Distinct messages remembered for the repeat limit (memory bound).
    pub max_messages: usize,
}

/// The agent's limits: 20 at once, then one a minute; a message once per 10 minutes.
pub const LIMITS: Limits = Limits {
    burst: 20,
    refill: Duration::from_secs(60),
    repeat_window: Duration::from_secs(600),
    max_messages: 256,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Write it, with this note about what was held back before it.
    Write {
        note: Option<String>,
    },
    Skip,
}

#[derive(Debug)]
struct Seen {
    written: Instant,
    held: u64,
}

#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    tokens: u32,
    refilled: Option<Instant>,
    /// Events held back by the bucket since the last one written.
    held: u64,
    seen: HashMap<String, Seen>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Limiter {
            limits,
            tokens: limits.burst,
            refilled: None,
            held: 0,
            seen: HashMap::new(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let Some(since) = self.refilled else {
            self.refilled = Some(now);
            return;
        };
        let step = self.limits.refill.max(Duration::from_millis(1));
        let earned = now.saturating_duration_since(since).as_nanos() / step.as_nanos();
        let earned = u32::try_from(earned).unwrap_or(u32::MAX);
        if earned == 0 {
            return;
        }
        self.tokens = self.tokens.saturating_add(earned).min(self.limits.burst);
        self.refilled = Some(if self.tokens == self.limits.burst {
            now
        } else {
            since + step * earned
        });
    }

    /// Whether the event of `message` is written now.
    pub fn admit(&mut self, message: &str, always: bool, now: Instant) -> Verdict {
        self.refill(now);
        let window = self.limits.repeat_window;
        if !always {
            if let Some(seen) = self.seen.get_mut(message) {
                if now.saturating_duration_since(seen.written) < window {
                    seen.held += 1;
                    return Verdict::Skip;
                }
            }
            if self.tokens == 0 {
                self.held += 1;
                return Verdict::Skip;
            }
            self.tokens -= 1;
        }
        let mut notes = Vec::new();
        if let Some(seen) = self.seen.get(message) {
            if seen.held > 0 {
                notes.push(format!(
                    "This event happened {} more time{} since it was last written here, at most once per {} minutes; the service log has each.",
                    seen.held,
                    if seen.held == 1 { "" } else { "s" },
                    window.as_secs() / 60
                ));
            }
        }
        if self.held > 0 {
            notes.push(format!(
                "{} other event{} of this agent {} not written here (at most {} at once, then one every {} s); the service log has them.",
                self.held,
                if self.held == 1 { "" } else { "s" },
                if self.held == 1 { "was" } else { "were" },
                self.limits.burst,
                self.limits.refill.as_secs()
            ));
            self.held = 0;
        }
        self.remember(message, now);
        Verdict::Write {
            note: (!notes.is_empty()).then(|| notes.join("\n")),
        }
    }

    /// Distinct messages remembered now (for the tests of the memory bound).
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }

    fn remember(&mut self, message: &str, now: Instant) {
        if !self.seen.contains_key(message) && self.seen.len() >= self.limits.max_messages {
            let window = self.limits.repeat_window;
            self.seen
                .retain(|_, s| now.saturating_duration_since(s.written) < window);
            if self.seen.len() >= self.limits.max_messages {
                // Every slot is recent: forget them all rather than grow (a message seen
                // again is then written again, still within the bucket).
                self.seen.clear();
            }
        }
        self.seen.insert(
            message.to_owned(),
            Seen {
                written: now,
                held: 0,
            },
        );
    }
}

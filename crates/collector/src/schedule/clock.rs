//! The clock schedules fire by: the system's wall clock, or one that tests (and demos)
//! move by hand.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

/// A boxed future, so the trait stays object safe (`Arc<dyn Clock>`) without async-trait.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Completes once `now() >= t` (at once if it already is).
    fn sleep_until(&self, t: Timestamp) -> Sleep<'_>;
}

/// Longest single sleep of [`SystemClock`]: tokio's timers follow a monotonic clock, so a
/// wall-clock jump (NTP step, VM resume, an administrator's `date`) is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, t: Timestamp) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                let left = Timestamp::now().duration_until(t);
                // Negative or zero: the time has come.
                let Ok(left) = Duration::try_from(left) else {
                    return;
                };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(MAX_SLEEP)).await;
            }
        })
    }
}

/// A clock that moves only when told: [`ManualClock::set`] and [`ManualClock::advance`]
/// wake the sleepers whose time has come.
///
/// Public (not test-only) so integration tests and demos can drive schedules; the
/// collector itself serves with [`SystemClock`].
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: watch::Sender::new(start),
        }
    }

    /// Sets the time (backwards too: sleepers then wait longer).
    pub fn set(&self, t: Timestamp) {
        self.now.send_replace(t);
    }

    pub fn advance(&self, by: Duration) {
        self.now
            .send_modify(|now| *now = now.saturating_add(by).unwrap_or(*now));
    }

    /// How many sleeps are waiting: a test waits for the scheduler to be asleep before
    /// moving the clock, or the move could land before the scheduler read the time.
    pub fn sleepers(&self) -> usize {
        self.now.receiver_count()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, t: Timestamp) -> Sleep<'_> {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // Err only if the sender is gone, and it lives as long as `self`.
            let _ = now.wait_for(|now| *now >= t).await;
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_their_time_comes() {
        let start: Timestamp = "2026-03-02T05:00:00Z".parse().unwrap();
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let at = start.saturating_add(Duration::from_secs(60)).unwrap();
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(at).await }
        });
        while clock.sleepers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_secs(59));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sleeper.is_finished(), "a second early");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(clock.now(), at);
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn the_system_clock_returns_at_once_for_the_past() {
        let past = Timestamp::now()
            .saturating_sub(Duration::from_secs(5))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), SystemClock.sleep_until(past))
            .await
            .unwrap();
    }
}

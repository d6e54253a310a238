//! The schedules' loops: keep each schedule's time, and fire a slot only on the leader and
//! only once across the collectors sharing the database (see the module above).

use std::sync::Arc;
use std::time::Duration;

use eceprobe_proto::now_ms;
use jiff::Timestamp;

use super::{Clock, Schedule};
use crate::audits::Audits;
use crate::leader::{Leadership, Role};
use crate::store::{SlotClaim, Store, StoreError};

/// The shortest [`catch_up_window`].
pub const MIN_CATCH_UP: Duration = Duration::from_secs(120);
/// After a failed claim (the database did not answer), the next try; real time.
const CLAIM_RETRY: Duration = Duration::from_secs(5);

/// How long after a slot a collector that did not lead at it may still fire it once it
/// leads: twice the lease (a takeover after a leader's death takes up to a lease and a
/// third), at least [`MIN_CATCH_UP`].
pub fn catch_up_window(leadership: &Leadership) -> Duration {
    MIN_CATCH_UP.max(leadership.lease().saturating_mul(2))
}

/// Runs every schedule until aborted (dropping this future stops them all). Every
/// collector keeps the schedules' time; only the one leading fires a slot, once it has
/// recorded the slot in `store` (a slot recorded already is not fired again).
pub async fn run(
    schedules: Vec<Schedule>,
    audits: Audits,
    store: Store,
    clock: Arc<dyn Clock>,
    leadership: Leadership,
) {
    let mut loops = tokio::task::JoinSet::new();
    for schedule in schedules {
        loops.spawn(run_one(Firing {
            schedule,
            audits: audits.clone(),
            store: store.clone(),
            leadership: leadership.clone(),
            clock: Arc::clone(&clock),
        }));
    }
    while loops.join_next().await.is_some() {}
}

/// One schedule and what firing its slots takes.
struct Firing {
    schedule: Schedule,
    audits: Audits,
    store: Store,
    leadership: Leadership,
    clock: Arc<dyn Clock>,
}

/// What became of a slot this collector tried to fire.
enum Fired {
    /// Started here, or recorded already (by this collector or another): done with.
    Done,
    /// Not recorded: this collector no longer leads, or the database did not answer.
    /// Kept for a later try within the catch-up window.
    NotYet,
}

async fn run_one(firing: Firing) {
    let name = firing.schedule.name.as_str();
    let window_ms =
        i64::try_from(catch_up_window(&firing.leadership).as_millis()).unwrap_or(i64::MAX);
    let mut roles = firing.leadership.subscribe();
    let mut after = firing.clock.now();
    // Slots that fell due while this collector ran without leading (or whose record
    // failed), oldest first.
    let mut missed: Vec<Timestamp> = Vec::new();
    loop {
        let leading = matches!(roles.now(), Role::Leading { .. });
        let now = firing.clock.now();
        missed.retain(|slot| {
            let fresh = now.as_millisecond().saturating_sub(slot.as_millisecond()) <= window_ms;
            if !fresh {
                tracing::info!(schedule = name, slot = %firing.schedule.local(*slot), "a scheduled slot no collector fired in time is given up (older than the catch-up window)");
            }
            fresh
        });
        if leading && !missed.is_empty() {
            for slot in std::mem::take(&mut missed) {
                if let Fired::NotYet = firing.fire(slot, true).await {
                    missed.push(slot);
                }
            }
        }
        let next = firing.schedule.next_after(after);
        if next.is_none() && missed.is_empty() {
            tracing::warn!(schedule = name, cron = ?firing.schedule.cron_text, "schedule never fires again");
            return;
        }
        let slot_time = async {
            match next {
                Some(at) => firing.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = slot_time => {
                // `next` is Some: the pending arm never completes.
                let Some(at) = next else { continue };
                if firing.leadership.is_leading() {
                    if let Fired::NotYet = firing.fire(at, false).await {
                        missed.push(at);
                    }
                } else {
                    tracing::info!(
                        schedule = name,
                        slot = %firing.schedule.local(at),
                        "scheduled audit left to the leading collector (this one fires it if it leads within the catch-up window and no collector recorded it)"
                    );
                    missed.push(at);
                }
                // After the slot, or after now if we woke late (suspend, clock jump): a
                // slot missed meanwhile is skipped, not caught up.
                after = at.max(firing.clock.now());
            }
            () = roles.changed(), if !missed.is_empty() => {}
            () = tokio::time::sleep(CLAIM_RETRY), if leading && !missed.is_empty() => {}
        }
    }
}

impl Firing {
    /// Records the slot (fenced by the lease) and, if this collector's record was made,
    /// starts its audit. `late`: the slot fell due while this collector did not lead.
    async fn fire(&self, at: Timestamp, late: bool) -> Fired {
        let name = self.schedule.name.as_str();
        let slot = self.schedule.local(at);
        let Ok(fence) = self.leadership.fence() else {
            return Fired::NotYet;
        };
        let slot_unix_ms = at.as_millisecond();
        let claim = self
            .store
            .claim_schedule_slot(name, slot_unix_ms, self.leadership.name(), now_ms(), fence)
            .await;
        match claim {
            Ok(SlotClaim::Claimed) => {}
            Ok(SlotClaim::Taken(by)) => {
                tracing::info!(schedule = name, %slot, collector = %by.collector, audit = %by.audit_id, "scheduled slot already fired: not started again");
                return Fired::Done;
            }
            Err(StoreError::NotLeader { .. }) => {
                tracing::info!(schedule = name, %slot, "this collector lost the leader lease before firing the slot: left to the leading collector");
                return Fired::NotYet;
            }
            Err(e) => {
                tracing::warn!(schedule = name, %slot, error = %e, "cannot record the scheduled slot, so its audit is not started yet; trying again while within the catch-up window");
                return Fired::NotYet;
            }
        }
        let started = self
            .audits
            .start(&self.schedule.deployment, self.schedule.deadline_s)
            .await;
        match started {
            Ok(audit) => {
                if late {
                    tracing::info!(schedule = name, audit = %audit.audit_id, %slot, "scheduled audit started late: no collector led at its slot");
                } else {
                    tracing::info!(schedule = name, audit = %audit.audit_id, %slot, "scheduled audit started");
                }
                if let Err(e) = self
                    .store
                    .schedule_slot_started(name, slot_unix_ms, &audit.audit_id)
                    .await
                {
                    tracing::warn!(schedule = name, audit = %audit.audit_id, error = %e, "cannot record which audit the scheduled slot started (the slot stays recorded as fired)");
                }
            }
            Err(e) => {
                tracing::warn!(schedule = name, %slot, error = %e, "scheduled audit could not start; the slot stays recorded as fired, so no collector starts it again")
            }
        }
        Fired::Done
    }
}

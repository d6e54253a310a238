//! Scheduled audit slots fired (migration 0019 / PostgreSQL 0005): the record that makes a
//! slot start its audit once across every collector of one database (issue 18).
//!
//! A collector claims a slot before starting its audit: one insert keyed on (schedule,
//! slot) with `ON CONFLICT DO NOTHING`, in the writer's transaction after the lease check
//! that [`Store::reconcile_gaps_fenced`] makes too. Only the collector whose insert made
//! the row starts the audit: two collectors at a takeover boundary, or a leader that has
//! just lost its lease, cannot both start it. On PostgreSQL the lease check's UPDATE locks
//! the lease row until the commit, so a takeover waits for a claim in progress, and a
//! claim after the takeover fails the check.

use sqlx::AnyConnection;

use super::lease::{self, Fence};
use super::request::{settle, Pending, Reply};
use super::{read_error, Store, StoreError};

/// Rows of one schedule older than this (before the slot being claimed) are deleted as new
/// slots are claimed: the record only has to outlive any takeover.
pub const SLOT_RECORD_KEEP_MS: i64 = 30 * 24 * 3_600_000;

/// A slot as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSlot {
    pub schedule: String,
    /// The slot's time as the cron expression gives it (Unix ms).
    pub slot_unix_ms: i64,
    /// The audit it started; empty until started (and for good if the start failed).
    pub audit_id: String,
    /// The collector that fired it.
    pub collector: String,
    /// When it fired, by that collector's clock (Unix ms).
    pub fired_unix_ms: i64,
}

/// What claiming a slot came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotClaim {
    /// This collector recorded the slot: it starts the audit.
    Claimed,
    /// The slot was recorded before (by this collector or another): nothing to start.
    Taken(ScheduleSlot),
}

pub(super) enum SlotOp {
    Claim {
        slot: ScheduleSlot,
        fence: Option<Fence>,
        reply: Reply<SlotClaim>,
    },
    Started {
        schedule: String,
        slot_unix_ms: i64,
        audit_id: String,
        reply: Reply<bool>,
    },
}

impl SlotOp {
    pub(super) fn rows(&self) -> usize {
        1
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            SlotOp::Claim { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            SlotOp::Started { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.to_owned(),
        error: source,
    }
}

const SLOT_COLUMNS: &str = "schedule, slot_unix_ms, audit_id, collector, fired_unix_ms";

type SlotRow = (String, i64, String, String, i64);

fn slot((schedule, slot_unix_ms, audit_id, collector, fired_unix_ms): SlotRow) -> ScheduleSlot {
    ScheduleSlot {
        schedule,
        slot_unix_ms,
        audit_id,
        collector,
        fired_unix_ms,
    }
}

pub(super) async fn apply(conn: &mut AnyConnection, op: SlotOp) -> (Pending, bool) {
    match op {
        SlotOp::Claim { slot, fence, reply } => {
            settle(reply, claim(conn, &slot, fence.as_ref()).await)
        }
        SlotOp::Started {
            schedule,
            slot_unix_ms,
            audit_id,
            reply,
        } => {
            let done = sqlx::query(
                "UPDATE schedule_slots SET audit_id = $3 WHERE schedule = $1 \
                 AND slot_unix_ms = $2",
            )
            .bind(&schedule)
            .bind(slot_unix_ms)
            .bind(&audit_id)
            .execute(&mut *conn)
            .await
            .map(|d| d.rows_affected() > 0)
            .map_err(db_error("recording the audit a scheduled slot started"));
            settle(reply, done)
        }
    }
}

async fn claim(
    conn: &mut AnyConnection,
    wanted: &ScheduleSlot,
    fence: Option<&Fence>,
) -> Result<SlotClaim, StoreError> {
    if let Some(fence) = fence {
        // 0: the check leaves the gaps' evaluation time as it is.
        lease::check(conn, fence, 0).await?;
    }
    let made = sqlx::query(&format!(
        "INSERT INTO schedule_slots ({SLOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (schedule, slot_unix_ms) DO NOTHING"
    ))
    .bind(&wanted.schedule)
    .bind(wanted.slot_unix_ms)
    .bind(&wanted.audit_id)
    .bind(&wanted.collector)
    .bind(wanted.fired_unix_ms)
    .execute(&mut *conn)
    .await
    .map_err(db_error("recording a scheduled audit's slot"))?
    .rows_affected();
    if made > 0 {
        sqlx::query("DELETE FROM schedule_slots WHERE schedule = $1 AND slot_unix_ms < $2")
            .bind(&wanted.schedule)
            .bind(wanted.slot_unix_ms.saturating_sub(SLOT_RECORD_KEEP_MS))
            .execute(&mut *conn)
            .await
            .map_err(db_error("forgetting a schedule's old slots"))?;
        return Ok(SlotClaim::Claimed);
    }
    let row: SlotRow = sqlx::query_as(&format!(
        "SELECT {SLOT_COLUMNS} FROM schedule_slots WHERE schedule = $1 AND slot_unix_ms = $2"
    ))
    .bind(&wanted.schedule)
    .bind(wanted.slot_unix_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error("reading a scheduled audit's slot"))?;
    Ok(SlotClaim::Taken(slot(row)))
}

impl Store {
    /// Records that the collector `collector` fires the slot `slot_unix_ms` of `schedule`
    /// (at `fired_unix_ms`, its clock), unless the slot is recorded already; with a fence,
    /// only while that fence still holds its leader lease at its term
    /// ([`StoreError::NotLeader`] otherwise, nothing recorded). [`SlotClaim::Claimed`]:
    /// this caller, and no other, starts the slot's audit.
    pub async fn claim_schedule_slot(
        &self,
        schedule: &str,
        slot_unix_ms: i64,
        collector: &str,
        fired_unix_ms: i64,
        fence: Option<Fence>,
    ) -> Result<SlotClaim, StoreError> {
        let slot = ScheduleSlot {
            schedule: schedule.to_owned(),
            slot_unix_ms,
            audit_id: String::new(),
            collector: collector.to_owned(),
            fired_unix_ms,
        };
        self.write(|reply| SlotOp::Claim { slot, fence, reply })
            .await
    }

    /// Records the audit a claimed slot started; false when the slot is not recorded.
    pub async fn schedule_slot_started(
        &self,
        schedule: &str,
        slot_unix_ms: i64,
        audit_id: &str,
    ) -> Result<bool, StoreError> {
        let (schedule, audit_id) = (schedule.to_owned(), audit_id.to_owned());
        self.write(|reply| SlotOp::Started {
            schedule,
            slot_unix_ms,
            audit_id,
            reply,
        })
        .await
    }

    /// The slots of `schedule` recorded at or after `since_unix_ms`, oldest first (at most
    /// `limit`).
    pub async fn schedule_slots(
        &self,
        schedule: &str,
        since_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<ScheduleSlot>, StoreError> {
        let rows: Vec<SlotRow> = sqlx::query_as(&format!(
            "SELECT {SLOT_COLUMNS} FROM schedule_slots WHERE schedule = $1 \
             AND slot_unix_ms >= $2 ORDER BY slot_unix_ms LIMIT $3"
        ))
        .bind(schedule)
        .bind(since_unix_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading a schedule's fired slots", e))?;
        Ok(rows.into_iter().map(slot).collect())
    }
}

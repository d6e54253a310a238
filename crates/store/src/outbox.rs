//! The webhook outbox: events waiting for a webhook, one row per (webhook, event), kept
//! until delivered or dead-lettered so that a restart (or a crash) loses none. Writes go
//! through the writer task like every other write; reads through the read pool.
//!
//! A webhook is keyed by the caller's opaque name for it (the notifier's `outbox_key`:
//! `scheme://host:port sha256:<digest of the URL>`, never the URL itself, whose path may be
//! the receiver's token).

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::outbox_counts::{self, Outcome};
use super::request::{settle, Pending, Reply};
use super::rows::{column, unsigned_from_db};
use super::{read_error, Store, StoreError};

/// No retry is scheduled further ahead than this (the notifier's backoff cap); a row
/// scheduled beyond it was scheduled before the clock stepped back.
pub const MAX_RETRY_WAIT_MS: i64 = 60_000;

/// Rows one `outbox_due` call returns at most.
pub const MAX_OUTBOX_DUE: u32 = 1_000;

/// An event to queue (for every webhook given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub event_id: String,
    /// `gap_opened`, `gap_closed`, `audit_closed`.
    pub kind: String,
    /// The JSON exactly as it is POSTed.
    pub body: String,
}

/// A queued event of one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Queue order (and the row's key).
    pub outbox_id: i64,
    pub event_id: String,
    pub kind: String,
    pub body: String,
    /// Attempts already made.
    pub attempts: u32,
    pub next_attempt_unix_ms: i64,
    pub created_unix_ms: i64,
}

/// What queueing did for one webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Rows added (an event already queued for the webhook is not added again).
    pub inserted: u64,
    /// Event ids of the oldest rows deleted to keep the webhook within its cap: dead
    /// letters.
    pub dropped: Vec<String>,
}

/// The outbox's write requests (one writer `Op` variant holds them all).
pub(super) enum OutboxOp {
    Enqueue {
        webhooks: Vec<String>,
        events: Vec<OutboxEvent>,
        now_unix_ms: i64,
        cap: u64,
        reply: Reply<Vec<Enqueued>>,
    },
    Remove {
        outbox_id: i64,
        outcome: Outcome,
        reply: Reply<bool>,
    },
    Failed {
        outbox_id: i64,
        attempts: u32,
        next_attempt_unix_ms: i64,
        reply: Reply<bool>,
    },
    ForgetOthers {
        keep: Vec<String>,
        reply: Reply<Vec<(String, u64)>>,
    },
    Cap {
        webhook: String,
        cap: u64,
        reply: Reply<Vec<String>>,
    },
}

impl OutboxOp {
    pub(super) fn rows(&self) -> usize {
        match self {
            OutboxOp::Enqueue {
                webhooks, events, ..
            } => (webhooks.len() * events.len()).max(1),
            OutboxOp::Remove { .. } | OutboxOp::Failed { .. } => 1,
            OutboxOp::ForgetOthers { .. } | OutboxOp::Cap { .. } => super::MAX_BATCH_ROWS,
        }
    }

    pub(super) fn fail(self, error: StoreError) {
        match self {
            OutboxOp::Enqueue { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            OutboxOp::Remove { reply, .. } | OutboxOp::Failed { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            OutboxOp::ForgetOthers { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            OutboxOp::Cap { reply, .. } => {
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

pub(super) async fn apply(conn: &mut AnyConnection, op: OutboxOp) -> (Pending, bool) {
    match op {
        OutboxOp::Enqueue {
            webhooks,
            events,
            now_unix_ms,
            cap,
            reply,
        } => settle(
            reply,
            enqueue(conn, &webhooks, &events, now_unix_ms, cap).await,
        ),
        OutboxOp::Remove {
            outbox_id,
            outcome,
            reply,
        } => settle(reply, remove(conn, outbox_id, outcome).await),
        OutboxOp::Failed {
            outbox_id,
            attempts,
            next_attempt_unix_ms,
            reply,
        } => {
            let done = sqlx::query(
                "UPDATE webhook_outbox SET attempts = $2, next_attempt_unix_ms = $3 \
                 WHERE outbox_id = $1",
            )
            .bind(outbox_id)
            .bind(i64::from(attempts))
            .bind(next_attempt_unix_ms)
            .execute(&mut *conn)
            .await
            .map(|d| d.rows_affected() > 0)
            .map_err(db_error("recording a failed webhook attempt"));
            settle(reply, done)
        }
        OutboxOp::ForgetOthers { keep, reply } => settle(reply, forget_others(conn, &keep).await),
        OutboxOp::Cap {
            webhook,
            cap,
            reply,
        } => settle(reply, trim(conn, &webhook, cap).await),
    }
}

async fn enqueue(
    conn: &mut AnyConnection,
    webhooks: &[String],
    events: &[OutboxEvent],
    now_unix_ms: i64,
    cap: u64,
) -> Result<Vec<Enqueued>, StoreError> {
    let mut outcomes = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        let mut outcome = Enqueued::default();
        for e in events {
            let done = sqlx::query(
                "INSERT INTO webhook_outbox (webhook, event_id, event_kind, body, attempts, \
                 next_attempt_unix_ms, created_unix_ms) VALUES ($1, $2, $3, $4, 0, $5, $5) \
                 ON CONFLICT (webhook, event_id) DO NOTHING",
            )
            .bind(webhook)
            .bind(&e.event_id)
            .bind(&e.kind)
            .bind(&e.body)
            .bind(now_unix_ms)
            .execute(&mut *conn)
            .await
            .map_err(db_error("queueing a webhook event"))?;
            outcome.inserted += done.rows_affected();
        }
        if outcome.inserted > 0 {
            outcome.dropped = trim(conn, webhook, cap).await?;
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Deletes a delivered or dead-lettered row and counts it; false when it was gone.
async fn remove(
    conn: &mut AnyConnection,
    outbox_id: i64,
    outcome: Outcome,
) -> Result<bool, StoreError> {
    let webhook: Option<String> =
        sqlx::query_scalar("DELETE FROM webhook_outbox WHERE outbox_id = $1 RETURNING webhook")
            .bind(outbox_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error("removing a webhook event from the outbox"))?;
    match webhook {
        Some(webhook) => {
            outbox_counts::count(conn, &webhook, outcome, 1).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Deletes a webhook's oldest rows beyond `cap` (counted as dead letters); returns their
/// event ids.
async fn trim(
    conn: &mut AnyConnection,
    webhook: &str,
    cap: u64,
) -> Result<Vec<String>, StoreError> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_outbox WHERE webhook = $1")
        .bind(webhook)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("counting a webhook's queued events"))?;
    let count = unsigned_from_db("webhook_outbox", count)?;
    if count <= cap {
        return Ok(Vec::new());
    }
    let excess = i64::try_from(count - cap).unwrap_or(i64::MAX);
    let mut dropped: Vec<(i64, String)> = sqlx::query_as(
        "DELETE FROM webhook_outbox WHERE outbox_id IN (SELECT outbox_id FROM webhook_outbox \
         WHERE webhook = $1 ORDER BY outbox_id LIMIT $2) RETURNING outbox_id, event_id",
    )
    .bind(webhook)
    .bind(excess)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error("dropping a webhook's oldest queued events"))?;
    dropped.sort();
    outbox_counts::count(conn, webhook, Outcome::DeadLettered, dropped.len() as u64).await?;
    Ok(dropped.into_iter().map(|(_, id)| id).collect())
}

/// Deletes the rows of every webhook not in `keep`; returns how many per webhook.
async fn forget_others(
    conn: &mut AnyConnection,
    keep: &[String],
) -> Result<Vec<(String, u64)>, StoreError> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT webhook, COUNT(*) FROM webhook_outbox GROUP BY webhook ORDER BY webhook",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error("listing the outbox's webhooks"))?;
    let mut forgotten = Vec::new();
    for (webhook, count) in counts {
        if keep.contains(&webhook) {
            continue;
        }
        sqlx::query("DELETE FROM webhook_outbox WHERE webhook = $1")
            .bind(&webhook)
            .execute(&mut *conn)
            .await
            .map_err(db_error(
                "deleting the events of a webhook no longer configured",
            ))?;
        forgotten.push((webhook, unsigned_from_db("webhook_outbox", count)?));
    }
    Ok(forgotten)
}

fn row(r: &AnyRow) -> Result<OutboxRow, StoreError> {
    const T: &str = "webhook_outbox";
    let attempts: i64 = column(r, T, "attempts")?;
    Ok(OutboxRow {
        outbox_id: column(r, T, "outbox_id")?,
        event_id: column(r, T, "event_id")?,
        kind: column(r, T, "event_kind")?,
        body: column(r, T, "body")?,
        attempts: u32::try_from(attempts).map_err(|_| StoreError::Corrupt {
            table: T,
            what: format!("attempts {attempts} out of range"),
        })?,
        next_attempt_unix_ms: column(r, T, "next_attempt_unix_ms")?,
        created_unix_ms: column(r, T, "created_unix_ms")?,
    })
}

impl Store {
    /// Queues `events` for every webhook of `webhooks`, in one transaction; an event
    /// already queued for a webhook (same event id) is not queued again. A webhook with
    /// more than `cap` rows then loses its oldest ones (returned: dead letters). One
    /// outcome per webhook, in order.
    pub async fn outbox_enqueue(
        &self,
        webhooks: &[String],
        events: Vec<OutboxEvent>,
        now_unix_ms: i64,
        cap: u64,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let webhooks = webhooks.to_vec();
        self.write(|reply| OutboxOp::Enqueue {
            webhooks,
            events,
            now_unix_ms,
            cap,
            reply,
        })
        .await
    }

    /// A webhook's rows due at `now`, oldest first, at most `limit` (and
    /// [`MAX_OUTBOX_DUE`]): the queue's head up to the first row still waiting for a retry,
    /// so events go out in the order they were queued. A row scheduled more than
    /// [`MAX_RETRY_WAIT_MS`] ahead is due: the clock stepped back since, and waiting for it
    /// would hold the whole queue.
    pub async fn outbox_due(
        &self,
        webhook: &str,
        now_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = limit.min(MAX_OUTBOX_DUE);
        let rows = sqlx::query(
            "SELECT outbox_id, event_id, event_kind, body, attempts, next_attempt_unix_ms, \
             created_unix_ms FROM webhook_outbox WHERE webhook = $1 AND outbox_id < \
             COALESCE((SELECT MIN(outbox_id) FROM webhook_outbox WHERE webhook = $1 \
             AND next_attempt_unix_ms > $2 AND next_attempt_unix_ms <= $4), \
             9223372036854775807) ORDER BY outbox_id LIMIT $3",
        )
        .bind(webhook)
        .bind(now_unix_ms)
        .bind(i64::from(limit))
        .bind(now_unix_ms.saturating_add(MAX_RETRY_WAIT_MS))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading a webhook's due events", e))?;
        rows.iter().map(row).collect()
    }

    /// When the head of a webhook's queue is next due; None when the queue is empty.
    pub async fn outbox_next_attempt(&self, webhook: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT next_attempt_unix_ms FROM webhook_outbox WHERE webhook = $1 \
             ORDER BY outbox_id LIMIT 1",
        )
        .bind(webhook)
        .fetch_optional(&self.inner.reads)
        .await
        .map_err(|e| read_error("reading a webhook's next attempt", e))
    }

    /// Rows queued for `webhook`, or for every webhook.
    pub async fn outbox_pending(&self, webhook: Option<&str>) -> Result<u64, StoreError> {
        let count: i64 = match webhook {
            Some(w) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM webhook_outbox WHERE webhook = $1")
                    .bind(w)
                    .fetch_one(&self.inner.reads)
                    .await
            }
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM webhook_outbox")
                    .fetch_one(&self.inner.reads)
                    .await
            }
        }
        .map_err(|e| read_error("counting queued webhook events", e))?;
        unsigned_from_db("webhook_outbox", count)
    }

    /// The event was delivered: its row goes, counted as delivered. False if it was gone
    /// already.
    pub async fn outbox_delivered(&self, outbox_id: i64) -> Result<bool, StoreError> {
        self.write(|reply| OutboxOp::Remove {
            outbox_id,
            outcome: Outcome::Delivered,
            reply,
        })
        .await
    }

    /// The event is given up (a dead letter): its row goes, counted as dead-lettered. False
    /// if it was gone already.
    pub async fn outbox_dead_letter(&self, outbox_id: i64) -> Result<bool, StoreError> {
        self.write(|reply| OutboxOp::Remove {
            outbox_id,
            outcome: Outcome::DeadLettered,
            reply,
        })
        .await
    }

    /// An attempt failed: `attempts` made so far, the next at `next_attempt_unix_ms`.
    /// False if the row is gone (dropped meanwhile).
    pub async fn outbox_failed(
        &self,
        outbox_id: i64,
        attempts: u32,
        next_attempt_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(|reply| OutboxOp::Failed {
            outbox_id,
            attempts,
            next_attempt_unix_ms,
            reply,
        })
        .await
    }

    /// Deletes the rows of every webhook not in `keep` (no longer configured); returns
    /// how many per webhook key.
    pub async fn outbox_forget_others(
        &self,
        keep: &[String],
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let keep = keep.to_vec();
        self.write(|reply| OutboxOp::ForgetOthers { keep, reply })
            .await
    }

    /// Deletes a webhook's oldest rows beyond `cap`; returns their event ids.
    pub async fn outbox_cap(&self, webhook: &str, cap: u64) -> Result<Vec<String>, StoreError> {
        let webhook = webhook.to_owned();
        self.write(|reply| OutboxOp::Cap {
            webhook,
            cap,
            reply,
        })
        .await
    }
}

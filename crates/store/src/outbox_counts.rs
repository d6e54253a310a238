//! What became of each webhook's events, over every collector sharing the outbox
//! (`webhook_outcomes`, migration 0019 / PostgreSQL 0005): delivered and dead-lettered
//! counts raised in the transaction that deletes the event's row, and what is still queued.
//! The outbox is shared, so these are what /metrics shows on every collector, not one
//! process's counts.

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use super::rows::unsigned_from_db;
use super::{read_error, Store, StoreError};

/// One webhook's events as the database counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// In the outbox: queued, waiting for a retry or being delivered.
    pub pending: u64,
    /// Delivered (a 2xx answer), since the webhook's first event.
    pub delivered: u64,
    /// Given up after every attempt, refused for good, or the oldest dropped from a full
    /// outbox, since the webhook's first event.
    pub dead_lettered: u64,
}

/// What a deleted outbox row came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Delivered,
    DeadLettered,
}

/// Adds `n` events of `webhook` to the count of `outcome`.
pub(super) async fn count(
    conn: &mut AnyConnection,
    webhook: &str,
    outcome: Outcome,
    n: u64,
) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let (delivered, dead) = match outcome {
        Outcome::Delivered => (n, 0),
        Outcome::DeadLettered => (0, n),
    };
    sqlx::query(
        "INSERT INTO webhook_outcomes (webhook, delivered, dead_lettered) VALUES ($1, $2, $3) \
         ON CONFLICT (webhook) DO UPDATE SET delivered = webhook_outcomes.delivered + $2, \
         dead_lettered = webhook_outcomes.dead_lettered + $3",
    )
    .bind(webhook)
    .bind(delivered)
    .bind(dead)
    .execute(&mut *conn)
    .await
    .map_err(|error| StoreError::Database {
        what: "counting a webhook's delivered and dead-lettered events".to_owned(),
        error,
    })?;
    Ok(())
}

impl Store {
    /// Each webhook's events as the database counts them (keyed by the outbox's key):
    /// the webhooks with a row queued or an event delivered or dead-lettered.
    pub async fn outbox_counts(&self) -> Result<BTreeMap<String, OutboxCounts>, StoreError> {
        let read = |e| read_error("counting the webhooks' events", e);
        let mut counts: BTreeMap<String, OutboxCounts> = BTreeMap::new();
        let queued: Vec<(String, i64)> = sqlx::query_as(
            "SELECT webhook, COUNT(*) FROM webhook_outbox GROUP BY webhook ORDER BY webhook",
        )
        .fetch_all(&self.inner.reads)
        .await
        .map_err(read)?;
        for (webhook, n) in queued {
            counts.entry(webhook).or_default().pending = unsigned_from_db("webhook_outbox", n)?;
        }
        let outcomes: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT webhook, delivered, dead_lettered FROM webhook_outcomes ORDER BY webhook",
        )
        .fetch_all(&self.inner.reads)
        .await
        .map_err(read)?;
        for (webhook, delivered, dead) in outcomes {
            let entry = counts.entry(webhook).or_default();
            entry.delivered = unsigned_from_db("webhook_outcomes", delivered)?;
            entry.dead_lettered = unsigned_from_db("webhook_outcomes", dead)?;
        }
        Ok(counts)
    }
}

//! What each webhook's deliveries came to, as `/metrics` shows it: counted in the shared
//! outbox (every collector's events), read with a bound so a scrape never waits on the
//! database.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use super::{Notifier, COUNTS_WAIT};

/// What one webhook's deliveries came to, over every collector sharing the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStats {
    /// `scheme://host:port`.
    pub target: String,
    pub delivered: u64,
    /// Given up after every attempt, refused for good, or the oldest dropped from a full
    /// outbox; and the events this process could not queue at all (the store's write
    /// failed, so only this process knows of them).
    pub dead_letters: u64,
    /// In the outbox: queued, waiting for a retry or being delivered.
    pub pending: u64,
}

impl Notifier {
    /// Dead letters over every webhook.
    pub async fn dead_letters(&self) -> u64 {
        self.stats().await.iter().map(|s| s.dead_letters).sum()
    }

    /// Each webhook's events as the store counts them (every collector's, since each
    /// webhook's first event), plus the events this process could not queue. While the
    /// store cannot be read, the counts last read.
    pub async fn stats(&self) -> Vec<WebhookStats> {
        let Some(shared) = &self.shared else {
            return Vec::new();
        };
        // Bounded: a scrape must answer while the database does not (the last figures).
        let read = tokio::time::timeout(COUNTS_WAIT, shared.store.outbox_counts()).await;
        let counts = match read {
            Ok(Ok(counts)) => {
                let mut last = shared
                    .last_counts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *last = counts.clone();
                counts
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot count the webhooks' events; showing the counts last read");
                shared
                    .last_counts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            }
            Err(_) => {
                tracing::debug!("the database did not count the webhooks' events within a second; showing the counts last read");
                shared
                    .last_counts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            }
        };
        shared
            .hooks
            .iter()
            .map(|h| {
                let counted = counts.get(&h.key).copied().unwrap_or_default();
                WebhookStats {
                    target: h.target.clone(),
                    delivered: counted.delivered,
                    dead_letters: counted
                        .dead_lettered
                        .saturating_add(h.unqueued.load(Ordering::Relaxed)),
                    pending: counted.pending,
                }
            })
            .collect()
    }
}

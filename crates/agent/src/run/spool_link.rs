//! The spool as the scheduler and the uplink share it: one `eceprobe_spool::Spool` behind a
//! mutex, every disk operation on the blocking pool (an fsync must not stall the probes'
//! timers), and a notification when new results are spooled.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use eceprobe_spool::{Spool, SpoolOptions};
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum LinkSpoolError {
    #[error(transparent)]
    Spool(#[from] eceprobe_spool::SpoolError),
    #[error("the spool's lock was poisoned by a panic; restart the agent")]
    Poisoned,
    #[error("the spool task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Cheap to clone; every clone is the same spool.
#[derive(Clone)]
pub struct SharedSpool {
    spool: Arc<Mutex<Spool>>,
    appended: Arc<Notify>,
    dropped_total: Arc<AtomicU64>,
}

impl SharedSpool {
    pub fn open(dir: &Path, max_bytes: u64) -> Result<SharedSpool, LinkSpoolError> {
        let spool = Spool::open(dir, SpoolOptions::new(max_bytes))?;
        let dropped = spool.stats().dropped_total;
        Ok(SharedSpool {
            spool: Arc::new(Mutex::new(spool)),
            appended: Arc::new(Notify::new()),
            dropped_total: Arc::new(AtomicU64::new(dropped)),
        })
    }

    /// Notified (one permit) whenever results are appended.
    pub fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.appended)
    }

    /// Results dropped because the spool was full, since it was created.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Spool) -> Result<T, eceprobe_spool::SpoolError> + Send + 'static,
    ) -> Result<T, LinkSpoolError> {
        let spool = Arc::clone(&self.spool);
        let dropped = Arc::clone(&self.dropped_total);
        tokio::task::spawn_blocking(move || {
            let mut spool = spool.lock().map_err(|_| LinkSpoolError::Poisoned)?;
            let out = f(&mut spool)?;
            dropped.store(spool.stats().dropped_total, Ordering::Relaxed);
            Ok(out)
        })
        .await?
    }

    /// Numbers the records `make` builds (it is given the first seq) right after the last
    /// seq spooled, and appends them in one fsync'd batch. Returns the first and last seq.
    pub async fn append_numbered(
        &self,
        make: impl FnOnce(u64) -> Vec<Vec<u8>> + Send + 'static,
    ) -> Result<(u64, u64), LinkSpoolError> {
        let range = self
            .with(move |spool| {
                let first = spool.last_seq() + 1;
                let records = make(first);
                let last = first + records.len() as u64 - 1;
                let numbered: Vec<(u64, &[u8])> =
                    (first..).zip(records.iter().map(Vec::as_slice)).collect();
                let dropped = spool.append(&numbered)?;
                if dropped > 0 {
                    tracing::warn!(
                        eventlog = crate::eventlog::SPOOL_OVERFLOW,
                        dropped,
                        spool = %spool.dir().display(),
                        "the spool is full: the oldest unsent results were dropped. The collector has \
                         not acknowledged results for a while: the log says why the link is down; \
                         [run] spool_max_mb keeps more (default 64)"
                    );
                }
                Ok((first, last))
            })
            .await?;
        self.appended.notify_one();
        Ok(range)
    }

    /// Records after `after_seq`, in order, bounded in count and bytes.
    pub async fn read_after(
        &self,
        after_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, LinkSpoolError> {
        self.with(move |spool| {
            let records = spool.read_after(after_seq, max_records, max_bytes)?;
            Ok(records.into_iter().map(|r| (r.seq, r.payload)).collect())
        })
        .await
    }

    /// Every seq up to this one is acked (delivered, or set aside as refused for good).
    pub async fn acked_seq(&self) -> Result<u64, LinkSpoolError> {
        self.with(|spool| Ok(spool.acked_seq())).await
    }

    /// The collector stored everything up to `seq`: drop it, and never number a new result
    /// at or below it.
    pub async fn acknowledge(&self, seq: u64) -> Result<(), LinkSpoolError> {
        self.with(move |spool| {
            spool.raise_seq_floor(seq)?;
            spool.ack(seq)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::eventlog::tests::Recorded;
    use crate::eventlog::{EntryType, EventLogLayer, LIMITS, SPOOL_OVERFLOW};

    /// A spool over its budget drops the oldest results and says so in the event log, once
    /// per repeat window however often it happens, with the spool and the fix.
    #[test]
    fn an_overflowing_spool_reaches_the_event_log_once() {
        let sink = Recorded::default();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::registry().with(EventLogLayer::new(sink.clone(), LIMITS, None)),
        );
        // The disk work runs on the blocking pool: every thread reports to the test's layer.
        let on_thread = dispatch.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&on_thread)))
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spool = SharedSpool::open(dir.path(), 4096).unwrap();
        runtime.block_on(async {
            for _ in 0..40 {
                spool
                    .append_numbered(|_| vec![vec![7u8; 500]])
                    .await
                    .unwrap();
            }
        });
        assert!(
            spool.dropped_total() > 1,
            "the spool dropped results more than once"
        );
        let entries = sink.0.lock().unwrap().clone();
        assert_eq!(entries.len(), 1, "{entries:?}");
        let (entry_type, id, text) = &entries[0];
        assert_eq!((*entry_type, *id), (EntryType::Warning, SPOOL_OVERFLOW));
        assert!(
            text.starts_with("the spool is full: the oldest unsent results were dropped"),
            "{text}"
        );
        assert!(
            text.contains("[run] spool_max_mb") && text.contains("\ndropped: "),
            "{text}"
        );
        assert!(
            text.contains(&format!("spool: {}", dir.path().display())),
            "{text}"
        );
    }
}

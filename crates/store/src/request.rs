//! A write request's answer: each request runs inside the writer's batch transaction, and
//! its reply waits until that transaction has committed (or failed). Shared by the writer
//! and the stores of each table (`audits.rs`, `outbox.rs`, `fleet.rs`), which run their own
//! requests, so neither depends on the other.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::StoreError;

/// Where a request's answer goes, once its batch is committed (or has failed).
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// The batch transaction failed as a whole: every request in it gets this.
pub(super) struct Broken {
    pub(super) stage: &'static str,
    pub(super) source: Arc<sqlx::Error>,
    /// The database, when the connection to it was lost (not a statement's failure).
    pub(super) lost: Option<String>,
    /// Lost while committing: whether the batch was stored is not known.
    pub(super) at_commit: bool,
}

impl Broken {
    pub(super) fn new(stage: &'static str, source: sqlx::Error) -> Broken {
        Broken {
            stage,
            source: Arc::new(source),
            lost: None,
            at_commit: false,
        }
    }

    pub(super) fn error(&self) -> StoreError {
        match &self.lost {
            Some(database) => StoreError::ConnectionLost {
                database: database.clone(),
                error: Arc::clone(&self.source),
                outcome: if self.at_commit {
                    "whether this write was stored is not known (results sent again are stored once)"
                } else {
                    "nothing of this write was stored"
                },
            },
            None => StoreError::Transaction {
                stage: self.stage,
                error: Arc::clone(&self.source),
            },
        }
    }
}

/// A request that ran; its answer waits for the end of the transaction.
pub(super) type Pending = Box<dyn FnOnce(Option<&Broken>) + Send>;

/// Pairs a request's own outcome with its reply. If the transaction then fails, a request
/// that had succeeded gets the transaction's error (its writes were not kept); one that had
/// failed keeps its own error.
pub(super) fn settle<T: Send + 'static>(
    reply: Reply<T>,
    outcome: Result<T, StoreError>,
) -> (Pending, bool) {
    let ok = outcome.is_ok();
    let pending: Pending = Box::new(move |broken: Option<&Broken>| {
        let answer = match (broken, outcome) {
            // A lost connection is the cause of every failure in the batch: say it.
            (Some(broken), _) if broken.lost.is_some() => Err(broken.error()),
            (Some(broken), Ok(_)) => Err(broken.error()),
            (_, outcome) => outcome,
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = reply.send(answer);
    });
    (pending, ok)
}

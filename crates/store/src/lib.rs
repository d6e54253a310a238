//! Storage: agents, their results (history) and the latest result per check, gaps,
//! audits, the webhook outbox, in SQLite or PostgreSQL (one code path; see `database.rs`).
//!
//! Knows nothing of gRPC or HTTP: plain structs in, plain structs out. A result's full
//! detail is an opaque blob (the caller stores the protobuf-encoded result there).
//!
//! One writer task owns the only write connection and takes requests from a bounded queue;
//! it drains what is queued (at most [`MAX_BATCH_REQUESTS`] requests or about
//! [`MAX_BATCH_ROWS`] rows) into one transaction, each request inside its own savepoint so a
//! failing request is rolled back alone, commits once, then answers every request. Many
//! agents' inserts thus share few commits. Reads go through a separate pool (SQLite's:
//! read-only connections, which WAL lets read while the writer writes).
//!
//! Idempotence: results are keyed on `(agent_id, seq)`; a resent result is counted as a
//! duplicate and never stored twice. The `latest` table holds one row per `(agent_id,
//! check)`, replaced only by a higher seq in the same transaction as the insert, so
//! current-state queries never scan history and pruning never touches current state.

mod audit_orders;
mod audits;
mod connections;
mod copy;
mod copy_keys;
mod copy_schema;
mod database;
mod fleet;
mod gaps;
mod join_tokens;
mod join_use;
mod latency;
mod latency_ingest;
mod lease;
pub mod metrics;
mod outbox;
mod outbox_counts;
mod quarantine;
mod request;
mod results;
mod revocations;
mod rows;
mod schedule_slots;
mod schema;
mod sql;
pub mod timeline;
mod types;
pub mod web;
mod writer;

#[cfg(test)]
mod audits_tests;
#[cfg(test)]
mod connections_tests;
#[cfg(test)]
mod copy_refusal_tests;
#[cfg(test)]
mod copy_tests;
#[cfg(test)]
mod engines;
#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod gaps_tests;
#[cfg(test)]
mod lease_tests;
#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod outbox_tests;
#[cfg(test)]
mod quarantine_tests;
#[cfg(test)]
mod schedule_slots_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod writer_tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

pub use audit_orders::UndeliveredOrder;
pub use connections::Connection;
pub use copy::{
    copy_sqlite_to_postgres, CopyError, CopyOptions, CopyReport, TableCount, DEFAULT_CHUNK_ROWS,
};
pub use database::{Backend, Database, DatabaseUrlError, PostgresUrl};
pub use fleet::{AwakeSpan, Retirement};
pub use join_tokens::{
    IssuedCertificate, JoinRefusal, JoinRequest, JoinToken, Joined, NewJoinToken, MAX_JOIN_TOKENS,
};
pub use join_use::MAX_CERTIFICATES_PER_KEY;
pub use latency::{Stages, TimingKey, Timings};
pub use latency_ingest::median;
pub use lease::{Fence, Lease};
pub use outbox::{Enqueued, OutboxEvent, OutboxRow, MAX_OUTBOX_DUE, MAX_RETRY_WAIT_MS};
pub use outbox_counts::OutboxCounts;
pub use quarantine::MAX_QUARANTINE_ROWS;
use request::Reply;
pub use results::StoredText;
pub use revocations::{Revocation, MAX_REVOCATIONS};
pub use schedule_slots::{ScheduleSlot, SlotClaim, SLOT_RECORD_KEEP_MS};
pub use types::{
    AgentRecord, AuditProgress, AuditRecord, AuditServerRecord, CheckState, FoundGap, GapChanges,
    GapFilter, GapRecord, InsertOutcome, JavaReport, KindMatch, KnownAgent, NewResult, Quarantine,
    SetAside, StoreError, StoredResult, SystemDns,
};
use writer::{Msg, Op};

/// `history` returns at most this many rows, whatever limit it is asked for.
pub const MAX_HISTORY_LIMIT: u32 = 10_000;
/// One `insert_results` call takes at most this many results.
pub const MAX_RESULTS_PER_INSERT: usize = 10_000;
/// A gap query returns at most this many gaps.
pub const MAX_GAPS_LIMIT: u32 = 10_000;
/// The writer puts at most this many queued requests into one transaction...
pub const MAX_BATCH_REQUESTS: usize = 256;
/// ...and stops adding requests once the transaction holds about this many rows.
pub const MAX_BATCH_ROWS: usize = 5_000;
/// Write requests waiting for the writer; callers wait (backpressure) beyond this.
const WRITE_QUEUE_DEPTH: usize = 1_024;
/// Rows one prune step deletes; `prune_before` takes as many steps as it needs, each its
/// own request, so inserts are never held up behind a long delete.
const PRUNE_CHUNK: u32 = 5_000;
/// Connections of the read-only pool.
const READ_POOL_SIZE: u32 = 4;

/// The store: cheap to clone (an `Arc` inside); every clone talks to the same writer task
/// and read pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    database: Database,
    writes: mpsc::Sender<Msg>,
    reads: AnyPool,
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.inner.database)
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if missing, with its directory) the SQLite file: WAL,
    /// synchronous=FULL, foreign keys, busy timeout, embedded migrations. Starts the
    /// writer task, so it must run inside a tokio runtime.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::connect(&Database::Sqlite(path.to_path_buf())).await
    }

    /// Opens the store in a SQLite file or a PostgreSQL database, applying the schema
    /// migrations of its dialect (a database of a newer schema, or one that is not
    /// eceprobe's, is refused). Starts the writer task, so it must run inside a tokio
    /// runtime.
    pub async fn connect(database: &Database) -> Result<Store, StoreError> {
        let mut conn = database.connect_writer().await?;
        if let Err(e) = schema::prepare(&mut conn, database).await {
            database::close_quietly(conn).await;
            return Err(e);
        }
        let reads = match database.connect_reads(READ_POOL_SIZE).await {
            Ok(reads) => reads,
            Err(e) => {
                database::close_quietly(conn).await;
                return Err(e);
            }
        };
        let commits = Arc::new(AtomicU64::new(0));
        let (writes, queue) = mpsc::channel(WRITE_QUEUE_DEPTH);
        tokio::spawn(writer::run(
            conn,
            database.clone(),
            queue,
            Arc::clone(&commits),
        ));
        tracing::debug!(%database, "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                database: database.clone(),
                writes,
                reads,
                commits,
            }),
        })
    }

    /// Where the store lives.
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The SQLite file, or None on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        self.inner.database.sqlite_path()
    }

    /// Write transactions committed since `open` (each holds one or more requests).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Records an agent, or updates everything it declares; `seen_unix_ms` only moves
    /// forward.
    pub async fn upsert_agent(&self, a: &AgentRecord) -> Result<(), StoreError> {
        let agent = Box::new(a.clone());
        self.write(|reply| Op::UpsertAgent { agent, reply }).await
    }

    /// Marks an agent as heard from (only moves forward) and records how many results its
    /// spool has dropped so far; the agent must be recorded.
    pub async fn touch_agent(
        &self,
        agent_id: &str,
        seen_unix_ms: i64,
        spool_dropped: u64,
    ) -> Result<(), StoreError> {
        let agent_id = agent_id.to_owned();
        self.write(|reply| Op::Touch {
            agent_id,
            seen_unix_ms,
            spool_dropped,
            reply,
        })
        .await
    }

    /// Every recorded agent, by id.
    pub async fn agents(&self) -> Result<Vec<KnownAgent>, StoreError> {
        let rows = sqlx::query(rows::SELECT_AGENTS)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("listing agents", e))?;
        rows.iter().map(rows::agent).collect()
    }

    /// Highest seq stored for the agent, 0 if none (or if the agent is unknown). Kept with
    /// the agent, so pruning history does not lower it.
    pub async fn last_seq(&self, agent_id: &str) -> Result<u64, StoreError> {
        let max_seq: Option<i64> =
            sqlx::query_scalar("SELECT max_seq FROM agents WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(|e| read_error(format!("reading the last seq of agent {agent_id}"), e))?;
        rows::unsigned_from_db("agents", max_seq.unwrap_or(0))
    }

    /// Stores an agent's results, idempotent on `(agent_id, seq)`: a resent result is
    /// counted as a duplicate, never stored twice. In the same transaction, the latest-state
    /// row of each check is replaced when the new result has a higher seq. The call is
    /// atomic: on error nothing of it is stored. The agent must be recorded
    /// (`upsert_agent`) first.
    pub async fn insert_results(
        &self,
        agent_id: &str,
        results: Vec<NewResult>,
        received_unix_ms: i64,
    ) -> Result<InsertOutcome, StoreError> {
        self.insert_batch(agent_id, results, Vec::new(), received_unix_ms)
            .await
    }

    /// [`insert_results`](Self::insert_results) with the batch's set-aside results in the
    /// same transaction (the quarantine, each once per (agent, seq)): the agent's last seq
    /// covers them too, so the ack that lets the agent move on past them is true.
    pub async fn insert_batch(
        &self,
        agent_id: &str,
        results: Vec<NewResult>,
        set_aside: Vec<SetAside>,
        received_unix_ms: i64,
    ) -> Result<InsertOutcome, StoreError> {
        if results.len() + set_aside.len() > MAX_RESULTS_PER_INSERT {
            return Err(StoreError::TooManyResults {
                agent_id: agent_id.to_owned(),
                count: results.len() + set_aside.len(),
            });
        }
        let agent_id = agent_id.to_owned();
        self.write(|reply| Op::Insert {
            agent_id,
            results,
            set_aside,
            received_unix_ms,
            reply,
        })
        .await
    }

    /// The latest result per check for an agent, by check (from the latest-state table).
    pub async fn latest(&self, agent_id: &str) -> Result<Vec<StoredResult>, StoreError> {
        let rows = sqlx::query(rows::SELECT_LATEST_OF_AGENT)
            .bind(agent_id)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| {
                read_error(format!("reading the latest results of agent {agent_id}"), e)
            })?;
        rows.iter().map(|r| rows::result(r, "latest")).collect()
    }

    /// The latest state of every check of every agent, by agent then check, without the
    /// detail blobs (from the latest-state table; never history).
    pub async fn latest_states(&self) -> Result<Vec<CheckState>, StoreError> {
        let rows = sqlx::query(rows::SELECT_STATES)
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| read_error("reading the latest state of all agents", e))?;
        rows.iter().map(rows::state).collect()
    }

    /// History of one check on one agent, newest (highest seq) first, at most `limit`
    /// rows, and never more than [`MAX_HISTORY_LIMIT`].
    pub async fn history(
        &self,
        agent_id: &str,
        check: &str,
        limit: u32,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let limit = limit.min(MAX_HISTORY_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(rows::SELECT_HISTORY)
            .bind(agent_id)
            .bind(check)
            .bind(i64::from(limit))
            .fetch_all(&self.inner.reads)
            .await
            .map_err(|e| {
                read_error(
                    format!("reading the history of {check} on agent {agent_id}"),
                    e,
                )
            })?;
        rows.iter().map(|r| rows::result(r, "results")).collect()
    }

    /// Deletes history rows received before the cutoff (never the latest-state rows, nor
    /// the agents' last seq); returns how many. Deletes in steps of a bounded size, each
    /// its own transaction, so writes from agents go on in between.
    pub async fn prune_before(&self, cutoff_unix_ms: i64) -> Result<u64, StoreError> {
        self.in_steps(u64::from(PRUNE_CHUNK), |reply| Op::Prune {
            cutoff_unix_ms,
            limit: PRUNE_CHUNK,
            reply,
        })
        .await
    }

    /// Runs a deleting request (each deletes at most `per_step`) until one deletes less:
    /// every step is its own write request, so agents' inserts go on in between. Returns
    /// the total deleted.
    async fn in_steps<O: Into<Op>>(
        &self,
        per_step: u64,
        step: impl Fn(Reply<u64>) -> O,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let deleted = self.write(&step).await?;
            total += deleted;
            if deleted < per_step {
                return Ok(total);
            }
        }
    }

    /// Makes the open gaps exactly `found` (keyed on agent, check, kind and severity), in
    /// one transaction: new ones open at `now`, ones no longer found close at `now`, ones
    /// still found keep their opening time and take the new detail.
    pub async fn reconcile_gaps(
        &self,
        found: Vec<FoundGap>,
        now_unix_ms: i64,
    ) -> Result<GapChanges, StoreError> {
        self.reconcile_gaps_fenced(found, now_unix_ms, None).await
    }

    /// [`reconcile_gaps`](Self::reconcile_gaps), made only while `fence` still holds its
    /// leader lease at its term ([`StoreError::NotLeader`] otherwise, nothing changed):
    /// a collector that lost the lease while evaluating cannot overwrite the new leader's
    /// gaps.
    pub async fn reconcile_gaps_fenced(
        &self,
        found: Vec<FoundGap>,
        now_unix_ms: i64,
        fence: Option<Fence>,
    ) -> Result<GapChanges, StoreError> {
        self.write(|reply| Op::ReconcileGaps {
            found,
            now_unix_ms,
            fence,
            reply,
        })
        .await
    }

    /// Gaps matching the filter: the open ones, or history (open and closed, newest
    /// opened first).
    pub async fn gaps(&self, filter: &GapFilter) -> Result<Vec<GapRecord>, StoreError> {
        gaps::select(&self.inner.reads, filter).await
    }

    /// Deletes gaps closed before the cutoff (never open ones), in bounded steps; returns
    /// how many.
    pub async fn prune_gaps_before(&self, cutoff_unix_ms: i64) -> Result<u64, StoreError> {
        self.in_steps(u64::from(PRUNE_CHUNK), |reply| Op::PruneGaps {
            cutoff_unix_ms,
            limit: PRUNE_CHUNK,
            reply,
        })
        .await
    }

    /// Stops the writer once the requests queued before this call are written, closes
    /// the write connection (SQLite: checkpointing the WAL) and the read pool. Other clones of the
    /// store get [`StoreError::Closed`] afterwards.
    pub async fn close(self) {
        let (reply, done) = oneshot::channel();
        if self.inner.writes.send(Msg::Shutdown(reply)).await.is_ok() {
            // An error means the writer is already gone: nothing left to wait for.
            let _ = done.await;
        }
        self.inner.reads.close().await;
        tracing::debug!(database = %self.inner.database, "store closed");
    }

    /// Queues one write request and waits for its answer (after its batch commits).
    /// Queues a request for the writer and waits for its answer, once its batch committed.
    async fn write<T, O: Into<Op>>(&self, op: impl FnOnce(Reply<T>) -> O) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .writes
            .send(Msg::Write(op(reply).into()))
            .await
            .map_err(|_| StoreError::Closed)?;
        match answer.await {
            Ok(answer) => answer,
            // The writer dropped the request without answering: it stopped (the store is
            // closed) or the request's statements passed the write timeout.
            Err(_) if self.inner.writes.is_closed() => Err(StoreError::Closed),
            Err(_) => Err(StoreError::TimedOut {
                database: self.inner.database.to_string(),
            }),
        }
    }
}

/// A failed read: a closed pool means a closed store.
pub(crate) fn read_error(what: impl Into<String>, source: sqlx::Error) -> StoreError {
    match source {
        sqlx::Error::PoolClosed => StoreError::Closed,
        source => StoreError::Database {
            what: what.into(),
            error: source,
        },
    }
}

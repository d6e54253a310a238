//! The single writer: one task owns the write connection. It takes the requests queued on
//! its channel (up to a bound), runs them in ONE transaction, each inside its own savepoint
//! so a failing request is rolled back alone, commits once, then answers every request.
//! Many agents' inserts thus share one commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sqlx::{AnyConnection, Connection};

use tokio::sync::{mpsc, oneshot};

use super::request::{settle, Broken, Pending, Reply};
use super::results::{insert_results, prune, touch_agent, upsert_agent};
use super::{
    audits, connections, fleet, gaps, join_tokens, lease, outbox, revocations, schedule_slots,
    AgentRecord, Database, Fence, FoundGap, GapChanges, InsertOutcome, NewResult, SetAside,
    StoreError, MAX_BATCH_REQUESTS, MAX_BATCH_ROWS,
};

/// What the writer's channel carries.
pub(super) enum Msg {
    Write(Op),
    /// Write what was queued before, close the connection, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// One write request.
pub(super) enum Op {
    UpsertAgent {
        /// Boxed: the record is most of the request's size otherwise.
        agent: Box<AgentRecord>,
        reply: Reply<()>,
    },
    Touch {
        agent_id: String,
        seen_unix_ms: i64,
        spool_dropped: u64,
        reply: Reply<()>,
    },
    Insert {
        agent_id: String,
        results: Vec<NewResult>,
        set_aside: Vec<SetAside>,
        received_unix_ms: i64,
        reply: Reply<InsertOutcome>,
    },
    Prune {
        cutoff_unix_ms: i64,
        limit: u32,
        reply: Reply<u64>,
    },
    ReconcileGaps {
        found: Vec<FoundGap>,
        now_unix_ms: i64,
        fence: Option<Fence>,
        reply: Reply<GapChanges>,
    },
    PruneGaps {
        cutoff_unix_ms: i64,
        limit: u32,
        reply: Reply<u64>,
    },
    Audit(audits::AuditOp),
    Outbox(outbox::OutboxOp),
    Fleet(fleet::FleetOp),
    Lease(lease::LeaseOp),
    Presence(connections::PresenceOp),
    Revoke(revocations::RevokeOp),
    Slot(schedule_slots::SlotOp),
    Join(join_tokens::JoinOp),
}

impl Op {
    /// About how many rows the request writes, to bound a batch.
    fn rows(&self) -> usize {
        match self {
            Op::Insert {
                results, set_aside, ..
            } => (results.len() + set_aside.len()).max(1),
            Op::Prune { limit, .. } | Op::PruneGaps { limit, .. } => {
                usize::try_from(*limit).unwrap_or(MAX_BATCH_ROWS)
            }
            Op::ReconcileGaps { found, .. } => found.len().max(1),
            Op::UpsertAgent { .. } | Op::Touch { .. } => 1,
            Op::Audit(op) => op.rows(),
            Op::Outbox(op) => op.rows(),
            Op::Fleet(op) => op.rows(),
            Op::Lease(op) => op.rows(),
            Op::Presence(op) => op.rows(),
            Op::Revoke(op) => op.rows(),
            Op::Slot(op) => op.rows(),
            Op::Join(op) => op.rows(),
        }
    }

    /// Answers with an error, without running the request.
    fn fail(self, error: StoreError) {
        match self {
            Op::UpsertAgent { reply, .. } | Op::Touch { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Op::Insert { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Op::Prune { reply, .. } | Op::PruneGaps { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Op::ReconcileGaps { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Op::Audit(op) => op.fail(error),
            Op::Outbox(op) => op.fail(error),
            Op::Fleet(op) => op.fail(error),
            Op::Lease(op) => op.fail(error),
            Op::Presence(op) => op.fail(error),
            Op::Revoke(op) => op.fail(error),
            Op::Slot(op) => op.fail(error),
            Op::Join(op) => op.fail(error),
        }
    }
}

impl From<audits::AuditOp> for Op {
    fn from(op: audits::AuditOp) -> Op {
        Op::Audit(op)
    }
}

impl From<outbox::OutboxOp> for Op {
    fn from(op: outbox::OutboxOp) -> Op {
        Op::Outbox(op)
    }
}

impl From<lease::LeaseOp> for Op {
    fn from(op: lease::LeaseOp) -> Op {
        Op::Lease(op)
    }
}

impl From<connections::PresenceOp> for Op {
    fn from(op: connections::PresenceOp) -> Op {
        Op::Presence(op)
    }
}

impl From<schedule_slots::SlotOp> for Op {
    fn from(op: schedule_slots::SlotOp) -> Op {
        Op::Slot(op)
    }
}

impl From<join_tokens::JoinOp> for Op {
    fn from(op: join_tokens::JoinOp) -> Op {
        Op::Join(op)
    }
}

impl From<revocations::RevokeOp> for Op {
    fn from(op: revocations::RevokeOp) -> Op {
        Op::Revoke(op)
    }
}

impl From<fleet::FleetOp> for Op {
    fn from(op: fleet::FleetOp) -> Op {
        Op::Fleet(op)
    }
}

/// The writer task: runs until every `Store` clone is dropped or `close` asks it to stop.
pub(super) async fn run(
    conn: AnyConnection,
    database: Database,
    mut queue: mpsc::Receiver<Msg>,
    commits: Arc<AtomicU64>,
) {
    // None after the connection was lost (PostgreSQL restarted, a network cut): the next
    // batch connects again, and fails with the reason while the server stays away, so
    // agents keep their results in their spools until it is back.
    let mut conn = Some(conn);
    // PostgreSQL keeps 64 subtransactions (our savepoints) per transaction in its cache;
    // beyond, every snapshot pays for the overflow: a batch there holds at most 64 requests.
    let max_requests = match database.backend() {
        crate::Backend::Sqlite => MAX_BATCH_REQUESTS,
        crate::Backend::Postgres => MAX_BATCH_REQUESTS.min(64),
    };
    let mut batch: Vec<Op> = Vec::with_capacity(max_requests);
    let mut shutdown = None;
    while shutdown.is_none() {
        let Some(first) = queue.recv().await else {
            break;
        };
        // Drain what is already queued, up to the bounds; never wait for more.
        let mut rows = 0;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Shutdown(reply) => shutdown = Some(reply),
                Msg::Write(op) => {
                    rows += op.rows();
                    batch.push(op);
                    if batch.len() < max_requests && rows < MAX_BATCH_ROWS {
                        next = queue.try_recv().ok();
                    }
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        if conn.is_none() {
            // Bounded as a statement is: connecting over a path that silently drops
            // packets would otherwise hold every write queued behind it.
            let connecting = database.connect_writer();
            let connected = match database.write_timeout() {
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected,
                    Err(_) => Err(StoreError::ConnectTimedOut {
                        database: database.to_string(),
                        seconds: limit.as_secs(),
                    }),
                },
                None => connecting.await,
            };
            match connected {
                Ok(c) => {
                    tracing::info!(%database, "the store's write connection is back");
                    conn = Some(c);
                }
                Err(e) => {
                    let failed = Arc::new(e);
                    for op in batch.drain(..) {
                        op.fail(StoreError::Unavailable(Arc::clone(&failed)));
                    }
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut() {
            let lost = write_batch(c, &database, &mut batch, rows, &commits).await;
            if lost {
                tracing::warn!(%database, "the store's write connection was lost; the next write connects again");
                if let Some(c) = conn.take() {
                    let _ = c.close_hard().await;
                }
            }
        }
    }
    // Refuse what comes next, and answer what was queued after the shutdown.
    queue.close();
    while let Ok(msg) = queue.try_recv() {
        match msg {
            Msg::Write(op) => op.fail(StoreError::Closed),
            Msg::Shutdown(reply) => {
                let _ = reply.send(());
            }
        }
    }
    if let Some(conn) = conn {
        if let Err(e) = conn.close().await {
            tracing::warn!(error = %e, "closing the store's write connection failed");
        }
    }
    if let Some(reply) = shutdown {
        let _ = reply.send(());
    }
}

/// Runs the batch in one transaction (one savepoint per request), commits, answers.
/// Returns true when the connection itself is lost (not a statement's failure).
async fn write_batch(
    conn: &mut AnyConnection,
    database: &Database,
    batch: &mut Vec<Op>,
    rows: usize,
    commits: &AtomicU64,
) -> bool {
    // A lost connection names the database in every answer of the batch.
    let broke = |stage, e| {
        let mut b = Broken::new(stage, e);
        if connection_lost(&b.source) {
            b.lost = Some(database.to_string());
            // Lost while committing: the server may have committed before the line broke.
            b.at_commit = stage == "commit";
        }
        b
    };
    // Every statement bounded on PostgreSQL: a silent network drop is a lost connection
    // after the bound, not a writer stuck for the kernel's retransmissions.
    let limit = database.write_timeout();
    let started = Instant::now();
    let requests = batch.len();
    let mut answers: Vec<Pending> = Vec::with_capacity(requests);
    let mut broken = execute(conn, database.backend().begin(), limit)
        .await
        .err()
        .map(|e| broke("begin", e));
    for op in batch.drain(..) {
        if let Some(broken) = &broken {
            op.fail(broken.error());
            continue;
        }
        if let Err(e) = execute(conn, "SAVEPOINT request", limit).await {
            let failed = broke("savepoint", e);
            op.fail(failed.error());
            broken = Some(failed);
            continue;
        }
        let applied = match limit {
            None => Some(apply(conn, op).await),
            // Past the bound the request is dropped with its reply: its caller hears
            // `StoreError::TimedOut` (lib.rs), the rest of the batch the lost connection.
            Some(limit) => tokio::time::timeout(limit, apply(conn, op)).await.ok(),
        };
        let Some((answer, ok)) = applied else {
            broken = Some(broke(
                "a request's statements",
                timed_out(limit.unwrap_or_default()),
            ));
            continue;
        };
        answers.push(answer);
        let end = if ok {
            execute(conn, "RELEASE request", limit).await
        } else {
            // ROLLBACK TO keeps the savepoint open; RELEASE closes it.
            match execute(conn, "ROLLBACK TO request", limit).await {
                Ok(()) => execute(conn, "RELEASE request", limit).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = end {
            broken = Some(broke("the end of a request's savepoint", e));
        }
    }
    if broken.is_none() {
        match execute(conn, "COMMIT", limit).await {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => broken = Some(broke("commit", e)),
        }
    }
    if let Some(failed) = &broken {
        tracing::warn!(
            stage = failed.stage,
            error = %failed.source,
            requests,
            "write transaction failed; its requests get the error"
        );
        // The engine may already have rolled back (SQLite's disk full, a lost connection);
        // then this fails harmlessly.
        if let Err(e) = execute(conn, "ROLLBACK", limit).await {
            tracing::debug!(error = %e, "rollback after a failed write transaction");
        }
    }
    let lost = broken.as_ref().is_some_and(|b| b.lost.is_some());
    for answer in answers {
        answer(broken.as_ref());
    }
    tracing::trace!(
        requests,
        rows,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "write batch"
    );
    lost
}

/// An error of the connection, not of a statement: the writer connects again. PostgreSQL
/// usually says goodbye before closing (a restart, a failover, `pg_terminate_backend`, an
/// idle timeout): a FATAL error of class 08 (connection exception) or 57P01-57P05 (admin or
/// crash shutdown, cannot connect now, idle session timeout) or 25P03 (idle in transaction).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "57P05" | "25P03")
        }),
        _ => false,
    }
}

/// One statement of the writer's own (BEGIN, SAVEPOINT, COMMIT...), within `limit`.
async fn execute(
    conn: &mut AnyConnection,
    sql: &'static str,
    limit: Option<std::time::Duration>,
) -> Result<(), sqlx::Error> {
    let run = sqlx::query(sql).execute(&mut *conn);
    match limit {
        None => run.await.map(|_| ()),
        Some(limit) => match tokio::time::timeout(limit, run).await {
            Ok(done) => done.map(|_| ()),
            Err(_) => Err(timed_out(limit)),
        },
    }
}

/// A statement past the write timeout, as the I/O error it stands for (a lost connection).
fn timed_out(limit: std::time::Duration) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer from the server within {} s", limit.as_secs()),
    ))
}

/// Runs one request's statements (inside its savepoint).
async fn apply(conn: &mut AnyConnection, op: Op) -> (Pending, bool) {
    match op {
        Op::UpsertAgent { agent, reply } => settle(reply, upsert_agent(conn, &agent).await),
        Op::Touch {
            agent_id,
            seen_unix_ms,
            spool_dropped,
            reply,
        } => settle(
            reply,
            touch_agent(conn, &agent_id, seen_unix_ms, spool_dropped).await,
        ),
        Op::Insert {
            agent_id,
            results,
            set_aside,
            received_unix_ms,
            reply,
        } => settle(
            reply,
            insert_results(conn, &agent_id, &results, &set_aside, received_unix_ms).await,
        ),
        Op::Prune {
            cutoff_unix_ms,
            limit,
            reply,
        } => settle(reply, prune(conn, cutoff_unix_ms, limit).await),
        Op::ReconcileGaps {
            found,
            now_unix_ms,
            fence,
            reply,
        } => {
            let fenced = match &fence {
                Some(fence) => lease::check(conn, fence, now_unix_ms).await,
                None => Ok(()),
            };
            let outcome = match fenced {
                Ok(()) => gaps::reconcile(conn, found, now_unix_ms).await,
                Err(e) => Err(e),
            };
            settle(reply, outcome)
        }
        Op::PruneGaps {
            cutoff_unix_ms,
            limit,
            reply,
        } => settle(reply, gaps::prune_closed(conn, cutoff_unix_ms, limit).await),
        Op::Audit(op) => audits::apply(conn, op).await,
        Op::Outbox(op) => outbox::apply(conn, op).await,
        Op::Fleet(op) => fleet::apply(conn, op).await,
        Op::Lease(op) => lease::apply(conn, op).await,
        Op::Presence(op) => connections::apply(conn, op).await,
        Op::Revoke(op) => revocations::apply(conn, op).await,
        Op::Slot(op) => schedule_slots::apply(conn, op).await,
        Op::Join(op) => join_tokens::apply(conn, op).await,
    }
}

//! The single writer: one task owns the write connection. It takes the requests queued on
//! its channel (up to a bound), runs them in ONE transaction, each inside its own savepoint
//! so a failing request is rolled back alone, commits once, then answers every request.
//! Many agents' inserts thus share one commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::{
    gaps, AgentRecord, FoundGap, GapChanges, InsertOutcome, NewResult, StoreError,
    MAX_BATCH_REQUESTS, MAX_BATCH_ROWS,
};

/// Where a request's answer goes, once its batch is committed (or has failed).
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

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
        reply: Reply<GapChanges>,
    },
    PruneGaps {
        cutoff_unix_ms: i64,
        limit: u32,
        reply: Reply<u64>,
    },
}

impl Op {
    /// About how many rows the request writes, to bound a batch.
    fn rows(&self) -> usize {
        match self {
            Op::Insert { results, .. } => results.len().max(1),
            Op::Prune { limit, .. } | Op::PruneGaps { limit, .. } => {
                usize::try_from(*limit).unwrap_or(MAX_BATCH_ROWS)
            }
            Op::ReconcileGaps { found, .. } => found.len().max(1),
            Op::UpsertAgent { .. } | Op::Touch { .. } => 1,
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
        }
    }
}

/// The batch transaction failed as a whole: every request in it gets this.
struct Broken {
    stage: &'static str,
    source: Arc<sqlx::Error>,
}

impl Broken {
    fn new(stage: &'static str, source: sqlx::Error) -> Broken {
        Broken {
            stage,
            source: Arc::new(source),
        }
    }

    fn error(&self) -> StoreError {
        StoreError::Transaction {
            stage: self.stage,
            source: Arc::clone(&self.source),
        }
    }
}

/// A request that ran; its answer waits for the end of the transaction.
type Pending = Box<dyn FnOnce(Option<&Broken>) + Send>;

/// Pairs a request's own outcome with its reply. If the transaction then fails, a request
/// that had succeeded gets the transaction's error (its writes were not kept); one that had
/// failed keeps its own error.
fn settle<T: Send + 'static>(reply: Reply<T>, outcome: Result<T, StoreError>) -> (Pending, bool) {
    let ok = outcome.is_ok();
    let pending: Pending = Box::new(move |broken: Option<&Broken>| {
        let answer = match (broken, outcome) {
            (Some(broken), Ok(_)) => Err(broken.error()),
            (_, outcome) => outcome,
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = reply.send(answer);
    });
    (pending, ok)
}

/// The writer task: runs until every `Store` clone is dropped or `close` asks it to stop.
pub(super) async fn run(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Msg>,
    commits: Arc<AtomicU64>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH_REQUESTS);
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
                    if batch.len() < MAX_BATCH_REQUESTS && rows < MAX_BATCH_ROWS {
                        next = queue.try_recv().ok();
                    }
                }
            }
        }
        if !batch.is_empty() {
            write_batch(&mut conn, &mut batch, rows, &commits).await;
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
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the SQLite write connection failed");
    }
    if let Some(reply) = shutdown {
        let _ = reply.send(());
    }
}

/// Runs the batch in one transaction (one savepoint per request), commits, answers.
async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &mut Vec<Op>,
    rows: usize,
    commits: &AtomicU64,
) {
    let started = Instant::now();
    let requests = batch.len();
    let mut answers: Vec<Pending> = Vec::with_capacity(requests);
    // IMMEDIATE: take the write lock now (waiting up to the busy timeout), not halfway.
    let mut broken = execute(conn, "BEGIN IMMEDIATE")
        .await
        .err()
        .map(|e| Broken::new("begin", e));
    for op in batch.drain(..) {
        if let Some(broken) = &broken {
            op.fail(broken.error());
            continue;
        }
        if let Err(e) = execute(conn, "SAVEPOINT request").await {
            let failed = Broken::new("savepoint", e);
            op.fail(failed.error());
            broken = Some(failed);
            continue;
        }
        let (answer, ok) = apply(conn, op).await;
        answers.push(answer);
        let end = if ok {
            execute(conn, "RELEASE request").await
        } else {
            // ROLLBACK TO keeps the savepoint open; RELEASE closes it.
            match execute(conn, "ROLLBACK TO request").await {
                Ok(()) => execute(conn, "RELEASE request").await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = end {
            broken = Some(Broken::new("the end of a request's savepoint", e));
        }
    }
    if broken.is_none() {
        match execute(conn, "COMMIT").await {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => broken = Some(Broken::new("commit", e)),
        }
    }
    if let Some(failed) = &broken {
        tracing::warn!(
            stage = failed.stage,
            error = %failed.source,
            requests,
            "SQLite write transaction failed; its requests get the error"
        );
        // SQLite may already have rolled back (e.g. disk full); then this fails harmlessly.
        if let Err(e) = execute(conn, "ROLLBACK").await {
            tracing::debug!(error = %e, "rollback after a failed write transaction");
        }
    }
    for answer in answers {
        answer(broken.as_ref());
    }
    tracing::trace!(
        requests,
        rows,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "write batch"
    );
}

async fn execute(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut *conn).await.map(|_| ())
}

/// Runs one request's statements (inside its savepoint).
async fn apply(conn: &mut SqliteConnection, op: Op) -> (Pending, bool) {
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
            received_unix_ms,
            reply,
        } => settle(
            reply,
            insert_results(conn, &agent_id, &results, received_unix_ms).await,
        ),
        Op::Prune {
            cutoff_unix_ms,
            limit,
            reply,
        } => settle(reply, prune(conn, cutoff_unix_ms, limit).await),
        Op::ReconcileGaps {
            found,
            now_unix_ms,
            reply,
        } => settle(reply, gaps::reconcile(conn, found, now_unix_ms).await),
        Op::PruneGaps {
            cutoff_unix_ms,
            limit,
            reply,
        } => settle(reply, gaps::prune_closed(conn, cutoff_unix_ms, limit).await),
    }
}

fn db_error(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.into(),
        source,
    }
}

/// A u64 the store was given, as SQLite's INTEGER (i64).
fn to_db(agent_id: &str, field: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        agent_id: agent_id.to_owned(),
        field,
        value,
    })
}

const UPSERT_AGENT: &str = "INSERT INTO agents (agent_id, hostname, role, deployment, \
     agent_version, os, ece_version, ece_es, probe_interval_s, first_seen_unix_ms, \
     seen_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
     ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname, \
     role = excluded.role, deployment = excluded.deployment, \
     agent_version = excluded.agent_version, os = excluded.os, \
     ece_version = excluded.ece_version, ece_es = excluded.ece_es, \
     probe_interval_s = excluded.probe_interval_s, \
     seen_unix_ms = MAX(agents.seen_unix_ms, excluded.seen_unix_ms)";

async fn upsert_agent(conn: &mut SqliteConnection, a: &AgentRecord) -> Result<(), StoreError> {
    sqlx::query(UPSERT_AGENT)
        .bind(&a.agent_id)
        .bind(&a.hostname)
        .bind(&a.role)
        .bind(&a.deployment)
        .bind(&a.agent_version)
        .bind(&a.os)
        .bind(&a.ece_version)
        .bind(&a.ece_es)
        .bind(i64::from(a.probe_interval_s))
        .bind(a.seen_unix_ms)
        .execute(&mut *conn)
        .await
        .map_err(db_error(format!("recording agent {}", a.agent_id)))?;
    Ok(())
}

async fn touch_agent(
    conn: &mut SqliteConnection,
    agent_id: &str,
    seen_unix_ms: i64,
    spool_dropped: u64,
) -> Result<(), StoreError> {
    let spool_dropped = to_db(agent_id, "spool_dropped", spool_dropped)?;
    let done = sqlx::query(
        "UPDATE agents SET seen_unix_ms = MAX(seen_unix_ms, ?2), spool_dropped = ?3 \
         WHERE agent_id = ?1",
    )
    .bind(agent_id)
    .bind(seen_unix_ms)
    .bind(spool_dropped)
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!("marking agent {agent_id} as seen")))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::UnknownAgent {
            agent_id: agent_id.to_owned(),
            what: "touch_agent",
        });
    }
    Ok(())
}

const INSERT_RESULT: &str = "INSERT INTO results (agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     ON CONFLICT (agent_id, seq) DO NOTHING";

/// Replaces the check's current state only with a higher seq: an older result arriving
/// late (a resend from an agent's spool) goes to history only. The row is copied from the
/// result just stored, so the two tables cannot disagree and the detail is bound once.
const UPSERT_LATEST: &str = "INSERT INTO latest (agent_id, seq, check_id, \
     started_unix_ms, received_unix_ms, outcome, failure_kind, failure_stage, duration_us, \
     warning_kinds, detail) SELECT agent_id, seq, check_id, started_unix_ms, \
     received_unix_ms, outcome, failure_kind, failure_stage, duration_us, warning_kinds, \
     detail FROM results \
     WHERE agent_id = ?1 AND seq = ?2 \
     ON CONFLICT (agent_id, check_id) DO UPDATE SET seq = excluded.seq, \
     started_unix_ms = excluded.started_unix_ms, received_unix_ms = excluded.received_unix_ms, \
     outcome = excluded.outcome, failure_kind = excluded.failure_kind, \
     failure_stage = excluded.failure_stage, duration_us = excluded.duration_us, \
     warning_kinds = excluded.warning_kinds, detail = excluded.detail \
     WHERE excluded.seq > latest.seq";

async fn insert_results(
    conn: &mut SqliteConnection,
    agent_id: &str,
    results: &[NewResult],
    received_unix_ms: i64,
) -> Result<InsertOutcome, StoreError> {
    let known: Option<i64> = sqlx::query_scalar("SELECT max_seq FROM agents WHERE agent_id = ?1")
        .bind(agent_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error(format!("looking up agent {agent_id}")))?;
    let Some(mut max_seq) = known else {
        return Err(StoreError::UnknownAgent {
            agent_id: agent_id.to_owned(),
            what: "insert_results",
        });
    };
    let mut outcome = InsertOutcome::default();
    let mut highest_inserted = None;
    let mut newest_per_check: std::collections::BTreeMap<&str, i64> = Default::default();
    for r in results {
        // Checked here, inside the request's savepoint: a bad value in the middle of a
        // request undoes the rows stored before it, and only them.
        let seq = to_db(agent_id, "seq", r.seq)?;
        let duration_us = to_db(agent_id, "duration_us", r.duration_us)?;
        let what = || {
            format!(
                "storing result seq {} ({}) of agent {agent_id}",
                r.seq, r.check
            )
        };
        let stored = sqlx::query(INSERT_RESULT)
            .bind(agent_id)
            .bind(seq)
            .bind(&r.check)
            .bind(r.started_unix_ms)
            .bind(received_unix_ms)
            .bind(&r.outcome)
            .bind(r.failure_kind.as_deref())
            .bind(r.failure_stage.as_deref())
            .bind(duration_us)
            .bind(super::rows::join_kinds(&r.warning_kinds))
            .bind(r.detail.as_slice())
            .execute(&mut *conn)
            .await
            .map_err(db_error(what()))?;
        if stored.rows_affected() == 0 {
            outcome.duplicates += 1;
            continue;
        }
        outcome.inserted += 1;
        highest_inserted = highest_inserted.max(Some(seq));
        let newest = newest_per_check.entry(r.check.as_str()).or_insert(seq);
        *newest = (*newest).max(seq);
    }
    // One latest-state update per check, from its newest result in this request (a batch
    // of 50 results touches 5 checks: 5 statements, not 50).
    for (check, seq) in newest_per_check {
        sqlx::query(UPSERT_LATEST)
            .bind(agent_id)
            .bind(seq)
            .execute(&mut *conn)
            .await
            .map_err(db_error(format!(
                "updating the latest state of {check} from seq {seq} of agent {agent_id}"
            )))?;
    }
    // A batch is news from the agent, as a heartbeat is: it keeps the agent from going
    // stale. The last seq only ever rises.
    max_seq = max_seq.max(highest_inserted.unwrap_or(0));
    sqlx::query(
        "UPDATE agents SET max_seq = ?2, seen_unix_ms = MAX(seen_unix_ms, ?3) \
         WHERE agent_id = ?1",
    )
    .bind(agent_id)
    .bind(max_seq)
    .bind(received_unix_ms)
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!(
        "updating agent {agent_id} after its results"
    )))?;
    outcome.max_seq = super::rows::unsigned_from_db("agents", max_seq)?;
    Ok(outcome)
}

/// Deletes at most `limit` history rows received before the cutoff, oldest first.
async fn prune(
    conn: &mut SqliteConnection,
    cutoff_unix_ms: i64,
    limit: u32,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM results WHERE rowid IN (SELECT rowid FROM results \
         WHERE received_unix_ms < ?1 ORDER BY received_unix_ms LIMIT ?2)",
    )
    .bind(cutoff_unix_ms)
    .bind(limit)
    .execute(&mut *conn)
    .await
    .map_err(db_error(format!(
        "pruning history received before {cutoff_unix_ms} (Unix ms)"
    )))?;
    Ok(done.rows_affected())
}

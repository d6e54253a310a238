//! The raw baseline: the ingest run's rows (same columns, same detail bytes, same batch
//! size) written straight into a fresh SQLite file with the collector's schema and
//! durability (WAL, synchronous=FULL), one transaction per batch and one connection, with
//! the statements of the collector's store writer (crates/collector/src/store/writer.rs):
//! results `INSERT .. ON CONFLICT DO NOTHING`, `latest` replaced only by a higher seq,
//! the agent's max_seq and last-seen time updated. What SQLite alone can do here: the
//! ceiling for the collector.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::agent;
use crate::payload::{self, Row};

/// The collector's schema, applied as the collector applies it.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../store/migrations/sqlite");

/// What one baseline run did.
#[derive(Debug, Default)]
pub struct RawOutcome {
    pub rows: u64,
    pub transactions: u64,
    /// Time inside the transactions (begin to commit), the rows' generation excluded.
    pub db_time: Duration,
    pub wall: Duration,
}

/// The same simulated fleet as the ingest run: which results, in which batches.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub agents: usize,
    pub batch: usize,
    pub results_per_agent: u64,
    /// started_unix_ms of result seq s is `base_ms + s * 12 s` (five checks a minute).
    pub base_ms: i64,
}

impl Plan {
    pub fn started_ms(&self, seq: u64) -> i64 {
        self.base_ms + i64::try_from(seq).unwrap_or(0) * 12_000
    }

    /// Result `seq` as the agent sends it.
    pub fn result(&self, seq: u64) -> eceprobe_proto::v1::CheckResult {
        payload::check_result(seq, payload::check_of(seq), self.started_ms(seq), false)
    }
}

const UPSERT_AGENT: &str = "INSERT INTO agents (agent_id, hostname, role, deployment, \
     agent_version, os, ece_version, ece_es, probe_interval_s, first_seen_unix_ms, \
     seen_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
     ON CONFLICT (agent_id) DO UPDATE SET seen_unix_ms = excluded.seen_unix_ms";

/// The writer's statements; `warning_kinds` is included when the schema has it (store
/// version 2), bound to '' as the generated results carry no warnings.
struct Statements {
    insert_result: String,
    upsert_latest: String,
    warning_kinds: bool,
}

impl Statements {
    fn new(warning_kinds: bool) -> Statements {
        let (col, val) = if warning_kinds {
            (", warning_kinds", ", ?11")
        } else {
            ("", "")
        };
        let cols = format!(
            "agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, \
             failure_kind, failure_stage, duration_us, detail{col}"
        );
        let update_wk = if warning_kinds {
            ", warning_kinds = excluded.warning_kinds"
        } else {
            ""
        };
        Statements {
            insert_result: format!(
                "INSERT INTO results ({cols}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10{val}) \
                 ON CONFLICT (agent_id, seq) DO NOTHING"
            ),
            upsert_latest: format!(
                "INSERT INTO latest ({cols}) SELECT {cols} FROM results \
                 WHERE agent_id = ?1 AND seq = ?2 \
                 ON CONFLICT (agent_id, check_id) DO UPDATE SET seq = excluded.seq, \
                 started_unix_ms = excluded.started_unix_ms, \
                 received_unix_ms = excluded.received_unix_ms, outcome = excluded.outcome, \
                 failure_kind = excluded.failure_kind, failure_stage = excluded.failure_stage, \
                 duration_us = excluded.duration_us, detail = excluded.detail{update_wk} \
                 WHERE excluded.seq > latest.seq"
            ),
            warning_kinds,
        }
    }
}

async fn has_column(conn: &mut SqliteConnection, table: &str, column: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2")
        .bind(table)
        .bind(column)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("reading the columns of {table}"))?;
    Ok(n > 0)
}

/// Runs the baseline into a new file at `path`.
pub async fn run(path: &Path, plan: Plan) -> Result<RawOutcome> {
    let wall = Instant::now();
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    MIGRATOR
        .run(&mut conn)
        .await
        .context("applying the collector's migrations")?;
    let sql = Statements::new(has_column(&mut conn, "results", "warning_kinds").await?);
    let now = eceprobe_proto::now_ms();
    let mut tx = conn.begin().await?;
    for i in 0..plan.agents {
        let h = agent::hello(i);
        sqlx::query(UPSERT_AGENT)
            .bind(&h.agent_id)
            .bind(&h.hostname)
            .bind(if i % 2 == 0 {
                "services"
            } else {
                "application"
            })
            .bind(&h.deployment)
            .bind(&h.agent_version)
            .bind(&h.os)
            .bind(&h.ece_version)
            .bind(&h.ece_es)
            .bind(i64::from(h.probe_interval_s))
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("recording the agents")?;
    }
    tx.commit().await?;

    let mut out = RawOutcome::default();
    let batch = plan.batch.max(1) as u64;
    let ids: Vec<String> = (0..plan.agents).map(agent::agent_id).collect();
    let mut first = 1;
    // Round-robin over agents, batch by batch, as the collector sees them arrive.
    while first <= plan.results_per_agent {
        let last = (first + batch - 1).min(plan.results_per_agent);
        for id in &ids {
            let rows: Vec<Row> = (first..=last)
                .map(|s| {
                    let r = plan.result(s);
                    payload::row(&r, payload::check_of(s))
                })
                .collect();
            let started = Instant::now();
            write_batch(&mut conn, &sql, id, &rows, eceprobe_proto::now_ms()).await?;
            out.db_time += started.elapsed();
            out.transactions += 1;
            out.rows += rows.len() as u64;
        }
        first = last + 1;
    }
    conn.close()
        .await
        .context("closing the baseline database")?;
    out.wall = wall.elapsed();
    Ok(out)
}

/// One batch, one transaction: what the collector's writer does for one Insert request.
async fn write_batch(
    conn: &mut SqliteConnection,
    sql: &Statements,
    agent_id: &str,
    rows: &[Row],
    received_unix_ms: i64,
) -> Result<()> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let max_seq: i64 = sqlx::query_scalar("SELECT max_seq FROM agents WHERE agent_id = ?1")
        .bind(agent_id)
        .fetch_one(&mut *conn)
        .await?;
    let mut highest = None;
    for r in rows {
        let mut q = sqlx::query(&sql.insert_result)
            .bind(agent_id)
            .bind(r.seq)
            .bind(r.check)
            .bind(r.started_unix_ms)
            .bind(received_unix_ms)
            .bind(r.outcome)
            .bind(r.failure_kind.as_deref())
            .bind(r.failure_stage.as_deref())
            .bind(r.duration_us)
            .bind(r.detail.as_slice());
        if sql.warning_kinds {
            q = q.bind("");
        }
        if q.execute(&mut *conn).await?.rows_affected() == 0 {
            continue;
        }
        highest = highest.max(Some(r.seq));
        sqlx::query(&sql.upsert_latest)
            .bind(agent_id)
            .bind(r.seq)
            .execute(&mut *conn)
            .await?;
    }
    // As the writer does since store version 2: a batch also marks the agent as seen.
    sqlx::query(
        "UPDATE agents SET max_seq = ?2, seen_unix_ms = MAX(seen_unix_ms, ?3) \
         WHERE agent_id = ?1",
    )
    .bind(agent_id)
    .bind(max_seq.max(highest.unwrap_or(0)))
    .bind(received_unix_ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(())
}

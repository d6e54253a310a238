//! The PostgreSQL baselines: the ingest run's rows written straight into a scratch table
//! shaped like the collector's results table (`LIKE results INCLUDING ALL`: the columns,
//! defaults, CHECKs, primary key and indexes; no foreign key), one connection, batch by
//! batch in the order the collector sees them arrive (round-robin over agents), each batch
//! its own transaction:
//! - `Insert`: one multi-row `INSERT .. ON CONFLICT (agent_id, seq) DO NOTHING` per batch
//!   (the collector's idempotent insert, without anything else it writes);
//! - `Copy`: one `COPY .. FROM STDIN (FORMAT binary)` per batch (sqlx's `copy_in_raw`).
//!
//! The rows are the collector's own: `convert::batch_rows` of the very results the agents
//! send, with the text columns the store derives (`NewResult::stored_text`). Only the
//! results table: the latest state, the stage samples and the agent's row the collector
//! writes beside are its cost over the baseline, which the ratio shows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use eceprobe_collector::convert;
use eceprobe_collector::store::NewResult;
use sqlx::postgres::PgConnection;

use crate::agent;
use crate::raw::Plan;

/// The results table's columns, in the collector's insert order.
const COLUMNS: [&str; 14] = [
    "agent_id",
    "seq",
    "check_id",
    "started_unix_ms",
    "received_unix_ms",
    "outcome",
    "failure_kind",
    "failure_stage",
    "duration_us",
    "warning_kinds",
    "detail",
    "audit_id",
    "stage_durations",
    "system_dns",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Insert,
    Copy,
}

/// What one baseline did.
#[derive(Debug, Default)]
pub struct PgRawOutcome {
    pub rows: u64,
    /// Statements (INSERTs or COPYs), one transaction each.
    pub statements: u64,
    /// Time inside the statements, the rows' generation and encoding excluded.
    pub db_time: Duration,
    pub wall: Duration,
}

/// Creates `table` like `like` (the collector's results table) and writes the plan's rows.
pub async fn run(
    conn: &mut PgConnection,
    table: &str,
    like: &str,
    plan: Plan,
    how: How,
) -> Result<PgRawOutcome> {
    let wall = Instant::now();
    sqlx::query(&format!("CREATE TABLE {table} (LIKE {like} INCLUDING ALL)"))
        .execute(&mut *conn)
        .await
        .with_context(|| format!("creating {table} like {like}"))?;
    let mut out = PgRawOutcome::default();
    let batch = plan.batch.max(1) as u64;
    let ids: Vec<String> = (0..plan.agents).map(agent::agent_id).collect();
    let mut inserts: HashMap<usize, String> = HashMap::new();
    let copy = format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        COLUMNS.join(", ")
    );
    let mut first = 1;
    while first <= plan.results_per_agent {
        let last = (first + batch - 1).min(plan.results_per_agent);
        let results: Vec<_> = (first..=last).map(|s| plan.result(s)).collect();
        let rows = convert::batch_rows(&results)
            .map_err(|e| anyhow::anyhow!("the collector would refuse this batch: {e}"))?
            .rows;
        for id in &ids {
            let received = eceprobe_proto::now_ms();
            let started = match how {
                How::Insert => {
                    let sql = inserts
                        .entry(rows.len())
                        .or_insert_with(|| insert_statement(table, rows.len()));
                    let started = Instant::now();
                    insert(conn, sql, id, &rows, received).await?;
                    started
                }
                How::Copy => {
                    let data = encode_binary(id, &rows, received)?;
                    let started = Instant::now();
                    let mut sink = conn
                        .copy_in_raw(&copy)
                        .await
                        .with_context(|| format!("starting COPY into {table}"))?;
                    sink.send(data).await.context("sending COPY data")?;
                    sink.finish().await.context("finishing COPY")?;
                    started
                }
            };
            out.db_time += started.elapsed();
            out.statements += 1;
            out.rows += rows.len() as u64;
        }
        first = last + 1;
    }
    out.wall = wall.elapsed();
    Ok(out)
}

fn insert_statement(table: &str, rows: usize) -> String {
    let n = COLUMNS.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES {} ON CONFLICT (agent_id, seq) DO NOTHING",
        COLUMNS.join(", "),
        values.join(", ")
    )
}

fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).with_context(|| format!("{what} {v} is beyond PostgreSQL's BIGINT"))
}

async fn insert(
    conn: &mut PgConnection,
    sql: &str,
    agent_id: &str,
    rows: &[NewResult],
    received_unix_ms: i64,
) -> Result<()> {
    let mut q = sqlx::query(sql);
    for r in rows {
        let text = r.stored_text();
        q = q
            .bind(agent_id)
            .bind(to_i64("seq", r.seq)?)
            .bind(r.check.as_str())
            .bind(r.started_unix_ms)
            .bind(received_unix_ms)
            .bind(r.outcome.as_str())
            .bind(r.failure_kind.as_deref())
            .bind(r.failure_stage.as_deref())
            .bind(to_i64("duration_us", r.duration_us)?)
            .bind(text.warning_kinds)
            .bind(r.detail.as_slice())
            .bind(r.audit_id.as_str())
            .bind(text.stage_durations)
            .bind(text.system_dns);
    }
    q.execute(&mut *conn)
        .await
        .with_context(|| format!("inserting a batch of agent {agent_id}"))?;
    Ok(())
}

/// PostgreSQL's binary COPY format: a header, per row the field count and each field's
/// length (-1 for NULL) and bytes (BIGINT big-endian, TEXT as UTF-8, BYTEA as is), a
/// trailer.
fn encode_binary(agent_id: &str, rows: &[NewResult], received_unix_ms: i64) -> Result<Vec<u8>> {
    fn field(buf: &mut Vec<u8>, value: Option<&[u8]>) -> Result<()> {
        match value {
            None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                let len = i32::try_from(b.len()).context("a field beyond 2 GiB")?;
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(b);
            }
        }
        Ok(())
    }
    let mut buf = Vec::with_capacity(rows.len() * 900 + 32);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let columns = i16::try_from(COLUMNS.len()).unwrap_or(i16::MAX);
    for r in rows {
        let text = r.stored_text();
        buf.extend_from_slice(&columns.to_be_bytes());
        let int = |v: i64| v.to_be_bytes();
        field(&mut buf, Some(agent_id.as_bytes()))?;
        field(&mut buf, Some(&int(to_i64("seq", r.seq)?)))?;
        field(&mut buf, Some(r.check.as_bytes()))?;
        field(&mut buf, Some(&int(r.started_unix_ms)))?;
        field(&mut buf, Some(&int(received_unix_ms)))?;
        field(&mut buf, Some(r.outcome.as_bytes()))?;
        field(&mut buf, r.failure_kind.as_deref().map(str::as_bytes))?;
        field(&mut buf, r.failure_stage.as_deref().map(str::as_bytes))?;
        field(&mut buf, Some(&int(to_i64("duration_us", r.duration_us)?)))?;
        field(&mut buf, Some(text.warning_kinds.as_bytes()))?;
        field(&mut buf, Some(&r.detail))?;
        field(&mut buf, Some(r.audit_id.as_bytes()))?;
        field(&mut buf, Some(text.stage_durations.as_bytes()))?;
        field(&mut buf, Some(text.system_dns.as_bytes()))?;
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(buf)
}

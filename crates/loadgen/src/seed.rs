//! Seeding a large collector database fast, straight into the file (the collector stopped):
//! agents, history (`results`), current state (`latest`) and each agent's max_seq, in big
//! transactions with journaling off and the secondary indexes of `results` rebuilt at the
//! end. The schema is the collector's own: it created the file.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::agent;
use crate::payload::{self, Row, CHECKS};

/// Rows per INSERT statement (10 columns each: well under SQLite's 32766 parameters).
const CHUNK: usize = 100;
/// Agents per transaction.
const AGENTS_PER_TX: usize = 100;
/// One agent in this many fails one check (about 5%).
const FAILING_EVERY: usize = 20;
/// The failing agents' check fails in this many of their last probe rounds.
const FAILING_ROUNDS: u64 = 5;

/// The seeded fleet.
#[derive(Clone, Copy, Debug)]
pub struct SeedPlan {
    pub agents: usize,
    pub per_agent: u64,
}

impl SeedPlan {
    pub fn rows(&self) -> u64 {
        self.agents as u64 * self.per_agent
    }

    fn rounds(&self) -> u64 {
        self.per_agent.div_ceil(CHECKS.len() as u64)
    }

    /// The check agent `i` fails, if it is one of the failing ones: picked by a hash of
    /// the index, so failures spread over deployments, roles and checks.
    pub fn failing_check(i: usize) -> Option<&'static str> {
        let h = mix(i as u64);
        (h % FAILING_EVERY as u64 == 0).then(|| CHECKS[((h >> 32) % CHECKS.len() as u64) as usize])
    }

    /// Agent `i`'s result `seq` as its row: one probe round (five checks) a minute, ending
    /// at `now_ms`.
    fn row(&self, i: usize, seq: u64, now_ms: i64) -> Row {
        let check = payload::check_of(seq);
        let round = (seq - 1) / CHECKS.len() as u64;
        let minutes_ago = i64::try_from(self.rounds() - round).unwrap_or(0);
        let started = now_ms - minutes_ago * 60_000;
        let fail = Self::failing_check(i) == Some(check) && round + FAILING_ROUNDS >= self.rounds();
        payload::row(&payload::check_result(seq, check, started, fail), check)
    }
}

/// SplitMix64's finaliser: a well-spread hash of an integer.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What seeding did.
#[derive(Debug)]
pub struct Seeded {
    pub rows: u64,
    pub elapsed: Duration,
    pub index_rebuild: Duration,
}

/// One agent's rows, in chunks, with the latest row of each check.
struct AgentRows {
    index: usize,
    chunks: Vec<Vec<Row>>,
    latest: Vec<Row>,
}

const COLS: &str = "agent_id, seq, check_id, started_unix_ms, received_unix_ms, outcome, \
     failure_kind, failure_stage, duration_us, detail";

fn insert_sql(table: &str, rows: usize) -> String {
    let one = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let values = vec![one; rows].join(", ");
    format!("INSERT INTO {table} ({COLS}) VALUES {values}")
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    sql: &mut HashMap<(bool, usize), String>,
    latest: bool,
    agent_id: &str,
    rows: &[Row],
) -> Result<()> {
    let table = if latest { "latest" } else { "results" };
    let text = sql
        .entry((latest, rows.len()))
        .or_insert_with(|| insert_sql(table, rows.len()));
    let mut q = sqlx::query(text.as_str());
    for r in rows {
        q = q
            .bind(agent_id)
            .bind(r.seq)
            .bind(r.check)
            .bind(r.started_unix_ms)
            .bind(r.started_unix_ms + 2_000)
            .bind(r.outcome)
            .bind(r.failure_kind.as_deref())
            .bind(r.failure_stage.as_deref())
            .bind(r.duration_us)
            .bind(r.detail.as_slice());
    }
    q.execute(&mut *conn)
        .await
        .with_context(|| format!("inserting into {table}"))?;
    Ok(())
}

/// Fills the (migrated, empty) collector database at `db`.
pub async fn seed(db: &Path, plan: SeedPlan) -> Result<Seeded> {
    let started = Instant::now();
    let now = eceprobe_proto::now_ms();
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Off)
        .synchronous(SqliteSynchronous::Off)
        .locking_mode(SqliteLockingMode::Exclusive)
        .foreign_keys(false)
        .pragma("cache_size", "-1048576")
        .pragma("temp_store", "memory")
        .connect()
        .await
        .with_context(|| format!("opening {} to seed it", db.display()))?;

    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'results' \
         AND sql IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(&format!("DROP INDEX \"{name}\""))
            .execute(&mut conn)
            .await?;
    }

    let first_seen = now - i64::try_from(plan.rounds()).unwrap_or(0) * 60_000;
    let mut tx = conn.begin().await?;
    for i in 0..plan.agents {
        let h = agent::hello(i);
        sqlx::query(
            "INSERT INTO agents (agent_id, hostname, role, deployment, agent_version, os, \
             ece_version, ece_es, probe_interval_s, first_seen_unix_ms, seen_unix_ms, max_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
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
        .bind(first_seen)
        .bind(now)
        .bind(i64::try_from(plan.per_agent).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .context("inserting agents")?;
    }
    tx.commit().await?;

    // Rows are generated (and encoded) on a blocking thread while SQLite writes.
    let (tx_rows, mut rx_rows) = tokio::sync::mpsc::channel::<AgentRows>(8);
    let generator = tokio::task::spawn_blocking(move || {
        for index in 0..plan.agents {
            let rows: Vec<Row> = (1..=plan.per_agent)
                .map(|s| plan.row(index, s, now))
                .collect();
            let from = rows.len().saturating_sub(CHECKS.len());
            let latest = rows[from..].to_vec();
            let mut chunks = Vec::with_capacity(rows.len() / CHUNK + 1);
            let mut rest = rows.into_iter().peekable();
            while rest.peek().is_some() {
                chunks.push(rest.by_ref().take(CHUNK).collect());
            }
            let item = AgentRows {
                index,
                chunks,
                latest,
            };
            if tx_rows.blocking_send(item).is_err() {
                return;
            }
        }
    });

    let mut sql = HashMap::new();
    let mut rows = 0u64;
    let mut last_log = Instant::now();
    execute(&mut conn, "BEGIN").await?;
    while let Some(agent_rows) = rx_rows.recv().await {
        let id = agent::agent_id(agent_rows.index);
        for chunk in &agent_rows.chunks {
            insert_rows(&mut conn, &mut sql, false, &id, chunk).await?;
            rows += chunk.len() as u64;
        }
        insert_rows(&mut conn, &mut sql, true, &id, &agent_rows.latest).await?;
        if (agent_rows.index + 1) % AGENTS_PER_TX == 0 {
            execute(&mut conn, "COMMIT").await?;
            execute(&mut conn, "BEGIN").await?;
        }
        if last_log.elapsed() > Duration::from_secs(10) {
            last_log = Instant::now();
            tracing::info!(
                rows,
                of = plan.rows(),
                elapsed_s = started.elapsed().as_secs(),
                "seeding"
            );
        }
    }
    execute(&mut conn, "COMMIT").await?;
    generator.await.context("the row generator panicked")?;
    // When each check last passed, as the collector's upsert keeps it (store version 15):
    // a passing check's own start, a failing one's last success three rounds before.
    execute(
        &mut conn,
        "UPDATE latest SET last_success_unix_ms = CASE WHEN outcome = 'fail' \
         THEN started_unix_ms - 180000 ELSE started_unix_ms END",
    )
    .await?;

    let rebuild = Instant::now();
    for (name, create) in &indexes {
        tracing::info!(index = %name, "rebuilding index");
        sqlx::query(create).execute(&mut conn).await?;
    }
    let index_rebuild = rebuild.elapsed();
    // Back to the collector's journal mode before it opens the file again.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(Seeded {
        rows,
        elapsed: started.elapsed(),
        index_rebuild,
    })
}

async fn execute(conn: &mut SqliteConnection, sql: &str) -> Result<()> {
    sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("seeding: {sql}"))?;
    Ok(())
}

/// (agents, results) in the database.
pub async fn counts(db: &Path) -> Result<(u64, u64)> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let agents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents")
        .fetch_one(&mut conn)
        .await?;
    let results: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM results")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok((
        u64::try_from(agents).unwrap_or(0),
        u64::try_from(results).unwrap_or(0),
    ))
}

/// Marks every agent as heard from now, so a seeded (or kept) fleet is not stale.
pub async fn refresh_seen(db: &Path) -> Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    sqlx::query("UPDATE agents SET seen_unix_ms = ?1")
        .bind(eceprobe_proto::now_ms())
        .execute(&mut conn)
        .await
        .context("refreshing seen_unix_ms")?;
    conn.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_5_percent_fail_spread_over_deployments_and_checks() {
        let failing: Vec<(usize, &str)> = (0..10_000)
            .filter_map(|i| SeedPlan::failing_check(i).map(|c| (i, c)))
            .collect();
        assert!((400..=600).contains(&failing.len()), "{}", failing.len());
        for d in 0..agent::DEPLOYMENTS {
            assert!(failing.iter().any(|(i, _)| i % agent::DEPLOYMENTS == d));
        }
        for c in CHECKS {
            assert!(failing.iter().any(|(_, f)| *f == c), "{c}");
        }
        assert!(failing.iter().any(|(i, _)| i % 2 == 0));
        assert!(failing.iter().any(|(i, _)| i % 2 == 1));
    }
}

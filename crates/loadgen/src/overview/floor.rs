//! The storage floor: the raw SQLite reads one overview page needs, run with sqlx on a
//! read-only connection of our own to the same file, and their query plans.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sqlx::SqliteConnection;

/// The reads `views::overview::build` makes for one page, as `store/web.rs` writes them.
const AGENT_COLUMNS: &str = "agent_id, hostname, role, deployment, agent_version, os, \
     ece_version, ece_es, probe_interval_s, seen_unix_ms, max_seq, spool_dropped, \
     first_seen_unix_ms";
pub const FLOOR_STEPS: [&str; 6] = [
    "agents page",
    "agents count",
    "latest of page",
    "open gaps of page",
    "agents per deployment",
    "open gaps per deployment",
];

fn in_list(n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!("({marks})")
}

/// The storage floor of one overview page (no filter): the six statements the view runs,
/// on our own read-only connection, rows fetched (decoded by sqlx) but not turned into
/// structs. The time of each statement.
pub async fn storage_floor(
    conn: &mut SqliteConnection,
    offset: u32,
    limit: u32,
) -> Result<[Duration; 6]> {
    let mut t = [Duration::ZERO; 6];
    let mut at = Instant::now();
    let mut lap = |i: usize, at: &mut Instant| {
        let now = Instant::now();
        t[i] = now - *at;
        *at = now;
    };
    let page = sqlx::query(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents ORDER BY deployment, agent_id LIMIT ? OFFSET ?"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await
    .context("floor: agents page")?;
    let ids: Vec<String> = page
        .iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "agent_id"))
        .collect::<Result<_, _>>()?;
    lap(0, &mut at);
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents")
        .fetch_one(&mut *conn)
        .await
        .context("floor: count")?;
    lap(1, &mut at);
    let sql = format!(
        "SELECT agent_id, check_id, seq, outcome, failure_kind, warning_kinds, \
         duration_us, received_unix_ms FROM latest WHERE agent_id IN {} \
         ORDER BY agent_id, check_id",
        in_list(ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    let latest = q.fetch_all(&mut *conn).await.context("floor: latest")?;
    ensure!(!latest.is_empty(), "floor: no latest rows");
    lap(2, &mut at);
    let sql = format!(
        "SELECT gap_id, deployment, agent_id, check_id, kind, severity, detail, \
         opened_unix_ms, closed_unix_ms FROM gaps WHERE closed_unix_ms IS NULL \
         AND agent_id IN {} ORDER BY agent_id, check_id, kind, severity",
        in_list(ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    q.fetch_all(&mut *conn).await.context("floor: open gaps")?;
    lap(3, &mut at);
    sqlx::query(
        "SELECT deployment, COUNT(*) AS n FROM agents GROUP BY deployment ORDER BY deployment",
    )
    .fetch_all(&mut *conn)
    .await
    .context("floor: per deployment")?;
    lap(4, &mut at);
    sqlx::query(
        "SELECT deployment, severity, COUNT(*) AS n FROM gaps \
         WHERE closed_unix_ms IS NULL GROUP BY deployment, severity",
    )
    .fetch_all(&mut *conn)
    .await
    .context("floor: gaps per deployment")?;
    lap(5, &mut at);
    Ok(t)
}

/// The plans of the overview's statements, one line each.
pub async fn plans(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let ids = in_list(100);
    let statements = [
        format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY deployment, agent_id LIMIT 100 OFFSET 9900"),
        "SELECT COUNT(*) FROM agents".to_string(),
        format!("SELECT agent_id, check_id, seq, outcome, failure_kind, warning_kinds, duration_us, received_unix_ms FROM latest WHERE agent_id IN {ids} ORDER BY agent_id, check_id"),
        format!("SELECT gap_id FROM gaps WHERE closed_unix_ms IS NULL AND agent_id IN {ids} ORDER BY agent_id, check_id, kind, severity"),
        "SELECT deployment, COUNT(*) AS n FROM agents GROUP BY deployment ORDER BY deployment".to_string(),
        "SELECT deployment, severity, COUNT(*) AS n FROM gaps WHERE closed_unix_ms IS NULL GROUP BY deployment, severity".to_string(),
    ];
    let mut out = Vec::new();
    for (name, sql) in FLOOR_STEPS.iter().zip(statements) {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(&explain);
        for _ in 0..sql.matches('?').count() {
            q = q.bind("x");
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let detail: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, "detail"))
            .collect::<Result<_, _>>()?;
        out.push(format!("{name}: {}", detail.join("; ")));
    }
    Ok(out)
}

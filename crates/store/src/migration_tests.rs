//! Migrations over data: a database built at an older schema with rows in it, then opened by
//! this build (which migrates it to head), checked for what the migration had to fill in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

use super::Store;

/// A SQLite database at schema `version`: sqlx's migrator over a copy of this build's
/// migrations up to that version (the same files, so the same checksums `Store::open`
/// verifies before applying the rest).
async fn at_version(db: &Path, version: u32) -> SqlitePool {
    let dir = db.with_extension("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let v: u32 = name.split('_').next().unwrap().parse().unwrap();
        if v <= version {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(db)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

async fn exec(pool: &SqlitePool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

/// A result of schema 14, in history and, when `latest`, as the check's latest state.
async fn result(pool: &SqlitePool, agent: &str, seq: i64, check: &str, outcome: &str, at: i64) {
    exec(
        pool,
        &format!(
            "INSERT INTO results (agent_id, seq, check_id, started_unix_ms, received_unix_ms, \
             outcome, duration_us, detail) VALUES ('{agent}', {seq}, '{check}', {at}, {at}, \
             '{outcome}', 1000, x'')"
        ),
    )
    .await;
    exec(
        pool,
        &format!(
            "INSERT INTO latest (agent_id, check_id, seq, started_unix_ms, received_unix_ms, \
             outcome, duration_us, detail) VALUES ('{agent}', '{check}', {seq}, {at}, {at}, \
             '{outcome}', 1000, x'') ON CONFLICT (agent_id, check_id) DO UPDATE SET \
             seq = excluded.seq, started_unix_ms = excluded.started_unix_ms, \
             outcome = excluded.outcome"
        ),
    )
    .await;
}

#[tokio::test]
async fn migration_15_backfills_each_checks_last_success_from_the_history_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v14.db");
    let pool = at_version(&db, 14).await;
    let has_column: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pragma_table_info('latest') WHERE name = 'last_success_unix_ms'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(has_column, 0, "built at 14, before the column");
    for agent in ["app-1", "app-2"] {
        exec(
            &pool,
            &format!(
                "INSERT INTO agents (agent_id, hostname, role, deployment, agent_version, os, \
                 ece_version, ece_es, probe_interval_s, first_seen_unix_ms, seen_unix_ms) \
                 VALUES ('{agent}', 'h', 'application', 'prod', '0.1', 'linux', '12', '', 60, 1, 1)"
            ),
        )
        .await;
    }
    // Each row is inserted in seq order, so the last one of a check is its latest state.
    for (agent, seq, check, outcome, at) in [
        // Passed, then failed: the earlier success is kept.
        ("app-1", 1, "imap", "pass", 1_000),
        ("app-1", 2, "imap", "fail", 2_000),
        // Never succeeded: none.
        ("app-1", 3, "smtp", "fail", 1_500),
        ("app-1", 4, "smtp", "fail", 2_500),
        // A warning passes, and is its own last success.
        ("app-1", 5, "pop3", "warn", 3_000),
        // The newest of several successes, not the first.
        ("app-1", 6, "https", "pass", 100),
        ("app-1", 7, "https", "pass", 4_000),
        ("app-1", 8, "https", "fail", 5_000),
        // Another server's success says nothing of this one's.
        ("app-2", 1, "imap", "pass", 9_000),
        ("app-2", 2, "smtp", "pass", 9_500),
        ("app-2", 3, "smtp", "fail", 9_800),
    ] {
        result(&pool, agent, seq, check, outcome, at).await;
    }
    pool.close().await;

    let store = Store::open(&db).await.unwrap();
    let got: Vec<(String, String, i64)> = store
        .check_metrics()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.agent_id, c.check, c.last_success_unix_ms))
        .collect();
    let want = [
        ("app-1", "https", 4_000),
        ("app-1", "imap", 1_000),
        ("app-1", "pop3", 3_000),
        ("app-1", "smtp", 0),
        ("app-2", "imap", 9_000),
        ("app-2", "smtp", 9_500),
    ]
    .map(|(a, c, t)| (a.to_owned(), c.to_owned(), t));
    assert_eq!(got, want);
    store.close().await;
}

//! The copy into PostgreSQL refused, with the reason, when its target or source is not
//! right (`ECEPROBE_TEST_POSTGRES`; each test says why it is skipped without one): a target
//! holding other rows, a file that is not a store, an older collector's file (brought to
//! this schema first), a file a collector is still writing.

use super::copy_tests::{filled_sqlite, T0};
use super::engines::{fresh_postgres_schema, test_postgres};
use super::tests::{agent, result};
use super::*;

#[tokio::test]
async fn a_target_holding_other_rows_is_refused_untouched() {
    if test_postgres().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = filled_sqlite(dir.path()).await;
    let target = fresh_postgres_schema().await;
    // A collector already ran on the target: an agent and results of its own.
    let other = Store::connect(&target).await.expect("open postgres");
    other
        .upsert_agent(&agent("stranger", T0))
        .await
        .expect("agent");
    other
        .insert_results("stranger", vec![result(1, "imap", "pass")], T0)
        .await
        .expect("result");
    other.close().await;
    let err = copy_sqlite_to_postgres(&path, &target, &CopyOptions::default())
        .await
        .expect_err("a target with rows of another database")
        .to_string();
    for says in [
        "the target's table agents holds 1 rows, at least 1 of which are not in the source",
        "did not come from this file",
        "give it an empty database",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    // Nothing was written: the target holds its own agent alone.
    let other = Store::connect(&target).await.expect("open postgres");
    let agents = other.agents().await.unwrap();
    assert_eq!(agents.len(), 1, "{agents:?}");
    other.close().await;
}

#[tokio::test]
async fn a_source_that_is_not_an_eceprobe_store_is_refused_with_the_reason() {
    // Refused before the target is reached: an unreachable one is enough.
    let target = Database::parse("postgres://eceprobe@127.0.0.1:9/none").unwrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.db");
    let err = copy_sqlite_to_postgres(&missing, &target, &CopyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists(), "a missing source is not created");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database, just words\n".repeat(100)).unwrap();
    let err = copy_sqlite_to_postgres(&text, &target, &CopyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("file is not a database"), "{err}");

    let other = dir.path().join("other.db");
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", other.display());
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let err = copy_sqlite_to_postgres(&other, &target, &CopyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not eceprobe's"), "{err}");
    assert!(err.contains("invoices"), "{err}");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let err = copy_sqlite_to_postgres(&empty, &target, &CopyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no eceprobe tables"), "{err}");

    let sqlite_target = Database::Sqlite(dir.path().join("t.db"));
    let err = copy_sqlite_to_postgres(&other, &sqlite_target, &CopyOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("must be a PostgreSQL database"), "{err}");
}

#[tokio::test]
async fn an_older_collectors_file_is_brought_to_this_schema_then_copied() {
    if test_postgres().is_none() {
        return;
    }
    use sqlx::Connection;
    // A file as a collector of schema 12 left it: its first 12 migrations, one agent.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let all = Backend::Sqlite.migrator();
    let old = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(all.iter().take(12).cloned().collect()),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    {
        let mut conn = Database::Sqlite(path.clone())
            .connect_writer()
            .await
            .expect("create the old file");
        old.run(&mut conn).await.expect("the first 12 migrations");
        sqlx::query(
            "INSERT INTO agents (agent_id, hostname, role, deployment, agent_version, os, \
             ece_version, ece_es, probe_interval_s, first_seen_unix_ms, seen_unix_ms, max_seq) \
             VALUES ('old-1', 'old-1.example', 'services', 'prod', '0.0.9', 'windows', \
             '12.5', 'ES1', 60, 1, 2, 7)",
        )
        .execute(&mut conn)
        .await
        .expect("an agent of then");
        conn.close().await.expect("close");
    }
    let target = fresh_postgres_schema().await;
    let report = copy_sqlite_to_postgres(&path, &target, &CopyOptions::default())
        .await
        .expect("copy");
    assert!(report.matches(), "{report:?}");
    let newest = all.iter().map(|m| m.version).max().unwrap();
    assert_eq!(
        (report.source_version_before, report.source_version),
        (12, newest)
    );
    let postgres = Store::connect(&target).await.expect("open postgres");
    assert_eq!(postgres.last_seq("old-1").await.unwrap(), 7);
    let agents = postgres.agents().await.unwrap();
    assert_eq!(agents.len(), 1, "{agents:?}");
    postgres.close().await;
}

#[tokio::test]
async fn a_source_a_collector_is_writing_is_refused_until_it_stops() {
    if test_postgres().is_none() {
        return;
    }
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = filled_sqlite(dir.path()).await;
    let target = fresh_postgres_schema().await;
    // A collector's writer in the middle of a transaction, past SQLite's busy timeout.
    let mut writer = Database::Sqlite(path.clone())
        .connect_writer()
        .await
        .expect("a writer");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .expect("the write lock");
    let err = copy_sqlite_to_postgres(&path, &target, &CopyOptions::default())
        .await
        .expect_err("a source being written")
        .to_string();
    assert!(
        err.contains("is being written by another connection"),
        "{err}"
    );
    assert!(err.contains("Stop the collector first"), "{err}");
    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();
    writer.close().await.unwrap();
    let report = copy_sqlite_to_postgres(&path, &target, &CopyOptions::default())
        .await
        .expect("the copy once the writer stopped");
    assert!(report.matches(), "{report:?}");
}

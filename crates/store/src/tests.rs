//! The store against a real SQLite file in a temporary directory, and (the tests written
//! with [`on_both!`]) the same tests against a real PostgreSQL: the engines' harness is in
//! `engines.rs`, re-exported here for the other test modules.

use std::path::Path;

use super::*;

pub(super) use super::engines::{
    fresh, on_both, on_sqlite, open_temp, test_postgres, Engine, ENGINE,
};

pub(super) fn agent(id: &str, seen_unix_ms: i64) -> AgentRecord {
    AgentRecord {
        seen_unix_ms,
        ..AgentRecord::for_test(id)
    }
}

pub(super) fn result(seq: u64, check: &str, outcome: &str) -> NewResult {
    NewResult {
        seq,
        check: check.to_owned(),
        started_unix_ms: 1_700_000_000_000 + i64::try_from(seq).unwrap_or(0),
        outcome: outcome.to_owned(),
        failure_kind: (outcome == "fail").then(|| "tcp_refused".to_owned()),
        failure_stage: (outcome == "fail").then(|| "tcp".to_owned()),
        duration_us: seq.saturating_add(1_000),
        warning_kinds: Vec::new(),
        stage_durations: Vec::new(),
        system_dns: None,
        detail: format!("detail {check} {seq}").into_bytes(),
        audit_id: String::new(),
    }
}

async fn open(path: &Path) -> Store {
    Store::open(path).await.expect("open the store")
}

/// Counts rows through the read pool.
pub(super) async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&store.inner.reads)
        .await
        .expect("count rows")
}

on_both! {
    async fn resent_results_are_counted_as_duplicates_not_stored_twice() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        let batch = || {
            (1..=5)
                .map(|s| result(s, "imap", "pass"))
                .collect::<Vec<_>>()
        };

        let first = store.insert_results("a1", batch(), 10).await.unwrap();
        assert_eq!(
            first,
            InsertOutcome {
                inserted: 5,
                duplicates: 0,
                set_aside: 0,
                max_seq: 5
            }
        );
        let resent = store.insert_results("a1", batch(), 20).await.unwrap();
        assert_eq!(
            resent,
            InsertOutcome {
                inserted: 0,
                duplicates: 5,
                set_aside: 0,
                max_seq: 5
            }
        );
        // Overlapping resend: 4 and 5 again, 6 new.
        let overlap = vec![
            result(4, "imap", "pass"),
            result(5, "imap", "pass"),
            result(6, "imap", "pass"),
        ];
        let third = store.insert_results("a1", overlap, 30).await.unwrap();
        assert_eq!(
            third,
            InsertOutcome {
                inserted: 1,
                duplicates: 2,
                set_aside: 0,
                max_seq: 6
            }
        );

        assert_eq!(count(&store, "SELECT COUNT(*) FROM results").await, 6);
        assert_eq!(store.last_seq("a1").await.unwrap(), 6);
        // The first copy is the one kept.
        let history = store.history("a1", "imap", 100).await.unwrap();
        let five = history.iter().find(|r| r.seq == 5).unwrap();
        assert_eq!(five.received_unix_ms, 10);
        store.close().await;
    }
}

on_both! {
    async fn latest_keeps_the_highest_seq_when_an_older_one_arrives_later() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        store
            .insert_results(
                "a1",
                vec![result(10, "imap", "fail"), result(11, "smtp", "pass")],
                100,
            )
            .await
            .unwrap();
        // Older results arrive late (a resend from the spool after a reconnect), one of them
        // in the same call as a newer one of another check.
        let late = vec![
            result(3, "imap", "pass"),
            result(4, "smtp", "fail"),
            result(12, "pop3", "warn"),
        ];
        let out = store.insert_results("a1", late, 200).await.unwrap();
        assert_eq!(out.inserted, 3);
        assert_eq!(out.max_seq, 12);

        let latest = store.latest("a1").await.unwrap();
        let by_check: Vec<(&str, u64, &str)> = latest
            .iter()
            .map(|r| (r.check.as_str(), r.seq, r.outcome.as_str()))
            .collect();
        assert_eq!(
            by_check,
            vec![
                ("imap", 10, "fail"),
                ("pop3", 12, "warn"),
                ("smtp", 11, "pass")
            ]
        );
        let imap = &latest[0];
        assert_eq!(imap.failure_kind.as_deref(), Some("tcp_refused"));
        assert_eq!(imap.failure_stage.as_deref(), Some("tcp"));
        assert_eq!(imap.detail, b"detail imap 10".to_vec());
        assert_eq!(imap.received_unix_ms, 100);
        assert_eq!(imap.duration_us, 1_010);

        // A newer one replaces it.
        store
            .insert_results("a1", vec![result(13, "imap", "pass")], 300)
            .await
            .unwrap();
        let latest = store.latest("a1").await.unwrap();
        assert_eq!((latest[0].seq, latest[0].outcome.as_str()), (13, "pass"));
        // History has everything.
        assert_eq!(count(&store, "SELECT COUNT(*) FROM results").await, 6);
        store.close().await;
    }
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // open creates the missing directory too.
    let path = dir.path().join("var").join("lib").join("eceprobe.db");
    let store = open(&path).await;
    store.upsert_agent(&agent("a1", 5)).await.unwrap();
    store.upsert_agent(&agent("a2", 6)).await.unwrap();
    store
        .insert_results(
            "a1",
            vec![result(1, "imap", "pass"), result(2, "smtp", "fail")],
            50,
        )
        .await
        .unwrap();
    let before_latest = store.latest_states().await.unwrap();
    store.close().await;

    let store = open(&path).await;
    let agents = store.agents().await.unwrap();
    let records: Vec<_> = agents.iter().map(|a| a.record.clone()).collect();
    // Results are news from the agent: a1 was seen when they arrived (50).
    assert_eq!(records, vec![agent("a1", 50), agent("a2", 6)]);
    assert_eq!(
        agents.iter().map(|a| a.last_seq).collect::<Vec<_>>(),
        vec![2, 0]
    );
    assert_eq!(store.last_seq("a1").await.unwrap(), 2);
    assert_eq!(store.last_seq("a2").await.unwrap(), 0);
    assert_eq!(store.latest_states().await.unwrap(), before_latest);
    assert_eq!(store.history("a1", "smtp", 10).await.unwrap().len(), 1);
    // Migrations are not applied twice, and the reopened store writes.
    let again = store
        .insert_results(
            "a1",
            vec![result(2, "smtp", "fail"), result(3, "imap", "pass")],
            60,
        )
        .await
        .unwrap();
    assert_eq!((again.inserted, again.duplicates, again.max_seq), (1, 1, 3));
    store.close().await;
}

on_both! {
    async fn prune_removes_old_history_but_keeps_latest_and_last_seq() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        store.upsert_agent(&agent("a2", 1)).await.unwrap();
        // Old: a1 seq 1..=3 (imap, smtp, imap) and all of a2; new: a1 seq 4 (smtp).
        store
            .insert_results(
                "a1",
                vec![
                    result(1, "imap", "pass"),
                    result(2, "smtp", "pass"),
                    result(3, "imap", "fail"),
                ],
                1_000,
            )
            .await
            .unwrap();
        store
            .insert_results("a2", vec![result(7, "pop3", "warn")], 1_500)
            .await
            .unwrap();
        store
            .insert_results("a1", vec![result(4, "smtp", "fail")], 3_000)
            .await
            .unwrap();
        let latest_before = store.latest_states().await.unwrap();

        assert_eq!(store.prune_before(2_000).await.unwrap(), 4);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM results").await, 1);
        assert_eq!(store.history("a1", "smtp", 10).await.unwrap().len(), 1);
        assert!(store.history("a1", "imap", 10).await.unwrap().is_empty());
        // Current state and the agents' high-water marks are untouched.
        assert_eq!(store.latest_states().await.unwrap(), latest_before);
        assert_eq!(store.latest("a2").await.unwrap()[0].seq, 7);
        assert_eq!(store.last_seq("a2").await.unwrap(), 7);
        assert_eq!(store.last_seq("a1").await.unwrap(), 4);
        // Nothing older left: a second prune deletes nothing.
        assert_eq!(store.prune_before(2_000).await.unwrap(), 0);
        store.close().await;
    }
}

on_both! {
    async fn prune_deletes_in_bounded_steps() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        let total = u64::from(PRUNE_CHUNK) * 2 + 7;
        let mut seq = 0;
        while seq < total {
            let batch: Vec<_> = (seq + 1..=(seq + 5_000).min(total))
                .map(|s| result(s, "imap", "pass"))
                .collect();
            seq += batch.len() as u64;
            store.insert_results("a1", batch, 10).await.unwrap();
        }
        let commits = store.commits();
        assert_eq!(store.prune_before(11).await.unwrap(), total);
        // Three steps, three transactions.
        assert_eq!(store.commits() - commits, 3);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM results").await, 0);
        assert_eq!(store.latest("a1").await.unwrap()[0].seq, total);
        store.close().await;
    }
}

on_both! {
    async fn history_is_newest_first_and_bounded() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        store.upsert_agent(&agent("a2", 1)).await.unwrap();
        // Out of order, interleaved with another check and another agent.
        let results = [5, 1, 9, 3, 7]
            .into_iter()
            .flat_map(|s| [result(s, "imap", "pass"), result(s + 100, "smtp", "pass")])
            .collect();
        store.insert_results("a1", results, 1).await.unwrap();
        store
            .insert_results("a2", vec![result(50, "imap", "pass")], 1)
            .await
            .unwrap();

        let seqs = |rs: Vec<StoredResult>| rs.into_iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(store.history("a1", "imap", 100).await.unwrap()),
            vec![9, 7, 5, 3, 1]
        );
        assert_eq!(
            seqs(store.history("a1", "imap", 2).await.unwrap()),
            vec![9, 7]
        );
        assert!(store.history("a1", "imap", 0).await.unwrap().is_empty());
        assert!(store.history("a1", "pop3", 10).await.unwrap().is_empty());

        // The cap: a huge limit returns at most MAX_HISTORY_LIMIT rows.
        let many: Vec<_> = (1000..1000 + u64::from(MAX_HISTORY_LIMIT) + 5)
            .map(|s| result(s, "pop3", "pass"))
            .collect();
        let (first, rest) = many.split_at(MAX_RESULTS_PER_INSERT);
        store.insert_results("a1", first.to_vec(), 2).await.unwrap();
        store.insert_results("a1", rest.to_vec(), 2).await.unwrap();
        let capped = store.history("a1", "pop3", u32::MAX).await.unwrap();
        assert_eq!(capped.len(), MAX_HISTORY_LIMIT as usize);
        assert_eq!(capped[0].seq, 1000 + u64::from(MAX_HISTORY_LIMIT) + 4);

        // One call is bounded too.
        let too_many = (0..=MAX_RESULTS_PER_INSERT as u64)
            .map(|s| result(s, "imap", "pass"))
            .collect();
        let err = store.insert_results("a1", too_many, 3).await.unwrap_err();
        assert!(matches!(err, StoreError::TooManyResults { .. }), "{err:?}");
        store.close().await;
    }
}

/// SQLite only: its file's settings and the read pool's read-only connections.
#[tokio::test]
async fn open_sets_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("eceprobe.db")).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.inner.reads)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&store.inner.reads)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    // The read pool cannot write.
    let err = sqlx::query("DELETE FROM agents")
        .execute(&store.inner.reads)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    store.close().await;
    // A directory where the file should be: open names the path.
    let err = Store::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    // As the binary prints it (anyhow's `{:#}` chain): the cause once, not twice.
    let message = err.to_string();
    let cause = message.rsplit(": ").next().unwrap().to_string();
    let printed = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(printed.matches(&cause).count(), 1, "{printed}");
}

on_both! {
    async fn warning_kinds_and_spool_counts_round_trip() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        let mut r = result(1, "smtp", "warn");
        r.warning_kinds = vec![
            "tls_intercepted".to_owned(),
            "cert_expiring_soon".to_owned(),
        ];
        store
            .insert_results("a1", vec![r.clone()], 5)
            .await
            .unwrap();
        let states = store.latest_states().await.unwrap();
        assert_eq!(states[0].warning_kinds, r.warning_kinds);
        assert_eq!(
            store.history("a1", "smtp", 1).await.unwrap()[0].warning_kinds,
            r.warning_kinds
        );
        store.touch_agent("a1", 6, 42).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].spool_dropped, 42);
        store.close().await;
    }
}

/// SQLite's plan of the prune step's inner select (PostgreSQL's planner chooses by its
/// statistics).
#[tokio::test]
async fn history_pruning_walks_only_untagged_rows() {
    use sqlx::Row;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("eceprobe.db"))
        .await
        .expect("open");
    let rows = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT agent_id, seq FROM results \
         WHERE audit_id = '' AND received_unix_ms < 5 ORDER BY received_unix_ms LIMIT 10",
    )
    .fetch_all(&store.inner.reads)
    .await
    .unwrap();
    let plan: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
    assert!(
        plan.iter()
            .any(|p| p.contains("results_untagged_by_received")),
        "{plan:?}"
    );
    store.close().await;
}

/// The agents' rows: what each Hello updates.
#[path = "agent_tests.rs"]
mod agents;

on_both! {
    /// A database of a newer schema, or one holding another program's tables, is refused
    /// with the reason and the fix; nothing is migrated or written into it.
    async fn a_database_not_ours_or_of_a_newer_schema_is_refused() {
        let foreign = fresh().await;
        let mut raw = foreign.raw().await;
        sqlx::query("CREATE TABLE invoices (id BIGINT PRIMARY KEY, total BIGINT)")
            .execute(&mut raw)
            .await
            .unwrap();
        let err = Store::connect(&foreign.database).await.unwrap_err();
        assert!(matches!(err, StoreError::NotOurs { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("holds other tables (invoices)"), "{message}");
        assert!(message.contains("an empty database of its own"), "{message}");
        let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices")
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(tables, 0, "the foreign table is untouched");

        let (db, store) = open_temp().await;
        store.close().await;
        let mut raw = db.raw().await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from a newer collector', TRUE, $1, 0)",
        )
        .bind(vec![0u8; 48])
        .execute(&mut raw)
        .await
        .unwrap();
        let err = Store::connect(&db.database).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("has schema version 99990101000000, newer than this collector's"),
            "{message}"
        );
        assert!(message.contains("run that version or a later one"), "{message}");
    }
}

/// PostgreSQL ends a connection with a FATAL error before closing it (an operator's
/// `pg_terminate_backend`, a restart): the writer takes that as a lost connection, says so
/// naming the database, and the next write connects again.
#[tokio::test]
async fn a_terminated_postgres_backend_is_a_lost_connection_and_the_next_write_reconnects() {
    let Some(_) = test_postgres() else {
        return;
    };
    let db = ENGINE.scope(Engine::Postgres, fresh()).await;
    let store = db.reopen().await;
    store.upsert_agent(&agent("a1", 1)).await.unwrap();
    let mut admin = db.raw().await;
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() \
         AND application_name = current_setting('application_name')",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!terminated.is_empty());
    let err = store
        .insert_results("a1", vec![result(1, "imap", "pass")], 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConnectionLost { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("lost the connection to the PostgreSQL database"),
        "{message}"
    );
    assert!(
        message.contains("nothing of this write was stored"),
        "{message}"
    );
    let out = store
        .insert_results("a1", vec![result(1, "imap", "pass")], 10)
        .await
        .unwrap();
    assert_eq!(out.inserted, 1, "the next write connected again");
    store.close().await;
}

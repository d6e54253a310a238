//! The engines a store test runs on: a fresh SQLite file, or a schema of its own in the
//! PostgreSQL of `ECEPROBE_TEST_POSTGRES`; [`on_both!`] runs one test body on each.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Database, Store};

/// The engine a store test runs on: [`open_temp`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    pub(super) static ENGINE: Engine;
}

/// What keeps a test's database alive: a temporary directory (SQLite) or nothing (a
/// PostgreSQL schema of its own, left in the throwaway test database).
pub(super) struct TestDb {
    _dir: Option<tempfile::TempDir>,
    pub(super) database: Database,
}

impl TestDb {
    /// The store again on the same database, as a restarted collector opens it.
    pub(super) async fn reopen(&self) -> Store {
        Store::connect(&self.database)
            .await
            .expect("open the store")
    }

    /// A write connection of its own, as another program would have.
    pub(super) async fn raw(&self) -> sqlx::AnyConnection {
        self.database.connect_writer().await.expect("connect")
    }
}

/// The PostgreSQL the tests on PostgreSQL use: `ECEPROBE_TEST_POSTGRES` (`.ci/postgres.sh
/// start` prints one). Unset, those tests say why they are skipped, unless
/// `ECEPROBE_REQUIRE_POSTGRES=1` (CI) makes that a failure.
pub(super) fn test_postgres() -> Option<String> {
    match std::env::var("ECEPROBE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("ECEPROBE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "ECEPROBE_REQUIRE_POSTGRES=1 but ECEPROBE_TEST_POSTGRES is not set: start one with .ci/postgres.sh start"
            );
            eprintln!(
                "skipped on PostgreSQL: ECEPROBE_TEST_POSTGRES is not set (url=$(.ci/postgres.sh start) gives one)"
            );
            None
        }
    }
}

/// Whether the running test is on SQLite (a query plan is SQLite's to check).
pub(super) fn on_sqlite() -> bool {
    ENGINE.try_with(|e| *e).unwrap_or(Engine::Sqlite) == Engine::Sqlite
}

/// A test body run on SQLite, then on PostgreSQL (when one is given), each on a fresh
/// database: one suite, two engines.
macro_rules! on_both {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[tokio::test]
        async fn $name() {
            use $crate::engines::{Engine, ENGINE};
            ENGINE.scope(Engine::Sqlite, async $body).await;
            if $crate::engines::test_postgres().is_some() {
                ENGINE.scope(Engine::Postgres, async $body).await;
            }
        }
    };
}
pub(super) use on_both;

pub(super) async fn open_temp() -> (TestDb, Store) {
    let db = fresh().await;
    let store = db.reopen().await;
    (db, store)
}

/// A new, empty database on the test's engine (the store not opened yet).
pub(super) async fn fresh() -> TestDb {
    match ENGINE.try_with(|e| *e).unwrap_or(Engine::Sqlite) {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let database = Database::Sqlite(dir.path().join("eceprobe.db"));
            TestDb {
                _dir: Some(dir),
                database,
            }
        }
        Engine::Postgres => TestDb {
            _dir: None,
            database: fresh_postgres_schema().await,
        },
    }
}

/// A schema of its own in the test PostgreSQL, and the database as the store reaches it
/// (its connections' search_path set to that schema).
pub(super) async fn fresh_postgres_schema() -> Database {
    use sqlx::Connection;
    static N: AtomicUsize = AtomicUsize::new(0);
    let url = test_postgres().expect("ECEPROBE_TEST_POSTGRES");
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        now_ms_for_test()
    );
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&url)
        .await
        .expect("connect to ECEPROBE_TEST_POSTGRES");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create the test's schema");
    admin.close().await.expect("close");
    let sep = if url.contains('?') { '&' } else { '?' };
    // application_name: a test can find its own connections among the parallel tests'.
    Database::parse(&format!(
        "{url}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
    ))
    .expect("test url")
}

fn now_ms_for_test() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000_000)
        .unwrap_or(0)
}

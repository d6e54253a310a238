//! The PostgreSQL of `ECEPROBE_TEST_POSTGRES` (`.ci/postgres.sh start` prints one) for
//! tests that run collectors on it: skipped with the reason when unset, a failure under
//! `ECEPROBE_REQUIRE_POSTGRES=1`; a schema of its own per test; the password kept in a
//! file, as an operator keeps it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eceprobe_collector::leader::LEASE;
use eceprobe_collector::store::{Lease, Store};
use sqlx::Connection;

pub fn test_postgres() -> Option<String> {
    match std::env::var("ECEPROBE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("ECEPROBE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "ECEPROBE_REQUIRE_POSTGRES=1 but ECEPROBE_TEST_POSTGRES is not set: start one with .ci/postgres.sh start"
            );
            eprintln!("skipped: ECEPROBE_TEST_POSTGRES is not set (url=$(.ci/postgres.sh start) gives one)");
            None
        }
    }
}

/// A schema of its own in the test database: the URL without its password (which goes
/// to a password file, as an operator keeps it) and the password.
pub async fn fresh_schema(url: &str, name: &str) -> (String, String) {
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(url).await.unwrap();
    let schema = format!("c{}_{name}", std::process::id());
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let mut parsed = url::Url::parse(url).unwrap();
    let password = parsed
        .password()
        .expect("a password in ECEPROBE_TEST_POSTGRES")
        .to_owned();
    parsed.set_password(None).unwrap();
    parsed
        .query_pairs_mut()
        .append_pair("options", &format!("-csearch_path={schema}"));
    (parsed.to_string(), password)
}

/// The config that holds the password file (the URL comes by --db, without it).
pub fn config_with_password(dir: &Path, password: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("pg.pass"), format!("{password}\n")).unwrap();
    let config = dir.join("collector.toml");
    std::fs::write(&config, "[store]\npassword_file = \"pg.pass\"\n").unwrap();
    config
}

/// Collector `name`'s configuration for the leader tests: a lease of 3 s (the shortest
/// accepted), evaluations every second, one webhook to `hook`.
pub fn ha_config(dir: &Path, name: &str, password: &str, hook: SocketAddr) -> PathBuf {
    std::fs::write(dir.join("pg.pass"), format!("{password}\n")).unwrap();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "evaluate_every_s = 1\n[store]\npassword_file = \"pg.pass\"\nlease_s = 3\n\
             collector_name = \"{name}\"\n[[webhook]]\nurl = \"http://{hook}/hooks/leader-test\"\n"
        ),
    )
    .unwrap();
    config
}

pub async fn lease_of(store: &Store) -> Option<Lease> {
    store.lease(LEASE).await.unwrap()
}

/// Polls the lease (at most 20 s) until `holder` matches; returns it and how long it took.
pub async fn wait_holder(
    store: &Store,
    what: &str,
    holder: impl Fn(&str) -> bool,
) -> (Lease, Duration) {
    let start = Instant::now();
    loop {
        if let Some(lease) = lease_of(store).await {
            if holder(&lease.holder) && lease.is_current() {
                return (lease, start.elapsed());
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}; lease now: {:?}",
            lease_of(store).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn holder_is(name: &str) -> impl Fn(&str) -> bool + '_ {
    move |holder: &str| holder == name
}

//! The real collector process on a real PostgreSQL (`ECEPROBE_TEST_POSTGRES`, which
//! `.ci/postgres.sh start` prints; skipped with the reason when unset, a failure under
//! `ECEPROBE_REQUIRE_POSTGRES=1`): `serve --db postgres://...` with the password from
//! `[store] password_file`, what is acked is stored once and survives a kill, gaps open as
//! on SQLite, and the password reaches neither the log nor an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::agent::{result, Agent, CHECKS};
use common::postgres::{config_with_password, fresh_schema, test_postgres};
use common::{msg, wait_for_gaps, Collector};
use eceprobe_collector::store::{Database, Store};
use eceprobe_proto::v1::{agent_message, AgentMessage, ResultBatch};

fn batch(seqs: impl IntoIterator<Item = u64>) -> AgentMessage {
    let results = seqs
        .into_iter()
        .map(|s| {
            // Every third result fails: gaps open, as on SQLite.
            let fail = (s % 3 == 0).then_some("tcp_refused");
            result(s, CHECKS[s as usize % CHECKS.len()], fail)
        })
        .collect();
    msg(agent_message::Body::Batch(ResultBatch { results }))
}

/// Each seq stored for the agent, in order, read through the store as the collector does.
async fn stored_seqs(db_url: &str, password: &str, agent: &str) -> Vec<u64> {
    let database = Database::parse(db_url).unwrap().with_password(password);
    let store = Store::connect(&database).await.unwrap();
    let mut seqs = Vec::new();
    for check in CHECKS {
        let history = store.history(agent, check, 10_000).await.unwrap();
        seqs.extend(history.iter().map(|r| r.seq));
    }
    store.close().await;
    seqs.sort_unstable();
    seqs
}

/// The agent connecting again after the database came back, as a real agent does with its
/// backoff: a Hello answered while the read pool still holds a broken connection fails (its
/// stream ends), and the next try succeeds.
async fn reconnect(addr: std::net::SocketAddr, id: &'static str) -> (Agent, u64) {
    for _ in 0..20 {
        match tokio::spawn(async move { Agent::connect(addr, id).await }).await {
            Ok(connected) => return connected,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
    panic!("the collector did not take agent {id} back within 20 tries");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_on_postgres_stores_once_survives_a_kill_and_keeps_the_password_out() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "serve").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_password(dir.path(), &password);
    let config = config.to_str().unwrap();
    let log = dir.path().join("collector.log");
    let collector = Collector::start_logging(
        Path::new(&db_url),
        &["--plaintext", "--config", config],
        &log,
    );
    let (mut agent, last) = Agent::connect(collector.addr, "svc-1").await;
    assert_eq!(last, 0);
    assert_eq!(agent.send_expect_ack(batch(1..=30)).await, 30);
    let gaps = wait_for_gaps(collector.query, "gaps of svc-1 on PostgreSQL", |g| {
        g.iter().any(|g| g.agent_id == "svc-1")
    })
    .await;
    assert!(gaps.iter().all(|g| g.agent_id == "svc-1"), "{gaps:?}");
    drop(agent);
    collector.kill();

    // Restarted after a kill: everything acked is there; a resend is acked, not doubled.
    let collector = Collector::start_with(Path::new(&db_url), &["--plaintext", "--config", config]);
    let (mut agent, last) = Agent::connect(collector.addr, "svc-1").await;
    assert_eq!(last, 30, "every acked result survived the kill");
    assert_eq!(agent.send_expect_ack(batch(20..=40)).await, 40);
    drop(agent);
    collector.kill();

    assert_eq!(
        stored_seqs(&db_url, &password, "svc-1").await,
        (1..=40).collect::<Vec<_>>(),
        "each result once"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("collector serving"), "{logged}");
    assert!(!logged.contains(&password), "the password reached the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_or_a_missing_server_is_named_without_the_password() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "refused").await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = format!("{password}-not");
    let config = config_with_password(dir.path(), &wrong);
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(["serve", "--plaintext", "--listen", "127.0.0.1:0"])
        .args(["--query-listen", "127.0.0.1:0", "--db", &db_url])
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let parsed = url::Url::parse(&db_url).unwrap();
    let named = format!(
        "cannot open the PostgreSQL database {}@{}:{}{}",
        parsed.username(),
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432),
        parsed.path()
    );
    assert!(said.contains(&named), "{said}");
    assert!(said.contains("password authentication failed"), "{said}");
    assert!(!said.contains(&wrong), "the password was shown: {said}");

    // Nothing listens there: the server is named, the start fails (no hang).
    let mut gone = parsed.clone();
    gone.set_port(Some(1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(["serve", "--plaintext", "--listen", "127.0.0.1:0"])
        .args(["--query-listen", "127.0.0.1:0", "--db", gone.as_str()])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains(":1/"), "the server is named: {said}");
    assert!(!said.contains(&wrong), "{said}");
}

/// A TCP path to PostgreSQL that the test can cut (every connection reset, new ones
/// refused), freeze (connections held open, nothing passed: a silent drop, as a NAT or a
/// firewall makes it) and restore.
struct Path2Db {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// Copies one direction, holding what it reads while the path is frozen.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Path2Db {
    async fn to(upstream: std::net::SocketAddr) -> Path2Db {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, frozen2, open2) = (up.clone(), frozen.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let frozen = frozen2.clone();
                let task = tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(relay(cr, sw, frozen.clone()), relay(sr, cw, frozen));
                });
                open2.lock().unwrap().push(task.abort_handle());
            }
        });
        Path2Db {
            addr,
            up,
            frozen,
            open,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn restore(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_going_away_is_named_and_results_arrive_when_it_returns() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "outage").await;
    let mut through = url::Url::parse(&db_url).unwrap();
    let upstream = format!(
        "{}:{}",
        through.host_str().unwrap(),
        through.port().unwrap_or(5432)
    );
    let path = Path2Db::to(upstream.parse().unwrap()).await;
    through.set_port(Some(path.addr.port())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_password(dir.path(), &password);
    let collector = Collector::start_with(
        Path::new(through.as_str()),
        &["--plaintext", "--config", config.to_str().unwrap()],
    );
    let (mut agent, _) = Agent::connect(collector.addr, "app-1").await;
    assert_eq!(agent.send_expect_ack(batch(1..=10)).await, 10);

    path.cut();
    let status = agent.send_expect_error(batch(11..=20)).await;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let said = status.message();
    let server = format!("127.0.0.1:{}", path.addr.port());
    assert!(said.contains(&server), "the server is named: {said}");
    assert!(
        said.contains("nothing of this write was stored") || said.contains("nothing was stored"),
        "{said}"
    );
    assert!(!said.contains(&password), "{said}");

    // Back: the agent reconnects and sends again from its spool; all of it lands once.
    path.restore();
    drop(agent);
    let (mut agent, last) = reconnect(collector.addr, "app-1").await;
    assert_eq!(last, 10, "what was refused during the cut was not stored");
    assert_eq!(agent.send_expect_ack(batch(11..=20)).await, 20);
    drop(agent);
    collector.kill();
    assert_eq!(
        stored_seqs(&db_url, &password, "app-1").await,
        (1..=20).collect::<Vec<_>>(),
        "each result once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_drop_is_bounded_by_the_write_timeout_and_the_collector_reconnects() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "frozen").await;
    let mut through = url::Url::parse(&db_url).unwrap();
    let upstream = format!(
        "{}:{}",
        through.host_str().unwrap(),
        through.port().unwrap_or(5432)
    );
    let path = Path2Db::to(upstream.parse().unwrap()).await;
    through.set_port(Some(path.addr.port())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pass"), format!("{password}\n")).unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        "[store]\npassword_file = \"pg.pass\"\nwrite_timeout_s = 2\n",
    )
    .unwrap();
    let collector = Collector::start_with(
        Path::new(through.as_str()),
        &["--plaintext", "--config", config.to_str().unwrap()],
    );
    let (mut agent, _) = Agent::connect(collector.addr, "svc-9").await;
    assert_eq!(agent.send_expect_ack(batch(1..=5)).await, 5);

    // Nothing passes and nothing is reset: the batch is answered within the bound (the
    // agent's own wait is 10 s), never left hanging for the kernel's ~15 minutes.
    path.freeze();
    let status = agent.send_expect_error(batch(6..=10)).await;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let said = status.message();
    assert!(
        said.contains("within 2 s") || said.contains("write timeout"),
        "{said}"
    );
    assert!(
        said.contains("is not known") || said.contains("nothing"),
        "{said}"
    );

    // The path back (the frozen connections are dropped by the collector): all lands once.
    path.cut();
    path.restore();
    drop(agent);
    let (mut agent, last) = reconnect(collector.addr, "svc-9").await;
    assert_eq!(agent.send_expect_ack(batch(last + 1..=10)).await, 10);
    drop(agent);
    collector.kill();
}

//! Two real collector processes on one real PostgreSQL (skipped with the reason without
//! `ECEPROBE_TEST_POSTGRES`, a failure under `ECEPROBE_REQUIRE_POSTGRES=1`), agents on
//! both: either collector's overview and /metrics count every agent connected to either,
//! and refuses to retire a server connected to the other; an audit started through the
//! follower's Query API reaches the agents of both, once each, and the leader alone closes
//! it with every server answered; when the leader is SIGKILLed, the other takes over the
//! audit it left running and closes it, and the dead collector's agents stop counting as
//! connected once its liveness lapses (15 s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::agent::{failing, SimAgent};
use common::dashboard::{get, TOKEN};
use common::postgres::{fresh_schema, test_postgres};
use common::{admin, run_audit, wait_closed, Collector};
use eceprobe_collector::leader::LEASE;
use eceprobe_collector::store::{Database, Store};

/// Collector `name`'s configuration: a lease of 3 s, its dashboard on a free port.
fn config(dir: &Path, name: &str, password: &str) -> PathBuf {
    std::fs::write(dir.join("pg.pass"), format!("{password}\n")).unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "evaluate_every_s = 1\n[store]\npassword_file = \"pg.pass\"\nlease_s = 3\n\
             collector_name = \"{name}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             token_file = \"token\"\n"
        ),
    )
    .unwrap();
    config
}

/// Starts collector `name` with its log in `dir`; returns it and its dashboard's address.
fn start(db: &Path, dir: &Path, name: &str, config: &Path) -> (Collector, SocketAddr) {
    let args = ["--plaintext", "--config", config.to_str().unwrap()];
    let mut collector = Collector::start_logging(db, &args, &dir.join(format!("{name}.log")));
    let url = collector.line();
    let web = url
        .strip_prefix("dashboard on http://")
        .and_then(|u| u.split_once("/?token="))
        .map(|(addr, _)| addr.parse().unwrap())
        .unwrap_or_else(|| panic!("collector said {url:?}"));
    (collector, web)
}

/// Each server of the overview served at `web`, and whether it shows connected.
async fn connected_on(web: SocketAddr) -> BTreeMap<String, bool> {
    let resp = get(web, "/api/overview").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["agent_id"].as_str().unwrap().to_owned(),
                s["connected"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Polls `what` (at most `limit`) until it holds; returns how long that took.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut holds: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !holds().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    start.elapsed()
}

/// `eceprobe_agents_connected` on the /metrics served at `web`.
async fn gauge(web: SocketAddr) -> Option<u64> {
    let metrics = get(web, "/metrics").await.body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("eceprobe_agents_connected "))
        .and_then(|v| v.parse().ok())
}

fn expected(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(a, c)| ((*a).to_owned(), *c)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_and_audits_span_the_collectors_sharing_a_database() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "connections").await;
    let dir = tempfile::tempdir().unwrap();
    let (config_a, config_b) = (
        config(dir.path(), "mon-a", &password),
        config(dir.path(), "mon-b", &password),
    );
    let db = Path::new(&db_url);
    let store = Store::connect(&Database::parse(&db_url).unwrap().with_password(&password))
        .await
        .unwrap();
    let (a, web_a) = start(db, dir.path(), "mon-a", &config_a);
    wait_until("collector A to lead", Duration::from_secs(20), || async {
        let lease = store.lease(LEASE).await.unwrap();
        lease.is_some_and(|l| l.holder == "mon-a" && l.is_current())
    })
    .await;
    let (b, web_b) = start(db, dir.path(), "mon-b", &config_b);

    // Two agents on A (the leader), one on B; svc-4 on B never answers.
    let ok = || failing(&[]);
    let svc1 = SimAgent::answering(a.addr, "svc-1", "prod", ok()).await;
    let svc2 = SimAgent::answering(a.addr, "svc-2", "prod", ok()).await;
    let svc3 = SimAgent::answering(b.addr, "svc-3", "prod", ok()).await;
    let svc4 = SimAgent::silent(b.addr, "svc-4", "lab").await;
    let all = expected(&[
        ("svc-1", true),
        ("svc-2", true),
        ("svc-3", true),
        ("svc-4", true),
    ]);
    // Each collector's overview shows every agent connected, whichever it streams to.
    assert_eq!(connected_on(web_b).await, all, "B's overview");
    assert_eq!(connected_on(web_a).await, all, "A's overview");
    // /metrics counts at each heartbeat (5 s): B's counts A's agents too.
    wait_until(
        "4 agents connected on B's /metrics",
        Duration::from_secs(20),
        || async { gauge(web_b).await == Some(4) },
    )
    .await;
    // Retiring through B a server connected to A is refused: it would be back at once.
    let (code, _, err) = admin(b.query, &["retire", "svc-1"]);
    assert_ne!(code, Some(0), "retire refused: {err}");
    assert!(err.contains("connected now"), "{err}");

    // An audit of "prod" started through B (a follower) reaches the agents of both.
    let audit = run_audit(b.query, "prod", 30).await;
    let report = wait_closed(b.query, &audit).await;
    let servers: BTreeMap<&str, (bool, bool)> = report
        .servers
        .iter()
        .map(|s| (s.agent_id.as_str(), (s.ordered, s.answered_unix_ms > 0)))
        .collect();
    assert_eq!(
        servers,
        BTreeMap::from([
            ("svc-1", (true, true)),
            ("svc-2", (true, true)),
            ("svc-3", (true, true)),
        ]),
        "every server ordered and answered"
    );
    for (name, agent) in [("svc-1", &svc1), ("svc-2", &svc2), ("svc-3", &svc3)] {
        assert_eq!(
            agent.orders.load(Ordering::SeqCst),
            1,
            "{name} ordered once"
        );
    }
    // The leader closed it, not B.
    let log_b = std::fs::read_to_string(dir.path().join("mon-b.log")).unwrap();
    let log_a = std::fs::read_to_string(dir.path().join("mon-a.log")).unwrap();
    let closed = |log: &str, id: &str| {
        log.lines()
            .any(|l| l.contains("audit closed") && l.contains(id))
    };
    assert!(
        closed(&log_a, &audit) && !closed(&log_b, &audit),
        "A (the leader) closed the audit, not B"
    );

    // An audit of "lab" through B: svc-4 is ordered but never answers. The leader dies
    // while it runs: B takes over and closes it at its deadline.
    let lab = run_audit(b.query, "lab", 8).await;
    wait_until("svc-4's order", Duration::from_secs(10), || async {
        svc4.orders.load(Ordering::SeqCst) == 1
    })
    .await;
    let killed = Instant::now();
    a.kill();
    let report = wait_closed(b.query, &lab).await;
    let s4 = &report.servers[0];
    assert_eq!(
        (s4.agent_id.as_str(), s4.ordered, s4.answered_unix_ms),
        ("svc-4", true, 0)
    );
    let log_b = std::fs::read_to_string(dir.path().join("mon-b.log")).unwrap();
    assert!(closed(&log_b, &lab), "B closed the audit A left: {log_b}");

    // A's agents stop counting as connected once A's liveness lapses (15 s); B's stay.
    wait_until(
        "A's agents no longer connected on B's overview",
        Duration::from_secs(40),
        || async {
            connected_on(web_b).await
                == expected(&[
                    ("svc-1", false),
                    ("svc-2", false),
                    ("svc-3", true),
                    ("svc-4", true),
                ])
        },
    )
    .await;
    eprintln!(
        "A's agents shown disconnected {} ms after the SIGKILL (bound 15 s)",
        killed.elapsed().as_millis()
    );
    wait_until(
        "2 agents connected on B's /metrics",
        Duration::from_secs(20),
        || async { gauge(web_b).await == Some(2) },
    )
    .await;
    assert_eq!(svc4.orders.load(Ordering::SeqCst), 1, "svc-4 ordered once");
    drop(b);
}

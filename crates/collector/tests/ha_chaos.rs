//! Chaos on two real collector processes sharing one real PostgreSQL (skipped with the
//! reason without `ECEPROBE_TEST_POSTGRES`, a failure under `ECEPROBE_REQUIRE_POSTGRES=1`):
//! 24 agents stream results to either while the leader is SIGKILLed three times, each time
//! restarted under its name once the other has taken over; an agent whose collector dies
//! reconnects to another and resends its unacked batch, as real agents do. At the end each
//! agent's seqs are stored once each, the gaps four agents opened closed once fixed, every
//! webhook event arrived with one `event_id` per change, and each audit (one started
//! through the follower before each kill) closed once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::agent::{result, Agent, CHECKS};
use common::postgres::{fresh_schema, ha_config, holder_is, test_postgres, wait_holder};
use common::receiver::Receiver;
use common::{msg, run_audit, wait_closed, wait_for_gaps, Collector};
use eceprobe_collector::store::{Database, Store};
use eceprobe_proto::v1::{agent_message, ResultBatch};

const AGENTS: usize = 24;
/// The first ones fail CHECKS[0] until the test fixes them.
const FAILING: usize = 4;
const NAMES: [&str; 2] = ["mon-a", "mon-b"];

/// What the agents share with the test: where the collectors listen now, whether the
/// failing checks are fixed, whether to stop after the current batch.
#[derive(Clone, Default)]
struct Shared {
    addrs: Arc<Mutex<Vec<SocketAddr>>>,
    fixed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// One agent: batches of one result per check with increasing seqs, until told to stop;
/// when its stream fails it reconnects (to the other collector first) and resends the
/// unacked batch. Returns its last seq and how many times it reconnected.
async fn run_agent(id: String, home: usize, fails: bool, shared: Shared) -> (u64, usize) {
    let (mut target, mut seq, mut reconnects) = (home, 0u64, 0usize);
    let mut conn: Option<Agent> = None;
    let mut pending = None;
    loop {
        if pending.is_none() {
            if shared.stop.load(Ordering::SeqCst) {
                return (seq, reconnects);
            }
            let failing = fails && !shared.fixed.load(Ordering::SeqCst);
            let results = CHECKS
                .iter()
                .map(|check| {
                    seq += 1;
                    let refused = failing && *check == CHECKS[0];
                    result(seq, check, refused.then_some("tcp_refused"))
                })
                .collect();
            pending = Some(msg(agent_message::Body::Batch(ResultBatch { results })));
        }
        if conn.is_none() {
            let addr = shared.addrs.lock().unwrap()[target];
            match Agent::try_connect(addr, &id).await {
                Some((agent, _)) => conn = Some(agent),
                None => {
                    target = 1 - target;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let agent = conn.as_mut().unwrap();
        match agent.try_send(pending.clone().unwrap()).await {
            Some(up_to) => {
                assert_eq!(up_to, seq, "{id}: the ack covers the batch");
                pending = None;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            None => {
                conn = None;
                target = 1 - target;
                reconnects += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_stream_through_three_leader_kills_and_nothing_is_lost_doubled_or_redone() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "chaos").await;
    let (hook, received) = Receiver::listen(|_| 200).await;
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<_> = NAMES
        .iter()
        .map(|name| ha_config(dir.path(), name, &password, hook))
        .collect();
    let db = Path::new(&db_url);
    let store = Store::connect(&Database::parse(&db_url).unwrap().with_password(&password))
        .await
        .unwrap();
    let start = |i: usize, run: usize| {
        let args = ["--plaintext", "--config", configs[i].to_str().unwrap()];
        let log = dir.path().join(format!("{}-{run}.log", NAMES[i]));
        Collector::start_logging(db, &args, &log)
    };

    let mut collectors = vec![Some(start(0, 0))];
    wait_holder(&store, "collector A to lead", holder_is(NAMES[0])).await;
    collectors.push(Some(start(1, 0)));
    let shared = Shared::default();
    *shared.addrs.lock().unwrap() = collectors
        .iter()
        .map(|c| c.as_ref().unwrap().addr)
        .collect();
    let agents: Vec<_> = (0..AGENTS)
        .map(|i| {
            let id = format!("svc-{i:02}");
            tokio::spawn(run_agent(id, i % 2, i < FAILING, shared.clone()))
        })
        .collect();
    let failing: BTreeSet<String> = (0..FAILING).map(|i| format!("svc-{i:02}")).collect();
    let query = |collectors: &[Option<Collector>]| collectors[1].as_ref().unwrap().query;
    wait_for_gaps(query(&collectors), "the failing agents' gaps", |g| {
        g.iter()
            .map(|g| g.agent_id.clone())
            .collect::<BTreeSet<_>>()
            == failing
    })
    .await;

    // Three times: an audit through the follower, then SIGKILL the leader while it runs;
    // the other takes over; the killed one comes back under its name.
    let mut audits = Vec::new();
    for kill in 1..=3 {
        let (lease, _) = wait_holder(&store, "a leader", |_| true).await;
        let leader = NAMES.iter().position(|n| *n == lease.holder).unwrap();
        let follower = 1 - leader;
        let follower_query = collectors[follower].as_ref().unwrap().query;
        audits.push(run_audit(follower_query, "prod", 6).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let killed_at = Instant::now();
        collectors[leader].take().unwrap().kill();
        let (taken, _) =
            wait_holder(&store, "the other to take over", holder_is(NAMES[follower])).await;
        eprintln!(
            "kill {kill}: {} SIGKILLed, {} leads (term {}) {} ms later (lease 3 s)",
            NAMES[leader],
            NAMES[follower],
            taken.term,
            killed_at.elapsed().as_millis()
        );
        assert_eq!(taken.term, lease.term + 1, "a new term for the new leader");
        let restarted = start(leader, kill);
        shared.addrs.lock().unwrap()[leader] = restarted.addr;
        collectors[leader] = Some(restarted);
        // Let the agents move and stream a while before the next kill.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // Fixed: the gaps close; then the agents stop after their current batch.
    shared.fixed.store(true, Ordering::SeqCst);
    wait_for_gaps(query(&collectors), "the fixed gaps closed", |g| {
        g.is_empty()
    })
    .await;
    shared.stop.store(true, Ordering::SeqCst);
    let mut last = BTreeMap::new();
    let mut reconnects = 0;
    for (i, agent) in agents.into_iter().enumerate() {
        let (seq, moved) = agent.await.unwrap();
        last.insert(format!("svc-{i:02}"), seq);
        reconnects += moved;
    }
    eprintln!(
        "{AGENTS} agents, {} results sent, {reconnects} reconnects (with resends)",
        last.values().sum::<u64>()
    );

    // Each audit closed, once.
    for audit in &audits {
        let report = wait_closed(query(&collectors), audit).await;
        assert!(!report.servers.is_empty(), "audit {audit} ordered servers");
    }
    // Every change delivered at least once, with one event_id per change: the failing
    // agents' gaps opened and closed; each agent not answering the audits (a gap the first
    // audit reports, the next ones find again and do not); each audit closed.
    let events = received.accepted(2 * FAILING + AGENTS + audits.len()).await;
    let mut ids: BTreeMap<(String, String, String, String), BTreeSet<String>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.status == 200) {
        let field = |name: &str| e.body[name].as_str().unwrap_or_default().to_owned();
        let what = match field("event").as_str() {
            "audit_closed" => field("audit_id"),
            _ => field("check"),
        };
        ids.entry((field("event"), field("source"), field("server"), what))
            .or_default()
            .insert(field("event_id"));
    }
    let change = |event: &str, source: &str, server: &str, what: &str| {
        (event.into(), source.into(), server.into(), what.into())
    };
    let mut expected: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    for agent in &failing {
        for event in ["gap_opened", "gap_closed"] {
            expected.insert(change(event, "continuous", agent, CHECKS[0]));
        }
    }
    for agent in last.keys() {
        expected.insert(change("gap_opened", "audit", agent, ""));
    }
    for audit in &audits {
        expected.insert(change("audit_closed", "", "", audit));
    }
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the changes delivered"
    );
    for (change, ids) in &ids {
        assert_eq!(ids.len(), 1, "{change:?} has several event ids: {ids:?}");
    }
    eprintln!(
        "{} webhook deliveries for {} changes",
        events.len(),
        ids.len()
    );

    // What agents sent is stored once: each seq of each agent, once.
    for (agent, last) in &last {
        let mut seqs = Vec::new();
        for check in CHECKS {
            let history = store.history(agent, check, 100_000).await.unwrap();
            seqs.extend(history.iter().map(|r| r.seq));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=*last).collect::<Vec<_>>(), "{agent}'s seqs");
    }
    drop(collectors);
    store.close().await;
}

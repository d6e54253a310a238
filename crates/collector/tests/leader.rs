//! Two real collector processes on one real PostgreSQL (skipped with the reason without
//! `ECEPROBE_TEST_POSTGRES`, a failure under `ECEPROBE_REQUIRE_POSTGRES=1`): one leads and
//! evaluates the gaps of agents connected to either; SIGKILL the leader and the other
//! takes over within its lease, closes the gaps fixed since, and delivers their webhook
//! events; the killed one comes back as a follower; a clean stop (SIGTERM, as systemd
//! stops it) hands the lease over at once. Every event is delivered with one `event_id` per
//! change, and what agents sent is stored once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::{result, Agent, CHECKS};
use common::postgres::{fresh_schema, ha_config, holder_is, lease_of, test_postgres, wait_holder};
use common::receiver::Receiver;
use common::{msg, wait_for_gaps, Collector};
use eceprobe_collector::store::{Database, Store};
use eceprobe_proto::v1::{agent_message, AgentMessage, ResultBatch};

/// `check` of `agent`'s results from `first` on: failing (tcp_refused) or passing.
fn batch(seqs: std::ops::RangeInclusive<u64>, check: &str, failing: bool) -> AgentMessage {
    let failure = failing.then_some("tcp_refused");
    let results = seqs.map(|s| result(s, check, failure)).collect();
    msg(agent_message::Body::Batch(ResultBatch { results }))
}

/// Every other required check passing, so only `check` can be a gap.
fn all_passing(first: u64) -> AgentMessage {
    let results = CHECKS
        .iter()
        .zip(first..)
        .map(|(check, seq)| result(seq, check, None))
        .collect();
    msg(agent_message::Body::Batch(ResultBatch { results }))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_dies_the_other_collector_takes_over_and_nothing_is_lost_or_doubled() {
    let Some(url) = test_postgres() else {
        return;
    };
    let (db_url, password) = fresh_schema(&url, "leader").await;
    let (hook, received) = Receiver::listen(|_| 200).await;
    let dir = tempfile::tempdir().unwrap();
    let (config_a, config_b) = (
        ha_config(dir.path(), "mon-a", &password, hook),
        ha_config(dir.path(), "mon-b", &password, hook),
    );
    let args_a = ["--plaintext", "--config", config_a.to_str().unwrap()];
    let args_b = ["--plaintext", "--config", config_b.to_str().unwrap()];
    let db = Path::new(&db_url);
    let store = Store::connect(&Database::parse(&db_url).unwrap().with_password(&password))
        .await
        .unwrap();

    let a = Collector::start_logging(db, &args_a, &dir.path().join("a.log"));
    let (first, _) = wait_holder(&store, "collector A to lead", holder_is("mon-a")).await;
    let b = Collector::start_logging(db, &args_b, &dir.path().join("b.log"));
    // Two agents, one on each collector, each with one failing check.
    let (mut svc1, _) = Agent::connect(a.addr, "svc-1").await;
    let (mut svc2, _) = Agent::connect(b.addr, "svc-2").await;
    assert_eq!(
        svc1.send_expect_ack(all_passing(1)).await,
        CHECKS.len() as u64
    );
    assert_eq!(
        svc2.send_expect_ack(all_passing(1)).await,
        CHECKS.len() as u64
    );
    let n = CHECKS.len() as u64;
    svc1.send_expect_ack(batch(n + 1..=n + 1, CHECKS[0], true))
        .await;
    svc2.send_expect_ack(batch(n + 1..=n + 1, CHECKS[1], true))
        .await;
    // A evaluates the results B stored too; B's Query API shows what A recorded.
    wait_for_gaps(b.query, "both agents' gaps, seen through B", |g| {
        g.iter().any(|g| g.agent_id == "svc-1") && g.iter().any(|g| g.agent_id == "svc-2")
    })
    .await;
    let lease = lease_of(&store).await.unwrap();
    assert_eq!(
        (lease.holder.as_str(), lease.term),
        (first.holder.as_str(), first.term),
        "B started as a follower: A kept the lease"
    );
    received.accepted(2).await;

    // SIGKILL the leader: no release, so B waits for the lease to expire.
    drop(svc1);
    let killed_at = Instant::now();
    a.kill();
    let (taken, waited) = wait_holder(&store, "collector B to take over", holder_is("mon-b")).await;
    let takeover = killed_at.elapsed();
    eprintln!(
        "takeover after SIGKILL: {} ms (lease 3 s; seen {} ms after the first poll)",
        takeover.as_millis(),
        waited.as_millis()
    );
    assert_eq!(taken.term, first.term + 1, "a new term for the new leader");
    // Fixed on both agents (svc-1 now through B): B evaluates, the gaps close.
    let (mut svc1, last) = Agent::connect(b.addr, "svc-1").await;
    assert_eq!(
        last,
        n + 1,
        "svc-1's results reached the database through A"
    );
    svc1.send_expect_ack(batch(n + 2..=n + 2, CHECKS[0], false))
        .await;
    svc2.send_expect_ack(batch(n + 2..=n + 2, CHECKS[1], false))
        .await;
    wait_for_gaps(b.query, "the fixed gaps closed by B", |g| g.is_empty()).await;
    // Two opened (by A), two closed (by B): each delivered, one event_id per change.
    let events = received.accepted(4).await;
    let mut ids: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for e in &events {
        let key = (
            e.body["event"].as_str().unwrap_or_default().to_owned(),
            e.body["server"].as_str().unwrap_or_default().to_owned(),
            e.body["check"].as_str().unwrap_or_default().to_owned(),
        );
        ids.entry(key)
            .or_default()
            .push(e.body["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 4, "two gaps opened and closed: {ids:#?}");
    for (change, ids) in &ids {
        let first = &ids[0];
        assert!(
            ids.iter().all(|id| id == first),
            "{change:?} has two event ids: {ids:?}"
        );
    }

    // A comes back: B keeps the lease; A serves as a follower.
    let a = Collector::start_logging(db, &args_a, &dir.path().join("a2.log"));
    let (mut svc3, _) = Agent::connect(a.addr, "svc-3").await;
    svc3.send_expect_ack(all_passing(1)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lease = lease_of(&store).await.unwrap();
    assert!(
        holder_is("mon-b")(&lease.holder),
        "B still leads: {lease:?}"
    );
    // A clean stop of the leader hands the lease over at once (no wait for the expiry).
    let mut b = b;
    b.terminate();
    assert!(b.exited("SIGTERM").success(), "a clean stop");
    let after_stop = lease_of(&store).await.unwrap();
    assert!(
        !holder_is("mon-b")(&after_stop.holder) || !after_stop.is_current(),
        "B released its lease at its stop instead of leaving it to expire: {after_stop:?}"
    );
    let (handed, _) = wait_holder(&store, "A to lead after B stopped", holder_is("mon-a")).await;
    assert_eq!(handed.term, taken.term + 1);

    // Everything acked is stored once: history holds each seq of each agent once.
    for (agent, last) in [("svc-1", n + 2), ("svc-2", n + 2), ("svc-3", n)] {
        let mut seqs = Vec::new();
        for check in CHECKS {
            let history = store.history(agent, check, 10_000).await.unwrap();
            seqs.extend(history.iter().map(|r| r.seq));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "{agent}");
    }
    drop(a);
    store.close().await;
}

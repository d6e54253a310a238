//! The webhook outbox shared by two collectors on one database: each queues its events
//! there, only the leader delivers (every collector's events), and both show the same
//! pending, delivered and dead-lettered counts, read from the database. A follower's
//! drain at shutdown takes and waits for nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::receiver::Receiver;
use eceprobe_collector::leader::{Leadership, Role};
use eceprobe_collector::notify::{webhook_url, Notifier, WebhookConfig, WebhookStats};
use eceprobe_collector::store::{FoundGap, Store};

fn gap(agent: &str) -> FoundGap {
    FoundGap {
        agent_id: agent.to_owned(),
        check: "imap".to_owned(),
        kind: "failing".to_owned(),
        severity: "gap".to_owned(),
        deployment: "prod".to_owned(),
        detail: "tcp_refused".to_owned(),
    }
}

fn counts(stats: &[WebhookStats]) -> (u64, u64, u64) {
    assert_eq!(stats.len(), 1, "{stats:?}");
    (stats[0].pending, stats[0].delivered, stats[0].dead_letters)
}

#[tokio::test(flavor = "multi_thread")]
async fn both_collectors_show_the_outboxs_counts_and_the_leader_delivers_every_collectors_events() {
    // The first event is accepted, the second refused for good (a dead letter).
    let (hook, receiver) = Receiver::listen(|n| if n == 0 { 200 } else { 404 }).await;
    let config = WebhookConfig::new(webhook_url(&format!("http://{hook}/events")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eceprobe.db");
    let (a, b) = (
        Store::open(&path).await.unwrap(),
        Store::open(&path).await.unwrap(),
    );
    let (lead_a, leadership_a) = Leadership::published("a", Duration::from_secs(10));
    let (lead_b, leadership_b) = Leadership::published("b", Duration::from_secs(10));
    for role in [&lead_a, &lead_b] {
        role.send_replace(Role::Following {
            leader: "c".into(),
            term: 1,
        });
    }
    let notifier_a = Notifier::start_led(std::slice::from_ref(&config), &a, leadership_a)
        .await
        .unwrap();
    let notifier_b = Notifier::start_led(std::slice::from_ref(&config), &b, leadership_b)
        .await
        .unwrap();

    // Each collector queues one event while a third one (gone) leads.
    let opened = a.reconcile_gaps(vec![gap("svc-1")], 1_000).await.unwrap();
    notifier_a.gap_changes(&opened, 1_000).await;
    let opened = b
        .reconcile_gaps(vec![gap("svc-1"), gap("svc-2")], 2_000)
        .await
        .unwrap();
    notifier_b.gap_changes(&opened, 2_000).await;
    assert_eq!(counts(&notifier_a.stats().await), (2, 0, 0));
    assert_eq!(counts(&notifier_b.stats().await), (2, 0, 0));

    // A follower's drain neither waits for nor takes any event: both stay for the leader.
    notifier_a.drain(Duration::from_secs(30)).await;
    assert_eq!(counts(&notifier_b.stats().await), (2, 0, 0));
    assert!(receiver.requests().is_empty());

    // B comes to lead: it delivers A's event and its own.
    lead_b.send_replace(Role::Leading { term: 2 });
    let until = Instant::now() + Duration::from_secs(20);
    while counts(&notifier_a.stats().await) != (0, 1, 1) {
        assert!(
            Instant::now() < until,
            "A never saw B's deliveries: {:?}",
            notifier_a.stats().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counts(&notifier_b.stats().await), (0, 1, 1));
    let bodies: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.body["server"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        bodies,
        ["svc-1", "svc-2"],
        "A's event, then B's, in queue order"
    );
    notifier_b.drain(Duration::from_secs(5)).await;
    a.close().await;
    b.close().await;
}

//! Scheduled audits: the collector in-process (so the test holds the schedule's clock),
//! simulated agents over real gRPC. The schedule fires on a [`ManualClock`]; the audit it
//! starts keeps its deadline on the real clock, as every audit does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::schedule::{Clock, ManualClock, Schedule, ScheduleSpec};
use eceprobe_collector::server::{Bound, ServeOptions};
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{Audit, ListAuditsRequest};
use jiff::Timestamp;

use common::agent::{failing, SimAgent};
use common::{get_audit, ConnectTo};

async fn audits(query: SocketAddr) -> Vec<Audit> {
    QueryClient::connect_to(query)
        .await
        .list_audits(ListAuditsRequest {
            deployment: String::new(),
            limit: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .audits
}

/// Polls until `done` holds (or fails after 20 s).
async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_audit_fires_on_time_reaches_every_agent_and_flags_the_silent_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    let tracker = Tracker::new(store.clone(), Policy::default());
    let bound = Bound::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let (addr, query) = (bound.agents_addr().unwrap(), bound.query_addr().unwrap());
    // Mondays at 07:00 in Madrid: Monday 30 November 2026, 07:00 CET, is 06:00 UTC.
    let schedule = Schedule::from_spec(ScheduleSpec {
        name: "monday".into(),
        cron: "0 7 * * MON".into(),
        time_zone: "Europe/Madrid".into(),
        deployment: "prod".into(),
        deadline_s: 3,
    })
    .unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-11-30T05:00:00Z")));
    let options = ServeOptions {
        schedules: vec![schedule],
        clock: clock.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(bound.serve_with(
        store.clone(),
        IngestLimits::default(),
        tracker,
        options,
        async move {
            let _ = stopped.await;
        },
    ));

    let svc1 = SimAgent::answering(addr, "svc-1", "prod", failing(&[])).await;
    let svc2 = SimAgent::answering(addr, "svc-2", "prod", failing(&[])).await;
    let silent = SimAgent::silent(addr, "svc-3", "prod").await;
    let lab = SimAgent::answering(addr, "lab-1", "lab", failing(&[])).await;
    // The scheduler has read the clock and sleeps until the slot.
    wait_until("the scheduler sleeps", || async { clock.sleepers() == 1 }).await;

    clock.set(at("2026-11-30T05:59:59Z"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(audits(query).await.is_empty(), "a second early");
    assert_eq!(svc1.orders.load(Ordering::SeqCst), 0);

    clock.advance(Duration::from_secs(2));
    let started = Instant::now();
    wait_until("the audit starts", || async {
        !audits(query).await.is_empty()
    })
    .await;
    let audit = audits(query).await.remove(0);
    assert_eq!(audit.deployment, "prod");
    assert_eq!(audit.deadline_unix_ms - audit.started_unix_ms, 3000);
    let id = audit.audit_id;
    wait_until("the audit closes", || async {
        get_audit(query, &id).await.audit.unwrap().state == "closed"
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "closed at its deadline, not before: {:?}",
        started.elapsed()
    );

    for (agent, orders) in [(&svc1, 1), (&svc2, 1), (&silent, 1), (&lab, 0)] {
        assert_eq!(agent.orders.load(Ordering::SeqCst), orders);
    }
    let report = get_audit(query, &id).await;
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.closed_unix_ms >= audit.deadline_unix_ms, "{audit:?}");
    assert_eq!((audit.servers, audit.ordered, audit.answered), (3, 3, 2));
    let state: Vec<(&str, bool, bool, usize)> = report
        .servers
        .iter()
        .map(|s| {
            let answered = s.answered_unix_ms > 0;
            (s.agent_id.as_str(), s.ordered, answered, s.verdicts.len())
        })
        .collect();
    assert_eq!(
        state,
        [
            ("svc-1", true, true, 5),
            ("svc-2", true, true, 5),
            ("svc-3", true, false, 0)
        ]
    );
    assert!(report.servers[..2]
        .iter()
        .all(|s| s.verdicts.iter().all(|v| v.outcome == "pass")));
    let gaps: Vec<(&str, &str)> = report
        .gaps
        .iter()
        .map(|g| (g.agent_id.as_str(), g.kind.as_str()))
        .collect();
    assert_eq!(gaps, [("svc-3", "not_answered")]);

    // Down (asleep) for three weeks: one audit for the late slot, no catching up on the
    // others, then the next Monday in the future.
    wait_until("the scheduler sleeps again", || async {
        clock.sleepers() == 1
    })
    .await;
    clock.set(at("2026-12-21T06:00:01Z"));
    wait_until("the late slot fires", || async {
        audits(query).await.len() == 2
    })
    .await;
    wait_until("the scheduler sleeps again", || async {
        clock.sleepers() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        audits(query).await.len(),
        2,
        "missed slots are not caught up"
    );
    assert_eq!(svc1.orders.load(Ordering::SeqCst), 2);
    assert!(clock.now() < at("2026-12-28T06:00:00Z"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("shutdown")
        .unwrap()
        .unwrap();
    store.close().await;
}

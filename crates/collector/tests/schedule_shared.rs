//! Scheduled audits across collectors sharing one database (issue 18): each slot starts
//! one audit, whoever leads, through a takeover too; a slot no collector led at is fired
//! late by the one that comes to lead within the catch-up window, never after it.
//!
//! Two collectors in-process, each with its own store handle on one database (a SQLite
//! file; also a PostgreSQL schema when `ECEPROBE_TEST_POSTGRES` is set), its own schedule
//! loop and its own leadership, published by the test with the lease taken in the
//! database as an elector would, so each step of a takeover happens when the test says.
//! The slots fire on a shared [`ManualClock`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eceprobe_collector::audits::Audits;
use eceprobe_collector::gaps::Policy;
use eceprobe_collector::ingest::Sessions;
use eceprobe_collector::leader::{Leadership, Role, LEASE};
use eceprobe_collector::schedule::{self, ManualClock, Schedule, ScheduleSpec};
use eceprobe_collector::store::{Database, ScheduleSlot, Store};
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
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

/// Lets the loops act on what the test just did (the outcome is checked afterwards,
/// whatever the time it took).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The databases the tests run on: a SQLite file, and a PostgreSQL schema when one is
/// given. The directory keeps the file.
async fn databases(name: &str) -> Vec<(Database, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![(Database::Sqlite(dir.path().join("eceprobe.db")), Some(dir))];
    if let Some(url) = common::postgres::test_postgres() {
        let (db_url, password) = common::postgres::fresh_schema(&url, name).await;
        out.push((
            Database::parse(&db_url).unwrap().with_password(&password),
            None,
        ));
    }
    out
}

fn daily() -> Schedule {
    Schedule::from_spec(ScheduleSpec {
        name: "daily".into(),
        cron: "0 6 * * *".into(),
        time_zone: "UTC".into(),
        deployment: String::new(),
        deadline_s: 1,
    })
    .unwrap()
}

/// One collector: its store handle, the role the test publishes, its schedule loop.
struct Collector {
    store: Store,
    role: watch::Sender<Role>,
    loops: JoinHandle<()>,
}

async fn collector(database: &Database, name: &str, clock: &Arc<ManualClock>) -> Collector {
    let store = Store::connect(database).await.unwrap();
    let (role, leadership) = Leadership::published(name, Duration::from_secs(10));
    let audits = Audits::new(store.clone(), Sessions::new(), Arc::new(Policy::default()));
    let loops = tokio::spawn(schedule::run(
        vec![daily()],
        audits,
        store.clone(),
        clock.clone(),
        leadership,
    ));
    Collector { store, role, loops }
}

async fn slots(store: &Store) -> Vec<ScheduleSlot> {
    store.schedule_slots("daily", 0, 100).await.unwrap()
}

async fn audit_ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = store
        .audits(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.audit_id)
        .collect();
    ids.sort();
    ids
}

/// Waits until `n` slots are recorded, each with the audit it started.
async fn wait_for_started(store: &Store, n: usize) {
    wait_until(&format!("{n} slots started"), || async {
        let slots = slots(store).await;
        slots.len() == n && slots.iter().all(|s| !s.audit_id.is_empty())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_collectors_that_both_believe_they_lead_start_a_slot_once() {
    for (database, _dir) in databases("boundary").await {
        let clock = Arc::new(ManualClock::new(at("2026-11-30T05:00:00Z")));
        let a = collector(&database, "a", &clock).await;
        let b = collector(&database, "b", &clock).await;
        // The takeover boundary: A's lease ran out and B took term 2, but A has not
        // noticed yet (its next renewal is due), so both act as leader at the slot.
        a.store.take_lease(LEASE, "a", "p-a", 1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let taken = b.store.take_lease(LEASE, "b", "p-b", 60_000).await.unwrap();
        assert_eq!((taken.holder.as_str(), taken.term), ("b", 2));
        a.role.send_replace(Role::Leading { term: 1 });
        b.role.send_replace(Role::Leading { term: 2 });
        wait_until("both schedulers sleep", || async { clock.sleepers() == 2 }).await;

        clock.set(at("2026-11-30T06:00:01Z"));
        wait_for_started(&a.store, 1).await;
        settle().await;
        let fired = slots(&a.store).await;
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(
            fired[0].collector, "b",
            "only the lease's holder at its term fires"
        );
        assert_eq!(
            audit_ids(&a.store).await,
            [fired[0].audit_id.clone()],
            "one audit"
        );

        for c in [a, b] {
            c.loops.abort();
            c.store.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slot_no_collector_led_at_is_fired_by_the_next_leader_within_the_window_only() {
    for (database, _dir) in databases("catch_up").await {
        let clock = Arc::new(ManualClock::new(at("2026-11-30T05:00:00Z")));
        let a = collector(&database, "a", &clock).await;
        let b = collector(&database, "b", &clock).await;
        let lease = a.store.take_lease(LEASE, "a", "p-a", 60_000).await.unwrap();
        a.role.send_replace(Role::Leading { term: lease.term });
        b.role.send_replace(Role::Following {
            leader: "a".into(),
            term: lease.term,
        });
        wait_until("both schedulers sleep", || async { clock.sleepers() == 2 }).await;

        // Day 1: A leads at the slot and fires it; B, following, keeps it in mind.
        clock.set(at("2026-11-30T06:00:01Z"));
        wait_for_started(&a.store, 1).await;
        settle().await;

        // A dies right after; B takes over within the window: the slot is recorded, so B
        // does not start it again.
        a.loops.abort();
        assert!(a.store.release_lease(LEASE, "a", "p-a").await.unwrap());
        let taken = b.store.take_lease(LEASE, "b", "p-b", 60_000).await.unwrap();
        assert_eq!(taken.holder, "b");
        clock.set(at("2026-11-30T06:00:30Z"));
        b.role.send_replace(Role::Leading { term: taken.term });
        settle().await;
        assert_eq!(
            audit_ids(&b.store).await.len(),
            1,
            "the slot A fired is not fired again"
        );

        // Day 2: no collector leads at the slot (B lost the lease for a moment); B leads
        // again 40 s later and fires the slot late.
        b.role.send_replace(Role::Unknown);
        settle().await;
        clock.set(at("2026-12-01T06:00:01Z"));
        settle().await;
        assert_eq!(slots(&b.store).await.len(), 1, "nobody led at the slot");
        clock.set(at("2026-12-01T06:00:40Z"));
        b.role.send_replace(Role::Leading { term: taken.term });
        wait_for_started(&b.store, 2).await;
        let fired = slots(&b.store).await;
        assert_eq!(
            (fired[1].slot_unix_ms, fired[1].collector.as_str()),
            (at("2026-12-01T06:00:00Z").as_millisecond(), "b")
        );
        assert_eq!(audit_ids(&b.store).await.len(), 2);

        // Day 3: B comes to lead only 2.5 minutes after the slot, past the window (two
        // minutes; twice a 10 s lease is less): the slot is not fired.
        b.role.send_replace(Role::Unknown);
        settle().await;
        clock.set(at("2026-12-02T06:00:01Z"));
        settle().await;
        clock.set(at("2026-12-02T06:02:30Z"));
        b.role.send_replace(Role::Leading { term: taken.term });
        settle().await;
        assert_eq!(
            slots(&b.store).await.len(),
            2,
            "a slot older than the window stays missed"
        );
        assert_eq!(audit_ids(&b.store).await.len(), 2);

        // Day 4: leading at the slot, B fires it on time.
        clock.set(at("2026-12-03T06:00:01Z"));
        wait_for_started(&b.store, 3).await;

        b.loops.abort();
        a.store.close().await;
        b.store.close().await;
    }
}

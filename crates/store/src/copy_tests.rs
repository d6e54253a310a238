//! The copy from a real SQLite file into a real PostgreSQL (`ECEPROBE_TEST_POSTGRES`; each
//! test says why it is skipped without one): what a user reads from the store is the same
//! on both sides afterwards, an interrupted copy finishes without doubling anything, and a
//! target or a source that is not right is refused with the reason.

use std::path::{Path, PathBuf};

use super::engines::{fresh_postgres_schema, test_postgres};
use super::tests::{agent, result};
use super::*;

pub(super) const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const AGENTS: [&str; 3] = ["app-1", "app-2", "web-1"];
const CHECKS: [&str; 3] = ["imap", "smtp", "graph"];

/// A result every half hour, with stage durations, so the latency tables fill too.
pub(super) fn timed(seq: u64, check: &str, outcome: &str) -> NewResult {
    NewResult {
        started_unix_ms: T0 + i64::try_from(seq).unwrap_or(0) * HOUR / 2,
        stage_durations: vec![("dns".to_owned(), 1_000 + seq), ("tcp".to_owned(), 2_000)],
        ..result(seq, check, outcome)
    }
}

fn gap(agent_id: &str, check: &str) -> FoundGap {
    FoundGap {
        agent_id: agent_id.to_owned(),
        check: check.to_owned(),
        kind: "tcp_refused".to_owned(),
        severity: "gap".to_owned(),
        deployment: "prod".to_owned(),
        detail: format!("tcp_refused {check} on {agent_id}"),
    }
}

/// A SQLite store filled as a collector fills it: agents with results and latency, set-aside
/// results, gaps opened and closed, a closed audit, queued webhook events, collector runs,
/// a retired agent, a revoked certificate, the leader's lease, a collector's liveness and
/// an agent's connection (stale once copied: they count only while that collector is seen),
/// a delivered webhook event and a scheduled slot fired.
pub(super) async fn filled_sqlite(dir: &Path) -> PathBuf {
    let path = dir.join("eceprobe.db");
    let store = Store::open(&path).await.expect("open sqlite");
    for (n, id) in AGENTS.iter().enumerate() {
        store
            .upsert_agent(&agent(id, T0 + n as i64))
            .await
            .expect("agent");
        let results = (1..=12u64)
            .map(|seq| {
                let check = CHECKS[seq as usize % CHECKS.len()];
                let outcome = if seq % 5 == 0 { "fail" } else { "pass" };
                timed(seq, check, outcome)
            })
            .collect();
        store
            .insert_results(id, results, T0 + 10 * HOUR)
            .await
            .expect("results");
    }
    let set_aside = vec![SetAside {
        seq: 13,
        reason: "an unknown check".to_owned(),
        summary: "check x, pass".to_owned(),
    }];
    store
        .insert_batch("app-2", Vec::new(), set_aside, T0 + 11 * HOUR)
        .await
        .expect("set aside");
    let run = store.begin_collector_run(T0).await.expect("run");
    store.collector_alive(run, T0 + HOUR).await.expect("alive");
    store
        .reconcile_gaps(vec![gap("app-1", "imap"), gap("app-2", "smtp")], T0 + HOUR)
        .await
        .expect("gaps");
    store
        .reconcile_gaps(vec![gap("app-2", "smtp")], T0 + 2 * HOUR)
        .await
        .expect("gap closes");
    let audit = AuditRecord {
        audit_id: "audit-1".to_owned(),
        deployment: "prod".to_owned(),
        started_unix_ms: T0 + 3 * HOUR,
        deadline_unix_ms: T0 + 3 * HOUR + 1_000,
        closed_unix_ms: None,
        policy: "retriever = \"imap\"\n".to_owned(),
    };
    let servers = AGENTS
        .iter()
        .map(|a| AuditServerRecord {
            agent_id: (*a).to_owned(),
            ordered: *a != "web-1",
            answered_unix_ms: None,
        })
        .collect();
    store.create_audit(audit, servers).await.expect("audit");
    store
        .mark_audit_answered("audit-1", "app-1", T0 + 3 * HOUR + 10)
        .await
        .expect("answered");
    store
        .close_audit("audit-1", T0 + 3 * HOUR + 1_000)
        .await
        .expect("closed");
    let events = (1..=3)
        .map(|n| OutboxEvent {
            event_id: format!("event-{n}"),
            kind: "gap_opened".to_owned(),
            body: format!("{{\"n\":{n}}}"),
        })
        .collect();
    let hooks = ["hook-a".to_owned(), "hook-b".to_owned()];
    store
        .outbox_enqueue(&hooks, events, T0 + 4 * HOUR, 100)
        .await
        .expect("outbox");
    let first = store
        .outbox_due("hook-b", T0 + 4 * HOUR, 1)
        .await
        .expect("due")
        .remove(0);
    store
        .outbox_delivered(first.outbox_id)
        .await
        .expect("delivered");
    store
        .claim_schedule_slot("monday", T0 + 6 * HOUR, "collector-a", T0 + 6 * HOUR, None)
        .await
        .expect("slot");
    store
        .schedule_slot_started("monday", T0 + 6 * HOUR, "audit-1")
        .await
        .expect("slot's audit");
    store
        .retire_agent("web-1", T0 + 5 * HOUR)
        .await
        .expect("retire");
    store
        .record_revocations(vec![Revocation {
            sha256: "ab".repeat(32),
            agent_id: "web-1".to_owned(),
            revoked_unix_ms: T0 + 5 * HOUR,
        }])
        .await
        .expect("revocation");
    store
        .take_lease("leader", "collector-a", "instance-1", 10_000)
        .await
        .expect("lease");
    store
        .collector_started("collector-a", "instance-1")
        .await
        .expect("liveness");
    store
        .agent_connected(AGENTS[0], "instance-1", 1)
        .await
        .expect("connection");
    super::join_tokens::tests::fill(&store).await;
    store.close().await;
    path
}

/// What a user reads from a store (the dashboard, the Query API, the webhooks), compared
/// between the two stores.
async fn assert_same_answers(sqlite: &Store, postgres: &Store) {
    macro_rules! same {
        (|$s:ident| $e:expr) => {{
            let a = {
                let $s = sqlite;
                $e.await.unwrap()
            };
            let b = {
                let $s = postgres;
                $e.await.unwrap()
            };
            assert_eq!(a, b, "{}", stringify!($e));
        }};
    }
    let ids: Vec<String> = AGENTS.iter().map(|a| (*a).to_owned()).collect();
    same!(|s| s.agents());
    same!(|s| s.latest_states());
    same!(|s| s.awake_spans());
    same!(|s| s.outbox_pending(None));
    same!(|s| s.outbox_due("hook-a", T0 + 5 * HOUR, 100));
    same!(|s| s.audits(None, 10));
    same!(|s| s.audit_servers("audit-1"));
    same!(|s| s.audit_results("audit-1"));
    same!(|s| s.timings(&ids, 10));
    same!(|s| s.revocations());
    same!(|s| s.connections(i64::MAX));
    same!(|s| s.outbox_counts());
    same!(|s| s.schedule_slots("monday", 0, 10));
    let token = super::join_tokens::tests::comparable;
    assert_eq!(
        sqlite.join_tokens().await.map(token).unwrap(),
        postgres.join_tokens().await.map(token).unwrap()
    );
    let lease = |l: Option<Lease>| l.map(|l| (l.holder, l.instance, l.term, l.expires_unix_ms));
    assert_eq!(
        sqlite.lease("leader").await.map(lease).unwrap(),
        postgres.lease("leader").await.map(lease).unwrap()
    );
    for open_only in [true, false] {
        let filter = GapFilter {
            open_only,
            limit: 100,
            ..GapFilter::default()
        };
        same!(|s| s.gaps(&filter));
    }
    for id in &ids {
        same!(|s| s.latest(id));
        same!(|s| s.quarantine(id));
        same!(|s| s.retired_since(id));
        same!(|s| s.last_seq(id));
        for check in CHECKS {
            same!(|s| s.history(id, check, 100));
        }
    }
}

#[tokio::test]
async fn a_sqlite_store_copied_to_postgres_answers_the_same_and_takes_new_writes() {
    if test_postgres().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = filled_sqlite(dir.path()).await;
    let target = fresh_postgres_schema().await;
    let report = copy_sqlite_to_postgres(&path, &target, &CopyOptions::default())
        .await
        .expect("copy");
    assert!(report.matches(), "{report:?}");
    let url = url::Url::parse(&test_postgres().unwrap()).unwrap();
    if let Some(password) = url.password() {
        assert!(!format!("{report:?}").contains(password), "{report:?}");
    }
    let empty: Vec<&str> = report
        .tables
        .iter()
        .filter(|t| t.source_rows == 0)
        .map(|t| t.table.as_str())
        .collect();
    assert!(empty.is_empty(), "tables the fill left empty: {empty:?}");
    assert!(
        report.tables.iter().all(|t| t.copied_now == t.source_rows),
        "{report:?}"
    );

    let sqlite = Store::open(&path).await.expect("reopen sqlite");
    let postgres = Store::connect(&target).await.expect("open postgres");
    assert_same_answers(&sqlite, &postgres).await;

    // The identity sequences moved past the copied ids: new rows get new ids.
    let before = postgres
        .gaps(&GapFilter {
            limit: 100,
            ..GapFilter::default()
        })
        .await
        .unwrap();
    let highest = before.iter().map(|g| g.gap_id).max().unwrap();
    postgres
        .reconcile_gaps(
            vec![gap("app-2", "smtp"), gap("app-1", "graph")],
            T0 + 6 * HOUR,
        )
        .await
        .expect("a new gap on the copy");
    let after = postgres
        .gaps(&GapFilter {
            open_only: true,
            limit: 100,
            ..GapFilter::default()
        })
        .await
        .unwrap();
    assert!(after.iter().any(|g| g.gap_id > highest), "{after:?}");
    let queued = postgres
        .outbox_enqueue(
            &["hook-a".to_owned()],
            vec![OutboxEvent {
                event_id: "event-new".to_owned(),
                kind: "gap_opened".to_owned(),
                body: "{}".to_owned(),
            }],
            T0 + 6 * HOUR,
            100,
        )
        .await
        .expect("a new event on the copy");
    assert_eq!(queued[0].inserted, 1, "{queued:?}");
    postgres
        .begin_collector_run(T0 + 7 * HOUR)
        .await
        .expect("a new run");
    sqlite.close().await;
    postgres.close().await;

    // Run again on a finished copy: nothing is copied, everything still matches.
    let again = copy_sqlite_to_postgres(&path, &target, &CopyOptions::default()).await;
    let err = again
        .expect_err("the target now holds the collector's new rows")
        .to_string();
    assert!(err.contains("did not come from this file"), "{err}");
}

#[tokio::test]
async fn an_interrupted_copy_run_again_finishes_without_doubling_anything() {
    if test_postgres().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = filled_sqlite(dir.path()).await;
    let target = fresh_postgres_schema().await;
    // Stopped twice in the middle of tables (3-row chunks, 7 and then 11 rows), as Ctrl-C
    // or a lost connection leave it: whole chunks committed, the rest not.
    for budget in [7, 11] {
        let options = CopyOptions {
            chunk_rows: 3,
            row_budget: Some(budget),
        };
        let report = copy_sqlite_to_postgres(&path, &target, &options)
            .await
            .expect("a partial copy");
        assert!(report.stopped_early && !report.matches(), "{report:?}");
        let copied: u64 = report.tables.iter().map(|t| t.copied_now).sum();
        assert!(
            (budget..budget + 3).contains(&copied),
            "{copied}: {report:?}"
        );
    }
    let options = CopyOptions {
        chunk_rows: 3,
        row_budget: None,
    };
    let report = copy_sqlite_to_postgres(&path, &target, &options)
        .await
        .expect("the rest");
    assert!(report.matches(), "{report:?}");
    let total: u64 = report.tables.iter().map(|t| t.source_rows).sum();
    let now: u64 = report.tables.iter().map(|t| t.copied_now).sum();
    assert!(
        now < total,
        "the third run copied only what was missing: {report:?}"
    );
    // Once more: everything is there, nothing is copied.
    let report = copy_sqlite_to_postgres(&path, &target, &options)
        .await
        .expect("a finished copy again");
    assert!(report.matches(), "{report:?}");
    assert!(
        report.tables.iter().all(|t| t.copied_now == 0),
        "{report:?}"
    );

    let sqlite = Store::open(&path).await.expect("reopen sqlite");
    let postgres = Store::connect(&target).await.expect("open postgres");
    assert_same_answers(&sqlite, &postgres).await;
    sqlite.close().await;
    postgres.close().await;
}

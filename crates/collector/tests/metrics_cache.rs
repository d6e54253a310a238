//! /metrics between gap evaluations, over real HTTP from the dashboard serving a real SQLite
//! file: the fleet-sized part is the last evaluation's, rendered once and served to every
//! scrape until the next evaluation (issue 20). Results stored meanwhile change nothing in
//! it; the next evaluation does: the check that went down shows `eceprobe_check_up 0`, its
//! gap is counted, and the timestamp says which evaluation is shown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::dashboard::{get, Resp, TOKEN};
use eceprobe_collector::audits::Audits;
use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::{IngestCounters, Sessions};
use eceprobe_collector::store::{AgentRecord, NewResult, Store};
use eceprobe_collector::web::{self, WebState};

const T0: i64 = 1_800_000_000_000;

/// The dashboard on loopback serving `store`, with `tracker` evaluated by the test.
async fn serve(store: Store, tracker: Tracker) -> SocketAddr {
    let sessions = Sessions::new();
    let audits = Audits::new(store.clone(), sessions.clone(), tracker.policy());
    let state = WebState {
        store,
        tracker,
        sessions,
        audits,
        token: Arc::new(TOKEN.to_owned()),
        counters: Arc::new(IngestCounters::new()),
    };
    let listener = web::bind(Some("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(web::serve(listener, state, std::future::pending()));
    addr
}

fn result(seq: u64, check: &str, outcome: &str, at: i64) -> NewResult {
    NewResult {
        seq,
        check: check.to_owned(),
        started_unix_ms: at,
        outcome: outcome.to_owned(),
        failure_kind: (outcome == "fail").then(|| "tcp_refused".to_owned()),
        failure_stage: (outcome == "fail").then(|| "tcp".to_owned()),
        // A failure takes longer: the detail's last duration shows which result it read.
        duration_us: if outcome == "fail" {
            3_000_000
        } else {
            250_000
        },
        warning_kinds: Vec::new(),
        stage_durations: vec![("tcp".to_owned(), 1_000)],
        system_dns: None,
        detail: Vec::new(),
        audit_id: String::new(),
    }
}

/// A scrape that succeeded, with a Content-Length that is its body's.
async fn scrape(addr: SocketAddr, path: &str) -> Resp {
    let r = get(addr, path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str()),
        "{path}"
    );
    r
}

fn has(body: &str, line: &str) -> bool {
    body.lines().any(|l| l == line)
}

#[tokio::test(flavor = "multi_thread")]
async fn scrapes_between_evaluations_serve_the_last_evaluation_and_the_next_one_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    for (id, deployment) in [("app-1", "prod"), ("svc-1", "lab")] {
        store
            .upsert_agent(&AgentRecord {
                deployment: deployment.to_owned(),
                seen_unix_ms: T0,
                ..common::records::agent_record(id)
            })
            .await
            .unwrap();
        store
            .insert_results(
                id,
                vec![result(1, "imap", "pass", T0), result(2, "smtp", "pass", T0)],
                T0,
            )
            .await
            .unwrap();
    }
    let tracker = Tracker::new(store.clone(), Policy::default());
    tracker.evaluate_at(T0 + 1_000).await.unwrap();
    let addr = serve(store.clone(), tracker.clone()).await;

    let first = scrape(addr, "/metrics").await.body;
    let up = r#"eceprobe_check_up{server="app-1",check="imap"} 1"#;
    let down = r#"eceprobe_check_up{server="app-1",check="imap"} 0"#;
    let gap = r#"eceprobe_open_gaps{deployment="prod",severity="gap",kind="failing",cause="tcp_refused",owner="network"} 1"#;
    assert!(has(&first, up), "{first}");
    assert!(has(
        &first,
        "eceprobe_gap_evaluation_timestamp_seconds 1800000001"
    ));
    assert!(!has(&first, gap), "{first}");
    let first_detail = scrape(addr, "/metrics/detail").await.body;
    assert!(
        first_detail.starts_with(&first),
        "the detail extends the default"
    );

    assert!(has(&first, r#"eceprobe_agents_known{deployment="prod"} 1"#));
    assert!(has(
        &first_detail,
        r#"eceprobe_check_last_duration_seconds{server="app-1",check="imap"} 0.25"#
    ));

    // The check goes down and a server joins; until the next evaluation every scrape is
    // the same body, the last evaluation's (the new result and server are stored, not
    // evaluated).
    store
        .insert_results(
            "app-1",
            vec![result(3, "imap", "fail", T0 + 60_000)],
            T0 + 60_000,
        )
        .await
        .unwrap();
    store
        .upsert_agent(&AgentRecord {
            deployment: "prod".to_owned(),
            seen_unix_ms: T0 + 60_000,
            ..common::records::agent_record("app-2")
        })
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(scrape(addr, "/metrics").await.body, first);
        assert_eq!(scrape(addr, "/metrics/detail").await.body, first_detail);
    }

    // The next evaluation: the check is down, its gap counted, the timestamp moved on.
    tracker.evaluate_at(T0 + 61_000).await.unwrap();
    let next = scrape(addr, "/metrics").await.body;
    assert_ne!(next, first);
    assert!(has(&next, down), "{next}");
    assert!(!has(&next, up), "{next}");
    assert!(has(&next, gap), "{next}");
    assert!(has(
        &next,
        "eceprobe_gap_evaluation_timestamp_seconds 1800000061"
    ));
    assert!(has(&next, r#"eceprobe_agents_known{deployment="prod"} 2"#));
    // The other server's lines are unchanged.
    for line in first.lines().filter(|l| l.contains("svc-1")) {
        assert!(has(&next, line), "{line} in:\n{next}");
    }
    let next_detail = scrape(addr, "/metrics/detail").await.body;
    assert!(next_detail.starts_with(&next));
    for line in [
        r#"eceprobe_check_last_success_timestamp_seconds{server="app-1",check="imap"} 1800000000"#,
        r#"eceprobe_check_last_duration_seconds{server="app-1",check="imap"} 3"#,
    ] {
        assert!(
            has(&next_detail, line),
            "{line} in:
{next_detail}"
        );
    }
    assert_eq!(scrape(addr, "/metrics").await.body, next);
    store.close().await;
}

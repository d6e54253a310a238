//! Gaps in the store: opened, kept with their time, closed, read back, pruned.

use super::tests::on_both;
use super::tests::open_temp;
use super::{FoundGap, GapFilter, Store};

fn found(agent: &str, check: &str, kind: &str, detail: &str) -> FoundGap {
    FoundGap {
        agent_id: agent.to_owned(),
        check: check.to_owned(),
        kind: kind.to_owned(),
        severity: "gap".to_owned(),
        deployment: "prod".to_owned(),
        detail: detail.to_owned(),
    }
}

fn open_only() -> GapFilter {
    GapFilter {
        open_only: true,
        ..GapFilter::default()
    }
}

on_both! {
    async fn gaps_open_stay_open_with_their_time_and_close() {
        let (_dir, store) = open_temp().await;
        let first = vec![
            found("a1", "imap", "failing", "tcp_refused"),
            found("a2", "smtp", "missing", "never reported"),
        ];
        let changes = store.reconcile_gaps(first.clone(), 1_000).await.unwrap();
        assert_eq!((changes.opened.len(), changes.closed.len()), (2, 0));

        // Found again, one with a new detail: nothing opens, the time is kept.
        let mut again = first.clone();
        again[0].detail = "tcp_timeout".to_owned();
        let changes = store.reconcile_gaps(again, 2_000).await.unwrap();
        assert_eq!(
            (changes.opened.len(), changes.closed.len(), changes.updated),
            (0, 0, 1)
        );
        let open = store.gaps(&open_only()).await.unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].agent_id, "a1");
        assert_eq!(
            (open[0].detail.as_str(), open[0].opened_unix_ms),
            ("tcp_timeout", 1_000)
        );

        // a1's imap is fixed: it closes; a2's stays.
        let changes = store
            .reconcile_gaps(vec![first[1].clone()], 3_000)
            .await
            .unwrap();
        assert_eq!(changes.closed.len(), 1);
        assert_eq!(changes.closed[0].closed_unix_ms, Some(3_000));
        let open = store.gaps(&open_only()).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].agent_id, "a2");

        // It fails again: a new gap, a new opening time; history shows both, newest first.
        store.reconcile_gaps(first.clone(), 4_000).await.unwrap();
        let imap_history = store
            .gaps(&GapFilter {
                agent_id: Some("a1".to_owned()),
                check: Some("imap".to_owned()),
                ..GapFilter::default()
            })
            .await
            .unwrap();
        let spans: Vec<_> = imap_history
            .iter()
            .map(|g| (g.opened_unix_ms, g.closed_unix_ms))
            .collect();
        assert_eq!(spans, vec![(4_000, None), (1_000, Some(3_000))]);
        // since: gaps closed before it are left out.
        let recent = store
            .gaps(&GapFilter {
                since_unix_ms: Some(3_500),
                ..GapFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(recent.len(), 2, "{recent:?}");
        assert!(recent.iter().all(|g| g.closed_unix_ms.is_none()));

        // Pruning removes closed gaps before the cutoff, never open ones.
        assert_eq!(store.prune_gaps_before(10_000).await.unwrap(), 1);
        assert_eq!(store.gaps(&GapFilter::default()).await.unwrap().len(), 2);
        store.close().await;
    }
}

/// SQLite's plan (PostgreSQL's planner chooses by its statistics).
#[tokio::test]
async fn open_gaps_are_read_from_the_partial_index() {
    use sqlx::Row;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("eceprobe.db"))
        .await
        .expect("open");
    let rows = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT gap_id FROM gaps WHERE closed_unix_ms IS NULL \
         ORDER BY deployment",
    )
    .fetch_all(&store.inner.reads)
    .await
    .unwrap();
    let plan: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
    assert!(
        plan.iter().any(|p| p.contains("gaps_open")),
        "open gaps must come from the partial index: {plan:?}"
    );
    store.close().await;
}

on_both! {
    /// An owner's filter (kinds, and a kind chosen by its detail's first word) chooses the
    /// same gaps on both engines, on the list read and on a page with its total.
    async fn a_kind_match_chooses_the_same_gaps_on_both_engines() {
        let (_dir, store) = open_temp().await;
        let found_all = vec![
            found("a1", "imap", "failing", "tcp_refused"),
            found("a2", "imap", "failing", "tcp_refused 40.99.10.34:993"),
            found("a3", "imap", "failing", "tcp_refusedx"),
            found("a4", "imap", "failing", "tls_intercepted"),
            found("a5", "imap", "stale", "silent since"),
            found("a6", "imap", "missing", "never reported"),
        ];
        store.reconcile_gaps(found_all, 1_000).await.unwrap();
        let network = super::KindMatch {
            kinds: vec!["stale"],
            by_detail: "failing",
            first_words: vec!["tcp_refused", "tcp_timeout"],
            negate: false,
        };
        let ids = |gaps: Vec<super::GapRecord>| {
            let mut ids: Vec<String> = gaps.into_iter().map(|g| g.agent_id).collect();
            ids.sort();
            ids
        };
        let listed = store
            .gaps(&GapFilter {
                kinds: Some(network.clone()),
                ..open_only()
            })
            .await
            .unwrap();
        assert_eq!(ids(listed), ["a1", "a2", "a5"]);
        let others = store
            .gaps(&GapFilter {
                kinds: Some(super::KindMatch {
                    negate: true,
                    ..network.clone()
                }),
                ..open_only()
            })
            .await
            .unwrap();
        assert_eq!(ids(others), ["a3", "a4", "a6"]);
        let (page, total) = store
            .open_gaps_page(&super::web::OpenGapQuery {
                kinds: Some(network),
                limit: 2,
                ..super::web::OpenGapQuery::default()
            })
            .await
            .unwrap();
        assert_eq!((page.len(), total), (2, 3));
        store.close().await;
    }
}

//! The collector's runs and retired servers in the store (real SQLite).

use super::tests::on_both;
use super::tests::{agent, open_temp};
use super::{AwakeSpan, FoundGap, GapFilter};

fn found(agent: &str, check: &str) -> FoundGap {
    FoundGap {
        agent_id: agent.to_owned(),
        check: check.to_owned(),
        kind: "failing".to_owned(),
        severity: "gap".to_owned(),
        deployment: "prod".to_owned(),
        detail: "tcp_refused".to_owned(),
    }
}

on_both! {
    async fn runs_are_recorded_kept_alive_and_pruned_after_90_days() {
        let (_dir, store) = open_temp().await;
        let day = 24 * 3600 * 1000;
        let first = store.begin_collector_run(1_000).await.unwrap();
        store.collector_alive(first, 5_000).await.unwrap();
        // Only forward: a clock stepped back does not shorten the span.
        store.collector_alive(first, 4_000).await.unwrap();
        let second = store.begin_collector_run(9_000).await.unwrap();
        assert_ne!(first, second);
        let spans = |s: &[(i64, i64)]| {
            s.iter()
                .map(|&(started_unix_ms, alive_unix_ms)| AwakeSpan {
                    started_unix_ms,
                    alive_unix_ms,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            store.awake_spans().await.unwrap(),
            spans(&[(1_000, 5_000), (9_000, 9_000)])
        );
        // A start 91 days later forgets both: an agent silent that long is stale anyway.
        store.begin_collector_run(91 * day).await.unwrap();
        assert_eq!(
            store.awake_spans().await.unwrap(),
            spans(&[(91 * day, 91 * day)])
        );
        store.close().await;
    }
}

on_both! {
    async fn a_retired_server_leaves_the_fleet_its_gaps_close_as_retired_and_a_hello_brings_it_back() {
        let (_dir, store) = open_temp().await;
        for id in ["old", "kept"] {
            store.upsert_agent(&agent(id, 1_000)).await.unwrap();
        }
        let fleet = vec![
            found("old", "imap"),
            found("old", "pop3"),
            found("kept", "smtp"),
        ];
        store.reconcile_gaps(fleet.clone(), 2_000).await.unwrap();

        let retired = store.retire_agent("old", 3_000).await.unwrap().unwrap();
        assert_eq!(retired.closed.len(), 2);
        assert!(retired
            .closed
            .iter()
            .all(|g| g.closed_unix_ms == Some(3_000) && g.close_reason.as_deref() == Some("retired")));
        assert_eq!(store.retired_since("old").await.unwrap(), Some(3_000));
        let ids: Vec<String> = store
            .agents()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.record.agent_id)
            .collect();
        assert_eq!(ids, ["kept"]);
        assert_eq!(store.agents_page(None, 0, 10).await.unwrap().1, 1);
        // Twice, or an unknown server: nothing to retire.
        assert!(store.retire_agent("old", 4_000).await.unwrap().is_none());
        assert!(store.retire_agent("nobody", 4_000).await.unwrap().is_none());

        // An evaluation that read the fleet before the retirement cannot reopen its gaps.
        let changes = store.reconcile_gaps(fleet, 3_500).await.unwrap();
        assert!(changes.opened.is_empty(), "{changes:?}");
        let open = store
            .gaps(&GapFilter {
                open_only: true,
                ..GapFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].agent_id, "kept");
        // The history keeps the retired server's gaps, with why they closed.
        let history = store
            .gaps(&GapFilter {
                agent_id: Some("old".into()),
                ..GapFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(history.len(), 2);
        assert!(history
            .iter()
            .all(|g| g.close_reason.as_deref() == Some("retired")));

        // Accepted again (a Hello after re-enrollment): back in the fleet.
        store.upsert_agent(&agent("old", 5_000)).await.unwrap();
        assert_eq!(store.retired_since("old").await.unwrap(), None);
        assert_eq!(store.agents().await.unwrap().len(), 2);
        store.close().await;
    }
}

on_both! {
    async fn the_metrics_reads_give_the_same_fleet_and_counts_on_both_engines() {
        use super::tests::result;
        let (_dir, store) = open_temp().await;
        for id in ["svc-1", "svc-2", "gone"] {
            store.upsert_agent(&agent(id, 1_000)).await.unwrap();
        }
        store
            .insert_results("svc-1", vec![result(1, "imap", "fail"), result(2, "smtp", "pass")], 2_000)
            .await
            .unwrap();
        store.insert_results("svc-2", vec![result(1, "pop3", "pass")], 2_000).await.unwrap();
        store.insert_results("gone", vec![result(1, "imap", "pass")], 2_000).await.unwrap();
        let mut failing = found("svc-1", "imap");
        failing.detail = "tcp_refused 52.98.1.1:993".to_owned();
        let mut warning = found("svc-2", "smtp");
        warning.kind = "intercepted".to_owned();
        warning.severity = "warning".to_owned();
        warning.detail = "tls_intercepted by 10.0.0.1".to_owned();
        store.reconcile_gaps(vec![failing, warning, found("gone", "pop3")], 3_000).await.unwrap();
        store.retire_agent("gone", 4_000).await.unwrap();

        let fleet = store.server_checks().await.unwrap();
        let seen: Vec<_> = fleet
            .iter()
            .map(|s| (s.agent_id.as_str(), s.deployment.as_str(), s.checks.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                ("svc-1", "prod", vec![("imap".to_owned(), false), ("smtp".to_owned(), true)]),
                ("svc-2", "prod", vec![("pop3".to_owned(), true)]),
            ],
            "a retired server has no series"
        );
        let counts: Vec<_> = store
            .open_gap_counts()
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.severity, c.kind, c.cause, c.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("gap".to_owned(), "failing".to_owned(), "tcp_refused".to_owned(), 1),
                ("warning".to_owned(), "intercepted".to_owned(), String::new(), 1),
            ],
            "the cause is a failing gap's first word; the retired server's gap closed"
        );
        store.close().await;
    }
}

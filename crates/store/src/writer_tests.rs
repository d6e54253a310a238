//! The single writer under load and failure: batched commits, a failing request rolled back
//! alone, writes refused for an unknown agent or a closed store.

use super::tests::on_both;
use super::tests::{agent, count, open_temp, result};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_from_50_agents_all_land_in_few_commits() {
    const AGENTS: u64 = 50;
    const CALLS: u64 = 20;
    const PER_CALL: u64 = 5;
    let (_dir, store) = open_temp().await;
    let commits_before = store.commits();

    let mut tasks = tokio::task::JoinSet::new();
    for a in 0..AGENTS {
        let store = store.clone();
        tasks.spawn(async move {
            let id = format!("agent-{a:02}");
            store.upsert_agent(&agent(&id, 1)).await?;
            let checks = ["imap", "pop3", "smtp", "login-https", "outlook-https"];
            for call in 0..CALLS {
                let results = (1..=PER_CALL)
                    .map(|i| {
                        let seq = call * PER_CALL + i;
                        result(seq, checks[(i - 1) as usize], "pass")
                    })
                    .collect();
                let out = store.insert_results(&id, results, 1_000).await?;
                assert_eq!(out.inserted, PER_CALL);
                assert_eq!(out.max_seq, (call + 1) * PER_CALL);
            }
            Ok::<_, StoreError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task ran").expect("inserts succeed");
    }

    let inserts = AGENTS * CALLS;
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM results").await,
        i64::try_from(AGENTS * CALLS * PER_CALL).unwrap()
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM latest").await,
        i64::try_from(AGENTS * PER_CALL).unwrap()
    );
    assert_eq!(store.agents().await.unwrap().len(), 50);
    for a in [0, 17, 49] {
        let id = format!("agent-{a:02}");
        assert_eq!(store.last_seq(&id).await.unwrap(), CALLS * PER_CALL);
    }
    let commits = store.commits() - commits_before;
    // 50 agent upserts + 1000 inserts went through fewer transactions than inserts alone.
    assert!(
        commits < inserts,
        "{commits} commits for {inserts} inserts: not batched"
    );
    eprintln!("{} write requests in {commits} commits", inserts + AGENTS);
    store.close().await;
}

on_both! {
    async fn a_failing_request_does_not_fail_the_others_in_its_batch() {
        let (_dir, store) = open_temp().await;
        for id in ["good-1", "bad", "good-2"] {
            store.upsert_agent(&agent(id, 1)).await.unwrap();
        }
        let commits = store.commits();
        // On this current-thread runtime the writer runs only once all three are queued, so
        // they share one transaction. The bad one stores seq 1 before reaching a seq SQLite
        // cannot hold: its savepoint rollback must undo seq 1 too, and only that.
        let (good_1, bad, good_2) = tokio::join!(
            store.insert_results("good-1", vec![result(1, "imap", "pass")], 10),
            store.insert_results(
                "bad",
                vec![result(1, "imap", "pass"), result(u64::MAX, "imap", "pass")],
                10
            ),
            store.insert_results("good-2", vec![result(1, "smtp", "fail")], 10),
        );
        assert_eq!(
            store.commits() - commits,
            1,
            "the three requests shared one commit"
        );
        assert_eq!(good_1.unwrap().inserted, 1);
        assert_eq!(good_2.unwrap().inserted, 1);
        let err = bad.unwrap_err();
        assert!(
            matches!(&err, StoreError::OutOfRange { field: "seq", value, .. } if *value == u64::MAX),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("seq 18446744073709551615"), "{message}");
        assert!(message.contains("agent bad"), "{message}");

        assert_eq!(store.history("good-1", "imap", 10).await.unwrap().len(), 1);
        assert_eq!(store.history("good-2", "smtp", 10).await.unwrap().len(), 1);
        assert!(store.history("bad", "imap", 10).await.unwrap().is_empty());
        assert!(store.latest("bad").await.unwrap().is_empty());
        assert_eq!(store.last_seq("bad").await.unwrap(), 0);
        store.close().await;
    }
}

on_both! {
    async fn a_constraint_violation_is_rolled_back_alone() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        store.upsert_agent(&agent("a2", 1)).await.unwrap();
        let commits = store.commits();
        // The schema's CHECK on outcome rejects the second row of a2's request.
        let (ok, bad, touched) = tokio::join!(
            store.insert_results("a1", vec![result(1, "imap", "pass")], 10),
            store.insert_results(
                "a2",
                vec![result(1, "imap", "pass"), result(2, "imap", "maybe")],
                10
            ),
            store.touch_agent("a2", 99, 7),
        );
        assert_eq!(store.commits() - commits, 1);
        assert_eq!(ok.unwrap().inserted, 1);
        touched.unwrap();
        let message = bad.unwrap_err().to_string();
        assert!(
            message.contains("storing result seq 2 (imap) of agent a2"),
            "{message}"
        );
        // Each engine's words for it.
        assert!(
            message.contains("CHECK constraint failed")
                || message.contains("violates check constraint"),
            "{message}"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM results").await, 1);
        assert!(store.latest("a2").await.unwrap().is_empty());
        let a2 = store.agents().await.unwrap().remove(1);
        assert_eq!(a2.record.seen_unix_ms, 99);
        assert_eq!(a2.spool_dropped, 7, "the heartbeat's dropped count is kept");
        store.close().await;
    }
}

on_both! {
    async fn writes_for_an_unknown_agent_are_refused() {
        let (_dir, store) = open_temp().await;
        let err = store
            .insert_results("ghost", vec![result(1, "imap", "pass")], 1)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownAgent { .. }), "{err:?}");
        assert!(err.to_string().contains("unknown agent ghost"), "{err}");
        let err = store.touch_agent("ghost", 1, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::UnknownAgent { .. }), "{err:?}");
        assert_eq!(store.last_seq("ghost").await.unwrap(), 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM results").await, 0);
        store.close().await;
    }
}

on_both! {
    async fn a_closed_store_refuses_work_from_its_clones() {
        let (_dir, store) = open_temp().await;
        let clone = store.clone();
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        store.close().await;
        let err = clone.upsert_agent(&agent("a2", 1)).await.unwrap_err();
        assert!(matches!(err, StoreError::Closed), "{err:?}");
        let err = clone.agents().await.unwrap_err();
        assert!(matches!(err, StoreError::Closed), "{err:?}");
        // Closing a clone of a closed store returns at once.
        clone.close().await;
    }
}

//! The quarantine against a real SQLite file: once per (agent, seq), covered by the agent's
//! last seq, bounded in rows while the count goes on.

use super::tests::on_both;
use super::tests::{agent, open_temp};
use super::*;

fn aside(seq: u64) -> SetAside {
    SetAside {
        seq,
        reason: format!("it has no outcome (pass, warn or fail) #{seq}"),
        summary: "check 'imap', outcome 0, failure kind '', 0 warnings, 8 bytes".to_owned(),
    }
}

async fn rows(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM quarantine")
        .fetch_one(&store.inner.reads)
        .await
        .expect("count rows")
}

on_both! {
    async fn set_aside_results_are_kept_once_acked_and_bounded() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        let out = store
            .insert_batch("a1", Vec::new(), vec![aside(3)], 10)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.set_aside, out.max_seq), (0, 1, 3));
        assert_eq!(
            store.last_seq("a1").await.unwrap(),
            3,
            "a reconnect does not resend it"
        );
        // A resend is not set aside twice.
        let again = store
            .insert_batch("a1", Vec::new(), vec![aside(3)], 20)
            .await
            .unwrap();
        assert_eq!(again.set_aside, 0);
        let q = store.quarantine("a1").await.unwrap().unwrap();
        assert_eq!((q.count, q.last_seq, q.last_unix_ms), (1, 3, 10));
        assert!(q.last_reason.contains("no outcome"), "{q:?}");
        assert_eq!(store.quarantine("nobody").await.unwrap(), None);

        // Past the bound the oldest rows go; the count keeps every one.
        let many: Vec<SetAside> = (4..=1_204).map(aside).collect();
        store
            .insert_batch("a1", Vec::new(), many, 30)
            .await
            .unwrap();
        assert_eq!(rows(&store).await, MAX_QUARANTINE_ROWS);
        let q = store.quarantine("a1").await.unwrap().unwrap();
        assert_eq!((q.count, q.last_seq), (1_202, 1_204));
        let agents = store.agents().await.unwrap();
        assert_eq!(agents[0].quarantined, 1_202);
    }
}

on_both! {
    /// Ids have holes (every resend met ON CONFLICT DO NOTHING and spent one): the bound
    /// still keeps exactly the newest rows it promises, not fewer.
    async fn the_bound_keeps_exactly_its_rows_when_ids_have_holes() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 1)).await.unwrap();
        let many: Vec<SetAside> = (1..=1_000).map(aside).collect();
        store
            .insert_batch("a1", Vec::new(), many, 10)
            .await
            .unwrap();
        for seq in 1_001..=1_100 {
            // The same result three times in one batch (an agent's resend after a lost
            // ack arriving beside the original): the newest ids get holes.
            store
                .insert_batch("a1", Vec::new(), vec![aside(seq), aside(seq), aside(seq)], 20)
                .await
                .unwrap();
        }
        assert_eq!(rows(&store).await, MAX_QUARANTINE_ROWS);
        let q = store.quarantine("a1").await.unwrap().unwrap();
        assert_eq!((q.count, q.last_seq), (1_100, 1_100));
        store.close().await;
    }
}

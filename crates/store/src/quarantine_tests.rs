//! The quarantine against a real SQLite file: once per (agent, seq), covered by the agent's
//! last seq, bounded in rows while the count goes on.

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

#[tokio::test]
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

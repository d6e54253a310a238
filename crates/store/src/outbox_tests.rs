//! The webhook outbox in the store: queued once per (webhook, event), due in order, retry
//! state kept, capped (oldest dropped, counted), webhooks no longer configured forgotten,
//! and everything still there after the store is reopened.

use super::tests::on_both;
use super::tests::open_temp;
use super::{OutboxEvent, Store, MAX_RETRY_WAIT_MS};

const A: &str = "https://hooks.example.com/services/T0/B0/secret-a";
const B: &str = "http://127.0.0.1:9/secret-b";

fn event(id: &str) -> OutboxEvent {
    OutboxEvent {
        event_id: id.to_owned(),
        kind: "gap_opened".to_owned(),
        body: format!("{{\"event\":\"gap_opened\",\"event_id\":\"{id}\"}}"),
    }
}

fn hooks() -> Vec<String> {
    vec![A.to_owned(), B.to_owned()]
}

async fn ids(store: &Store, webhook: &str, now: i64) -> Vec<String> {
    store
        .outbox_due(webhook, now, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event_id)
        .collect()
}

on_both! {
    async fn an_event_is_queued_once_per_webhook() {
        let (_dir, store) = open_temp().await;
        let done = store
            .outbox_enqueue(&hooks(), vec![event("e1"), event("e2")], 1_000, 100)
            .await
            .unwrap();
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|d| d.inserted == 2 && d.dropped.is_empty()));
        // The same event again (and one new): only the new one is queued.
        let again = store
            .outbox_enqueue(&hooks(), vec![event("e1"), event("e3")], 2_000, 100)
            .await
            .unwrap();
        assert!(again.iter().all(|d| d.inserted == 1), "{again:?}");
        assert_eq!(store.outbox_pending(Some(A)).await.unwrap(), 3);
        assert_eq!(store.outbox_pending(None).await.unwrap(), 6);
        let rows = store.outbox_due(A, 2_000, 100).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
            ["e1", "e2", "e3"]
        );
        let first = &rows[0];
        assert_eq!((first.attempts, first.created_unix_ms), (0, 1_000));
        assert_eq!(first.next_attempt_unix_ms, 1_000);
        assert_eq!(first.kind, "gap_opened");
        assert_eq!(first.body, event("e1").body, "the body exactly as queued");
    }
}

on_both! {
    async fn due_rows_come_oldest_first_and_stop_at_one_waiting_for_its_retry() {
        let (_dir, store) = open_temp().await;
        let events = vec![event("e1"), event("e2"), event("e3")];
        store
            .outbox_enqueue(&hooks(), events, 1_000, 100)
            .await
            .unwrap();
        // Not due before it was queued.
        assert!(ids(&store, A, 999).await.is_empty());
        assert_eq!(ids(&store, A, 1_000).await, ["e1", "e2", "e3"]);
        assert_eq!(store.outbox_due(A, 1_000, 2).await.unwrap().len(), 2);

        // e1 failed once: retry at 5 000. Nothing of A is due before (order is kept), B is.
        let head = store.outbox_due(A, 1_000, 1).await.unwrap().remove(0);
        assert!(store.outbox_failed(head.outbox_id, 1, 5_000).await.unwrap());
        assert!(ids(&store, A, 4_999).await.is_empty());
        assert_eq!(store.outbox_next_attempt(A).await.unwrap(), Some(5_000));
        assert_eq!(ids(&store, B, 4_999).await, ["e1", "e2", "e3"]);
        let rows = store.outbox_due(A, 5_000, 100).await.unwrap();
        assert_eq!((rows[0].event_id.as_str(), rows[0].attempts), ("e1", 1));
        assert_eq!(rows.len(), 3);

        // Delivered, then dead-lettered: gone; a second removal finds nothing.
        assert!(store.outbox_delivered(rows[0].outbox_id).await.unwrap());
        assert!(!store.outbox_delivered(rows[0].outbox_id).await.unwrap());
        assert!(store.outbox_dead_letter(rows[1].outbox_id).await.unwrap());
        assert!(!store
            .outbox_failed(rows[1].outbox_id, 2, 9_000)
            .await
            .unwrap());
        assert_eq!(ids(&store, A, 5_000).await, ["e3"]);
        assert_eq!(store.outbox_pending(Some(A)).await.unwrap(), 1);
        assert_eq!(store.outbox_next_attempt(A).await.unwrap(), Some(1_000));
        assert_eq!(
            store.outbox_next_attempt("http://other:1/").await.unwrap(),
            None
        );

        // The clock stepped back an hour after e3 was scheduled for a retry: a retry further
        // ahead than the backoff cap is due now, rather than holding the queue for an hour.
        let e3 = store.outbox_due(A, 5_000, 1).await.unwrap().remove(0);
        assert!(store
            .outbox_failed(e3.outbox_id, 1, 3_600_000)
            .await
            .unwrap());
        assert_eq!(ids(&store, A, 5_000).await, ["e3"]);
        // Within the cap it waits as scheduled.
        assert!(store
            .outbox_failed(e3.outbox_id, 2, 5_000 + MAX_RETRY_WAIT_MS)
            .await
            .unwrap());
        assert!(ids(&store, A, 5_000).await.is_empty());
    }
}

on_both! {
    async fn a_full_queue_drops_its_oldest_events_and_counts_them() {
        let (_dir, store) = open_temp().await;
        let first: Vec<_> = ["e1", "e2", "e3"].into_iter().map(event).collect();
        store
            .outbox_enqueue(&hooks(), first, 1_000, 3)
            .await
            .unwrap();
        let done = store
            .outbox_enqueue(&hooks(), vec![event("e4"), event("e5")], 2_000, 3)
            .await
            .unwrap();
        for d in &done {
            assert_eq!(d.inserted, 2);
            assert_eq!(d.dropped, ["e1", "e2"], "the oldest go, in order");
        }
        assert_eq!(ids(&store, A, 2_000).await, ["e3", "e4", "e5"]);
        // A duplicate adds nothing, so drops nothing.
        let dup = store
            .outbox_enqueue(&hooks(), vec![event("e5")], 3_000, 3)
            .await
            .unwrap();
        assert!(dup.iter().all(|d| d.inserted == 0 && d.dropped.is_empty()));
        // At start, a lower cap trims too.
        assert_eq!(store.outbox_cap(A, 1).await.unwrap(), ["e3", "e4"]);
        assert!(store.outbox_cap(A, 1).await.unwrap().is_empty());
        assert_eq!(ids(&store, A, 3_000).await, ["e5"]);
        assert_eq!(store.outbox_pending(Some(B)).await.unwrap(), 3);
    }
}

on_both! {
    async fn webhooks_no_longer_configured_are_forgotten_and_the_rest_survives_a_reopen() {
        let (dir, store) = open_temp().await;
        store
            .outbox_enqueue(&hooks(), vec![event("e1"), event("e2")], 1_000, 100)
            .await
            .unwrap();
        let head = store.outbox_due(A, 1_000, 1).await.unwrap().remove(0);
        store.outbox_failed(head.outbox_id, 3, 7_000).await.unwrap();
        let forgotten = store.outbox_forget_others(&[A.to_owned()]).await.unwrap();
        assert_eq!(forgotten, [(B.to_owned(), 2)]);
        assert!(store
            .outbox_forget_others(&[A.to_owned()])
            .await
            .unwrap()
            .is_empty());
        store.close().await;

        // Reopened: A's queue is intact, its retry state with it.
        let store = dir.reopen().await;
        assert_eq!(store.outbox_pending(None).await.unwrap(), 2);
        assert!(ids(&store, A, 6_999).await.is_empty());
        let rows = store.outbox_due(A, 7_000, 100).await.unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.event_id.as_str(), r.attempts))
                .collect::<Vec<_>>(),
            [("e1", 3), ("e2", 0)]
        );
        assert_eq!(
            store.outbox_forget_others(&[]).await.unwrap(),
            [(A.to_owned(), 2)]
        );
        assert_eq!(store.outbox_pending(None).await.unwrap(), 0);
        store.close().await;
    }
}

on_both! {
    async fn every_collector_reads_the_same_counts_of_delivered_dead_and_pending_events() {
        let (db, store) = open_temp().await;
        let other = db.reopen().await;
        // Queued by two collectors; the cap of 3 drops the oldest of A's four.
        store.outbox_enqueue(&hooks(), vec![event("e1"), event("e2")], 1_000, 3).await.unwrap();
        other.outbox_enqueue(&hooks(), vec![event("e3"), event("e4")], 1_001, 3).await.unwrap();
        let due = store.outbox_due(A, 2_000, 10).await.unwrap();
        let due_ids: Vec<_> = due.iter().map(|r| r.event_id.as_str()).collect();
        assert_eq!(due_ids, ["e2", "e3", "e4"]);
        // The leader delivers one of each collector's and gives one up.
        assert!(store.outbox_delivered(due[0].outbox_id).await.unwrap());
        assert!(store.outbox_delivered(due[1].outbox_id).await.unwrap());
        assert!(store.outbox_dead_letter(due[2].outbox_id).await.unwrap());
        // Gone already: not counted twice.
        assert!(!store.outbox_delivered(due[0].outbox_id).await.unwrap());
        for reader in [&store, &other] {
            let counts = reader.outbox_counts().await.unwrap();
            let a = counts.get(A).copied().unwrap_or_default();
            assert_eq!((a.pending, a.delivered, a.dead_lettered), (0, 2, 2), "A: {counts:?}");
            let b = counts.get(B).copied().unwrap_or_default();
            assert_eq!((b.pending, b.delivered, b.dead_lettered), (3, 0, 1), "B: {counts:?}");
        }
        other.close().await;
        store.close().await;
    }
}

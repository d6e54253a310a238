//! Scheduled slots between collectors sharing one database: claimed once, fenced by the
//! leader lease, the audit's id recorded, old slots forgotten.

use super::engines::fresh;
use super::tests::on_both;
use super::{Fence, SlotClaim, StoreError, SLOT_RECORD_KEEP_MS};

const LEASE: &str = "singleton";
/// Monday 30 November 2026, 06:00 UTC.
const SLOT: i64 = 1_796_018_400_000;

fn fence(holder: &str, term: i64) -> Option<Fence> {
    Some(Fence {
        lease: LEASE.to_owned(),
        holder: holder.to_owned(),
        term,
    })
}

on_both! {
    async fn a_slot_is_claimed_once_and_only_by_the_leader_at_its_term() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        a.take_lease(LEASE, "a", "p-a", 1).await.unwrap();

        // B does not lead: its claim is refused and records nothing.
        match b.claim_schedule_slot("monday", SLOT, "b", SLOT + 5, fence("b", 1)).await {
            Err(StoreError::NotLeader { holder, .. }) => assert_eq!(holder, "b"),
            other => panic!("expected NotLeader, got {other:?}"),
        }
        assert!(a.schedule_slots("monday", 0, 10).await.unwrap().is_empty());

        let first = a.claim_schedule_slot("monday", SLOT, "a", SLOT + 10, fence("a", 1)).await;
        assert_eq!(first.unwrap(), SlotClaim::Claimed);
        assert!(a.schedule_slot_started("monday", SLOT, "a-1").await.unwrap());
        // A asks again (a second loop, a retry): the slot is taken, by A, with its audit.
        match a.claim_schedule_slot("monday", SLOT, "a", SLOT + 20, fence("a", 1)).await.unwrap() {
            SlotClaim::Taken(slot) => {
                assert_eq!((slot.collector.as_str(), slot.audit_id.as_str()), ("a", "a-1"));
                assert_eq!(slot.fired_unix_ms, SLOT + 10);
            }
            other => panic!("expected Taken, got {other:?}"),
        }

        // A's lease runs out; B takes term 2. A, late, claims the next slot: refused.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(b.take_lease(LEASE, "b", "p-b", 60_000).await.unwrap().term, 2);
        let next = SLOT + 3_600_000;
        match a.claim_schedule_slot("monday", next, "a", next, fence("a", 1)).await {
            Err(StoreError::NotLeader { holder, term }) => assert_eq!((holder.as_str(), term), ("a", 1)),
            other => panic!("expected NotLeader, got {other:?}"),
        }
        // B, catching up after the takeover, finds the first slot fired and claims the next.
        assert!(matches!(
            b.claim_schedule_slot("monday", SLOT, "b", next, fence("b", 2)).await.unwrap(),
            SlotClaim::Taken(_)
        ));
        assert_eq!(
            b.claim_schedule_slot("monday", next, "b", next, fence("b", 2)).await.unwrap(),
            SlotClaim::Claimed
        );
        // Another schedule's slot at the same time is its own.
        assert_eq!(
            b.claim_schedule_slot("daily", SLOT, "b", next, fence("b", 2)).await.unwrap(),
            SlotClaim::Claimed
        );
        let slots = a.schedule_slots("monday", 0, 10).await.unwrap();
        let seen: Vec<_> = slots
            .iter()
            .map(|s| (s.slot_unix_ms, s.collector.as_str(), s.audit_id.as_str()))
            .collect();
        assert_eq!(seen, [(SLOT, "a", "a-1"), (next, "b", "")]);
    }
}

on_both! {
    async fn collectors_claiming_one_slot_at_once_start_it_once() {
        let db = fresh().await;
        let stores = [db.reopen().await, db.reopen().await, db.reopen().await];
        for round in 0..10 {
            let slot = SLOT + round * 60_000;
            let (x, y, z) = tokio::join!(
                stores[0].claim_schedule_slot("every-minute", slot, "a", slot, None),
                stores[1].claim_schedule_slot("every-minute", slot, "b", slot, None),
                stores[2].claim_schedule_slot("every-minute", slot, "c", slot, None),
            );
            let claimed = [x.unwrap(), y.unwrap(), z.unwrap()]
                .iter()
                .filter(|c| **c == SlotClaim::Claimed)
                .count();
            assert_eq!(claimed, 1, "round {round}: slot claimed {claimed} times");
        }
        assert_eq!(stores[0].schedule_slots("every-minute", 0, 100).await.unwrap().len(), 10);
    }
}

on_both! {
    async fn slots_older_than_the_record_keeps_are_forgotten_as_new_ones_come() {
        let db = fresh().await;
        let store = db.reopen().await;
        for slot in [SLOT, SLOT + 86_400_000] {
            assert_eq!(
                store.claim_schedule_slot("daily", slot, "a", slot, None).await.unwrap(),
                SlotClaim::Claimed
            );
        }
        let later = SLOT + SLOT_RECORD_KEEP_MS + 1;
        store.claim_schedule_slot("daily", later, "a", later, None).await.unwrap();
        let kept: Vec<i64> = store
            .schedule_slots("daily", 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|s| s.slot_unix_ms)
            .collect();
        assert_eq!(kept, [SLOT + 86_400_000, later]);
    }
}

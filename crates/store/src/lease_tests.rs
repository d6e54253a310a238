//! The leader lease between collectors sharing one database: taken, renewed, taken over
//! only once expired, released, and the fence that keeps a former leader's write out.

use super::engines::fresh;
use super::tests::on_both;
use super::{Fence, FoundGap, StoreError};

const LEASE: &str = "singleton";

fn gap(agent: &str) -> FoundGap {
    FoundGap {
        agent_id: agent.to_owned(),
        check: "imap".to_owned(),
        kind: "failing".to_owned(),
        severity: "gap".to_owned(),
        deployment: "prod".to_owned(),
        detail: "tcp_refused".to_owned(),
    }
}

fn fence(holder: &str, term: i64) -> Option<Fence> {
    Some(Fence {
        lease: LEASE.to_owned(),
        holder: holder.to_owned(),
        term,
    })
}

on_both! {
    async fn one_collector_leads_until_its_lease_expires_then_another_takes_a_new_term() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        assert_eq!(a.lease(LEASE).await.unwrap(), None, "never taken");

        let first = a.take_lease(LEASE, "a:7443", "p-a:7443", 60_000).await.unwrap();
        assert_eq!((first.holder.as_str(), first.term), ("a:7443", 1));
        assert!(first.is_current());
        // B asks while A's lease runs: A keeps it, B is told who leads.
        let seen = b.take_lease(LEASE, "b:7443", "p-b:7443", 60_000).await.unwrap();
        assert_eq!((seen.holder.as_str(), seen.term), ("a:7443", 1));
        // A renews: same term, a later expiry.
        let renewed = a.take_lease(LEASE, "a:7443", "p-a:7443", 60_000).await.unwrap();
        assert_eq!((renewed.holder.as_str(), renewed.term), ("a:7443", 1));
        assert!(renewed.expires_unix_ms >= first.expires_unix_ms);

        // A's lease runs out (a short one, then A falls silent): B takes term 2.
        a.take_lease(LEASE, "a:7443", "p-a:7443", 1).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let taken = b.take_lease(LEASE, "b:7443", "p-b:7443", 60_000).await.unwrap();
        assert_eq!((taken.holder.as_str(), taken.term), ("b:7443", 2));
        // A comes back: it does not lead, and is told B does.
        let back = a.take_lease(LEASE, "a:7443", "p-a:7443", 60_000).await.unwrap();
        assert_eq!((back.holder.as_str(), back.term), ("b:7443", 2));
        let read = a.lease(LEASE).await.unwrap().unwrap();
        assert_eq!((read.holder.as_str(), read.term), ("b:7443", 2));
        assert!(read.is_current());
    }
}

on_both! {
    async fn a_former_leaders_gap_reconcile_is_refused_and_changes_nothing() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        a.take_lease(LEASE, "a", "p-a", 1).await.unwrap();
        let opened = a
            .reconcile_gaps_fenced(vec![gap("svc-1")], 1_000, fence("a", 1))
            .await
            .unwrap();
        assert_eq!(opened.opened.len(), 1, "the leader's write is made");

        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(b.take_lease(LEASE, "b", "p-b", 60_000).await.unwrap().term, 2);
        // A evaluated before it lost the lease and writes late: refused, nothing changed.
        let late = a
            .reconcile_gaps_fenced(vec![gap("svc-2")], 2_000, fence("a", 1))
            .await;
        match late {
            Err(StoreError::NotLeader { holder, term }) => {
                assert_eq!((holder.as_str(), term), ("a", 1));
            }
            other => panic!("expected NotLeader, got {other:?}"),
        }
        let message = StoreError::NotLeader { holder: "a".into(), term: 1 }.to_string();
        assert!(message.contains("no longer leads"), "{message}");
        let open = b.gaps(&super::GapFilter { open_only: true, ..Default::default() }).await.unwrap();
        let agents: Vec<_> = open.iter().map(|g| g.agent_id.as_str()).collect();
        assert_eq!(agents, ["svc-1"], "svc-1 stays open, svc-2 never opened");
        // The new leader's fenced write goes through.
        let changes = b
            .reconcile_gaps_fenced(vec![gap("svc-2")], 3_000, fence("b", 2))
            .await
            .unwrap();
        assert_eq!((changes.opened.len(), changes.closed.len()), (1, 1));
        // Every collector reads when the gaps were last recorded: the new leader's time,
        // never moved back by the refused write.
        let lease = a.lease(LEASE).await.unwrap().unwrap();
        assert_eq!(lease.evaluated_unix_ms, 3_000);
    }
}

on_both! {
    async fn a_released_lease_is_taken_at_once_by_the_next_collector() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        a.take_lease(LEASE, "a", "p-a", 60_000).await.unwrap();
        assert!(!b.release_lease(LEASE, "b", "p-b").await.unwrap(), "b holds nothing to release");
        assert!(a.release_lease(LEASE, "a", "p-a").await.unwrap());
        let taken = b.take_lease(LEASE, "b", "p-b", 60_000).await.unwrap();
        assert_eq!((taken.holder.as_str(), taken.term), ("b", 2));
        assert!(!a.release_lease(LEASE, "a", "p-a").await.unwrap(), "a no longer holds it");
    }
}

on_both! {
    async fn collectors_racing_for_an_expired_lease_never_both_win() {
        let db = fresh().await;
        let stores = [db.reopen().await, db.reopen().await, db.reopen().await];
        let names = ["a", "b", "c"];
        // Every answer names the holder of a term: one term must never have two.
        let mut holders = std::collections::BTreeMap::new();
        for round in 0..15 {
            // Every round the lease has expired (1 ms) and all three ask at once.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let (x, y, z) = tokio::join!(
                stores[0].take_lease(LEASE, names[0], "p", 1),
                stores[1].take_lease(LEASE, names[1], "p", 1),
                stores[2].take_lease(LEASE, names[2], "p", 1),
            );
            for lease in [x.unwrap(), y.unwrap(), z.unwrap()] {
                let first = holders.entry(lease.term).or_insert(lease.holder.clone());
                assert_eq!(*first, lease.holder, "round {round}: term {} has two holders", lease.term);
            }
        }
        assert!(holders.len() > 1, "the lease never changed hands: {holders:?}");
    }
}

on_both! {
    async fn a_collector_restarted_under_its_name_leads_again_soon_but_a_running_twin_keeps_it() {
        let db = fresh().await;
        let store = db.reopen().await;
        let first = store.take_lease(LEASE, "mon-1", "run-1", 60_000).await.unwrap();
        assert_eq!((first.instance.as_str(), first.term), ("run-1", 1));
        // A second process under the same name while the first renews (a copied
        // configuration) does not take the lease on PostgreSQL, and is told who holds it.
        // On SQLite (one host, one file) it can only be a restart: it takes it at once.
        if super::engines::on_sqlite() {
            let restarted = store.take_lease(LEASE, "mon-1", "run-0", 60_000).await.unwrap();
            assert_eq!((restarted.instance.as_str(), restarted.term), ("run-0", 2));
            return;
        }
        let twin = store.take_lease(LEASE, "mon-1", "run-2", 60_000).await.unwrap();
        assert_eq!((twin.instance.as_str(), twin.term), ("run-1", 1));
        // The first process dies (no renewal for over half a lease, 1 s here): its
        // successor under the same name takes the lease, a new term, without waiting for
        // the expiry (a minute).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let again = store.take_lease(LEASE, "mon-1", "run-2", 2_000).await.unwrap();
        assert_eq!((again.holder.as_str(), again.instance.as_str(), again.term), ("mon-1", "run-2", 2));
        // Renewed for a minute at once, so a loaded machine's pause before the next step
        // never lets this 2 s lease expire (which would rightly hand it to mon-2).
        let renewed = store.take_lease(LEASE, "mon-1", "run-2", 60_000).await.unwrap();
        assert_eq!((renewed.instance.as_str(), renewed.term), ("run-2", 2));
        assert!(!store.release_lease(LEASE, "mon-1", "run-1").await.unwrap(), "run-1 no longer holds it");
        // Another collector's name still waits for the expiry.
        let other = store.take_lease(LEASE, "mon-2", "run-9", 60_000).await.unwrap();
        assert_eq!((other.holder.as_str(), other.term), ("mon-1", 2));
    }
}

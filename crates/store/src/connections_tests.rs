//! Agents' connections and collectors' liveness shared through the database, and the
//! delivery of audits' orders across collectors: on both engines.

use super::tests::{fresh, on_both};
use super::{AuditRecord, AuditServerRecord};

/// Who is connected, as (agent, collector), within the usual bound.
async fn connected(store: &super::Store) -> Vec<(String, String)> {
    store
        .connections(15_000)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.agent_id, c.collector))
        .collect()
}

fn pair(agent: &str, collector: &str) -> (String, String) {
    (agent.to_owned(), collector.to_owned())
}

on_both! {
    async fn agents_connected_to_any_collector_count_while_their_collector_is_alive() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        assert_eq!(a.collector_started("a:1", "ia-1").await.unwrap(), 0);
        assert_eq!(b.collector_started("b:1", "ib-1").await.unwrap(), 0);
        a.agent_connected("x", "ia-1", 1).await.unwrap();
        b.agent_connected("y", "ib-1", 1).await.unwrap();
        // Either collector reads both.
        assert_eq!(connected(&a).await, vec![pair("x", "a:1"), pair("y", "b:1")]);
        assert_eq!(connected(&b).await, connected(&a).await);
        let since = a.connections(15_000).await.unwrap()[0].since_unix_ms;
        assert!(since > 1_600_000_000_000, "the database's clock: {since}");

        // x moves to B; A's stream ends late: it deletes nothing of B's.
        b.agent_connected("x", "ib-1", 2).await.unwrap();
        assert!(!a.agent_disconnected("x", "ia-1", 1).await.unwrap());
        assert_eq!(connected(&a).await, vec![pair("x", "b:1"), pair("y", "b:1")]);
        // An older stream of B's own ending after the newer one started deletes nothing.
        assert!(!b.agent_disconnected("x", "ib-1", 1).await.unwrap());
        assert!(b.agent_disconnected("y", "ib-1", 1).await.unwrap());
        assert_eq!(connected(&a).await, vec![pair("x", "b:1")]);

        // B falls silent (killed): past the bound its agents no longer count...
        let mut raw = db.raw().await;
        sqlx::query("UPDATE collector_liveness SET seen_unix_ms = seen_unix_ms - 60000 WHERE instance = 'ib-1'")
            .execute(&mut raw)
            .await
            .unwrap();
        assert_eq!(connected(&a).await, vec![]);
        assert_eq!(a.connections(120_000).await.unwrap().len(), 1, "within a longer bound");
        // ...and count again once it is seen.
        assert!(b.collector_seen("ib-1").await.unwrap());
        assert_eq!(connected(&a).await, vec![pair("x", "b:1")]);
    }
}

on_both! {
    async fn a_restarted_collector_clears_what_its_earlier_process_left_and_a_clean_stop_clears_its_own() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        a.collector_started("a:1", "ia-1").await.unwrap();
        b.collector_started("b:1", "ib-1").await.unwrap();
        a.agent_connected("x", "ia-1", 1).await.unwrap();
        a.agent_connected("z", "ia-1", 2).await.unwrap();
        b.agent_connected("y", "ib-1", 1).await.unwrap();

        // A is killed and started again under its name: its old streams are gone.
        let again = db.reopen().await;
        assert_eq!(again.collector_started("a:1", "ia-2").await.unwrap(), 2);
        assert_eq!(connected(&b).await, vec![pair("y", "b:1")]);
        // The old process, were it still running, learns its row is gone.
        assert!(!a.collector_seen("ia-1").await.unwrap());
        assert!(again.collector_seen("ia-2").await.unwrap());

        // B stops cleanly: its liveness and connections go at once.
        b.collector_stopped("ib-1").await.unwrap();
        assert_eq!(connected(&again).await, vec![]);
        assert!(!b.collector_seen("ib-1").await.unwrap());
    }
}

fn audit(id: &str, started_unix_ms: i64) -> AuditRecord {
    AuditRecord {
        audit_id: id.to_owned(),
        deployment: String::new(),
        started_unix_ms,
        deadline_unix_ms: started_unix_ms + 60_000,
        closed_unix_ms: None,
        policy: String::new(),
    }
}

fn server(id: &str, ordered: bool) -> AuditServerRecord {
    AuditServerRecord {
        agent_id: id.to_owned(),
        ordered,
        answered_unix_ms: None,
    }
}

/// The undelivered orders as (audit, agent).
async fn undelivered(store: &super::Store, now: i64) -> Vec<(String, String)> {
    store
        .undelivered_orders(now)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.audit_id, o.agent_id))
        .collect()
}

on_both! {
    async fn an_audits_order_is_delivered_once_per_ordered_server_while_it_runs() {
        let db = fresh().await;
        let (a, b) = (db.reopen().await, db.reopen().await);
        let servers = vec![server("x", true), server("y", true), server("z", false)];
        a.create_audit_undelivered(audit("a-1", 1_000), servers).await.unwrap();
        assert_eq!(
            undelivered(&b, 2_000).await,
            vec![pair("a-1", "x"), pair("a-1", "y")],
            "the ordered servers, not z"
        );
        let orders = b.undelivered_orders(2_000).await.unwrap();
        assert_eq!(orders[0].deadline_unix_ms, 61_000);

        // Two collectors claim x: one wins.
        assert!(b.claim_delivery("a-1", "x", 2_000).await.unwrap());
        assert!(!a.claim_delivery("a-1", "x", 2_001).await.unwrap());
        assert!(!a.claim_delivery("a-1", "z", 2_001).await.unwrap(), "z was not ordered");
        assert_eq!(undelivered(&a, 2_000).await, vec![pair("a-1", "y")]);
        // A claim whose order could not be queued is given back: delivered later.
        assert!(b.unclaim_delivery("a-1", "x").await.unwrap());
        assert_eq!(undelivered(&a, 2_000).await, vec![pair("a-1", "x"), pair("a-1", "y")]);
        // Past the deadline nothing is delivered any more.
        assert_eq!(undelivered(&a, 61_000).await, vec![]);

        // A closed audit delivers nothing.
        assert!(a.close_audit("a-1", 3_000).await.unwrap());
        assert_eq!(undelivered(&a, 2_000).await, vec![]);
        assert!(!a.claim_delivery("a-1", "y", 3_001).await.unwrap());

        // A lone collector's audit: its orders went out at the start.
        a.create_audit(audit("a-2", 5_000), vec![server("x", true)]).await.unwrap();
        assert_eq!(undelivered(&a, 6_000).await, vec![]);
        assert!(!a.claim_delivery("a-2", "x", 6_000).await.unwrap());
    }
}

//! Audits in the store: records, servers, tagged results read through the partial index.

use super::tests::{on_both, open_temp};
use super::{AgentRecord, AuditRecord, AuditServerRecord, NewResult};

fn agent(id: &str) -> AgentRecord {
    AgentRecord {
        seen_unix_ms: 1,
        ..AgentRecord::for_test(id)
    }
}

fn result(seq: u64, check: &str, audit_id: &str) -> NewResult {
    NewResult {
        seq,
        check: check.to_owned(),
        started_unix_ms: 1,
        outcome: "pass".to_owned(),
        failure_kind: None,
        failure_stage: None,
        duration_us: 1,
        warning_kinds: Vec::new(),
        stage_durations: Vec::new(),
        system_dns: None,
        detail: vec![1],
        audit_id: audit_id.to_owned(),
    }
}

fn audit(id: &str, started_unix_ms: i64) -> AuditRecord {
    AuditRecord {
        audit_id: id.to_owned(),
        deployment: "prod".to_owned(),
        started_unix_ms,
        deadline_unix_ms: started_unix_ms + 1000,
        closed_unix_ms: None,
        policy: "retriever = \"imap\"\n".to_owned(),
    }
}

on_both! {
    async fn audits_are_recorded_answered_closed_and_read_back() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("svc-1")).await.expect("agent");
        let servers = |ordered| {
            vec![AuditServerRecord {
                agent_id: "svc-1".into(),
                ordered,
                answered_unix_ms: None,
            }]
        };
        store
            .create_audit(audit("a-1", 100), servers(true))
            .await
            .expect("create");
        store
            .create_audit(audit("a-2", 200), servers(false))
            .await
            .expect("create");
        let rows = vec![
            result(1, "imap", ""),
            result(2, "imap", "a-1"),
            result(3, "pop3", "a-1"),
            result(4, "pop3", "a-2"),
        ];
        store
            .insert_results("svc-1", rows, 150)
            .await
            .expect("insert");

        let tagged: Vec<u64> = store
            .audit_results("a-1")
            .await
            .expect("results")
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(tagged, [2, 3]);
        assert!(store.audit_results("").await.expect("untagged").is_empty());
        let progress = store.audit_progress("a-1").await.expect("progress");
        assert_eq!(
            (progress[0].checks, progress[0].last_received_unix_ms),
            (2, 150)
        );
        assert_eq!(store.reported_checks().await.expect("checks")["svc-1"], 2);

        assert!(store
            .mark_audit_answered("a-1", "svc-1", 150)
            .await
            .expect("mark"));
        assert!(!store
            .mark_audit_answered("a-1", "svc-1", 160)
            .await
            .expect("again"));
        assert!(store.close_audit("a-1", 170).await.expect("close"));
        assert!(!store.close_audit("a-1", 180).await.expect("closed once"));
        let a1 = store.audit("a-1").await.expect("read").expect("exists");
        assert_eq!(a1.closed_unix_ms, Some(170));
        assert_eq!(a1.policy, "retriever = \"imap\"\n", "the policy is kept");
        assert_eq!(
            store.audit_servers("a-1").await.expect("servers")[0].answered_unix_ms,
            Some(150)
        );
        let running: Vec<String> = store
            .running_audits()
            .await
            .expect("running")
            .into_iter()
            .map(|a| a.audit_id)
            .collect();
        assert_eq!(running, ["a-2"]);
        let newest: Vec<String> = store
            .audits(Some("prod"), 10)
            .await
            .expect("list")
            .into_iter()
            .map(|a| a.audit_id)
            .collect();
        assert_eq!(newest, ["a-2", "a-1"]);
        let a2 = store.audit("a-2").await.expect("read").expect("exists");
        let previous = store
            .previous_closed_audit("prod", &a2)
            .await
            .expect("prev");
        assert_eq!(previous.map(|a| a.audit_id).as_deref(), Some("a-1"));
        assert!(store
            .previous_closed_audit("prod", &a1)
            .await
            .expect("none")
            .is_none());

        // An audit's results are one scan of the partial index, never of history (SQLite's
        // plan; PostgreSQL's planner chooses by its statistics).
        if super::tests::on_sqlite() {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::audits::SELECT_AUDIT_RESULTS
            ))
            .bind("a-1")
            .fetch_all(&store.inner.reads)
            .await
            .expect("plan");
            assert!(
                plan.iter().any(|(.., d)| d.contains("results_by_audit")),
                "{plan:?}"
            );
        }
        store.close().await;
    }
}

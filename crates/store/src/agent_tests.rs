//! The agents' rows against a real SQLite file: what each Hello writes, replaces and keeps.

use super::*;

on_both! {
    async fn upsert_updates_the_agent_and_seen_only_moves_forward() {
        let (_dir, store) = open_temp().await;
        store.upsert_agent(&agent("a1", 100)).await.unwrap();
        let mut changed = agent("a1", 50);
        changed.role = "application".to_owned();
        changed.ece_es = "ES2".to_owned();
        changed.probe_interval_s = u32::MAX;
        store.upsert_agent(&changed).await.unwrap();
        let stored = store.agents().await.unwrap();
        assert_eq!(stored.len(), 1);
        // Everything declared is updated; seen does not go back from 100 to 50.
        assert_eq!(
            stored[0].record,
            AgentRecord {
                seen_unix_ms: 100,
                ..changed.clone()
            }
        );
        store.touch_agent("a1", 90, 0).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].record.seen_unix_ms, 100);
        store.touch_agent("a1", 200, 0).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].record.seen_unix_ms, 200);
        store.close().await;
    }
}

on_both! {
    async fn java_is_stored_per_server_and_replaced_at_each_hello() {
        let (_dir, store) = open_temp().await;
        // An agent that does not report Java: not reported, read back as such.
        store.upsert_agent(&agent("a1", 100)).await.unwrap();
        assert_eq!(store.agent("a1").await.unwrap().unwrap().record.java, None);
        let java = JavaReport {
            runtime: "/usr/lib/jvm/java-17-openjdk-amd64".to_owned(),
            truststore: "Java trust store: /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates)".to_owned(),
        };
        let reporting = AgentRecord {
            java: Some(java.clone()),
            ..agent("a1", 200)
        };
        store.upsert_agent(&reporting).await.unwrap();
        // Both reads (the fleet's and one server's) carry it.
        assert_eq!(store.agents().await.unwrap()[0].record, reporting);
        assert_eq!(
            store.agent("a1").await.unwrap().unwrap().record.java,
            Some(java)
        );
        // None found: the line, and no runtime.
        let none = JavaReport {
            runtime: String::new(),
            truststore: "Java: none found (set [ece] java_home ...)".to_owned(),
        };
        let no_java = AgentRecord {
            java: Some(none.clone()),
            ..agent("a1", 300)
        };
        store.upsert_agent(&no_java).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].record.java, Some(none));
        // Downgraded to an agent that does not report: not reported again, not the old line.
        store.upsert_agent(&agent("a1", 400)).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].record.java, None);
        store.close().await;
    }
}

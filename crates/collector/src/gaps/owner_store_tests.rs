//! The owner filter as the store applies it in SQL agrees with `owner_name`, the owner in
//! words: both meanings of "an owner's gaps" checked against a real database file.

use super::{owner_name, OwnerFilter};
use crate::store::web::OpenGapQuery;
use crate::store::{FoundGap, GapFilter, Store};

fn found(agent: &str, check: &str, kind: &str, detail: &str) -> FoundGap {
    FoundGap {
        agent_id: agent.to_owned(),
        check: check.to_owned(),
        kind: kind.to_owned(),
        severity: "gap".to_owned(),
        deployment: "prod".to_owned(),
        detail: detail.to_owned(),
    }
}

fn open_only() -> GapFilter {
    GapFilter {
        open_only: true,
        ..GapFilter::default()
    }
}

/// The owner filter in SQL chooses exactly the gaps `owner_name` gives that owner, for
/// every owner and `unknown`, on the list reads and on a page with its total.
#[tokio::test]
async fn the_owner_filter_in_sql_agrees_with_owner_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("eceprobe.db"))
        .await
        .expect("open store");
    let samples = [
        ("failing", "tcp_refused"),
        (
            "failing",
            "smtp_auth_disabled_mailbox (not required by the policy)",
        ),
        (
            "failing",
            "java_untrusted (last known; agent silent since 2026-12-01 10:00Z)",
        ),
        ("failing", "ece_es_too_old"),
        ("failing", "pop_login_refused"),
        ("failing", "quantum_tunnel_collapsed"),
        ("failing", "failed"),
        ("failing", ""),
        ("failing", "tcp_refused\t(a tab is no separator)"),
        ("failing", "tcp_refusedx"),
        ("missing", "never reported"),
        ("stale", "silent since"),
        ("slow", "6000 ms"),
        ("packet_loss", "packet_loss"),
        ("cert_expiring", "cert_expiring_soon"),
        ("intercepted", "tls_intercepted"),
        ("java_truststore_incomplete", "x"),
        ("token_lifetime_unexpected", "x"),
        ("refresh_blocked_on_services", "x"),
        ("something_new", "tcp_refused"),
    ];
    let found_all: Vec<FoundGap> = samples
        .iter()
        .enumerate()
        .map(|(i, (kind, detail))| found(&format!("a{i:02}"), "imap", kind, detail))
        .collect();
    store.reconcile_gaps(found_all, 1_000).await.unwrap();
    for name in ["network", "m365", "ece", "host", "unknown"] {
        let filter = OwnerFilter::parse(name).unwrap();
        let mut expected: Vec<String> = samples
            .iter()
            .enumerate()
            .filter(|(_, (kind, detail))| owner_name(kind, detail) == name)
            .map(|(i, _)| format!("a{i:02}"))
            .collect();
        expected.sort();
        assert!(!expected.is_empty(), "{name}");
        let listed = store
            .gaps(&GapFilter {
                kinds: Some(filter.stored()),
                ..open_only()
            })
            .await
            .unwrap();
        let listed: Vec<String> = listed.into_iter().map(|g| g.agent_id).collect();
        assert_eq!(listed, expected, "{name}");
        let (page, total) = store
            .open_gaps_page(&OpenGapQuery {
                kinds: Some(filter.stored()),
                limit: 2,
                ..OpenGapQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(total, expected.len() as u64, "{name}");
        assert_eq!(page.len(), expected.len().min(2), "{name}");
        assert!(page.iter().all(|g| owner_name(&g.kind, &g.detail) == name));
    }
}

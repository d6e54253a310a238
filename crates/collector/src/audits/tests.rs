use super::*;
use crate::store::{AgentRecord, NewResult};

fn agent(id: &str) -> AgentRecord {
    AgentRecord {
        seen_unix_ms: 1,
        ..AgentRecord::for_test(id)
    }
}

fn result(seq: u64, check: &str, audit_id: &str) -> NewResult {
    let fail = check == "pop3";
    NewResult {
        seq,
        check: check.to_owned(),
        started_unix_ms: 1,
        outcome: if fail { "fail" } else { "pass" }.to_owned(),
        failure_kind: fail.then(|| "tcp_timeout".to_owned()),
        failure_stage: fail.then(|| "tcp".to_owned()),
        duration_us: 1,
        warning_kinds: Vec::new(),
        stage_durations: Vec::new(),
        system_dns: None,
        detail: Vec::new(),
        audit_id: audit_id.to_owned(),
    }
}

/// An audit answered by svc-1 (results numbered from `first_seq`) with pop3 failing and
/// everything else passing.
async fn answered_audit(audits: &Audits, store: &Store, first_seq: u64) -> String {
    let audit = audits.start("", 1).await.expect("start");
    let id = audit.audit_id.clone();
    let checks = ["login-https", "outlook-https", "imap", "pop3", "smtp"];
    let rows = (first_seq..)
        .zip(checks)
        .map(|(seq, c)| result(seq, c, &id));
    store
        .insert_results("svc-1", rows.collect(), audit.started_unix_ms)
        .await
        .expect("results");
    // svc-1 was not connected, so it was not ordered: answer and close by hand.
    store
        .mark_audit_answered(&id, "svc-1", audit.started_unix_ms)
        .await
        .expect("answered");
    store
        .close_audit(&id, audit.started_unix_ms + 1)
        .await
        .expect("close");
    id
}

#[tokio::test]
async fn an_audit_is_read_with_the_policy_it_ran_under() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("c.db")).await.expect("open");
    store.upsert_agent(&agent("svc-1")).await.expect("agent");
    let imap_only = Policy::from_toml("retriever = \"imap\"").expect("policy");
    let then = Audits::new(store.clone(), Sessions::new(), Arc::new(imap_only.clone()));
    let id = answered_audit(&then, &store, 1).await;

    // The collector restarted with the checklist's minimum, which needs POP3 too.
    let now = Audits::new(store.clone(), Sessions::new(), Arc::new(Policy::default()));
    let found = now.findings(&id).await.expect("findings");
    let severities: Vec<_> = found
        .gaps
        .iter()
        .map(|g| (g.check.as_str(), g.severity.as_str()))
        .collect();
    assert_eq!(
        severities,
        [("pop3", "warning")],
        "POP3 was not required when the audit ran, so its failure is only a warning"
    );
    assert_eq!(
        Policy::from_toml(&found.policy).expect("recorded policy"),
        imap_only
    );
    // The same results under today's policy: the POP3 failure is a gap.
    let later = answered_audit(&now, &store, 10).await;
    let found = now.findings(&later).await.expect("findings");
    let severities: Vec<_> = found
        .gaps
        .iter()
        .map(|g| (g.check.as_str(), g.severity.as_str()))
        .collect();
    assert_eq!(severities, [("pop3", "gap")]);
    let diff = now.diff(&id, &later).await.expect("diff");
    let sev = |v: &[FoundGap]| v.iter().map(|g| g.severity.clone()).collect::<Vec<_>>();
    assert_eq!(
        (sev(&diff.new), sev(&diff.resolved)),
        (vec!["gap".to_owned()], vec!["warning".to_owned()]),
        "each audit keeps its own policy in a diff too"
    );
}

//! The latency warnings in an audit's reports: four servers of one deployment and role
//! answer an audit, one of them with TLS about 1.9 s where its peers take about 0.12 s.
//! Every report format names it (`slower_than_peers`, both figures, what to do), as a
//! warning: the audit still has no gap. A real collector process, agents over gRPC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::agent::{hello, Agent};
use common::dashboard::{get, Dashboard};
use common::{msg, run_audit, wait_closed};
use eceprobe_proto::v1::{
    agent_message, collector_message, order, Attempt, CheckResult, Dns, Outcome, ResultBatch,
    StageTiming,
};

/// A passing IMAP result whose TLS handshake took `tls_ms`.
fn imap(seq: u64, started_unix_ms: i64, tls_ms: u64, audit_id: &str) -> CheckResult {
    let stage = |name: &str, ms: u64| StageTiming {
        stage: name.into(),
        ok: true,
        duration_us: ms * 1000,
    };
    CheckResult {
        seq,
        check: "imap".into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms,
        outcome: Outcome::Pass as i32,
        duration_us: (30 + tls_ms) * 1000,
        dns: Some(Dns {
            source: "system".into(),
            duration_us: 1_000,
            addresses: vec!["52.97.1.1".into()],
            ..Dns::default()
        }),
        used_address: "52.97.1.1:993".into(),
        attempts: vec![Attempt {
            address: "52.97.1.1:993".into(),
            stages: vec![stage("tcp", 30), stage("tls", tls_ms)],
            ..Attempt::default()
        }],
        audit_id: audit_id.into(),
        ..CheckResult::default()
    }
}

/// A server that sent four results of its own schedule, then answers every audit order
/// with one more, all with TLS taking `tls_ms` (+ a little jitter).
async fn server(d: &Dashboard, id: &str, tls_ms: u64) -> tokio::task::JoinHandle<()> {
    let (mut agent, _) = Agent::connect_with(d.agents, hello(id, "prod")).await;
    let now = eceprobe_proto::now_ms();
    let history = (1..=4)
        .map(|s| imap(s, now - 60_000 * (5 - s as i64), tls_ms + s * 3, ""))
        .collect();
    agent.send_results(history).await;
    let Agent { tx, mut rx } = agent;
    tokio::spawn(async move {
        while let Ok(Some(m)) = rx.message().await {
            let Some(collector_message::Body::Order(o)) = m.body else {
                continue;
            };
            let Some(order::Kind::RunAudit(audit)) = o.kind else {
                continue;
            };
            let result = imap(5, eceprobe_proto::now_ms(), tls_ms, &audit.audit_id);
            let batch = msg(agent_message::Body::Batch(ResultBatch {
                results: vec![result],
            }));
            if tx.send(batch).await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test]
async fn an_audit_report_names_a_server_slower_than_its_peers() {
    let d = Dashboard::start();
    let mut tasks = Vec::new();
    for (id, tls) in [
        ("svc-1", 115),
        ("svc-2", 120),
        ("svc-3", 125),
        ("svc-4", 1_900),
    ] {
        tasks.push(server(&d, id, tls).await);
    }
    let audit_id = run_audit(d.query, "prod", 30).await;
    let report = wait_closed(d.query, &audit_id).await;
    let latency: Vec<_> = report
        .gaps
        .iter()
        .filter(|g| g.kind == "slower_than_peers" || g.kind == "latency_regression")
        .collect();
    assert_eq!(latency.len(), 1, "{:#?}", report.gaps);
    let w = latency[0];
    assert_eq!((w.agent_id.as_str(), w.check.as_str()), ("svc-4", "imap"));
    assert_eq!(w.severity, "warning");
    assert!(
        w.detail.starts_with("tls on imap (outlook.office365.com:993) took 1.9 s here (median of the last 5); the median of 3 other services servers of deployment prod is 0.13 s"),
        "{}",
        w.detail
    );
    assert!(
        report
            .gaps
            .iter()
            .all(|g| g.severity != "gap" || g.kind == "missing"),
        "no gap but the checks these simulated agents never send: {:#?}",
        report.gaps
    );
    for file in ["report.md", "report.html", "report.csv", "report.json"] {
        let r = get(d.web, &format!("/api/audits/{audit_id}/{file}")).await;
        assert_eq!(r.status, 200, "{file}: {}", r.body);
        assert!(r.body.contains("slower_than_peers"), "{file}: {}", r.body);
        assert!(r.body.contains("took 1.9 s here"), "{file}");
        assert!(r.body.contains("compare this server"), "{file}: the fix");
    }
    for t in tasks {
        t.abort();
    }
}

//! Webhook notifications end to end: the real collector binary, a simulated agent over
//! gRPC, and a real HTTP receiver that fails twice before accepting. Each change arrives
//! (accepted) exactly once, retries carry the same event id, a probe failing again and
//! again is one event, and no secret reaches the payload or the logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::agent::{result, Agent, SimAgent, CHECKS};
use common::receiver::Receiver;
use common::{run_audit, wait_closed, Collector};

const TOKEN: &str = "Bearer hook-token-7f3a";
const SECRET_PATH: &str = "/hooks/T000/B000/path-secret-91c2";

/// An HTTP/1.1 receiver on loopback that answers 500 to its first `failures` requests and
/// 200 afterwards.
async fn receiver(failures: usize) -> (SocketAddr, Receiver) {
    Receiver::listen(move |i| if i < failures { 500 } else { 200 }).await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_gap_change_arrives_once_despite_a_receiver_failing_twice() {
    let (hook, log) = receiver(2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "evaluate_every_s = 1\n[[webhook]]\nurl = \"http://{hook}{SECRET_PATH}\"\n\
             headers = {{ Authorization = \"{TOKEN}\" }}\nmax_attempts = 5\nretry_base_ms = 50\n"
        ),
    )
    .unwrap();
    let logs = dir.path().join("collector.log");
    let args = ["--plaintext", "--config", config.to_str().unwrap()];
    let collector = Collector::start_logging(&dir.path().join("c.db"), &args, &logs);
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;

    // imap fails (the firewall): one gap opens.
    let first = CHECKS
        .iter()
        .enumerate()
        .map(|(i, c)| result(i as u64 + 1, c, (*c == "imap").then_some("tcp_refused")))
        .collect();
    agent.send_results(first).await;
    let got = log.accepted(1).await;
    assert_eq!(got.len(), 3, "two 500s, then accepted: {got:#?}");
    let opened = &got[2].body;
    assert_eq!(opened["event"], "gap_opened", "{opened}");
    assert_eq!(
        (&opened["source"], &opened["server"], &opened["check"]),
        (&"continuous".into(), &"svc-1".into(), &"imap".into())
    );
    assert_eq!(
        (&opened["kind"], &opened["severity"]),
        (&"failing".into(), &"gap".into())
    );
    // tcp_refused: the firewall's, so the network team's.
    assert_eq!(opened["owner"], "network", "{opened}");
    assert_eq!(opened["deployment"], "prod");
    assert!(
        got.iter().all(|r| r.body == *opened),
        "a retry is the same event, same event_id: {got:#?}"
    );

    // The probe keeps failing (its detail changing once): the gap stays open, no event.
    for (i, kind) in [
        "tcp_refused",
        "tcp_timeout",
        "tcp_timeout",
        "tcp_refused",
        "tcp_refused",
    ]
    .into_iter()
    .enumerate()
    {
        agent
            .send_results(vec![result(10 + i as u64, "imap", Some(kind))])
            .await;
        // The tracker evaluates within a second of new results.
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert_eq!(log.requests().len(), 3, "no event for a failure repeated");

    // Fixed: the gap closes.
    agent.send_results(vec![result(20, "imap", None)]).await;
    let got = log.accepted(2).await;
    let closed = &got[3].body;
    assert_eq!(closed["event"], "gap_closed", "{closed}");
    assert_eq!(closed["check"], "imap");
    assert_eq!(closed["owner"], "network", "{closed}");
    assert_eq!(closed["opened_unix_ms"], opened["opened_unix_ms"]);
    assert!(closed["closed_unix_ms"].as_i64() >= opened["opened_unix_ms"].as_i64());
    assert_ne!(closed["event_id"], opened["event_id"]);
    assert!(closed["at"].as_str().unwrap().ends_with('Z'));

    // Nothing more arrives: exactly one accepted event per change.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = log.requests();
    let accepted: Vec<&str> = got
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body["event"].as_str().unwrap())
        .collect();
    assert_eq!(accepted, ["gap_opened", "gap_closed"], "{got:#?}");
    assert_eq!(got.len(), 4, "{got:#?}");
    for r in &got {
        assert_eq!(r.path, SECRET_PATH);
        assert_eq!(
            r.header("authorization"),
            TOKEN,
            "the configured header is sent"
        );
        assert_eq!(r.header("content-type"), "application/json");
        assert!(
            r.header("user-agent").starts_with("eceprobe-collector/"),
            "{r:?}"
        );
        assert!(
            !r.raw.contains("hook-token") && !r.raw.contains("path-secret"),
            "{r:?}"
        );
    }

    // The logs name the webhook by host and port only, and never the header's value.
    drop(agent);
    drop(collector);
    let text = std::fs::read_to_string(&logs).unwrap();
    assert!(text.contains("webhooks: 1 configured"), "{text}");
    assert!(
        text.contains("retrying"),
        "the failed attempts are logged: {text}"
    );
    assert!(text.contains(&format!("http://{hook}")), "{text}");
    assert!(
        !text.contains("path-secret") && !text.contains("hook-token"),
        "{text}"
    );
}

/// Runs an audit of "prod" and waits until it is closed.
async fn audit(query: SocketAddr) -> String {
    let id = run_audit(query, "prod", 30).await;
    wait_closed(query, &id).await;
    id
}

/// The events received for `audit_id`, in arrival order, once its audit_closed is in.
async fn audit_events(log: &Receiver, audit_id: &str) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<serde_json::Value> = log
            .requests()
            .iter()
            .filter(|r| r.body["audit_id"] == audit_id)
            .map(|r| r.body.clone())
            .collect();
        if events.iter().any(|e| e["event"] == "audit_closed") {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit_closed for {audit_id}: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kinds(events: &[serde_json::Value]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["check"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_sends_its_new_and_resolved_gaps_once_then_a_summary() {
    let (hook, log) = receiver(0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, format!("[[webhook]]\nurl = \"http://{hook}/\"\n")).unwrap();
    let logs = dir.path().join("collector.log");
    let args = ["--plaintext", "--config", config.to_str().unwrap()];
    let collector = Collector::start_logging(&dir.path().join("c.db"), &args, &logs);
    let failing = Arc::new(Mutex::new(vec!["imap"]));
    let answering =
        SimAgent::answering(collector.addr, "svc-1", "prod", Arc::clone(&failing)).await;

    // The first audit of the scope: every gap it finds is new.
    let first = audit(collector.query).await;
    let events = audit_events(&log, &first).await;
    assert_eq!(
        kinds(&events),
        [("gap_opened", "imap"), ("audit_closed", "")],
        "{events:#?}"
    );
    assert_eq!(events[0]["source"], "audit");
    assert_eq!(events[0]["owner"], "network", "tcp_refused: {}", events[0]);
    let summary = &events[1];
    let counts = ["servers", "answered", "gaps", "new", "resolved"].map(|k| summary[k].as_u64());
    assert_eq!(counts, [Some(1), Some(1), Some(1), Some(1), Some(0)]);

    // imap fixed, pop3 broken: the next audit sends only what changed.
    *failing.lock().unwrap() = vec!["pop3"];
    let second = audit(collector.query).await;
    let events = audit_events(&log, &second).await;
    assert_eq!(
        kinds(&events),
        [
            ("gap_opened", "pop3"),
            ("gap_closed", "imap"),
            ("audit_closed", "")
        ],
        "{events:#?}"
    );
    let counts = ["new", "resolved"].map(|k| events[2][k].as_u64());
    assert_eq!(counts, [Some(1), Some(1)]);

    // Each audit sent its events once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let from_audits = log
        .requests()
        .iter()
        .filter(|r| r.body.get("audit_id").is_some())
        .count();
    assert_eq!(from_audits, 5);
    drop(answering);
}

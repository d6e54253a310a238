//! Webhook events survive a crash: the real collector binary, a simulated agent over gRPC
//! and a real HTTP receiver that refuses (503) at first. A gap opens, its event's first
//! attempt fails, the collector is killed (SIGKILL: no grace, no shutdown), the receiver
//! recovers, the collector restarts on the same database: the event arrives, once, with
//! the event id that was queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::agent::{result, Agent, CHECKS};
use common::receiver::Receiver;
use common::Collector;
use eceprobe_collector::notify::{outbox_key, WebhookUrl};
use eceprobe_collector::store::Store;

const SECRET_PATH: &str = "/hooks/T000/B000/path-secret-4e8d";

/// Waits (at most 20 s) for a line of the log containing `needle`.
async fn log_line(log: &Path, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {needle:?} in the log: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_queued_before_a_crash_is_delivered_once_after_the_restart() {
    let accepting = Arc::new(AtomicBool::new(false));
    let accepts = Arc::clone(&accepting);
    // 503 until `accepting` is set, then 200.
    let (hook, seen) = Receiver::listen(move |_| match accepts.load(Ordering::SeqCst) {
        true => 200,
        false => 503,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let config = dir.path().join("collector.toml");
    // A first retry 1.5 to 3 s after the failure: the kill comes well before.
    std::fs::write(
        &config,
        format!(
            "evaluate_every_s = 1\n[[webhook]]\nurl = \"http://{hook}{SECRET_PATH}\"\n\
             max_attempts = 5\nretry_base_ms = 3000\n"
        ),
    )
    .unwrap();
    let args = ["--plaintext", "--config", config.to_str().unwrap()];
    let first_log = dir.path().join("first.log");
    let collector = Collector::start_logging(&db, &args, &first_log);
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;

    // imap fails: a gap opens; its event's first attempt is refused (503).
    let batch = CHECKS
        .iter()
        .enumerate()
        .map(|(i, c)| result(i as u64 + 1, c, (*c == "imap").then_some("tcp_refused")))
        .collect();
    agent.send_results(batch).await;
    let line = log_line(&first_log, "webhook attempt failed; retrying").await;
    // Killed at once: no shutdown, no grace.
    collector.kill();
    drop(agent);
    let event_id = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("event_id="))
        .unwrap_or_else(|| panic!("no event id in {line}"))
        .to_owned();
    assert!(line.contains("attempt=1"), "{line}");
    {
        let got = seen.requests();
        assert_eq!(got.len(), 1, "one attempt before the kill: {got:#?}");
        assert_eq!(got[0].status, 503);
        assert_eq!(got[0].body["event"], "gap_opened");
        assert_eq!(got[0].body["event_id"], event_id.as_str());
    }

    // The outbox kept it, with its failed attempt and the same event id.
    let store = Store::open(&db).await.unwrap();
    let url = WebhookUrl::parse(&format!("http://{hook}{SECRET_PATH}")).unwrap();
    let key = outbox_key(&url);
    assert!(!key.contains("path-secret"), "{key}");
    let rows = store.outbox_due(&key, i64::MAX, 100).await.unwrap();
    assert_eq!(store.outbox_pending(None).await.unwrap(), 1, "{rows:#?}");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        (
            rows[0].event_id.as_str(),
            rows[0].kind.as_str(),
            rows[0].attempts
        ),
        (event_id.as_str(), "gap_opened", 1)
    );
    let queued: serde_json::Value = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(queued, seen.requests()[0].body, "the body as sent");
    store.close().await;

    // The receiver recovers; the collector restarts on the same database.
    accepting.store(true, Ordering::SeqCst);
    let second_log = dir.path().join("second.log");
    let mut collector = Collector::start_logging(&db, &args, &second_log);
    seen.accepted(1).await;
    // Long enough for a duplicate to show up if there were one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = seen.requests();
    let delivered: Vec<&serde_json::Value> = got
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| &r.body)
        .collect();
    assert_eq!(delivered.len(), 1, "delivered exactly once: {got:#?}");
    assert_eq!(*delivered[0], queued, "the same event, same event_id");
    let opened = got
        .iter()
        .filter(|r| r.body["event"] == "gap_opened")
        .count();
    assert_eq!(
        opened, 2,
        "one refused before the crash, one accepted after"
    );

    // A clean stop: nothing left in the outbox.
    collector.interrupt();
    assert!(collector.exited("SIGINT").success());
    let store = Store::open(&db).await.unwrap();
    assert_eq!(store.outbox_pending(None).await.unwrap(), 0);
    store.close().await;

    let text = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        text.contains("webhook events from before the start"),
        "{text}"
    );
    assert!(!text.contains("kept for the next start"), "{text}");
    // Nor does the database (main file and WAL) hold the secret path.
    for file in std::fs::read_dir(db.parent().unwrap()).unwrap() {
        let path = file.unwrap().path();
        if path.to_string_lossy().contains(".db") {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(11).any(|w| w == b"path-secret");
            assert!(!found, "the secret path is in {}", path.display());
        }
    }
    for log in [&first_log, &second_log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains(&format!("http://{hook}")), "{text}");
        assert!(!text.contains("path-secret"), "{text}");
    }
}

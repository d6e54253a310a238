//! A real collector process on a loopback port with a temporary SQLite file, driven by real
//! gRPC clients: what is acked is stored once and survives a crash; bad input is refused
//! with a message that names it, without disturbing other agents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use eceprobe_proto::now_ms;
use std::path::Path;
use std::time::Duration;

use common::agent::{hello, result, Agent, CHECKS};
use common::{current_gaps, msg, wait_for_gaps, Collector, ConnectTo};
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{
    agent_message, AgentMessage, CheckResult, Gap, GapHistoryRequest, Heartbeat, Outcome,
    ResultBatch,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn batch(seqs: impl IntoIterator<Item = u64>) -> AgentMessage {
    let results = seqs
        .into_iter()
        .map(|s| result(s, CHECKS[s as usize % CHECKS.len()], None))
        .collect();
    msg(agent_message::Body::Batch(ResultBatch { results }))
}

async fn stored_rows(db: &Path, agent: &str) -> Vec<u64> {
    let store = Store::open(db).await.unwrap();
    let mut seqs = Vec::new();
    for check in CHECKS {
        seqs.extend(
            store
                .history(agent, check, 10_000)
                .await
                .unwrap()
                .iter()
                .map(|r| r.seq),
        );
    }
    store.close().await;
    seqs.sort_unstable();
    seqs
}

#[tokio::test(flavor = "multi_thread")]
async fn resends_are_acked_but_never_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let collector = Collector::start(&db);
    let (mut agent, last) = Agent::connect(collector.addr, "svc-1").await;
    assert_eq!(last, 0);
    assert_eq!(agent.send_expect_ack(batch(1..=10)).await, 10);
    drop(agent);
    // Reconnect: the welcome says what is stored; a resend overlapping it is acked.
    let (mut agent, last) = Agent::connect(collector.addr, "svc-1").await;
    assert_eq!(last, 10);
    assert_eq!(agent.send_expect_ack(batch(5..=15)).await, 15);
    assert_eq!(
        agent.send_expect_ack(batch(1..=3)).await,
        15,
        "an old resend acks the high mark"
    );
    drop(agent);
    collector.kill();
    assert_eq!(
        stored_rows(&db, "svc-1").await,
        (1..=15).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_collector_loses_nothing_it_acked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let collector = Collector::start(&db);
    let (mut agent, _) = Agent::connect(collector.addr, "app-1").await;
    for chunk in 0..10u64 {
        let from = chunk * 20 + 1;
        assert_eq!(
            agent.send_expect_ack(batch(from..from + 20)).await,
            from + 19
        );
    }
    collector.kill();
    let collector = Collector::start(&db);
    let (_, last) = Agent::connect(collector.addr, "app-1").await;
    assert_eq!(last, 200, "every acked result survived the kill");
    collector.kill();
    assert_eq!(stored_rows(&db, "app-1").await.len(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_by_name_and_others_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let collector = Collector::start(&db);
    let (mut good, _) = Agent::connect(collector.addr, "good").await;

    // A batch is refused whole only for its own shape (a result's problems set that result
    // aside: tests/newer_agents.rs).
    let (mut bad, _) = Agent::connect(collector.addr, "bad-1").await;
    let err = bad
        .send_expect_error(msg(agent_message::Body::Batch(ResultBatch {
            results: vec![result(0, "imap", None)],
        })))
        .await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("sequence 0"), "{err}");

    let (mut bad, _) = Agent::connect(collector.addr, "bad-2").await;
    let err = bad.send_expect_error(batch([3, 2])).await;
    assert!(err.message().contains("backwards"), "{err}");

    let (mut bad, _) = Agent::connect(collector.addr, "bad-3").await;
    let again = msg(agent_message::Body::Hello(hello("bad-3", "prod")));
    let err = bad.send_expect_error(again).await;
    assert!(
        err.message().contains("Hello may only be sent once"),
        "{err}"
    );

    // Over the message size bound: tonic refuses it before it is decoded.
    let (mut bad, _) = Agent::connect(collector.addr, "bad-4").await;
    let mut huge = result(1, "imap", None);
    huge.host = "x".repeat(5 * 1024 * 1024);
    let err = bad
        .send_expect_error(msg(agent_message::Body::Batch(ResultBatch {
            results: vec![huge],
        })))
        .await;
    assert!(err.message().to_lowercase().contains("message"), "{err}");

    // A stream that does not start with Hello.
    let mut client = AgentLinkClient::connect_to(collector.addr).await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(msg(agent_message::Body::Heartbeat(Heartbeat::default())))
        .await
        .unwrap();
    let err = client.connect(ReceiverStream::new(rx)).await.unwrap_err();
    assert!(err.message().contains("must be Hello"), "{err}");

    // Meanwhile the well-behaved agent is served as usual.
    assert_eq!(good.send_expect_ack(batch(1..=5)).await, 5);
    drop(good);
    collector.kill();
    assert_eq!(stored_rows(&db, "good").await.len(), 5);
    assert!(stored_rows(&db, "bad-1").await.is_empty());
}

fn has(gaps: &[Gap], agent: &str, check: &str, kind: &str) -> bool {
    gaps.iter()
        .any(|g| g.agent_id == agent && g.check == check && g.kind == kind)
}

/// A collector that evaluates gaps every second and calls an agent stale after 2 of its
/// probe intervals without a word.
fn quick_collector(dir: &Path, db: &Path) -> Collector {
    std::fs::write(dir.join("policy.toml"), "stale_after_intervals = 2\n").unwrap();
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        "policy_file = \"policy.toml\"\nevaluate_every_s = 1\n",
    )
    .unwrap();
    Collector::start_with(db, &["--plaintext", "--config", config.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread")]
async fn gaps_open_and_close_as_results_change_and_silent_agents_go_stale() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    // Evaluate every second; an agent silent for 2 of its 1 s intervals is stale.
    let collector = quick_collector(dir.path(), &db);
    let (addr, query) = (collector.addr, collector.query);
    let (mut agent, _) = Agent::connect_every(addr, "svc-9", 1).await;
    // The agent heartbeats twice an interval, as real agents do, until it goes silent.
    let beats = agent.tx.clone();
    let beating = tokio::spawn(async move {
        loop {
            let beat = msg(agent_message::Body::Heartbeat(Heartbeat::default()));
            if beats.send(beat).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    let mut smtp = result(2, "smtp", None);
    smtp.outcome = Outcome::Warn as i32;
    smtp.warnings = vec![eceprobe_proto::v1::Finding {
        kind: "tls_intercepted".into(),
        stage: "tls".into(),
        ..Default::default()
    }];
    let first = vec![
        result(1, "imap", Some("tcp_timeout")),
        smtp,
        result(3, "login-https", None),
    ];
    let sent_at = now_ms();
    let batch = msg(agent_message::Body::Batch(ResultBatch { results: first }));
    assert_eq!(agent.send_expect_ack(batch).await, 3);
    // Missing checks count once the new agent's settling window (2 intervals) is over.
    let gaps = wait_for_gaps(query, "the imap and missing gaps", |g| {
        has(g, "svc-9", "imap", "failing") && has(g, "svc-9", "pop3", "missing")
    })
    .await;
    let imap = gaps.iter().find(|g| g.check == "imap").unwrap();
    assert_eq!(
        (imap.severity.as_str(), imap.detail.as_str()),
        ("gap", "tcp_timeout")
    );
    // An evaluation takes its time when it starts and then reads the latest states: one
    // that started just before the batch arrived may see it, so the gap may open up to one
    // evaluation (1 s here) before `sent_at`, never earlier (it failed once, under load).
    assert!(
        imap.opened_unix_ms >= sent_at - 1_000 && imap.closed_unix_ms == 0,
        "{imap:?}"
    );
    for missing in ["outlook-https", "pop3"] {
        assert!(has(&gaps, "svc-9", missing, "missing"), "{gaps:#?}");
    }
    assert!(has(&gaps, "svc-9", "smtp", "intercepted"), "{gaps:#?}");
    assert_eq!(gaps.len(), 4, "{gaps:#?}");

    // The firewall is fixed: imap passes, the other checks report.
    let fixed: Vec<CheckResult> = [(4, "imap"), (5, "outlook-https"), (6, "pop3")]
        .into_iter()
        .map(|(s, c)| result(s, c, None))
        .collect();
    let batch = msg(agent_message::Body::Batch(ResultBatch { results: fixed }));
    assert_eq!(agent.send_expect_ack(batch).await, 6);
    let gaps = wait_for_gaps(query, "the gaps to close", |g| {
        g.iter().all(|g| g.kind == "intercepted")
    })
    .await;
    assert_eq!(
        gaps.len(),
        1,
        "only the interception warning stays: {gaps:#?}"
    );

    let mut query_client = QueryClient::connect_to(query).await;
    let history = query_client
        .gap_history(GapHistoryRequest {
            agent_id: "svc-9".into(),
            check: "imap".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .gaps;
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0].gap_id, imap.gap_id);
    assert!(history[0].closed_unix_ms >= history[0].opened_unix_ms);
    assert_eq!(history[0].opened_unix_ms, imap.opened_unix_ms);

    // The agent goes silent (no results, no heartbeat): within a few seconds every check
    // its role needs is a stale gap, and what was known stays said: the interception
    // warning, now as last known.
    beating.abort();
    drop(agent);
    let gaps = wait_for_gaps(query, "stale gaps", |g| {
        g.iter().filter(|g| g.kind == "stale").count() == 5
    })
    .await;
    let (stale, known): (Vec<_>, Vec<_>) = gaps.iter().partition(|g| g.kind == "stale");
    assert!(stale.iter().all(|g| g.severity == "gap"), "{gaps:#?}");
    assert_eq!(known.len(), 1, "{gaps:#?}");
    assert_eq!(known[0].check, "smtp");
    assert_eq!(known[0].kind, "intercepted");
    assert!(
        known[0]
            .detail
            .starts_with("tls_intercepted (last known; agent silent since "),
        "{}",
        known[0].detail
    );
    let stale_opened = stale[0].opened_unix_ms;

    // Gaps outlive a crash of the collector: the same gaps, opened at the same time; the
    // agent silent before the crash is still stale after it.
    collector.kill();
    let collector = quick_collector(dir.path(), &db);
    let again = current_gaps(collector.query).await;
    assert_eq!(again.len(), 6, "{again:#?}");
    assert!(
        again
            .iter()
            .filter(|g| g.kind == "stale")
            .all(|g| g.opened_unix_ms == stale_opened),
        "{again:#?}"
    );

    // The agent comes back: stale gaps close.
    let (mut agent, last) = Agent::connect_every(collector.addr, "svc-9", 1).await;
    assert_eq!(last, 6);
    let back: Vec<CheckResult> = CHECKS
        .into_iter()
        .enumerate()
        .map(|(i, c)| result(7 + i as u64, c, None))
        .collect();
    let batch = msg(agent_message::Body::Batch(ResultBatch { results: back }));
    assert_eq!(agent.send_expect_ack(batch).await, 11);
    wait_for_gaps(collector.query, "every gap to close", |g| g.is_empty()).await;
    drop(agent);
    collector.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mailbox_removed_from_the_agent_closes_its_gap() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    // A 1 s interval and 2 intervals to stale: the stale window is 2 s.
    let collector = quick_collector(dir.path(), &db);
    let (mut agent, _) = Agent::connect_every(collector.addr, "svc-m", 1).await;
    let mailbox = "oauth-imap/old@contoso.com";
    let mut seq = 0;
    let mut cycle = |with_mailbox: bool| {
        let mut results: Vec<CheckResult> = CHECKS
            .iter()
            .map(|c| {
                seq += 1;
                result(seq, c, None)
            })
            .collect();
        if with_mailbox {
            seq += 1;
            results.push(result(seq, mailbox, Some("mailbox_not_connected")));
        }
        (
            msg(agent_message::Body::Batch(ResultBatch { results })),
            seq,
        )
    };
    let (batch, last) = cycle(true);
    assert_eq!(agent.send_expect_ack(batch).await, last);
    wait_for_gaps(collector.query, "the mailbox's gap", |g| {
        has(g, "svc-m", mailbox, "failing")
    })
    .await;

    // The mailbox is removed from the agent's configuration: its cycles go on without it,
    // and once they have for over the stale window its gap closes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (batch, last) = cycle(false);
        assert_eq!(agent.send_expect_ack(batch).await, last);
        let gaps = current_gaps(collector.query).await;
        if gaps.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mailbox's gap is still open: {gaps:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(agent);
    collector.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_request_ends_agent_streams_and_exits_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let mut collector = Collector::start(&db);
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;
    assert_eq!(agent.send_expect_ack(batch(1..=3)).await, 3);
    // As Ctrl-C or the service manager would: SIGINT while the agent's stream is open.
    collector.interrupt();
    let status = tokio::time::timeout(Duration::from_secs(10), agent.rx.message())
        .await
        .expect("the collector ends the agent's stream within 10 s");
    let err = status.expect_err("the stream ends with a status");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    assert!(err.message().contains("shutting down"), "{err}");
    assert_eq!(collector.exited("SIGINT").code(), Some(0));
    assert_eq!(stored_rows(&db, "svc-1").await.len(), 3);
}

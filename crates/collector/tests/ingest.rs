//! A real collector process on a loopback port with a temporary SQLite file, driven by real
//! gRPC clients: what is acked is stored once and survives a crash; bad input is refused
//! with a message that names it, without disturbing other agents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eceprobe_collector::convert::{agent_view, check_view};
use eceprobe_collector::gaps::{evaluate, FindingKind, Policy, Severity};
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{
    agent_message, collector_message, AgentMessage, CheckResult, CollectorMessage, Heartbeat,
    Hello, Outcome, ResultBatch, Role,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

struct Collector {
    child: Child,
    addr: SocketAddr,
}

impl Collector {
    fn start(db: &Path) -> Collector {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .arg("--log-level=warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("collector said {line:?}"))
            .parse()
            .unwrap();
        Collector { child, addr }
    }

    /// Like a power cut: SIGKILL, no shutdown.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Agent {
    tx: mpsc::Sender<AgentMessage>,
    rx: Streaming<CollectorMessage>,
}

fn msg(body: agent_message::Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

fn hello(id: &str) -> AgentMessage {
    msg(agent_message::Body::Hello(Hello {
        agent_id: id.into(),
        hostname: format!("{id}.contoso.local"),
        role: Role::Services as i32,
        deployment: "prod".into(),
        agent_version: "0.1.0".into(),
        probe_interval_s: 60,
        ..Hello::default()
    }))
}

fn result(seq: u64, check: &str) -> CheckResult {
    CheckResult {
        seq,
        check: check.into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms: 1_800_000_000_000 + seq as i64,
        outcome: Outcome::Pass as i32,
        duration_us: 1234,
        ..CheckResult::default()
    }
}

fn batch(seqs: impl IntoIterator<Item = u64>) -> AgentMessage {
    let checks = ["login-https", "outlook-https", "imap", "pop3", "smtp"];
    let results = seqs
        .into_iter()
        .map(|s| result(s, checks[s as usize % checks.len()]))
        .collect();
    msg(agent_message::Body::Batch(ResultBatch { results }))
}

impl Agent {
    /// Opens a stream and says hello; returns the agent and the collector's last stored seq.
    async fn connect(addr: SocketAddr, id: &str) -> (Agent, u64) {
        let mut client = AgentLinkClient::connect_to(addr).await;
        let (tx, rx) = mpsc::channel(16);
        tx.send(hello(id)).await.unwrap();
        let rx = client
            .connect(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let mut agent = Agent { tx, rx };
        match agent.next().await {
            Some(collector_message::Body::Welcome(w)) => (agent, w.last_stored_seq),
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    async fn next(&mut self) -> Option<collector_message::Body> {
        let m = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("the collector answers in time")
            .expect("the stream is healthy")?;
        m.body
    }

    async fn send_expect_ack(&mut self, m: AgentMessage) -> u64 {
        self.tx.send(m).await.unwrap();
        match self.next().await {
            Some(collector_message::Body::Ack(a)) => a.up_to_seq,
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    /// Sends something and returns the error the collector ends the stream with.
    async fn send_expect_error(&mut self, m: AgentMessage) -> tonic::Status {
        self.tx.send(m).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), self.rx.message()).await {
            Ok(Err(status)) => status,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

trait ConnectTo {
    async fn connect_to(addr: SocketAddr) -> AgentLinkClient<tonic::transport::Channel>;
}

impl ConnectTo for AgentLinkClient<tonic::transport::Channel> {
    async fn connect_to(addr: SocketAddr) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        AgentLinkClient::new(channel)
    }
}

async fn stored_rows(db: &Path, agent: &str) -> Vec<u64> {
    let store = Store::open(db).await.unwrap();
    let mut seqs = Vec::new();
    for check in ["login-https", "outlook-https", "imap", "pop3", "smtp"] {
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

    let (mut bad, _) = Agent::connect(collector.addr, "bad-1").await;
    let err = bad
        .send_expect_error(msg(agent_message::Body::Batch(ResultBatch {
            results: vec![result(1, "ftp")],
        })))
        .await;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("unknown check 'ftp'"), "{err}");

    let (mut bad, _) = Agent::connect(collector.addr, "bad-2").await;
    let err = bad.send_expect_error(batch([3, 2])).await;
    assert!(err.message().contains("backwards"), "{err}");

    let (mut bad, _) = Agent::connect(collector.addr, "bad-3").await;
    let err = bad.send_expect_error(hello("bad-3")).await;
    assert!(
        err.message().contains("Hello may only be sent once"),
        "{err}"
    );

    // Over the message size bound: tonic refuses it before it is decoded.
    let (mut bad, _) = Agent::connect(collector.addr, "bad-4").await;
    let mut huge = result(1, "imap");
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

#[tokio::test(flavor = "multi_thread")]
async fn stored_results_feed_the_gap_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let collector = Collector::start(&db);
    let (mut agent, _) = Agent::connect(collector.addr, "svc-9").await;
    let mut imap = result(1, "imap");
    imap.outcome = Outcome::Fail as i32;
    imap.failure = Some(eceprobe_proto::v1::Finding {
        kind: "tcp_timeout".into(),
        stage: "tcp".into(),
        ..Default::default()
    });
    let mut smtp = result(2, "smtp");
    smtp.outcome = Outcome::Warn as i32;
    smtp.warnings = vec![eceprobe_proto::v1::Finding {
        kind: "tls_intercepted".into(),
        stage: "tls".into(),
        ..Default::default()
    }];
    let login = result(3, "login-https");
    let batch = msg(agent_message::Body::Batch(ResultBatch {
        results: vec![imap, smtp, login],
    }));
    assert_eq!(agent.send_expect_ack(batch).await, 3);
    drop(agent);
    collector.kill();

    let store = Store::open(&db).await.unwrap();
    let agents: Vec<_> = store
        .agents()
        .await
        .unwrap()
        .iter()
        .map(agent_view)
        .collect();
    let checks: Vec<_> = store
        .latest_all()
        .await
        .unwrap()
        .iter()
        .filter_map(check_view)
        .collect();
    store.close().await;
    let now = agents[0].seen_unix_ms;
    let found = evaluate(&Policy::default(), &agents, &checks, now);
    let gaps: Vec<_> = found
        .iter()
        .filter(|f| f.severity == Severity::Gap)
        .map(|f| (f.check.to_string(), f.kind, f.detail.clone()))
        .collect();
    assert!(
        gaps.contains(&("imap".into(), FindingKind::Failing, "tcp_timeout".into())),
        "{gaps:?}"
    );
    for missing in ["outlook-https", "pop3"] {
        assert!(
            gaps.iter()
                .any(|g| g.0 == missing && g.1 == FindingKind::Missing),
            "{gaps:?}"
        );
    }
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    assert!(found
        .iter()
        .any(|f| f.kind == FindingKind::Intercepted && f.check.to_string() == "smtp"));
}

/// Runs the admin CLI against a collector; returns (exit code, stdout, stderr).
fn admin(addr: SocketAddr, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(args)
        .args(["--collector", &format!("http://{addr}")])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_cli_answers_from_the_query_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let collector = Collector::start(&db);
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;
    let mut results: Vec<CheckResult> = ["login-https", "outlook-https", "imap", "pop3", "smtp"]
        .iter()
        .enumerate()
        .map(|(i, c)| result(i as u64 + 1, c))
        .collect();
    results[2].outcome = Outcome::Fail as i32;
    results[2].failure = Some(eceprobe_proto::v1::Finding {
        kind: "tcp_refused".into(),
        stage: "tcp".into(),
        detail: "connecting to 52.97.1.1:993: Connection refused".into(),
        hint: "open outbound TCP 993 to outlook.office365.com on the firewall (C10)".into(),
    });
    let batch = msg(agent_message::Body::Batch(ResultBatch { results }));
    assert_eq!(agent.send_expect_ack(batch).await, 5);

    let addr = collector.addr;
    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["servers"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("svc-1"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("prod") && row.contains("services"), "{row}");

    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["gaps", "--json"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let gaps: serde_json::Value = serde_json::from_str(&out).unwrap();
    let gaps = gaps.as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["check"], "imap");
    assert_eq!(gaps[0]["kind"], "failing");
    assert_eq!(gaps[0]["detail"], "tcp_refused");

    let (code, out, _) = tokio::task::spawn_blocking(move || admin(addr, &["show", "svc-1"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let imap = out
        .lines()
        .find(|l| l.starts_with("imap"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        imap.contains("FAIL") && imap.contains("tcp_refused"),
        "{imap}"
    );
    assert!(out.contains("What to do") && out.contains("(C10)"), "{out}");

    let (code, out, _) =
        tokio::task::spawn_blocking(move || admin(addr, &["history", "svc-1", "imap", "--json"]))
            .await
            .unwrap();
    assert_eq!(code, Some(0));
    let history: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(history[0]["seq"], 3);
    assert_eq!(history[0]["failure"]["kind"], "tcp_refused");

    // Bad input: a clear message, exit 2.
    let (code, _, err) =
        tokio::task::spawn_blocking(move || admin(addr, &["gaps", "--check", "ftp"]))
            .await
            .unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown check 'ftp'"), "{err}");
    let (code, _, err) = tokio::task::spawn_blocking(move || admin(addr, &["show", "nobody"]))
        .await
        .unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("no server with agent id 'nobody'"), "{err}");
    drop(agent);
    collector.kill();
}

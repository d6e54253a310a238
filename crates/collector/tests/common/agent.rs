//! Simulated agents over real gRPC: one the test drives message by message ([`Agent`]),
//! and one that runs on its own and answers audit orders as the agent does ([`SimAgent`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eceprobe_checks::CheckId;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{
    agent_message, collector_message, order, AgentMessage, CheckResult, CollectorMessage, Finding,
    Hello, Outcome, ResultBatch, Role,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::{msg, ConnectTo};

/// What the default policy asks of a services server (the check table's).
pub const CHECKS: [&str; CheckId::REQUIRED_BY_DEFAULT.len()] =
    CheckId::names(CheckId::REQUIRED_BY_DEFAULT);

/// The hello of a services server `id` in `deployment` that probes every 60 s (no check
/// goes missing or stale during a test).
pub fn hello(id: &str, deployment: &str) -> Hello {
    Hello {
        agent_id: id.into(),
        hostname: format!("{id}.contoso.local"),
        role: Role::Services as i32,
        deployment: deployment.into(),
        agent_version: "0.1.0".into(),
        probe_interval_s: 60,
        ..Hello::default()
    }
}

pub struct Agent {
    pub tx: mpsc::Sender<AgentMessage>,
    pub rx: Streaming<CollectorMessage>,
}

impl Agent {
    /// Opens a stream as `id` in "prod" and says hello; returns the agent and the
    /// collector's last stored seq.
    pub async fn connect(addr: SocketAddr, id: &str) -> (Agent, u64) {
        Agent::connect_with(addr, hello(id, "prod")).await
    }

    /// An agent that declares it probes every `probe_interval_s` seconds.
    pub async fn connect_every(addr: SocketAddr, id: &str, probe_interval_s: u32) -> (Agent, u64) {
        let hello = Hello {
            probe_interval_s,
            ..hello(id, "prod")
        };
        Agent::connect_with(addr, hello).await
    }

    /// Opens a stream, says `hello` and waits for the welcome (from then on the agent can
    /// be ordered).
    pub async fn connect_with(addr: SocketAddr, hello: Hello) -> (Agent, u64) {
        let mut client = AgentLinkClient::connect_to(addr).await;
        let (tx, rx) = mpsc::channel(16);
        tx.send(msg(agent_message::Body::Hello(hello)))
            .await
            .unwrap();
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

    /// Like [`Agent::connect`], but `None` when the collector is down or ends the stream
    /// (an agent that reconnects elsewhere, as after a collector's crash).
    pub async fn try_connect(addr: SocketAddr, id: &str) -> Option<(Agent, u64)> {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).ok()?;
        let channel = tokio::time::timeout(Duration::from_secs(5), endpoint.connect())
            .await
            .ok()?
            .ok()?;
        let mut client = AgentLinkClient::new(channel);
        let (tx, rx) = mpsc::channel(16);
        tx.send(msg(agent_message::Body::Hello(hello(id, "prod"))))
            .await
            .ok()?;
        let call = client.connect(ReceiverStream::new(rx));
        let mut rx = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .ok()?
            .ok()?
            .into_inner();
        let welcome = tokio::time::timeout(Duration::from_secs(10), rx.message()).await;
        match welcome.ok()?.ok()??.body {
            Some(collector_message::Body::Welcome(w)) => {
                Some((Agent { tx, rx }, w.last_stored_seq))
            }
            _ => None,
        }
    }

    /// Sends a batch and waits for its ack, skipping orders (which it leaves unanswered);
    /// `None` when the stream fails or stays silent 10 s (the agent then reconnects and
    /// resends).
    pub async fn try_send(&mut self, m: AgentMessage) -> Option<u64> {
        self.tx.send(m).await.ok()?;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.rx.message()).await;
            if let Some(collector_message::Body::Ack(a)) = next.ok()?.ok()??.body {
                return Some(a.up_to_seq);
            }
        }
    }

    pub async fn next(&mut self) -> Option<collector_message::Body> {
        let m = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("the collector answers in time")
            .expect("the stream is healthy")?;
        m.body
    }

    pub async fn send_expect_ack(&mut self, m: AgentMessage) -> u64 {
        self.tx.send(m).await.unwrap();
        match self.next().await {
            Some(collector_message::Body::Ack(a)) => a.up_to_seq,
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    /// Sends `results` in one batch, which the collector must ack up to the last.
    pub async fn send_results(&mut self, results: Vec<CheckResult>) {
        let last = results.last().unwrap().seq;
        let batch = msg(agent_message::Body::Batch(ResultBatch { results }));
        assert_eq!(self.send_expect_ack(batch).await, last);
    }

    /// Sends something and returns the error the collector ends the stream with.
    pub async fn send_expect_error(&mut self, m: AgentMessage) -> tonic::Status {
        self.tx.send(m).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), self.rx.message()).await {
            Ok(Err(status)) => status,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// A result as an agent stores it, failing at the TCP stage when `failure` names a kind.
pub fn result(seq: u64, check: &str, failure: Option<&str>) -> CheckResult {
    CheckResult {
        seq,
        check: check.into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms: 1_800_000_000_000 + seq as i64,
        outcome: match failure {
            Some(_) => Outcome::Fail as i32,
            None => Outcome::Pass as i32,
        },
        failure: failure.map(|kind| Finding {
            kind: kind.into(),
            stage: "tcp".into(),
            ..Default::default()
        }),
        duration_us: 1234,
        ..CheckResult::default()
    }
}

/// What a simulated agent fails when ordered (tcp_refused), changeable between audits.
pub type Failing = Arc<Mutex<Vec<&'static str>>>;

pub fn failing(checks: &[&'static str]) -> Failing {
    Arc::new(Mutex::new(checks.to_vec()))
}

/// An agent on its own task, counting the audit orders it gets; aborted when dropped.
pub struct SimAgent {
    pub orders: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimAgent {
    /// Answers every audit order with one batch: the five Microsoft checks, tagged with the
    /// audit id, the ones in `failing` refused at the TCP stage.
    pub async fn answering(
        addr: SocketAddr,
        id: &str,
        deployment: &str,
        failing: Failing,
    ) -> SimAgent {
        SimAgent::start(addr, id, deployment, Some(failing)).await
    }

    /// Counts audit orders and never answers them.
    pub async fn silent(addr: SocketAddr, id: &str, deployment: &str) -> SimAgent {
        SimAgent::start(addr, id, deployment, None).await
    }

    async fn start(
        addr: SocketAddr,
        id: &str,
        deployment: &str,
        answers: Option<Failing>,
    ) -> SimAgent {
        let (Agent { tx, mut rx }, last) = Agent::connect_with(addr, hello(id, deployment)).await;
        let orders = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&orders);
        let task = tokio::spawn(async move {
            let mut seq = last;
            while let Ok(Some(m)) = rx.message().await {
                let Some(collector_message::Body::Order(o)) = m.body else {
                    continue;
                };
                let Some(order::Kind::RunAudit(audit)) = o.kind else {
                    continue;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let Some(failing) = &answers else {
                    continue;
                };
                let failing = failing.lock().unwrap().clone();
                let results = CHECKS
                    .iter()
                    .map(|check| {
                        seq += 1;
                        audit_result(seq, check, failing.contains(check), &audit.audit_id)
                    })
                    .collect();
                let batch = msg(agent_message::Body::Batch(ResultBatch { results }));
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        SimAgent { orders, task }
    }
}

/// One check's result in the answer to audit `audit_id`.
fn audit_result(seq: u64, check: &str, fails: bool, audit_id: &str) -> CheckResult {
    CheckResult {
        seq,
        check: check.into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms: 1_800_000_000_000,
        outcome: match fails {
            true => Outcome::Fail as i32,
            false => Outcome::Pass as i32,
        },
        failure: fails.then(|| Finding {
            kind: "tcp_refused".into(),
            stage: "tcp".into(),
            detail: "Connection refused".into(),
            hint: "open outbound TCP on the firewall (C10)".into(),
            ..Default::default()
        }),
        duration_us: 1000,
        audit_id: audit_id.into(),
        ..CheckResult::default()
    }
}

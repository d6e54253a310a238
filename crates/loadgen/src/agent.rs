//! A simulated agent: its own gRPC channel (one TCP connection, as a real agent has), the
//! AgentLink stream, Hello/Welcome, batches and heartbeats.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{
    agent_message, collector_message, AgentMessage, CheckResult, CollectorMessage, Heartbeat,
    Hello, ResultBatch, Role,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

/// Messages an agent may queue towards the collector before `send` waits.
const OUTBOUND_QUEUE: usize = 64;
/// How long an agent waits for any answer (welcome, ack) before giving up.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Deployments the simulated fleet is spread over (`dep-1` .. `dep-5`).
pub const DEPLOYMENTS: usize = 5;

pub fn agent_id(index: usize) -> String {
    format!("agent-{index:05}")
}

pub fn deployment(index: usize) -> String {
    format!("dep-{}", index % DEPLOYMENTS + 1)
}

/// Half services, half application servers.
pub fn role(index: usize) -> Role {
    if index % 2 == 0 {
        Role::Services
    } else {
        Role::Application
    }
}

pub fn hello(index: usize) -> Hello {
    let id = agent_id(index);
    Hello {
        hostname: format!("{id}.contoso.local"),
        agent_id: id,
        role: role(index) as i32,
        deployment: deployment(index),
        agent_version: "0.1.0".into(),
        os: "windows-server-2022".into(),
        ece_version: "12.6(1)".into(),
        ece_es: "ES1".into(),
        probe_interval_s: 60,
        java_runtime: JAVA_HOME.into(),
        java_truststore: java_truststore(),
    }
}

/// ECE's Java as a Windows server's agent reports it: rows of the size real ones carry.
pub const JAVA_HOME: &str = r"C:\Program Files\Java\jdk-17";

pub fn java_truststore() -> String {
    format!(
        r"Java trust store: {JAVA_HOME}\lib\security\cacerts (PKCS12, 140 trusted certificates), as JSSE picks it for {JAVA_HOME} (JAVA_HOME)"
    )
}

/// The endpoint every simulated agent connects to (each with its own channel).
pub fn endpoint(addr: SocketAddr) -> Result<Endpoint> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))
        .context("collector URL")?
        .connect_timeout(Duration::from_secs(30)))
}

fn msg(body: agent_message::Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

/// An open AgentLink stream, after the Welcome.
pub struct Link {
    // Kept so the channel (the agent's connection) lives as long as the stream.
    _client: AgentLinkClient<Channel>,
    tx: mpsc::Sender<AgentMessage>,
    rx: Streaming<CollectorMessage>,
    pub last_stored_seq: u64,
}

impl Link {
    /// Connects (a new TCP connection), sends Hello and waits for the Welcome.
    pub async fn open(endpoint: &Endpoint, hello: Hello) -> Result<Link> {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| explain_connect_error(anyhow::Error::new(e)))?;
        let mut client = AgentLinkClient::new(channel);
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        tx.send(msg(agent_message::Body::Hello(hello)))
            .await
            .map_err(|_| anyhow!("the outbound queue closed"))?;
        let rx = client
            .connect(ReceiverStream::new(rx))
            .await
            .map_err(|s| anyhow!("AgentLink.Connect refused: {s}"))?
            .into_inner();
        let mut link = Link {
            _client: client,
            tx,
            rx,
            last_stored_seq: 0,
        };
        match link.next().await? {
            collector_message::Body::Welcome(w) => link.last_stored_seq = w.last_stored_seq,
            other => bail!("expected a Welcome, got {other:?}"),
        }
        Ok(link)
    }

    pub async fn send_batch(&self, results: Vec<CheckResult>) -> Result<()> {
        self.send(agent_message::Body::Batch(ResultBatch { results }))
            .await
    }

    pub async fn send_heartbeat(&self, unix_ms: i64) -> Result<()> {
        self.send(agent_message::Body::Heartbeat(Heartbeat {
            unix_ms,
            spool_dropped: 0,
        }))
        .await
    }

    async fn send(&self, body: agent_message::Body) -> Result<()> {
        self.tx
            .send(msg(body))
            .await
            .map_err(|_| anyhow!("the stream to the collector is closed"))
    }

    /// The next message from the collector; an error when the stream ends or fails.
    pub async fn next(&mut self) -> Result<collector_message::Body> {
        let m = tokio::time::timeout(REPLY_TIMEOUT, self.rx.message())
            .await
            .map_err(|_| anyhow!("no answer within {} s", REPLY_TIMEOUT.as_secs()))?
            .map_err(|s| anyhow!("the collector ended the stream: {s}"))?
            .context("the collector closed the stream")?;
        m.body.context("an empty message from the collector")
    }

    /// Waits for an Ack; returns its up_to_seq.
    pub async fn next_ack(&mut self) -> Result<u64> {
        match self.next().await? {
            collector_message::Body::Ack(a) => Ok(a.up_to_seq),
            other => bail!("expected an Ack, got {other:?}"),
        }
    }
}

/// Running out of file descriptors shows up deep in a transport error: say what to do.
pub fn explain_connect_error(e: anyhow::Error) -> anyhow::Error {
    let mut emfile = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            emfile |= io.raw_os_error() == Some(24);
        }
        emfile |= err.to_string().contains("Too many open files");
        source = err.source();
    }
    if emfile || format!("{e:?}").contains("Too many open files") {
        return e.context(
            "out of file descriptors (EMFILE): raise the open-files limit in the shell that runs \
             the loadgen, e.g. `ulimit -n 20000` (the collector inherits it)",
        );
    }
    e.context("connecting to the collector")
}

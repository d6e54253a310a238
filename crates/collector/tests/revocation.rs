//! A revocation takes effect on open streams at once: a real collector process over TLS,
//! an agent with an enrolled certificate and an open stream. After `revoke`, the very next
//! batch is refused with PERMISSION_DENIED (and the refusal metadata the agent stops on)
//! and nothing of it is stored; an idle stream is ended within seconds; a new Hello is
//! refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::{hello, result};
use common::{msg, Collector, ConnectTo};
use eceprobe_collector::pki;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{
    agent_message, collector_message, AgentMessage, CollectorMessage, ResultBatch,
    ServerResultsRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status, Streaming};

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// An open stream as the enrolled agent `id`, after its welcome.
async fn open(
    addr: std::net::SocketAddr,
    bundle: &Path,
    id: &str,
) -> Result<(mpsc::Sender<AgentMessage>, Streaming<CollectorMessage>), Status> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(bundle, "ca.pem")))
        .identity(Identity::from_pem(
            read(bundle, "agent.pem"),
            read(bundle, "agent.key"),
        ))
        .domain_name("127.0.0.1");
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(8);
    tx.send(msg(agent_message::Body::Hello(hello(id, "prod"))))
        .await
        .unwrap();
    let mut inbound = AgentLinkClient::new(channel)
        .connect(ReceiverStream::new(rx))
        .await?
        .into_inner();
    match inbound.message().await? {
        Some(CollectorMessage {
            body: Some(collector_message::Body::Welcome(_)),
        }) => Ok((tx, inbound)),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

/// The refusal a revoked agent gets: PERMISSION_DENIED, in words, with the metadata.
fn assert_revoked(status: &Status) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status
            .message()
            .contains("is revoked on this collector: enroll the agent again"),
        "{}",
        status.message()
    );
    let reason = status.metadata().get(eceprobe_proto::refusal::KEY);
    assert_eq!(
        reason.and_then(|v| v.to_str().ok()),
        Some(eceprobe_proto::refusal::REVOKED)
    );
}

async fn stored_checks(query: std::net::SocketAddr, id: &str) -> usize {
    let mut client = QueryClient::connect_to(query).await;
    client
        .server_results(ServerResultsRequest {
            agent_id: id.into(),
        })
        .await
        .map(|r| r.into_inner().latest.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_refuses_the_next_batch_ends_idle_streams_and_later_hellos() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::init(&pki_dir, &["127.0.0.1".to_string()]).unwrap();
    let busy = dir.path().join("bundle-busy");
    pki::enroll(&pki_dir, "busy-1", &busy).unwrap();
    let idle = dir.path().join("bundle-idle");
    pki::enroll(&pki_dir, "idle-1", &idle).unwrap();
    let tls_dir = pki_dir.display().to_string();
    let collector = Collector::start_logging(
        &dir.path().join("c.db"),
        &["--tls-dir", &tls_dir],
        &dir.path().join("collector.log"),
    );

    let (busy_tx, mut busy_rx) = open(collector.addr, &busy, "busy-1").await.unwrap();
    let (_idle_tx, mut idle_rx) = open(collector.addr, &idle, "idle-1").await.unwrap();

    // Revoked, then a batch at once on the open stream: refused, nothing stored.
    pki::revoke(&pki_dir, "busy-1").unwrap();
    let batch = ResultBatch {
        results: vec![result(1, "imap", None)],
    };
    busy_tx
        .send(msg(agent_message::Body::Batch(batch)))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), busy_rx.message())
        .await
        .expect("the collector answers");
    match answer {
        Err(status) => assert_revoked(&status),
        Ok(other) => panic!("the batch of a revoked agent was answered: {other:?}"),
    }
    assert_eq!(stored_checks(collector.query, "busy-1").await, 0);

    // An idle stream (sending nothing) is ended within a few seconds of its revocation.
    pki::revoke(&pki_dir, "idle-1").unwrap();
    let revoked_at = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), idle_rx.message())
        .await
        .expect("the idle stream is ended within 5 s");
    match ended {
        Err(status) => assert_revoked(&status),
        Ok(other) => panic!("expected the stream to end, got {other:?}"),
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(3));

    // And it cannot come back.
    let again = open(collector.addr, &busy, "busy-1").await.map(|_| ());
    assert_revoked(&again.unwrap_err());
    collector.kill();
}

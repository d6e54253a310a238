//! The real agent binary against a collector that refuses batches, as an older collector
//! does when one result names a check it does not know: the collector here is a small tonic
//! server in this test implementing `AgentLink` on a real loopback port, refusing any batch
//! holding one chosen seq (with `invalid_argument` for good, or `unavailable` for a while).
//! (Not an older collector binary: none is built from history here; this server answers
//! exactly as `ingest.rs` did before issue 17: the whole batch refused, the stream ended.)
//!
//! What the administrator would check: refused for good, the agent sets that one result
//! aside (its log says so, `<spool>.refused` records it) and delivers every other result, in
//! order, once, without resending the refused one forever; refused for a while, it backs
//! off and delivers everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{eventually, Agent};
use eceprobe_proto::v1::agent_link_server::{AgentLink, AgentLinkServer};
use eceprobe_proto::v1::{
    agent_message, collector_message, Ack, AgentMessage, CollectorMessage, Welcome,
};
use eceprobe_testlab::{LabConfig, Testlab};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// What the old collector saw.
#[derive(Default)]
struct Seen {
    /// Seqs stored, in the order they were first stored.
    stored: Vec<u64>,
    /// Results received again after being stored (resends; a real collector acks them).
    resent: u64,
    /// Batches refused.
    refusals: u64,
}

#[derive(Clone)]
struct OldCollector {
    refuse_seq: u64,
    /// The status a batch holding `refuse_seq` gets, and for how many such batches (u64::MAX:
    /// for good).
    code: tonic::Code,
    refuse_times: u64,
    seen: Arc<Mutex<Seen>>,
}

#[tonic::async_trait]
impl AgentLink for OldCollector {
    type ConnectStream = ReceiverStream<Result<CollectorMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let mut inbound = request.into_inner();
        match inbound.message().await? {
            Some(AgentMessage {
                body: Some(agent_message::Body::Hello(_)),
            }) => {}
            _ => return Err(Status::invalid_argument("send Hello first")),
        }
        let (tx, rx) = mpsc::channel(16);
        let last = self.seen.lock().unwrap().stored.iter().max().copied();
        // An older collector: no version in its Welcome.
        let welcome = Welcome {
            last_stored_seq: last.unwrap_or(0),
            ..Welcome::default()
        };
        tx.send(Ok(CollectorMessage {
            body: Some(collector_message::Body::Welcome(welcome)),
        }))
        .await
        .unwrap();
        let this = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                let Some(agent_message::Body::Batch(batch)) = m.body else {
                    continue;
                };
                let seqs: Vec<u64> = batch.results.iter().map(|r| r.seq).collect();
                let refuse = {
                    let mut seen = this.seen.lock().unwrap();
                    let refuse =
                        seqs.contains(&this.refuse_seq) && seen.refusals < this.refuse_times;
                    if refuse {
                        seen.refusals += 1;
                    }
                    refuse
                };
                if refuse {
                    let status = match this.code {
                        tonic::Code::InvalidArgument => Status::invalid_argument(format!(
                            "batch: result seq {}: unknown check 'quic-443'",
                            this.refuse_seq
                        )),
                        _ => Status::unavailable("storage: database is locked"),
                    };
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                let up_to = {
                    let mut seen = this.seen.lock().unwrap();
                    for s in seqs {
                        if seen.stored.contains(&s) {
                            seen.resent += 1;
                        } else {
                            seen.stored.push(s);
                        }
                    }
                    seen.stored.iter().max().copied().unwrap_or(0)
                };
                let ack = CollectorMessage {
                    body: Some(collector_message::Body::Ack(Ack { up_to_seq: up_to })),
                };
                if tx.send(Ok(ack)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

async fn serve(old: OldCollector) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AgentLinkServer::new(old))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

fn old_collector(code: tonic::Code, refuse_times: u64) -> OldCollector {
    OldCollector {
        refuse_seq: 3,
        code,
        refuse_times,
        seen: Arc::default(),
    }
}

/// The stored seqs, checked: first stored in increasing order, and each once.
fn stored(seen: &Mutex<Seen>) -> Vec<u64> {
    let seen = seen.lock().unwrap();
    let mut sorted = seen.stored.clone();
    sorted.sort_unstable();
    assert_eq!(seen.stored, sorted, "stored in order");
    let unique: BTreeSet<u64> = sorted.iter().copied().collect();
    assert_eq!(unique.len(), sorted.len(), "each stored once");
    sorted
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_refused_for_good_is_set_aside_and_every_other_one_delivered_in_order() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let old = old_collector(tonic::Code::InvalidArgument, u64::MAX);
    let seen = Arc::clone(&old.seen);
    let addr = serve(old).await;
    let spool = dir.path().join("spool");
    let agent = Agent::start(&lab, &ca, addr, &spool, dir.path().join("agent.log"));

    // Two cycles past the refused result: everything else arrived.
    eventually(40, "the results after the refused one", || async {
        let got = seen.lock().unwrap().stored.len();
        match got >= 14 {
            true => Ok(()),
            false => Err(format!("{got} stored\n{}", agent.log())),
        }
    })
    .await;
    let refusals_then = seen.lock().unwrap().refusals;
    // A cycle more: the refused result is never sent again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let log = agent.stop().await;
    let got = stored(&seen);
    let last = *got.last().unwrap();
    let expected: Vec<u64> = (1..=last).filter(|s| *s != 3).collect();
    assert_eq!(got, expected, "every result but seq 3, once each\n{log}");
    let refusals_now = seen.lock().unwrap().refusals;
    assert_eq!(
        (refusals_then, refusals_now),
        (2, 2),
        "refused once in its batch, once alone, then never sent again\n{log}"
    );
    assert!(
        log.contains("resending one result at a time"),
        "the agent says what it does\n{log}"
    );
    assert!(
        log.contains("set aside") && log.contains("unknown check 'quic-443'"),
        "with the collector's words\n{log}"
    );
    let record = std::fs::read_to_string(dir.path().join("spool.refused")).unwrap();
    assert_eq!(record.lines().count(), 1, "{record}");
    assert!(
        record.contains("seq=3 check=") && record.contains("unknown check 'quic-443'"),
        "{record}"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_for_a_while_is_retried_and_nothing_is_set_aside() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let old = old_collector(tonic::Code::Unavailable, 2);
    let seen = Arc::clone(&old.seen);
    let addr = serve(old).await;
    let spool = dir.path().join("spool");
    let agent = Agent::start(&lab, &ca, addr, &spool, dir.path().join("agent.log"));

    eventually(40, "every result, the refused batch included", || async {
        let got = seen.lock().unwrap().stored.len();
        match got >= 12 {
            true => Ok(()),
            false => Err(format!("{got} stored\n{}", agent.log())),
        }
    })
    .await;
    let log = agent.stop().await;
    let got = stored(&seen);
    let last = *got.last().unwrap();
    assert_eq!(
        got,
        (1..=last).collect::<Vec<_>>(),
        "everything, once each\n{log}"
    );
    assert_eq!(seen.lock().unwrap().refusals, 2);
    assert!(log.contains("collector link down"), "backed off\n{log}");
    assert!(!log.contains("set aside"), "{log}");
    assert!(!dir.path().join("spool.refused").exists());
    lab.shutdown().await;
}

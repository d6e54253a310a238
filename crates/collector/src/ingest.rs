//! `AgentLink.Connect`: one task per agent stream. Every wait is bounded (hello, idle,
//! a peer that stops reading), so one misbehaving agent only ever costs its own task.
//! `sessions.rs`: the registry of connected streams (and of servers being retired).

mod sessions;

use eceprobe_proto::now_ms;
use sessions::PendingStream;
pub use sessions::{RetiringGuard, Sessions};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eceprobe_proto::v1::agent_link_server::AgentLink;
use eceprobe_proto::v1::{
    agent_message, collector_message, Ack, AgentMessage, CollectorMessage, Order, Welcome,
};
use tokio::sync::{mpsc, watch, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{revoked_status, AgentTls, Revocations};
use crate::convert::{agent_record, batch_rows};
use crate::store::Store;

/// How long ingest waits for each thing an agent owes it.
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    /// From connect to Hello.
    pub hello: Duration,
    /// Between two messages (agents heartbeat well within this).
    pub idle: Duration,
    /// For the agent to take a reply off the stream before it is dropped as not reading.
    pub send: Duration,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            hello: Duration::from_secs(10),
            idle: Duration::from_secs(600),
            send: Duration::from_secs(30),
        }
    }
}

/// Replies queued per stream before the agent must read them.
const OUTBOUND_QUEUE: usize = 16;

/// How often an open stream checks whether its agent's certificate was revoked meanwhile:
/// a revoked agent's stream ends within about this long, even while it sends nothing.
const REVOCATION_SWEEP: Duration = Duration::from_secs(1);

/// What ingest has stored since the collector started, for `/metrics`: counters that only
/// rise (Prometheus derives the ingest rate from them). Shared by every stream; atomics, so
/// counting costs a stream no lock.
#[derive(Debug, Default)]
pub struct IngestCounters {
    results: AtomicU64,
    duplicates: AtomicU64,
    batches: AtomicU64,
    set_aside: AtomicU64,
    durations: crate::check_durations::CheckDurations,
}

impl IngestCounters {
    pub fn new() -> IngestCounters {
        IngestCounters::default()
    }

    /// Results stored (resends already stored are not counted).
    pub fn results(&self) -> u64 {
        self.results.load(Ordering::Relaxed)
    }

    /// Results received again and acked without storing them (resends after a reconnect).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Batches stored and acked.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Results set aside (the quarantine: they cannot be stored truthfully), acked.
    pub fn set_aside(&self) -> u64 {
        self.set_aside.load(Ordering::Relaxed)
    }

    /// How long the stored checks took, by check (a histogram per check).
    pub fn durations(&self) -> &crate::check_durations::CheckDurations {
        &self.durations
    }

    fn stored(&self, outcome: &crate::store::InsertOutcome) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.results.fetch_add(outcome.inserted, Ordering::Relaxed);
        self.duplicates
            .fetch_add(outcome.duplicates, Ordering::Relaxed);
        self.set_aside
            .fetch_add(outcome.set_aside, Ordering::Relaxed);
    }
}

pub struct Ingest {
    store: Store,
    sessions: Sessions,
    counters: Arc<IngestCounters>,
    limits: IngestLimits,
    stored: Arc<Notify>,
    stopping: watch::Receiver<bool>,
    /// None: plaintext on loopback, agents are who they say.
    tls: Option<AgentTls>,
}

impl Ingest {
    /// `stored` is notified whenever new results are stored (the gap tracker waits on it).
    /// When `stopping` turns true every stream ends with UNAVAILABLE, so a graceful
    /// shutdown does not wait for agents that never hang up.
    pub fn new(
        store: Store,
        limits: IngestLimits,
        stored: Arc<Notify>,
        stopping: watch::Receiver<bool>,
        tls: Option<AgentTls>,
        sessions: Sessions,
    ) -> Self {
        Ingest {
            store,
            sessions,
            counters: Arc::default(),
            limits,
            stored,
            stopping,
            tls,
        }
    }

    /// Counts into `counters` (the ones `/metrics` reads) instead of counters of its own.
    pub fn with_counters(mut self, counters: Arc<IngestCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// What this ingest has stored so far.
    pub fn counters(&self) -> Arc<IngestCounters> {
        Arc::clone(&self.counters)
    }
}

/// Logs a stream refused before its Welcome, with the peer's address and the reason (the
/// status message the agent gets, in words), and gives the status back.
fn refused_at_hello(peer: Option<std::net::SocketAddr>, agent: &str, status: Status) -> Status {
    let peer = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
    // The name comes from a Hello not yet validated (possibly no agent's at all): at most
    // 64 characters, control characters escaped, so it cannot forge log lines.
    let agent: String = match agent {
        "" => "(no hello)".to_owned(),
        named => named
            .chars()
            .take(64)
            .flat_map(char::escape_default)
            .collect(),
    };
    tracing::warn!(%peer, %agent, reason = %status.message(), "agent refused at hello");
    status
}

fn reply(body: collector_message::Body) -> CollectorMessage {
    CollectorMessage { body: Some(body) }
}

#[tonic::async_trait]
impl AgentLink for Ingest {
    type ConnectStream = ReceiverStream<Result<CollectorMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let peer = request.remote_addr();
        let peer_certs = request.peer_certs();
        let mut inbound = request.into_inner();
        let refused = |agent: &str, status: Status| refused_at_hello(peer, agent, status);
        let first = tokio::time::timeout(self.limits.hello, inbound.message())
            .await
            .map_err(|_| {
                refused(
                    "",
                    Status::deadline_exceeded("no hello within the time allowed: send Hello first"),
                )
            })?
            .map_err(|status| refused("", status))?;
        let Some(AgentMessage {
            body: Some(agent_message::Body::Hello(hello)),
        }) = first
        else {
            return Err(refused(
                "",
                Status::invalid_argument("the first message on a stream must be Hello"),
            ));
        };
        let record = agent_record(&hello, now_ms())
            .map_err(|e| refused(&hello.agent_id, Status::invalid_argument(e.to_string())))?;
        let mut revocation = None;
        if let Some(tls) = &self.tls {
            let authorized = tls
                .authorize(
                    peer_certs.as_deref().map(Vec::as_slice),
                    &record.agent_id,
                    &record.deployment,
                )
                .map_err(|status| refused(&record.agent_id, status))?;
            revocation = Some(Revocation {
                list: tls.revocations().clone(),
                fingerprint: authorized.fingerprint,
                joined: authorized.joined,
                unreadable: Default::default(),
            });
        }
        let agent_id = record.agent_id.clone();
        // Registered before the agent is recorded (which would undo a retirement): a
        // retirement then either sees this stream and is refused, or holds it off here.
        let Some((number, orders)) = self.sessions.register(&agent_id) else {
            return Err(refused(
                &agent_id,
                Status::unavailable(format!(
                    "server '{agent_id}' is being retired right now; try again"
                )),
            ));
        };
        // Until the stream's task owns it, an error or a dropped call deregisters it.
        let mut pending = PendingStream {
            sessions: &self.sessions,
            agent_id: &agent_id,
            number: Some(number),
        };
        self.store
            .upsert_agent(&record)
            .await
            .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
        let last_stored_seq = self
            .store
            .last_seq(&agent_id)
            .await
            .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
        pending.number = None;
        drop(pending);
        // Before the welcome: an audit started on any collector once the agent has its
        // welcome finds it connected.
        self.sessions.opened(&agent_id, number).await;
        tracing::info!(agent = %agent_id, peer = %peer.map_or_else(String::new, |p| p.to_string()), last_stored_seq, "agent connected");
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let welcome = reply(collector_message::Body::Welcome(Welcome {
            last_stored_seq,
            collector_version: crate::newer::COLLECTOR_VERSION.to_owned(),
        }));
        // An empty new channel has room for one: this cannot fail. (Registered above,
        // before the welcome goes out: an agent that has its welcome can be ordered.)
        let _ = tx.try_send(Ok(welcome));
        let session = Session {
            sessions: self.sessions.clone(),
            number,
            store: self.store.clone(),
            counters: Arc::clone(&self.counters),
            limits: self.limits,
            stored: Arc::clone(&self.stored),
            stopping: self.stopping.clone(),
            agent_id,
            revocation,
            tx,
        };
        tokio::spawn(session.run(inbound, orders));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// One agent's stream after Hello.
struct Session {
    sessions: Sessions,
    number: u64,
    store: Store,
    counters: Arc<IngestCounters>,
    limits: IngestLimits,
    stored: Arc<Notify>,
    stopping: watch::Receiver<bool>,
    agent_id: String,
    /// Over TLS: the certificate the stream was accepted with, watched for revocation.
    revocation: Option<Revocation>,
    tx: mpsc::Sender<Result<CollectorMessage, Status>>,
}

/// The certificate a stream was accepted with, and the list that may revoke it.
struct Revocation {
    list: Revocations,
    fingerprint: String,
    /// A joined agent's certificate: its fix is a new join token.
    joined: bool,
    /// The list could not be read at the last look: said once, not every second.
    unreadable: std::sync::atomic::AtomicBool,
}

impl Session {
    async fn run(self, inbound: Streaming<AgentMessage>, orders: mpsc::Receiver<Order>) {
        self.serve(inbound, orders).await;
        self.sessions.closed(&self.agent_id, self.number).await;
    }

    async fn serve(&self, mut inbound: Streaming<AgentMessage>, mut orders: mpsc::Receiver<Order>) {
        let mut stopping = self.stopping.clone();
        let mut sweep = tokio::time::interval(REVOCATION_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            let message = tokio::select! {
                _ = sweep.tick(), if self.revocation.is_some() => {
                    match self.revoked() {
                        Ok(()) => continue,
                        Err(status) => break Some(status),
                    }
                }
                // The guard wait_for returns is not Send: drop it inside the branch future.
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    break Some(Status::unavailable("the collector is shutting down; reconnect later"));
                }
                Some(order) = orders.recv() => {
                    tracing::info!(agent = %self.agent_id, order = %order.order_id, "sending an order");
                    if !self.send(Ok(reply(collector_message::Body::Order(order)))).await {
                        return;
                    }
                    continue;
                }
                m = tokio::time::timeout(self.limits.idle, inbound.message()) => m,
            };
            let next = match message {
                Err(_) => {
                    break Some(Status::deadline_exceeded(
                        "no message within the idle limit",
                    ))
                }
                // Undecodable or oversized input, or the agent went away: say why, if it
                // still listens.
                Ok(Err(status)) => break Some(status),
                Ok(Ok(None)) => break None,
                Ok(Ok(Some(msg))) => msg,
            };
            match self.handle(next).await {
                Ok(Some(ack)) => {
                    if !self.send(Ok(ack)).await {
                        return;
                    }
                }
                Ok(None) => {}
                Err(status) => break Some(status),
            }
        };
        if let Some(status) = end {
            tracing::warn!(agent = %self.agent_id, reason = %status.message(), "closing agent stream");
            let _ = self.send(Err(status)).await;
        }
        tracing::info!(agent = %self.agent_id, "agent disconnected");
    }

    /// Queues a reply; false when the agent does not read it in time (then the stream ends).
    async fn send(&self, msg: Result<CollectorMessage, Status>) -> bool {
        match tokio::time::timeout(self.limits.send, self.tx.send(msg)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::warn!(agent = %self.agent_id, "agent does not read its stream; dropping it");
                false
            }
        }
    }

    /// Err with the revoked status once the stream's certificate is on the revocation list.
    /// A list that cannot be read keeps the stream (it was accepted, and a Hello now would
    /// be refused as unavailable, not as revoked); the error is logged.
    fn revoked(&self) -> Result<(), Status> {
        let Some(r) = &self.revocation else {
            return Ok(());
        };
        let result = r.list.is_revoked(&r.fingerprint);
        let was_unreadable = r.unreadable.swap(result.is_err(), Ordering::Relaxed);
        match result {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::warn!(agent = %self.agent_id, "the agent's certificate was revoked: ending its stream; nothing more it sends is stored");
                Err(revoked_status(&self.agent_id, r.joined))
            }
            Err(e) => {
                if !was_unreadable {
                    tracing::warn!(agent = %self.agent_id, error = %e, "cannot read the revocation list; the stream stays open (said once until it is readable again)");
                }
                Ok(())
            }
        }
    }

    async fn handle(&self, msg: AgentMessage) -> Result<Option<CollectorMessage>, Status> {
        // Nothing a revoked agent sends is stored, however soon after the revocation: the
        // list is asked (and re-read if it changed) before each message is taken, after
        // its receive time is read: a stored result was received before the revocation.
        let received_unix_ms = now_ms();
        self.revoked()?;
        match msg.body {
            Some(agent_message::Body::Batch(batch)) => {
                let batch = batch_rows(&batch.results)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let reasons: Vec<(u64, String)> = batch
                    .set_aside
                    .iter()
                    .map(|s| (s.seq, s.reason.clone()))
                    .collect();
                let durations: Vec<(String, u64)> = batch
                    .rows
                    .iter()
                    .map(|r| (r.check.clone(), r.duration_us))
                    .collect();
                let outcome = self
                    .store
                    .insert_batch(
                        &self.agent_id,
                        batch.rows,
                        batch.set_aside,
                        received_unix_ms,
                    )
                    .await
                    .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
                // Said once per result: a resend of one already set aside is not new.
                if outcome.set_aside > 0 {
                    for (seq, reason) in &reasons {
                        tracing::warn!(agent = %self.agent_id, seq, %reason, "result set aside (quarantine): it cannot be stored as sent; the rest of the batch is stored");
                    }
                }
                tracing::debug!(agent = %self.agent_id, inserted = outcome.inserted, duplicates = outcome.duplicates, set_aside = outcome.set_aside, "batch stored");
                self.counters.stored(&outcome);
                // A batch holding resends (after a reconnect) is not observed: which of its
                // results were new is not known here, and counting one twice would skew
                // the distribution more than leaving a rare batch out.
                if outcome.duplicates == 0 {
                    self.counters
                        .durations()
                        .observe(durations.iter().map(|(c, us)| (c.as_str(), *us)));
                }
                if outcome.inserted > 0 {
                    self.stored.notify_one();
                }
                let ack = Ack {
                    up_to_seq: outcome.max_seq,
                };
                Ok(Some(reply(collector_message::Body::Ack(ack))))
            }
            Some(agent_message::Body::Heartbeat(beat)) => {
                self.store
                    .touch_agent(&self.agent_id, received_unix_ms, beat.spool_dropped)
                    .await
                    .map_err(|e| Status::unavailable(format!("storage: {e}")))?;
                Ok(None)
            }
            Some(agent_message::Body::Hello(_)) => Err(Status::invalid_argument(
                "Hello may only be sent once, as the first message",
            )),
            None => Err(Status::invalid_argument("empty message")),
        }
    }
}

//! The uplink: one `AgentLink` stream to the collector. Hello, then the collector's Welcome
//! says what it already stored; the spool is acked up to there and everything after it is
//! sent in order, a few batches in flight at most. Acks drain the spool. Heartbeats carry
//! the spool's dropped count. Any failure ends the stream; the next one starts after a
//! jittered exponential backoff, resending from what the collector says it stored.
//!
//! A batch refused for good (`invalid_argument`: an older collector that refuses a whole
//! batch for one result it does not know) is never resent as it was: the next streams send
//! one result at a time up to the highest seq that was in flight, and the one refused alone
//! is set aside (`refused.rs`: acked in the spool, logged, counted, written down); then
//! full batches again. Nothing else is skipped, nothing doubled (the collector keeps
//! results unique on seq).
//!
//! With several collectors (sharing one database), a collector that is unreachable or
//! unavailable is left for the next (`failover.rs`); a refusal about this agent itself is
//! not: another collector of the same deployment would say the same.

use std::time::Duration;

use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{
    agent_message, collector_message, order, AgentMessage, CheckResult, Heartbeat, Hello,
    ResultBatch,
};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use super::backoff::Backoff;
use super::failover::{Next, Rotation};
use super::refused::{self, Refused};
use super::schedule::AuditOrder;
use super::spool_link::SharedSpool;
use super::stopped;

/// Results per batch (the collector takes at most 500).
const BATCH_RECORDS: usize = 200;
/// Bytes per batch, well under the collector's 4 MiB message limit.
const BATCH_BYTES: usize = 1024 * 1024;
/// Batches sent and not yet acked.
const WINDOW: usize = 4;
const HEARTBEAT: Duration = Duration::from_secs(30);

/// The longest wait between reconnects to a collector that is down.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(120);

/// The reconnect backoff's cap: two minutes, or the probe interval when that is shorter. The
/// collector calls an agent stale after 3 intervals of its own awake time without it, so an
/// agent whose wait in progress ends at most one interval after the collector's return is
/// never called stale for its own backoff (with a 10 s interval, an uncapped full-jitter
/// wait reached 42 s after a 12 s outage).
fn reconnect_cap(probe_interval_s: u32) -> Duration {
    Duration::from_secs(u64::from(probe_interval_s))
        .clamp(Duration::from_secs(1), MAX_RECONNECT_WAIT)
}
/// Connecting, and waiting for the Welcome.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A batch not acked within this long means the link is broken.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// A session counts as a good one (backoff reset, its collector the one to come back to)
/// only after lasting this long: one that breaks right after the welcome (a batch the
/// database refuses, a collector restarting in a loop) must not make the agent reconnect,
/// to it or to the next collector, without waiting.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// One collector the agent may stream to.
pub struct Collector {
    /// As configured: for the log and the sentences.
    pub url: String,
    pub endpoint: Endpoint,
}

pub struct Uplink {
    /// In the order tried; at least one.
    pub collectors: Vec<Collector>,
    /// Who this agent is.
    pub hello: Hello,
    pub spool: SharedSpool,
    pub audits: mpsc::Sender<AuditOrder>,
    /// Where results the collector refuses for good are set aside.
    pub refused: Refused,
}

/// Characters of a collector's refusal repeated in the agent's log.
const MAX_REFUSAL_SHOWN: usize = 512;

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("cannot connect to the collector: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("the collector refused the stream: {0}")]
    Refused(tonic::Status),
    #[error("the collector ended the stream: {0}")]
    Ended(tonic::Status),
    #[error("the collector closed the stream")]
    Closed,
    #[error("{0}")]
    Protocol(&'static str),
    #[error("the collector did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("spool: {0}")]
    Spool(String),
    /// Not a fault of the link: the next stream goes on one result at a time.
    #[error("the collector refuses a batch for good ({0}); resending one result at a time to find the one it refuses")]
    Isolating(String),
    /// Not a fault of the link: the next stream goes on after it.
    #[error("the collector refused result seq {0} alone; it is set aside and the agent moves on")]
    SetAside(u64),
}

/// The collector revoked this agent's certificate: no retry can succeed, only a new
/// enrollment. In words, with the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Revoked(String);

impl LinkError {
    /// Whether the collector says this agent is revoked ([`eceprobe_proto::refusal`]).
    fn is_revoked(&self) -> bool {
        let (LinkError::Refused(status) | LinkError::Ended(status)) = self else {
            return false;
        };
        status
            .metadata()
            .get(eceprobe_proto::refusal::KEY)
            .and_then(|v| v.to_str().ok())
            == Some(eceprobe_proto::refusal::REVOKED)
    }

    /// Whether another collector may do better: this one is unreachable, unavailable or
    /// broke the stream. A refusal about this agent (its certificate, its id, a result
    /// refused for good) or a spool error would be the same anywhere.
    fn moves_on(&self) -> bool {
        use tonic::Code;
        match self {
            LinkError::Connect(_)
            | LinkError::Timeout(_)
            | LinkError::Closed
            | LinkError::Protocol(_) => true,
            LinkError::Refused(s) | LinkError::Ended(s) => !matches!(
                s.code(),
                Code::PermissionDenied
                    | Code::Unauthenticated
                    | Code::InvalidArgument
                    | Code::FailedPrecondition
                    | Code::OutOfRange
            ),
            LinkError::Spool(_) | LinkError::Isolating(_) | LinkError::SetAside(_) => false,
        }
    }

    /// In words, with the collector's address and the fix (`link_words.rs`): tonic's own
    /// text is often only "transport error".
    fn words(&self, collector: &str) -> String {
        match self {
            LinkError::Connect(e) => super::link_error(e, collector),
            LinkError::Refused(s) | LinkError::Ended(s) => super::link_error(s, collector),
            LinkError::Timeout(d) => format!(
                "the collector at {collector} did not answer within {} s",
                d.as_secs()
            ),
            other => other.to_string(),
        }
    }
}

impl Uplink {
    /// Keeps a stream up until `shutdown` turns true; Err when the collector revoked this
    /// agent (then retrying is pointless: the agent stops and says to enroll again).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), Revoked> {
        let mut backoff = Backoff::new(
            Duration::from_secs(1),
            reconnect_cap(self.hello.probe_interval_s),
        );
        // Some(seq): a batch up to seq was refused for good; send one result at a time until
        // the collector has acked it.
        let mut isolate: Option<u64> = None;
        let mut rotation = Rotation::new(self.collectors.len());
        loop {
            let mut healthy = false;
            let session_stop = shutdown.clone();
            let at = &self.collectors[rotation.current()];
            let began = tokio::time::Instant::now();
            let result = tokio::select! {
                () = stopped(&mut shutdown) => return Ok(()),
                r = self.session(at, &mut healthy, session_stop, &mut isolate) => r,
            };
            let e = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let error = e.words(&at.url);
            if e.is_revoked() {
                let revoked = Revoked(error);
                tracing::error!(error = %revoked, collector = %at.url, "the collector revoked this agent's certificate: not retrying");
                return Err(revoked);
            }
            if healthy && began.elapsed() >= HEALTHY_SESSION {
                backoff.reset();
                rotation.connected();
            }
            if e.moves_on() {
                if let Next::Now(next) = rotation.unreachable() {
                    let to = &self.collectors[next].url;
                    tracing::warn!(from = %at.url, to = %to, reason = %error, "moving to the next collector: this one is unreachable or unavailable");
                    continue;
                }
            } else {
                rotation.stay();
            }
            let wait = backoff.next_wait();
            let next = &self.collectors[rotation.current()].url;
            if matches!(e, LinkError::Isolating(_) | LinkError::SetAside(_)) {
                tracing::warn!(%error, reconnect_in_ms = wait.as_millis() as u64, "finding the result the collector refuses");
            } else if self.collectors.len() > 1 && e.moves_on() {
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, next = %next, "collector link down: no collector of the list is reachable; trying again from the one that worked last");
            } else {
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, collector = %next, "collector link down");
            }
            tokio::select! {
                () = stopped(&mut shutdown) => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One stream, from connect to its end. Ok only on shutdown.
    async fn session(
        &self,
        at: &Collector,
        healthy: &mut bool,
        mut shutdown: watch::Receiver<bool>,
        isolate: &mut Option<u64>,
    ) -> Result<(), LinkError> {
        let channel: Channel = tokio::time::timeout(CONNECT_TIMEOUT, at.endpoint.connect())
            .await
            .map_err(|_| LinkError::Timeout(CONNECT_TIMEOUT))??;
        let mut client = AgentLinkClient::new(channel);
        let (tx, rx) = mpsc::channel::<AgentMessage>(WINDOW + 2);
        let hello = agent_message::Body::Hello(self.hello.clone());
        tx.try_send(AgentMessage { body: Some(hello) })
            .map_err(|_| LinkError::Protocol("could not queue the hello"))?;
        let mut inbound =
            tokio::time::timeout(CONNECT_TIMEOUT, client.connect(ReceiverStream::new(rx)))
                .await
                .map_err(|_| LinkError::Timeout(CONNECT_TIMEOUT))?
                .map_err(LinkError::Refused)?
                .into_inner();
        let welcome = tokio::time::timeout(CONNECT_TIMEOUT, inbound.message())
            .await
            .map_err(|_| LinkError::Timeout(CONNECT_TIMEOUT))?
            .map_err(LinkError::Ended)?
            .ok_or(LinkError::Closed)?;
        let Some(collector_message::Body::Welcome(welcome)) = welcome.body else {
            return Err(LinkError::Protocol(
                "the collector's first message was not a welcome",
            ));
        };
        let stored = welcome.last_stored_seq;
        // What the collector has is delivered; new results are numbered above it even if
        // this spool was wiped.
        self.spool
            .acknowledge(stored)
            .await
            .map_err(|e| LinkError::Spool(e.to_string()))?;
        let collector_version = match welcome.collector_version.as_str() {
            "" => "not reported (a collector older than the field)",
            v => v,
        };
        tracing::info!(collector = %at.url, last_stored_seq = stored, collector_version, agent_version = %self.hello.agent_version, "connected to the collector");
        let major = |v: &str| v.split('.').next().and_then(|m| m.parse::<u64>().ok());
        if let (Some(theirs), Some(ours)) = (
            major(&welcome.collector_version),
            major(&self.hello.agent_version),
        ) {
            if theirs != ours {
                tracing::warn!(collector_version, agent_version = %self.hello.agent_version, "the collector is of another major version than this agent: upgrade the older one (any agent talks to any collector of the same major version)");
            }
        }
        *healthy = true;

        // Results set aside as refused are acked here, not stored there: start after both.
        let acked = self
            .spool
            .acked_seq()
            .await
            .map_err(|e| LinkError::Spool(e.to_string()))?;
        let mut sent = stored.max(acked);
        // The check of the last result sent: the one in flight when going one at a time.
        let mut last_check = String::new();
        let mut in_flight: usize = 0;
        // Since when the oldest unacked batch has waited (None: nothing in flight).
        let mut waiting_since: Option<tokio::time::Instant> = None;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let appended = self.spool.appended();
        loop {
            // Fill the window from the spool (one result at a time while isolating).
            let (window, per_batch) = match isolate {
                Some(_) => (1, 1),
                None => (WINDOW, BATCH_RECORDS),
            };
            while in_flight < window {
                let records = self
                    .spool
                    .read_after(sent, per_batch, BATCH_BYTES)
                    .await
                    .map_err(|e| LinkError::Spool(e.to_string()))?;
                let Some(last) = records.last().map(|r| r.0) else {
                    break;
                };
                let results = records
                    .iter()
                    .filter_map(|(seq, bytes)| match CheckResult::decode(bytes.as_slice()) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            // The spool checksums every record, so this is a bug, not a
                            // disk error; skip the record rather than stall the link.
                            tracing::error!(seq, error = %e, "spooled result does not decode; skipping it");
                            None
                        }
                    })
                    .collect::<Vec<_>>();
                if let Some(r) = results.last() {
                    last_check.clone_from(&r.check);
                }
                let batch = agent_message::Body::Batch(ResultBatch { results });
                tx.send(AgentMessage { body: Some(batch) })
                    .await
                    .map_err(|_| LinkError::Closed)?;
                tracing::debug!(up_to_seq = last, records = records.len(), "batch sent");
                sent = last;
                in_flight += 1;
                waiting_since.get_or_insert_with(tokio::time::Instant::now);
            }
            let ack_deadline =
                waiting_since.unwrap_or_else(tokio::time::Instant::now) + ACK_TIMEOUT;
            tokio::select! {
                () = stopped(&mut shutdown) => {
                    // Dropping the sender ends our half of the stream cleanly.
                    drop(tx);
                    return Ok(());
                }
                message = inbound.message() => {
                    let message = match message {
                        Ok(m) => m.ok_or(LinkError::Closed)?,
                        Err(status) => {
                            return Err(self.refusal(status, in_flight, sent, &last_check, isolate).await);
                        }
                    };
                    match message.body {
                        Some(collector_message::Body::Ack(ack)) => {
                            tracing::debug!(up_to_seq = ack.up_to_seq, "acked");
                            if isolate.is_some_and(|up_to| ack.up_to_seq >= up_to) {
                                *isolate = None;
                                tracing::info!(up_to_seq = ack.up_to_seq, "past the results the collector refused: full batches again");
                            }
                            in_flight = in_flight.saturating_sub(1);
                            waiting_since = (in_flight > 0).then(tokio::time::Instant::now);
                            self.spool
                                .acknowledge(ack.up_to_seq)
                                .await
                                .map_err(|e| LinkError::Spool(e.to_string()))?;
                        }
                        Some(collector_message::Body::Order(o)) => self.order(o).await,
                        Some(collector_message::Body::Welcome(_)) | None => {
                            return Err(LinkError::Protocol("unexpected message from the collector"));
                        }
                    }
                }
                () = appended.notified() => {}
                _ = heartbeat.tick() => {
                    let beat = Heartbeat {
                        unix_ms: eceprobe_proto::now_ms(),
                        spool_dropped: self.spool.dropped_total(),
                    };
                    tx.send(AgentMessage { body: Some(agent_message::Body::Heartbeat(beat)) })
                        .await
                        .map_err(|_| LinkError::Closed)?;
                }
                () = tokio::time::sleep_until(ack_deadline), if waiting_since.is_some() => {
                    return Err(LinkError::Timeout(ACK_TIMEOUT));
                }
            }
        }
    }

    /// The stream ended with `status` while `in_flight` batches, up to seq `sent`, waited.
    /// A refusal for good of a batch starts isolating (or, with one result in flight while
    /// isolating, sets that result aside); anything else is a link failure, resent after
    /// the backoff.
    async fn refusal(
        &self,
        status: tonic::Status,
        in_flight: usize,
        sent: u64,
        last_check: &str,
        isolate: &mut Option<u64>,
    ) -> LinkError {
        if !refused::permanent(status.code()) || in_flight == 0 {
            return LinkError::Ended(status);
        }
        match *isolate {
            Some(up_to) => {
                self.refused
                    .set_aside(sent, last_check, status.message())
                    .await;
                if let Err(e) = self.spool.acknowledge(sent).await {
                    return LinkError::Spool(e.to_string());
                }
                if sent >= up_to {
                    *isolate = None;
                }
                LinkError::SetAside(sent)
            }
            None => {
                *isolate = Some(sent);
                LinkError::Isolating(refused::escaped(status.message(), MAX_REFUSAL_SHOWN))
            }
        }
    }

    async fn order(&self, o: eceprobe_proto::v1::Order) {
        match o.kind {
            Some(order::Kind::RunAudit(audit)) => {
                tracing::info!(audit = %audit.audit_id, "the collector ordered an audit");
                let order = AuditOrder {
                    audit_id: audit.audit_id,
                };
                if self.audits.try_send(order).is_err() {
                    tracing::warn!("an audit is already pending; this order joins it");
                }
            }
            None => {
                tracing::warn!(order = %o.order_id, "unknown order from a newer collector; ignored")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_retries_at_least_once_per_probe_interval() {
        assert_eq!(reconnect_cap(10), Duration::from_secs(10));
        assert_eq!(reconnect_cap(300), MAX_RECONNECT_WAIT);
        assert_eq!(reconnect_cap(0), Duration::from_secs(1));
    }
}

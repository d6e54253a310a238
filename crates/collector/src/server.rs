//! Binding and serving: agents on one listener (TLS with client certificates, or plaintext
//! on loopback when asked for explicitly), the Query API on another, loopback only, for the
//! admin CLI and the dashboard on the collector's own host.

use std::future::Future;
use std::net::SocketAddr;

use eceprobe_proto::v1::agent_link_server::AgentLinkServer;
use eceprobe_proto::v1::query_server::QueryServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use crate::audits::Audits;
use crate::auth::AgentTls;
use crate::gaps::Tracker;
use crate::ingest::{Ingest, IngestLimits, Sessions};
use crate::query::QueryService;
use crate::store::Store;

/// Largest message accepted from an agent: a full batch of detailed results fits well
/// within it.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing plaintext agent connections on {0}: without TLS the collector listens on loopback only; create a CA with `eceprobe-collector ca init` and serve with --tls-dir")]
    PlaintextNotLoopback(SocketAddr),
    #[error("refusing the Query API on {0}: it has no authentication yet, so it listens on loopback only")]
    QueryNotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Bound, not yet serving, listeners.
pub struct Bound {
    agents: TcpListener,
    query: TcpListener,
    tls: Option<AgentTls>,
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

impl Bound {
    /// `tls` None means plaintext, allowed on loopback only.
    pub async fn bind(
        agents: SocketAddr,
        query: SocketAddr,
        tls: Option<AgentTls>,
    ) -> Result<Bound, ServeError> {
        if tls.is_none() && !agents.ip().is_loopback() {
            return Err(ServeError::PlaintextNotLoopback(agents));
        }
        if !query.ip().is_loopback() {
            return Err(ServeError::QueryNotLoopback(query));
        }
        Ok(Bound {
            agents: listen(agents).await?,
            query: listen(query).await?,
            tls,
        })
    }

    pub fn agents_addr(&self) -> std::io::Result<SocketAddr> {
        self.agents.local_addr()
    }

    pub fn query_addr(&self) -> std::io::Result<SocketAddr> {
        self.query.local_addr()
    }

    /// Serves until `shutdown` completes. Ingest wakes the tracker when results are stored;
    /// the Query API reads the gaps the tracker recorded (running the tracker is the
    /// caller's: see [`Tracker::run`]) and starts audits, which order agents through
    /// ingest's registry of connected streams.
    pub async fn serve(
        self,
        store: Store,
        limits: IngestLimits,
        tracker: Tracker,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let (stop, stopping) = watch::channel(false);
        let sessions = Sessions::new();
        let audits = Audits::new(store.clone(), sessions.clone(), tracker.policy());
        if let Err(e) = audits.resume().await {
            tracing::warn!(error = %e, "cannot read the audits left running; they stay open");
        }
        let ingest = Ingest::new(
            store.clone(),
            limits,
            tracker.results_stored(),
            stopping.clone(),
            self.tls.clone(),
            sessions,
        );
        let ingest = AgentLinkServer::new(ingest).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let query = QueryServer::new(QueryService::new(store, tracker, audits))
            .max_decoding_message_size(64 * 1024);
        let mut agents_server = tonic::transport::Server::builder();
        if let Some(tls) = &self.tls {
            agents_server = agents_server.tls_config(tls.server_config())?;
        }
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // TCP_NODELAY: small replies (acks, query answers) must not wait for Nagle's
        // algorithm; tonic's own nodelay setting does not apply to a listener passed in.
        let incoming = |l: TcpListener| TcpIncoming::from(l).with_nodelay(Some(true));
        let agents = agents_server
            .add_service(ingest)
            .serve_with_incoming_shutdown(incoming(self.agents), stopped(stopping.clone()));
        let queries = tonic::transport::Server::builder()
            .add_service(query)
            .serve_with_incoming_shutdown(incoming(self.query), stopped(stopping));
        let signal = async move {
            shutdown.await;
            // Agents' streams end first (graceful shutdown waits for open streams).
            let _ = stop.send(true);
        };
        let (_, agents, queries) = tokio::join!(signal, agents, queries);
        agents?;
        queries?;
        Ok(())
    }
}

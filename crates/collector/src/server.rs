//! Binding the gRPC server.

use std::net::SocketAddr;

use eceprobe_proto::v1::agent_link_server::AgentLinkServer;
use eceprobe_proto::v1::query_server::QueryServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::gaps::Tracker;
use crate::ingest::{Ingest, IngestLimits};
use crate::query::QueryService;
use crate::store::Store;

/// Largest message accepted from an agent: a full batch of detailed results fits well
/// within it.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing plaintext gRPC on {0}: without TLS the collector only listens on loopback (TLS and agent certificates are not implemented yet)")]
    PlaintextNotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A bound, not yet serving, collector endpoint.
pub struct Bound {
    listener: TcpListener,
}

impl Bound {
    pub async fn bind(addr: SocketAddr) -> Result<Bound, ServeError> {
        if !addr.ip().is_loopback() {
            return Err(ServeError::PlaintextNotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Bound { listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes. Ingest wakes the tracker when results are stored;
    /// the Query API reads the gaps the tracker recorded (running the tracker is the
    /// caller's: see [`Tracker::run`]).
    pub async fn serve(
        self,
        store: Store,
        limits: IngestLimits,
        tracker: Tracker,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let (stop, stopping) = watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            // End the agents' streams first: graceful shutdown waits for open streams.
            let _ = stop.send(true);
        };
        let ingest = Ingest::new(store.clone(), limits, tracker.results_stored(), stopping);
        let ingest = AgentLinkServer::new(ingest).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let query = QueryServer::new(QueryService::new(store, tracker))
            .max_decoding_message_size(64 * 1024);
        tonic::transport::Server::builder()
            .add_service(ingest)
            .add_service(query)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await?;
        Ok(())
    }
}

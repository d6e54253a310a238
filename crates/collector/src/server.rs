//! Binding and serving: agents on one listener (TLS with client certificates, or plaintext
//! on loopback when asked for explicitly), the Query API on another, loopback only, for the
//! admin CLI and the dashboard on the collector's own host.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use eceprobe_proto::v1::agent_link_server::AgentLinkServer;
use eceprobe_proto::v1::enrollment_server::EnrollmentServer;
use eceprobe_proto::v1::query_server::QueryServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use crate::audits::Audits;
use crate::auth::AgentTls;
use crate::gaps::Tracker;
use crate::ingest::{Ingest, IngestLimits, Sessions};
use crate::join::JoinService;
use crate::query::QueryService;
use crate::schedule::{self, Clock, Schedule, SystemClock};
use crate::store::Store;

mod agent_tls;
mod cert_gate;
mod certless;
mod grpc_tools;

pub use agent_tls::AgentTlsError;

/// The agents' gRPC server, over TLS or plaintext (two stream types, one future type).
type AgentsServing =
    std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// Largest message accepted from an agent: a full batch of detailed results fits well
/// within it.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How long serving, once stopped, waits for an audit being closed to enqueue its events.
const AUDIT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

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
    #[error(transparent)]
    AgentTls(#[from] AgentTlsError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("dashboard: {0}")]
    Dashboard(std::io::Error),
    #[error("gRPC reflection: the committed descriptor set does not load: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// What serving runs besides the listeners; the default runs no schedule.
#[derive(Clone)]
pub struct ServeOptions {
    /// Audits started on a schedule, fired by `clock`.
    pub schedules: Vec<Schedule>,
    /// The system clock, or a manual one in tests.
    pub clock: Arc<dyn Clock>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            schedules: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Bound, not yet serving, listeners.
pub struct Bound {
    agents: TcpListener,
    query: TcpListener,
    tls: Option<AgentTls>,
    /// The dashboard's listener and access token, when it is served.
    web: Option<(TcpListener, Arc<String>)>,
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
            web: None,
        })
    }

    /// Also serves the dashboard and JSON API ([`crate::web`]) on `listener` (see
    /// [`crate::web::bind`]), behind `token`.
    pub fn with_dashboard(mut self, listener: TcpListener, token: String) -> Bound {
        self.web = Some((listener, Arc::new(token)));
        self
    }

    pub fn dashboard_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.web.as_ref().map(|(l, _)| l.local_addr())
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
        let options = ServeOptions::default();
        self.serve_with(store, limits, tracker, options, shutdown)
            .await
    }

    /// [`Bound::serve`], with the audit schedules of `options` running until shutdown.
    pub async fn serve_with(
        self,
        store: Store,
        limits: IngestLimits,
        tracker: Tracker,
        options: ServeOptions,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let (stop, stopping) = watch::channel(false);
        let leadership = tracker.leadership().clone();
        // Collectors sharing the database record their agents' streams there: who is
        // connected, and an audit's orders, then span all of them.
        let sessions = match leadership.is_shared() {
            true => Sessions::shared(store.clone(), leadership.name()),
            false => Sessions::new(),
        };
        let (alive, recorded) = tokio::sync::oneshot::channel();
        let keeping_alive = tokio::spawn(sessions.clone().keep_alive(alive, stopping.clone()));
        // Before agents stream: the earlier process's rows are cleared first.
        let _ = recorded.await;
        let audits = Audits::new(store.clone(), sessions.clone(), tracker.policy())
            .with_notifier(tracker.notifier())
            .with_endpoints(tracker.endpoints())
            .with_leadership(leadership);
        if let Err(e) = audits.resume().await {
            tracing::warn!(error = %e, "cannot read the audits left running; they stay open");
        }
        let sharing = tokio::spawn(audits.clone().run_shared(stopping.clone()));
        let scheduling = schedule::run(
            options.schedules,
            audits.clone(),
            store.clone(),
            options.clock,
            tracker.leadership().clone(),
        );
        let audits_at_stop = audits.clone();
        let ingest = Ingest::new(
            store.clone(),
            limits,
            tracker.results_stored(),
            stopping.clone(),
            self.tls.clone(),
            sessions.clone(),
        );
        let web = self.web.map(|(listener, token)| {
            let state = crate::web::WebState {
                store: store.clone(),
                tracker: tracker.clone(),
                sessions: sessions.clone(),
                audits: audits.clone(),
                token,
                counters: ingest.counters(),
            };
            (listener, state)
        });
        let ingest = AgentLinkServer::new(ingest).max_decoding_message_size(MAX_MESSAGE_BYTES);
        // Joins need TLS (the agent checks the CA before it sends its token) and the CA key.
        let enrollment = self.tls.as_ref().map(|tls| {
            EnrollmentServer::new(JoinService::new(store.clone(), tls.dir().to_path_buf()))
                .max_decoding_message_size(crate::join::MAX_JOIN_MESSAGE_BYTES)
        });
        let query = QueryServer::new(QueryService::new(store, tracker, audits))
            .max_decoding_message_size(64 * 1024);
        // Health and reflection on both listeners (server/grpc_tools.rs).
        use eceprobe_proto::v1::{agent_link_server, enrollment_server, query_server};
        let (agents_health, agents_health_service) =
            grpc_tools::ListenerHealth::serving(agent_link_server::SERVICE_NAME).await;
        let (query_health, query_health_service) =
            grpc_tools::ListenerHealth::serving(query_server::SERVICE_NAME).await;
        let (agents_reflection, agents_reflection_alpha) =
            grpc_tools::reflection(match enrollment {
                Some(_) => &[
                    agent_link_server::SERVICE_NAME,
                    enrollment_server::SERVICE_NAME,
                ],
                None => &[agent_link_server::SERVICE_NAME],
            })?;
        let (query_reflection, query_reflection_alpha) =
            grpc_tools::reflection(&[query_server::SERVICE_NAME])?;
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // TCP_NODELAY: small replies (acks, query answers) must not wait for Nagle's
        // algorithm; tonic's own nodelay setting does not apply to a listener passed in.
        let incoming = |l: TcpListener| TcpIncoming::from(l).with_nodelay(Some(true));
        let agents_router = tonic::transport::Server::builder()
            .layer(cert_gate::CertGateLayer {
                required: self.tls.is_some(),
            })
            .add_service(ingest)
            .add_optional_service(enrollment)
            .add_service(agents_health_service)
            .add_service(agents_reflection)
            .add_service(agents_reflection_alpha);
        let agents_stop = stopped(stopping.clone());
        // TLS is accepted by agent_tls.rs, which logs every agent it refuses.
        let agents: AgentsServing = match &self.tls {
            Some(tls) => {
                let acceptor = agent_tls::AgentAcceptor::new(tls)?;
                let tls_incoming = agent_tls::incoming(self.agents, acceptor);
                Box::pin(agents_router.serve_with_incoming_shutdown(tls_incoming, agents_stop))
            }
            None => Box::pin(
                agents_router.serve_with_incoming_shutdown(incoming(self.agents), agents_stop),
            ),
        };
        let queries = tonic::transport::Server::builder()
            .add_service(query)
            .add_service(query_health_service)
            .add_service(query_reflection)
            .add_service(query_reflection_alpha)
            .serve_with_incoming_shutdown(incoming(self.query), stopped(stopping.clone()));
        let dashboard = async move {
            match web {
                Some((listener, state)) => {
                    crate::web::serve(listener, state, stopped(stopping)).await
                }
                None => Ok(()),
            }
        };
        let signal = async move {
            // The schedules run inside this future, so they stop at shutdown (and with it
            // if serving is dropped): no audit starts while the listeners close.
            let schedules = async {
                scheduling.await;
                std::future::pending::<()>().await
            };
            tokio::select! {
                () = shutdown => {}
                () = schedules => {}
            }
            // NOT_SERVING first, so health checkers stop routing here while we close.
            agents_health.shutting_down().await;
            query_health.shutting_down().await;
            // Agents' streams end first (graceful shutdown waits for open streams).
            let _ = stop.send(true);
        };
        let (_, agents, queries, dashboard) = tokio::join!(signal, agents, queries, dashboard);
        // The streams have ended (their rows deleted); this process's record goes too.
        let _ = sharing.await;
        let _ = keeping_alive.await;
        // Before the caller closes the store: an audit being closed enqueues its events.
        if !audits_at_stop.stop(AUDIT_STOP_GRACE).await {
            tracing::warn!(
                "an audit was still closing at shutdown; its webhook events may be lost"
            );
        }
        agents?;
        queries?;
        dashboard.map_err(ServeError::Dashboard)?;
        Ok(())
    }
}

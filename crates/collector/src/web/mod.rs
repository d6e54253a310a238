//! The collector's HTTP face (issue 5): the dashboard (pages rendered on the server, assets
//! embedded in the binary), the JSON API behind every page, and `/metrics` for Prometheus.
//! Everything but `/healthz` needs the access token ([`auth`]).
//!
//! Handlers read through [`WebState`]: the store for history and gaps, the tracker for
//! the policy, ingest's sessions for who is connected, audits to start and read them.

pub mod api;
mod assets;
pub mod auth;
pub mod change_request;
mod chunks;
pub mod error;
mod exposition;
mod head;
mod headers;
pub mod metrics;
mod metrics_detail;
pub mod pages;
pub mod params;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::audits::Audits;
use crate::gaps::Tracker;
use crate::ingest::{IngestCounters, Sessions};
use crate::store::Store;
use head::Head;

/// What every handler can read; cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    pub tracker: Tracker,
    pub sessions: Sessions,
    pub audits: Audits,
    /// The access token the dashboard, the JSON API and /metrics require.
    pub token: Arc<String>,
    /// What ingest stored since start (the same `Arc` given to `Ingest::with_counters`).
    pub counters: Arc<IngestCounters>,
}

/// Where the dashboard listens unless `[http] listen` says otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7480);

/// Every route: pages, the JSON API, /metrics, assets and /healthz, behind the token
/// (but /healthz and the assets) and with the security headers on every answer.
pub fn router(state: WebState) -> Router {
    let api = Router::new()
        .route("/api/overview", get(api::overview))
        .route("/api/servers/{agent_id}", get(api::server))
        .route(
            "/api/servers/{agent_id}/checks/{check}/history",
            get(api::history),
        )
        .route("/api/gaps", get(api::gaps))
        .route("/api/timeline", get(api::timeline))
        .route("/api/endpoints", get(api::endpoints))
        .route(
            "/api/audits",
            get(api::audits)
                .post(api::start_audit)
                .layer(DefaultBodyLimit::max(api::MAX_AUDIT_BODY)),
        )
        .route("/api/audits/{audit_id}", get(api::audit))
        .route("/api/audits/{audit_id}/{file}", get(api::audit_report))
        .route("/api", get(api::not_found))
        .route("/api/{*rest}", get(api::not_found).post(api::not_found));
    let pages = Router::new()
        .route("/", get(pages::overview::page))
        .route("/servers/{agent_id}", get(pages::server::page))
        .route("/gaps", get(pages::gaps::page))
        .route("/timeline", get(pages::timeline::page))
        .route("/gaps/{file}", get(change_request::download))
        .route("/audits", get(pages::audits::list_page))
        .route("/audits/{audit_id}", get(pages::audits::audit_page));
    Router::new()
        .merge(api)
        .merge(pages)
        .route("/metrics", get(metrics_default))
        .route("/metrics/detail", get(metrics_detail))
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .route("/healthz", get(|| async { "ok" }))
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .layer(from_fn(headers::security_headers))
        .with_state(state)
}

async fn metrics_default(State(state): State<WebState>) -> Response {
    metrics_text(&state, metrics::Form::Default).await
}

async fn metrics_detail(State(state): State<WebState>) -> Response {
    metrics_text(&state, metrics::Form::Detail).await
}

async fn metrics_text(state: &WebState, form: metrics::Form) -> Response {
    match metrics::render(state, form).await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            )],
            body.into_body(),
        )
            .into_response(),
        Err(e) => error::ApiError(e.into()).into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let message = format!(
        "nothing at {}",
        uri.path().chars().take(128).collect::<String>()
    );
    match auth::is_api(uri.path()) {
        true => error::json_error(StatusCode::NOT_FOUND, &message),
        false => error::page_error(StatusCode::NOT_FOUND, &message),
    }
}

/// A path that exists, asked with a method it does not take (axum adds `Allow`): the
/// error every other answer has, rather than axum's empty 405.
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let message = format!(
        "{method} is not accepted at {}: see docs/API.md",
        uri.path().chars().take(128).collect::<String>()
    );
    match auth::is_api(uri.path()) {
        true => error::json_error(StatusCode::METHOD_NOT_ALLOWED, &message),
        false => error::page_error(StatusCode::METHOD_NOT_ALLOWED, &message),
    }
}

/// Binds the dashboard's listener. `None`: the default address, or, when another process
/// holds it (a second collector on the machine), any free port on loopback, as Jupyter
/// does: the printed URL says where. An address given explicitly is used or fails.
/// A non-loopback address is the operator's explicit choice: allowed, with a warning.
pub async fn bind(listen: Option<SocketAddr>) -> std::io::Result<TcpListener> {
    let listener = match listen {
        Some(addr) => TcpListener::bind(addr).await?,
        None => match TcpListener::bind(DEFAULT_LISTEN).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(address = %DEFAULT_LISTEN, error = %e, "the dashboard's default address is taken; using a free port on loopback");
                TcpListener::bind(SocketAddr::new(DEFAULT_LISTEN.ip(), 0)).await?
            }
        },
    };
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the dashboard listens beyond loopback: its access token travels in clear text; put a TLS reverse proxy in front of it");
    }
    Ok(listener)
}

/// At most this many dashboard connections at once; more are closed at accept (a browser
/// opens a handful, Prometheus one).
pub const MAX_CONNECTIONS: usize = 256;
/// A request's head must arrive within this long (slow-loris clients are cut off).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// At shutdown, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves the dashboard until `shutdown` completes, then lets requests in flight finish
/// (within a grace period). HTTP/1.1 only, one request per connection; every connection
/// bounded in time (the head) and in number, every head in size ([`head`]: an error the
/// API documents when over); request bodies are bounded by the extractors (axum's default
/// limit).
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Each gap evaluation's /metrics text rendered as soon as it is published.
    let warming = tokio::spawn(metrics::warm(state.tracker.clone()));
    let app = router(state);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "the dashboard cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!("too many dashboard connections; closing a new one");
            continue;
        };
        // Small answers must not wait for Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a dashboard connection");
        }
        let service = TowerToHyperService::new(app.clone());
        let mut closed = closed.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut tcp = tcp;
            // The head is read and bounded first, so a refusal is a JSON (or HTML) error
            // as every other answer (see head.rs); hyper then serves this one request.
            let read = head::read(&mut tcp, HEADER_TIMEOUT);
            let first = tokio::select! {
                got = read => match got {
                    Head::Complete(bytes) => bytes,
                    Head::Refused(refusal) => return head::refuse(&mut tcp, refusal).await,
                    Head::Gone => return,
                },
                () = async { let _ = closed.wait_for(|c| *c).await; } => return,
            };
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_headers(head::MAX_FIELDS)
                // Only the first head went through head::read: one request per connection.
                .keep_alive(false);
            let io = TokioIo::new(head::Prefixed::new(first, tcp));
            let conn = builder.serve_connection(io, service);
            let mut conn = std::pin::pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                // The guard wait_for returns is not Send: drop it inside.
                () = async { let _ = closed.wait_for(|c| *c).await; } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "dashboard connection ended with an error");
            }
        });
    }
    let _ = closing.send(true);
    warming.abort();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("dashboard requests still running at shutdown were cut off");
    }
    Ok(())
}

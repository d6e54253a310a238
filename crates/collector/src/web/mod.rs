//! The collector's HTTP face (issue 5): the dashboard (pages rendered on the server, assets
//! embedded in the binary), the JSON API behind every page, and `/metrics` for Prometheus.
//! Everything but `/healthz` needs the access token ([`auth`]).
//!
//! Handlers read through [`WebState`]: the store for history and gaps, the tracker for
//! the policy, ingest's sessions for who is connected, audits to start and read them.

pub mod api;
mod assets;
pub mod auth;
pub mod error;
mod headers;
pub mod metrics;
pub mod pages;
pub mod params;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

use crate::audits::Audits;
use crate::gaps::Tracker;
use crate::ingest::{IngestCounters, Sessions};
use crate::store::Store;

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
        .route("/api/audits", get(api::audits).post(api::start_audit))
        .route("/api/audits/{audit_id}", get(api::audit))
        .route("/api/audits/{audit_id}/{file}", get(api::audit_report))
        .route("/api", get(api::not_found))
        .route("/api/{*rest}", get(api::not_found).post(api::not_found));
    let pages = Router::new()
        .route("/", get(pages::overview::page))
        .route("/servers/{agent_id}", get(pages::server::page))
        .route("/gaps", get(pages::gaps::page))
        .route("/audits", get(pages::audits::list_page))
        .route("/audits/{audit_id}", get(pages::audits::audit_page));
    Router::new()
        .merge(api)
        .merge(pages)
        .route("/metrics", get(metrics_text))
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .layer(from_fn(headers::security_headers))
        .with_state(state)
}

async fn metrics_text(State(state): State<WebState>) -> Response {
    match metrics::render(&state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
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

/// Serves the dashboard until `shutdown` completes (then finishes the requests in flight).
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Small answers must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a dashboard connection");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

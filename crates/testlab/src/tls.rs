//! The server side of a TLS handshake, with the faults that act at that moment: a delayed
//! ServerHello, a TLS-1.0-only peer, and (through the configured certificate) every bad-chain
//! fault. Used by the TLS-first endpoints and by SMTP after STARTTLS.

use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::config::Fault;
use crate::faults::{delay_of, legacy_alert};
use crate::listener::ConnCtx;

/// Runs the handshake; `None` when the fault ended the connection or the handshake failed
/// (a client rejecting a bad certificate is the expected outcome of a certificate fault).
pub(crate) async fn accept(tcp: TcpStream, ctx: &ConnCtx) -> Option<TlsStream<TcpStream>> {
    if let Some(d) = delay_of(&ctx.fault) {
        sleep(d).await;
    }
    if ctx.fault == Fault::TlsLegacyOnly {
        legacy_alert(tcp, ctx.idle).await;
        return None;
    }
    let acceptor = TlsAcceptor::from(ctx.tls.clone());
    match timeout(ctx.idle, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            debug!(endpoint = %ctx.endpoint, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            debug!(endpoint = %ctx.endpoint, "TLS handshake timed out");
            None
        }
    }
}

//! The agents' listener asks for a client certificate but cannot require it at TLS: an
//! agent joining with a token has none yet (`Enrollment.Join`). This gate keeps every other
//! path of that listener (AgentLink, health, reflection) as closed to a client without a
//! certificate as the TLS handshake kept it before joins existed: such a request is
//! answered UNAUTHENTICATED before any of its body is read or decoded.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::http::{Request, Response};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The one path served to a client without a certificate.
const JOIN_PATH: &str = "/eceprobe.v1.Enrollment/Join";

/// Wraps the agents' routes; `required` is false on the plaintext loopback listener.
#[derive(Clone, Copy)]
pub(super) struct CertGateLayer {
    pub(super) required: bool,
}

impl<S> tower::Layer<S> for CertGateLayer {
    type Service = CertGate<S>;
    fn layer(&self, inner: S) -> CertGate<S> {
        CertGate {
            inner,
            required: self.required,
        }
    }
}

#[derive(Clone)]
pub(super) struct CertGate<S> {
    inner: S,
    required: bool,
}

fn has_certificate<B>(req: &Request<B>) -> bool {
    req.extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
        .is_some_and(|certs| !certs.is_empty())
}

impl<S, B, R> tower::Service<Request<B>> for CertGate<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self.required || req.uri().path() == JOIN_PATH || has_certificate(&req) {
            return Box::pin(self.inner.call(req));
        }
        let peer = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.get_ref().remote_addr());
        let path: String = req.uri().path().chars().take(128).collect();
        tracing::warn!(
            peer = %peer.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into()),
            path = %path.escape_default(),
            "agent refused before hello: {}",
            crate::auth::NO_CERTIFICATE
        );
        let status = tonic::Status::unauthenticated(crate::auth::NO_CERTIFICATE);
        Box::pin(std::future::ready(Ok(status.into_http())))
    }
}

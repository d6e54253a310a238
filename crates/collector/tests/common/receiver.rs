//! A webhook receiver for the tests: HTTP/1.1 over plain TCP on loopback ([`Receiver::listen`])
//! or over any stream the test accepted itself, TLS for one ([`Receiver::serve`]). It records
//! every request (bodies bounded at 1 MiB) and answers the status its policy chooses for the
//! request's index (0 for the first).

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// One request the receiver saw, and the status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub raw: String,
    pub body: serde_json::Value,
    pub status: u16,
}

impl Received {
    /// The header's value, "" when it is absent (or not visible ASCII).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or_default())
    }
}

type Policy = dyn Fn(usize) -> u16 + Send + Sync;

/// The requests seen so far and the policy answering the next; clones share both.
#[derive(Clone)]
pub struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    policy: Arc<Policy>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver answering `policy(index of the request)`: `|_| 200` accepts everything.
    pub fn new(policy: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Receiver {
        Receiver {
            seen: Arc::default(),
            policy: Arc::new(policy),
        }
    }

    /// Serves plain HTTP/1.1 on a fresh 127.0.0.1 port (until the runtime ends).
    pub async fn listen(
        policy: impl Fn(usize) -> u16 + Send + Sync + 'static,
    ) -> (SocketAddr, Receiver) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Receiver::new(policy);
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        (addr, receiver)
    }

    /// Serves HTTP/1.1 on one connection until it closes.
    pub async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let receiver = self.clone();
            async move { Ok::<_, Infallible>(receiver.answer(req).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, 1 << 20).collect().await.unwrap();
        let raw = String::from_utf8(body.to_bytes().to_vec()).unwrap();
        let body = serde_json::from_str(&raw).unwrap();
        let mut seen = self.seen.lock().unwrap();
        let status = (self.policy)(seen.len());
        seen.push(Received {
            path: parts.uri.to_string(),
            headers: parts.headers,
            raw,
            body,
            status,
        });
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(b"noted")))
            .unwrap()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until `n` requests have been accepted (answered 200); returns
    /// every request so far, or `Err` with them on time out.
    pub async fn try_accepted(&self, n: usize) -> Result<Vec<Received>, Vec<Received>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.requests();
            if got.iter().filter(|r| r.status == 200).count() >= n {
                return Ok(got);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(got);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (at most 20 s, or fails) until `n` requests have been accepted (answered 200);
    /// returns every request so far.
    pub async fn accepted(&self, n: usize) -> Vec<Received> {
        self.try_accepted(n)
            .await
            .unwrap_or_else(|got| panic!("timed out waiting for {n} accepted events; got {got:#?}"))
    }
}

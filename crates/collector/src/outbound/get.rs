//! One bounded HTTP GET over TCP, or rustls with the OS trust store (the same client TLS
//! as the webhooks' POSTs, `super::tls`): how the collector fetches Microsoft's endpoint
//! list. Every step has a
//! deadline (connect and TLS, each read, the whole request) and the body a size cap; the
//! request carries only Host, User-Agent, Accept and Connection besides the URL.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eceprobe_checks::words;
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

use super::tls::{client_tls, os_roots, tls_words};
use super::{HttpUrl, Scheme};

const USER_AGENT_VALUE: &str = concat!("eceprobe-collector/", env!("CARGO_PKG_VERSION"));
/// The answer's head (hyper's floor is 8 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// How long and how much one GET may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// TCP connect and TLS handshake together.
    pub connect: Duration,
    /// The longest wait for the next part of the answer.
    pub read: Duration,
    /// The whole request.
    pub total: Duration,
    /// The most body bytes accepted; more is an error, not a cut.
    pub max_body: usize,
}

/// Why a GET brought no body, in words (the caller names the URL).
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("{0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("answered HTTP {status}, not 200")]
    Status { status: u16 },
    #[error("the answer is larger than the {limit} bytes accepted")]
    TooLarge { limit: usize },
    #[error("no complete answer within {0} s")]
    Timeout(u64),
    #[error("nothing more of the answer for {0} s")]
    ReadTimeout(u64),
}

/// GETs `url` (its path and query included) and returns the body of a 200 answer.
pub async fn get(url: &HttpUrl, limits: Limits) -> Result<Bytes, GetError> {
    let deadline = Instant::now() + limits.total;
    let work = async {
        let connect_by = Instant::now() + limits.connect;
        let late = || {
            GetError::Connect(format!(
                "no connection within {} s",
                limits.connect.as_secs()
            ))
        };
        let tcp = match timeout_at(
            connect_by,
            TcpStream::connect((url.host.as_str(), url.port)),
        )
        .await
        {
            Err(_) => return Err(late()),
            Ok(r) => r.map_err(|e| {
                GetError::Connect(words::connect(&format!("{}:{}", url.host, url.port), &e))
            })?,
        };
        let _ = tcp.set_nodelay(true);
        match url.scheme {
            Scheme::Http => exchange(tcp, url, limits).await,
            Scheme::Https => {
                let roots = os_roots();
                if roots.is_empty() {
                    return Err(GetError::Tls(
                        "the OS trust store is empty: install the OS CA certificates".into(),
                    ));
                }
                let connector = client_tls(roots).map_err(GetError::Tls)?;
                let name = ServerName::try_from(url.host.clone())
                    .map_err(|_| GetError::Tls(format!("'{}' is not a host name", url.host)))?;
                let tls = match timeout_at(connect_by, connector.connect(name, tcp)).await {
                    Err(_) => return Err(late()),
                    Ok(r) => r.map_err(|e| GetError::Tls(tls_words(&e)))?,
                };
                exchange(tls, url, limits).await
            }
        }
    };
    match timeout_at(deadline, work).await {
        Err(_) => Err(GetError::Timeout(limits.total.as_secs())),
        Ok(r) => r,
    }
}

async fn exchange<S>(stream: S, url: &HttpUrl, limits: Limits) -> Result<Bytes, GetError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| GetError::Http(words::error(&e));
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(http)?;
    let request = Request::get(url.path_and_query.as_str())
        .header(HOST, url.host_header())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, "application/json")
        .header(CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| GetError::Http(format!("cannot build the request: {e}")))?;
    // The connection is driven beside the request; it ends with the answer.
    let driving = tokio::spawn(conn);
    let read = async {
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(GetError::Status { status });
        }
        let mut body = response.into_body();
        let mut out = BytesMut::new();
        loop {
            match timeout(limits.read, body.frame()).await {
                Err(_) => return Err(GetError::ReadTimeout(limits.read.as_secs())),
                Ok(None) => return Ok(out.freeze()),
                Ok(Some(Err(e))) => return Err(http(e)),
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        if out.len() + data.len() > limits.max_body {
                            return Err(GetError::TooLarge {
                                limit: limits.max_body,
                            });
                        }
                        out.extend_from_slice(data);
                    }
                }
            }
        }
    };
    let result = read.await;
    driving.abort();
    result
}

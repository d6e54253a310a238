//! The HTTPS dialogs: one GET (the network checks) or one form POST (the OAuth token
//! endpoint) over an established TLS stream (hyper, HTTP/1.1), with the response head and
//! body bounded and the whole exchange on the stage deadline.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::catalog::HttpExpect;
use crate::failure::FailureKind;
use crate::net::truncate;
use crate::report::ProtocolInfo;
use crate::StageError;

/// What to fetch.
pub(crate) struct HttpGet<'a> {
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    pub expect: &'a HttpExpect,
    pub max_bytes: usize,
}

pub(crate) async fn get<S>(
    stream: S,
    req: HttpGet<'_>,
    deadline: Instant,
    info: &mut ProtocolInfo,
) -> Result<(), StageError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = Target {
        host: req.host,
        port: req.port,
        path: req.path,
        max_bytes: req.max_bytes,
    };
    let exchange = exchange(stream, &target, None);
    let (status, body) = match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => {
            return Err(StageError::new(
                FailureKind::ProtocolTimeout,
                format!("no complete HTTP response to GET {} in time", req.path),
            ))
        }
        Ok(r) => r?,
    };
    info.http_status = Some(status);
    info.bytes_received = body.len() as u64;
    match req.expect {
        HttpExpect::AnyResponse => Ok(()),
        HttpExpect::OpenidConfiguration => {
            if status != 200 {
                return Err(StageError::new(
                    FailureKind::HttpStatus,
                    format!("GET {} answered {status}, expected 200", req.path),
                ));
            }
            let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                StageError::new(
                    FailureKind::OpenidInvalid,
                    format!("the OpenID configuration is not JSON ({e})"),
                )
            })?;
            match json.get("token_endpoint").and_then(|v| v.as_str()) {
                Some(endpoint) => {
                    info.token_endpoint = Some(truncate(endpoint));
                    Ok(())
                }
                None => Err(StageError::new(
                    FailureKind::OpenidInvalid,
                    "the OpenID configuration has no token_endpoint".to_string(),
                )),
            }
        }
    }
}

/// A form POST: the body is `application/x-www-form-urlencoded` and may hold secrets, so it
/// never appears in an error or a log line.
pub(crate) struct HttpPost<'a> {
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    pub form: &'a str,
    pub max_bytes: usize,
}

/// POSTs a form and returns the status and the (bounded) body, whatever the status.
pub(crate) async fn post_form<S>(
    stream: S,
    req: HttpPost<'_>,
    deadline: Instant,
) -> Result<(u16, Bytes), StageError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = Target {
        host: req.host,
        port: req.port,
        path: req.path,
        max_bytes: req.max_bytes,
    };
    let body = Bytes::copy_from_slice(req.form.as_bytes());
    let exchange = exchange(stream, &target, Some(body));
    match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => Err(StageError::new(
            FailureKind::ProtocolTimeout,
            format!("no complete HTTP response to POST {} in time", req.path),
        )),
        Ok(r) => r,
    }
}

struct Target<'a> {
    host: &'a str,
    port: u16,
    path: &'a str,
    max_bytes: usize,
}

/// One request: a GET, or with `form` a POST of that urlencoded body.
async fn exchange<S>(
    stream: S,
    req: &Target<'_>,
    form: Option<Bytes>,
) -> Result<(u16, Bytes), StageError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        // Bounds the response head; hyper's floor is 8 KiB.
        .max_buf_size(req.max_bytes.max(8192))
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(hyper_error)?;
    let host = if req.port == 443 {
        req.host.to_string()
    } else {
        format!("{}:{}", req.host, req.port)
    };
    let method = if form.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(req.path)
        .header(HOST, host)
        .header(USER_AGENT, concat!("eceprobe/", env!("CARGO_PKG_VERSION")))
        .header(CONNECTION, "close");
    builder = match form {
        Some(_) => builder
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded"),
        None => builder.header(ACCEPT, "*/*"),
    };
    let request = builder
        .body(Full::new(form.unwrap_or_default()))
        .map_err(|e| {
            StageError::new(
                FailureKind::ProtocolUnexpected,
                format!("cannot build {method} {}: {e}", req.path),
            )
        })?;
    let work = async {
        let resp = sender.send_request(request).await.map_err(hyper_error)?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), req.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    StageError::new(
                        FailureKind::ProtocolTooMuchData,
                        format!("the response body exceeded {} bytes", req.max_bytes),
                    )
                } else {
                    StageError::new(
                        FailureKind::ProtocolClosed,
                        format!(
                            "reading the response body failed: {}",
                            crate::words::error(e.as_ref())
                        ),
                    )
                }
            })?;
        Ok::<_, StageError>((status, body.to_bytes()))
    };
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => r,
        c = conn => match c {
            Err(e) => Err(hyper_error(e)),
            // The connection finished first: the response is complete or failed already.
            Ok(()) => work.await,
        },
    }
}

fn hyper_error(e: hyper::Error) -> StageError {
    // hyper only exposes is_parse_too_large() with its server feature; its message is stable.
    let kind = if e.is_parse() && e.to_string().contains("too large") {
        FailureKind::ProtocolTooMuchData
    } else if e.is_parse() {
        FailureKind::ProtocolUnexpected
    } else {
        FailureKind::ProtocolClosed
    };
    StageError::new(kind, format!("HTTP: {}", crate::words::error(&e)))
}

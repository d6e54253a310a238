//! Each dashboard request's head, read and bounded here before hyper sees it. Hyper answers a
//! head over its own bounds with an empty 414 or 431 that no hook can give a body; read
//! here, a head over ours gets the error every other answer has (docs/API.md): JSON
//! `{"error": ...}` for the API and `/metrics`, the small HTML page for the dashboard, with
//! the security headers, and a message that names the bound. Ours sit at or below hyper's
//! (a 64 KiB URI, 100 header fields, a read buffer of about 400 KiB), so hyper's never fire.
//!
//! Only a connection's first head passes through here, so hyper serves one request per
//! connection (keep-alive off, see [`super::serve`]): the dashboard's clients (a browser's
//! few requests per page, a scrape every 15 s) lose a TCP handshake per request, on the
//! LAN; every request, the first or not, gets its JSON error.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::auth::is_api;
use super::error::{json_error, page_error};
use super::headers::add_security_headers;

/// The request target (path and query) is at most this long, else 414.
pub const MAX_TARGET: usize = 8 * 1024;
/// The whole head (request line and header fields) is at most this long, else 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// At most this many header fields, else 431 (hyper's own limit, which it would answer
/// with an empty 431).
pub const MAX_FIELDS: usize = 100;

/// What came in before hyper's turn.
pub enum Head {
    /// A complete head within the bounds: these bytes (the head, and whatever of the body
    /// came with it) are the request's first, for hyper to read before the socket.
    Complete(Vec<u8>),
    /// Over a bound, or not HTTP/1: answer this and close.
    Refused(Refusal),
    /// The client closed, failed or stalled before a complete head: close without an
    /// answer, as hyper does.
    Gone,
}

/// Why a head is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// JSON (the API, `/metrics`) rather than an HTML page.
    pub api: bool,
}

/// Reads one head, all of it within `within`.
pub async fn read<R: AsyncRead + Unpin>(io: &mut R, within: Duration) -> Head {
    tokio::time::timeout(within, read_head(io))
        .await
        .unwrap_or(Head::Gone)
}

async fn read_head<R: AsyncRead + Unpin>(io: &mut R) -> Head {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return Head::Gone,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Only a new line end can complete a head or a field, so a client sending a byte
        // at a time costs one parse per line (at most MAX_FIELDS + 1 before a refusal), not
        // one per byte.
        if chunk[..n].contains(&b'\n') {
            match judge(&buf) {
                Verdict::Complete => return Head::Complete(buf),
                Verdict::Refused(r) => return Head::Refused(r),
                Verdict::Partial => {}
            }
        }
        if buf.len() >= MAX_HEAD {
            return Head::Refused(over_the_head_bound(&buf));
        }
    }
}

enum Verdict {
    Complete,
    Partial,
    Refused(Refusal),
}

fn judge(buf: &[u8]) -> Verdict {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    let parsed = request.parse(buf);
    let path = request.path.unwrap_or_else(|| target_start(buf));
    let api = is_api(path.split('?').next().unwrap_or_default());
    let refuse = |status, message: String| {
        Verdict::Refused(Refusal {
            status,
            message,
            api,
        })
    };
    if let Some(target) = request.path.filter(|t| t.len() > MAX_TARGET) {
        return refuse(StatusCode::URI_TOO_LONG, target_too_long(target.len()));
    }
    match parsed {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            head_too_large(),
        ),
        Ok(httparse::Status::Complete(_)) => Verdict::Complete,
        Ok(httparse::Status::Partial) => Verdict::Partial,
        Err(httparse::Error::TooManyHeaders) => refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("more than {MAX_FIELDS} header fields: at most {MAX_FIELDS} are accepted"),
        ),
        Err(e) => refuse(
            StatusCode::BAD_REQUEST,
            format!("not an HTTP/1.1 request ({e})"),
        ),
    }
}

/// A head that reached [`MAX_HEAD`] unfinished: 414 while its request line is still
/// unfinished (the target is what is long), else 431.
fn over_the_head_bound(buf: &[u8]) -> Refusal {
    let api = is_api(target_start(buf).split('?').next().unwrap_or_default());
    match buf.contains(&b'\n') {
        false => Refusal {
            status: StatusCode::URI_TOO_LONG,
            message: format!(
                "the request target (path and query) is over {MAX_HEAD} bytes: at most {MAX_TARGET} are accepted"
            ),
            api,
        },
        true => Refusal {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: head_too_large(),
            api,
        },
    }
}

fn target_too_long(len: usize) -> String {
    format!("the request target (path and query) is {len} bytes: at most {MAX_TARGET} are accepted")
}

fn head_too_large() -> String {
    format!(
        "the request's header fields are over {MAX_HEAD} bytes: at most {MAX_HEAD} are accepted (a browser sends this host's cookies of every port: clear them)"
    )
}

/// The start of the request target of an unfinished or unparsable request line: after the
/// method's space, up to the next space, at most 256 bytes; "" when not text.
fn target_start(buf: &[u8]) -> &str {
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(start) = line.iter().position(|b| *b == b' ') else {
        return "";
    };
    let rest = &line[start + 1..];
    let rest = &rest[..rest.len().min(256)];
    let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).unwrap_or("")
}

/// At most this long to write a refusal to a client that does not read it.
const WRITE_WITHIN: Duration = Duration::from_secs(5);
/// After the refusal, what the client still sends is read and dropped for at most this
/// long (and this much): closing with unread data resets the connection, and the client
/// could lose the answer before reading it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Answers a refused head (with `Connection: close`) and closes.
pub async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, refusal: Refusal) {
    let response = match refusal.api {
        true => json_error(refusal.status, &refusal.message),
        false => page_error(refusal.status, &refusal.message),
    };
    tracing::debug!(status = %refusal.status, message = %refusal.message, "dashboard request refused before routing");
    let Some(bytes) = encode(response).await else {
        return;
    };
    let written = tokio::time::timeout(WRITE_WITHIN, async {
        io.write_all(&bytes).await?;
        io.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = vec![0u8; 8192];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// The response as HTTP/1.1 bytes: our own answers (static header values, a small body),
/// so every header value is text.
async fn encode(response: Response) -> Option<Vec<u8>> {
    let (mut parts, body) = response.into_parts();
    add_security_headers(&mut parts.headers);
    let body = axum::body::to_bytes(body, 64 * 1024).await.ok()?;
    let status = parts.status;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

/// The bytes [`read`] took, then the stream: what hyper reads from.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let rest = &this.prefix[this.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of `bytes`, read as from a client that sends them and then closes.
    fn head(bytes: &[u8]) -> Head {
        let mut io = bytes;
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(read(&mut io, Duration::from_secs(1)))
    }

    fn refusal(h: Head) -> Refusal {
        match h {
            Head::Refused(r) => r,
            Head::Complete(_) => panic!("complete"),
            Head::Gone => panic!("gone"),
        }
    }

    #[test]
    fn heads_within_the_bounds_pass_with_what_followed() {
        let req = b"POST /api/audits HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
        match head(req) {
            Head::Complete(bytes) => assert_eq!(bytes, req),
            _ => panic!("refused"),
        }
        assert!(matches!(head(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::Gone));
    }

    #[test]
    fn each_bound_has_its_status_and_the_apis_get_json() {
        let long = "a".repeat(MAX_TARGET);
        let r = refusal(head(
            format!("GET /api/gaps?x={long} HTTP/1.1\r\n\r\n").as_bytes(),
        ));
        assert_eq!((r.status, r.api), (StatusCode::URI_TOO_LONG, true));
        assert!(r.message.contains("at most 8192"), "{}", r.message);
        // Longer than the whole head: refused before the request line ends.
        let huge = "a".repeat(MAX_HEAD + 10);
        let r = refusal(head(format!("GET /servers/{huge}").as_bytes()));
        assert_eq!((r.status, r.api), (StatusCode::URI_TOO_LONG, false));
        let cookie = "c".repeat(MAX_HEAD);
        let r = refusal(head(
            format!("GET /metrics HTTP/1.1\r\nCookie: {cookie}\r\n\r\n").as_bytes(),
        ));
        assert_eq!(
            (r.status, r.api),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, true)
        );
        let fields = "X-A: 1\r\n".repeat(MAX_FIELDS + 1);
        let r = refusal(head(format!("GET / HTTP/1.1\r\n{fields}\r\n").as_bytes()));
        assert_eq!(
            (r.status, r.api),
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, false)
        );
        let fields = "X-A: 1\r\n".repeat(MAX_FIELDS);
        assert!(matches!(
            head(format!("GET / HTTP/1.1\r\n{fields}\r\n").as_bytes()),
            Head::Complete(_)
        ));
        let r = refusal(head(b"GET /api/x HTTP/9.9\r\n\r\n"));
        assert_eq!((r.status, r.api), (StatusCode::BAD_REQUEST, true));
    }

    #[test]
    fn the_target_of_an_unfinished_line_is_found() {
        assert_eq!(target_start(b"GET /api/gaps?x=1 HTT"), "/api/gaps?x=1");
        assert_eq!(target_start(b"GET /metr"), "/metr");
        assert_eq!(target_start(b"garbage"), "");
    }
}

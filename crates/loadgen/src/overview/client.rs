//! The two ways a request reaches the dashboard: over HTTP/1.1, and through the router
//! in-process (no hyper, no socket). The dashboard serves one request per connection
//! (`Connection: close`, see the collector's `web/head.rs`): the client opens the next
//! connection before the next request's clock starts, so a request's time stays the
//! request's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::TOKEN;

/// One answer, read to its end.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The same request through the router in-process (no hyper, no socket): its time and
/// body length.
pub async fn in_process(router: &Router, target: &str) -> Result<(Duration, usize)> {
    let req = Request::get(target)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .with_context(|| format!("building GET {target}"))?;
    let started = Instant::now();
    let response = router.clone().oneshot(req).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .with_context(|| format!("in-process GET {target}: reading the body"))?;
    let took = started.elapsed();
    ensure!(
        status.is_success(),
        "in-process GET {target}: {status} {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    Ok((took, body.len()))
}

/// A plain HTTP/1.1 client: one connection at a time, reopened when the dashboard said
/// `Connection: close`.
pub struct Client {
    conn: BufReader<TcpStream>,
    addr: SocketAddr,
    /// The last answer closed the connection.
    closed: bool,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Result<Client> {
        Ok(Client {
            conn: Client::open(addr).await?,
            addr,
            closed: false,
        })
    }

    async fn open(addr: SocketAddr) -> Result<BufReader<TcpStream>> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the dashboard at {addr}"))?;
        tcp.set_nodelay(true).context("TCP_NODELAY")?;
        Ok(BufReader::with_capacity(256 * 1024, tcp))
    }

    /// A connection for the next request: the same one, or a new one if the last answer
    /// closed it.
    pub async fn ready(&mut self) -> Result<()> {
        if self.closed {
            self.conn = Client::open(self.addr).await?;
            self.closed = false;
        }
        Ok(())
    }

    pub async fn get(&mut self, target: &str) -> Result<Answer> {
        self.ready().await?;
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            self.addr
        );
        self.conn
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .with_context(|| format!("sending GET {target}"))?;
        let mut line = String::new();
        self.read_line(&mut line, target).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("GET {target}: bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            self.read_line(&mut line, target).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((name, value)) = l.split_once(':') else {
                bail!("GET {target}: bad header line {l:?}");
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("content-length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                self.closed = value.eq_ignore_ascii_case("close");
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                self.read_line(&mut line, target).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("GET {target}: bad chunk size {line:?}"))?;
                let at = body.len();
                body.resize(at + size + 2, 0);
                self.conn.read_exact(&mut body[at..]).await?;
                body.truncate(at + size);
                if size == 0 {
                    // The trailer section ends with an empty line (no trailers here).
                    break;
                }
            }
        } else {
            let n = length.with_context(|| format!("GET {target}: no content-length"))?;
            body.resize(n, 0);
            self.conn
                .read_exact(&mut body)
                .await
                .with_context(|| format!("reading the body of GET {target}"))?;
        }
        Ok(Answer { status, body })
    }

    async fn read_line(&mut self, line: &mut String, target: &str) -> Result<()> {
        line.clear();
        let n = self
            .conn
            .read_line(line)
            .await
            .with_context(|| format!("reading the answer to GET {target}"))?;
        ensure!(n > 0, "GET {target}: the dashboard closed the connection");
        Ok(())
    }
}

pub async fn timed(client: &mut Client, target: &str) -> Result<(Duration, Answer)> {
    client.ready().await?;
    let started = Instant::now();
    let answer = client.get(target).await?;
    let took = started.elapsed();
    ensure!(
        answer.status == 200,
        "GET {target}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
    );
    Ok((took, answer))
}

pub fn json(answer: &Answer, what: &str) -> Result<serde_json::Value> {
    serde_json::from_slice(&answer.body).with_context(|| format!("{what}: not JSON"))
}

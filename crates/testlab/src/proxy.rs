//! An HTTP CONNECT proxy on loopback, standing in for the corporate proxy an ECE server may
//! have to use: it tunnels to lab endpoints by their real host name and port, or refuses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{copy_bidirectional, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

use crate::config::ProxyMode;
use crate::lineio::{header, read_head, request_line};

/// User name accepted by `ProxyMode::RequireAuth407` (Basic).
pub const PROXY_USER: &str = "lab";
/// Password accepted by `ProxyMode::RequireAuth407` (Basic).
pub const PROXY_PASSWORD: &str = "lab";

/// How many CONNECT targets are remembered; older ones are forgotten.
const MAX_SEEN: usize = 10_000;
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct ProxyCtx {
    pub mode: ProxyMode,
    /// `host:port` (lower-case) and `ip:port` targets the proxy can reach.
    pub routes: Vec<(String, SocketAddr)>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub idle: Duration,
}

impl ProxyCtx {
    fn lookup(&self, target: &str) -> Option<SocketAddr> {
        let target = target.to_ascii_lowercase();
        self.routes
            .iter()
            .find(|(name, _)| *name == target)
            .map(|(_, addr)| *addr)
    }

    fn remember(&self, target: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_SEEN {
            seen.remove(0);
        }
        seen.push(target.to_string());
    }
}

pub(crate) async fn serve(mut tcp: TcpStream, ctx: Arc<ProxyCtx>) {
    let (head, early) = match read_head(&mut tcp, ctx.idle).await {
        Ok(Some(h)) => h,
        // Closed, idle, or a head over the bound: nothing sensible to answer.
        _ => return,
    };
    let Some((method, target)) = request_line(&head) else {
        return reply(tcp, "400 Bad Request", "").await;
    };
    if !method.eq_ignore_ascii_case("CONNECT") {
        return reply(tcp, "405 Method Not Allowed", "Allow: CONNECT\r\n").await;
    }
    ctx.remember(&target);
    match ctx.mode {
        ProxyMode::Deny403 => return reply(tcp, "403 Forbidden", "").await,
        ProxyMode::RequireAuth407 if !authorized(&head) => {
            return reply(
                tcp,
                "407 Proxy Authentication Required",
                "Proxy-Authenticate: Basic realm=\"lab\"\r\n",
            )
            .await;
        }
        ProxyMode::Allow | ProxyMode::RequireAuth407 => {}
    }
    let Some(addr) = ctx.lookup(&target) else {
        return reply(tcp, "502 Bad Gateway", "").await;
    };
    let mut upstream = match timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return reply(tcp, "502 Bad Gateway", "").await,
        Err(_) => return reply(tcp, "504 Gateway Timeout", "").await,
    };
    let _ = upstream.set_nodelay(true);
    let established = async {
        tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        // A client may have sent its ClientHello without waiting for the 200.
        upstream.write_all(&early).await
    };
    if timeout(ctx.idle, established).await.is_err() {
        return;
    }
    if let Err(e) = copy_bidirectional(&mut tcp, &mut upstream).await {
        debug!(%target, error = %e, "tunnel ended");
    }
}

fn authorized(head: &[u8]) -> bool {
    let Some(value) = header(head, "proxy-authorization") else {
        return false;
    };
    let Some((scheme, creds)) = value.split_once(' ') else {
        return false;
    };
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"));
    scheme.eq_ignore_ascii_case("basic") && creds.trim() == expected
}

async fn reply(mut tcp: TcpStream, status: &str, extra_headers: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = timeout(Duration::from_secs(5), async {
        tcp.write_all(text.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth() {
        let good = b"CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic bGFiOmxhYg==\r\n\r\n";
        assert!(authorized(good));
        assert!(!authorized(b"CONNECT a:443 HTTP/1.1\r\n\r\n"));
        assert!(!authorized(
            b"CONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n"
        ));
    }
}

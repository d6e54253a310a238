//! Client-side helpers shared by the integration tests: a plain tokio-rustls client that
//! trusts chosen PEM roots, bounded line reads, and a raw HTTP/1.1 exchange.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod oauth;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub const WAIT: Duration = Duration::from_secs(5);

pub fn client_config(pems: &[String]) -> Arc<ClientConfig> {
    config_with_versions(pems, rustls::DEFAULT_VERSIONS)
}

pub fn config_with_versions(
    pems: &[String],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for pem in pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// TCP connect to `addr`, TLS handshake naming `host` (SNI and verification).
pub async fn tls_connect(
    addr: SocketAddr,
    host: &str,
    cfg: Arc<ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await??;
    tls_upgrade(tcp, host, cfg).await
}

pub async fn tls_upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    host: &str,
    cfg: Arc<ClientConfig>,
) -> io::Result<TlsStream<S>> {
    let name = ServerName::try_from(host.to_string()).unwrap();
    timeout(WAIT, TlsConnector::from(cfg).connect(name, io)).await?
}

/// The rustls error inside an I/O error from a failed handshake.
pub fn rustls_error(e: &io::Error) -> Option<rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>().cloned()
}

pub async fn line<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> String {
    let mut s = String::new();
    timeout(WAIT, r.read_line(&mut s))
        .await
        .expect("line timed out")
        .expect("line read failed");
    s
}

/// Lines up to and including the first one that starts with `last_prefix`.
pub async fn lines_until<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    last_prefix: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let l = line(r).await;
        assert!(!l.is_empty(), "EOF before {last_prefix:?}, got {out:?}");
        let done = l.starts_with(last_prefix);
        out.push(l);
        if done {
            return out;
        }
    }
}

pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, text: &str) {
    w.write_all(text.as_bytes()).await.unwrap();
    w.flush().await.unwrap();
}

/// Reads until EOF (or an error, e.g. a missing close_notify) within `WAIT`.
pub async fn read_all<R: AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = timeout(WAIT, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    out
}

pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One raw HTTP/1.1 request with `Connection: close`.
pub async fn http<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    method: &str,
    host: &str,
    path: &str,
) -> HttpResponse {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    send(io, &req).await;
    let raw = String::from_utf8(read_all(io).await).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("no HTTP head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("no status");
    HttpResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// One raw HTTP/1.1 POST of a form body with `Connection: close`.
pub async fn post_form<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    host: &str,
    path: &str,
    body: &str,
) -> HttpResponse {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    send(io, &req).await;
    let raw = String::from_utf8(read_all(io).await).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("no HTTP head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("no status");
    HttpResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `application/x-www-form-urlencoded` of the pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

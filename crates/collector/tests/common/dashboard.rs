//! The dashboard of a real collector process, seen through a plain HTTP/1.1 client (a raw
//! TCP stream: no HTTP library between the test and the bytes), and an agent that feeds it
//! results over gRPC (one hostile host name, a failing IMAP).

use std::net::SocketAddr;
use std::time::Duration;

use eceprobe_proto::v1::{AgentMessage, CheckResult, Finding, Hello, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::agent::{hello, Agent, CHECKS};
use super::Collector;

pub const TOKEN: &str = "test-token-0123456789abcdef0123456789abcdef";
pub const HOSTILE: &str = "<script>alert(1)</script>";

pub struct Dashboard {
    collector: Collector,
    /// Where agents connect.
    pub agents: SocketAddr,
    pub web: SocketAddr,
    /// The Query API.
    pub query: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Dashboard {
    /// The collector binary with `[http]` on a free port and a known token; reads the three
    /// lines it prints.
    pub fn start() -> Dashboard {
        Dashboard::start_with_config("")
    }

    /// [`Dashboard::start`] with more of the collector's configuration (TOML sections).
    pub fn start_with_config(more: &str) -> Dashboard {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        Dashboard::start_in(dir, &db, more)
    }

    /// As [`Dashboard::start`], on an existing database (a demo's).
    pub fn start_on(db: &std::path::Path) -> Dashboard {
        Dashboard::start_in(tempfile::tempdir().unwrap(), db, "")
    }

    fn start_in(dir: tempfile::TempDir, db: &std::path::Path, more: &str) -> Dashboard {
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        let config = dir.path().join("collector.toml");
        std::fs::write(
            &config,
            format!("{more}\n[http]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n"),
        )
        .unwrap();
        let args = ["--plaintext", "--config", config.to_str().unwrap()];
        let mut collector = Collector::start_with(db, &args);
        let dashboard = collector.line();
        let url = dashboard.strip_prefix("dashboard on http://").unwrap();
        let (addr, token) = url.split_once("/?token=").unwrap();
        assert_eq!(token, TOKEN, "the printed URL carries the token");
        Dashboard {
            agents: collector.addr,
            web: addr.parse().unwrap(),
            query: collector.query,
            collector,
            _dir: dir,
        }
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    parse_answer(&String::from_utf8(raw).unwrap())
}

/// An HTTP/1.1 answer as read off the socket: status, headers (names as sent), body.
pub fn parse_answer(text: &str) -> Resp {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A GET with the token.
pub async fn get(addr: SocketAddr, target: &str) -> Resp {
    let bearer = format!("Bearer {TOKEN}");
    http(addr, "GET", target, &[("Authorization", &bearer)], "").await
}

pub fn result(seq: u64, check: &str, fail: bool) -> CheckResult {
    CheckResult {
        seq,
        check: check.into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms: eceprobe_proto::now_ms(),
        outcome: if fail { Outcome::Fail } else { Outcome::Pass } as i32,
        duration_us: 20_000,
        failure: fail.then(|| Finding {
            kind: "tcp_refused".into(),
            stage: "tcp".into(),
            detail: "connection refused by 52.97.1.1:993".into(),
            hint: "open TCP 993 to outlook.office365.com from this server (C10)".into(),
            ..Default::default()
        }),
        ..CheckResult::default()
    }
}

/// An agent (svc-1 in prod, its host name [`HOSTILE`]) whose IMAP fails; its stream stays
/// open while the returned sender lives.
pub async fn feed(addr: SocketAddr) -> mpsc::Sender<AgentMessage> {
    feed_with(addr, Vec::new()).await
}

/// As [`feed`], then `extra` (numbered from 6 on) in the same batch.
pub async fn feed_with(addr: SocketAddr, extra: Vec<CheckResult>) -> mpsc::Sender<AgentMessage> {
    let hello = Hello {
        hostname: HOSTILE.into(),
        ..hello("svc-1", "prod")
    };
    let (mut agent, _) = Agent::connect_with(addr, hello).await;
    let mut results: Vec<CheckResult> = (1..)
        .zip(CHECKS)
        .map(|(s, c)| result(s, c, c == "imap"))
        .collect();
    results.extend(extra);
    agent.send_results(results).await;
    // Keep reading so the stream stays healthy; it ends with the test.
    let Agent { tx, mut rx } = agent;
    tokio::spawn(async move { while let Ok(Some(_)) = rx.message().await {} });
    tx
}

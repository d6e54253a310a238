//! The dashboard's listener keeps its bounds against clients that misbehave: a request head
//! that never finishes is cut off, and the dashboard still answers others meanwhile; a head
//! over a bound gets the error docs/API.md documents (JSON for the API, a page for the
//! dashboard), not an empty answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::dashboard::parse_answer;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A collector with its dashboard on a free port; returns the dashboard's address.
fn start(dir: &std::path::Path) -> (Killed, SocketAddr) {
    let config = dir.join("collector.toml");
    std::fs::write(&config, "[http]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(["serve", "--plaintext", "--listen", "127.0.0.1:0"])
        .args([
            "--query-listen",
            "127.0.0.1:0",
            "--log-level=warn",
            "--config",
        ])
        .arg(&config)
        .arg("--db")
        .arg(dir.join("c.db"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let child = Killed(child);
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if let Some(url) = line.trim().strip_prefix("dashboard on http://") {
            let addr = url.split('/').next().unwrap().parse().unwrap();
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return (child, addr);
        }
    }
    panic!("the collector did not print its dashboard address");
}

fn healthz(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_request_head_that_never_ends_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_collector, addr) = start(dir.path());
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Others are served while it dawdles.
    assert!(healthz(addr).ends_with("ok"), "{}", healthz(addr));
    let began = Instant::now();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    // The server closes (EOF, possibly after a 408) rather than waiting forever.
    let _ = slow.read_to_end(&mut rest);
    let waited = began.elapsed();
    assert!(
        waited < Duration::from_secs(25),
        "the half-sent request held its connection for {waited:?}"
    );
}

/// Sends `head` (and nothing after it) on a new connection; returns the status, the headers
/// (lower-case names) and the body of the answer.
fn raw(addr: SocketAddr, head: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let answer = parse_answer(&String::from_utf8(answer).unwrap());
    let headers = answer
        .headers
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    (answer.status, headers, answer.body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

/// The answer is `status` with the API's JSON error, whose message says `says`.
fn assert_json_error(answer: (u16, Vec<(String, String)>, String), status: u16, says: &str) {
    let (got, headers, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert!(header(&headers, "content-security-policy").contains("default-src 'none'"));
    assert_eq!(header(&headers, "content-length"), body.len().to_string());
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
}

#[test]
fn heads_over_a_bound_get_the_documented_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_collector, addr) = start(dir.path());
    let get = |target: &str, fields: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n")
    };
    // A query string over 8 KiB; one longer than hyper's own 64 KiB bound, answered the same.
    for len in [9_000, 70_000] {
        let target = format!("/api/gaps?deployment={}", "a".repeat(len));
        let answer = raw(addr, &get(&target, ""));
        assert_json_error(answer, 414, "at most 8192");
    }
    // A cookie over 64 KiB, and more than 100 header fields.
    let cookie = format!("Cookie: other-app={}\r\n", "c".repeat(70_000));
    assert_json_error(
        raw(addr, &get("/api/overview", &cookie)),
        431,
        "at most 65536",
    );
    let fields = "X-Filler: 1\r\n".repeat(100);
    assert_json_error(raw(addr, &get("/metrics", &fields)), 431, "at most 100");
    assert_json_error(
        raw(addr, "BREW /api HTTP/9.9\r\n\r\n"),
        400,
        "not an HTTP/1.1 request",
    );

    // A page gets the page, with the same status.
    let (status, headers, body) = raw(addr, &get("/", &cookie));
    assert_eq!(status, 431);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(body.contains("at most 65536"), "{body}");

    // At the bounds, a request is served (99 fields and Host: 100; 401 without the token).
    let fields = "X-Filler: 1\r\n".repeat(98);
    let query = "/api/gaps?deployment=";
    let target = format!("{query}{}", "a".repeat(8192 - query.len()));
    assert_eq!(target.len(), 8192);
    assert_json_error(raw(addr, &get(&target, &fields)), 401, "access token");
    assert!(healthz(addr).ends_with("ok"));
}

//! The dashboard's listener keeps its bounds against clients that misbehave: a request head
//! that never finishes is cut off, and the dashboard still answers others meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

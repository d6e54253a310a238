//! Shared by the collector's integration tests: the real collector binary on loopback
//! ports with a temporary SQLite file, and gRPC plumbing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use eceprobe_proto::v1::{agent_message, AgentMessage};

pub struct Collector {
    pub child: Child,
    /// Where agents connect.
    pub addr: SocketAddr,
    /// The Query API.
    pub query: SocketAddr,
}

impl Collector {
    /// Plaintext on loopback, as tests and demos run it.
    pub fn start(db: &Path) -> Collector {
        Collector::start_with(db, &["--plaintext"])
    }

    pub fn start_with(db: &Path, args: &[&str]) -> Collector {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--query-listen",
                "127.0.0.1:0",
            ])
            .arg("--db")
            .arg(db)
            .arg("--log-level=warn")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut said = |prefix: &str| -> SocketAddr {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("collector said {line:?}"))
                .parse()
                .unwrap()
        };
        let addr = said("listening on ");
        let query = said("query on ");
        Collector { child, addr, query }
    }

    /// Like a power cut: SIGKILL, no shutdown.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn msg(body: agent_message::Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

pub async fn channel(addr: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

//! Shared by the collector's integration tests: the real collector binary on loopback
//! ports with a temporary SQLite file, gRPC plumbing and the Query API. Simulated agents
//! are in [`agent`], the dashboard over raw HTTP/1.1 in [`dashboard`], a webhook receiver in
//! [`receiver`], store records for tests that fill a store directly in [`records`].
#![allow(dead_code)]

pub mod agent;
pub mod dashboard;
pub mod endpoints_service;
pub mod postgres;
pub mod receiver;
pub mod records;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{
    agent_message, AgentMessage, AuditReport, Gap, GapsRequest, GetAuditRequest, RunAuditRequest,
};

pub struct Collector {
    pub child: Child,
    /// Where agents connect.
    pub addr: SocketAddr,
    /// The Query API.
    pub query: SocketAddr,
    /// What it prints after the two addresses (the dashboard's URL).
    stdout: BufReader<ChildStdout>,
}

impl Collector {
    /// Plaintext on loopback, as tests and demos run it.
    pub fn start(db: &Path) -> Collector {
        Collector::start_with(db, &["--plaintext"])
    }

    pub fn start_with(db: &Path, args: &[&str]) -> Collector {
        Collector::spawn(db, args, "warn", Stdio::inherit())
    }

    /// With its log (at info) in `log`, so the test can read it.
    pub fn start_logging(db: &Path, args: &[&str], log: &Path) -> Collector {
        let log = std::fs::File::create(log).unwrap();
        Collector::spawn(db, args, "info", log.into())
    }

    fn spawn(db: &Path, args: &[&str], log_level: &str, stderr: Stdio) -> Collector {
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
            .arg(format!("--log-level={log_level}"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
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
        Collector {
            child,
            addr,
            query,
            stdout,
        }
    }

    /// The next line the collector prints, trimmed.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    /// As Ctrl-C or the service manager would: SIGINT.
    pub fn interrupt(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Sends SIGTERM (what systemd and `kill` send to stop a service).
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
    }

    /// How it exited, which it must within 10 s (of `after`, says the failure).
    pub fn exited(&mut self, after: &str) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the collector did not exit within 10 s of {after}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// `eceprobe-demo --once --dir DIR` as a newcomer runs it (real agents against
/// testlab: the application server's 993 refused and 995 dropped, SMTP AUTH off for
/// sales@contoso.com): its exit code and what it printed; its stderr must hold no error.
pub fn demo_once(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-demo"))
        .args(["--once", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("panicked"),
        "stderr: {stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout)
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

/// A gRPC client of the collector at `addr`: `QueryClient::connect_to(collector.query)`.
pub trait ConnectTo {
    async fn connect_to(addr: SocketAddr) -> Self;
}

impl ConnectTo for AgentLinkClient<tonic::transport::Channel> {
    async fn connect_to(addr: SocketAddr) -> Self {
        AgentLinkClient::new(channel(addr).await)
    }
}

impl ConnectTo for QueryClient<tonic::transport::Channel> {
    async fn connect_to(addr: SocketAddr) -> Self {
        QueryClient::new(channel(addr).await)
    }
}

/// Starts an audit of `deployment` ("" for all) through the Query API; returns its id.
pub async fn run_audit(query: SocketAddr, deployment: &str, deadline_s: u32) -> String {
    QueryClient::connect_to(query)
        .await
        .run_audit(RunAuditRequest {
            deployment: deployment.into(),
            deadline_s,
        })
        .await
        .unwrap()
        .into_inner()
        .audit_id
}

pub async fn get_audit(query: SocketAddr, audit_id: &str) -> AuditReport {
    QueryClient::connect_to(query)
        .await
        .get_audit(GetAuditRequest {
            audit_id: audit_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls the audit until it is closed (or fails after 20 s); returns its report.
pub async fn wait_closed(query: SocketAddr, audit_id: &str) -> AuditReport {
    let mut client = QueryClient::connect_to(query).await;
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let report = client
            .get_audit(GetAuditRequest {
                audit_id: audit_id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if report.audit.as_ref().unwrap().state == "closed" {
            return report;
        }
        assert!(Instant::now() < until, "audit {audit_id} never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn current_gaps(addr: SocketAddr) -> Vec<Gap> {
    let mut client = QueryClient::connect_to(addr).await;
    client
        .current_gaps(GapsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .gaps
}

/// Polls the current gaps until `done` holds (the tracker runs within seconds of new
/// results, and on its timer for silent agents).
pub async fn wait_for_gaps(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&[Gap]) -> bool,
) -> Vec<Gap> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let gaps = current_gaps(addr).await;
        if done(&gaps) {
            return gaps;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; gaps now: {gaps:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the admin CLI against a collector's Query API: (exit code, stdout, stderr).
pub fn admin(query: SocketAddr, args: &[&str]) -> (Option<i32>, String, String) {
    admin_at(&format!("http://{query}"), args)
}

/// [`admin`] with the collector's URL as given.
pub fn admin_at(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(args)
        .args(["--collector", url])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

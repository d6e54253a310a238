//! Shared by the end-to-end tests: a collector in the test process (real port, real SQLite
//! file), the real agent binary, polling.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::server::Bound;
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{CheckHistoryRequest, Gap, GapsRequest, ServerResultsRequest};
use eceprobe_testlab::Testlab;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// What the lab's agent reports each cycle: the catalog, and `ece-config` (the lab
/// declares an ECE URL).
pub const CHECKS: [&str; 7] = [
    "login-https",
    "outlook-https",
    "imap",
    "pop3",
    "smtp",
    "ece-url",
    "ece-config",
];

/// A collector in this process; `crash` drops its listener and every stream at once.
pub struct Collector {
    /// Where agents connect.
    pub addr: SocketAddr,
    /// The Query API.
    pub query: SocketAddr,
    store: Store,
    serving: JoinHandle<()>,
    evaluating: JoinHandle<()>,
    _stop_tracker: tokio::sync::watch::Sender<bool>,
}

impl Collector {
    /// Plaintext on loopback when `tls` is None.
    pub async fn start(db: &Path, addr: SocketAddr, tls: Option<AgentTls>) -> Collector {
        let store = Store::open(db).await.unwrap();
        let bound = Bound::bind(addr, "127.0.0.1:0".parse().unwrap(), tls)
            .await
            .unwrap();
        let addr = bound.agents_addr().unwrap();
        let query = bound.query_addr().unwrap();
        let tracker = Tracker::new(store.clone(), Policy::default());
        // Kept in the struct: the tracker stops when its sender is dropped.
        let (stop_tracker, tracker_stop) = tokio::sync::watch::channel(false);
        let evaluating = tokio::spawn(tracker.clone().run(Duration::from_secs(1), tracker_stop));
        let serve = bound.serve(
            store.clone(),
            IngestLimits::default(),
            tracker,
            std::future::pending(),
        );
        let serving = tokio::spawn(async move {
            let _ = serve.await;
        });
        Collector {
            addr,
            query,
            store,
            serving,
            evaluating,
            _stop_tracker: stop_tracker,
        }
    }

    pub async fn crash(self) {
        self.serving.abort();
        self.evaluating.abort();
        let _ = self.serving.await;
        self.store.close().await;
    }

    pub async fn query(&self) -> QueryClient<tonic::transport::Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.query))
            .unwrap()
            .connect()
            .await
            .unwrap();
        QueryClient::new(channel)
    }

    pub async fn gaps(&self) -> Vec<Gap> {
        self.query()
            .await
            .current_gaps(GapsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .gaps
    }

    /// Every seq stored for the agent, over all checks, sorted.
    pub async fn seqs(&self, agent: &str) -> Vec<u64> {
        let mut query = self.query().await;
        let mut seqs = Vec::new();
        for check in CHECKS {
            let history = query
                .check_history(CheckHistoryRequest {
                    agent_id: agent.into(),
                    check: check.into(),
                    limit: 10_000,
                })
                .await
                .unwrap()
                .into_inner()
                .results;
            seqs.extend(history.iter().map(|r| r.seq));
        }
        seqs.sort_unstable();
        seqs
    }

    /// Whether the collector has a record of this agent.
    pub async fn is_known(&self, agent: &str) -> bool {
        match self
            .query()
            .await
            .server_results(ServerResultsRequest {
                agent_id: agent.into(),
            })
            .await
        {
            Ok(_) => true,
            Err(e) if e.code() == tonic::Code::NotFound => false,
            Err(e) => panic!("the Query API failed: {e:?}"),
        }
    }

    pub async fn last_seq(&self, agent: &str) -> u64 {
        match self
            .query()
            .await
            .server_results(ServerResultsRequest {
                agent_id: agent.into(),
            })
            .await
        {
            Ok(r) => r.into_inner().server.map_or(0, |s| s.last_seq),
            Err(e) if e.code() == tonic::Code::NotFound => 0,
            Err(e) => panic!("the Query API failed: {e:?}"),
        }
    }
}

/// Polls `probe` every 200 ms until it holds, for at most `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match probe().await {
            Ok(()) => return,
            Err(state) if tokio::time::Instant::now() > deadline => {
                panic!("timed out waiting for {what}; last state: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

pub struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    /// `eceprobe-agent run` aimed at the lab and a plaintext collector, probing every 5 s.
    pub fn start(
        lab: &Testlab,
        ca: &Path,
        collector: SocketAddr,
        spool: &Path,
        log: PathBuf,
    ) -> Agent {
        let link = [
            "--collector".to_string(),
            format!("http://{collector}"),
            "--plaintext".to_string(),
        ];
        Agent::start_with(lab, ca, &link, "svc-e2e", spool, log)
    }

    /// `eceprobe-agent run` as `agent_id` with these collector flags.
    pub fn start_with(
        lab: &Testlab,
        ca: &Path,
        link: &[String],
        agent_id: &str,
        spool: &Path,
        log: PathBuf,
    ) -> Agent {
        let mut args = lab.agent_check_args(ca);
        args[0] = "run".into();
        args.extend(link.iter().cloned());
        args.extend(
            [
                "--agent-id",
                agent_id,
                "--deployment",
                "prod",
                "--role",
                "services",
                "--interval",
                "5",
                "--log-level",
                "info",
                "--spool-dir",
            ]
            .map(String::from),
        );
        args.push(spool.display().to_string());
        let child = Command::new(env!("CARGO_BIN_EXE_eceprobe-agent"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Agent { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// As the service manager stops it: SIGTERM, then it must exit 0 on its own.
    pub async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the agent stops within 10 s of SIGTERM")
            .unwrap();
        let log = self.log();
        assert_eq!(exit.code(), Some(0), "{log}");
        log
    }

    /// Its exit code once it exited on its own, within `secs` (None: still running).
    pub async fn exited(&mut self, secs: u64) -> Option<i32> {
        match tokio::time::timeout(Duration::from_secs(secs), self.child.wait()).await {
            Ok(status) => status.unwrap().code(),
            Err(_) => None,
        }
    }

    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

pub fn contiguous(seqs: &[u64]) -> Result<(), String> {
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    match seqs == expected.as_slice() {
        true => Ok(()),
        false => Err(format!("stored seqs are not 1..=N once each: {seqs:?}")),
    }
}

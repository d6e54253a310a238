//! `eceprobe-agent run` end to end: the real agent binary probes testlab (Microsoft 365 on
//! loopback) and streams to a collector (in this process, on a real port and a real SQLite
//! file). What the administrator would check: the gap for the blocked endpoint appears, a
//! collector crash loses nothing and doubles nothing, a crashed agent's spool recovers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use eceprobe_collector::gaps::{Policy, Tracker};
use eceprobe_collector::ingest::IngestLimits;
use eceprobe_collector::server::Bound;
use eceprobe_collector::store::Store;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{CheckHistoryRequest, Gap, GapsRequest, ServerResultsRequest};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, Testlab};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

const CHECKS: [&str; 6] = [
    "login-https",
    "outlook-https",
    "imap",
    "pop3",
    "smtp",
    "ece-url",
];

/// A collector in this process; `crash` drops its listener and every stream at once.
struct Collector {
    addr: SocketAddr,
    store: Store,
    serving: JoinHandle<()>,
    evaluating: JoinHandle<()>,
}

impl Collector {
    async fn start(db: &Path, addr: SocketAddr) -> Collector {
        let store = Store::open(db).await.unwrap();
        let bound = Bound::bind(addr).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let tracker = Tracker::new(store.clone(), Policy::default());
        let evaluating = tokio::spawn(tracker.clone().run(Duration::from_secs(1)));
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
            store,
            serving,
            evaluating,
        }
    }

    async fn crash(self) {
        self.serving.abort();
        self.evaluating.abort();
        let _ = self.serving.await;
        self.store.close().await;
    }

    async fn query(&self) -> QueryClient<tonic::transport::Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        QueryClient::new(channel)
    }

    async fn gaps(&self) -> Vec<Gap> {
        self.query()
            .await
            .current_gaps(GapsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .gaps
    }

    /// Every seq stored for the agent, over all checks, sorted.
    async fn seqs(&self, agent: &str) -> Vec<u64> {
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

    async fn last_seq(&self, agent: &str) -> u64 {
        match self
            .query()
            .await
            .server_results(ServerResultsRequest {
                agent_id: agent.into(),
            })
            .await
        {
            Ok(r) => r.into_inner().server.map_or(0, |s| s.last_seq),
            Err(_) => 0,
        }
    }
}

/// Polls `probe` every 200 ms until it holds, for at most `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut probe: F)
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

struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    /// `eceprobe-agent run` aimed at the lab and the collector, probing every 5 s.
    fn start(lab: &Testlab, ca: &Path, collector: SocketAddr, spool: &Path, log: PathBuf) -> Agent {
        let mut args = lab.agent_check_args(ca);
        args[0] = "run".into();
        args.extend(
            [
                "--collector",
                &format!("http://{collector}"),
                "--plaintext",
                "--agent-id",
                "svc-e2e",
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

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// As the service manager stops it: SIGTERM, then it must exit 0 on its own.
    async fn stop(mut self) -> String {
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

    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

fn contiguous(seqs: &[u64]) -> Result<(), String> {
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    match seqs == expected.as_slice() {
        true => Ok(()),
        false => Err(format!("stored seqs are not 1..=N once each: {seqs:?}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_blocked_endpoint_is_the_only_gap_and_a_collector_crash_loses_nothing() {
    let lab = Testlab::start(LabConfig::healthy().fault(Endpoint::Imap, Fault::Refuse))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let db = dir.path().join("collector.db");
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap()).await;
    let addr = collector.addr;
    let agent = Agent::start(
        &lab,
        &ca,
        addr,
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );

    eventually(30, "the imap gap", || async {
        let gaps = collector.gaps().await;
        match gaps
            .iter()
            .any(|g| g.check == "imap" && g.kind == "failing")
        {
            true => Ok(()),
            false => Err(format!("{gaps:#?}")),
        }
    })
    .await;
    let gaps = collector.gaps().await;
    assert_eq!(
        gaps.len(),
        1,
        "only imap, which the lab refuses: {gaps:#?}\n{}",
        agent.log()
    );
    assert_eq!(
        (
            gaps[0].agent_id.as_str(),
            gaps[0].kind.as_str(),
            gaps[0].detail.as_str()
        ),
        ("svc-e2e", "failing", "tcp_refused")
    );

    // The collector crashes; the agent goes on probing into its spool meanwhile.
    let before = collector.last_seq("svc-e2e").await;
    collector.crash().await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let collector = Collector::start(&db, addr).await;
    // After the reconnect the agent sends what it spooled during the outage, and more.
    eventually(30, "the results spooled during the outage", || async {
        let last = collector.last_seq("svc-e2e").await;
        match last >= before + 2 * CHECKS.len() as u64 {
            true => Ok(()),
            false => Err(format!("last seq {last}, was {before} before the crash")),
        }
    })
    .await;
    let seqs = collector.seqs("svc-e2e").await;
    contiguous(&seqs).unwrap();
    let log = agent.stop().await;
    assert!(log.contains("collector link down"), "{log}");
    collector.crash().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_agent_with_a_torn_spool_recovers_and_numbers_on() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let spool = dir.path().join("spool");
    let db = dir.path().join("collector.db");
    // No collector yet: results pile up in the spool.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let agent = Agent::start(&lab, &ca, port, &spool, dir.path().join("agent-1.log"));
    eventually(20, "a spooled cycle", || async {
        let bytes: u64 = std::fs::read_dir(&spool)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        match bytes > 1000 {
            true => Ok(()),
            false => Err(format!("{bytes} bytes spooled")),
        }
    })
    .await;
    // A power cut in the middle of a write: SIGKILL, and a torn record at the tail.
    agent.kill().await;
    // Segments are named by their first seq: the greatest name is the newest.
    let newest = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("seg-") && name.ends_with(".log")
        })
        .max()
        .unwrap();
    let mut torn = std::fs::read(&newest).unwrap();
    torn.extend_from_slice(&[0x55; 7]);
    std::fs::write(&newest, torn).unwrap();

    let collector = Collector::start(&db, port).await;
    let agent = Agent::start(
        &lab,
        &ca,
        collector.addr,
        &spool,
        dir.path().join("agent-2.log"),
    );
    eventually(30, "the spooled and new results", || async {
        let last = collector.last_seq("svc-e2e").await;
        match last >= 2 * CHECKS.len() as u64 {
            true => Ok(()),
            false => Err(format!("last seq {last}")),
        }
    })
    .await;
    contiguous(&collector.seqs("svc-e2e").await).unwrap();
    let log = agent.stop().await;
    assert!(!log.contains("ERROR"), "{log}");
    assert!(
        log.contains("torn") || log.contains("cut"),
        "the repair is logged: {log}"
    );
    collector.crash().await;
    lab.shutdown().await;
}

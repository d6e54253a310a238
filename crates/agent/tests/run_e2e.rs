//! `eceprobe-agent run` end to end: the real agent binary probes testlab (Microsoft 365 on
//! loopback) and streams to a collector (in this process, on a real port and a real SQLite
//! file). What the administrator would check: the gap for the blocked endpoint appears, a
//! collector crash loses nothing and doubles nothing, a crashed agent's spool recovers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::time::Duration;

use e2e::{contiguous, eventually, Agent, Collector, CHECKS};
use eceprobe_testlab::{Endpoint, Fault, LabConfig, Testlab};

#[tokio::test(flavor = "multi_thread")]
async fn the_blocked_endpoint_is_the_only_gap_and_a_collector_crash_loses_nothing() {
    let lab = Testlab::start(LabConfig::healthy().fault(Endpoint::Imap, Fault::Refuse))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let db = dir.path().join("collector.db");
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), None).await;
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
    let collector = Collector::start(&db, addr, None).await;
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

    let collector = Collector::start(&db, port, None).await;
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

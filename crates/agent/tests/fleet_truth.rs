//! What the collector says stays true through what happens in a real year, with real
//! processes across network namespaces (the fleet of `fleet_netns.rs`: a services server,
//! an application server whose firewall rejects 993 and 995, testlab, the collector):
//!
//! 1. the collector is SIGKILLed and kept down for longer than a probe interval, then
//!    restarted on the same database: no stale gap opens for the agents that come back
//!    within their window, the real gaps are neither closed nor reopened and keep their
//!    "since";
//! 2. a connected agent is revoked: its stream ends within seconds, the agent stops saying
//!    to enroll again, nothing it sent after the revocation is stored; `retire` then takes
//!    the server out of the list;
//! 3. the other agent stops: its known failures stay open, as last known, beside its stale
//!    gaps.
//!
//! Needs root, iproute2, nftables or iptables and the three binaries; skips saying why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use eceprobe_proto::now_ms;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use netns_fleet::lab::*;
use netns_fleet::{preconditions, Binaries, Fleet};

/// Probe interval of both agents: the stale window is 3 of them (the default policy). The
/// window must hold what an agent honestly needs to come back after the collector's
/// outage: its reconnect wait in progress, which the agent caps at one probe interval
/// (`uplink.rs` `reconnect_cap`; uncapped, full jitter once reached 42 s after a 12 s
/// outage and failed this test).
const INTERVAL_S: u32 = 10;
const WINDOW: Duration = Duration::from_secs(3 * INTERVAL_S as u64);

/// Every gap in the history: (agent, check, kind) -> [(opened, closed or 0, reason)].
type History = BTreeMap<(String, String, String), Vec<(i64, i64, String)>>;

fn history(fleet: &Fleet, bins: &Binaries) -> History {
    let doc = query_json(
        fleet,
        bins,
        &["gaps", "--history", "--limit", "1000", "--json"],
    )
    .unwrap();
    let mut out = History::new();
    for g in doc.as_array().unwrap() {
        let s = |k: &str| g[k].as_str().unwrap_or_default().to_string();
        out.entry((s("agent_id"), s("check"), s("kind")))
            .or_default()
            .push((
                g["opened_unix_ms"].as_i64().unwrap(),
                g["closed_unix_ms"].as_i64().unwrap_or(0),
                s("close_reason"),
            ));
    }
    out
}

/// Polls `what` until it holds, or fails with the fleet's logs.
fn until(fleet: &mut Fleet, limit: Duration, what: &str, mut ok: impl FnMut(&mut Fleet) -> bool) {
    let deadline = Instant::now() + limit;
    while !ok(fleet) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn restarts_revocations_and_silence_leave_the_record_true() {
    let Some(firewall) = preconditions() else {
        return;
    };
    let Some(bins) = Binaries::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::new();
    start_fleet(&mut fleet, &bins, dir, firewall, INTERVAL_S);

    // Settled: both agents reported every check once, and app-1's two gaps are open.
    let settled = |fleet: &mut Fleet| {
        let all_reported = ["svc-1", "app-1"]
            .iter()
            .all(|a| latest_checks(fleet, &bins, a).is_ok_and(|c| c.len() == 7));
        all_reported
            && gap_lines(fleet, &bins).is_ok_and(|g| {
                g.contains("app-1 imap gap failing tcp_refused")
                    && g.contains("app-1 pop3 gap failing tcp_refused")
            })
    };
    until(
        &mut fleet,
        Duration::from_secs(60),
        "the fleet settled",
        settled,
    );
    let before = history(&fleet, &bins);
    let opened = |h: &History, check: &str| {
        h.get(&("app-1".into(), check.into(), "failing".into()))
            .cloned()
            .unwrap_or_default()
    };
    let imap_since = opened(&before, "imap");
    assert_eq!(imap_since.len(), 1, "{before:#?}");

    // 1. SIGKILL under load, down for longer than a probe interval, restart.
    let at_kill = last_seqs(&fleet, &bins).unwrap();
    fleet.kill("collector");
    std::thread::sleep(Duration::from_secs(u64::from(INTERVAL_S) + 2));
    start_collector(&mut fleet, &bins, dir, "collector-restarted");
    // Both agents come back and deliver (their backoff is well under the window)...
    let both_deliver = |fleet: &mut Fleet| {
        last_seqs(fleet, &bins).is_ok_and(|now| {
            now.len() == at_kill.len() && now.iter().zip(&at_kill).all(|((_, n), (_, was))| n > was)
        })
    };
    until(
        &mut fleet,
        WINDOW,
        "both agents delivering again",
        both_deliver,
    );
    // ...and once a whole window of the collector's awake time has passed, the history
    // holds no stale gap, and the real gaps are the same rows, still open, same "since".
    std::thread::sleep(WINDOW + Duration::from_secs(3));
    let after = history(&fleet, &bins);
    let stale: Vec<_> = after.keys().filter(|k| k.2 == "stale").collect();
    assert!(
        stale.is_empty(),
        "the restart made agents stale: {stale:?}\n{after:#?}\n{}",
        fleet.logs()
    );
    assert_eq!(
        opened(&after, "imap"),
        imap_since,
        "imap's gap was closed or reopened"
    );
    assert_eq!(opened(&after, "pop3"), opened(&before, "pop3"));
    assert_eq!(after.len(), before.len(), "{before:#?}\nthen\n{after:#?}");

    // 2. A connected server cannot be retired (it would be back at its next Hello)...
    let refused = query(&fleet, &bins, &["retire", "svc-1"]).unwrap_err();
    assert!(
        refused.contains("server 'svc-1' is connected now: revoke its agent first"),
        "{refused}"
    );
    assert!(!refused.contains("FailedPrecondition"), "{refused}");
    // ...so revoke the connected services server.
    let pki = dir.join("pki");
    let revoke = fleet.run(
        "col",
        &bins.collector,
        &["revoke", "svc-1", "--dir", pki.to_str().unwrap()],
    );
    let revoked_at = now_ms();
    assert!(revoke.status.success(), "{revoke:?}");
    let status = fleet
        .wait_exit("svc", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the revoked agent still runs 5 s later\n{}", fleet.logs()));
    assert_eq!(status.code(), Some(3), "{}", fleet.log_of("svc"));
    let agent_log = fleet.log_of("svc");
    assert!(
        agent_log.contains("its certificate is revoked; enroll the agent again"),
        "{agent_log}"
    );
    let collector_log = fleet.log_of("collector-restarted");
    assert!(
        collector_log.contains("the agent's certificate was revoked: ending its stream")
            || collector_log.contains("agent refused at hello"),
        "{collector_log}"
    );
    // Nothing started after the revocation is stored, then or later.
    let stored_after = |fleet: &Fleet| {
        let doc = query_json(fleet, &bins, &["show", "svc-1", "--json"]).unwrap();
        doc["latest"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["started_unix_ms"].as_i64().unwrap() > revoked_at)
            .count()
    };
    let seq = last_seq_of(&fleet, &bins, "svc-1");
    std::thread::sleep(Duration::from_secs(u64::from(INTERVAL_S) + 2));
    assert_eq!(stored_after(&fleet), 0);
    assert_eq!(last_seq_of(&fleet, &bins, "svc-1"), seq);
    // Retired: out of the list; the history stays.
    let retired = query(&fleet, &bins, &["retire", "svc-1"]).unwrap();
    assert!(retired.contains("server svc-1 retired"), "{retired}");
    let gone = query(&fleet, &bins, &["show", "svc-1"]).unwrap_err();
    assert!(gone.contains("server 'svc-1' was retired on "), "{gone}");
    let listed = last_seqs(&fleet, &bins).unwrap();
    assert_eq!(
        listed.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["app-1"]
    );

    // 3. The application server's agent stops: past its window, stale gaps open beside
    //    its known failures, which stay the same open gaps, marked as last known.
    fleet.kill("app");
    let stale_now = |fleet: &mut Fleet| {
        gap_lines(fleet, &bins)
            .is_ok_and(|g| g.iter().any(|l| l.starts_with("app-1 smtp gap stale")))
    };
    until(
        &mut fleet,
        WINDOW + Duration::from_secs(20),
        "app-1 stale",
        stale_now,
    );
    let lines = gap_lines(&fleet, &bins).unwrap();
    let imap = lines
        .iter()
        .find(|l| l.starts_with("app-1 imap gap failing tcp_refused"))
        .unwrap_or_else(|| panic!("the known failure was closed: {lines:#?}"));
    assert!(imap.contains("(last known; agent silent since "), "{imap}");
    assert!(
        lines.iter().any(|l| l.starts_with("app-1 imap gap stale")),
        "{lines:#?}"
    );
    let end = history(&fleet, &bins);
    assert_eq!(
        opened(&end, "imap"),
        imap_since,
        "imap's gap kept its since"
    );
    assert!(
        end.keys().all(|k| k.0 != "svc-1" || k.2 != "stale"),
        "the retired server went stale: {end:#?}"
    );
}

fn last_seq_of(fleet: &Fleet, bins: &Binaries, agent: &str) -> u64 {
    let doc = query_json(fleet, bins, &["show", agent, "--json"]).unwrap();
    doc["latest"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

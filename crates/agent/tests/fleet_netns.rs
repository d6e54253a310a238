//! A small fleet across network namespaces, as issue 4 stages it: the collector in one
//! namespace, a services server and an application server (each running the real
//! `eceprobe-agent run`) in two others, testlab (Microsoft 365 on its real ports) in a
//! fourth, all on one bridge in a fifth. The application server's firewall rejects 993 and
//! 995; the collector must report exactly those two gaps for that server and none for the
//! other.
//!
//! Needs root, `ip` (iproute2), `nft` (nftables) or `iptables`, and the collector and
//! testlab binaries beside the agent's; skips, saying why, without them. Nothing touches the
//! host's own namespace: every link lives in a namespace made here, and every namespace and
//! process is removed at the end, on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use netns_fleet::lab::*;
use netns_fleet::{preconditions, Binaries, Fleet};

/// How long the fleet gets to converge on the expected gaps once the agents start.
const CONVERGE: Duration = Duration::from_secs(45);

/// What the collector must report: exactly this, as "agent check severity kind detail".
const EXPECTED: [&str; 2] = [
    "app-1 imap gap failing tcp_refused",
    "app-1 pop3 gap failing tcp_refused",
];

/// The state the test waits for, or what is not there yet.
fn converged(fleet: &Fleet, bins: &Binaries) -> Result<(), String> {
    let all: BTreeSet<String> = [
        "login-https",
        "outlook-https",
        "imap",
        "pop3",
        "smtp",
        "ece-url",
        // Added by the declared ece_url (a warning without ece_version: never a gap).
        "ece-config",
    ]
    .map(String::from)
    .into();
    // Both agents have reported every check: no gap can still be hiding behind a check that
    // was not reported yet (a new agent's missing checks only count after a grace period).
    for agent in ["svc-1", "app-1"] {
        let checks = latest_checks(fleet, bins, agent)?;
        if checks != all {
            return Err(format!("{agent} reported only {checks:?}"));
        }
    }
    let gaps = gap_lines(fleet, bins)?;
    let expected: BTreeSet<String> = EXPECTED.map(String::from).into();
    match gaps == expected {
        true => Ok(()),
        false => Err(format!("gaps are {gaps:#?}")),
    }
}

fn wait_for(fleet: &mut Fleet, bins: &Binaries, deadline: Instant, what: &str) {
    loop {
        let state = match converged(fleet, bins) {
            Ok(()) => return,
            Err(state) => state,
        };
        if Instant::now() > deadline {
            let table = query(fleet, bins, &["gaps"]).unwrap_or_else(|e| e);
            let servers = query(fleet, bins, &["servers"]).unwrap_or_else(|e| e);
            panic!(
                "timed out waiting for {what}; last state: {state}\n\ngap table:\n{table}\n\
                 servers:\n{servers}\n{}",
                fleet.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_firewall_on_the_application_server_is_exactly_its_gaps() {
    let Some(firewall) = preconditions() else {
        return;
    };
    let Some(bins) = Binaries::find() else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::new();

    start_fleet(&mut fleet, &bins, dir, firewall, 5);

    let deadline = Instant::now() + CONVERGE;
    wait_for(
        &mut fleet,
        &bins,
        deadline,
        "exactly app-1's imap and pop3 gaps",
    );
    let exact_after = started.elapsed();

    // Not a passing state: after one more probe cycle from each agent (5 s apart, jittered
    // by 10 %), the gaps are the same.
    let seqs = last_seqs(&fleet, &bins).unwrap();
    let cycle_deadline = Instant::now() + Duration::from_secs(15);
    let next_cycle = |now: &[(String, u64)]| {
        now.len() == seqs.len()
            && now
                .iter()
                .zip(&seqs)
                .all(|((a, n), (b, before))| a == b && *n >= before + 6)
    };
    loop {
        let now = last_seqs(&fleet, &bins).unwrap();
        if next_cycle(&now) {
            break;
        }
        assert!(
            Instant::now() < cycle_deadline,
            "no second probe cycle: {seqs:?} then {now:?}\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_for(
        &mut fleet,
        &bins,
        Instant::now(),
        "the same gaps a cycle later",
    );

    // The servers list knows both, with their roles.
    let servers = query_json(&fleet, &bins, &["servers", "--json"]).unwrap();
    let mut known: Vec<String> = servers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s["agent_id"].as_str().unwrap(),
                s["role"].as_str().unwrap(),
                s["deployment"].as_str().unwrap()
            )
        })
        .collect();
    known.sort();
    assert_eq!(
        known,
        ["app-1 application prod", "svc-1 services prod"],
        "{servers:#}"
    );
    eprintln!(
        "fleet across namespaces: the gaps were exact after {:.1} s and still a probe cycle \
         later; {:.1} s in all",
        exact_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

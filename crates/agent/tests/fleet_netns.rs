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
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netns_fleet::{preconditions, run_ok, stdout_of, Binaries, Firewall, Fleet};

// The fleet's private subnet, 10.213.57.0/24. The namespaces are connected only to each
// other, so it cannot clash with the host's routes; it is just unusual, for readable logs.
const COLLECTOR_IP: &str = "10.213.57.10";
const SVC_IP: &str = "10.213.57.21";
const APP_IP: &str = "10.213.57.22";
/// The lab's addresses: one per host name, as Microsoft's endpoints have their own (login,
/// outlook's 443/993/995, smtp, and the ECE web server).
const LOGIN_IP: &str = "10.213.57.101";
const OUTLOOK_IP: &str = "10.213.57.102";
const SMTP_IP: &str = "10.213.57.103";
const ECE_IP: &str = "10.213.57.104";

/// How long the fleet gets to converge on the expected gaps once the agents start.
const CONVERGE: Duration = Duration::from_secs(45);

/// What the collector must report: exactly this, as "agent check severity kind detail".
const EXPECTED: [&str; 2] = [
    "app-1 imap gap failing tcp_refused",
    "app-1 pop3 gap failing tcp_refused",
];

/// The application server's firewall: outbound TCP to 993 and 995 rejected with a TCP
/// reset, so the probes fail at once as `tcp_refused`. (A DROP would give `tcp_timeout`,
/// but only after the agent's TCP timeout on every cycle: slower, same lesson.)
fn block_mail_ports(fleet: &Fleet, firewall: Firewall, dir: &Path) {
    let ns = fleet.ns("app");
    match firewall {
        Firewall::Nft => {
            let rules = dir.join("app-firewall.nft");
            std::fs::write(
                &rules,
                "table inet eceprobe_test {\n  chain output {\n    type filter hook output \
                 priority 0; policy accept;\n    tcp dport { 993, 995 } reject with tcp reset\n  \
                 }\n}\n",
            )
            .unwrap();
            run_ok(
                Command::new("ip")
                    .args(["netns", "exec", &ns, "nft", "-f"])
                    .arg(&rules),
            );
        }
        Firewall::Iptables => run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &ns,
            "iptables",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            "993,995",
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ])),
    }
}

/// Starts testlab in the lab namespace on the real ports, one IP per host name, and returns
/// the agent arguments it prints (`check --resolve ... --ca-file ... --ece-url ...`).
fn start_lab(fleet: &mut Fleet, testlab: &Path, dir: &Path) -> Vec<String> {
    let mut cmd = fleet.exec("lab", testlab);
    cmd.args(["serve", "--json", "--real-ports", "--dir"])
        .arg(dir.join("lab"));
    for (endpoint, ip) in [
        ("login", LOGIN_IP),
        ("outlook-https", OUTLOOK_IP),
        ("imap", OUTLOOK_IP),
        ("pop3", OUTLOOK_IP),
        ("smtp", SMTP_IP),
        ("ece-web", ECE_IP),
    ] {
        cmd.args(["--ip", &format!("{endpoint}={ip}")]);
    }
    let stdout = fleet
        .spawn("testlab", cmd, Stdio::piped(), dir.join("testlab.log"))
        .unwrap();
    // Read on a thread, so that a lab that never answers cannot hang the test.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Keep draining until the lab exits.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Some(Ok(line))) => line,
        other => panic!("testlab did not start: {other:?}\n{}", fleet.logs()),
    };
    let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
    let args: Vec<String> = doc["agent_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    // The lab serves where the overrides will send the agents: real names, real ports.
    for resolve in [
        format!("login.microsoftonline.com:443:{LOGIN_IP}:443"),
        format!("outlook.office365.com:993:{OUTLOOK_IP}:993"),
        format!("outlook.office365.com:995:{OUTLOOK_IP}:995"),
        format!("smtp.office365.com:587:{SMTP_IP}:587"),
    ] {
        assert!(args.contains(&resolve), "{resolve} not in {args:?}");
    }
    args
}

/// The collector in its namespace: agents over TLS on its fleet address, the Query API on
/// the namespace's loopback, gaps evaluated every second. Returns once the API answers.
fn start_collector(fleet: &mut Fleet, bins: &Binaries, dir: &Path) {
    let pki = dir.join("pki");
    let pki_s = pki.to_str().unwrap();
    let ca = Command::new(&bins.collector)
        .args(["ca", "init", "--dir", pki_s, "--name", COLLECTOR_IP])
        .output()
        .unwrap();
    stdout_of(&ca, "ca init").unwrap();
    for agent in ["svc-1", "app-1"] {
        let out = dir.join("bundles").join(agent);
        let enroll = Command::new(&bins.collector)
            .args([
                "enroll",
                agent,
                "--dir",
                pki_s,
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        stdout_of(&enroll, "enroll").unwrap();
    }
    let config = dir.join("collector.toml");
    std::fs::write(&config, "evaluate_every_s = 1\n").unwrap();
    let mut cmd = fleet.exec("col", &bins.collector);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--tls-dir", pki_s])
        .args(["--listen", &format!("{COLLECTOR_IP}:7443")])
        .args(["--query-listen", "127.0.0.1:7444"])
        .arg("--db")
        .arg(dir.join("c.db"));
    fleet.spawn("collector", cmd, Stdio::null(), dir.join("collector.log"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = query(fleet, bins, &["servers", "--json"]);
        match out {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => {
                panic!("the collector did not start: {e}\n{}", fleet.logs())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// An admin CLI command against the collector's Query API, inside its namespace.
fn query(fleet: &Fleet, bins: &Binaries, args: &[&str]) -> Result<String, String> {
    let mut all = args.to_vec();
    all.extend(["--collector", "http://127.0.0.1:7444"]);
    let out = fleet.run("col", &bins.collector, &all);
    stdout_of(&out, &format!("eceprobe-collector {}", args.join(" ")))
}

fn query_json(fleet: &Fleet, bins: &Binaries, args: &[&str]) -> Result<serde_json::Value, String> {
    let text = query(fleet, bins, args)?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// `eceprobe-agent run` in namespace `role`, aimed at the lab and the collector.
fn start_agent(
    fleet: &mut Fleet,
    bins: &Binaries,
    dir: &Path,
    lab_args: &[String],
    (role, agent_id, server_role): (&'static str, &str, &str),
) {
    let mut args = lab_args.to_vec();
    args[0] = "run".into();
    let bundle = dir.join("bundles").join(agent_id);
    let spool = dir.join(format!("spool-{agent_id}"));
    let mut cmd = fleet.exec(role, &bins.agent);
    cmd.args(&args)
        .args(["--collector", &format!("https://{COLLECTOR_IP}:7443")])
        .arg("--tls-dir")
        .arg(&bundle)
        .args(["--agent-id", agent_id, "--role", server_role])
        .args([
            "--deployment",
            "prod",
            "--interval",
            "5",
            "--log-level",
            "info",
        ])
        .arg("--spool-dir")
        .arg(&spool);
    let log = dir.join(format!("agent-{agent_id}.log"));
    fleet.spawn(role, cmd, Stdio::null(), log);
}

/// The checks of an agent's latest results.
fn latest_checks(fleet: &Fleet, bins: &Binaries, agent: &str) -> Result<BTreeSet<String>, String> {
    let doc = query_json(fleet, bins, &["show", agent, "--json"])?;
    Ok(doc["latest"]
        .as_array()
        .ok_or_else(|| format!("no latest results: {doc}"))?
        .iter()
        .filter_map(|r| r["check"].as_str().map(String::from))
        .collect())
}

/// The current gaps and warnings, one "agent check severity kind detail" line each.
fn gap_lines(fleet: &Fleet, bins: &Binaries) -> Result<BTreeSet<String>, String> {
    let doc = query_json(fleet, bins, &["gaps", "--json"])?;
    Ok(doc
        .as_array()
        .ok_or_else(|| format!("not a list: {doc}"))?
        .iter()
        .map(|g| {
            ["agent_id", "check", "severity", "kind", "detail"]
                .map(|k| g[k].as_str().unwrap_or("?"))
                .join(" ")
        })
        .collect())
}

/// The highest seq the collector stored for each agent.
fn last_seqs(fleet: &Fleet, bins: &Binaries) -> Result<Vec<(String, u64)>, String> {
    let doc = query_json(fleet, bins, &["servers", "--json"])?;
    let mut out: Vec<(String, u64)> = doc
        .as_array()
        .ok_or_else(|| format!("not a list: {doc}"))?
        .iter()
        .map(|s| {
            let id = s["agent_id"].as_str().unwrap_or("?").to_string();
            (id, s["last_seq"].as_u64().unwrap_or(0))
        })
        .collect();
    out.sort();
    Ok(out)
}

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

    fleet.add_switch();
    fleet.plug("col", &[COLLECTOR_IP]);
    fleet.plug("svc", &[SVC_IP]);
    fleet.plug("app", &[APP_IP]);
    fleet.plug("lab", &[LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP]);
    block_mail_ports(&fleet, firewall, dir);

    let lab_args = start_lab(&mut fleet, &bins.testlab, dir);
    start_collector(&mut fleet, &bins, dir);
    start_agent(
        &mut fleet,
        &bins,
        dir,
        &lab_args,
        ("svc", "svc-1", "services"),
    );
    start_agent(
        &mut fleet,
        &bins,
        dir,
        &lab_args,
        ("app", "app-1", "application"),
    );

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

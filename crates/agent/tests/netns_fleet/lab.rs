//! The fleet's parts, shared by the namespace fleet tests: the lab on Microsoft's real
//! ports, the collector and its CA, agents, and the admin CLI queries the tests read.
// Each test binary uses some of these.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{run_ok, stdout_of, Binaries, Firewall, Fleet};

// The fleet's private subnet, 10.213.57.0/24. The namespaces are connected only to each
// other, so it cannot clash with the host's routes; it is just unusual, for readable logs.
pub const COLLECTOR_IP: &str = "10.213.57.10";
pub const SVC_IP: &str = "10.213.57.21";
pub const APP_IP: &str = "10.213.57.22";
/// The lab's addresses: one per host name, as Microsoft's endpoints have their own (login,
/// outlook's 443/993/995, smtp, and the ECE web server).
pub const LOGIN_IP: &str = "10.213.57.101";
pub const OUTLOOK_IP: &str = "10.213.57.102";
pub const SMTP_IP: &str = "10.213.57.103";
pub const ECE_IP: &str = "10.213.57.104";

/// Starts testlab in the lab namespace on the real ports, one IP per host name, and returns
/// the agent arguments it prints (`check --resolve ... --ca-file ... --ece-url ...`).
pub fn start_lab(fleet: &mut Fleet, testlab: &Path, dir: &Path) -> Vec<String> {
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

/// The collector's CA, and a bundle for each agent (under `dir/bundles/AGENT`).
pub fn init_pki(bins: &Binaries, dir: &Path, agents: &[&str]) {
    let pki = dir.join("pki");
    let pki_s = pki.to_str().unwrap();
    let ca = Command::new(&bins.collector)
        .args(["ca", "init", "--dir", pki_s, "--name", COLLECTOR_IP])
        .output()
        .unwrap();
    stdout_of(&ca, "ca init").unwrap();
    for agent in agents {
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
}

/// The collector in its namespace (`what` names the process, so a restarted one is told
/// apart): agents over TLS on its fleet address, the Query API on the namespace's
/// loopback, gaps evaluated every second, its database `dir/c.db`. Returns once the API
/// answers.
pub fn start_collector(fleet: &mut Fleet, bins: &Binaries, dir: &Path, what: &'static str) {
    start_collector_with(fleet, bins, dir, what, "");
}

/// [`start_collector`] with more of the collector's configuration (TOML sections).
pub fn start_collector_with(
    fleet: &mut Fleet,
    bins: &Binaries,
    dir: &Path,
    what: &'static str,
    more_config: &str,
) {
    let pki = dir.join("pki");
    let config = dir.join("collector.toml");
    std::fs::write(&config, format!("evaluate_every_s = 1\n{more_config}")).unwrap();
    let mut cmd = fleet.exec("col", &bins.collector);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--tls-dir")
        .arg(&pki)
        .args(["--listen", &format!("{COLLECTOR_IP}:7443")])
        .args(["--query-listen", "127.0.0.1:7444"])
        .arg("--db")
        .arg(dir.join("c.db"));
    fleet.spawn(what, cmd, Stdio::null(), dir.join(format!("{what}.log")));
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
pub fn query(fleet: &Fleet, bins: &Binaries, args: &[&str]) -> Result<String, String> {
    let mut all = args.to_vec();
    all.extend(["--collector", "http://127.0.0.1:7444"]);
    let out = fleet.run("col", &bins.collector, &all);
    stdout_of(&out, &format!("eceprobe-collector {}", args.join(" ")))
}

pub fn query_json(
    fleet: &Fleet,
    bins: &Binaries,
    args: &[&str],
) -> Result<serde_json::Value, String> {
    let text = query(fleet, bins, args)?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// `eceprobe-agent run` in namespace `role`, aimed at the lab and the collector.
pub fn start_agent(
    fleet: &mut Fleet,
    bins: &Binaries,
    dir: &Path,
    lab_args: &[String],
    (role, agent_id, server_role): (&'static str, &str, &str),
    interval_s: u32,
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
            &interval_s.to_string(),
            "--log-level",
            "info",
        ])
        .arg("--spool-dir")
        .arg(&spool);
    let log = dir.join(format!("agent-{agent_id}.log"));
    fleet.spawn(role, cmd, Stdio::null(), log);
}

/// The checks of an agent's latest results.
pub fn latest_checks(
    fleet: &Fleet,
    bins: &Binaries,
    agent: &str,
) -> Result<BTreeSet<String>, String> {
    let doc = query_json(fleet, bins, &["show", agent, "--json"])?;
    Ok(doc["latest"]
        .as_array()
        .ok_or_else(|| format!("no latest results: {doc}"))?
        .iter()
        .filter_map(|r| r["check"].as_str().map(String::from))
        .collect())
}

/// The current gaps and warnings, one "agent check severity kind detail" line each.
pub fn gap_lines(fleet: &Fleet, bins: &Binaries) -> Result<BTreeSet<String>, String> {
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
pub fn last_seqs(fleet: &Fleet, bins: &Binaries) -> Result<Vec<(String, u64)>, String> {
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

/// The application server's firewall: outbound TCP to 993 and 995 rejected with a TCP
/// reset, so the probes fail at once as `tcp_refused`. (A DROP would give `tcp_timeout`,
/// but only after the agent's TCP timeout on every cycle: slower, same lesson.)
pub fn block_mail_ports(fleet: &Fleet, firewall: Firewall, dir: &Path) {
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

/// The whole fleet up: the switch and the four hosts, the application server's firewall
/// rejecting 993 and 995, the lab, the collector (with a CA and both agents enrolled) and
/// the two agents (`svc-1` services, `app-1` application) probing every `interval_s`.
pub fn start_fleet(
    fleet: &mut Fleet,
    bins: &Binaries,
    dir: &Path,
    firewall: Firewall,
    interval_s: u32,
) {
    fleet.add_switch();
    fleet.plug("col", &[COLLECTOR_IP]);
    fleet.plug("svc", &[SVC_IP]);
    fleet.plug("app", &[APP_IP]);
    fleet.plug("lab", &[LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP]);
    block_mail_ports(fleet, firewall, dir);
    let lab_args = start_lab(fleet, &bins.testlab, dir);
    init_pki(bins, dir, &["svc-1", "app-1"]);
    start_collector(fleet, bins, dir, "collector");
    let svc = ("svc", "svc-1", "services");
    start_agent(fleet, bins, dir, &lab_args, svc, interval_s);
    let app = ("app", "app-1", "application");
    start_agent(fleet, bins, dir, &lab_args, app, interval_s);
}

//! A lossy path and a slow resolver over real sockets, as issue 13 (items 2 and 5) stages
//! them, each read from `eceprobe-agent check --json` as the administrator would:
//!
//! - loss: a client namespace, a router namespace and testlab (Microsoft 365 on its real
//!   ports) in a server namespace. The router drops 30 % of the packets towards port 993 at
//!   random (nftables `numgen random`, or iptables `statistic`); the IMAP check says
//!   `packet_loss` with the count, while POP3 on 995, same host, same path, says nothing.
//! - DNS: one namespace whose resolv.conf names a dead first name server (UDP 53 to it is
//!   dropped) and then testlab's DNS stub; `timeout:1 attempts:1` keep it to a second. The
//!   IMAP check resolves through the OS, passes, and warns `dns_slow` with the figure and
//!   the resolvers, both address families slow; with the dead server gone, nothing is
//!   said. A second namespace's name server answers A at once and drops AAAA: `dns_slow`
//!   names IPv6 (AAAA) as the slow family.
//!
//! Needs root, `ip` (iproute2), `nft` or `iptables`, and the testlab binary beside the
//! agent's; skips, saying why, without them. Namespaces are named `sl<pid>-*` and
//! `sld<pid>-*`, `sla<pid>-*`; every namespace, process and /etc/netns file is removed at the end, on
//! failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use netns_fleet::lab::{start_lab, ECE_IP, LOGIN_IP, OUTLOOK_IP, SMTP_IP};
use netns_fleet::path::{check_of, testlab_binary};
use netns_fleet::{preconditions, run_ok, Firewall, Fleet};

const CLIENT_IP: &str = "10.213.58.2";
const ROUTER_CLIENT_SIDE: &str = "10.213.58.1";
const ROUTER_LAB_SIDE: &str = "10.213.57.1";

/// Runs `program args` inside the namespace; it must succeed.
fn in_ns(ns: &str, program: &str, args: &[&str]) {
    run_ok(
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args),
    );
}

/// client -- router -- lab, the router forwarding.
fn build_path(fleet: &mut Fleet) {
    for role in ["rt", "cli", "lab"] {
        fleet.add_namespace(role);
    }
    for (router_end, role) in [("c0", "cli"), ("s0", "lab")] {
        let target = fleet.ns(role);
        fleet.ip(
            "rt",
            &[
                "link", "add", router_end, "type", "veth", "peer", "name", "eth0", "netns", &target,
            ],
        );
    }
    let cidr = |ip: &str| format!("{ip}/24");
    fleet.ip(
        "rt",
        &["addr", "add", &cidr(ROUTER_CLIENT_SIDE), "dev", "c0"],
    );
    fleet.ip("rt", &["addr", "add", &cidr(ROUTER_LAB_SIDE), "dev", "s0"]);
    fleet.ip("cli", &["addr", "add", &cidr(CLIENT_IP), "dev", "eth0"]);
    for ip in [LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP] {
        fleet.ip("lab", &["addr", "add", &cidr(ip), "dev", "eth0"]);
    }
    for (role, dev) in [("rt", "c0"), ("rt", "s0"), ("cli", "eth0"), ("lab", "eth0")] {
        fleet.ip(role, &["link", "set", dev, "up"]);
    }
    fleet.ip(
        "cli",
        &["route", "add", "default", "via", ROUTER_CLIENT_SIDE],
    );
    fleet.ip("lab", &["route", "add", "default", "via", ROUTER_LAB_SIDE]);
    in_ns(&fleet.ns("rt"), "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
}

/// The router drops 30 % of the forwarded packets to TCP 993, at random: the client's
/// segments are lost and its kernel retransmits them. Nothing else is touched.
fn lossy_router(fleet: &Fleet, firewall: Firewall, dir: &Path) {
    let ns = fleet.ns("rt");
    match firewall {
        Firewall::Nft => {
            let rules = dir.join("router.nft");
            std::fs::write(
                &rules,
                "table inet sl_loss {\n\
                 \x20 chain forward {\n\
                 \x20   type filter hook forward priority 0; policy accept;\n\
                 \x20   tcp dport 993 numgen random mod 100 < 30 drop\n\
                 \x20 }\n\
                 }\n",
            )
            .unwrap();
            in_ns(&ns, "nft", &["-f", rules.to_str().unwrap()]);
        }
        Firewall::Iptables => in_ns(
            &ns,
            "iptables",
            &[
                "-A",
                "FORWARD",
                "-p",
                "tcp",
                "--dport",
                "993",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                "0.3",
                "-j",
                "DROP",
            ],
        ),
    }
}

/// `eceprobe-agent check --json` in namespace `role`.
fn check(
    fleet: &mut Fleet,
    role: &str,
    args: &[String],
    config: &Path,
    checks: &[&str],
) -> serde_json::Value {
    let mut cmd = fleet.exec(role, Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")));
    cmd.args(args).arg("--config").arg(config);
    for c in checks {
        cmd.args(["--only", c]);
    }
    let out = cmd.arg("--json").output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            fleet.logs()
        )
    })
}

/// The warning of this kind on a check, if any.
fn warning<'a>(c: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    c["warnings"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["kind"] == kind))
}

#[test]
fn random_loss_on_993_is_packet_loss_and_995_on_the_same_path_is_clean() {
    let Some(firewall) = preconditions() else {
        return;
    };
    let Some(testlab) = testlab_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::named("sl");
    build_path(&mut fleet);
    lossy_router(&fleet, firewall, dir);
    let lab_args = start_lab(&mut fleet, &testlab, dir);
    // Long enough timeouts that the lost packets cost time, not the check: a SYN lost
    // four times in a row still connects (retries at 1, 3, 7 and 15 s).
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        "[timeouts]\ntcp_ms = 20000\ntls_ms = 20000\nprotocol_ms = 30000\n",
    )
    .unwrap();

    // Random loss: a round may lose fewer than the threshold's two of IMAP's ten or so
    // segments. Rounds go on until IMAP has said it (a round does in about 2 of 5, measured
    // over 15 rounds, so 30 rounds all miss with probability 0.6^30, about 2e-7), and at
    // least three, so POP3 is watched as long.
    let mut flagged = None;
    let mut rounds = 0;
    while rounds < 30 && (flagged.is_none() || rounds < 3) {
        rounds += 1;
        let doc = check(&mut fleet, "cli", &lab_args, &config, &["imap", "pop3"]);
        let pop3 = check_of(&doc, "pop3");
        assert_eq!(pop3["outcome"], "pass", "round {rounds}: {pop3:#}");
        assert!(
            pop3["attempts"][0]["tcp_info"]["segments_out"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "{pop3:#}"
        );
        let imap = check_of(&doc, "imap");
        let lost = imap["attempts"][0]["tcp_info"]["retransmits"].as_u64();
        eprintln!(
            "round {rounds}: imap {} ({lost:?} retransmits)",
            imap["outcome"]
        );
        if let Some(w) = warning(imap, "packet_loss") {
            flagged.get_or_insert_with(|| (imap.clone(), w.clone()));
        }
    }
    let (imap, w) = flagged.unwrap_or_else(|| {
        panic!(
            "{rounds} rounds with 30 % loss on 993 and no packet_loss\n{}",
            fleet.logs()
        )
    });
    // A warning: the check still works.
    assert_eq!(imap["outcome"], "warn", "{imap:#}");
    let detail = w["detail"].as_str().unwrap();
    let n = imap["attempts"][0]["tcp_info"]["retransmits"]
        .as_u64()
        .unwrap();
    assert!(n >= 2, "{imap:#}");
    assert!(
        detail.starts_with(&format!(
            "the connection to {OUTLOOK_IP}:993 retransmitted "
        )) && detail.contains(" segments during the check (round trip ")
            && detail.ends_with("packets are lost on the path"),
        "{detail}"
    );
    assert!(
        w["hint"].as_str().unwrap().contains("are being lost"),
        "{w:#}"
    );
    eprintln!("imap: {detail}");
}

/// A namespace for the DNS test: its resolv.conf (bind-mounted over /etc/resolv.conf by
/// `ip netns exec`), and the DNS stub, which serves until its stdin closes.
struct Resolvers {
    etc: PathBuf,
    stub: Option<Child>,
}

impl Resolvers {
    fn write(&self, conf: &str) {
        std::fs::write(self.etc.join("resolv.conf"), conf).unwrap();
    }
}

impl Drop for Resolvers {
    fn drop(&mut self) {
        if let Some(mut stub) = self.stub.take() {
            drop(stub.stdin.take());
            let _ = stub.kill();
            let _ = stub.wait();
        }
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

/// The dead name server: UDP 53 to it is dropped on arrival (not refused, which the resolver
/// would skip at once; not in OUTPUT, where the send itself would fail).
fn dead_resolver(ns: &str, firewall: Firewall, dir: &Path, dead: &str) {
    match firewall {
        Firewall::Nft => {
            let rules = dir.join("dns.nft");
            std::fs::write(
                &rules,
                format!(
                    "table ip sl_dns {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    ip daddr {dead} udp dport 53 drop\n  }}\n}}\n"
                ),
            )
            .unwrap();
            in_ns(ns, "nft", &["-f", rules.to_str().unwrap()]);
        }
        Firewall::Iptables => in_ns(
            ns,
            "iptables",
            &[
                "-A", "INPUT", "-d", dead, "-p", "udp", "--dport", "53", "-j", "DROP",
            ],
        ),
    }
}

#[test]
fn a_dead_first_resolver_is_dns_slow_naming_the_resolvers() {
    let Some(firewall) = preconditions() else {
        return;
    };
    let Some(testlab) = testlab_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::named("sld");
    // One host: the lab's addresses on its loopback, the agent beside them.
    fleet.add_namespace("lab");
    for ip in [LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP] {
        fleet.ip("lab", &["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
    }
    let ns = fleet.ns("lab");
    let resolvers = Resolvers {
        etc: Path::new("/etc/netns").join(&ns),
        stub: None,
    };
    std::fs::create_dir_all(&resolvers.etc).unwrap();
    let dead = "127.0.0.3";
    let good = "127.0.0.2";
    resolvers.write(&format!(
        "nameserver {dead}\nnameserver {good}\noptions timeout:1 attempts:1\n"
    ));
    let mut resolvers = resolvers;
    dead_resolver(&ns, firewall, dir, dead);
    let mut stub = fleet
        .exec("lab", &testlab)
        .args(["dns-stub", "--listen", &format!("{good}:53")])
        .args(["--rule", &format!("outlook.office365.com={OUTLOOK_IP}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(stub.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "dns stub said {line:?}");
    resolvers.stub = Some(stub);

    // The lab as usual, but IMAP's name goes through the OS resolver: no --resolve for it.
    let all = start_lab(&mut fleet, &testlab, dir);
    let mut args = Vec::new();
    let mut it = all.iter();
    while let Some(a) = it.next() {
        if a == "--resolve" {
            let spec = it.next().unwrap();
            if !spec.starts_with("outlook.office365.com:993:") {
                args.extend([a.clone(), spec.clone()]);
            }
        } else {
            args.push(a.clone());
        }
    }
    let config = dir.join("agent.toml");
    std::fs::write(&config, "[slow]\ndns_ms = 500\n").unwrap();

    let doc = check(&mut fleet, "lab", &args, &config, &["imap"]);
    let imap = check_of(&doc, "imap");
    assert_eq!(imap["outcome"], "warn", "{imap:#}");
    assert_eq!(imap["dns"]["source"], "system", "{imap:#}");
    assert_eq!(
        imap["dns"]["addresses"][0],
        format!("{OUTLOOK_IP}:993"),
        "{imap:#}"
    );
    let w = warning(imap, "dns_slow").unwrap_or_else(|| panic!("no dns_slow: {imap:#}"));
    assert_eq!(w["stage"], "dns", "{w:#}");
    let detail = w["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("resolving outlook.office365.com took 1")
            && detail.contains("; its budget is 500 ms; ")
            && detail.ends_with(&format!(
                "this host asks {dead} first, then {good} (/etc/resolv.conf)"
            )),
        "{detail}"
    );
    assert!(
        detail.contains(": both families are slow: the resolver itself is slow"),
        "{detail}"
    );
    let families = imap["dns"]["families"].as_array().unwrap();
    assert_eq!(families.len(), 2, "{imap:#}");
    assert!(
        w["hint"].as_str().unwrap().contains("first name server"),
        "{w:#}"
    );
    eprintln!("imap: {detail}");

    // The dead server removed: the same lookup is fast and nothing is said, run after run.
    resolvers.write(&format!(
        "nameserver {good}\noptions timeout:1 attempts:1\n"
    ));
    let mut slowest = 0;
    for round in 0..10 {
        let doc = check(&mut fleet, "lab", &args, &config, &["imap"]);
        let imap = check_of(&doc, "imap");
        assert_eq!(imap["outcome"], "pass", "round {round}: {imap:#}");
        assert!(imap["dns"].get("families").is_none(), "{imap:#}");
        slowest = slowest.max(imap["dns"]["duration_us"].as_u64().unwrap());
    }
    eprintln!("healthy resolver: slowest lookup of 10 took {slowest} us");
}

/// A name server that answers A at once and drops AAAA queries: every lookup of both waits
/// for the resolver's timeout (1 s here). The check says `dns_slow` naming IPv6 (AAAA) as the
/// slow family, IPv4 (A) fast, in `--json` and in the table.
#[test]
fn a_resolver_dropping_aaaa_is_dns_slow_naming_ipv6() {
    let Some(_firewall) = preconditions() else {
        return;
    };
    let Some(testlab) = testlab_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::named("sla");
    fleet.add_namespace("lab");
    for ip in [LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP] {
        fleet.ip("lab", &["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
    }
    let ns = fleet.ns("lab");
    let resolvers = Resolvers {
        etc: Path::new("/etc/netns").join(&ns),
        stub: None,
    };
    std::fs::create_dir_all(&resolvers.etc).unwrap();
    let server = "127.0.0.2";
    resolvers.write(&format!(
        "nameserver {server}\noptions timeout:1 attempts:1\n"
    ));
    let mut resolvers = resolvers;
    let mut stub = fleet
        .exec("lab", &testlab)
        .args(["dns-stub", "--listen", &format!("{server}:53")])
        .args([
            "--rule",
            &format!("outlook.office365.com={OUTLOOK_IP},silent-aaaa"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(stub.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "dns stub said {line:?}");
    resolvers.stub = Some(stub);

    let all = start_lab(&mut fleet, &testlab, dir);
    let mut args = Vec::new();
    let mut it = all.iter();
    while let Some(a) = it.next() {
        if a == "--resolve" {
            let spec = it.next().unwrap();
            if !spec.starts_with("outlook.office365.com:993:") {
                args.extend([a.clone(), spec.clone()]);
            }
        } else {
            args.push(a.clone());
        }
    }
    let config = dir.join("agent.toml");
    std::fs::write(&config, "[slow]\ndns_ms = 500\n").unwrap();

    let doc = check(&mut fleet, "lab", &args, &config, &["imap"]);
    let imap = check_of(&doc, "imap");
    assert_eq!(imap["outcome"], "warn", "{imap:#}");
    assert_eq!(
        imap["dns"]["addresses"][0],
        format!("{OUTLOOK_IP}:993"),
        "{imap:#}"
    );
    let families = imap["dns"]["families"].as_array().unwrap();
    let family = |name: &str| {
        families
            .iter()
            .find(|f| f["family"] == name)
            .unwrap_or_else(|| panic!("no {name}: {imap:#}"))
    };
    let (v4, v6) = (family("ipv4"), family("ipv6"));
    assert_eq!(v4["addresses"], 1, "{imap:#}");
    assert!(v4.get("error").is_none(), "{imap:#}");
    assert_eq!(v6["addresses"], 0, "{imap:#}");
    // The fault's gap: A answers at once, AAAA waits for the 1 s resolver timeout.
    assert!(
        v4["duration_us"].as_u64().unwrap() < 500_000,
        "IPv4 should be fast: {imap:#}"
    );
    assert!(
        v6["duration_us"].as_u64().unwrap() >= 500_000,
        "IPv6 should be slow: {imap:#}"
    );
    let w = warning(imap, "dns_slow").unwrap_or_else(|| panic!("no dns_slow: {imap:#}"));
    let detail = w["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("resolving outlook.office365.com took ")
            && detail.contains("; its budget is 500 ms; by family: IPv4 (A) ")
            && detail.contains(", IPv6 (AAAA) ")
            && detail.contains(": the resolver is slow to answer AAAA queries (or drops them); this host asks 127.0.0.2 (/etc/resolv.conf)"),
        "{detail}"
    );
    assert!(
        w["hint"]
            .as_str()
            .unwrap()
            .contains("drops or delays AAAA queries"),
        "{w:#}"
    );
    eprintln!("imap: {detail}");

    // The table says the same.
    let out = fleet
        .exec("lab", Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")))
        .args(&args)
        .arg("--config")
        .arg(&config)
        .args(["--only", "imap"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("the resolver is slow to answer AAAA queries (or drops them)")
            && table.contains("IPv6 (AAAA)"),
        "{table}"
    );
}

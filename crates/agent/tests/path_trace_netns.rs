//! The path trace over a real routed path (issue 13, item 1): `eceprobe-agent check` in a
//! client namespace, two routers (ip_forward on, ICMP not rate-limited) and testlab
//! (Microsoft 365 on its real ports) behind them:
//!
//! ```text
//! cli 10.214.1.2 -- 10.214.1.1 r1 10.214.2.1 -- 10.214.2.2 r2 10.213.57.1 -- lab 10.213.57.x
//! ```
//!
//! r1 rejects forwarded SYNs to 993 with ICMP administratively prohibited; r2 drops those
//! to 995. The IMAP check must name r1 (10.214.1.1) as the device that filters 993, the
//! POP3 check r2 (10.214.2.2) as the last that answered before the silence, in `--json`
//! (the finding's detail and device, the attempt's path) and in the table; SMTP passes and
//! shows no trace; `--no-trace` turns it off. It prints what a trace cost (time, SYNs
//! counted by the router, and the agent's peak RSS with and without traces) for
//! docs/BENCHMARKS.md.
//!
//! Needs root, `ip` (iproute2), `nft` (nftables) or `iptables`, and the testlab binary
//! beside the agent's; skips, saying why, without them. Nothing touches the host's own
//! namespace; every namespace and process is removed at the end, on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use std::path::Path;
use std::process::Command;

use netns_fleet::lab::{start_lab, ECE_IP, LOGIN_IP, OUTLOOK_IP, SMTP_IP};
use netns_fleet::path::{check_of, testlab_binary};
use netns_fleet::{preconditions, run_ok, Firewall, Fleet};

const CLIENT_IP: &str = "10.214.1.2";
const R1_CLIENT_SIDE: &str = "10.214.1.1";
const R1_R2_SIDE: &str = "10.214.2.1";
const R2_R1_SIDE: &str = "10.214.2.2";
const R2_LAB_SIDE: &str = "10.213.57.1";

fn sysctl(fleet: &Fleet, role: &str, settings: &[&str]) {
    let ns = fleet.ns(role);
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, "sysctl", "-qw"])
        .args(settings);
    run_ok(&mut cmd);
}

/// A veth pair made inside `inside`'s namespace: `end` stays there, the far end becomes
/// `eth0` of namespace `role`.
fn link(fleet: &Fleet, inside: &str, end: &str, role: &str) {
    let target = fleet.ns(role);
    fleet.ip(
        inside,
        &[
            "link", "add", end, "type", "veth", "peer", "name", "eth0", "netns", &target,
        ],
    );
}

fn build_path(fleet: &mut Fleet) {
    for role in ["r1", "r2", "cli", "lab"] {
        fleet.add_namespace(role);
    }
    link(fleet, "r1", "c0", "cli");
    link(fleet, "r1", "n0", "r2");
    link(fleet, "r2", "s0", "lab");
    let cidr = |ip: &str| format!("{ip}/24");
    fleet.ip("cli", &["addr", "add", &cidr(CLIENT_IP), "dev", "eth0"]);
    fleet.ip("r1", &["addr", "add", &cidr(R1_CLIENT_SIDE), "dev", "c0"]);
    fleet.ip("r1", &["addr", "add", &cidr(R1_R2_SIDE), "dev", "n0"]);
    fleet.ip("r2", &["addr", "add", &cidr(R2_R1_SIDE), "dev", "eth0"]);
    fleet.ip("r2", &["addr", "add", &cidr(R2_LAB_SIDE), "dev", "s0"]);
    for ip in [LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP] {
        fleet.ip("lab", &["addr", "add", &cidr(ip), "dev", "eth0"]);
    }
    for (role, dev) in [
        ("cli", "eth0"),
        ("r1", "c0"),
        ("r1", "n0"),
        ("r2", "eth0"),
        ("r2", "s0"),
        ("lab", "eth0"),
    ] {
        fleet.ip(role, &["link", "set", dev, "up"]);
    }
    fleet.ip("cli", &["route", "add", "default", "via", R1_CLIENT_SIDE]);
    fleet.ip("r1", &["route", "add", "default", "via", R2_R1_SIDE]);
    fleet.ip("r2", &["route", "add", "10.214.1.0/24", "via", R1_R2_SIDE]);
    fleet.ip("lab", &["route", "add", "default", "via", R2_LAB_SIDE]);
    // Routers' ICMP is rate-limited per destination by default: a trace's bursts would
    // lose answers to it.
    for r in ["r1", "r2"] {
        sysctl(
            fleet,
            r,
            &["net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0"],
        );
    }
}

/// r1 rejects forwarded SYNs to 993 with ICMP administratively prohibited and counts the
/// SYNs from the client to 993 and 995 (nft only); r2 drops forwarded packets to 995.
fn firewalls(fleet: &Fleet, firewall: Firewall, dir: &Path) {
    match firewall {
        Firewall::Nft => {
            let r1 = "table inet eceprobe_trace {\n\
                 \x20 counter syn993 { }\n\
                 \x20 counter syn995 { }\n\
                 \x20 chain pre {\n\
                 \x20   type filter hook prerouting priority -10; policy accept;\n\
                 \x20   tcp dport 993 tcp flags & (syn | ack) == syn counter name syn993\n\
                 \x20   tcp dport 995 tcp flags & (syn | ack) == syn counter name syn995\n\
                 \x20 }\n\
                 \x20 chain forward {\n\
                 \x20   type filter hook forward priority 0; policy accept;\n\
                 \x20   tcp dport 993 reject with icmp type admin-prohibited\n\
                 \x20 }\n\
                 }\n";
            let r2 = "table inet eceprobe_trace {\n\
                 \x20 chain forward {\n\
                 \x20   type filter hook forward priority 0; policy accept;\n\
                 \x20   tcp dport 995 drop\n\
                 \x20 }\n\
                 }\n";
            for (role, rules) in [("r1", r1), ("r2", r2)] {
                let file = dir.join(format!("{role}.nft"));
                std::fs::write(&file, rules).unwrap();
                let ns = fleet.ns(role);
                run_ok(
                    Command::new("ip")
                        .args(["netns", "exec", &ns, "nft", "-f"])
                        .arg(&file),
                );
            }
        }
        Firewall::Iptables => {
            let ipt = |role: &str, args: &[&str]| {
                let ns = fleet.ns(role);
                run_ok(
                    Command::new("ip")
                        .args(["netns", "exec", &ns, "iptables"])
                        .args(args),
                )
            };
            ipt(
                "r1",
                &[
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "--dport",
                    "993",
                    "-j",
                    "REJECT",
                    "--reject-with",
                    "icmp-admin-prohibited",
                ],
            );
            ipt(
                "r2",
                &["-A", "FORWARD", "-p", "tcp", "--dport", "995", "-j", "DROP"],
            );
        }
    }
}

/// The SYNs r1 counted to `port`, where nft counts them.
fn syns(fleet: &Fleet, firewall: Firewall, port: u16) -> Option<u64> {
    if !matches!(firewall, Firewall::Nft) {
        return None;
    }
    let ns = fleet.ns("r1");
    let name = format!("syn{port}");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "list", "counter", "inet"])
        .args(["eceprobe_trace", &name])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let packets = text.split("packets ").nth(1)?;
    packets.split_whitespace().next()?.parse().ok()
}

/// `eceprobe-agent check` in the client namespace, under `/usr/bin/time` where it exists
/// (for the peak RSS it prints last on stderr). Returns stdout and the peak RSS in KiB.
fn check(
    fleet: &mut Fleet,
    lab_args: &[String],
    config: &Path,
    extra: &[&str],
) -> (String, Option<u64>) {
    let agent = Path::new(env!("CARGO_BIN_EXE_eceprobe-agent"));
    let time = Path::new("/usr/bin/time");
    let mut cmd = match time.exists() {
        true => {
            let mut c = fleet.exec("cli", time);
            c.args(["-f", "max_rss_kb=%M"]).arg(agent);
            c
        }
        false => fleet.exec("cli", agent),
    };
    cmd.args(lab_args).arg("--config").arg(config).args(extra);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("max_rss_kb=")?.trim().parse().ok());
    (String::from_utf8_lossy(&out.stdout).into_owned(), rss)
}

fn json(fleet: &mut Fleet, text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}\n{}", fleet.logs()))
}

#[test]
fn the_trace_names_the_device_that_filters_or_drops() {
    let Some(firewall) = preconditions() else {
        return;
    };
    let Some(testlab) = testlab_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::named("tr");
    build_path(&mut fleet);
    firewalls(&fleet, firewall, dir);
    let lab_args = start_lab(&mut fleet, &testlab, dir);

    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        "[timeouts]\ntcp_ms = 2000\n\n[trace]\nmax_hops = 6\nbudget_ms = 5000\n",
    )
    .unwrap();
    let only = ["--only", "imap", "--only", "pop3", "--only", "smtp"];
    let mut args = only.to_vec();
    args.push("--json");
    let (out, rss_traced) = check(&mut fleet, &lab_args, &config, &args);
    let doc = json(&mut fleet, &out);

    // r1 refuses 993 itself: it answers TTL 1 with "time exceeded" and TTL 2 (the SYN it
    // would forward) with "administratively prohibited".
    let imap = check_of(&doc, "imap");
    let failure = &imap["failure"];
    assert_eq!(failure["kind"], "tcp_unreachable", "{imap:#}");
    assert_eq!(failure["device"], R1_CLIENT_SIDE, "{imap:#}");
    let detail = failure["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "path: 10.214.1.1 answers ICMP administratively prohibited (type 3 code 13): that device filters 993"
        ),
        "{detail}"
    );
    let path = &imap["attempts"][0]["path"];
    assert_eq!(path["method"], "tcp_syn_ttl", "{path:#}");
    assert_eq!(path["device"], R1_CLIENT_SIDE, "{path:#}");
    let hops = path["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2, "{path:#}");
    assert_eq!(hops[0]["answer"]["kind"], "time_exceeded", "{path:#}");
    assert_eq!(hops[1]["address"], R1_CLIENT_SIDE, "{path:#}");
    assert_eq!(hops[1]["answer"]["kind"], "unreachable", "{path:#}");
    assert_eq!(hops[1]["answer"]["code"], 13, "{path:#}");
    eprintln!("imap: {detail}");

    // r2 drops 995: both routers answer, then silence.
    let pop3 = check_of(&doc, "pop3");
    let failure = &pop3["failure"];
    assert_eq!(failure["kind"], "tcp_timeout", "{pop3:#}");
    assert_eq!(failure["device"], R2_R1_SIDE, "{pop3:#}");
    let detail = failure["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "path: SYN to 995 passes 10.214.1.1 and 10.214.2.2, then nothing: 10.214.2.2 or the device after it drops it (no answer from the next 3 hops)"
        ),
        "{detail}"
    );
    let path = &pop3["attempts"][0]["path"];
    let hops = path["hops"].as_array().unwrap();
    let answered: Vec<&str> = hops.iter().filter_map(|h| h["address"].as_str()).collect();
    assert_eq!(answered, [R1_CLIENT_SIDE, R2_R1_SIDE], "{path:#}");
    eprintln!("pop3: {detail}");

    // A healthy port: no trace at all.
    let smtp = check_of(&doc, "smtp");
    assert_eq!(smtp["outcome"], "pass", "{smtp:#}");
    assert!(smtp["attempts"][0].get("path").is_none(), "{smtp:#}");

    // What a trace cost, for docs/BENCHMARKS.md.
    for (name, c, port) in [("imap", imap, 993), ("pop3", pop3, 995)] {
        let p = &c["attempts"][0]["path"];
        eprintln!(
            "cost {name}: trace {} ms, {} SYNs sent by the trace, {:?} SYNs to {port} counted by r1 (the check's own connect included), {} hops",
            p["duration_us"].as_u64().unwrap() / 1000,
            p["probes_sent"],
            syns(&fleet, firewall, port),
            p["hops"].as_array().unwrap().len(),
        );
    }

    // The table says the same, and names the device to take it up with.
    let (table, _) = check(&mut fleet, &lab_args, &config, &only);
    assert!(
        table.contains("that device filters 993")
            && table.contains("then nothing: 10.214.2.2 or the device after it drops it")
            && table.contains("the device on the path to take it up with: 10.214.1.1")
            && table.contains("the device on the path to take it up with: 10.214.2.2"),
        "{table}"
    );

    // --no-trace: the same checks, the same failures, no path.
    let mut args = only.to_vec();
    args.extend(["--json", "--no-trace"]);
    let (out, rss_plain) = check(&mut fleet, &lab_args, &config, &args);
    let doc = json(&mut fleet, &out);
    for name in ["imap", "pop3"] {
        let c = check_of(&doc, name);
        assert!(c["attempts"][0].get("path").is_none(), "{c:#}");
        assert!(c["failure"].get("device").is_none(), "{c:#}");
        assert!(!c["failure"]["detail"].as_str().unwrap().contains("path:"));
    }
    eprintln!(
        "cost: agent peak RSS {rss_traced:?} KiB with traces, {rss_plain:?} KiB with --no-trace"
    );
}

//! Handshake stalls over a real routed path, as issue 13 (item 3) stages them: a client
//! namespace running `eceprobe-agent check`, a router namespace, and testlab (Microsoft 365
//! on its real ports) in a server namespace. The router's link towards the client has an
//! MTU of 1000 and the router drops the ICMP "fragmentation needed" it would send back, so
//! the server's full-size packets (Linux sets DF: path MTU discovery) vanish: an MTU black
//! hole. The IMAP handshake stalls, its retry with MSS 536 gets through, and the check says
//! `path_mtu_blackhole`. The router also drops every packet with data from port 995: POP3's
//! handshake stalls whatever the segment size, and the check says `tls_stalled`.
//!
//! Needs root, `ip` (iproute2), `nft` (nftables) or `iptables`, and the testlab binary
//! beside the agent's; skips, saying why, without them. Nothing touches the host's own
//! namespace: the veths are made inside the router's namespace, and every namespace and
//! process is removed at the end, on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use std::path::Path;
use std::process::Command;

use netns_fleet::lab::{start_lab, ECE_IP, LOGIN_IP, OUTLOOK_IP, SMTP_IP};
use netns_fleet::path::{check_of, testlab_binary};
use netns_fleet::{preconditions, run_ok, Firewall, Fleet};

/// The client's side of the path (the lab's side is the fleet's 10.213.57.0/24).
const CLIENT_IP: &str = "10.213.58.2";
const ROUTER_CLIENT_SIDE: &str = "10.213.58.1";
const ROUTER_LAB_SIDE: &str = "10.213.57.1";

/// A veth pair made inside the router's namespace: `router_end` stays there, the far end
/// becomes `eth0` of namespace `role`.
fn link(fleet: &Fleet, router_end: &str, role: &str) {
    let target = fleet.ns(role);
    fleet.ip(
        "rt",
        &[
            "link", "add", router_end, "type", "veth", "peer", "name", "eth0", "netns", &target,
        ],
    );
}

/// client --(MTU 1000 on the router's end)-- router --(1500)-- lab.
fn build_path(fleet: &mut Fleet) {
    for role in ["rt", "cli", "lab"] {
        fleet.add_namespace(role);
    }
    link(fleet, "c0", "cli");
    link(fleet, "s0", "lab");
    // Only the router's end is small: the client still announces MSS 1460, so the server
    // sends full-size packets and the router is where they no longer fit (a tunnel on the
    // way, as a VPN is).
    fleet.ip("rt", &["link", "set", "c0", "mtu", "1000"]);
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
    run_ok(Command::new("ip").args([
        "netns",
        "exec",
        &fleet.ns("rt"),
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]));
}

/// The router's firewall: the ICMP "fragmentation needed" it sends is dropped (the black
/// hole), and so is every forwarded packet carrying data from port 995 (more than the 52
/// bytes of a bare ACK with timestamps): TLS on 995 is dropped whatever its packet size.
fn router_firewall(fleet: &Fleet, firewall: Firewall, dir: &Path) {
    let ns = fleet.ns("rt");
    match firewall {
        Firewall::Nft => {
            let rules = dir.join("router.nft");
            std::fs::write(
                &rules,
                "table inet eceprobe_mtu {\n\
                 \x20 chain output {\n\
                 \x20   type filter hook output priority 0; policy accept;\n\
                 \x20   icmp type destination-unreachable icmp code frag-needed drop\n\
                 \x20 }\n\
                 \x20 chain forward {\n\
                 \x20   type filter hook forward priority 0; policy accept;\n\
                 \x20   tcp sport 995 ip length > 64 drop\n\
                 \x20 }\n\
                 }\n",
            )
            .unwrap();
            run_ok(
                Command::new("ip")
                    .args(["netns", "exec", &ns, "nft", "-f"])
                    .arg(&rules),
            );
        }
        Firewall::Iptables => {
            let ipt = |args: &[&str]| {
                run_ok(
                    Command::new("ip")
                        .args(["netns", "exec", &ns, "iptables"])
                        .args(args),
                )
            };
            ipt(&[
                "-A",
                "OUTPUT",
                "-p",
                "icmp",
                "--icmp-type",
                "fragmentation-needed",
                "-j",
                "DROP",
            ]);
            ipt(&[
                "-A", "FORWARD", "-p", "tcp", "--sport", "995", "-m", "length", "--length",
                "65:65535", "-j", "DROP",
            ]);
        }
    }
}

#[test]
fn an_mtu_black_hole_and_a_tls_drop_are_told_apart() {
    let Some(firewall) = preconditions() else {
        return;
    };
    let Some(testlab) = testlab_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::new();
    build_path(&mut fleet);
    router_firewall(&fleet, firewall, dir);
    let lab_args = start_lab(&mut fleet, &testlab, dir);

    let config = dir.join("agent.toml");
    std::fs::write(&config, "[timeouts]\ntls_ms = 2000\n").unwrap();
    let doc = check(&mut fleet, &lab_args, &config, &["imap", "pop3", "smtp"]);

    // IMAP's TLS from the first byte, and SMTP's after a plain dialog whose small lines get
    // through: the retry redoes the dialog up to STARTTLS with MSS 536.
    for check in ["imap", "smtp"] {
        let c = check_of(&doc, check);
        let failure = &c["failure"];
        assert_eq!(failure["kind"], "path_mtu_blackhole", "{check}: {c:#}");
        assert_eq!(failure["stage"], "tls", "{check}: {c:#}");
        let detail = failure["detail"].as_str().unwrap();
        assert!(
            detail.contains("the TLS handshake stalled with the default MSS (")
                && detail.contains("and completed with MSS 536 in ")
                && detail.contains("packets of full size are lost on the path (an MTU black hole)"),
            "{check}: {detail}"
        );
        let hint = failure["hint"].as_str().unwrap();
        assert!(
            hint.contains("fragmentation needed") && hint.contains("clamp the TCP MSS"),
            "{check}: {hint}"
        );
        // The retry's handshake is what `--json` shows of TLS: the chain the black hole hid.
        let tls = &c["attempts"][0]["tls"];
        assert!(
            tls["chain"].as_array().is_some_and(|c| !c.is_empty()),
            "{c:#}"
        );
        eprintln!("{check}: {detail}");
    }

    let pop3 = check_of(&doc, "pop3");
    let failure = &pop3["failure"];
    assert_eq!(failure["kind"], "tls_stalled", "{pop3:#}");
    assert_eq!(failure["stage"], "tls", "{pop3:#}");
    let detail = failure["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "went out but not one byte of the server's TLS answer arrived within 2000 ms"
        ) && detail.contains("a retry with MSS 536 stalled too"),
        "{detail}"
    );
    assert!(
        failure["hint"].as_str().unwrap().contains("IPS"),
        "{failure:#}"
    );
    eprintln!("pop3: {detail}");

    // The control: once the router's ICMP reaches the server, path MTU discovery does its
    // job and the same path passes. The black hole was the dropped ICMP, not the MTU.
    let ns = fleet.ns("rt");
    match firewall {
        Firewall::Nft => run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &ns,
            "nft",
            "delete",
            "chain",
            "inet",
            "eceprobe_mtu",
            "output",
        ])),
        Firewall::Iptables => run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &ns,
            "iptables",
            "-D",
            "OUTPUT",
            "-p",
            "icmp",
            "--icmp-type",
            "fragmentation-needed",
            "-j",
            "DROP",
        ])),
    }
    let doc = check(&mut fleet, &lab_args, &config, &["imap"]);
    let imap = check_of(&doc, "imap");
    assert_eq!(imap["outcome"], "pass", "{imap:#}");
}

/// `eceprobe-agent check --json` in the client namespace, for these checks.
fn check(
    fleet: &mut Fleet,
    lab_args: &[String],
    config: &Path,
    checks: &[&str],
) -> serde_json::Value {
    let mut cmd = fleet.exec("cli", Path::new(env!("CARGO_BIN_EXE_eceprobe-agent")));
    cmd.args(lab_args).arg("--config").arg(config);
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

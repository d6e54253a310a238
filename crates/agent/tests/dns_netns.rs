//! A slow resolver over real sockets, as issue 13 (item 5) stages it, read from
//! `eceprobe-agent check --json` as the administrator would: one namespace whose resolv.conf
//! names a dead first name server (UDP 53 to it is dropped) and then testlab's DNS stub;
//! `timeout:1 attempts:1` keep it to a second. The IMAP check resolves through the OS,
//! passes, and warns `dns_slow` with the figure and the resolvers, both address families
//! slow; with the dead server gone, nothing is said. A second namespace's name server
//! answers A at once and drops AAAA: `dns_slow` names IPv6 (AAAA) as the slow family.
//!
//! Needs root, `ip` (iproute2), `nft` or `iptables`, and the testlab binary beside the
//! agent's; skips, saying why, without them. Namespaces are named `sld<pid>-*` and
//! `sla<pid>-*`; every namespace, process and /etc/netns file is removed at the end, on
//! failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use std::path::Path;

use netns_fleet::dns::{dns_stub, one_host, without_imap_override, Resolvers};
use netns_fleet::lab::{start_lab, OUTLOOK_IP};
use netns_fleet::path::{check_json as check, check_of, in_ns, testlab_binary, warning};
use netns_fleet::{preconditions, Firewall};

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
    let mut fleet = one_host("sld");
    let ns = fleet.ns("lab");
    let resolvers = Resolvers::new(&ns);
    let dead = "127.0.0.3";
    let good = "127.0.0.2";
    resolvers.write(&format!(
        "nameserver {dead}\nnameserver {good}\noptions timeout:1 attempts:1\n"
    ));
    let mut resolvers = resolvers;
    dead_resolver(&ns, firewall, dir, dead);
    resolvers.stub = Some(dns_stub(
        &mut fleet,
        &testlab,
        good,
        &format!("outlook.office365.com={OUTLOOK_IP}"),
    ));

    // The lab as usual, but IMAP's name goes through the OS resolver: no --resolve for it.
    let all = start_lab(&mut fleet, &testlab, dir);
    let args = without_imap_override(&all);
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
    let mut fleet = one_host("sla");
    let ns = fleet.ns("lab");
    let resolvers = Resolvers::new(&ns);
    let server = "127.0.0.2";
    resolvers.write(&format!(
        "nameserver {server}\noptions timeout:1 attempts:1\n"
    ));
    let mut resolvers = resolvers;
    resolvers.stub = Some(dns_stub(
        &mut fleet,
        &testlab,
        server,
        &format!("outlook.office365.com={OUTLOOK_IP},silent-aaaa"),
    ));

    let all = start_lab(&mut fleet, &testlab, dir);
    let args = without_imap_override(&all);
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

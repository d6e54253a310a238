//! `address_not_microsoft` from a real agent (issue 15, item 4): in a namespace whose
//! resolv.conf names testlab's DNS stub, the agent's OS resolver answers
//! outlook.office365.com with a lab address; the agent streams its results to a real
//! collector whose `[microsoft_endpoints] file` is a list in Microsoft's format made here.
//! When that list's set for the host holds the lab's range, nothing is said; restarted with
//! a list whose ranges do not, the collector's gaps (Query API, `gaps --json`) carry the
//! warning naming the address, the set and the list.
//!
//! Needs root, `ip` (iproute2), `nft` or `iptables`, and the collector and testlab binaries
//! beside the agent's; skips, saying why, without them. Namespaces are named
//! `endpoints<pid>-*`; every namespace, process and /etc/netns file is removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns_fleet;

use eceprobe_proto::now_ms;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use netns_fleet::dns::{dns_stub, without_imap_override, Resolvers};
use netns_fleet::lab::{
    gap_lines, init_pki, query_json, start_agent, start_collector_with, start_lab, COLLECTOR_IP,
    ECE_IP, LOGIN_IP, OUTLOOK_IP, SMTP_IP,
};
use netns_fleet::{preconditions, Binaries, Fleet};

/// A list in Microsoft's format: set 2 names outlook.office365.com with `range`.
fn list_json(range: &str) -> String {
    format!(
        r#"[{{"id":1,"serviceArea":"Exchange","urls":["outlook.office.com","outlook.office365.com"],"ips":["{range}"],"tcpPorts":"80,443","category":"Optimize","required":true}},{{"id":2,"serviceArea":"Exchange","urls":["outlook.office365.com","smtp.office365.com"],"ips":["{range}"],"tcpPorts":"587,993,995,143","category":"Allow","required":false,"notes":"POP3, IMAP4, SMTP Client traffic"}}]"#
    )
}

/// `show svc-1 --json`: the server's latest results and when the gaps were last evaluated.
fn show(fleet: &Fleet, bins: &Binaries) -> Result<serde_json::Value, String> {
    query_json(fleet, bins, &["show", "svc-1", "--json"])
}

fn latest<'a>(doc: &'a serde_json::Value, check: &str) -> Option<&'a serde_json::Value> {
    doc["latest"]
        .as_array()?
        .iter()
        .find(|r| r["check"] == check)
}

fn addresses(result: &serde_json::Value) -> Vec<&str> {
    result["addresses"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

fn checks_of(doc: &serde_json::Value) -> Vec<String> {
    doc["latest"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["check"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits up to a minute until `until` holds of `show svc-1 --json`; that document.
fn wait_show(
    fleet: &mut Fleet,
    bins: &Binaries,
    what: &str,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc = show(fleet, bins);
        if let Ok(doc) = &doc {
            if until(doc) {
                return doc.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {what} from the agent: {doc:?}\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits up to 30 s for an evaluation that began after `t` (Unix ms): every result stored
/// before `t` has then been judged. Agent, collector and test share this machine's clock.
fn wait_evaluated_after(fleet: &mut Fleet, bins: &Binaries, t: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let evaluated = show(fleet, bins)
            .ok()
            .and_then(|d| d["evaluated_unix_ms"].as_i64())
            .unwrap_or(0);
        if evaluated > t {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no evaluation after {t} (last {evaluated})\n{}",
            fleet.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits up to `limit` for `until` to hold of the collector's gap lines; the last lines.
fn wait_gaps(
    fleet: &Fleet,
    bins: &Binaries,
    limit: Duration,
    until: impl Fn(&BTreeSet<String>) -> bool,
) -> BTreeSet<String> {
    let deadline = Instant::now() + limit;
    loop {
        let lines = gap_lines(fleet, bins).unwrap_or_default();
        if until(&lines) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn an_address_outside_the_published_ranges_is_a_warning_through_the_collector() {
    let Some(_firewall) = preconditions() else {
        return;
    };
    let Some(bins) = Binaries::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fleet = Fleet::named("endpoints");
    fleet.add_switch();
    fleet.plug("col", &[COLLECTOR_IP]);
    fleet.plug("lab", &[LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP]);
    // The agent runs beside the lab; its OS resolver asks the stub on 127.0.0.2.
    let mut resolvers = Resolvers::new(&fleet.ns("lab"));
    resolvers.write("nameserver 127.0.0.2\noptions timeout:1 attempts:1\n");
    resolvers.stub = Some(dns_stub(
        &mut fleet,
        &bins.testlab,
        "127.0.0.2",
        &format!("outlook.office365.com={OUTLOOK_IP}"),
    ));
    let lab_args = without_imap_override(&start_lab(&mut fleet, &bins.testlab, dir));
    init_pki(&bins, dir, &["svc-1"]);

    // The list's ranges hold the lab's address: nothing to say.
    let list = dir.join("endpoints-worldwide.json");
    std::fs::write(&list, list_json("10.213.57.0/24")).unwrap();
    let section = format!("[microsoft_endpoints]\nfile = \"{}\"\n", list.display());
    start_collector_with(&mut fleet, &bins, dir, "collector", &section);
    start_agent(
        &mut fleet,
        &bins,
        dir,
        &lab_args,
        ("lab", "svc-1", "services"),
        5,
    );
    // The agent's IMAP result, resolved through the OS to the lab's address, stored; then
    // an evaluation that began after it was seen stored, so it was judged.
    let seen = wait_show(
        &mut fleet,
        &bins,
        "an imap result resolved through the OS",
        |doc| {
            latest(doc, "imap")
                .is_some_and(|r| addresses(r).iter().any(|a| a.starts_with(OUTLOOK_IP)))
        },
    );
    let judged = checks_of(&seen);
    wait_evaluated_after(&mut fleet, &bins, now_ms());
    let lines = gap_lines(&fleet, &bins).unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("address_not_microsoft")),
        "judged {judged:?}: {lines:#?}"
    );

    // Restarted with a list whose ranges do not hold it: the warning, in words.
    fleet.kill("collector");
    std::fs::write(&list, list_json("40.96.0.0/13")).unwrap();
    start_collector_with(&mut fleet, &bins, dir, "collector-2", &section);
    let prefix = "svc-1 imap warning address_not_microsoft ";
    let lines = wait_gaps(&fleet, &bins, Duration::from_secs(60), |lines| {
        lines.iter().any(|l| l.starts_with(prefix))
    });
    let line = lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no address_not_microsoft: {lines:#?}\n{}", fleet.logs()));
    for says in [
        format!("answered outlook.office365.com with address {OUTLOOK_IP} that lies outside"),
        "set 1 (Exchange, Optimize), set 2 (Exchange, Allow)".to_string(),
        format!("list: {}", list.display()),
        "split-horizon DNS".to_string(),
    ] {
        assert!(line.contains(&says), "{says}: {line}");
    }
    // Counted after an evaluation of every result the agent had delivered, the mail checks
    // among them: only imap resolved through the OS; the others were pinned with --resolve
    // (source "override") and are not judged, though outlook-https has the same host.
    let seen = wait_show(
        &mut fleet,
        &bins,
        "imap, pop3, smtp and outlook-https results",
        |doc| {
            ["imap", "pop3", "smtp", "outlook-https"]
                .iter()
                .all(|c| latest(doc, c).is_some())
        },
    );
    let judged = checks_of(&seen);
    wait_evaluated_after(&mut fleet, &bins, now_ms());
    let lines = gap_lines(&fleet, &bins).unwrap();
    let found: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("address_not_microsoft"))
        .collect();
    assert!(
        found.len() == 1 && found[0].starts_with(prefix),
        "one warning, imap's, over the checks judged {judged:?}: {lines:#?}"
    );
    eprintln!("{line}");
}

//! What the change requests say about hostile names, gaps no rule fixes, proxies, routes,
//! the set-2 note, merged rules and cut reads: asserted as the reader sees it.

use eceprobe_proto::v1::{Attempt, CheckResult, Dns, Finding};

use super::tests::{doc, failed, gap, inputs, result};
use super::*;
use crate::endpoints::EndpointList;

/// One refused IMAP attempt from app-1: a rule.
fn refused_imap() -> Inputs {
    inputs(
        "app-1",
        "application",
        vec![gap("app-1", "imap", "failing", "tcp_refused")],
        vec![(
            "app-1",
            result(
                "imap",
                "outlook.office365.com",
                993,
                vec![failed("52.97.1.1:993", "tcp_refused")],
            ),
        )],
    )
}

#[test]
fn a_hostile_deployment_name_stays_one_line_and_inert_in_every_format() {
    let mut i = refused_imap();
    i.deployment = "prod\n; Remove-Mailbox -Identity x <script>alert(1)</script>".into();
    let ps1 = doc(&i, Owner::M365, Format::PowerShell);
    for line in ps1.lines() {
        assert!(
            !line.contains("Remove-Mailbox") || line.starts_with('#'),
            "a command line came from the deployment name:\n{ps1}"
        );
    }
    for (what, md) in [
        ("network", doc(&i, Owner::Network, Format::Markdown)),
        ("ece", doc(&i, Owner::Ece, Format::Markdown)),
    ] {
        assert!(!md.contains("<script>"), "{what}:\n{md}");
        assert!(md.contains("&lt;script&gt;"), "{what}:\n{md}");
        assert!(
            !md.lines().any(|l| l.starts_with("; Remove-Mailbox")),
            "{what}:\n{md}"
        );
        assert!(
            md.starts_with("# ")
                && md
                    .lines()
                    .next()
                    .is_some_and(|l| l.contains("Remove-Mailbox")),
            "{what}: the title keeps the whole name on its line:\n{md}"
        );
    }
    // The CSV carries rules only; its file name keeps safe characters only.
    let d = generate(
        &i,
        Owner::Network,
        Format::Csv,
        &EndpointList::snapshot(),
        0,
    );
    assert!(!d.text.contains("Remove-Mailbox"), "{}", d.text);
    assert!(
        d.filename
            .starts_with("change-request-prod___Remove-Mailbox"),
        "{}",
        d.filename
    );
}

#[test]
fn only_reachability_gaps_become_rules_the_rest_are_listed_with_their_fix() {
    let mut i = refused_imap();
    i.gaps.push(gap("app-1", "smtp", "failing", "dns_nxdomain"));
    i.gaps.push(gap(
        "app-1",
        "login-https",
        "failing",
        "proxy_auth_required",
    ));
    i.results.insert(
        ("app-1".into(), "smtp".into()),
        result("smtp", "smtp.office365.com", 587, vec![]),
    );
    let request = network::request(&i, &EndpointList::snapshot());
    assert_eq!(request.rules.len(), 1, "{:?}", request.rules);
    assert_eq!(request.rules[0].port, 993);
    let md = doc(&i, Owner::Network, Format::Markdown);
    assert!(md.contains("(1 rule):"), "{md}");
    assert!(
        md.contains("- not a firewall rule: dns_nxdomain on app-1 smtp: "),
        "{md}"
    );
    assert!(
        md.contains("- not a firewall rule: proxy_auth_required on app-1 login-https: "),
        "{md}"
    );
    // The CSV is the rules alone.
    let csv = doc(&i, Owner::Network, Format::Csv);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(!csv.contains("dns_nxdomain"), "{csv}");
}

#[test]
fn through_a_proxy_the_rule_says_the_proxy_not_microsofts_address() {
    let intercepted = Attempt {
        address: "10.9.9.9:8080".into(),
        source_address: "10.0.0.5".into(),
        failure: Some(Finding {
            kind: "tls_intercepted".into(),
            ..Finding::default()
        }),
        ..Attempt::default()
    };
    let r = CheckResult {
        via_proxy: "proxy.contoso.local:8080".into(),
        dns: Some(Dns {
            addresses: vec!["10.9.9.9".into()],
            ..Dns::default()
        }),
        ..result(
            "login-https",
            "login.microsoftonline.com",
            443,
            vec![intercepted],
        )
    };
    let i = inputs(
        "app-1",
        "application",
        vec![gap("app-1", "login-https", "failing", "tls_intercepted")],
        vec![("app-1", r)],
    );
    let request = network::request(&i, &EndpointList::snapshot());
    let rule = &request.rules[0];
    assert_eq!(
        rule.destination_addresses,
        ["through proxy proxy.contoso.local:8080: the proxy resolves it"]
    );
    assert!(
        rule.fails_now.starts_with(
            "through proxy proxy.contoso.local:8080 (this server connects to the proxy"
        ),
        "{}",
        rule.fails_now
    );
    assert!(!rule.blocked, "inspection is not a block");
}

#[test]
fn no_source_address_says_no_route_or_the_agents_old_version() {
    let mut no_source = failed("52.97.1.1:993", "tcp_unreachable");
    no_source.source_address.clear();
    let mut i = inputs(
        "app-1",
        "application",
        vec![gap("app-1", "imap", "failing", "tcp_unreachable")],
        vec![(
            "app-1",
            result("imap", "outlook.office365.com", 993, vec![no_source]),
        )],
    );
    let rule = |i: &Inputs| network::request(i, &EndpointList::snapshot()).rules[0].clone();
    assert_eq!(
        rule(&i).source_unknown,
        "none: this server has no route to the destination"
    );
    i.servers[0].agent_version = "0.0.7".into();
    assert_eq!(
        rule(&i).source_unknown,
        "not reported by this agent's version (0.0.7)"
    );
    i.servers[0].agent_version.clear();
    assert_eq!(
        rule(&i).source_unknown,
        "not reported by this agent's version (its version is not known)"
    );
}

#[test]
fn the_set_2_note_names_the_blocked_rules_and_the_sets_own_ports() {
    let list = EndpointList::snapshot();
    let ports = list.set(2).map(|s| s.tcp_ports_text()).unwrap_or_default();
    let md = doc(&refused_imap(), Owner::Network, Format::Markdown);
    assert!(
        md.contains(
            "> **Note:** The rule app-1 to outlook.office365.com:993 is in Microsoft's endpoint set 2"
        ),
        "{md}"
    );
    assert!(md.contains(&format!("leaves TCP {ports} closed")), "{md}");
    // Inspected, not blocked: importing set 2 would not fix it, so no note.
    let mut i = refused_imap();
    i.gaps[0].detail = "tls_intercepted".into();
    let request = network::request(&i, &list);
    assert_eq!(request.rules.len(), 1);
    assert_eq!(request.set_2_note, "");
    let md = doc(&i, Owner::Network, Format::Markdown);
    assert!(!md.contains("Note:"), "{md}");
}

#[test]
fn checks_sharing_a_host_and_port_make_one_rule_from_both_results() {
    let mut oauth = failed("52.97.1.2:993", "tcp_timeout");
    oauth.source_address = "10.0.0.6".into();
    let i = inputs(
        "app-1",
        "application",
        vec![
            gap("app-1", "imap", "failing", "tcp_refused"),
            gap(
                "app-1",
                "oauth-imap/a@contoso.com",
                "failing",
                "tcp_timeout",
            ),
        ],
        vec![
            (
                "app-1",
                result(
                    "imap",
                    "outlook.office365.com",
                    993,
                    vec![failed("52.97.1.1:993", "tcp_refused")],
                ),
            ),
            (
                "app-1",
                // The same name as the agent may spell it: one rule.
                result(
                    "oauth-imap/a@contoso.com",
                    "Outlook.Office365.com.",
                    993,
                    vec![oauth],
                ),
            ),
        ],
    );
    let request = network::request(&i, &EndpointList::snapshot());
    assert_eq!(request.rules.len(), 1, "{:?}", request.rules);
    let rule = &request.rules[0];
    assert_eq!(rule.destination_host, "outlook.office365.com");
    assert_eq!(rule.checks, ["imap", "oauth-imap/a@contoso.com"]);
    assert_eq!(rule.source_addresses, ["10.0.0.5", "10.0.0.6"]);
    assert_eq!(rule.destination_addresses, ["52.97.1.1", "52.97.1.2"]);
    assert_eq!(
        rule.fails_now,
        "imap: refused (the SYN is answered with a reset) on 52.97.1.1; oauth-imap/a@contoso.com: dropped (no answer to SYN) on 52.97.1.2"
    );
}

#[test]
fn a_request_cut_at_the_gaps_limit_says_so() {
    let mut i = refused_imap();
    i.gaps_cut_at = Some(10_000);
    for (owner, format) in [
        (Owner::Network, Format::Markdown),
        (Owner::M365, Format::PowerShell),
        (Owner::Ece, Format::Markdown),
    ] {
        let text = doc(&i, owner, format);
        assert!(
            text.contains("Only the first 10000 open gaps were read"),
            "{text}"
        );
    }
    assert!(!doc(&refused_imap(), Owner::Network, Format::Markdown).contains("Only the first"));
}

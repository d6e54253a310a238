use super::*;

fn origin() -> ListOrigin {
    ListOrigin {
        kind: OriginKind::Service,
        source: "test".into(),
        version: "1".into(),
        date: "2026-12-06".into(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_snapshot_names_the_sets_each_ece_port_comes_from() {
    let list = EndpointList::snapshot();
    assert_eq!(list.origin().date, SNAPSHOT_DATE);
    let ids = |host: &str, port| list.sets_for(host, port).map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids("outlook.office365.com", 993), [2]);
    assert_eq!(ids("outlook.office365.com", 995), [2]);
    assert_eq!(ids("smtp.office365.com", 587), [2]);
    assert_eq!(ids("outlook.office365.com", 443), [1]);
    assert_eq!(ids("login.microsoftonline.com", 443), [56]);
    assert_eq!(
        ids("LOGIN.microsoftonline.com.", 443),
        [56],
        "case and root dot"
    );
    assert!(ids("smtp.office365.com", 25).is_empty());
    let two = list.set(2).unwrap();
    assert!(!two.required, "set 2 is optional in Microsoft's list");
    assert_eq!(two.category, Category::Allow);
    assert_eq!(two.tcp_ports_text(), "587,993,995,143");
}

#[test]
fn addresses_are_judged_against_the_sets_naming_the_host() {
    let list = EndpointList::snapshot();
    assert!(list
        .outside("outlook.office365.com", ip("40.97.1.2"))
        .is_none());
    assert!(list
        .outside("outlook.office365.com", ip("2603:1046::5"))
        .is_none());
    let sets = list
        .outside("outlook.office365.com", ip("10.1.2.3"))
        .unwrap();
    assert_eq!(sets.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2]);
    assert!(list
        .outside("login.microsoftonline.com", ip("20.190.130.1"))
        .is_none());
    assert!(list
        .outside("login.microsoftonline.com", ip("40.97.1.2"))
        .is_some());
    // URL-only sets and unknown hosts: nothing to judge.
    assert!(list.outside("crl3.digicert.com", ip("10.1.2.3")).is_none());
    assert!(list.outside("ece.example.com", ip("10.1.2.3")).is_none());
}

#[test]
fn wildcards_match_one_or_more_characters() {
    assert!(wildcard_match("*.office365.com", "a.b.office365.com"));
    assert!(!wildcard_match("*.office365.com", ".office365.com"));
    assert!(!wildcard_match("*.office365.com", "office365.com"));
    assert!(wildcard_match(
        "autodiscover.*.onmicrosoft.com",
        "autodiscover.contoso.onmicrosoft.com"
    ));
    assert!(!wildcard_match(
        "autodiscover.*.onmicrosoft.com",
        "autodiscover..onmicrosoft.com"
    ));
    assert!(wildcard_match("smtp.office365.com", "SMTP.Office365.com"));
    assert!(!wildcard_match(
        "smtp.office365.com",
        "smtp.office365.com.evil"
    ));
}

#[test]
fn a_bad_list_is_refused_whole_with_what_was_wrong() {
    let good = SNAPSHOT_JSON.as_bytes();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() / 2].to_vec(), "not Microsoft's endpoint list"),
        (b"".to_vec(), "empty"),
        (b"[]".to_vec(), "empty"),
        (br#"{"instance":"Worldwide","latest":"2026110300"}"#.to_vec(), "not Microsoft's endpoint list"),
        (br#"[{"id":9,"serviceArea":"Exchange","ips":["40.96.0.0/33"],"tcpPorts":"443","category":"Allow","required":true}]"#.to_vec(), "endpoint set 9: '40.96.0.0/33'"),
        (br#"[{"id":9,"serviceArea":"Exchange","tcpPorts":"443,x","category":"Allow","required":true}]"#.to_vec(), "endpoint set 9: tcpPorts"),
        (br#"[{"id":9,"serviceArea":"Exchange","tcpPorts":"443","category":"Fast","required":true}]"#.to_vec(), "not Microsoft's endpoint list"),
        (vec![b' '; MAX_LIST_BYTES + 1], "more than"),
    ];
    for (bytes, says) in cases {
        let err = EndpointList::parse(&bytes, origin())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
}

#[test]
fn port_ranges_and_unknown_fields_are_read() {
    let list = EndpointList::parse(
        br#"[{"id":11,"serviceArea":"Skype","urls":["*.teams.microsoft.com"],"ips":["52.112.0.0/14"],"tcpPorts":"80,443,50000-50059","udpPorts":"3478-3481","expressRoute":true,"category":"Optimize","required":true,"serviceAreaDisplayName":"x"}]"#,
        origin(),
    )
    .unwrap();
    let s = list.set(11).unwrap();
    assert!(s.has_tcp_port(50010) && !s.has_tcp_port(50060));
    assert_eq!(s.tcp_ports_text(), "80,443,50000-50059");
    assert_eq!(s.notes, "");
}

/// The warning from a stored state to the engine's finding: only the addresses outside the
/// ranges are named, with the sets, the list, the causes and the fix.
#[test]
fn an_address_outside_the_ranges_is_a_network_warning_in_words() {
    use crate::gaps::{evaluate, AgentView, FindingKind, Policy, Severity};
    use crate::store::{CheckState, SystemDns};
    let list = EndpointList::snapshot();
    let state = |check: &str, outcome: &str, addresses: &[&str]| CheckState {
        agent_id: "svc-1".into(),
        check: check.into(),
        seq: 1,
        outcome: outcome.into(),
        failure_kind: (outcome == "fail").then(|| "tls_intercepted".into()),
        warning_kinds: Vec::new(),
        duration_us: 1_000,
        received_unix_ms: 1_800_000_000_000,
        system_dns: Some(SystemDns {
            host: "outlook.office365.com".into(),
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
        }),
    };
    let inside = crate::gaps::check_view(&state("imap", "pass", &["40.97.1.2"]), &list).unwrap();
    assert_eq!(inside.not_microsoft, None);
    let imap =
        crate::gaps::check_view(&state("imap", "pass", &["40.97.1.2", "10.9.8.7"]), &list).unwrap();
    let detail = imap.not_microsoft.clone().unwrap();
    for says in [
        "outlook.office365.com with address 10.9.8.7 that lies outside",
        "set 1 (Exchange, Optimize), set 2 (Exchange, Allow)",
        "the snapshot shipped with eceprobe",
        "split-horizon DNS",
        "TLS-inspection",
        "DNS hijack",
        "(Worldwide sets 1, 2, 56 and 125, made 2026-12-06; not a version Microsoft published)",
    ] {
        assert!(detail.contains(says), "{says}: {detail}");
    }
    // The fix is the remedy's (export::findings), shown beside the detail: not said twice.
    assert!(!detail.contains("Fix"), "{detail}");
    assert!(!detail.contains("40.97.1.2"), "{detail}");
    // A failing check keeps it: the answer is the likely cause of the failure.
    let smtp = crate::gaps::check_view(&state("smtp", "fail", &["10.9.8.7"]), &list).unwrap();
    let agent = AgentView {
        agent_id: "svc-1".into(),
        role: eceprobe_checks::Role::Services,
        deployment: "prod".into(),
        probe_interval_s: 60,
        seen_unix_ms: 1_800_000_000_000,
        first_seen_unix_ms: 0,
    };
    let found = evaluate(
        &Policy::default(),
        &[agent],
        &[imap, smtp],
        1_800_000_000_000,
    );
    let warnings: Vec<_> = found
        .iter()
        .filter(|f| f.kind == FindingKind::AddressNotMicrosoft)
        .collect();
    assert_eq!(warnings.len(), 2, "{found:?}");
    assert!(warnings.iter().all(|f| f.severity == Severity::Warning));
    assert_eq!(
        crate::gaps::owner_name("address_not_microsoft", ""),
        "network"
    );
}

/// Only the OS resolver's answer is judged: an override is eceprobe's own pin, and through
/// a proxy the agent resolved nothing.
#[test]
fn only_the_system_resolvers_addresses_are_kept() {
    use eceprobe_proto::v1::{CheckResult, Dns};
    let result = |source: &str, addresses: &[&str]| CheckResult {
        host: "Outlook.Office365.com.".into(),
        dns: Some(Dns {
            source: source.into(),
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            ..Dns::default()
        }),
        ..CheckResult::default()
    };
    let kept = crate::convert::system_dns(&result(
        "system",
        &[
            "52.97.1.1:993",
            "x,y",
            "[2603:1046::5]:993",
            "52.97.1.1:993",
            "::1",
        ],
    ))
    .unwrap();
    assert_eq!(kept.host, "outlook.office365.com");
    assert_eq!(
        kept.addresses,
        ["52.97.1.1", "2603:1046::5", "::1"],
        "addresses without their port, once each; only what parses"
    );
    assert!(crate::convert::system_dns(&result("override", &["10.0.0.1"])).is_none());
    assert!(crate::convert::system_dns(&result("proxy", &[])).is_none());
    assert!(crate::convert::system_dns(&result("system", &[])).is_none());
}

#[test]
fn each_source_is_described_plainly() {
    assert_eq!(
        EndpointList::snapshot().origin().described(),
        "the snapshot shipped with eceprobe (Worldwide sets 1, 2, 56 and 125, made 2026-12-06; not a version Microsoft published)"
    );
    assert_eq!(
        EndpointList::snapshot().origin().version,
        NO_VERSION_SNAPSHOT
    );
    let service = ListOrigin {
        kind: OriginKind::Service,
        source: "https://endpoints.office.com/endpoints/Worldwide".into(),
        version: "2026110300".into(),
        date: "2026-12-06 11:40Z".into(),
    };
    assert_eq!(
        service.described(),
        "https://endpoints.office.com/endpoints/Worldwide, Microsoft's version 2026110300, fetched 2026-12-06 11:40Z"
    );
    let file = ListOrigin {
        kind: OriginKind::File,
        source: "/etc/eceprobe/endpoints-worldwide.json".into(),
        version: NO_VERSION_FILE.into(),
        date: "2026-12-06 11:40Z".into(),
    };
    assert_eq!(
        file.described(),
        "/etc/eceprobe/endpoints-worldwide.json (a file, which carries no version from Microsoft; modified 2026-12-06 11:40Z)"
    );
}

#[test]
fn a_megabyte_of_bogus_list_text_gives_a_short_message() {
    let huge = "z".repeat(1 << 20);
    for set in [
        format!(
            r#"{{"id": 2, "serviceArea": "Exchange", "category": "Allow", "required": false, "ips": ["{huge}"]}}"#
        ),
        format!(
            r#"{{"id": 2, "serviceArea": "Exchange", "category": "Allow", "required": false, "tcpPorts": "{huge}"}}"#
        ),
        format!(
            r#"{{"id": "{huge}", "serviceArea": "Exchange", "category": "Allow", "required": false}}"#
        ),
    ] {
        let json = format!("[{set}]");
        let err = EndpointList::parse(json.as_bytes(), origin())
            .unwrap_err()
            .to_string();
        assert!(err.len() < 1500, "{} bytes: {}", err.len(), &err[..200]);
    }
}

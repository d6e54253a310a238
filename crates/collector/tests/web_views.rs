//! What the dashboard and JSON API of a real collector process show once an agent has
//! streamed its results over gRPC (one hostile host name, a failing IMAP): the overview's
//! cells, the server page, a check's history and the gap the tracker records; the server
//! page's order (failures, warnings, passes) and its TLS lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::dashboard::{feed, feed_with, get, result, Dashboard, HOSTILE};
use eceprobe_proto::v1::{Attempt, CheckResult, Dns, DnsFamily, Finding, Outcome, TcpInfo, Tls};

#[tokio::test]
async fn the_overview_and_server_page_show_what_the_agent_sent() {
    let d = Dashboard::start();
    let _agent = feed(d.agents).await;
    let r = get(d.web, "/api/overview").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let server = &v["servers"][0];
    assert_eq!(server["agent_id"], "svc-1");
    assert_eq!(server["connected"], true);
    let cell = |check: &str| {
        server["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .unwrap()
            .clone()
    };
    assert_eq!(cell("imap")["state"], "gap");
    assert_eq!(cell("imap")["kind"], "tcp_refused");
    for check in ["login-https", "outlook-https", "pop3", "smtp"] {
        assert_eq!(cell(check)["state"], "pass", "{check}");
    }
    assert_eq!(cell("ece-url")["state"], "not_required");

    let page = get(d.web, "/servers/svc-1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("tcp_refused"), "the failure kind");
    assert!(
        page.body.contains("open TCP 993 to outlook.office365.com"),
        "the hint"
    );
    assert!(page.body.contains("<svg"), "the history chart");
    for body in [&page.body, &get(d.web, "/").await.body] {
        assert!(!body.contains(HOSTILE), "the host name is escaped");
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    let history = get(d.web, "/api/servers/svc-1/checks/imap/history?limit=10").await;
    let h: serde_json::Value = serde_json::from_str(&history.body).unwrap();
    assert_eq!(h["points"][0]["outcome"], "fail");

    // The tracker records the gap within a second or so.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g: serde_json::Value =
            serde_json::from_str(&get(d.web, "/api/gaps?check=imap&severity=gap").await.body)
                .unwrap();
        if let Some(gap) = g["gaps"].as_array().and_then(|a| a.first()) {
            assert_eq!(gap["agent_id"], "svc-1");
            assert_eq!(gap["times_opened_last_7_days"], 1);
            break;
        }
        assert!(Instant::now() < deadline, "no imap gap recorded: {g}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A result whose used address has TLS details.
fn with_tls(seq: u64, check: &str, tls: Tls) -> CheckResult {
    CheckResult {
        used_address: "52.97.1.1:443".into(),
        attempts: vec![Attempt {
            address: "52.97.1.1:443".into(),
            tls: Some(tls),
            ..Attempt::default()
        }],
        ..result(seq, check, false)
    }
}

#[tokio::test]
async fn the_server_page_lists_failures_then_warnings_then_passes_and_labels_roots() {
    let d = Dashboard::start();
    let tls = |version: &str, expected: Option<bool>, source: &str, root: &str| Tls {
        version: version.into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        trusted: expected.is_some(),
        expected_root: expected,
        expected_root_source: source.into(),
        chain_root: root.into(),
        ..Tls::default()
    };
    // outlook-https: intercepted (a warning with its fix); login-https: a lab CA declared in
    // expected_roots; smtp: Microsoft's root; pop3: a refused chain.
    let mut outlook = with_tls(
        6,
        "outlook-https",
        tls("TLSv1.3", Some(false), "", "Proxy CA"),
    );
    outlook.outcome = Outcome::Warn as i32;
    outlook.warnings = vec![Finding {
        kind: "tls_intercepted".into(),
        stage: "tls".into(),
        detail: "the chain is trusted here but ends at 'Proxy CA'".into(),
        hint: "exempt outlook.office365.com from TLS inspection (C9)".into(),
        ..Default::default()
    }];
    // ECE's Java judged login-https's chain (untrusted, by a store whose path needs
    // escaping) and smtp's (trusted); not the others (no store, or an older agent).
    let login = with_tls(
        7,
        "login-https",
        Tls {
            java_trusted: Some(false),
            java_store: "/opt/<ece>/jre/lib/security/cacerts".into(),
            ..tls("TLSv1.3", Some(true), "declared", "Lab CA")
        },
    );
    let smtp = with_tls(
        8,
        "smtp",
        Tls {
            java_trusted: Some(true),
            java_store: r"C:\ECE\jdk\lib\security\cacerts".into(),
            ..tls(
                "TLSv1.2",
                Some(true),
                "microsoft",
                "DigiCert Global Root G2",
            )
        },
    );
    let pop3 = with_tls(9, "pop3", tls("TLSv1.3", None, "", "Untrusted CA"));
    let _agent = feed_with(d.agents, vec![outlook, login, smtp, pop3]).await;

    let r = get(d.web, "/api/servers/svc-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let order: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["imap", "outlook-https", "login-https", "pop3", "smtp"]
    );
    let tls_of = |i: usize| v["checks"][i]["attempts"][0]["tls"].clone();
    assert_eq!(tls_of(2)["expected_root_source"], "declared");
    assert_eq!(tls_of(2)["root_label"], "an expected root you declared");
    assert_eq!(tls_of(4)["root_label"], "a Microsoft root");
    assert_eq!(tls_of(2)["java_trusted"], false);
    assert_eq!(
        tls_of(2)["java_store"],
        "/opt/<ece>/jre/lib/security/cacerts"
    );
    assert_eq!(tls_of(4)["java_trusted"], true);
    for unjudged in [1, 3] {
        assert!(tls_of(unjudged)["java_trusted"].is_null(), "{unjudged}");
        assert!(tls_of(unjudged)["java_store"].is_null(), "{unjudged}");
    }

    let page = get(d.web, "/servers/svc-1").await.body;
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle} not on the page"))
    };
    let sections: Vec<usize> = order
        .iter()
        .map(|c| at(&format!("id=\"check-{c}\"")))
        .collect();
    assert!(sections.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(page.contains("exempt outlook.office365.com from TLS inspection (C9)"));
    for line in [
        "TLS 1.3 (TLS13_AES_256_GCM_SHA384); trusted, ends at an unexpected root (interception?) (Proxy CA)",
        "TLS 1.3 (TLS13_AES_256_GCM_SHA384); trusted, ends at an expected root you declared (Lab CA)",
        "TLS 1.2 (TLS13_AES_256_GCM_SHA384); trusted, ends at a Microsoft root (DigiCert Global Root G2)",
        "TLS 1.3 (TLS13_AES_256_GCM_SHA384); NOT trusted: the chain ends at Untrusted CA",
    ] {
        assert!(page.contains(line), "{line}");
    }
    assert!(!page.contains("TLS  ;"));
    // ECE's Java's verdict, escaped, under the TLS line of the two checks it judged only.
    for line in [
        "ECE's Java: does NOT trust this chain (trust store /opt/&lt;ece&gt;/jre/lib/security/cacerts)",
        r"ECE's Java: trusts this chain (trust store C:\ECE\jdk\lib\security\cacerts)",
    ] {
        assert!(page.contains(line), "{line}");
    }
    assert_eq!(page.matches("ECE's Java: ").count(), 2);
    assert!(!page.contains("/opt/<ece>"));
    assert!(at("ECE's Java: does NOT") > sections[2] && at("ECE's Java: does NOT") < sections[3]);
    assert!(at("ECE's Java: trusts") > sections[4]);
}

/// Issue 13's path warnings as an agent sends them: the server page shows each with its
/// figures and, per address, what the agent's kernel measured of the connection; the
/// tracker records them as warnings.
#[tokio::test]
async fn slow_and_lossy_paths_show_their_figures_and_become_warnings() {
    let d = Dashboard::start();
    let finding = |kind: &str, stage: &str, detail: &str| Finding {
        kind: kind.into(),
        stage: stage.into(),
        detail: detail.into(),
        hint: format!("the {kind} hint (C10)"),
        ..Finding::default()
    };
    let mut imap = result(6, "imap", false);
    imap.outcome = Outcome::Warn as i32;
    imap.used_address = "52.97.1.1:993".into();
    imap.warnings = vec![
        finding("dns_slow", "dns", "resolving outlook.office365.com took 5.02 s; its budget is 1 s; by family: IPv4 (A) 3 ms, IPv6 (AAAA) no answer within 5000 ms: the resolver is slow to answer AAAA queries (or drops them); this host asks 10.0.0.9 first, then 10.0.0.53 (/etc/resolv.conf)"),
        finding("slow", "tls", "the TLS handshake took 2.4 s; its budget is 1 s"),
        finding("packet_loss", "protocol", "the connection to 52.97.1.1:993 retransmitted 4 of 21 segments during the check (round trip 12.3 ms ± 4.1 ms): packets are lost on the path"),
    ];
    imap.attempts = vec![Attempt {
        address: "52.97.1.1:993".into(),
        warnings: imap.warnings[1..].to_vec(),
        tcp_info: Some(TcpInfo {
            rtt_us: 12_300,
            rttvar_us: 4_100,
            retransmits: 5,
            segments_out: 21,
            spurious: 1,
        }),
        ..Attempt::default()
    }];
    imap.dns = Some(Dns {
        source: "system".into(),
        duration_us: 5_020_000,
        addresses: vec!["52.97.1.1:993".into()],
        families: vec![
            DnsFamily {
                family: "ipv4".into(),
                duration_us: 3_000,
                addresses: 2,
                error: String::new(),
            },
            DnsFamily {
                family: "ipv6".into(),
                duration_us: 5_000_000,
                addresses: 0,
                error: "no answer within 5000 ms".into(),
            },
        ],
    });
    let _agent = feed_with(d.agents, vec![imap]).await;

    let v: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/svc-1").await.body).unwrap();
    let check = &v["checks"][0];
    assert_eq!(check["outcome"], "warn", "{check:#}");
    let families = &check["dns"]["families"];
    assert_eq!(
        (
            &families[0]["family"],
            &families[0]["addresses"],
            &families[0]["error"]
        ),
        (&"ipv4".into(), &2.into(), &serde_json::Value::Null),
        "{check:#}"
    );
    assert_eq!(
        (&families[1]["family"], &families[1]["error"]),
        (&"ipv6".into(), &"no answer within 5000 ms".into()),
        "{check:#}"
    );
    let tcp = &check["attempts"][0]["tcp"];
    assert_eq!(
        (&tcp["rtt_us"], &tcp["retransmits"], &tcp["spurious"]),
        (&12_300.into(), &5.into(), &1.into()),
        "{check:#}"
    );
    let page = get(d.web, "/servers/svc-1").await.body;
    for line in [
        "TCP: round trip 12.3 ms ± 4.1 ms, 5 of 21 segments retransmitted (1 needlessly: the peer had them)",
        "the TLS handshake took 2.4 s; its budget is 1 s",
        "retransmitted 4 of 21 segments during the check",
        "this host asks 10.0.0.9 first, then 10.0.0.53",
        "the resolver is slow to answer AAAA queries (or drops them)",
        " - by family: IPv4 (A) 3.0 ms, 2 addresses; IPv6 (AAAA) 5.00 s, no answer within 5000 ms",
    ] {
        assert!(page.contains(line), "{line} not on the page");
    }

    // The tracker's warnings, one per kind.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g: serde_json::Value = serde_json::from_str(
            &get(d.web, "/api/gaps?check=imap&severity=warning")
                .await
                .body,
        )
        .unwrap();
        let mut kinds: Vec<&str> = g["gaps"]
            .as_array()
            .map(|a| a.iter().filter_map(|g| g["kind"].as_str()).collect())
            .unwrap_or_default();
        kinds.sort();
        if kinds == ["dns_slow", "packet_loss", "slow"] {
            break;
        }
        assert!(Instant::now() < deadline, "warnings recorded: {g}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// ECE's Java as each agent's Hello reported it (issue 14): the runtime and the trust store
/// line on the server page (escaped) and in its JSON; an agent that predates the report is
/// "not reported", never "none".
#[tokio::test]
async fn the_server_page_shows_each_agents_java_or_that_it_was_not_reported() {
    use common::agent::{hello, Agent};
    let d = Dashboard::start();
    let runtime = "/usr/lib/jvm/java-17-openjdk-amd64";
    let line = "Java trust store: /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates), as JSSE picks it for /usr/lib/jvm/java-17-openjdk-amd64 (JAVA_HOME) <b>x</b>";
    let (_reporting, _) = Agent::connect_with(
        d.agents,
        eceprobe_proto::v1::Hello {
            java_runtime: runtime.into(),
            java_truststore: line.into(),
            ..hello("svc-1", "prod")
        },
    )
    .await;
    let (_none_found, _) = Agent::connect_with(
        d.agents,
        eceprobe_proto::v1::Hello {
            java_truststore: "Java: none found (set [ece] java_home to the runtime ECE runs on); the checks below are judged as this host sees them".into(),
            ..hello("svc-2", "prod")
        },
    )
    .await;
    // An agent older than the report: neither field.
    let (_old, _) = Agent::connect(d.agents, "svc-3").await;

    let page = get(d.web, "/servers/svc-1").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let row = |body: &str, class: &str| {
        let start = body
            .find(&format!("<tr class=\"{class}\">"))
            .unwrap_or_else(|| panic!("no {class} row: {body}"));
        let rest = &body[start..];
        rest[..rest.find("</tr>").unwrap()].to_owned()
    };
    let r = row(&page.body, "java-runtime");
    assert!(
        r.contains("Java (ECE&#39;s runtime)") || r.contains("Java (ECE's runtime)"),
        "{r}"
    );
    assert!(r.contains(&format!("<td>{runtime}</td>")), "{r}");
    let t = row(&page.body, "java-truststore");
    assert!(t.contains("<th>Java trust store</th>"), "{t}");
    assert!(
        t.contains("/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates), as JSSE picks it"),
        "{t}"
    );
    assert!(
        !page.body.contains("<b>x</b>"),
        "the agent's line is escaped"
    );
    assert!(t.contains("&lt;b&gt;x&lt;/b&gt;"), "{t}");
    let api: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/svc-1").await.body).unwrap();
    assert_eq!(api["server"]["java"]["reported"], true);
    assert_eq!(api["server"]["java"]["runtime"], runtime);
    assert_eq!(api["server"]["java"]["truststore"], line);

    // None found: said as the agent said it; the runtime "not identified", not a path.
    let page = get(d.web, "/servers/svc-2").await.body;
    assert!(
        row(&page, "java-runtime").contains("not identified (the trust store line says why)"),
        "{page}"
    );
    assert!(
        row(&page, "java-truststore").contains("Java: none found (set [ece] java_home"),
        "{page}"
    );

    // The old agent: not reported, with its version; never "none".
    let page = get(d.web, "/servers/svc-3").await.body;
    for class in ["java-runtime", "java-truststore"] {
        let r = row(&page, class);
        assert!(
            r.contains(
                "not reported by this server&#39;s agent: its version (0.1.0) predates the Java report"
            ) || r.contains(
                "not reported by this server's agent: its version (0.1.0) predates the Java report"
            ),
            "{r}"
        );
        assert!(!r.to_lowercase().contains("none"), "{r}");
    }
    let api: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/svc-3").await.body).unwrap();
    assert_eq!(api["server"]["java"]["reported"], false);
}

/// Who closes each gap (issue 15), derived from its kind: the probe kind's owner for a
/// failing check, "unknown" for a kind this collector does not know (a newer agent's),
/// on the gaps page (grouped under the team's words), the server page and the JSON API.
#[tokio::test]
async fn each_gap_shows_its_owner_and_an_unknown_kind_none() {
    let d = Dashboard::start();
    let mut pop3 = result(6, "pop3", true);
    if let Some(f) = pop3.failure.as_mut() {
        f.kind = "quantum_tunnel_collapsed".into();
    }
    let _agent = feed_with(d.agents, vec![pop3]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let gaps = loop {
        let g: serde_json::Value =
            serde_json::from_str(&get(d.web, "/api/gaps?severity=gap").await.body).unwrap();
        let gaps = g["gaps"].as_array().cloned().unwrap_or_default();
        if gaps.len() >= 2 {
            break gaps;
        }
        assert!(
            Instant::now() < deadline,
            "no imap and pop3 gaps recorded: {g}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let owner = |gaps: &[serde_json::Value], check: &str| {
        let g = gaps.iter().find(|g| g["check"] == check).unwrap();
        g["owner"].as_str().unwrap().to_owned()
    };
    assert_eq!(owner(&gaps, "imap"), "network", "tcp_refused: {gaps:?}");
    assert_eq!(owner(&gaps, "pop3"), "unknown", "never a guess: {gaps:?}");

    let server: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/svc-1").await.body).unwrap();
    let open = server["open_gaps"].as_array().unwrap();
    assert_eq!(owner(open, "imap"), "network", "{server}");
    assert_eq!(owner(open, "pop3"), "unknown", "{server}");

    let page = get(d.web, "/gaps").await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    assert!(body.contains("<th>owner</th>"), "{body}");
    assert!(body.contains(r#"<td class="owner">network</td>"#), "{body}");
    assert!(body.contains(r#"<td class="owner">unknown</td>"#), "{body}");
    // Grouped: the network team first, the unknown owner last.
    let network = body
        .find("the network team (firewall, proxy, DNS) (1)")
        .expect("network heading");
    let unknown = body
        .find("owner unknown to this collector&#39;s version (1)")
        .or_else(|| body.find("owner unknown to this collector's version (1)"))
        .expect("unknown heading");
    assert!(network < unknown, "{body}");

    let page = get(d.web, "/servers/svc-1").await.body;
    assert!(
        page.contains(r#"title="the network team (firewall, proxy, DNS)">network</td>"#),
        "{page}"
    );
}

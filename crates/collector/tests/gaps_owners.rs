//! The gaps for the people who act on them (issue 15), against a real collector process
//! fed over gRPC: `owner=` on `/gaps` and `/api/gaps` (only that owner's rows, the total
//! and pages counting only them, a bad value a 400 naming the accepted ones), each gap's
//! fix and checklist item on the page, and `gaps --by-owner` / `--owner` from the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::admin;
use common::agent::{hello, Agent, CHECKS};
use common::dashboard::{feed_with, get, result, Dashboard};
use eceprobe_proto::v1::{CheckResult, Finding, Outcome};

const IMAP_HINT: &str = "open TCP 993 to outlook.office365.com from this server (C10)";
const SMTP_HINT: &str =
    "turn SMTP AUTH on for the tenant: Set-TransportConfig -SmtpClientAuthenticationDisabled $false (C5)";

fn failing(seq: u64, check: &str, kind: &str, hint: &str) -> CheckResult {
    let mut r = result(seq, check, true);
    if let Some(f) = r.failure.as_mut() {
        f.kind = kind.into();
        f.hint = hint.into();
    }
    r
}

/// svc-1: imap refused (network), smtp with SMTP AUTH off for the tenant (m365), pop3 with
/// a kind no version knows (unknown). svc-2: imap refused (network) and smtp intercepted (a
/// warning, network). Returns once the tracker has recorded all five.
async fn fleet(d: &Dashboard) -> Vec<tokio::sync::mpsc::Sender<eceprobe_proto::v1::AgentMessage>> {
    let svc1 = feed_with(
        d.agents,
        vec![
            failing(6, "smtp", "smtp_auth_disabled_tenant", SMTP_HINT),
            failing(7, "pop3", "quantum_tunnel_collapsed", "ask the vendor"),
        ],
    )
    .await;
    let (mut agent, _) = Agent::connect_with(d.agents, hello("svc-2", "prod")).await;
    let mut results: Vec<CheckResult> = (1..)
        .zip(CHECKS)
        .map(|(s, c)| result(s, c, c == "imap"))
        .collect();
    let smtp = results.iter_mut().find(|r| r.check == "smtp").unwrap();
    smtp.outcome = Outcome::Warn as i32;
    smtp.warnings = vec![Finding {
        kind: "tls_intercepted".into(),
        stage: "tls".into(),
        detail: "the chain ends at Contoso Proxy CA".into(),
        hint: "exempt smtp.office365.com from TLS inspection (C9)".into(),
        ..Default::default()
    }];
    agent.send_results(results).await;
    let Agent { tx: svc2, mut rx } = agent;
    tokio::spawn(async move { while let Ok(Some(_)) = rx.message().await {} });

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let g = api(d.web, "/api/gaps").await;
        if g["pagination"]["total"] == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "not the five findings: {g}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    vec![svc1, svc2]
}

async fn api(web: SocketAddr, target: &str) -> serde_json::Value {
    let r = get(web, target).await;
    assert_eq!(r.status, 200, "{target}: {}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

fn rows(v: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["agent_id"].as_str().unwrap().to_owned(),
                g["check"].as_str().unwrap().to_owned(),
                g["owner"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(agent: &str, check: &str, owner: &str) -> (String, String, String) {
    (agent.into(), check.into(), owner.into())
}

#[tokio::test]
async fn the_owner_filter_keeps_only_that_teams_gaps_with_their_total_and_fixes() {
    let d = Dashboard::start();
    let _agents = fleet(&d).await;

    // JSON: only the owner's rows, the total counting only them, a page at a time.
    let network = api(d.web, "/api/gaps?owner=network").await;
    assert_eq!(
        rows(&network),
        [
            row("svc-1", "imap", "network"),
            row("svc-2", "imap", "network"),
            row("svc-2", "smtp", "network"),
        ]
    );
    assert_eq!(network["pagination"]["total"], 3, "{network}");
    assert_eq!(network["filters"]["owner"], "network", "{network}");
    let first = api(d.web, "/api/gaps?owner=network&per_page=2").await;
    assert_eq!(
        (&first["pagination"]["total"], &first["pagination"]["pages"]),
        (&3.into(), &2.into()),
        "{first}"
    );
    let second = api(d.web, "/api/gaps?owner=network&per_page=2&page=2").await;
    assert_eq!(rows(&second).len(), 1, "{second}");
    let both = api(d.web, "/api/gaps?owner=network&severity=gap").await;
    assert_eq!(both["pagination"]["total"], 2, "{both}");
    let m365 = api(d.web, "/api/gaps?owner=m365").await;
    assert_eq!(rows(&m365), [row("svc-1", "smtp", "m365")]);
    assert_eq!(m365["pagination"]["total"], 1);
    let unknown = api(d.web, "/api/gaps?owner=unknown").await;
    assert_eq!(rows(&unknown), [row("svc-1", "pop3", "unknown")]);
    for owner in ["ece", "host"] {
        let none = api(d.web, &format!("/api/gaps?owner={owner}")).await;
        assert_eq!(none["pagination"]["total"], 0, "{none}");
    }

    // Each row's fix and checklist item: a failure's from its latest result's hint, the
    // collector's own kinds (the interception warning) from the reports' words.
    let gaps = network["gaps"].as_array().unwrap();
    let imap = gaps.iter().find(|g| g["agent_id"] == "svc-1").unwrap();
    assert_eq!(
        (&imap["fix"], &imap["checklist_item"]),
        (&IMAP_HINT.into(), &"C10".into())
    );
    let smtp = gaps.iter().find(|g| g["check"] == "smtp").unwrap();
    assert_eq!(smtp["checklist_item"], "C9", "{smtp}");
    assert!(
        smtp["fix"]
            .as_str()
            .unwrap()
            .starts_with("TLS to outlook.office365.com:993 is intercepted by a proxy"),
        "{smtp}"
    );
    assert_eq!(m365["gaps"][0]["checklist_item"], "C5", "{m365}");
    assert_eq!(m365["gaps"][0]["fix"], SMTP_HINT, "{m365}");

    // The page: the filter kept in the form and in the pager's links, only the owner's rows,
    // each with "What to do (item)" folded under its detail.
    let page = get(d.web, "/gaps?owner=network&per_page=2").await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    assert!(
        body.contains(r#"<option value="network" selected>network</option>"#),
        "{body}"
    );
    assert!(body.contains("page 1 of 2 (3 in all)"), "{body}");
    assert!(
        body.contains("owner=network&amp;page=2&amp;per_page=2"),
        "{body}"
    );
    assert!(!body.contains(r#"<td class="owner">m365</td>"#), "{body}");
    let page = get(d.web, "/gaps").await.body;
    assert!(page.contains(r#"<td class="owner">m365</td>"#), "{page}");
    assert!(
        page.contains(&format!(
            "<summary>What to do (<span class=\"checklist\" title=\"C10 (ports: TCP 443, 587, 993 and 995 from both server kinds)\">C10</span>)</summary><p class=\"hint\">{IMAP_HINT}</p>"
        )),
        "{page}"
    );
    assert!(page.contains("Set-TransportConfig -SmtpClientAuthenticationDisabled $false (C5)"));

    // A bad owner: the 400 names the value and what is accepted, page and API alike.
    for target in ["/api/gaps?owner=firewall", "/gaps?owner=firewall"] {
        let r = get(d.web, target).await;
        assert_eq!(r.status, 400, "{target}: {}", r.body);
        assert!(
            r.body
                .contains("owner &#39;firewall&#39;: use network, m365, ece, host or unknown")
                || r.body
                    .contains("owner 'firewall': use network, m365, ece, host or unknown"),
            "{target}: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gaps_by_owner_hands_each_team_its_block() {
    let d = Dashboard::start();
    let _agents = fleet(&d).await;
    let query = d.query;
    let (code, out, err) =
        tokio::task::spawn_blocking(move || admin(query, &["gaps", "--by-owner"]))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "What to do, by team:\n\
             \x20 network: the network team (firewall, proxy, DNS)\n\
             \x20   GAP svc-1 imap (failing): {IMAP_HINT}\n\
             \x20   GAP svc-2 imap (failing): {IMAP_HINT}\n\
             \x20   WARNING svc-2 smtp (intercepted): TLS to outlook.office365.com:993 is intercepted by a proxy (the chain ends at a root that is neither Microsoft's nor an expected root you declared): exempt *.office365.com and login.microsoftonline.com from TLS inspection, or OAuth2 mail breaks whenever the proxy's certificate is not trusted by ECE's Java\n\
             \x20 m365: the Microsoft 365 / Entra administrator\n\
             \x20   GAP svc-1 smtp (failing): {SMTP_HINT}\n\
             \x20 unknown: owner unknown to this collector's version\n\
             \x20   GAP svc-1 pop3 (failing): ask the vendor\n"
        )
    );

    // One team's block; as JSON, each gap with its owner, fix and item.
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        admin(query, &["gaps", "--by-owner", "--owner", "m365"])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "What to do, by team:\n\
             \x20 m365: the Microsoft 365 / Entra administrator\n\
             \x20   GAP svc-1 smtp (failing): {SMTP_HINT}\n"
        )
    );
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        admin(
            query,
            &["gaps", "--by-owner", "--owner", "network", "--json"],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let gaps = v.as_array().unwrap();
    assert_eq!(gaps.len(), 3, "{out}");
    assert!(gaps.iter().all(|g| g["owner"] == "network"), "{out}");
    assert_eq!(gaps[0]["checklist_item"], "C10", "{out}");
    assert_eq!(gaps[0]["fix"], IMAP_HINT, "{out}");

    // The plain table filtered too; a bad owner is refused with the accepted values.
    let (code, out, err) =
        tokio::task::spawn_blocking(move || admin(query, &["gaps", "--owner", "unknown"]))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out.lines().count(),
        2,
        "the header and the pop3 row:\n{out}"
    );
    assert!(
        out.contains("pop3") && out.contains("quantum_tunnel_collapsed"),
        "{out}"
    );
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        admin(query, &["gaps", "--history", "--owner", "m365", "--json"])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let checks: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["smtp"], "the history filtered by owner too: {out}");
    let (code, out, err) =
        tokio::task::spawn_blocking(move || admin(query, &["gaps", "--owner", "firewall"]))
            .await
            .unwrap();
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("owner 'firewall': use network, m365, ece, host or unknown"),
        "{err}"
    );
}

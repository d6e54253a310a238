//! The dashboard and JSON API of a real collector process: an agent streams results over
//! gRPC (one hostile host name, a failing IMAP), then a plain HTTP/1.1 client (a raw TCP
//! stream: no HTTP library between the test and the bytes) checks access control, security
//! headers, validation, the overview's cells, the server page and the audit endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{channel, msg};
use eceprobe_checks::{CheckId, FailureKind};
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{
    agent_message, collector_message, AgentMessage, CheckResult, Finding, Hello, OAuthInfo,
    Outcome, ResultBatch, Role,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const TOKEN: &str = "test-token-0123456789abcdef0123456789abcdef";
const HOSTILE: &str = "<script>alert(1)</script>";

struct Dashboard {
    child: Child,
    agents: SocketAddr,
    web: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The collector binary with `[http]` on a free port and a known token; reads the three
/// lines it prints.
fn start() -> Dashboard {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        "[http]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(["serve", "--plaintext", "--listen", "127.0.0.1:0"])
        .args(["--query-listen", "127.0.0.1:0", "--log-level=warn"])
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("c.db"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = || {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        l.trim().to_owned()
    };
    let agents = line()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let _query = line();
    let dashboard = line();
    let url = dashboard.strip_prefix("dashboard on http://").unwrap();
    let (addr, token) = url.split_once("/?token=").unwrap();
    assert_eq!(token, TOKEN, "the printed URL carries the token");
    Dashboard {
        child,
        agents,
        web: addr.parse().unwrap(),
        _dir: dir,
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection.
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, target: &str) -> Resp {
    let bearer = format!("Bearer {TOKEN}");
    http(addr, "GET", target, &[("Authorization", &bearer)], "").await
}

fn result(seq: u64, check: &str, fail: bool) -> CheckResult {
    CheckResult {
        seq,
        check: check.into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms: eceprobe_collector::gaps::now_ms(),
        outcome: if fail { Outcome::Fail } else { Outcome::Pass } as i32,
        duration_us: 20_000,
        failure: fail.then(|| Finding {
            kind: "tcp_refused".into(),
            stage: "tcp".into(),
            detail: "connection refused by 52.97.1.1:993".into(),
            hint: "open TCP 993 to outlook.office365.com from this server (C10)".into(),
        }),
        ..CheckResult::default()
    }
}

/// An agent whose IMAP fails; its stream stays open while the returned sender lives.
async fn feed(addr: SocketAddr) -> mpsc::Sender<AgentMessage> {
    feed_with(addr, Vec::new()).await
}

/// As [`feed`], then `extra` (numbered from 6 on) in the same batch.
async fn feed_with(addr: SocketAddr, extra: Vec<CheckResult>) -> mpsc::Sender<AgentMessage> {
    let mut client = AgentLinkClient::new(channel(addr).await);
    let (tx, rx) = mpsc::channel(16);
    tx.send(msg(agent_message::Body::Hello(Hello {
        agent_id: "svc-1".into(),
        hostname: HOSTILE.into(),
        role: Role::Services as i32,
        deployment: "prod".into(),
        agent_version: "0.1.0".into(),
        probe_interval_s: 60,
        ..Hello::default()
    })))
    .await
    .unwrap();
    let mut stream = client
        .connect(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let checks = ["login-https", "outlook-https", "imap", "pop3", "smtp"];
    let mut results: Vec<CheckResult> = (1..)
        .zip(checks)
        .map(|(s, c)| result(s, c, c == "imap"))
        .collect();
    results.extend(extra);
    let last = results.last().map(|r| r.seq).unwrap();
    tx.send(msg(agent_message::Body::Batch(ResultBatch { results })))
        .await
        .unwrap();
    loop {
        let m = stream.message().await.unwrap().unwrap();
        if let Some(collector_message::Body::Ack(a)) = m.body {
            if a.up_to_seq == last {
                break;
            }
        }
    }
    // Keep reading so the stream stays healthy; it ends with the test.
    tokio::spawn(async move { while let Ok(Some(_)) = stream.message().await {} });
    tx
}

#[tokio::test]
async fn access_needs_the_token_and_the_cookie_flow_works() {
    let d = start();
    let health = http(d.web, "GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    for target in ["/api/overview", "/metrics"] {
        let r = http(d.web, "GET", target, &[], "").await;
        assert_eq!(r.status, 401, "{target}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert!(r.body.starts_with("{\"error\":"), "{}", r.body);
    }
    let wrong = http(
        d.web,
        "GET",
        "/api/overview",
        &[("Authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(wrong.status, 401);
    let page = http(d.web, "GET", "/gaps", &[], "").await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("the collector printed"), "{}", page.body);
    assert_eq!(
        http(d.web, "GET", "/?token=wrong", &[], "").await.status,
        401
    );

    let login = http(
        d.web,
        "GET",
        &format!("/gaps?severity=gap&token={TOKEN}"),
        &[],
        "",
    )
    .await;
    assert_eq!(login.status, 303);
    assert_eq!(login.header("location"), Some("/gaps?severity=gap"));
    let cookie = login.header("set-cookie").unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap();
    let page = http(d.web, "GET", "/gaps?severity=gap", &[("Cookie", pair)], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The token in a URL is for pages only.
    let api = http(
        d.web,
        "GET",
        &format!("/api/overview?token={TOKEN}"),
        &[],
        "",
    )
    .await;
    assert_eq!(api.status, 401);
}

#[tokio::test]
async fn every_answer_has_the_security_headers() {
    let d = start();
    for (target, authed) in [
        ("/", true),
        ("/api/overview", true),
        ("/api/gaps", false),
        ("/nowhere", true),
    ] {
        let r = match authed {
            true => get(d.web, target).await,
            false => http(d.web, "GET", target, &[], "").await,
        };
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{target}: {csp}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{target}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{target}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{target}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{target}");
    }
    let page = get(d.web, "/").await;
    let css = page
        .body
        .split("href=\"/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let asset = http(d.web, "GET", &format!("/assets/{css}"), &[], "").await;
    assert_eq!(asset.status, 200);
    assert!(asset
        .header("cache-control")
        .unwrap()
        .contains("max-age=31536000"));
    assert!(!page.body.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn bad_input_is_a_400_with_a_message() {
    let d = start();
    let long = "x".repeat(300);
    for (target, expect) in [
        ("/api/overview?per_page=0", "per_page '0'"),
        ("/api/overview?per_page=abc", "per_page 'abc'"),
        ("/api/overview?page=-1", "page '-1'"),
        ("/api/overview?colour=red", "colour"),
        ("/api/gaps?check=ftp", "check 'ftp'"),
        ("/api/gaps?severity=fatal", "severity 'fatal'"),
        ("/api/servers/a%2Fb", "agent id 'a/b'"),
        (&format!("/api/servers/{long}"), "agent id"),
        ("/api/servers/svc-1/checks/ftp/history", "check 'ftp'"),
        (
            "/api/servers/svc-1/checks/imap/history?limit=0",
            "limit '0'",
        ),
        ("/api/audits/not-an-audit", "audit id"),
        ("/api/audits?limit=5000", "limit '5000'"),
        ("/api/audits/a-1764000000000-zzzz/report.md", "audit id"),
    ] {
        let r = get(d.web, target).await;
        assert_eq!(r.status, 400, "{target}: {}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let message = v["error"].as_str().unwrap();
        assert!(message.contains(expect), "{target}: {message}");
    }
    let page = get(d.web, "/?per_page=0").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("per_page"), "{}", page.body);
    for target in [
        "/api/servers/nobody",
        "/servers/nobody",
        "/api/audits/a-1764000000000-1f2e",
    ] {
        assert_eq!(get(d.web, target).await.status, 404, "{target}");
    }
}

#[tokio::test]
async fn the_overview_and_server_page_show_what_the_agent_sent() {
    let d = start();
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

#[tokio::test]
async fn audits_start_only_from_json() {
    let d = start();
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    let form = http(
        d.web,
        "POST",
        "/api/audits",
        &[auth, ("Content-Type", "application/x-www-form-urlencoded")],
        "deployment=",
    )
    .await;
    assert_eq!(form.status, 415, "{}", form.body);
    let bad = http(
        d.web,
        "POST",
        "/api/audits",
        &[auth, ("Content-Type", "application/json")],
        "{\"deadline_s\": 99999}",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let ok = http(
        d.web,
        "POST",
        "/api/audits",
        &[auth, ("Content-Type", "application/json")],
        "{\"deployment\": \"\", \"deadline_s\": 1}",
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    let id = v["audit_id"].as_str().unwrap();
    assert_eq!(get(d.web, &format!("/api/audits/{id}")).await.status, 200);
    let page = get(d.web, &format!("/audits/{id}")).await;
    assert!(page.body.contains(&format!("/api/audits/{id}/report.csv")));
    let md = get(d.web, &format!("/api/audits/{id}/report.md")).await;
    assert_eq!(md.status, 200);
    assert!(md
        .header("content-type")
        .unwrap()
        .starts_with("text/markdown"));
    assert_eq!(
        get(d.web, &format!("/api/audits/{id}/report.pdf"))
            .await
            .status,
        404
    );
    let list: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/audits").await.body).unwrap();
    assert_eq!(list["audits"][0]["audit_id"], id);
}

const MAILBOX: &str = "ece-mail@contoso.com";
const TRACE_ID: &str = "0d5bd2a1-7f8e-4f55-9a0b-2b6c1e0a3f00";
const CORRELATION_ID: &str = "9f1c7e52-3b7d-4c1e-8a46-5d2e0f6b7c11";

/// A shared mailbox's checks: the token is granted (for another user, whom the probe
/// accepts for a shared mailbox) with an unexpected lifetime; the IMAP login is accepted
/// but the mailbox cannot be opened. A second mailbox passes.
fn oauth_results() -> Vec<CheckResult> {
    let hint = FailureKind::MailboxNotConnected
        .hint(
            CheckId::OauthImap,
            eceprobe_checks::Role::Services,
            "outlook.office365.com",
            993,
        )
        .replace("<mailbox>", MAILBOX)
        .replace("<token user>", "someone.else@contoso.com");
    let token_user = "someone.else@contoso.com";
    let mut token = result(6, &format!("oauth-token/{MAILBOX}"), false);
    token.host = "login.microsoftonline.com".into();
    token.port = 443;
    token.outcome = Outcome::Warn as i32;
    token.warnings.push(Finding {
        kind: "token_lifetime_unexpected".into(),
        stage: "token".into(),
        detail: "the access token lives 5400 s, not 3600 s".into(),
        hint: "apply a 60-minute token lifetime policy (C3)".into(),
    });
    token.oauth = Some(OAuthInfo {
        mailbox: MAILBOX.into(),
        grant: "refresh_token".into(),
        granted_scopes: vec![
            "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
            "https://outlook.office.com/SMTP.Send".into(),
        ],
        expires_in_s: 5399,
        refresh_token_issued: true,
        token_user: token_user.into(),
        token_scopes: vec!["IMAP.AccessAsUser.All".into(), "SMTP.Send".into()],
        audience: "https://outlook.office.com".into(),
        token_lifetime_s: 5400,
        trace_id: TRACE_ID.into(),
        correlation_id: CORRELATION_ID.into(),
        ..OAuthInfo::default()
    });
    let mut imap = result(7, &format!("oauth-imap/{MAILBOX}"), true);
    imap.failure = Some(Finding {
        kind: "mailbox_not_connected".into(),
        stage: "login".into(),
        detail: "NO [AUTHORIZATIONFAILED] cannot open the mailbox".into(),
        hint,
    });
    imap.oauth = Some(OAuthInfo {
        mailbox: MAILBOX.into(),
        token_user: token_user.into(),
        ..OAuthInfo::default()
    });
    let other = result(8, "oauth-imap/sales@contoso.com", false);
    vec![token, imap, other]
}

#[tokio::test]
async fn mailboxes_are_judged_and_shown_with_the_token_user() {
    let d = start();
    let _agent = feed_with(d.agents, oauth_results()).await;
    let v: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/overview").await.body).unwrap();
    assert_eq!(
        v["checks"].as_array().unwrap().len(),
        6,
        "catalog columns only"
    );
    let server = &v["servers"][0];
    assert_eq!(server["cells"].as_array().unwrap().len(), 6);
    let m = &server["mailboxes"];
    assert_eq!(m["state"], "gap", "{m}");
    assert_eq!((&m["mailboxes"], &m["in_state"]), (&2.into(), &1.into()));
    assert_eq!(m["summary"], "gap: 1 of 2");
    let overview = get(d.web, "/").await.body;
    assert!(overview.contains(">mailboxes</th>"), "the column");
    assert!(overview.contains("href=\"/servers/svc-1#mailboxes\""));
    assert!(overview.contains("gap: 1 of 2"));

    let page = get(d.web, "/servers/svc-1").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    for expect in [
        "Mailboxes (OAuth)",
        "id=\"mailboxes\"",
        MAILBOX,
        "sales@contoso.com",
        "mailbox_not_connected",
        "at stage login",
        "Add-MailboxPermission -Identity ece-mail@contoso.com -User someone.else@contoso.com",
        "Token user mismatch",
        "someone.else@contoso.com",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "5400 s (90 min)",
        TRACE_ID,
        CORRELATION_ID,
        "token_lifetime_unexpected",
        "id=\"check-oauth-imap/ece-mail@contoso.com\"",
    ] {
        assert!(body.contains(expect), "{expect} not in the server page");
    }
    assert!(body.matches("<svg").count() >= 8, "a chart per check");
    let s: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/svc-1").await.body).unwrap();
    let mailbox = &s["mailboxes"][0];
    assert_eq!(mailbox["mailbox"], MAILBOX);
    assert_eq!(mailbox["state"], "gap");
    assert_eq!(mailbox["token_user"], "someone.else@contoso.com");
    assert_eq!(mailbox["token_user_mismatch"], true);
    assert_eq!(s["mailboxes"][1]["state"], "pass");
    let imap = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == format!("oauth-imap/{MAILBOX}"))
        .unwrap();
    assert_eq!(imap["mailbox"], MAILBOX);
    assert_eq!(imap["failure"]["stage"], "login");

    // History: the name's '/' percent-encoded in the path.
    let h = get(
        d.web,
        "/api/servers/svc-1/checks/oauth-imap%2Fece-mail%40contoso.com/history",
    )
    .await;
    assert_eq!(h.status, 200, "{}", h.body);
    let h: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(h["check"], format!("oauth-imap/{MAILBOX}"));
    assert_eq!(h["points"][0]["failure_kind"], "mailbox_not_connected");
    let bad = get(
        d.web,
        "/api/servers/svc-1/checks/oauth-imap%2FECE%40x.com/history",
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("lower case"), "{}", bad.body);

    // The tracker records the failing login as a gap, the lifetime as a warning.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g: serde_json::Value =
            serde_json::from_str(&get(d.web, "/api/gaps?server=svc-1").await.body).unwrap();
        let gaps = g["gaps"].as_array().cloned().unwrap_or_default();
        let has = |check: &str, severity: &str, kind: &str| {
            gaps.iter().any(|x| {
                x["check"] == format!("{check}/{MAILBOX}")
                    && x["severity"] == severity
                    && x["kind"] == kind
            })
        };
        if has("oauth-imap", "gap", "failing")
            && has("oauth-token", "warning", "token_lifetime_unexpected")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "oauth findings not recorded: {g}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let filtered = get(d.web, "/api/gaps?check=oauth-imap%2Fece-mail%40contoso.com").await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert!(
        filtered.body.contains("\"kind\":\"failing\""),
        "{}",
        filtered.body
    );

    let metrics = get(d.web, "/metrics").await.body;
    assert!(
        metrics.contains("eceprobe_check_success{deployment=\"prod\",server=\"svc-1\",role=\"services\",check=\"oauth-imap/ece-mail@contoso.com\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hostile_mailbox_name_is_refused_at_ingest() {
    let d = start();
    for (name, expect) in [
        (
            "oauth-imap/<script>alert(1)</script>@contoso.com",
            "before the '@'",
        ),
        ("oauth-imap/ECE-Mail@contoso.com", "lower case"),
        ("oauth-imap", "per mailbox"),
        ("imap/ece-mail@contoso.com", "only the OAuth checks"),
    ] {
        let mut client = AgentLinkClient::new(channel(d.agents).await);
        let (tx, rx) = mpsc::channel(4);
        tx.send(msg(agent_message::Body::Hello(Hello {
            agent_id: "mallory".into(),
            role: Role::Services as i32,
            deployment: "prod".into(),
            ..Hello::default()
        })))
        .await
        .unwrap();
        let mut stream = client
            .connect(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let results = vec![result(1, name, true)];
        tx.send(msg(agent_message::Body::Batch(ResultBatch { results })))
            .await
            .unwrap();
        let err = loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    let acked = matches!(m.body, Some(collector_message::Body::Ack(_)));
                    assert!(!acked, "{name} was stored");
                }
                Ok(None) => panic!("{name}: the stream ended without an error"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{name}");
        assert!(err.message().contains(expect), "{name}: {}", err.message());
        assert!(err.message().contains("seq 1"), "{}", err.message());
    }
    let v: serde_json::Value =
        serde_json::from_str(&get(d.web, "/api/servers/mallory").await.body).unwrap();
    assert!(
        v["checks"].as_array().unwrap().is_empty(),
        "nothing stored: {v}"
    );
}

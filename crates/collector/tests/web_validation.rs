//! What the dashboard and JSON API of a real collector process refuse: bad parameters are
//! a 400 that names them, unknown servers and audits a 404, and an audit starts only from
//! a JSON request (never a form); a method a path does not take is a 405 and a body too
//! large a 413, each with the JSON error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dashboard::{get, http, Dashboard, TOKEN};

#[tokio::test]
async fn bad_input_is_a_400_with_a_message() {
    let d = Dashboard::start();
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
async fn audits_start_only_from_json() {
    let d = Dashboard::start();
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

#[tokio::test]
async fn a_method_a_path_does_not_take_and_a_body_too_large_are_json_errors() {
    let d = Dashboard::start();
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    for (method, target) in [("DELETE", "/api/overview"), ("PUT", "/api/audits")] {
        let r = http(d.web, method, target, &[auth], "").await;
        assert_eq!(r.status, 405, "{method} {target}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let message = v["error"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{method} is not accepted")),
            "{message}"
        );
    }
    let page = http(d.web, "DELETE", "/gaps", &[auth], "").await;
    assert_eq!(page.status, 405);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));

    let json = ("Content-Type", "application/json");
    let big = format!("{{\"deployment\": \"{}\"}}", "x".repeat(20_000));
    let r = http(d.web, "POST", "/api/audits", &[auth, json], &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("over 16384 bytes"),
        "{v}"
    );
}

//! What the dashboard and JSON API of a real collector process show once an agent has
//! streamed its results over gRPC (one hostile host name, a failing IMAP): the overview's
//! cells, the server page, a check's history and the gap the tracker records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::dashboard::{feed, get, Dashboard, HOSTILE};

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

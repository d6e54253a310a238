//! Microsoft's endpoint list where the user looks, on a real collector process fetching it
//! from a real loopback HTTP server: `/api/endpoints` (origin and sets), the gaps page's
//! footer, `/metrics`; an agent's IMAP result whose OS resolver gave an address outside the
//! list's ranges is an `address_not_microsoft` warning in `/api/gaps`, owned by the network
//! team. A service that cannot be reached leaves the snapshot in use, the error shown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::dashboard::{feed_with, get, result, Dashboard};
use common::endpoints_service::{list_json, serve, Service};
use eceprobe_proto::v1::Dns;

/// Polls `target` until `until` holds of its JSON (at most 20 s).
async fn wait_json(
    d: &Dashboard,
    target: &str,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(d.web, target).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        if until(&v) || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_in_use_is_shown_and_judges_what_the_servers_dns_says() {
    let state = Arc::new(Mutex::new(Service {
        version: "2026110300".into(),
        list: (200, list_json("40.96.0.0/13").into_bytes()),
        asked: Vec::new(),
        stall: false,
    }));
    let service = serve(Arc::clone(&state)).await;
    let d = Dashboard::start_with_config(&format!(
        "[microsoft_endpoints]\nurl = \"http://{service}\"\n"
    ));
    let v = wait_json(&d, "/api/endpoints", |v| {
        v["origin"]["version"] == "2026110300"
    })
    .await;
    let source = format!("http://{service}/endpoints/Worldwide");
    assert_eq!(v["origin"]["source"], source.as_str(), "{v:#}");
    assert_eq!(v["sets_count"], 2, "{v:#}");
    assert!(v["last_error"].is_null(), "{v:#}");
    let two = &v["sets"][0];
    assert_eq!(two["id"], 2);
    assert_eq!(two["serviceArea"], "Exchange");
    assert_eq!(two["category"], "Allow");
    assert_eq!(two["required"], false);
    assert_eq!(two["urls"][0], "outlook.office365.com");
    assert_eq!(two["ips"][0], "40.96.0.0/13");
    assert_eq!(two["tcpPorts"], "587,993,995,143");

    let page = get(d.web, "/gaps").await;
    assert!(
        page.body.contains(&format!(
            "Microsoft's endpoint list in use: {source}, Microsoft's version 2026110300, fetched "
        )),
        "{}",
        page.body
    );
    let metrics = get(d.web, "/metrics").await.body;
    assert!(
        metrics.contains(&format!(
            "eceprobe_endpoint_list_loaded{{source=\"{source}\",version=\"2026110300\""
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("eceprobe_endpoint_list_load_failed 0"),
        "{metrics}"
    );

    // An IMAP result whose OS resolver gave one of Microsoft's addresses and one that is
    // not; a POP3 result pinned with `resolve` to the same foreign address is not judged.
    let mut imap = result(6, "imap", false);
    imap.dns = Some(Dns {
        source: "system".into(),
        addresses: vec!["40.97.1.2:993".into(), "10.9.8.7:993".into()],
        ..Dns::default()
    });
    let mut pop3 = result(7, "pop3", false);
    pop3.port = 995;
    pop3.dns = Some(Dns {
        source: "override".into(),
        addresses: vec!["10.9.8.7:995".into()],
        ..Dns::default()
    });
    let _agent = feed_with(d.agents, vec![imap, pop3]).await;
    let is_it = |g: &serde_json::Value| g["kind"] == "address_not_microsoft";
    let v = wait_json(&d, "/api/gaps", |v| {
        v["gaps"].as_array().unwrap().iter().any(is_it)
    })
    .await;
    let found: Vec<&serde_json::Value> = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| is_it(g))
        .collect();
    assert_eq!(found.len(), 1, "{v:#}");
    let g = found[0];
    assert_eq!(g["check"], "imap");
    assert_eq!(g["severity"], "warning");
    assert_eq!(g["owner"], "network");
    let detail = g["detail"].as_str().unwrap();
    assert!(
        detail.contains("with address 10.9.8.7 that lies outside"),
        "{detail}"
    );
    assert!(detail.contains("set 2 (Exchange, Allow)"), "{detail}");
    assert!(
        detail.contains(&format!(
            "list: {source}, Microsoft's version 2026110300, fetched "
        )),
        "{detail}"
    );
    // The fix is said once, by the remedy beside the detail, not in the detail too.
    assert!(!detail.contains("Fix"), "{detail}");
    assert!(!detail.contains("40.97.1.2"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_leaves_the_snapshot_with_the_error_shown() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let d = Dashboard::start_with_config(&format!(
        "[microsoft_endpoints]\nurl = \"http://{closed}\"\n"
    ));
    let v = wait_json(&d, "/api/endpoints", |v| !v["last_error"].is_null()).await;
    assert!(
        v["origin"]["source"].as_str().unwrap().contains("snapshot"),
        "{v:#}"
    );
    let message = v["last_error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("http://{closed}/version/Worldwide"))
            && message.contains("connection refused")
            && message.contains("the list in use stays"),
        "{message}"
    );
    let page = get(d.web, "/gaps").await.body;
    assert!(page.contains("Last load failed"), "{page}");
    assert!(
        page.contains("Microsoft's endpoint list in use: the snapshot shipped with eceprobe (Worldwide sets 1, 2, 56 and 125, made 2026-12-06; not a version Microsoft published), 4 endpoint sets"),
        "{page}"
    );
    assert!(
        page.contains(&format!("http://{closed}/version/Worldwide")),
        "{page}"
    );
    let metrics = get(d.web, "/metrics").await.body;
    assert!(
        metrics.contains("eceprobe_endpoint_list_load_failed 1"),
        "{metrics}"
    );
}

//! A path trace as the agent sends it (issue 13, item 1) reaches the collector's store and
//! the server page: the verdict naming the device, the device in its own field, and the
//! hops with what answered each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dashboard::{feed_with, get, result, Dashboard};
use eceprobe_proto::v1::{Attempt, Finding, Hop, PathTrace};

const VERDICT: &str = "SYN to 995 passes 10.214.1.1 and 10.214.2.2, then nothing: 10.214.2.2 or the device after it drops it (no answer from the next 3 hops)";

#[tokio::test]
async fn the_server_page_shows_the_path_and_names_the_device() {
    let d = Dashboard::start();
    let hop = |ttl: u32, address: &str, answer: &str| Hop {
        ttl,
        address: address.into(),
        rtt_us: (!address.is_empty()).then_some(800),
        answer: answer.into(),
        ..Hop::default()
    };
    let mut pop3 = result(6, "pop3", true);
    pop3.port = 995;
    let detail = format!("no answer from 52.97.1.1:995 within 5000 ms; path: {VERDICT}");
    pop3.failure = Some(Finding {
        kind: "tcp_timeout".into(),
        stage: "tcp".into(),
        detail: detail.clone(),
        hint: "open TCP 995 to outlook.office365.com from this server (C10)".into(),
        device: "10.214.2.2".into(),
    });
    pop3.attempts = vec![Attempt {
        address: "52.97.1.1:995".into(),
        failure: pop3.failure.clone(),
        path: Some(PathTrace {
            method: "tcp_syn_ttl".into(),
            port: 995,
            hops: vec![
                hop(1, "10.214.1.1", "time_exceeded"),
                hop(2, "10.214.2.2", "time_exceeded"),
                hop(3, "", "no_answer"),
            ],
            verdict: VERDICT.into(),
            device: "10.214.2.2".into(),
            probes_sent: 6,
            duration_us: 2_700_000,
        }),
        ..Attempt::default()
    }];
    let _agent = feed_with(d.agents, vec![pop3]).await;

    let r = get(d.web, "/api/servers/svc-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "pop3")
        .unwrap();
    assert_eq!(check["failure"]["device"], "10.214.2.2", "{check:#}");
    let path = &check["attempts"][0]["path"];
    assert_eq!(path["verdict"], VERDICT, "{path:#}");
    assert_eq!(path["device"], "10.214.2.2", "{path:#}");
    assert_eq!(path["hops"][0]["answer"], "ICMP time exceeded", "{path:#}");
    assert_eq!(path["hops"][2]["answer"], "no answer", "{path:#}");

    let page = get(d.web, "/servers/svc-1").await.body;
    for needle in [
        "Device on the path: </strong>10.214.2.2",
        "Path to port 995: </strong>",
        VERDICT,
        "ICMP time exceeded",
        "6 SYNs, 2.70 s",
    ] {
        assert!(page.contains(needle), "{needle} not on the page");
    }
}

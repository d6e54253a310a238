//! The latency warnings as a user sees them, from a real collector process fed over gRPC
//! and stored in its SQLite file: one server much slower than its three peers is
//! `slower_than_peers` with both figures; a server whose latency jumps over its own last 7
//! days is `latency_regression`; a healthy fleet with ordinary jitter (and a single slow
//! probe) flags nothing. The results carry their own start times, spread over days, so the
//! 7-day window needs no waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::agent::{hello, Agent};
use common::dashboard::{get, Dashboard};
use eceprobe_proto::v1::{Attempt, CheckResult, Dns, Outcome, StageTiming};
use serde_json::Value;

const HOUR_MS: i64 = 3_600_000;

/// An hour boundary a week ago, so every history fits in the window before "now".
fn week_ago() -> i64 {
    let now = eceprobe_proto::now_ms();
    (now - 8 * 24 * HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS
}

/// A passing IMAP result whose used address took `tcp_ms` to connect and `tls_ms` for
/// the handshake.
fn imap(seq: u64, started_unix_ms: i64, tcp_ms: u64, tls_ms: u64) -> CheckResult {
    let stage = |name: &str, ms: u64| StageTiming {
        stage: name.into(),
        ok: true,
        duration_us: ms * 1000,
    };
    CheckResult {
        seq,
        check: "imap".into(),
        host: "outlook.office365.com".into(),
        port: 993,
        started_unix_ms,
        outcome: Outcome::Pass as i32,
        duration_us: (tcp_ms + tls_ms + 40) * 1000,
        dns: Some(Dns {
            source: "system".into(),
            duration_us: 2_000,
            addresses: vec!["52.97.1.1".into()],
            ..Dns::default()
        }),
        used_address: "52.97.1.1:993".into(),
        attempts: vec![Attempt {
            address: "52.97.1.1:993".into(),
            stages: vec![
                stage("tcp", tcp_ms),
                stage("tls", tls_ms),
                stage("protocol", 40),
            ],
            ..Attempt::default()
        }],
        ..CheckResult::default()
    }
}

/// One services server of deployment prod: `history` hourly results from a week ago, then
/// `recent` results a minute apart at the end; each a (tcp ms, tls ms) pair.
async fn server(d: &Dashboard, id: &str, history: &[(u64, u64)], recent: &[(u64, u64)]) {
    let (mut agent, _) = Agent::connect_with(d.agents, hello(id, "prod")).await;
    let start = week_ago();
    let mut results = Vec::new();
    for (i, (tcp, tls)) in history.iter().enumerate() {
        let seq = results.len() as u64 + 1;
        results.push(imap(seq, start + i as i64 * HOUR_MS, *tcp, *tls));
    }
    let end = start + history.len() as i64 * HOUR_MS;
    for (i, (tcp, tls)) in recent.iter().enumerate() {
        let seq = results.len() as u64 + 1;
        results.push(imap(seq, end + i as i64 * 60_000, *tcp, *tls));
    }
    agent.send_results(results).await;
}

async fn json(d: &Dashboard, target: &str) -> Value {
    let r = get(d.web, target).await;
    assert_eq!(r.status, 200, "{target}: {}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

fn warnings(v: &Value) -> Vec<Value> {
    v["latency_warnings"].as_array().unwrap().clone()
}

/// The overview's IMAP cell of a server.
fn imap_cell(overview: &Value, id: &str) -> Value {
    let server = overview["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["agent_id"] == id)
        .unwrap();
    server["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "imap")
        .unwrap()
        .clone()
}

/// Ordinary jitter: tcp 25-40 ms, tls 100-140 ms.
fn normal(i: usize) -> (u64, u64) {
    (25 + (i * 7 % 16) as u64, 100 + (i * 13 % 41) as u64)
}

#[tokio::test]
async fn one_server_much_slower_than_its_three_peers() {
    let d = Dashboard::start();
    let recent = |n: usize| (0..5).map(|i| normal(i + n)).collect::<Vec<_>>();
    for (n, id) in ["svc-1", "svc-2", "svc-3"].iter().enumerate() {
        server(&d, id, &[], &recent(n)).await;
    }
    // The same check on an application server is not a peer: its slowness says nothing.
    let app = hello("app-1", "prod");
    let app = eceprobe_proto::v1::Hello {
        role: eceprobe_proto::v1::Role::Application as i32,
        ..app
    };
    let (mut a, _) = Agent::connect_with(d.agents, app).await;
    let start = week_ago();
    a.send_results(
        (1..=5)
            .map(|s| imap(s, start + s as i64, 30, 3_000))
            .collect(),
    )
    .await;
    // svc-4: TLS about 1.9 s; tcp as its peers'.
    let slow = [
        (30, 1_900),
        (31, 1_850),
        (29, 2_000),
        (30, 1_950),
        (32, 1_880),
    ];
    server(&d, "svc-4", &[], &slow).await;

    let v = json(&d, "/api/servers/svc-4").await;
    let w = warnings(&v);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["kind"], "slower_than_peers");
    assert_eq!(w[0]["stage"], "tls");
    assert_eq!(w[0]["here_us"], 1_900_000);
    assert_eq!(w[0]["reference_count"], 3);
    let detail = w[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("tls on imap (outlook.office365.com:993) took 1.9 s here (median of the last 5); the median of 3 other services servers of deployment prod is 0.1"),
        "{detail}"
    );
    let hint = w[0]["hint"].as_str().unwrap();
    assert!(hint.contains("compare this server's path"), "{hint}");
    assert!(hint.contains("(C10)"), "{hint}");

    // The server page says it on the check, with both figures and what to do.
    let page = get(d.web, "/servers/svc-4").await;
    assert!(page.body.contains("slower_than_peers"), "{}", page.body);
    assert!(page.body.contains("took 1.9 s here"));
    assert!(page.body.contains("What to do: "));

    // The overview: the cell is amber with the kind, and the warning is listed.
    let o = json(&d, "/api/overview").await;
    assert_eq!(o["latency_warnings"], 1);
    let cell = imap_cell(&o, "svc-4");
    assert_eq!(
        (cell["state"].as_str(), cell["kind"].as_str()),
        (Some("warn"), Some("slower_than_peers"))
    );
    for peer in ["svc-1", "svc-2", "svc-3", "app-1"] {
        assert_eq!(imap_cell(&o, peer)["state"], "pass", "{peer}");
        assert!(warnings(&json(&d, &format!("/api/servers/{peer}")).await).is_empty());
    }
    let html = get(d.web, "/").await.body;
    assert!(html.contains("Latency warnings on this page"));
    assert!(html.contains("took 1.9 s here"));

    // The admin CLI's `show` (the Query API) says it too, with what to do.
    let query = d.query;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
            .args(["show", "svc-4", "--collector", &format!("http://{query}")])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Latency warnings (computed now, not gaps):"),
        "{text}"
    );
    assert!(
        text.contains(
            "imap (slower_than_peers; owner: network): tls on imap (outlook.office365.com:993) took 1.9 s here"
        ),
        "{text}"
    );
    assert!(text.contains("What to do:"), "{text}");
}

#[tokio::test]
async fn a_jump_over_its_own_last_7_days_is_a_regression() {
    let d = Dashboard::start();
    // 30 hours of tcp 30-34 ms (median 32 ms), then tcp about 0.9 s.
    let history: Vec<(u64, u64)> = (0..30).map(|i| (30 + i as u64 % 5, 110)).collect();
    let jump = [(900, 110), (950, 112), (880, 108), (910, 111), (930, 109)];
    server(&d, "svc-1", &history, &jump).await;
    let w = warnings(&json(&d, "/api/servers/svc-1").await);
    assert_eq!(
        w.len(),
        1,
        "alone, it has no peers to be slower than: {w:?}"
    );
    assert_eq!(w[0]["kind"], "latency_regression");
    assert_eq!(w[0]["stage"], "tcp");
    assert_eq!(
        w[0]["detail"],
        "tcp on imap (outlook.office365.com:993) took 0.91 s here (median of the last 5); its median over the last 7 days (30 hourly samples) is 32 ms"
    );
    assert!(w[0]["hint"]
        .as_str()
        .unwrap()
        .contains("its own median of the last 7 days"));
    let o = json(&d, "/api/overview").await;
    assert_eq!(imap_cell(&o, "svc-1")["kind"], "latency_regression");
    let page = get(d.web, "/servers/svc-1").await.body;
    assert!(page.contains("latency_regression"));
    assert!(page.contains("its median over the last 7 days (30 hourly samples) is 32 ms"));

    // The same history with only 20 hours is too short to judge.
    server(&d, "svc-2", &history[..20], &jump).await;
    assert!(warnings(&json(&d, "/api/servers/svc-2").await).is_empty());
}

#[tokio::test]
async fn a_healthy_fleet_with_jitter_flags_nothing() {
    let d = Dashboard::start();
    for n in 0..5 {
        let history: Vec<(u64, u64)> = (0..168).map(|i| normal(i + n * 31)).collect();
        let mut recent: Vec<(u64, u64)> = (0..5).map(|i| normal(i + n * 7)).collect();
        if n == 1 {
            // One slow probe among five is noise.
            recent[2] = (2_500, 3_000);
        }
        if n == 2 {
            // A server a little slower than the rest (2x): within the thresholds.
            recent = recent.iter().map(|(a, b)| (a * 2, b * 2)).collect();
        }
        server(&d, &format!("svc-{n}"), &history, &recent).await;
    }
    let o = json(&d, "/api/overview").await;
    assert_eq!(o["latency_warnings"], 0, "{o}");
    for n in 0..5 {
        let id = format!("svc-{n}");
        assert_eq!(imap_cell(&o, &id)["state"], "pass", "{id}");
        assert!(
            warnings(&json(&d, &format!("/api/servers/{id}")).await).is_empty(),
            "{id}"
        );
    }
    assert!(!get(d.web, "/")
        .await
        .body
        .contains("Latency warnings on this page"));
}

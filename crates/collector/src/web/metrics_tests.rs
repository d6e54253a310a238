//! /metrics: the exposition format, escaping, and the families over a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::audits::Audits;
use crate::gaps::{Policy, Tracker};
use crate::ingest::{IngestCounters, Sessions};
use crate::store::{AgentRecord, FoundGap, NewResult, Store};
use crate::web::exposition::push_value;

/// A scrape's body as text, rendered as the handler renders it.
async fn scrape(state: &WebState, form: Form) -> String {
    String::from_utf8(render(state, form).await.unwrap().to_vec()).unwrap()
}

fn agent(id: &str, deployment: &str, role: &str) -> AgentRecord {
    AgentRecord {
        role: role.to_owned(),
        deployment: deployment.to_owned(),
        seen_unix_ms: 1_700_000_000_500,
        ..AgentRecord::for_test(id)
    }
}

fn result(seq: u64, check: &str, outcome: &str, stages: &[(&str, u64)]) -> NewResult {
    NewResult {
        seq,
        check: check.to_owned(),
        started_unix_ms: 1_700_000_000_000,
        outcome: outcome.to_owned(),
        failure_kind: (outcome == "fail").then(|| "tcp_refused".to_owned()),
        failure_stage: (outcome == "fail").then(|| "tcp".to_owned()),
        duration_us: 1_500_000,
        warning_kinds: if outcome == "warn" {
            vec!["tls_intercepted".to_owned()]
        } else {
            Vec::new()
        },
        stage_durations: stages.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect(),
        system_dns: None,
        // Never read by /metrics: a blob that is not even protobuf proves it.
        detail: vec![0xff; 64],
        audit_id: String::new(),
    }
}

async fn state(path: &Path) -> WebState {
    let store = Store::open(path).await.unwrap();
    let tracker = Tracker::new(store.clone(), Policy::default());
    let sessions = Sessions::new();
    let audits = Audits::new(store.clone(), sessions.clone(), tracker.policy());
    WebState {
        store,
        tracker,
        sessions,
        audits,
        token: Arc::new("t".to_owned()),
        counters: Arc::new(IngestCounters::new()),
    }
}

#[test]
fn webhooks_have_delivered_dead_lettered_and_pending_per_target() {
    let mut out = Exposition::with_capacity(1024);
    webhook_families(&mut out, &[]);
    assert_eq!(out.text, "", "no webhook configured: no family");
    let hooks = [WebhookStats {
        target: "https://hooks.example.com:443".into(),
        delivered: 7,
        dead_letters: 2,
        pending: 1,
    }];
    webhook_families(&mut out, &hooks);
    for line in [
        "# TYPE eceprobe_webhook_events_total counter",
        "eceprobe_webhook_events_total{webhook=\"https://hooks.example.com:443\",outcome=\"delivered\"} 7",
        "eceprobe_webhook_events_total{webhook=\"https://hooks.example.com:443\",outcome=\"dead_lettered\"} 2",
        "# TYPE eceprobe_webhook_pending_events gauge",
        "eceprobe_webhook_pending_events{webhook=\"https://hooks.example.com:443\"} 1",
    ] {
        assert!(out.text.lines().any(|l| l == line), "{line} in:\n{}", out.text);
    }
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut out = Exposition::with_capacity(0);
    out.family("m", Type::Gauge, "a \\ b\nc \"q\"");
    out.sample("m", &[("l", "x\\y\"z\nw"), ("k", "plain")], 0.25);
    out.sample("m", &[], f64::NAN);
    assert_eq!(
        out.text,
        "# HELP m a \\\\ b\\nc \"q\"\n# TYPE m gauge\n\
         m{l=\"x\\\\y\\\"z\\nw\",k=\"plain\"} 0.25\nm NaN\n"
    );
    let mut v = String::new();
    push_value(&mut v, 1e-7);
    push_value(&mut v, 3.0);
    assert_eq!(v, "0.00000013");
}

#[tokio::test]
async fn a_small_fleet_renders_a_line_per_server_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir.path().join("c.db")).await;
    let store = &state.store;
    store
        .upsert_agent(&agent("app-1", "prod", "application"))
        .await
        .unwrap();
    // A deployment name with every character the format escapes.
    store
        .upsert_agent(&agent("svc-1", "lab \"b\"\\\n", "services"))
        .await
        .unwrap();
    store
        .insert_results(
            "app-1",
            vec![
                result(1, "imap", "pass", &[("dns", 2_000), ("tcp", 30_000)]),
                result(2, "smtp", "warn", &[("tls", 1_000_000)]),
            ],
            1_700_000_000_000,
        )
        .await
        .unwrap();
    store
        .insert_results("svc-1", vec![result(1, "pop3", "fail", &[])], 0)
        .await
        .unwrap();
    store
        .touch_agent("svc-1", 1_700_000_001_000, 7)
        .await
        .unwrap();
    store
        .reconcile_gaps(
            vec![FoundGap {
                agent_id: "svc-1".to_owned(),
                check: "pop3".to_owned(),
                kind: "failing".to_owned(),
                severity: "gap".to_owned(),
                deployment: "prod".to_owned(),
                detail: "tcp_refused (outlook.office365.com:995)".to_owned(),
            }],
            1,
        )
        .await
        .unwrap();

    state
        .counters
        .durations()
        .observe([("oauth-imap/a@b.c", 40_000), ("imap", 2_000_000)]);
    let text = scrape(&state, Form::Default).await;
    let detail = scrape(&state, Form::Detail).await;
    let has = |text: &str, line: &str| {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        )
    };
    for text in [&text, &detail] {
        let has = |line: &str| has(text, line);
        has("# HELP eceprobe_check_up 1 when the check's latest result passed (with or without warnings), 0 when it failed.");
        has("# TYPE eceprobe_check_up gauge");
        has(r#"eceprobe_check_up{server="app-1",check="imap"} 1"#);
        has(r#"eceprobe_check_up{server="app-1",check="smtp"} 1"#);
        has(r#"eceprobe_check_up{server="svc-1",check="pop3"} 0"#);
        has(r#"eceprobe_server_info{server="app-1",deployment="prod",role="application"} 1"#);
        has(r#"eceprobe_server_info{server="svc-1",deployment="lab \"b\"\\\n",role="services"} 1"#);
        has(
            r#"eceprobe_open_gaps{deployment="prod",severity="gap",kind="failing",cause="tcp_refused",owner="network"} 1"#,
        );
        has(r#"eceprobe_agents_known{deployment="prod"} 1"#);
        has("eceprobe_agents_connected 0");
        has("# TYPE eceprobe_check_duration_seconds histogram");
        has(r#"eceprobe_check_duration_seconds_bucket{check="imap",le="1"} 0"#);
        has(r#"eceprobe_check_duration_seconds_bucket{check="imap",le="2.5"} 1"#);
        has(r#"eceprobe_check_duration_seconds_bucket{check="imap",le="+Inf"} 1"#);
        has(r#"eceprobe_check_duration_seconds_sum{check="imap"} 2"#);
        has(r#"eceprobe_check_duration_seconds_count{check="oauth-imap"} 1"#);
        has("# TYPE eceprobe_ingest_results_total counter");
        has("eceprobe_ingest_results_total 0");
        has("eceprobe_gap_evaluation_timestamp_seconds 0");
        has(&format!(
            "eceprobe_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ));
        well_formed(text);
    }
    // Only the detail has the per check timings and the per agent series.
    for line in [
        r#"eceprobe_check_warning{server="app-1",check="smtp"} 1"#,
        r#"eceprobe_check_warning{server="app-1",check="imap"} 0"#,
        r#"eceprobe_check_last_duration_seconds{server="app-1",check="imap"} 1.5"#,
        r#"eceprobe_check_last_success_timestamp_seconds{server="app-1",check="imap"} 1700000000"#,
        r#"eceprobe_check_last_success_timestamp_seconds{server="svc-1",check="pop3"} 0"#,
        r#"eceprobe_check_last_stage_duration_seconds{server="app-1",check="imap",stage="dns"} 0.002"#,
        r#"eceprobe_check_last_stage_duration_seconds{server="app-1",check="imap",stage="tcp"} 0.03"#,
        r#"eceprobe_check_last_stage_duration_seconds{server="app-1",check="smtp",stage="tls"} 1"#,
        r#"eceprobe_agent_spool_dropped_total{server="svc-1"} 7"#,
        r#"eceprobe_agent_last_seen_timestamp_seconds{server="svc-1"} 1700000001"#,
    ] {
        has(&detail, line);
        assert!(
            !text.contains(line.split('{').next().unwrap()),
            "{line} in the default"
        );
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("eceprobe_check_up{"))
            .count(),
        3
    );

    // Once the tracker has evaluated, the same lines come from what it read.
    let fleet_lines = |text: &str| {
        text.lines()
            .filter(|l| {
                l.starts_with("eceprobe_check_up{") || l.starts_with("eceprobe_server_info{")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(state.tracker.evaluated().is_none());
    state.tracker.evaluate_at(1_700_000_002_000).await.unwrap();
    let seen = state.tracker.evaluated().unwrap();
    assert_eq!(seen.servers.len(), 2);
    assert!(seen.text.get().is_none(), "rendered on demand only");
    let evaluated = scrape(&state, Form::Default).await;
    assert_eq!(fleet_lines(&evaluated), fleet_lines(&text));
    assert!(evaluated
        .lines()
        .any(|l| l == "eceprobe_gap_evaluation_timestamp_seconds 1700000002"));
    // The text is rendered once and shared: a second scrape serves the same bytes.
    let shared = seen.text.get().unwrap().clone();
    assert!(evaluated.contains(std::str::from_utf8(&shared).unwrap()));
    scrape(&state, Form::Default).await;
    assert_eq!(seen.text.get().unwrap().as_ptr(), shared.as_ptr());
    well_formed(&evaluated);
    well_formed(&scrape(&state, Form::Detail).await);
    state.store.close().await;
}

/// Every sample's family was opened by HELP then TYPE, and each family appears once (its
/// samples together).
fn well_formed(text: &str) {
    let mut families = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            let ty = lines.next().unwrap();
            assert!(ty.starts_with(&format!("# TYPE {name} ")), "{ty}");
            assert!(!families.contains(&name), "{name} twice");
            families.push(name);
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = families.last().unwrap();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| *b == family.as_str()))
                .unwrap_or(name);
            assert_eq!(base, family, "{line}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "NaN", "{line}");
        }
    }
}

#[tokio::test]
async fn a_failing_result_keeps_the_checks_last_success() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir.path().join("c.db")).await;
    let store = &state.store;
    store
        .upsert_agent(&agent("app-1", "prod", "application"))
        .await
        .unwrap();
    let at = |seq, outcome, started_unix_ms| NewResult {
        started_unix_ms,
        ..result(seq, "imap", outcome, &[])
    };
    let last_success = |store: Store| async move {
        let checks = store.check_metrics().await.unwrap();
        assert_eq!(checks.len(), 1);
        checks[0].last_success_unix_ms
    };
    store
        .insert_results("app-1", vec![at(1, "warn", 1_000)], 0)
        .await
        .unwrap();
    assert_eq!(last_success(store.clone()).await, 1_000, "a warning passed");
    store
        .insert_results("app-1", vec![at(2, "fail", 2_000)], 0)
        .await
        .unwrap();
    assert_eq!(
        last_success(store.clone()).await,
        1_000,
        "kept through a failure"
    );
    // A late resend of an older pass does not move it back; a newer pass moves it on.
    store
        .insert_results("app-1", vec![at(4, "pass", 4_000), at(3, "pass", 3_000)], 0)
        .await
        .unwrap();
    assert_eq!(last_success(store.clone()).await, 4_000);
    let detail = scrape(&state, Form::Detail).await;
    assert!(
        detail.contains(
            "eceprobe_check_last_success_timestamp_seconds{server=\"app-1\",check=\"imap\"} 4\n"
        ),
        "{detail}"
    );
    state.store.close().await;
}

#[tokio::test]
async fn each_evaluation_is_rendered_as_soon_as_it_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir.path().join("c.db")).await;
    let store = &state.store;
    store
        .upsert_agent(&agent("app-1", "prod", "application"))
        .await
        .unwrap();
    let warming = tokio::spawn(warm(state.tracker.clone()));
    for (seq, outcome, up) in [(1, "pass", 1), (2, "fail", 0)] {
        store
            .insert_results("app-1", vec![result(seq, "imap", outcome, &[])], 0)
            .await
            .unwrap();
        state
            .tracker
            .evaluate_at(1_700_000_002_000 + seq as i64)
            .await
            .unwrap();
        let seen = state.tracker.evaluated().unwrap();
        // No scrape asks for it: the warming task renders it.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while seen.text.get().is_none() {
            assert!(
                std::time::Instant::now() < give_up,
                "evaluation {seq} not rendered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let text = std::str::from_utf8(seen.text.get().unwrap()).unwrap();
        let line = format!("eceprobe_check_up{{server=\"app-1\",check=\"imap\"}} {up}");
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    warming.abort();
    state.store.close().await;
}

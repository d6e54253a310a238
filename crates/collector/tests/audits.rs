//! Audits against a real collector process over real gRPC, with simulated agents that
//! answer an audit order as the agent does: one batch of results tagged with the audit id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eceprobe_proto::v1::AuditReport;

use common::agent::{failing, Agent, SimAgent};
use common::{run_audit, wait_closed, Collector};

fn gap_keys(report: &AuditReport) -> Vec<(String, String, String)> {
    report
        .gaps
        .iter()
        .map(|g| (g.agent_id.clone(), g.check.clone(), g.kind.clone()))
        .collect()
}

fn key(agent: &str, check: &str, kind: &str) -> (String, String, String) {
    (agent.into(), check.into(), kind.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_reaches_every_agent_in_scope_and_closes_when_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c.db"));
    let svc1 = SimAgent::answering(collector.addr, "svc-1", "prod", failing(&[])).await;
    let svc2 = SimAgent::answering(collector.addr, "svc-2", "prod", failing(&["imap"])).await;
    let lab = SimAgent::answering(collector.addr, "lab-1", "lab", failing(&[])).await;

    let started = Instant::now();
    let id = run_audit(collector.query, "prod", 60).await;
    assert!(id.starts_with("a-"), "{id}");
    let report = wait_closed(collector.query, &id).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed when all answered, long before its deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(svc1.orders.load(Ordering::SeqCst), 1);
    assert_eq!(svc2.orders.load(Ordering::SeqCst), 1);
    assert_eq!(lab.orders.load(Ordering::SeqCst), 0, "out of scope");

    let audit = report.audit.as_ref().unwrap();
    assert_eq!((audit.servers, audit.ordered, audit.answered), (2, 2, 2));
    let servers: Vec<&str> = report.servers.iter().map(|s| s.agent_id.as_str()).collect();
    assert_eq!(servers, ["svc-1", "svc-2"]);
    for s in &report.servers {
        assert!(s.ordered && s.answered_unix_ms > 0, "{s:?}");
        assert_eq!(s.verdicts.len(), 5, "{s:?}");
    }
    let imap = report.servers[1]
        .verdicts
        .iter()
        .find(|v| v.check == "imap")
        .unwrap();
    assert_eq!(
        (
            imap.outcome.as_str(),
            imap.failure_kind.as_str(),
            imap.stage.as_str()
        ),
        ("fail", "tcp_refused", "tcp")
    );
    assert!(imap.hint.contains("(C10)"), "{imap:?}");
    assert!(report.servers[0]
        .verdicts
        .iter()
        .all(|v| v.outcome == "pass"));
    assert_eq!(gap_keys(&report), [key("svc-2", "imap", "failing")]);
    assert!(report.diff.is_none(), "the first audit of its scope");
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_agents_are_not_answered_and_the_audit_closes_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c.db"));
    let _svc1 = SimAgent::answering(collector.addr, "svc-1", "prod", failing(&[])).await;
    // Connected, reads nothing, never answers.
    let _silent = Agent::connect(collector.addr, "svc-2").await;
    // Known, then gone.
    let gone = Agent::connect(collector.addr, "svc-3").await;
    drop(gone);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let id = run_audit(collector.query, "", 2).await;
    let report = wait_closed(collector.query, &id).await;
    let audit = report.audit.as_ref().unwrap();
    assert!(audit.closed_unix_ms >= audit.deadline_unix_ms, "{audit:?}");
    assert!(audit.deadline_unix_ms - audit.started_unix_ms == 2000);
    assert_eq!((audit.servers, audit.ordered, audit.answered), (3, 2, 1));
    let state: Vec<(&str, bool, bool)> = report
        .servers
        .iter()
        .map(|s| (s.agent_id.as_str(), s.ordered, s.answered_unix_ms > 0))
        .collect();
    assert_eq!(
        state,
        [
            ("svc-1", true, true),
            ("svc-2", true, false),
            ("svc-3", false, false)
        ]
    );
    assert_eq!(
        gap_keys(&report),
        [
            key("svc-2", "", "not_answered"),
            key("svc-3", "", "not_answered")
        ]
    );
}

/// Runs the admin CLI off the runtime; returns (exit code, stdout, stderr).
async fn admin(url: String, args: &[&str]) -> (Option<i32>, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::admin_at(&url, &args)
    })
    .await
    .unwrap()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn kinds(gaps: &serde_json::Value) -> Vec<(String, String)> {
    gaps.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["check"].as_str().unwrap().to_owned(),
                g["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_runs_waits_diffs_and_exits_by_the_gaps_found() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c.db"));
    let url = format!("http://{}", collector.query);
    let fails = failing(&["imap"]);
    let _svc1 = SimAgent::answering(collector.addr, "svc-1", "prod", Arc::clone(&fails)).await;
    let _svc2 = SimAgent::answering(collector.addr, "svc-2", "prod", failing(&[])).await;
    let run = ["audit", "run", "--deployment", "prod", "--wait", "--json"];

    let (code, out, err) = admin(url.clone(), &run).await;
    assert_eq!(code, Some(1), "a gap: {out}{err}");
    let first = json(&out);
    assert_eq!(kinds(&first["gaps"]), [("imap".into(), "failing".into())]);
    let a = first["audit"]["audit_id"].as_str().unwrap().to_owned();

    *fails.lock().unwrap() = vec!["pop3"];
    let (code, out, err) = admin(url.clone(), &run).await;
    assert_eq!(code, Some(1), "{out}{err}");
    let second = json(&out);
    let b = second["audit"]["audit_id"].as_str().unwrap().to_owned();
    assert!(a < b, "ids sort by start: {a} {b}");
    // The report carries the diff against the previous audit of the same scope.
    assert_eq!(second["diff"]["from_audit_id"], a.as_str());
    assert_eq!(
        kinds(&second["diff"]["new"]),
        [("pop3".into(), "failing".into())]
    );

    let (code, out, err) = admin(url.clone(), &["audit", "diff", &a, &b, "--json"]).await;
    assert_eq!(code, Some(0), "{err}");
    let d = json(&out);
    assert_eq!(kinds(&d["new"]), [("pop3".into(), "failing".into())]);
    assert_eq!(kinds(&d["resolved"]), [("imap".into(), "failing".into())]);
    assert!(d["unchanged"].as_array().unwrap().is_empty());
    let (code, out, _) = admin(url.clone(), &["audit", "diff", &a, &b]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("1 new, 1 resolved, 0 unchanged"), "{out}");

    // Fixed: exit 0, and the table says so.
    fails.lock().unwrap().clear();
    let (code, out, err) = admin(url.clone(), &["audit", "run", "--wait"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("no gaps"), "{out}");

    let (code, out, _) = admin(url.clone(), &["audit", "list"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("a-")).count(),
        3,
        "{out}"
    );
    let (code, out, _) = admin(url.clone(), &["audit", "show", &b]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains("tcp_refused") && out.contains("(C10)"),
        "{out}"
    );

    // Could not run: bad input, unknown audit, no collector.
    let (code, _, err) = admin(
        url.clone(),
        &["audit", "run", "--deadline-s", "9999", "--wait"],
    )
    .await;
    assert_eq!(code, Some(2));
    assert!(err.contains("at most 3600"), "{err}");
    let (code, _, err) = admin(url.clone(), &["audit", "show", "a-nope"]).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("no audit with id 'a-nope'"), "{err}");
    // The collector's message in words, not tonic's `code: '..', message: ".."`.
    assert!(
        !err.contains("code: '") && !err.contains("message: \""),
        "{err}"
    );
    drop(collector);
    let (code, _, err) = admin(url, &["audit", "run", "--wait"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot reach the collector"), "{err}");
    assert!(!err.contains('{') && !err.contains("Some("), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_lists_gaps_before_warnings_and_gives_the_fix_of_each() {
    let dir = tempfile::tempdir().unwrap();
    // Every passing check is "slow" under this policy: warnings with their own fix. The
    // policy file is named relative to collector.toml, which is not in the working directory.
    std::fs::write(dir.path().join("policy.toml"), "slow_ms = 0\n").unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "policy_file = \"policy.toml\"\n").unwrap();
    let args = ["--plaintext", "--config", config.to_str().unwrap()];
    let collector = Collector::start_with(&dir.path().join("c.db"), &args);
    let url = format!("http://{}", collector.query);
    let _svc1 = SimAgent::answering(collector.addr, "svc-1", "prod", failing(&["pop3"])).await;

    let (code, out, err) = admin(url, &["audit", "run", "--wait"]).await;
    assert_eq!(code, Some(1), "{out}{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("svc-1")).collect();
    assert!(rows[0].contains("pop3") && rows[0].contains("GAP"), "{out}");
    assert!(rows[1..].iter().all(|r| r.contains("WARNING")), "{out}");
    let fixes: Vec<&str> = out
        .split("What to do, by team:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no fixes in {out}"))
        .lines()
        .collect();
    // All of them the network team's: under its heading, the gap first.
    assert_eq!(
        fixes[..2],
        [
            "  network: the network team (firewall, proxy, DNS)",
            "    GAP svc-1 pop3 (failing): open outbound TCP on the firewall (C10)"
        ],
        "{out}"
    );
    assert!(
        fixes[2].starts_with("    WARNING svc-1 imap (slow): imap to outlook.office365.com:993 works but slower than the policy allows"),
        "{out}"
    );
    assert_eq!(
        fixes.len(),
        6,
        "a heading, one gap and four warnings: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_writes_an_audit_report_a_spreadsheet_reads() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c.db"));
    let url = format!("http://{}", collector.query);
    let _svc1 = SimAgent::answering(collector.addr, "svc-1", "prod", failing(&["imap"])).await;
    let _svc2 = SimAgent::answering(collector.addr, "svc-2", "prod", failing(&[])).await;
    // Known, then gone: in scope, never ordered, so not answered.
    drop(Agent::connect(collector.addr, "svc-3").await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = run_audit(collector.query, "prod", 60).await;
    wait_closed(collector.query, &id).await;

    let file = dir.path().join("report.csv");
    let path = file.to_str().unwrap();
    let args = ["audit", "report", &id, "--format", "csv", "--out", path];
    let (code, out, err) = admin(url.clone(), &args).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out.trim_end(), format!("report written to {path}"));
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        11,
        "5 verdicts of svc-1 and svc-2, svc-3 not answered"
    );
    assert!(rows.iter().all(|r| &r[col("audit_id")] == id.as_str()));
    let find = |agent: &str, check: &str| {
        rows.iter()
            .find(|r| &r[col("agent_id")] == agent && &r[col("check")] == check)
            .unwrap()
    };
    let imap = find("svc-1", "imap");
    assert_eq!(&imap[col("hostname")], "svc-1.contoso.local");
    assert_eq!(&imap[col("outcome")], "fail");
    assert_eq!(&imap[col("failure_kind")], "tcp_refused");
    assert_eq!(&imap[col("gap_kind")], "failing");
    assert_eq!(&imap[col("checklist_item")], "C10");
    assert_eq!(&imap[col("fix")], "open outbound TCP on the firewall (C10)");
    assert_eq!(&find("svc-2", "imap")[col("gap_kind")], "");
    let gone = find("svc-3", "");
    assert_eq!(&gone[col("gap_kind")], "not_answered");
    assert_eq!(&gone[col("checklist_item")], "C8");
    assert!(gone[col("fix")].contains("not connected"), "{gone:?}");

    // Markdown by default, on stdout.
    let (code, out, err) = admin(url.clone(), &["audit", "report", &id]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!("# Connectivity audit {id}")),
        "{out}"
    );
    assert!(
        out.contains("3 servers in scope, 2 ordered, 2 answered"),
        "{out}"
    );

    // A file that cannot be written is named, with the cause.
    let bad = dir.path().join("no-such-dir").join("r.html");
    let bad = bad.to_str().unwrap();
    let args = ["audit", "report", &id, "--format", "html", "--out", bad];
    let (code, _, err) = admin(url, &args).await;
    assert_eq!(code, Some(2));
    assert!(err.contains(bad) && err.contains("No such file"), "{err}");
}

//! /metrics as Prometheus reads it (issue 20), checked by Prometheus' own `promtool`
//! (Debian's `prometheus` package) on a real scrape: `eceprobe-demo --once` runs
//! real agents against testlab (the application server's firewall refuses 993 and drops 995;
//! SMTP AUTH is off for sales@contoso.com), then the real collector serves the demo's
//! database and its `/metrics` and `/metrics/detail` go through `promtool check metrics`.
//! The shipped `deploy/prometheus/` files go through `promtool check config` and
//! `check rules`, and the alerting rules through `promtool test rules` with a test file
//! generated here from the scraped samples: the port and OAuth alerts must fire for the
//! demo's gaps, the others must not.
//!
//! Without promtool the test prints why and passes, unless ECEPROBE_REQUIRE_PROMTOOL is set
//! (`.ci/run` sets it after installing the package), when a missing promtool fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::dashboard::{get, http, Dashboard};
use common::demo_once;

/// promtool, or None when the test may skip (it says why); with ECEPROBE_REQUIRE_PROMTOOL
/// set, a missing promtool fails the test.
fn promtool_or_skip() -> Option<PathBuf> {
    let found = which("promtool");
    if found.is_none() {
        let why = "promtool not found (apt-get install prometheus)";
        assert!(
            std::env::var_os("ECEPROBE_REQUIRE_PROMTOOL").is_none(),
            "ECEPROBE_REQUIRE_PROMTOOL is set but {why}"
        );
        eprintln!("skipping the promtool test: {why}");
    }
    found
}

/// Where a program is on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs promtool with `args`, `stdin` piped in: whether it succeeded, and what it said.
fn promtool(promtool: &Path, args: &[&str], stdin: &str, dir: &Path) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `eceprobe-demo` (agents probing testlab, results ingested as they come) until
/// it prints its dashboard URL: the address and the token.
fn start_demo(dir: &Path) -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eceprobe-demo"))
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Killed(child);
    let mut said = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the demo ended before printing its dashboard URL:\n{said}"
        );
        said.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("dashboard on http://") {
            let (addr, token) = url.split_once("/?token=").unwrap();
            let (addr, token) = (addr.to_owned(), token.to_owned());
            // Keep reading so the demo never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return (child, addr, token);
        }
    }
}

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

/// The samples of a scrape as promtool's input series: each line's series as scraped, its
/// value held for an hour of one-minute steps.
fn input_series(scrape: &str) -> String {
    let mut out = String::new();
    for line in scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        // YAML single-quoted: a quote is doubled; nothing else is special.
        let series = series.replace('\'', "''");
        out.push_str(&format!(
            "      - series: '{series}'\n        values: '{value}+0x60'\n"
        ));
    }
    out
}

/// One expected alert as promtool's test file wants it: every label and annotation, in YAML.
fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> String {
    let quoted = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let mut out = String::from("          - exp_labels:\n");
    for (k, v) in labels {
        out.push_str(&format!("              {k}: {}\n", quoted(v)));
    }
    out.push_str("            exp_annotations:\n");
    for (k, v) in annotations {
        out.push_str(&format!("              {k}: {}\n", quoted(v)));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_accepts_a_real_scrape_and_the_shipped_alerts_fire_on_the_demos_gaps() {
    let Some(promtool_bin) = promtool_or_skip() else {
        return;
    };
    let demo = tempfile::tempdir().unwrap();
    let (code, out) = tokio::task::block_in_place(|| demo_once(demo.path()));
    assert_eq!(code, 1, "the demo finds gaps:\n{out}");
    let dash = Dashboard::start_on(&demo.path().join("demo.db"));
    let work = tempfile::tempdir().unwrap();
    let tool = |args: &[&str], stdin: &str| promtool(&promtool_bin, args, stdin, work.path());

    // Both forms, as scraped, pass promtool's format check and its lint. Scraped once the
    // collector has evaluated (a scrape in its first second says "not yet": 0).
    let mut scrape = get(dash.web, "/metrics").await;
    for _ in 0..100 {
        if !scrape
            .body
            .contains("\neceprobe_gap_evaluation_timestamp_seconds 0\n")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        scrape = get(dash.web, "/metrics").await;
    }
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let detail = get(dash.web, "/metrics/detail").await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    for (form, text) in [
        ("/metrics", &scrape.body),
        ("/metrics/detail", &detail.body),
    ] {
        let (ok, said) = tool(&["check", "metrics"], text);
        assert!(ok, "promtool check metrics on {form}: {said}\n{text}");
        assert!(
            said.trim().is_empty(),
            "promtool has remarks on {form}: {said}"
        );
    }
    // What the alerts below rely on is in the default scrape, from the demo's real gaps.
    let has = |line: &str| {
        assert!(
            scrape.body.lines().any(|l| l == line),
            "no {line:?} in:\n{}",
            scrape.body
        )
    };
    has(r#"eceprobe_check_up{server="ece-app-01",check="imap"} 0"#);
    has(r#"eceprobe_check_up{server="ece-app-01",check="pop3"} 0"#);
    has(r#"eceprobe_check_up{server="ece-svc-01",check="imap"} 1"#);
    has(r#"eceprobe_check_up{server="ece-svc-01",check="oauth-smtp/sales@contoso.com"} 0"#);
    has(r#"eceprobe_server_info{server="ece-svc-01",deployment="demo",role="services"} 1"#);
    has(
        r#"eceprobe_open_gaps{deployment="demo",severity="gap",kind="failing",cause="tcp_refused",owner="network"} 1"#,
    );
    has(
        r#"eceprobe_open_gaps{deployment="demo",severity="gap",kind="failing",cause="tcp_timeout",owner="network"} 1"#,
    );
    // The per check and per stage series are the detail's only.
    assert!(!scrape
        .body
        .contains("eceprobe_check_last_stage_duration_seconds"));
    assert!(detail
        .body
        .contains(r#"eceprobe_check_last_stage_duration_seconds{server="ece-app-01",check="imap",stage="tcp"} "#));

    // The shipped configuration and rules, the token file where the configuration names it.
    let deploy = deploy_dir();
    let rules = std::fs::read_to_string(deploy.join("eceprobe-rules.yml")).unwrap();
    std::fs::write(work.path().join("eceprobe-rules.yml"), &rules).unwrap();
    std::fs::write(work.path().join("eceprobe.token"), "a-token\n").unwrap();
    let config = std::fs::read_to_string(deploy.join("prometheus.yml"))
        .unwrap()
        .replace("/etc/prometheus/eceprobe.token", "eceprobe.token");
    std::fs::write(work.path().join("prometheus.yml"), config).unwrap();
    let (ok, said) = tool(&["check", "config", "prometheus.yml"], "");
    assert!(ok, "promtool check config: {said}");
    let (ok, said) = tool(&["check", "rules", "eceprobe-rules.yml"], "");
    assert!(ok && said.contains("6 rules found"), "{said}");

    // The rules over an hour of the real scrape: what the demo broke fires, nothing else.
    let mut test = format!(
        "rule_files:\n  - eceprobe-rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    \
         input_series:\n{}    alert_rule_test:\n",
        input_series(&scrape.body)
    );
    let expect = |name: &str, alerts: &[String]| {
        let mut t =
            format!("      - eval_time: 40m\n        alertname: {name}\n        exp_alerts:");
        if alerts.is_empty() {
            t.push_str(" []\n");
        } else {
            t.push('\n');
            for a in alerts {
                t.push_str(a);
            }
        }
        t
    };
    let blocked = |cause: &str| {
        alert(
            &[
                ("severity", "critical"),
                ("owner", "network"),
                ("deployment", "demo"),
                ("cause", cause),
            ],
            &[
                ("summary", &format!("demo: 1 check(s) blocked ({cause})")),
                (
                    "description",
                    &format!(
                        "ECE servers of deployment demo cannot reach a Microsoft 365 port \
                         ({cause}). The dashboard's /gaps?deployment=demo names the servers and \
                         ports; /gaps/change-request.csv is the firewall request."
                    ),
                ),
            ],
        )
    };
    test.push_str(&expect(
        "EceprobePortBlocked",
        &[blocked("tcp_refused"), blocked("tcp_timeout")],
    ));
    test.push_str(&expect(
        "EceprobeMailboxOAuthBroken",
        &[alert(
            &[
                ("severity", "critical"),
                ("owner", "m365"),
                ("deployment", "demo"),
                ("server", "ece-svc-01"),
                ("check", "oauth-smtp/sales@contoso.com"),
            ],
            &[
                ("summary", "ece-svc-01: oauth-smtp/sales@contoso.com fails"),
                (
                    "description",
                    "The OAuth login of check oauth-smtp/sales@contoso.com fails from ECE \
                     server ece-svc-01 (deployment demo); ECE cannot read or send that \
                     mailbox's mail. The server's page on the dashboard gives the AADSTS code \
                     or SMTP reply and the fix.",
                ),
            ],
        )],
    ));
    for quiet in [
        "EceprobeTlsIntercepted",
        "EceprobeAgentSilent",
        "EceprobeOutboxDeadLettering",
        "EceprobeGapEvaluationStalled",
    ] {
        test.push_str(&expect(quiet, &[]));
    }
    // Before its `for:` the port alert is pending, not firing: the test can fail.
    test.push_str(
        "      - eval_time: 5m\n        alertname: EceprobePortBlocked\n        exp_alerts: []\n",
    );
    std::fs::write(work.path().join("demo-test.yml"), &test).unwrap();
    let (ok, said) = tool(&["test", "rules", "demo-test.yml"], "");
    assert!(ok, "promtool test rules: {said}\n{test}");

    // The running demo, whose ingest fills the check-duration histogram: promtool reads its
    // buckets too.
    let live = tempfile::tempdir().unwrap();
    let (_demo, addr, token) = start_demo(live.path());
    let bearer = format!("Bearer {token}");
    let give_up = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let r = http(
            addr.parse().unwrap(),
            "GET",
            "/metrics",
            &[("Authorization", &bearer)],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body
            .contains("eceprobe_check_duration_seconds_count{check=\"imap\"}")
        {
            break r.body;
        }
        assert!(
            Instant::now() < give_up,
            "no check durations after 120 s:\n{}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(text.contains("eceprobe_check_duration_seconds_bucket{check=\"imap\",le=\"+Inf\"} "));
    let (ok, said) = tool(&["check", "metrics"], &text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool on the live demo: {said}\n{text}"
    );
}

/// The stalled-evaluation alert over a timestamp that advances for 10 minutes (an
/// evaluation a minute), then stops: quiet while it advances and for the first 5 minutes
/// after, pending for its `for:`, then firing with the collector's instance.
#[test]
fn promtool_fires_the_stalled_evaluation_alert_only_once_evaluations_stop() {
    let Some(promtool_bin) = promtool_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(deploy_dir().join("eceprobe-rules.yml")).unwrap();
    std::fs::write(work.path().join("eceprobe-rules.yml"), rules).unwrap();
    let quiet = |at: &str| {
        format!(
            "      - eval_time: {at}\n        alertname: EceprobeGapEvaluationStalled\n        exp_alerts: []\n"
        )
    };
    let mut test = String::from(
        "rule_files:\n  - eceprobe-rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    \
         input_series:\n      - series: 'eceprobe_gap_evaluation_timestamp_seconds{instance=\"collector:7480\",job=\"eceprobe\"}'\n        \
         values: '0+60x10 600+0x30'\n    alert_rule_test:\n",
    );
    // At 15 minutes the last evaluation (at 10) is exactly 300 s old: not over.
    for at in ["5m", "10m", "15m", "16m"] {
        test.push_str(&quiet(at));
    }
    test.push_str("      - eval_time: 20m\n        alertname: EceprobeGapEvaluationStalled\n        exp_alerts:\n");
    test.push_str(&alert(
        &[
            ("severity", "warning"),
            ("owner", "ece"),
            ("instance", "collector:7480"),
            ("job", "eceprobe"),
        ],
        &[
            (
                "summary",
                "collector:7480: gaps not evaluated for over 5 minutes",
            ),
            (
                "description",
                "The eceprobe collector at collector:7480 has not evaluated its gaps for over \
                 5 minutes: gaps neither open nor close, no webhook event is sent, and its \
                 /metrics states an old evaluation. Its log says why (gap evaluation failed); \
                 check its database.",
            ),
        ],
    ));
    std::fs::write(work.path().join("stalled-test.yml"), &test).unwrap();
    let (ok, said) = promtool(
        &promtool_bin,
        &["test", "rules", "stalled-test.yml"],
        "",
        work.path(),
    );
    assert!(ok, "promtool test rules: {said}\n{test}");
}

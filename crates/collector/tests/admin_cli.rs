//! The admin CLI (`servers`, `gaps`, `show`, `history`) against a real collector process:
//! tables for people (failures first, then warnings, then passes, with the fix of each),
//! JSON for scripts, and a clear message with exit 2 for bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::agent::{result, Agent, CHECKS};
use common::{admin, msg, wait_for_gaps, Collector};
use eceprobe_proto::v1::{agent_message, CheckResult, Outcome, ResultBatch};

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_cli_answers_from_the_query_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("eceprobe.db");
    let collector = Collector::start(&db);
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;
    let mut results: Vec<CheckResult> = CHECKS
        .iter()
        .enumerate()
        .map(|(i, c)| result(i as u64 + 1, c, None))
        .collect();
    results[2].outcome = Outcome::Fail as i32;
    results[2].failure = Some(eceprobe_proto::v1::Finding {
        kind: "tcp_refused".into(),
        stage: "tcp".into(),
        detail: "connecting to 52.97.1.1:993: Connection refused".into(),
        hint: "open outbound TCP 993 to outlook.office365.com on the firewall (C10)".into(),
        ..Default::default()
    });
    results[4].outcome = Outcome::Warn as i32;
    results[4].warnings = vec![eceprobe_proto::v1::Finding {
        kind: "cert_expiring_soon".into(),
        stage: "tls".into(),
        detail: "'smtp.office365.com' expires 2026-12-01T00:00:00Z".into(),
        hint: "a certificate smtp.office365.com presents expires soon: renew it (C2)".into(),
        ..Default::default()
    }];
    let batch = msg(agent_message::Body::Batch(ResultBatch { results }));
    assert_eq!(agent.send_expect_ack(batch).await, 5);

    let addr = collector.query;
    wait_for_gaps(addr, "the imap gap", |g| !g.is_empty()).await;
    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["servers"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("svc-1"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("prod") && row.contains("services"), "{row}");

    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["gaps", "--json"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let gaps: serde_json::Value = serde_json::from_str(&out).unwrap();
    let gaps: Vec<&serde_json::Value> = gaps
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["severity"] == "gap")
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["check"], "imap");
    assert_eq!(gaps[0]["kind"], "failing");
    assert_eq!(gaps[0]["detail"], "tcp_refused");
    assert_eq!(gaps[0]["owner"], "network", "derived from tcp_refused");

    // The table has an OWNER column beside KIND.
    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["gaps"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let header = out.lines().next().unwrap_or_default();
    assert!(header.contains("KIND") && header.contains("OWNER"), "{out}");
    let imap = out
        .lines()
        .find(|l| l.contains("imap") && l.contains("failing"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(imap.contains("network"), "{imap}");

    let (code, out, _) = tokio::task::spawn_blocking(move || admin(addr, &["show", "svc-1"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let imap = out
        .lines()
        .find(|l| l.starts_with("imap"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        imap.contains("FAIL") && imap.contains("tcp_refused"),
        "{imap}"
    );
    assert!(out.contains("What to do") && out.contains("(C10)"), "{out}");
    // An agent that predates the Java report: said so, never "none".
    assert!(
        out.contains("\nJava (ECE's runtime): not reported by this server's agent: its version (0.1.0) predates the Java report; upgrade the agent to see it\n")
            && out.contains("\nJava trust store: not reported by this server's agent: its version (0.1.0) predates the Java report\n"),
        "{out}"
    );
    // Failures first, then warnings, then passes; the warning's fix too, after the failure's.
    let checks: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("CHECK"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        checks,
        ["imap", "smtp", "login-https", "outlook-https", "pop3"],
        "{out}"
    );
    let fixes = out.split("What to do:\n").nth(1).unwrap_or_default();
    assert!(
        fixes.starts_with("  imap (tcp_refused): open outbound TCP 993")
            && fixes.contains("\n  smtp (cert_expiring_soon): a certificate smtp.office365.com presents expires soon"),
        "{out}"
    );

    let (code, out, _) =
        tokio::task::spawn_blocking(move || admin(addr, &["history", "svc-1", "imap", "--json"]))
            .await
            .unwrap();
    assert_eq!(code, Some(0));
    let history: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(history[0]["seq"], 3);
    assert_eq!(history[0]["failure"]["kind"], "tcp_refused");

    // An agent that reports ECE's Java: `show` says both lines, its JSON both fields.
    let (_java_agent, _) = Agent::connect_with(
        collector.addr,
        eceprobe_proto::v1::Hello {
            java_runtime: "/usr/lib/jvm/java-17-openjdk-amd64".into(),
            java_truststore: "Java trust store: /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates), as JSSE picks it for /usr/lib/jvm/java-17-openjdk-amd64 (JAVA_HOME)".into(),
            ..common::agent::hello("svc-2", "prod")
        },
    )
    .await;
    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["show", "svc-2"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("\nJava (ECE's runtime): /usr/lib/jvm/java-17-openjdk-amd64\nJava trust store: /usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts (PKCS12, 140 trusted certificates), as JSSE picks it"),
        "{out}"
    );
    let (code, out, err) =
        tokio::task::spawn_blocking(move || admin(addr, &["show", "svc-2", "--json"]))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["server"]["java"]["reported"], true);
    assert_eq!(
        doc["server"]["java"]["runtime"],
        "/usr/lib/jvm/java-17-openjdk-amd64"
    );
    let (code, out, err) = tokio::task::spawn_blocking(move || admin(addr, &["servers", "--json"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let servers: serde_json::Value = serde_json::from_str(&out).unwrap();
    let java = |id: &str| {
        servers
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agent_id"] == id)
            .unwrap()["java"]
            .clone()
    };
    assert_eq!(java("svc-1")["reported"], false);
    assert_eq!(java("svc-2")["reported"], true);

    // Bad input: a clear message, exit 2.
    let (code, _, err) =
        tokio::task::spawn_blocking(move || admin(addr, &["gaps", "--check", "ftp"]))
            .await
            .unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown check 'ftp'"), "{err}");
    let (code, _, err) = tokio::task::spawn_blocking(move || admin(addr, &["show", "nobody"]))
        .await
        .unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("no server with agent id 'nobody'"), "{err}");
    drop(agent);
    collector.kill();
}

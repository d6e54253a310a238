//! Upgrades in either order (issue 17): a real collector process, a raw gRPC agent on a
//! real port, the real SQLite file. A newer agent's check or kind is stored and shown as
//! such, never a gap; a malformed result is set aside (acked, counted, shown) and the rest
//! of its batch stored in order; the stream goes on. What the administrator sees: the
//! server page, its JSON, `/metrics`, `show` and `servers`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::agent::{result, Agent, CHECKS};
use common::dashboard::{get, Dashboard};
use common::{current_gaps, msg, wait_for_gaps};
use eceprobe_proto::v1::{agent_message, CheckResult, Finding, ResultBatch};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

const NOTE: &str = "reported by a newer agent; not in this collector's catalog";

/// Every stored (seq, times stored) of an agent, read from the collector's own file.
async fn stored(db: &Path, agent: &str) -> Vec<(u64, i64)> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT seq, COUNT(*) FROM results WHERE agent_id = ?1 GROUP BY seq ORDER BY seq",
    )
    .bind(agent)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|(s, n)| (s as u64, n)).collect()
}

/// The admin CLI's output, which must succeed.
fn admin_ok(addr: SocketAddr, args: &[&str]) -> String {
    let (code, out, err) = common::admin(addr, args);
    assert_eq!(code, Some(0), "{err}");
    out
}

fn batch(results: Vec<CheckResult>) -> eceprobe_proto::v1::AgentMessage {
    msg(agent_message::Body::Batch(ResultBatch { results }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_agents_results_are_stored_and_a_malformed_one_set_aside_without_walling_off_the_rest(
) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let dash = Dashboard::start_on(&db);
    let (mut agent, _) = Agent::connect(dash.agents, "svc-new").await;

    // Every required check passes (seq 1-5), then: a check this collector does not know,
    // an unknown failure kind on a known check, a malformed result, a good one after it.
    let mut first: Vec<CheckResult> = CHECKS
        .iter()
        .zip(1..)
        .map(|(c, s)| result(s, c, None))
        .collect();
    first.push(result(6, "quic-443", None));
    first.push(result(7, "pop3", Some("quantum_blocked")));
    let mut malformed = result(8, "smtp", None);
    malformed.warnings.push(Finding {
        kind: "Slow; DROP TABLE".into(),
        ..Finding::default()
    });
    first.push(malformed);
    first.push(result(9, "oauth-graph/ece-mail@contoso.com", None));
    first.push(result(10, "imap", None));
    assert_eq!(
        agent.send_expect_ack(batch(first)).await,
        10,
        "the whole batch acked, the set-aside result included"
    );
    // The stream goes on: a later batch is stored at once.
    assert_eq!(
        agent
            .send_expect_ack(batch(vec![result(11, "smtp", None)]))
            .await,
        11
    );
    // A resend of the same batch doubles nothing and sets nothing aside twice.
    let mut again = result(8, "smtp", None);
    again.outcome = 0;
    assert_eq!(agent.send_expect_ack(batch(vec![again])).await, 11);

    let seqs = stored(&db, "svc-new").await;
    let expected: Vec<(u64, i64)> = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11]
        .into_iter()
        .map(|s| (s, 1))
        .collect();
    assert_eq!(
        seqs, expected,
        "every well-formed result once, seq 8 set aside"
    );

    // Gaps: only pop3's failure (an unknown kind: owner unknown); the newer checks raise
    // nothing and no required check is missing.
    let gaps = wait_for_gaps(dash.query, "pop3's gap", |g| !g.is_empty()).await;
    let found: Vec<(&str, &str, &str)> = gaps
        .iter()
        .map(|g| (g.check.as_str(), g.kind.as_str(), g.detail.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![("pop3", "failing", "quantum_blocked")],
        "{gaps:#?}"
    );
    assert_eq!(current_gaps(dash.query).await.len(), 1);

    // The server page over HTTP: the note on each, the set-aside result with its reason,
    // the versions and the flag.
    let page = get(dash.web, "/servers/svc-new").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("check-quic-443"), "{}", page.body);
    assert_eq!(
        page.body.matches(NOTE).count(),
        3,
        "quic-443, pop3, oauth-graph"
    );
    assert!(
        page.body.contains("1 result set aside, the last (result #8) because its warning kind &#39;Slow; DROP TABLE&#39; is not 1-64 characters")
            || page.body.contains("1 result set aside, the last (result #8) because its warning kind 'Slow; DROP TABLE' is not 1-64 characters"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("newer than this collector: upgrade the collector"),
        "{}",
        page.body
    );
    // Its JSON: the same.
    let api = get(dash.web, "/api/servers/svc-new").await;
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    let notes: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["note"] == NOTE)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes.contains(&"quic-443") && notes.contains(&"pop3"));
    assert_eq!(json["server"]["quarantine"]["count"], 1);
    assert_eq!(json["server"]["quarantine"]["last_seq"], 8);
    assert_eq!(
        json["server"]["version_notes"][0],
        "newer than this collector: upgrade the collector"
    );
    // The overview's columns are the catalog's, whatever agents report.
    let overview = get(dash.web, "/api/overview").await;
    let overview: serde_json::Value = serde_json::from_str(&overview.body).unwrap();
    let columns = overview["checks"].as_array().unwrap();
    assert!(columns.iter().all(|c| c != "quic-443"), "{columns:?}");
    let row = &overview["servers"][0];
    assert_eq!(row["cells"].as_array().unwrap().len(), columns.len());
    assert_eq!(
        row["version_notes"][0],
        "newer than this collector: upgrade the collector"
    );
    let overview_page = get(dash.web, "/").await.body;
    assert!(
        overview_page.contains("newer than this collector: upgrade the collector"),
        "{overview_page}"
    );

    // /metrics counts it since the start, /metrics/detail per server.
    let metrics = get(dash.web, "/metrics").await.body;
    let detail = get(dash.web, "/metrics/detail").await.body;
    assert!(
        detail.contains("eceprobe_agent_results_quarantined_total{server=\"svc-new\"} 1"),
        "{detail}"
    );
    assert!(
        metrics.contains("eceprobe_ingest_quarantined_results_total 1"),
        "{metrics}"
    );

    // `show` and `servers`: the note, the set-aside result, the flag.
    let show = admin_ok(dash.query, &["show", "svc-new"]);
    assert!(show.contains(NOTE), "{show}");
    assert!(
        show.contains("1 result set aside, the last result #8 because its warning kind"),
        "{show}"
    );
    // An agent of another major version is flagged too.
    let old = eceprobe_proto::v1::Hello {
        agent_version: "9.0.0".into(),
        ..common::agent::hello("svc-other", "prod")
    };
    let (_other, _) = Agent::connect_with(dash.agents, old).await;
    let servers = admin_ok(dash.query, &["servers"]);
    assert!(
        servers.contains("svc-other: agent 9.0.0 is major version 9, this collector"),
        "{servers}"
    );
    assert!(
        servers.contains("svc-new: newer than this collector: upgrade the collector"),
        "{servers}"
    );
    let show_json: serde_json::Value =
        serde_json::from_str(&admin_ok(dash.query, &["show", "svc-new", "--json"])).unwrap();
    let quic = show_json["latest"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "quic-443")
        .unwrap();
    assert_eq!(quic["note"], NOTE);
    assert_eq!(show_json["server"]["quarantined"], 1);
}

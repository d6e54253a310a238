//! The ECE administrator's change request from a real gap: the agent binary declares ECE
//! 12.5(1) ES2 (C1 needs ES3), streams to a collector (in this process, real SQLite file),
//! and the collector's `ChangeRequest` for the ece team says what to apply and where the
//! External Application URL is set on that version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use e2e::{Agent, Collector};
use eceprobe_proto::v1::ChangeRequestRequest;
use eceprobe_testlab::{LabConfig, Testlab};

#[tokio::test(flavor = "multi_thread")]
async fn an_old_es_gives_the_ece_settings_for_its_version() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let collector = Collector::start(
        &dir.path().join("collector.db"),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await;
    let flags = [
        "--collector".to_string(),
        format!("http://{}", collector.addr),
        "--plaintext".to_string(),
        "--ece-version".to_string(),
        "12.5(1)".to_string(),
        "--ece-es".to_string(),
        "ES2".to_string(),
    ];
    let agent = Agent::start_with(
        &lab,
        &ca,
        &flags,
        "svc-ece",
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );
    let mut query = collector.query().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        let answer = query
            .change_request(ChangeRequestRequest {
                deployment: "prod".into(),
                owner: "ece".into(),
                format: String::new(),
            })
            .await
            .map(|a| a.into_inner());
        if let Ok(a) = &answer {
            if a.items > 0 {
                break answer.unwrap();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ece change request within 30 s: {answer:?}\n{}",
            agent.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let md = answer.document;
    assert_eq!(answer.filename, "change-request-prod-ece.md");
    assert_eq!(answer.items, 1, "{md}");
    for said in [
        "# ECE change request: deployment prod",
        "## svc-ece (services server, ECE 12.5(1) ES2)",
        "- The External Application URL is set in the \"Web server URL or load balancer URL\" setting (ECE 11.5 to 12.5).",
        "- [ ] `ece-config` (ece_es_too_old): 12.5(1) needs ES3 or later (latest recommended): apply it from Cisco's ECE downloads (C1)",
    ] {
        assert!(md.contains(said), "missing {said:?} in:\n{md}");
    }
    agent.stop().await;
    lab.shutdown().await;
}

//! The agent's link to the collector over TLS with client certificates, as an administrator
//! sets it up: `ca init`, `enroll`, copy the bundle, `run --collector https://...`. And
//! what the collector refuses: another agent's certificate, no certificate, a certificate
//! from another CA, a revoked one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::path::Path;

use e2e::{eventually, Agent, Collector};
use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::pki;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{agent_message, AgentMessage, Hello};
use eceprobe_testlab::{LabConfig, Testlab};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The collector's name in its certificate; agents dial 127.0.0.1 and verify this name.
const NAME: &str = "collector.contoso.local";

fn link(collector: std::net::SocketAddr, bundle: &Path) -> Vec<String> {
    vec![
        "--collector".into(),
        format!("https://127.0.0.1:{}", collector.port()),
        "--tls-dir".into(),
        bundle.display().to_string(),
    ]
}

/// The server certificate names the collector's host name and 127.0.0.1, where the tests
/// dial it.
fn init_ca(dir: &Path) {
    pki::init(dir, &[NAME.to_string(), "127.0.0.1".to_string()]).unwrap();
}

/// Opens a stream with an explicit TLS client config and says hello; the error if refused.
async fn hello_with(
    addr: std::net::SocketAddr,
    tls: ClientTlsConfig,
    agent_id: &str,
) -> Result<(), String> {
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(AgentMessage {
        body: Some(agent_message::Body::Hello(Hello {
            agent_id: agent_id.into(),
            ..Hello::default()
        })),
    })
    .await
    .unwrap();
    let mut inbound = AgentLinkClient::new(channel)
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    match inbound.message().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("closed".into()),
        Err(s) => Err(format!("{:?}: {}", s.code(), s.message())),
    }
}

fn bundle_tls(bundle: &Path) -> ClientTlsConfig {
    let read = |n: &str| std::fs::read_to_string(bundle.join(n)).unwrap();
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(read("agent.pem"), read("agent.key")))
        .domain_name("127.0.0.1")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enrolled_agent_reports_over_tls_and_a_revoked_one_is_refused() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let pki_dir = dir.path().join("pki");
    init_ca(&pki_dir);
    let bundle = dir.path().join("bundle-svc");
    pki::enroll(&pki_dir, "svc-e2e", &bundle).unwrap();
    let db = dir.path().join("collector.db");
    let tls = AgentTls::load(&pki_dir).unwrap();
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let addr = collector.addr;

    let agent = Agent::start_with(
        &lab,
        &ca,
        &link(addr, &bundle),
        "svc-e2e",
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );
    eventually(30, "results over TLS", || async {
        match collector.last_seq("svc-e2e").await {
            0 => Err(agent.log()),
            _ => Ok(()),
        }
    })
    .await;

    // Revoked: the next connection is refused, by name.
    assert_eq!(pki::revoke(&pki_dir, "svc-e2e").unwrap(), 1);
    let refused = hello_with(addr, bundle_tls(&bundle), "svc-e2e").await;
    let err = refused.expect_err("a revoked certificate is refused");
    assert!(
        err.contains("PermissionDenied") && err.contains("revoked"),
        "{err}"
    );
    agent.stop().await;
    collector.crash().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_speaks_only_for_its_own_agent() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    init_ca(&pki_dir);
    let app = dir.path().join("bundle-app");
    pki::enroll(&pki_dir, "app-1", &app).unwrap();
    let db = dir.path().join("collector.db");
    let tls = AgentTls::load(&pki_dir).unwrap();
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let addr = collector.addr;

    // Its own name: welcome.
    hello_with(addr, bundle_tls(&app), "app-1").await.unwrap();
    // app-1's certificate saying it is svc-1: refused, and nothing recorded for svc-1.
    let err = hello_with(addr, bundle_tls(&app), "svc-1")
        .await
        .unwrap_err();
    assert!(
        err.contains("PermissionDenied") && err.contains("cannot report as 'svc-1'"),
        "{err}"
    );
    assert_eq!(collector.last_seq("svc-1").await, 0);

    // No client certificate: the TLS handshake itself fails (or the stream is refused).
    let read = |n: &str| std::fs::read_to_string(app.join(n)).unwrap();
    let anonymous = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .domain_name("127.0.0.1");
    let err = hello_with(addr, anonymous, "ghost-1").await.unwrap_err();
    assert!(!err.is_empty());
    assert!(
        !collector.is_known("ghost-1").await,
        "refused before any record"
    );

    // A certificate from another CA (another collector's enrollment): refused too.
    let other_ca = dir.path().join("other-pki");
    init_ca(&other_ca);
    let stranger = dir.path().join("bundle-stranger");
    pki::enroll(&other_ca, "app-1", &stranger).unwrap();
    let foreign = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(
            std::fs::read_to_string(stranger.join("agent.pem")).unwrap(),
            std::fs::read_to_string(stranger.join("agent.key")).unwrap(),
        ))
        .domain_name("127.0.0.1");
    let err = hello_with(addr, foreign, "ghost-2").await.unwrap_err();
    assert!(!err.is_empty());
    assert!(
        !collector.is_known("ghost-2").await,
        "refused before any record"
    );

    // And the agent refuses a collector whose certificate its bundle's CA did not issue.
    let wrong_ca = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read_to_string(other_ca.join("ca.pem")).unwrap(),
        ))
        .identity(Identity::from_pem(read("agent.pem"), read("agent.key")))
        .domain_name("127.0.0.1");
    let err = hello_with(addr, wrong_ca, "app-1").await.unwrap_err();
    assert!(err.starts_with("connect"), "{err}");
    collector.crash().await;
}

//! The collector logs every agent it refuses, at TLS or at Hello, with the peer's address
//! and the reason in words: a real collector process with TLS (`ca init`, `enroll`), real
//! clients, its log read back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Collector;
use eceprobe_collector::pki;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{agent_message, AgentMessage, Hello};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// An agent's TLS: `ca` from one bundle, the certificate from another (or none).
fn tls(ca_from: &Path, cert_from: Option<&Path>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca_from, "ca.pem")))
        .domain_name("127.0.0.1");
    match cert_from {
        Some(b) => config.identity(Identity::from_pem(
            read(b, "agent.pem"),
            read(b, "agent.key"),
        )),
        None => config,
    }
}

/// Connects and says hello as `agent_id`; the outcome does not matter, the log does.
async fn try_hello(addr: std::net::SocketAddr, tls: ClientTlsConfig, agent_id: &str) {
    let endpoint = Endpoint::from_shared(format!("https://127.0.0.1:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap();
    let Ok(channel) = endpoint.connect().await else {
        return;
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = Hello {
        agent_id: agent_id.into(),
        ..Hello::default()
    };
    tx.send(AgentMessage {
        body: Some(agent_message::Body::Hello(hello)),
    })
    .await
    .unwrap();
    if let Ok(r) = AgentLinkClient::new(channel)
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        let _ = r.into_inner().message().await;
    }
}

/// Waits for a log line with every one of `parts`; returns it.
fn logged(log: &Path, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            for debug in ["{", "Context", "DnsName(", "Some(", "DecryptError"] {
                assert!(!line.contains(debug), "{debug} in: {line}");
            }
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {parts:?} in the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refused_agent_is_logged_with_its_address_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    let names = [
        "collector.contoso.local".to_string(),
        "127.0.0.1".to_string(),
    ];
    pki::init(&pki_dir, &names).unwrap();
    let app = dir.path().join("bundle-app");
    pki::enroll(&pki_dir, "app-1", &app).unwrap();
    let other_pki = dir.path().join("other-pki");
    pki::init(&other_pki, &names).unwrap();
    let stranger = dir.path().join("bundle-stranger");
    pki::enroll(&other_pki, "app-7", &stranger).unwrap();
    let log = dir.path().join("collector.log");
    let tls_dir = pki_dir.display().to_string();
    let collector = Collector::start_logging(
        &dir.path().join("collector.db"),
        &["--tls-dir", &tls_dir],
        &log,
    );
    let addr = collector.addr;

    // At TLS: a certificate from another collector's CA.
    try_hello(addr, tls(&pki_dir, Some(&stranger)), "app-7").await;
    let line = logged(&log, &["agent refused at TLS", "CN=app-7"]);
    assert!(
        line.contains("peer=127.0.0.1:")
            && line.contains(
                "reason=its certificate 'CN=app-7' was not issued by this collector's CA"
            )
            && line.contains("enroll the agent here"),
        "{line}"
    );

    // No client certificate: TLS lets it in (a joining agent has none yet, for the
    // Enrollment RPC), its stream is refused before its Hello is even read, with how to
    // enroll.
    try_hello(addr, tls(&pki_dir, None), "ghost-1").await;
    let line = logged(
        &log,
        &[
            "agent refused before hello",
            "presented no client certificate",
        ],
    );
    assert!(
        line.contains("peer=127.0.0.1:") && line.contains("--join"),
        "{line}"
    );

    // At TLS: an agent whose ca.pem is another collector's refuses the collector.
    try_hello(addr, tls(&other_pki, Some(&app)), "app-1").await;
    let line = logged(
        &log,
        &[
            "agent refused at TLS",
            "does not trust this collector's certificate",
        ],
    );
    assert!(line.contains("peer=127.0.0.1:"), "{line}");

    // At TLS: plaintext HTTP/2 to the TLS port, from a known address.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    let me = plain.local_addr().unwrap();
    plain
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut sink)).await;
    let line = logged(&log, &[&format!("peer={me}"), "agent refused at TLS"]);
    assert!(line.contains("it does not speak TLS"), "{line}");

    // At Hello: another agent's name.
    try_hello(addr, tls(&pki_dir, Some(&app)), "svc-9").await;
    let line = logged(&log, &["agent refused at hello", "agent=svc-9"]);
    assert!(
        line.contains("peer=127.0.0.1:") && line.contains("cannot report as 'svc-9'"),
        "{line}"
    );

    // At Hello: revoked.
    pki::revoke(&pki_dir, "app-1").unwrap();
    try_hello(addr, tls(&pki_dir, Some(&app)), "app-1").await;
    let line = logged(&log, &["agent refused at hello", "agent=app-1"]);
    assert!(
        line.contains("peer=127.0.0.1:")
            && line.contains("reason=the certificate of agent 'app-1' is revoked on this collector: enroll the agent again"),
        "{line}"
    );
}

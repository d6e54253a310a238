//! The agent's link errors in words: each way the link to the collector fails, over real
//! sockets, and the sentence `link_error` makes of tonic's error (tonic alone says
//! "transport error", rustls "received fatal alert: DecryptError"). And the running agent
//! logs that sentence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::error::Error as StdError;
use std::path::Path;
use std::time::Duration;

use e2e::{eventually, Agent, Collector};
use eceprobe_agent::run::link_error;
use eceprobe_collector::auth::AgentTls;
use eceprobe_collector::pki;
use eceprobe_proto::v1::agent_link_client::AgentLinkClient;
use eceprobe_proto::v1::{agent_message, AgentMessage, Hello};
use eceprobe_testlab::{LabConfig, Testlab};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// As the agent sets up its link (run/mod.rs): the bundle's CA only, its certificate.
fn bundle_tls(bundle: &Path, ca_from: &Path) -> ClientTlsConfig {
    let read = |d: &Path, n: &str| std::fs::read_to_string(d.join(n)).unwrap();
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca_from, "ca.pem")))
        .identity(Identity::from_pem(
            read(bundle, "agent.pem"),
            read(bundle, "agent.key"),
        ))
        .domain_name("127.0.0.1")
}

/// Connects and says hello as `agent_id`, as the uplink does; the words of what failed.
async fn words_of(url: &str, tls: ClientTlsConfig, agent_id: &str) -> String {
    let endpoint = Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .tls_config(tls)
        .unwrap();
    let say = |e: &(dyn StdError + 'static)| {
        let words = link_error(e, url);
        for debug in [
            "{",
            "Context",
            "DnsName(",
            "transport error",
            "DecryptError",
        ] {
            assert!(!words.contains(debug), "{debug} in: {words}");
        }
        words
    };
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return say(&e),
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
    let stream = AgentLinkClient::new(channel)
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let mut inbound = match stream {
        Ok(s) => s.into_inner(),
        Err(status) => return say(&status),
    };
    match inbound.message().await {
        Ok(m) => panic!("the link worked: {m:?}"),
        Err(status) => say(&status),
    }
}

/// A TLS 1.3 client with `bundle`'s certificate, trusting `ca_from`'s ca.pem: the words of
/// the error its first read after the handshake gets.
async fn raw_tls_refusal(addr: std::net::SocketAddr, bundle: &Path, ca_from: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pem = |d: &Path, n: &str| std::fs::read(d.join(n)).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&pem(ca_from, "ca.pem")) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_slice_iter(&pem(bundle, "agent.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&pem(bundle, "agent.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS 1.3: the client's handshake completes before the refusal");
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let e = tls.read(&mut buf).await.expect_err("refused");
    link_error(&e, &format!("https://{addr}"))
}

fn init_ca(dir: &Path) {
    pki::init(dir, &["collector.contoso.local".into(), "127.0.0.1".into()]).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_link_failure_is_a_sentence_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    init_ca(&pki_dir);
    let app = dir.path().join("bundle-app");
    pki::enroll(&pki_dir, "app-1", &app).unwrap();
    let other_pki = dir.path().join("other-pki");
    init_ca(&other_pki);
    let stranger = dir.path().join("bundle-stranger");
    pki::enroll(&other_pki, "app-1", &stranger).unwrap();
    let db = dir.path().join("collector.db");
    let tls = AgentTls::load(&pki_dir).unwrap();
    let collector = Collector::start(&db, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let url = format!("https://127.0.0.1:{}", collector.addr.port());

    // Wrong port: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let wrong_port = format!("https://127.0.0.1:{closed}");
    let words = words_of(&wrong_port, bundle_tls(&app, &app), "app-1").await;
    assert!(
        words.starts_with(&format!("connection refused by 127.0.0.1:{closed}: ")),
        "{words}"
    );

    // A collector name that does not resolve.
    let words = words_of(
        "https://collector.invalid:7443",
        bundle_tls(&app, &app),
        "app-1",
    )
    .await;
    assert!(
        words.starts_with("cannot resolve collector.invalid"),
        "{words}"
    );

    // The bundle's ca.pem is another collector's: the collector is not trusted.
    let words = words_of(&url, bundle_tls(&app, &other_pki), "app-1").await;
    assert!(
        words.starts_with("the collector's certificate is not from the CA in ca.pem"),
        "{words}"
    );

    // This agent's certificate is another collector's: the collector refuses it at TLS.
    // Over TLS 1.3 the refusal (an alert) comes after the client's handshake is done, and
    // hyper may only report the closed connection; a raw TLS client always reads it.
    let refused = "the collector does not accept this agent's certificate: it was issued by another CA (a bundle from another collector); enroll this agent again with this collector";
    let words = words_of(&url, bundle_tls(&stranger, &pki_dir), "app-1").await;
    assert!(
        words == refused
            || words.starts_with(&format!(
                "the collector at 127.0.0.1:{} closed the connection before answering",
                collector.addr.port()
            )) && words.contains("the collector's log says so"),
        "{words}"
    );
    assert_eq!(
        raw_tls_refusal(collector.addr, &stranger, &pki_dir).await,
        refused
    );

    // Another agent's name: refused at Hello, the collector's own words.
    let words = words_of(&url, bundle_tls(&app, &app), "svc-9").await;
    assert!(
        words.starts_with("the collector refused this agent: ")
            && words.contains("cannot report as 'svc-9'"),
        "{words}"
    );

    // Revoked: refused at Hello, and what to do.
    assert_eq!(pki::revoke(&pki_dir, "app-1").unwrap(), 1);
    let words = words_of(&url, bundle_tls(&app, &app), "app-1").await;
    assert!(
        words.starts_with(
            "the collector refused this agent: its certificate is revoked; enroll the agent again"
        ),
        "{words}"
    );
    collector.crash().await;
}

/// The running agent logs the sentence, not "transport error".
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_logs_why_its_link_is_down() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let pki_dir = dir.path().join("pki");
    init_ca(&pki_dir);
    let bundle = dir.path().join("bundle");
    pki::enroll(&pki_dir, "svc-e2e", &bundle).unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let link = [
        "--collector".to_string(),
        format!("https://127.0.0.1:{closed}"),
        "--tls-dir".to_string(),
        bundle.display().to_string(),
    ];
    let agent = Agent::start_with(
        &lab,
        &ca,
        &link,
        "svc-e2e",
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );
    let expected = format!("connection refused by 127.0.0.1:{closed}");
    eventually(20, "the link error in the log", || async {
        let log = agent.log();
        match log.contains("collector link down") && log.contains(&expected) {
            true => Ok(()),
            false => Err(log),
        }
    })
    .await;
    assert!(!agent.log().contains("transport error"), "{}", agent.log());
    agent.stop().await;
    lab.shutdown().await;
}

//! The second security review of the join (issue 19, item 1), through real sockets, the
//! real agent binary and a real database file: one source address cannot take every place
//! for connections without a certificate; a junk token is refused before the CA is read; a
//! token of one deployment cannot take another's agent; the free retry is bounded; a token
//! left in agent.toml by a crash after joining is rewritten at the next start.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use eceprobe_collector::store::{Store, MAX_CERTIFICATES_PER_KEY};
use eceprobe_collector::{join, pki};
use eceprobe_proto::join_token::JoinToken;
use eceprobe_testlab::{LabConfig, Testlab};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::super::e2e::{eventually, Agent};
use super::super::join_common::{hello, join_once, token, url, uses};
use super::{collector, HOUR_MS};

/// A TLS connection without a client certificate from `source`, as a joining agent opens.
async fn certless(
    pki_dir: &Path,
    source: &str,
    to: SocketAddr,
) -> TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(pki_dir.join(pki::CA_CERT)).unwrap();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    let tcp = socket.connect(to).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap()
}

/// Whether the collector serves HTTP/2 on it (its SETTINGS arrive), or closed it.
async fn served(conn: &mut TlsStream<tokio::net::TcpStream>) -> bool {
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    if conn.write_all(&hello).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
        Err(_) => panic!("neither served nor closed within 10 s"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_cannot_take_every_place_of_the_joining_agents() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, _db) = collector(dir.path()).await;
    let mut held = Vec::new();
    for i in 0..4 {
        let mut conn = certless(&pki_dir, "127.0.0.1", c.addr).await;
        assert!(served(&mut conn).await, "connection {i} from 127.0.0.1");
        held.push(conn);
    }
    let mut fifth = certless(&pki_dir, "127.0.0.1", c.addr).await;
    assert!(!served(&mut fifth).await, "a 5th from 127.0.0.1 is closed");
    // Another host still joins.
    let mut other = certless(&pki_dir, "127.0.0.2", c.addr).await;
    assert!(served(&mut other).await, "127.0.0.2 is served");
    // One closed: its place comes back to its address.
    drop(held.pop());
    eventually(10, "a place for 127.0.0.1 again", || async {
        let mut conn = certless(&pki_dir, "127.0.0.1", c.addr).await;
        match served(&mut conn).await {
            true => Ok(()),
            false => Err("still closed".to_string()),
        }
    })
    .await;
    c.crash().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_junk_token_is_refused_before_the_ca_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let good = token(&db, &pki_dir, 1, false, HOUR_MS).await;
    let expired = token(&db, &pki_dir, 1, false, -1).await;
    let unknown = JoinToken {
        id: "0123456789ab".into(),
        secret: "ab".repeat(20),
        ca_sha256: join::ca_fingerprint(&pki_dir).unwrap(),
    }
    .to_text();
    // The CA key unreadable (a directory where the file was): whatever reads it fails.
    let key = pki_dir.join("ca.key");
    let aside = dir.path().join("ca.key.aside");
    std::fs::rename(&key, &aside).unwrap();
    std::fs::create_dir(&key).unwrap();
    let a = dir.path().join("tls-a");
    let (code, out) = join_once(c.addr, &a, "svc-j", &unknown).await;
    assert!(
        code != 0
            && out.contains("join token 0123456789ab is not known")
            && !out.contains("ca.key"),
        "{out}"
    );
    let (code, out) = join_once(c.addr, &a, "svc-j", &expired).await;
    assert!(
        code != 0 && out.contains("expired at") && !out.contains("ca.key"),
        "{out}"
    );
    // A good token reaches the CA: cannot sign here, nothing spent.
    let (code, out) = join_once(c.addr, &a, "svc-j", &good).await;
    assert!(code != 0 && out.contains("ca.key"), "{out}");
    assert_eq!(uses(&db, &good).await, 0);
    std::fs::remove_dir(&key).unwrap();
    std::fs::rename(&aside, &key).unwrap();
    let (code, out) = join_once(c.addr, &a, "svc-j", &good).await;
    assert_eq!(code, 0, "{out}");
    c.crash().await;
}

/// A token of `deployment` recorded in the database; its text.
async fn token_for(db: &Path, pki_dir: &Path, deployment: &str, reenroll: bool) -> String {
    let minted = join::mint(pki_dir, deployment, Duration::from_secs(3600), 5, reenroll).unwrap();
    let store = Store::open(db).await.unwrap();
    store.create_join_token(minted.record).await.unwrap();
    store.close().await;
    minted.token.to_text()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_of_another_deployment_cannot_take_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let prod = token_for(&db, &pki_dir, "prod", false).await;
    let a = dir.path().join("tls-a");
    let (code, out) = join_once(c.addr, &a, "ece-prod-01", &prod).await;
    assert_eq!(code, 0, "{out}");
    // A lab token allowing re-enrollment, from another server (a new key): refused.
    let lab = token_for(&db, &pki_dir, "lab", true).await;
    let b = dir.path().join("tls-b");
    let (code, out) = join_once(c.addr, &b, "ece-prod-01", &lab).await;
    assert!(
        code != 0
            && out.contains("agent id 'ece-prod-01' belongs to deployment 'prod'")
            && out.contains("was made for deployment 'lab'")
            && out.contains("token create --deployment prod"),
        "{out}"
    );
    assert!(!b.join("agent.pem").exists());
    assert_eq!(uses(&db, &lab).await, 0);
    // Prod's agent is untouched; a prod token allowing re-enrollment still re-enrolls.
    hello(c.addr, &a, "ece-prod-01", "prod").await.unwrap();
    let again = token_for(&db, &pki_dir, "prod", true).await;
    let (code, out) = join_once(c.addr, &b, "ece-prod-01", &again).await;
    assert_eq!(code, 0, "{out}");
    hello(c.addr, &b, "ece-prod-01", "prod").await.unwrap();
    c.crash().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_free_retry_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let once = token(&db, &pki_dir, 1, false, HOUR_MS).await;
    let a = dir.path().join("tls-a");
    for n in 0..MAX_CERTIFICATES_PER_KEY {
        std::fs::remove_file(a.join("agent.pem")).ok();
        let (code, out) = join_once(c.addr, &a, "svc-b", &once).await;
        assert_eq!(code, 0, "join {n}: {out}");
    }
    std::fs::remove_file(a.join("agent.pem")).unwrap();
    let (code, out) = join_once(c.addr, &a, "svc-b", &once).await;
    assert!(
        code != 0
            && out.contains(&format!(
                "already got {MAX_CERTIFICATES_PER_KEY} certificates for this key"
            ))
            && out.contains("token create"),
        "{out}"
    );
    let issued = std::fs::read_to_string(pki_dir.join("issued.log")).unwrap();
    assert_eq!(
        issued.lines().filter(|l| l.starts_with("svc-b\t")).count(),
        MAX_CERTIFICATES_PER_KEY,
        "{issued}"
    );
    assert_eq!(uses(&db, &once).await, 1);
    // A new token gets it a certificate again (and spends a use).
    let fresh = token(&db, &pki_dir, 1, false, HOUR_MS).await;
    let (code, out) = join_once(c.addr, &a, "svc-b", &fresh).await;
    assert_eq!(code, 0, "{out}");
    hello(c.addr, &a, "svc-b", "prod").await.unwrap();
    c.crash().await;
}

/// Joined, then stopped before the token's line was rewritten (or the rewrite failed):
/// the next `run` rewrites it, and joins nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_left_in_agent_toml_after_joining_is_rewritten_at_start() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = lab.write_ca_files(dir.path()).unwrap();
    let (c, pki_dir, db) = collector(dir.path()).await;
    let good = token(&db, &pki_dir, 1, false, HOUR_MS).await;
    let tls_dir = dir.path().join("tls");
    let (code, out) = join_once(c.addr, &tls_dir, "svc-l", &good).await;
    assert_eq!(code, 0, "{out}");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, format!("[run]\njoin = \"{good}\"\n")).unwrap();
    let link = [
        "--collector".to_string(),
        url(c.addr),
        "--tls-dir".to_string(),
        tls_dir.display().to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    let agent = Agent::start_with(
        &lab,
        &ca,
        &link,
        "svc-l",
        &dir.path().join("spool"),
        dir.path().join("agent.log"),
    );
    eventually(30, "the token's line rewritten", || async {
        let text = std::fs::read_to_string(&config).unwrap();
        match text.contains("# join: used on ") && !text.contains(&good) {
            true => Ok(()),
            false => Err(format!("{text}\n{}", agent.log())),
        }
    })
    .await;
    eventually(60, "results from the agent", || async {
        match c.last_seq("svc-l").await {
            0 => Err(agent.log()),
            _ => Ok(()),
        }
    })
    .await;
    agent.stop().await;
    assert_eq!(uses(&db, &good).await, 1);
    c.crash().await;
}

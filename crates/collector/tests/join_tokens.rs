//! `eceprobe-collector token create|list|revoke` as a real process on a real SQLite file:
//! the token is printed once, with the CA's fingerprint; the database holds its hash only
//! (the file's raw bytes are searched for the secret); list shows uses and state, never
//! the secret; revoke takes it out of use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use eceprobe_collector::{join, pki};

fn collector(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eceprobe-collector"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn raw_db(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("eceprobe.db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_token_is_printed_once_stored_hashed_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::init(&pki_dir, &["collector.contoso.local".to_string()]).unwrap();
    let db = dir.path().join("eceprobe.db");
    let (pki_s, db_s) = (pki_dir.display().to_string(), db.display().to_string());
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod",
        "--expires",
        "24h",
        "--uses",
        "20",
        "--dir",
        &pki_s,
        "--db",
        &db_s,
    ]);
    assert!(ok, "{out}");
    let token = out
        .lines()
        .find(|l| l.starts_with("ej1."))
        .unwrap_or_else(|| panic!("no token in: {out}"))
        .to_owned();
    let parsed = eceprobe_proto::join_token::JoinToken::parse(&token).unwrap();
    assert_eq!(parsed.ca_sha256, join::ca_fingerprint(&pki_dir).unwrap());
    assert!(
        out.contains("20 use(s)") && out.contains("eceprobe-agent run"),
        "{out}"
    );

    let bytes = raw_db(dir.path());
    assert!(
        !contains(&bytes, &parsed.secret),
        "the secret is in the database file"
    );
    assert!(contains(&bytes, &join::secret_sha256(&parsed.secret)));

    let (ok, list) = collector(&["token", "list", "--db", &db_s]);
    assert!(ok, "{list}");
    assert!(
        list.contains(&parsed.id) && list.contains("0/20") && list.contains("usable"),
        "{list}"
    );
    assert!(!list.contains(&parsed.secret), "{list}");

    // Copied in capitals, as some terminals' fonts invite: the same token.
    let shouted = parsed.id.to_ascii_uppercase();
    let (ok, out) = collector(&["token", "revoke", &shouted, "--db", &db_s]);
    assert!(ok && out.contains("revoked"), "{out}");
    let (ok, list) = collector(&["token", "list", "--db", &db_s]);
    assert!(ok && list.contains("revoked"), "{list}");
    let (ok, out) = collector(&["token", "revoke", &parsed.id, "--db", &db_s]);
    assert!(!ok && out.contains("no standing join token"), "{out}");

    // --allow-reenroll is recorded with the token and listed.
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "lab",
        "--allow-reenroll",
        "--dir",
        &pki_s,
        "--db",
        &db_s,
    ]);
    assert!(ok && out.contains("re-enrollment allowed"), "{out}");
    let (ok, list) = collector(&["token", "list", "--db", &db_s]);
    assert!(ok && list.contains("usable, re-enroll"), "{list}");

    // Bad input, in words.
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod",
        "--expires",
        "soon",
        "--db",
        &db_s,
        "--dir",
        &pki_s,
    ]);
    assert!(!ok && out.contains("24h"), "{out}");
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod",
        "--dir",
        "/nonexistent/pki",
        "--db",
        &db_s,
    ]);
    assert!(!ok && out.contains("ca init"), "{out}");
    // A deployment is written into issued.log's tab-separated lines: no tab, no line break.
    let (ok, out) = collector(&[
        "token",
        "create",
        "--deployment",
        "prod\tx",
        "--dir",
        &pki_s,
        "--db",
        &db_s,
    ]);
    assert!(
        !ok && out.contains("--deployment 'prod\\tx'") && out.contains("without tabs"),
        "{out}"
    );
}

/// A TLS client of the agents' port, with the enrolled bundle in `bundle` or without any
/// client certificate (as a joining agent is).
async fn tls_client(
    addr: std::net::SocketAddr,
    ca: &Path,
    bundle: Option<&Path>,
    source: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca.join(pki::CA_CERT)).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match bundle {
        Some(b) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(b.join(pki::AGENT_CERT)).unwrap()],
                PrivateKeyDer::from_pem_file(b.join(pki::AGENT_KEY)).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    // From `source` (127.0.0.x: every loopback address is this host's, yet another source
    // to the collector's per-address share).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Whether the collector closed the connection within `secs` (what it sent, HTTP/2's
/// settings, is read and dropped).
async fn closed_within(
    conn: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    secs: u64,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let read_all = async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(secs), read_all)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_without_a_certificate_are_capped_and_agents_still_connect() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::init(&pki_dir, &["127.0.0.1".to_string()]).unwrap();
    let bundle = dir.path().join("bundle");
    pki::enroll(&pki_dir, "svc-1", &bundle).unwrap();
    let tls_dir = pki_dir.display().to_string();
    let log = dir.path().join("collector.log");
    let collector = common::Collector::start_logging(
        &dir.path().join("eceprobe.db"),
        &["--tls-dir", &tls_dir],
        &log,
    );
    // 64 idle connections without a certificate (joins that never send), 4 from each of
    // 16 addresses (one address gets no more than 4): held open.
    let source = |i: usize| format!("127.0.0.{}", i / 4 + 1);
    let mut idle = Vec::new();
    for i in 0..64 {
        idle.push(tls_client(collector.addr, &pki_dir, None, &source(i)).await);
    }
    // One more, from a 17th address: closed at once, and the log says why.
    let mut extra = tls_client(collector.addr, &pki_dir, None, "127.0.0.17").await;
    assert!(closed_within(&mut extra, 5).await, "the 65th stays open");
    // A 5th from one address: its share is full.
    let mut fifth = tls_client(collector.addr, &pki_dir, None, "127.0.0.1").await;
    assert!(
        closed_within(&mut fifth, 5).await,
        "a 5th from one address stays open"
    );
    // An agent with its certificate is not counted among them.
    let mut agent = tls_client(collector.addr, &pki_dir, Some(&bundle), "127.0.0.1").await;
    assert!(!closed_within(&mut agent, 1).await, "the agent was closed");
    assert!(
        !closed_within(&mut idle[0], 1).await,
        "the first was closed"
    );
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("64 connections without a client certificate (agents joining) are open already; connection closed")
            && said.contains("4 connections without a client certificate (agents joining) are open from this address already; connection closed"),
        "{said}"
    );
    // Their places come back: one closed, one more gets in and stays.
    drop(idle.pop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut next = tls_client(collector.addr, &pki_dir, None, &source(63)).await;
    assert!(
        !closed_within(&mut next, 1).await,
        "a freed place was not given"
    );
}

//! Webhook notifications over HTTPS, as Teams, Slack or ServiceNow receive them: the real
//! collector binary, a simulated agent over gRPC, and real TLS receivers on loopback
//! (tokio-rustls + hyper) whose certificates come from a test CA the collector trusts only
//! through the webhook's `ca_file`. A receiver named `localhost` (SNI sent) and one named
//! by its IP (no SNI) both get each event with its headers; a receiver whose certificate
//! is from another CA, or for another name, gets nothing: the event is tried
//! `max_attempts` times, then dead-lettered, and the log says which webhook and why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::agent::{result, Agent, CHECKS};
use common::receiver::{Received, Receiver};
use common::Collector;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const TOKEN: &str = "Bearer tls-hook-token-5d1e";
const SECRET_PATH: &str = "/webhookb2/tenant/IncomingWebhook/path-secret-0b7a";

type Ca = CertifiedIssuer<'static, KeyPair>;

/// A self-signed CA.
fn ca(cn: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server configuration presenting a leaf for `names` (DNS names or IPs) issued by `ca`.
fn server_config(ca: &Ca, names: &[&str]) -> Arc<ServerConfig> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One TLS handshake the receiver saw: the SNI and ALPN the client sent, or its error.
#[derive(Debug, Clone)]
struct Handshake {
    sni: Option<String>,
    alpn: Option<String>,
    error: Option<String>,
}

/// What a receiver saw: its TLS handshakes, and the requests on them (all answered 200).
#[derive(Debug)]
struct Seen {
    handshakes: Mutex<Vec<Handshake>>,
    http: Receiver,
}

/// An HTTPS (HTTP/1.1) receiver on 127.0.0.1 presenting `tls`'s certificate, answering
/// 200 to every request and recording handshakes and requests (bodies bounded at 1 MiB).
async fn receiver(tls: Arc<ServerConfig>) -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen {
        handshakes: Mutex::default(),
        http: Receiver::new(|_| 200),
    });
    let log = Arc::clone(&seen);
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, log) = (acceptor.clone(), Arc::clone(&log));
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return record(&log, None, None, Some(e.to_string())),
                        Err(_) => return record(&log, None, None, Some("timed out".into())),
                    };
                let (_, conn) = stream.get_ref();
                let sni = conn.server_name().map(str::to_owned);
                let alpn = conn
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                record(&log, sni, alpn, None);
                log.http.clone().serve(stream).await;
            });
        }
    });
    (port, seen)
}

fn record(log: &Seen, sni: Option<String>, alpn: Option<String>, error: Option<String>) {
    let handshake = Handshake { sni, alpn, error };
    log.handshakes.lock().unwrap().push(handshake);
}

/// Waits (at most 20 s) until the receiver has answered `n` requests.
async fn requests(seen: &Seen, n: usize) -> Vec<Received> {
    seen.http
        .try_accepted(n)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {n} requests; saw {seen:#?}"))
}

/// Waits (at most 20 s) until `n` lines of the collector's log contain `needle`.
async fn log_lines(log: &Path, needle: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {n} log lines with {needle:?}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `[[webhook]]` to `https://{host}:{port}` trusting `ca_pem` besides the OS store.
fn webhook(host: &str, port: u16, ca_pem: &Path) -> String {
    format!(
        "[[webhook]]\nurl = \"https://{host}:{port}{SECRET_PATH}\"\nca_file = {ca:?}\n\
         headers = {{ Authorization = \"{TOKEN}\", X-Eceprobe-Source = \"collector-tls-test\" }}\n\
         max_attempts = 3\nretry_base_ms = 50\n",
        ca = ca_pem.to_str().unwrap(),
    )
}

/// Starts the collector with `webhooks` (logging at info to `dir/collector.log`).
fn collector(dir: &Path, webhooks: &[String]) -> Collector {
    let config = dir.join("collector.toml");
    let text = format!("evaluate_every_s = 1\n{}", webhooks.concat());
    std::fs::write(&config, text).unwrap();
    let args = ["--plaintext", "--config", config.to_str().unwrap()];
    Collector::start_logging(&dir.join("c.db"), &args, &dir.join("collector.log"))
}

/// The first batch of an agent: everything passes but imap (a gap opens).
fn imap_failing() -> Vec<eceprobe_proto::v1::CheckResult> {
    CHECKS
        .iter()
        .enumerate()
        .map(|(i, c)| result(i as u64 + 1, c, (*c == "imap").then_some("tcp_refused")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_arrive_over_https_trusting_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let test_ca = ca("eceprobe webhook test CA");
    let ca_pem = dir.path().join("webhook-ca.pem");
    std::fs::write(&ca_pem, test_ca.pem()).unwrap();
    // One receiver reached by name (the client sends SNI), one by IP (no SNI: the
    // certificate's IP address is what is verified).
    let (by_name, named) = receiver(server_config(&test_ca, &["localhost"])).await;
    let (by_ip, addressed) = receiver(server_config(&test_ca, &["127.0.0.1"])).await;
    let collector = collector(
        dir.path(),
        &[
            webhook("localhost", by_name, &ca_pem),
            webhook("127.0.0.1", by_ip, &ca_pem),
        ],
    );
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;

    // imap fails: one gap opens; then it is fixed: the gap closes.
    agent.send_results(imap_failing()).await;
    let opened = requests(&named, 1).await[0].body.clone();
    assert_eq!(opened["event"], "gap_opened", "{opened}");
    assert_eq!(
        (&opened["source"], &opened["server"], &opened["check"]),
        (&"continuous".into(), &"svc-1".into(), &"imap".into())
    );
    assert!(
        opened["event_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{opened}"
    );
    agent.send_results(vec![result(10, "imap", None)]).await;
    let by_name_got = requests(&named, 2).await;
    requests(&addressed, 2).await;
    let closed = &by_name_got[1].body;
    assert_eq!(closed["event"], "gap_closed", "{closed}");
    assert_eq!(closed["check"], "imap");
    assert_eq!(closed["opened_unix_ms"], opened["opened_unix_ms"]);
    assert_ne!(closed["event_id"], opened["event_id"]);

    // Nothing more: each change once, the same event (same event_id) at both receivers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (host, port, seen) in [
        ("localhost", by_name, &named),
        ("127.0.0.1", by_ip, &addressed),
    ] {
        let got = seen.http.requests();
        let handshakes = seen.handshakes.lock().unwrap().clone();
        let bodies: Vec<&serde_json::Value> = got.iter().map(|r| &r.body).collect();
        assert_eq!(bodies, [&opened, closed], "{host}: {seen:#?}");
        for r in &got {
            assert_eq!(r.path, SECRET_PATH);
            assert_eq!(r.header("host"), format!("{host}:{port}"));
            assert_eq!(r.header("authorization"), TOKEN);
            assert_eq!(r.header("x-eceprobe-source"), "collector-tls-test");
            assert_eq!(r.header("content-type"), "application/json");
            assert!(r.header("user-agent").starts_with("eceprobe-collector/"));
            assert!(!r.raw.contains("tls-hook-token") && !r.raw.contains("path-secret"));
        }
        // One TLS connection per event, every handshake clean, speaking http/1.1.
        assert_eq!(handshakes.len(), 2, "{host}: {seen:#?}");
        for h in &handshakes {
            assert_eq!(h.error, None, "{host}: {h:?}");
            assert_eq!(h.alpn.as_deref(), Some("http/1.1"), "{host}: {h:?}");
        }
        let sni = handshakes[0].sni.as_deref();
        match host {
            "localhost" => assert_eq!(sni, Some("localhost"), "SNI is the URL's host"),
            _ => assert_eq!(sni, None, "no SNI for an IP address"),
        }
    }

    drop(agent);
    drop(collector);
    let text = std::fs::read_to_string(dir.path().join("collector.log")).unwrap();
    assert!(text.contains("webhooks: 2 configured"), "{text}");
    assert!(
        !text.contains("dead-lettered") && !text.contains("retrying"),
        "{text}"
    );
    assert!(
        !text.contains("path-secret") && !text.contains("tls-hook-token"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_the_ca_does_not_vouch_for_gets_nothing_and_the_event_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let test_ca = ca("eceprobe webhook test CA");
    let ca_pem = dir.path().join("webhook-ca.pem");
    std::fs::write(&ca_pem, test_ca.pem()).unwrap();
    let rogue = ca("Rogue Example CA");
    // A trusted receiver (the control: the event was sent), one whose certificate is for
    // the right name from a CA nobody trusts, one from the trusted CA for another name.
    let (good, trusted) = receiver(server_config(&test_ca, &["localhost"])).await;
    let (untrusted, unknown_ca) = receiver(server_config(&rogue, &["localhost"])).await;
    let (misnamed, wrong_name) = receiver(server_config(&test_ca, &["wrong.example.net"])).await;
    let collector = collector(
        dir.path(),
        &[
            webhook("localhost", good, &ca_pem),
            webhook("localhost", untrusted, &ca_pem),
            webhook("localhost", misnamed, &ca_pem),
        ],
    );
    let (mut agent, _) = Agent::connect(collector.addr, "svc-1").await;

    agent.send_results(imap_failing()).await;
    let opened = requests(&trusted, 1).await[0].body.clone();
    assert_eq!(opened["event"], "gap_opened", "{opened}");
    let event_id = opened["event_id"].as_str().unwrap().to_owned();

    // Both refused certificates are dead-lettered, after max_attempts (3) each.
    let log = dir.path().join("collector.log");
    let dead = log_lines(&log, "webhook event dead-lettered", 2).await;
    // Long enough for more attempts (retry_base_ms = 50) if the collector kept trying.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (port, seen, reason) in [
        (
            untrusted,
            &unknown_ca,
            "TLS: the certificate was issued by a CA that this collector does not trust",
        ),
        (
            misnamed,
            &wrong_name,
            "TLS: the certificate is for wrong.example.net, not localhost",
        ),
    ] {
        let target = format!("webhook=https://localhost:{port} ");
        let line = dead
            .iter()
            .find(|l| l.contains(&target))
            .unwrap_or_else(|| panic!("no dead letter for port {port}: {dead:#?}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains(&format!("event_id={event_id}")), "{line}");
        assert!(line.contains("attempts=3"), "{line}");
        assert!(
            line.contains(reason) && !line.contains("Context") && !line.contains('{'),
            "the reason is in the log: {line}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let retries = text
            .lines()
            .filter(|l| l.contains("webhook attempt failed; retrying") && l.contains(&target))
            .count();
        assert_eq!(retries, 2, "{text}");

        // The receiver saw exactly three handshakes, each refused, and no request.
        let handshakes = seen.handshakes.lock().unwrap().clone();
        assert_eq!(handshakes.len(), 3, "max_attempts is respected: {seen:#?}");
        assert!(handshakes.iter().all(|h| h.error.is_some()), "{seen:#?}");
        assert!(
            seen.http.requests().is_empty(),
            "nothing delivered: {seen:#?}"
        );
    }

    // The trusted webhook got its event once and was not dead-lettered.
    assert_eq!(trusted.http.requests().len(), 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let good_target = format!("webhook=https://localhost:{good} ");
    assert!(
        !text
            .lines()
            .any(|l| l.contains(&good_target)
                && (l.contains("dead-lettered") || l.contains("retrying"))),
        "{text}"
    );
    assert_eq!(
        text.matches("webhook event dead-lettered").count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("path-secret") && !text.contains("tls-hook-token"),
        "{text}"
    );
    drop(agent);
}

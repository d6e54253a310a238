//! Each fault looks, from a client, like the failure it stands for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use eceprobe_testlab::{Endpoint, Fault, LabConfig, Testlab};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

async fn start(ep: Endpoint, f: Fault) -> Testlab {
    Testlab::start(LabConfig::healthy().fault(ep, f))
        .await
        .unwrap()
}

/// The handshake error a client trusting `roots` gets from `ep` under `f`.
#[tokio::test]
async fn refuse_gives_connection_refused() {
    let lab = start(Endpoint::Pop3, Fault::Refuse).await;
    let err = TcpStream::connect(lab.addrs(Endpoint::Pop3)[0])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn black_hole_times_out() {
    let lab = start(Endpoint::Imap, Fault::BlackHole).await;
    let addr = lab.addrs(Endpoint::Imap)[0];
    for _ in 0..3 {
        let started = Instant::now();
        let res = timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
        assert!(res.is_err(), "connect was answered: {res:?}");
        assert!(started.elapsed() >= Duration::from_millis(500));
    }
    assert_eq!(lab.connections(Endpoint::Imap), 0);
}

#[tokio::test]
async fn silent_accepts_but_never_talks() {
    let lab = start(Endpoint::Smtp, Fault::Silent).await;
    let mut tcp = TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(timeout(Duration::from_millis(300), tcp.read(&mut buf))
        .await
        .is_err());

    let lab = start(Endpoint::Imap, Fault::Silent).await;
    let cfg = client_config(&[lab.ca_pem()]);
    let tcp = TcpStream::connect(lab.addrs(Endpoint::Imap)[0])
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("outlook.office365.com").unwrap();
    let hs = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp);
    assert!(timeout(Duration::from_millis(300), hs).await.is_err());
    assert_eq!(lab.connections(Endpoint::Imap), 1);
}

#[tokio::test]
async fn delay_slows_handshake_and_replies() {
    let d = Duration::from_millis(150);
    let lab = start(Endpoint::Pop3, Fault::Delay(d)).await;
    let started = Instant::now();
    let tls = tls_connect(
        lab.addrs(Endpoint::Pop3)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= d);
    let mut r = BufReader::new(tls);
    assert!(line(&mut r).await.starts_with("+OK"));
    assert!(started.elapsed() >= d * 2);
    let asked = Instant::now();
    send(&mut r, "CAPA\r\n").await;
    lines_until(&mut r, ".").await;
    assert!(asked.elapsed() >= d);
}

#[tokio::test]
async fn trickle_sends_greeting_byte_by_byte() {
    let lab = start(Endpoint::Smtp, Fault::Trickle(Duration::from_millis(20))).await;
    let mut tcp = TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 10 {
        let n = timeout(WAIT, tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"220 LAB1PR"));
    // Ten bytes at 20 ms each cannot arrive in much under 180 ms.
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn endless_line_never_ends() {
    let lab = start(Endpoint::Imap, Fault::EndlessLine).await;
    let tls = tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut bounded = tls.take(256 * 1024);
    let mut got = Vec::new();
    timeout(WAIT, bounded.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 256 * 1024);
    assert!(got.iter().all(|&b| b == b'A'));
}

#[tokio::test]
async fn huge_banner_never_finishes() {
    let lab = start(Endpoint::Smtp, Fault::HugeBanner(10_000)).await;
    let mut r = BufReader::new(
        TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
            .await
            .unwrap(),
    );
    let mut total = 0;
    while total < 10_000 {
        let l = line(&mut r).await;
        assert!(l.starts_with("220-"), "{l}");
        assert!(l.len() <= 120);
        total += l.len();
    }
    let mut buf = [0u8; 64];
    assert!(timeout(Duration::from_millis(300), r.read(&mut buf))
        .await
        .is_err());
}

#[tokio::test]
async fn garbage_is_not_the_protocol() {
    let lab = start(Endpoint::Pop3, Fault::Garbage).await;
    let mut tls = tls_connect(
        lab.addrs(Endpoint::Pop3)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    assert_eq!(
        read_all(&mut tls).await,
        b"HTTP/1.1 400 Bad Request\r\n\r\n"
    );

    let lab = start(Endpoint::Login, Fault::Garbage).await;
    let mut tls = tls_connect(
        lab.addrs(Endpoint::Login)[0],
        "login.microsoftonline.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    send(&mut tls, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(read_all(&mut tls).await.starts_with(b"SSH-2.0-"));
}

#[tokio::test]
async fn no_xoauth2_everywhere() {
    let cfg = LabConfig::healthy()
        .fault(Endpoint::Imap, Fault::NoXoauth2)
        .fault(Endpoint::Pop3, Fault::NoXoauth2)
        .fault(Endpoint::Smtp, Fault::NoXoauth2);
    let lab = Testlab::start(cfg).await.unwrap();
    let tls_cfg = client_config(&[lab.ca_pem()]);

    let tls = tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        "outlook.office365.com",
        tls_cfg.clone(),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    line(&mut r).await;
    send(&mut r, "a CAPABILITY\r\n").await;
    let caps = lines_until(&mut r, "a ").await.concat();
    assert!(
        caps.contains("AUTH=PLAIN") && !caps.contains("XOAUTH2"),
        "{caps}"
    );

    let tls = tls_connect(
        lab.addrs(Endpoint::Pop3)[0],
        "outlook.office365.com",
        tls_cfg.clone(),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    line(&mut r).await;
    send(&mut r, "CAPA\r\n").await;
    let capa = lines_until(&mut r, ".").await;
    assert!(capa.contains(&"SASL PLAIN\r\n".to_string()), "{capa:?}");

    let mut r = BufReader::new(
        TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
            .await
            .unwrap(),
    );
    line(&mut r).await;
    send(&mut r, "STARTTLS\r\n").await;
    line(&mut r).await;
    let tls = tls_upgrade(r.into_inner(), "smtp.office365.com", tls_cfg)
        .await
        .unwrap();
    let mut r = BufReader::new(tls);
    send(&mut r, "EHLO x\r\n").await;
    let ehlo = lines_until(&mut r, "250 ").await;
    assert!(ehlo.contains(&"250-AUTH LOGIN\r\n".to_string()), "{ehlo:?}");
}

#[tokio::test]
async fn no_starttls() {
    let lab = start(Endpoint::Smtp, Fault::NoStarttls).await;
    let mut r = BufReader::new(
        TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
            .await
            .unwrap(),
    );
    line(&mut r).await;
    send(&mut r, "EHLO x\r\n").await;
    let ehlo = lines_until(&mut r, "250 ").await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    send(&mut r, "STARTTLS\r\n").await;
    assert!(line(&mut r).await.starts_with("502 "));
}

#[tokio::test]
async fn http_status_and_missing_token_endpoint() {
    let cfg = LabConfig::healthy()
        .fault(Endpoint::OutlookHttps, Fault::HttpStatus(503))
        .fault(Endpoint::Login, Fault::NoTokenEndpoint);
    let lab = Testlab::start(cfg).await.unwrap();
    let tls_cfg = client_config(&[lab.ca_pem()]);

    let mut tls = tls_connect(
        lab.addrs(Endpoint::OutlookHttps)[0],
        "outlook.office365.com",
        tls_cfg.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        http(&mut tls, "GET", "outlook.office365.com", "/")
            .await
            .status,
        503
    );

    let mut tls = tls_connect(
        lab.addrs(Endpoint::Login)[0],
        "login.microsoftonline.com",
        tls_cfg,
    )
    .await
    .unwrap();
    let resp = http(
        &mut tls,
        "GET",
        "login.microsoftonline.com",
        "/common/v2.0/.well-known/openid-configuration",
    )
    .await;
    assert_eq!(resp.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert!(doc.get("token_endpoint").is_none());
    assert!(doc["issuer"].is_string());
}

#[tokio::test]
async fn https_trickle_still_answers() {
    let lab = start(Endpoint::EceWeb, Fault::Trickle(Duration::from_millis(1))).await;
    let mut tls = tls_connect(
        lab.addrs(Endpoint::EceWeb)[0],
        "ece.example.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let resp = http(&mut tls, "GET", "ece.example.com", "/").await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("ECE"));
}

#[tokio::test]
async fn invalid_configurations_are_rejected() {
    let bad = LabConfig::healthy().fault(Endpoint::Login, Fault::HttpStatus(42));
    assert!(Testlab::start(bad).await.is_err());
    let none = LabConfig::healthy().addresses(Endpoint::Imap, vec![]);
    assert!(Testlab::start(none).await.is_err());
}

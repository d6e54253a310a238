//! The CONNECT proxy tunnels to lab endpoints by real host name, or refuses as configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use eceprobe_testlab::{Endpoint, LabConfig, ProxyMode, Testlab, PROXY_PASSWORD, PROXY_USER};
use tokio::io::BufReader;
use tokio::net::TcpStream;

async fn start(mode: ProxyMode) -> Testlab {
    Testlab::start(LabConfig::healthy().proxy(mode))
        .await
        .unwrap()
}

/// Sends a CONNECT (with optional extra header lines) and returns the response head.
async fn connect(lab: &Testlab, target: &str, extra: &str) -> (String, BufReader<TcpStream>) {
    let tcp = TcpStream::connect(lab.proxy_addr().unwrap()).await.unwrap();
    let mut r = BufReader::new(tcp);
    send(
        &mut r,
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{extra}\r\n"),
    )
    .await;
    let head = lines_until(&mut r, "\r\n").await.concat();
    (head, r)
}

#[tokio::test]
async fn allow_tunnels_by_host_name() {
    let lab = start(ProxyMode::Allow).await;
    let cfg = client_config(&[lab.ca_pem()]);

    let (head, r) = connect(&lab, "login.microsoftonline.com:443", "").await;
    assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    let mut tls = tls_upgrade(r.into_inner(), "login.microsoftonline.com", cfg.clone())
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

    // Same port 443, other host: the Outlook front door, not Login.
    let (_, r) = connect(&lab, "outlook.office365.com:443", "").await;
    let mut tls = tls_upgrade(r.into_inner(), "outlook.office365.com", cfg.clone())
        .await
        .unwrap();
    assert_eq!(
        http(&mut tls, "GET", "outlook.office365.com", "/")
            .await
            .status,
        302
    );

    // IMAP through the tunnel.
    let (_, r) = connect(&lab, "OUTLOOK.office365.com:993", "").await;
    let tls = tls_upgrade(r.into_inner(), "outlook.office365.com", cfg)
        .await
        .unwrap();
    let mut r = BufReader::new(tls);
    assert!(line(&mut r)
        .await
        .starts_with("* OK The Microsoft Exchange IMAP4"));

    assert_eq!(
        lab.proxy_connects(),
        [
            "login.microsoftonline.com:443",
            "outlook.office365.com:443",
            "OUTLOOK.office365.com:993"
        ]
    );
    assert_eq!(lab.connections(Endpoint::Login), 1);
    assert_eq!(lab.connections(Endpoint::OutlookHttps), 1);
}

#[tokio::test]
async fn unknown_target_is_bad_gateway() {
    let lab = start(ProxyMode::Allow).await;
    let (head, _) = connect(&lab, "example.org:443", "").await;
    assert!(head.starts_with("HTTP/1.1 502 "), "{head}");
    // Right host, wrong port.
    let (head, _) = connect(&lab, "smtp.office365.com:25", "").await;
    assert!(head.starts_with("HTTP/1.1 502 "), "{head}");
}

#[tokio::test]
async fn deny_answers_403() {
    let lab = start(ProxyMode::Deny403).await;
    let (head, _) = connect(&lab, "login.microsoftonline.com:443", "").await;
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert_eq!(lab.proxy_connects(), ["login.microsoftonline.com:443"]);
    assert_eq!(lab.connections(Endpoint::Login), 0);
}

#[tokio::test]
async fn require_auth_answers_407_until_credentials() {
    let lab = start(ProxyMode::RequireAuth407).await;
    let (head, _) = connect(&lab, "smtp.office365.com:587", "").await;
    assert!(head.starts_with("HTTP/1.1 407 "), "{head}");
    assert!(
        head.contains("Proxy-Authenticate: Basic realm=\"lab\"\r\n"),
        "{head}"
    );

    use base64::Engine as _;
    let creds =
        base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"));
    let (head, mut r) = connect(
        &lab,
        "smtp.office365.com:587",
        &format!("Proxy-Authorization: Basic {creds}\r\n"),
    )
    .await;
    assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    assert!(line(&mut r).await.starts_with("220 "));
}

#[tokio::test]
async fn plain_requests_are_not_proxied() {
    let lab = start(ProxyMode::Allow).await;
    let mut tcp = TcpStream::connect(lab.proxy_addr().unwrap()).await.unwrap();
    let resp = http(&mut tcp, "GET", "example.org", "http://example.org/").await;
    assert_eq!(resp.status, 405);
    assert!(lab.proxy_connects().is_empty());
}

#[tokio::test]
async fn no_proxy_unless_asked() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    assert!(lab.proxy_addr().is_none());
}

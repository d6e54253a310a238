//! A healthy lab talks like Microsoft 365 on every endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::*;
use eceprobe_testlab::{Endpoint, LabConfig, Testlab};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::TcpStream;

async fn healthy() -> Testlab {
    Testlab::start(LabConfig::healthy()).await.unwrap()
}

fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).unwrap()
}

#[tokio::test]
async fn imap_greeting_capability_logout() {
    let lab = healthy().await;
    let host = Endpoint::Imap.host(lab.hostnames()).to_string();
    let tls = tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        &host,
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let (_, conn) = tls.get_ref();
    // Leaf + intermediate, like Microsoft's chains.
    assert_eq!(conn.peer_certificates().unwrap().len(), 2);
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    let mut r = BufReader::new(tls);
    let greeting = line(&mut r).await;
    let prefix = "* OK The Microsoft Exchange IMAP4 service is ready. [";
    assert!(greeting.starts_with(prefix), "{greeting}");
    let blob = greeting[prefix.len()..].trim_end().trim_end_matches(']');
    let name = utf16le(
        &base64::engine::general_purpose::STANDARD
            .decode(blob)
            .unwrap(),
    );
    assert_eq!(name, "LAB1PR01CA0001.outlook.office365.com");

    send(&mut r, "a1 CAPABILITY\r\n").await;
    let caps = lines_until(&mut r, "a1 ").await;
    assert_eq!(
        caps,
        [
            "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n",
            "a1 OK CAPABILITY completed.\r\n"
        ]
    );
    send(&mut r, "a2 NOOP\r\n").await;
    assert_eq!(line(&mut r).await, "a2 OK NOOP completed.\r\n");
    send(&mut r, "a3 AUTHENTICATE FOO\r\n").await;
    assert_eq!(line(&mut r).await, "a3 BAD Command Error. 12\r\n");
    send(&mut r, "a4 LOGOUT\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n"
    );
    assert_eq!(line(&mut r).await, "a4 OK LOGOUT completed.\r\n");
    assert!(read_all(&mut r).await.is_empty());
    assert_eq!(lab.connections(Endpoint::Imap), 1);
    lab.shutdown().await;
}

#[tokio::test]
async fn tls12_is_accepted() {
    let lab = healthy().await;
    let cfg = config_with_versions(&[lab.ca_pem()], &[&rustls::version::TLS12]);
    let tls = tls_connect(lab.addrs(Endpoint::Pop3)[0], "outlook.office365.com", cfg)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[tokio::test]
async fn imap_rejects_overlong_lines() {
    let lab = healthy().await;
    let tls = tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    line(&mut r).await;
    send(&mut r, &format!("a1 {}\r\n", "X".repeat(20_000))).await;
    assert_eq!(line(&mut r).await, "* BAD Command Error. 12\r\n");
    assert_eq!(line(&mut r).await, "* BYE Connection is closed. 13\r\n");
}

#[tokio::test]
async fn pop3_greeting_capa_quit() {
    let lab = healthy().await;
    let tls = tls_connect(
        lab.addrs(Endpoint::Pop3)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    let greeting = line(&mut r).await;
    assert!(
        greeting.starts_with("+OK The Microsoft Exchange POP3 service is ready. ["),
        "{greeting}"
    );
    send(&mut r, "CAPA\r\n").await;
    let capa = lines_until(&mut r, ".").await;
    assert_eq!(
        capa,
        [
            "+OK\r\n",
            "TOP\r\n",
            "UIDL\r\n",
            "SASL PLAIN XOAUTH2\r\n",
            "USER\r\n",
            ".\r\n"
        ]
    );
    send(&mut r, "STAT\r\n").await;
    assert_eq!(line(&mut r).await, "-ERR Protocol error. 14\r\n");
    send(&mut r, "QUIT\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "+OK Microsoft Exchange Server POP3 server signing off.\r\n"
    );
}

#[tokio::test]
async fn smtp_ehlo_starttls_ehlo() {
    let lab = healthy().await;
    let tcp = TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
        .await
        .unwrap();
    let mut r = BufReader::new(tcp);
    let greeting = line(&mut r).await;
    assert!(
        greeting.starts_with(
            "220 LAB1PR01CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready at "
        ),
        "{greeting}"
    );
    assert!(greeting.trim_end().ends_with("+0000"));

    send(&mut r, "EHLO probe.example\r\n").await;
    let ehlo = lines_until(&mut r, "250 ").await;
    assert_eq!(
        ehlo,
        [
            "250-LAB1PR01CA0001.outlook.office365.com Hello [127.0.0.1]\r\n",
            "250-SIZE 157286400\r\n",
            "250-PIPELINING\r\n",
            "250-DSN\r\n",
            "250-ENHANCEDSTATUSCODES\r\n",
            "250-STARTTLS\r\n",
            "250-8BITMIME\r\n",
            "250-BINARYMIME\r\n",
            "250-CHUNKING\r\n",
            "250 SMTPUTF8\r\n",
        ]
    );
    send(&mut r, "AUTH XOAUTH2\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "504 5.7.4 Unrecognized authentication type\r\n"
    );
    send(&mut r, "HELP\r\n").await;
    assert_eq!(line(&mut r).await, "500 5.3.3 Unrecognized command\r\n");
    send(&mut r, "STARTTLS\r\n").await;
    assert_eq!(line(&mut r).await, "220 2.0.0 SMTP server ready\r\n");

    let tls = tls_upgrade(
        r.into_inner(),
        "smtp.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    send(&mut r, "EHLO probe.example\r\n").await;
    let ehlo = lines_until(&mut r, "250 ").await;
    assert!(
        ehlo.contains(&"250-AUTH LOGIN XOAUTH2\r\n".to_string()),
        "{ehlo:?}"
    );
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")));
    send(&mut r, "MAIL FROM:<a@b.example>\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "530 5.7.57 Client not authenticated to send mail\r\n"
    );
    send(&mut r, "QUIT\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "221 2.0.0 Service closing transmission channel\r\n"
    );
}

#[tokio::test]
async fn login_openid_configuration_and_token_endpoint() {
    let lab = healthy().await;
    let cfg = client_config(&[lab.ca_pem()]);
    let host = "login.microsoftonline.com";
    let addr = lab.addrs(Endpoint::Login)[0];
    for tenant in ["common", "organizations", "contoso.onmicrosoft.com"] {
        let mut tls = tls_connect(addr, host, cfg.clone()).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), None);
        let path = format!("/{tenant}/v2.0/.well-known/openid-configuration");
        let resp = http(&mut tls, "GET", host, &path).await;
        assert_eq!(resp.status, 200);
        assert!(resp
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(
            doc["token_endpoint"],
            format!("https://{host}/{tenant}/oauth2/v2.0/token")
        );
        for key in [
            "issuer",
            "authorization_endpoint",
            "device_authorization_endpoint",
            "jwks_uri",
        ] {
            assert!(doc[key].is_string(), "{key} missing");
        }
    }

    let mut tls = tls_connect(addr, host, cfg.clone()).await.unwrap();
    let resp = http(&mut tls, "POST", host, "/common/oauth2/v2.0/token").await;
    assert_eq!(resp.status, 400);
    let err: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(err["error"], "invalid_request");
    assert_eq!(err["error_codes"][0], 900144);
    // Entra appends the trace, correlation and time to every description.
    let description = err["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(
            "AADSTS900144: The request body must contain the following parameter: 'grant_type'. Trace ID: "
        ),
        "{description}"
    );

    let mut tls = tls_connect(addr, host, cfg).await.unwrap();
    assert_eq!(http(&mut tls, "GET", host, "/nowhere").await.status, 404);
}

#[tokio::test]
async fn outlook_redirects_and_ece_answers() {
    let lab = healthy().await;
    let cfg = client_config(&[lab.ca_pem()]);
    let mut tls = tls_connect(
        lab.addrs(Endpoint::OutlookHttps)[0],
        "outlook.office365.com",
        cfg.clone(),
    )
    .await
    .unwrap();
    let resp = http(&mut tls, "GET", "outlook.office365.com", "/").await;
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.header("location").unwrap(),
        "https://outlook.office.com/owa/"
    );

    let mut tls = tls_connect(lab.addrs(Endpoint::EceWeb)[0], "ece.example.com", cfg)
        .await
        .unwrap();
    let resp = http(&mut tls, "GET", "ece.example.com", "/").await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("ECE"));
}

#[tokio::test]
async fn resolve_args_name_every_endpoint() {
    let lab = healthy().await;
    let args = lab.resolve_args();
    assert_eq!(args.len(), Endpoint::ALL.len());
    for (ep, arg) in Endpoint::ALL.iter().zip(&args) {
        let expected = format!(
            "{}:{}:{}",
            ep.host(lab.hostnames()),
            ep.real_port(),
            lab.addrs(*ep)[0]
        );
        assert_eq!(arg, &expected);
    }
    assert!(args[2].starts_with("outlook.office365.com:993:127.0.0.1:"));
    // Every endpoint has its own port.
    let mut ports: Vec<u16> = Endpoint::ALL
        .iter()
        .map(|e| lab.addrs(*e)[0].port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 6);
}

#[tokio::test]
async fn ca_files_are_written() {
    let lab = healthy().await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, interceptor) = lab.write_ca_files(dir.path()).unwrap();
    assert_eq!(ca.file_name().unwrap(), "lab-ca.pem");
    assert_eq!(interceptor.file_name().unwrap(), "interceptor-ca.pem");
    assert_eq!(std::fs::read_to_string(ca).unwrap(), lab.ca_pem());
    assert_eq!(
        std::fs::read_to_string(interceptor).unwrap(),
        lab.interceptor_ca_pem()
    );
    assert_ne!(lab.ca_pem(), lab.interceptor_ca_pem());
}

#[tokio::test]
async fn shutdown_closes_listeners_and_connections() {
    let lab = healthy().await;
    let addr = lab.addrs(Endpoint::Imap)[0];
    let tls = tls_connect(
        addr,
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    line(&mut r).await;
    let smtp = lab.addrs(Endpoint::Smtp)[0];
    let mut plain = TcpStream::connect(smtp).await.unwrap();
    lab.shutdown().await;

    // The open connections end...
    assert!(read_all(&mut r).await.is_empty());
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut rest))
        .await
        .unwrap();
    // ...and nothing listens any more.
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn dropping_the_lab_stops_it() {
    let lab = healthy().await;
    let addr = lab.addrs(Endpoint::Pop3)[0];
    drop(lab);
    // Abort is asynchronous: give the runtime a moment to drop the listener.
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused);
}

//! An endpoint served on several addresses, one fault each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use eceprobe_testlab::{Endpoint, Fault, LabConfig, ProxyMode, Testlab};
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::timeout;

fn frontend(greeting: &str) -> String {
    let blob = greeting
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end()
        .trim_end_matches(']');
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap();
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).unwrap()
}

#[tokio::test]
async fn each_address_has_its_own_ip_and_fault() {
    let faults = vec![
        Fault::None,
        Fault::Refuse,
        Fault::None,
        Fault::BlackHole,
        Fault::UntrustedCert,
        Fault::None,
    ];
    let cfg = LabConfig::healthy()
        .addresses(Endpoint::Imap, faults)
        .proxy(ProxyMode::Allow);
    let lab = Testlab::start(cfg).await.unwrap();
    let addrs = lab.addrs(Endpoint::Imap);
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    let expected: Vec<IpAddr> = (1..=6)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect();
    assert_eq!(ips, expected);

    let joined: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    assert!(lab
        .resolve_args()
        .contains(&format!("outlook.office365.com:993:{}", joined.join(","))));

    let cfg_tls = client_config(&[lab.ca_pem()]);
    let mut reachable = 0;
    for (i, addr) in addrs.iter().enumerate() {
        let res = timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
        let tcp = match (i, res) {
            (1, Ok(Err(e))) => {
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
                continue;
            }
            (3, Err(_)) => continue, // black hole: connect timed out
            (_, Ok(Ok(tcp))) => tcp,
            (i, other) => panic!("address {i}: unexpected {other:?}"),
        };
        match tls_upgrade(tcp, "outlook.office365.com", cfg_tls.clone()).await {
            Ok(tls) => {
                let mut r = BufReader::new(tls);
                let name = frontend(&line(&mut r).await);
                assert_eq!(
                    name,
                    format!("LAB1PR01CA{:04}.outlook.office365.com", i + 1)
                );
                reachable += 1;
            }
            Err(e) => {
                assert_eq!(i, 4, "address {i}: {e}");
            }
        }
    }
    assert_eq!(reachable, 3);
    // Accepted on addresses 0, 2, 4 (the untrusted one accepts TCP too) and 5.
    assert_eq!(lab.connections(Endpoint::Imap), 4);

    // The proxy sends "outlook.office365.com:993" to the first address.
    let tcp = TcpStream::connect(lab.proxy_addr().unwrap()).await.unwrap();
    let mut r = BufReader::new(tcp);
    send(&mut r, "CONNECT outlook.office365.com:993 HTTP/1.1\r\n\r\n").await;
    lines_until(&mut r, "\r\n").await;
    let tls = tls_upgrade(r.into_inner(), "outlook.office365.com", cfg_tls)
        .await
        .unwrap();
    let mut r = BufReader::new(tls);
    assert_eq!(
        frontend(&line(&mut r).await),
        "LAB1PR01CA0001.outlook.office365.com"
    );
}

#[tokio::test]
async fn custom_hostnames_are_served() {
    let hostnames = eceprobe_testlab::Hostnames {
        login: "login.microsoftonline.us".into(),
        outlook: "outlook.office365.us".into(),
        smtp: "smtp.office365.us".into(),
        ece: "ece.agency.example".into(),
    };
    let lab = Testlab::start(LabConfig::healthy().hostnames(hostnames))
        .await
        .unwrap();
    let cfg = client_config(&[lab.ca_pem()]);
    let mut tls = tls_connect(
        lab.addrs(Endpoint::Login)[0],
        "login.microsoftonline.us",
        cfg.clone(),
    )
    .await
    .unwrap();
    let resp = http(
        &mut tls,
        "GET",
        "login.microsoftonline.us",
        "/common/v2.0/.well-known/openid-configuration",
    )
    .await;
    let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(
        doc["token_endpoint"],
        "https://login.microsoftonline.us/common/oauth2/v2.0/token"
    );
    // The real name is no longer in the certificate.
    assert!(
        tls_connect(lab.addrs(Endpoint::Imap)[0], "outlook.office365.com", cfg)
            .await
            .is_err()
    );
}

//! Where the lab listens: chosen IPs ([`LabConfig::ips`]) and the real ports
//! ([`LabConfig::real_ports`]), and the configurations that cannot work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::*;
use eceprobe_testlab::{Endpoint, Fault, LabConfig, LabError, Testlab};
use tokio::io::BufReader;
use tokio::net::TcpStream;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn config_error(res: Result<Testlab, LabError>) -> String {
    match res {
        Err(LabError::Config(msg)) => msg,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn chosen_ips_on_ephemeral_ports() {
    let cfg = LabConfig::healthy()
        .ips(Endpoint::Login, vec![ip(41)])
        .addresses(Endpoint::Imap, vec![Fault::None, Fault::Refuse])
        .ips(Endpoint::Imap, vec![ip(42), ip(43)]);
    let lab = Testlab::start(cfg).await.unwrap();
    let login = lab.addrs(Endpoint::Login);
    assert_eq!(login.len(), 1);
    assert_eq!(login[0].ip(), ip(41));
    assert_ne!(login[0].port(), 443);
    let imap = lab.addrs(Endpoint::Imap);
    assert_eq!(
        imap.iter().map(SocketAddr::ip).collect::<Vec<_>>(),
        [ip(42), ip(43)]
    );
    // Endpoints without chosen IPs keep the default.
    assert_eq!(lab.addrs(Endpoint::Smtp)[0].ip(), ip(1));

    let tls = tls_connect(
        imap[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let greeting = line(&mut BufReader::new(tls)).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let refused = TcpStream::connect(imap[1]).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    lab.shutdown().await;
}

#[tokio::test]
async fn ips_must_match_the_addresses() {
    let cfg = LabConfig::healthy().ips(Endpoint::Pop3, vec![ip(44), ip(45)]);
    let msg = config_error(Testlab::start(cfg).await);
    assert!(msg.contains("pop3: 2 IPs for 1 addresses"), "{msg}");
}

#[tokio::test]
async fn real_ports_need_an_ip_per_https_endpoint() {
    // All three HTTPS endpoints default to 127.0.0.1:443.
    let msg = config_error(Testlab::start(LabConfig::healthy().real_ports()).await);
    assert!(
        msg.contains("login and outlook-https would both listen on 127.0.0.1:443"),
        "{msg}"
    );
    // IMAP and POP3 may share outlook-https's IP: their ports differ.
    let cfg = LabConfig::healthy()
        .real_ports()
        .ips(Endpoint::Login, vec![ip(51)])
        .ips(Endpoint::OutlookHttps, vec![ip(52)])
        .ips(Endpoint::Imap, vec![ip(52)])
        .ips(Endpoint::Pop3, vec![ip(52)])
        .ips(Endpoint::EceWeb, vec![ip(52)]);
    let msg = config_error(Testlab::start(cfg).await);
    assert!(
        msg.contains("outlook-https and ece-web would both listen on 127.0.0.52:443"),
        "{msg}"
    );
}

/// Binding 443 and friends needs privileges (or a low `ip_unprivileged_port_start`) and
/// free ports: skipped, saying why, when this host cannot.
#[tokio::test]
async fn real_ports_on_chosen_ips() {
    let cfg = LabConfig::healthy()
        .real_ports()
        .ips(Endpoint::Login, vec![ip(61)])
        .ips(Endpoint::OutlookHttps, vec![ip(62)])
        .ips(Endpoint::Imap, vec![ip(62)])
        .ips(Endpoint::Pop3, vec![ip(62)])
        .ips(Endpoint::Smtp, vec![ip(63)])
        .ips(Endpoint::EceWeb, vec![ip(64)])
        .fault(Endpoint::Pop3, Fault::Refuse);
    let lab = match Testlab::start(cfg).await {
        Ok(lab) => lab,
        Err(LabError::Io { what, source })
            if matches!(
                source.kind(),
                ErrorKind::PermissionDenied | ErrorKind::AddrInUse
            ) =>
        {
            eprintln!("SKIPPED: cannot listen on the real ports here ({what}: {source})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let expected = [
        (Endpoint::Login, "127.0.0.61:443"),
        (Endpoint::OutlookHttps, "127.0.0.62:443"),
        (Endpoint::Imap, "127.0.0.62:993"),
        (Endpoint::Pop3, "127.0.0.62:995"),
        (Endpoint::Smtp, "127.0.0.63:587"),
        (Endpoint::EceWeb, "127.0.0.64:443"),
    ];
    for (ep, addr) in expected {
        assert_eq!(lab.addrs(ep), [addr.parse::<SocketAddr>().unwrap()], "{ep}");
    }
    assert!(lab
        .resolve_args()
        .contains(&"outlook.office365.com:993:127.0.0.62:993".to_string()));

    let tls = tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let greeting = line(&mut BufReader::new(tls)).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let smtp = TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
        .await
        .unwrap();
    let greeting = line(&mut BufReader::new(smtp)).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    // Refused on a real port: nothing listens there.
    let refused = TcpStream::connect(lab.addrs(Endpoint::Pop3)[0])
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    lab.shutdown().await;
}

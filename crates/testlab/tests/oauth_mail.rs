//! XOAUTH2 on IMAP, POP3 and SMTP over real TLS, with tokens from the lab's token endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::oauth::*;
use common::*;
use eceprobe_testlab::{
    Account, Endpoint, Fault, LabConfig, OAuthConfig, SmtpAuth, Testlab, LAB_CLIENT_ID,
};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;

const SHARED: &str = "ece-shared@contoso.com";
const OTHER: &str = "someone-else@contoso.com";
const FE: &str = "LAB1PR01CA0001.outlook.office365.com";
const POP_FAILED: &str = "-ERR Authentication failure: unknown user name or bad password.\r\n";

async fn lab_with(cfg: OAuthConfig) -> Testlab {
    Testlab::start(LabConfig::healthy().oauth(cfg))
        .await
        .unwrap()
}

/// The healthy account, plus another mailbox it has no rights on, plus FullAccess on SHARED.
fn two_users() -> OAuthConfig {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].full_access_to = vec![SHARED.into()];
    cfg.accounts.push(Account::healthy(OTHER));
    cfg
}

async fn imap(lab: &Testlab) -> BufReader<impl AsyncRead + AsyncWrite + Unpin> {
    let tls = tls_connect(
        lab.addrs(Endpoint::Imap)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    assert!(line(&mut r)
        .await
        .starts_with("* OK The Microsoft Exchange IMAP4"));
    r
}

async fn imap_auth(
    lab: &Testlab,
    user: &str,
    token: &str,
) -> (BufReader<impl AsyncRead + AsyncWrite + Unpin>, String) {
    let mut r = imap(lab).await;
    send(
        &mut r,
        &format!("a1 AUTHENTICATE XOAUTH2 {}\r\n", xoauth2(user, token)),
    )
    .await;
    let reply = line(&mut r).await;
    (r, reply)
}

#[tokio::test]
async fn imap_success_examine_logout() {
    let lab = lab_with(two_users()).await;
    let token = access_token(&lab, USER, IMAP_SCOPE).await;
    let (mut r, reply) = imap_auth(&lab, USER, &token).await;
    assert_eq!(reply, "a1 OK AUTHENTICATE completed.\r\n");
    send(&mut r, "a2 EXAMINE INBOX\r\n").await;
    let lines = lines_until(&mut r, "a2 ").await;
    assert_eq!(lines[0], "* 0 EXISTS\r\n");
    assert!(lines.iter().any(|l| l.starts_with("* FLAGS (")));
    assert_eq!(
        lines.last().unwrap(),
        "a2 OK [READ-ONLY] EXAMINE completed.\r\n"
    );
    send(&mut r, "a3 LOGOUT\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n"
    );
    assert_eq!(line(&mut r).await, "a3 OK LOGOUT completed.\r\n");

    // The non-SASL-IR form, with the shared mailbox it has FullAccess on.
    let mut r = imap(&lab).await;
    send(&mut r, "b1 AUTHENTICATE XOAUTH2\r\n").await;
    assert_eq!(line(&mut r).await, "+ \r\n");
    send(&mut r, &format!("{}\r\n", xoauth2(SHARED, &token))).await;
    assert_eq!(line(&mut r).await, "b1 OK AUTHENTICATE completed.\r\n");
    send(&mut r, "b2 SELECT INBOX\r\n").await;
    let lines = lines_until(&mut r, "b2 ").await;
    assert_eq!(
        lines.last().unwrap(),
        "b2 OK [READ-WRITE] SELECT completed.\r\n"
    );
}

#[tokio::test]
async fn imap_authenticated_but_not_connected() {
    let mut cfg = two_users();
    cfg.accounts[1].mailbox.imap_enabled = false;
    cfg.accounts[1].full_access_to = vec![USER.into()];
    let lab = lab_with(cfg).await;
    // No rights on another user's mailbox.
    let token = access_token(&lab, USER, IMAP_SCOPE).await;
    let (mut r, reply) = imap_auth(&lab, OTHER, &token).await;
    assert_eq!(reply, "a1 OK AUTHENTICATE completed.\r\n");
    for cmd in ["EXAMINE INBOX", "NOOP"] {
        send(&mut r, &format!("a2 {cmd}\r\n")).await;
        assert_eq!(
            line(&mut r).await,
            "a2 BAD User is authenticated but not connected.\r\n"
        );
    }
    // IMAP disabled on the (own) mailbox.
    let token = access_token(&lab, OTHER, IMAP_SCOPE).await;
    let (mut r, reply) = imap_auth(&lab, OTHER, &token).await;
    assert_eq!(reply, "a1 OK AUTHENTICATE completed.\r\n");
    send(&mut r, "a2 SELECT INBOX\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "a2 BAD User is authenticated but not connected.\r\n"
    );
    // But OTHER's FullAccess on USER's mailbox (IMAP enabled) connects.
    let (mut r, reply) = imap_auth(&lab, USER, &token).await;
    assert_eq!(reply, "a1 OK AUTHENTICATE completed.\r\n");
    send(&mut r, "a2 EXAMINE INBOX\r\n").await;
    assert!(lines_until(&mut r, "a2 ")
        .await
        .last()
        .unwrap()
        .starts_with("a2 OK [READ-ONLY]"));
}

#[tokio::test]
async fn imap_rejected_tokens() {
    let mut cfg = two_users();
    // Whole seconds: a 2 s token is valid for at least 1 s after it is minted.
    cfg.accounts[1].lifetime_s = 2;
    let lab = lab_with(cfg).await;
    let token = access_token(&lab, USER, IMAP_SCOPE).await;
    let graph = access_token(
        &lab,
        USER,
        "https://graph.microsoft.com/IMAP.AccessAsUser.All",
    )
    .await;
    let short = access_token(&lab, OTHER, IMAP_SCOPE).await;
    let failed = "a1 NO AUTHENTICATE failed.\r\n";
    assert_eq!(
        imap_auth(&lab, USER, &graph).await.1,
        failed,
        "Graph audience"
    );
    assert_eq!(
        imap_auth(&lab, USER, "not-a-lab-token").await.1,
        failed,
        "unknown"
    );
    assert_eq!(
        imap_auth(&lab, "nobody@contoso.com", &token).await.1,
        failed,
        "no such mailbox"
    );
    let mut r = imap(&lab).await;
    send(&mut r, "a1 AUTHENTICATE XOAUTH2 %%%garbage%%%\r\n").await;
    assert_eq!(line(&mut r).await, failed, "malformed blob");
    // Expiry: a 2-second token, used before and after it expired.
    assert_eq!(
        imap_auth(&lab, OTHER, &short).await.1,
        "a1 OK AUTHENTICATE completed.\r\n"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(imap_auth(&lab, OTHER, &short).await.1, failed, "expired");
    // A token without the IMAP scope.
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].scopes = vec!["https://outlook.office.com/SMTP.Send".into()];
    let lab = lab_with(cfg).await;
    let smtp_only = access_token(&lab, USER, "https://outlook.office.com/SMTP.Send").await;
    assert_eq!(
        imap_auth(&lab, USER, &smtp_only).await.1,
        failed,
        "missing scope"
    );
}

#[tokio::test]
async fn imap_no_xoauth2_fault_still_refuses_the_mechanism() {
    let cfg = LabConfig::healthy()
        .oauth(OAuthConfig::healthy(USER))
        .fault(Endpoint::Imap, Fault::NoXoauth2);
    let lab = Testlab::start(cfg).await.unwrap();
    let token = access_token(&lab, USER, IMAP_SCOPE).await;
    assert_eq!(
        imap_auth(&lab, USER, &token).await.1,
        "a1 BAD Command Error. 12\r\n"
    );
}

#[tokio::test]
async fn imap_app_only() {
    let mut cfg = two_users();
    cfg.client_secret = Some("v".into());
    cfg.app_roles = vec!["IMAP.AccessAsApp".into()];
    let lab = lab_with(cfg).await;
    let (s, b) = post(
        &lab,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", LAB_CLIENT_ID),
            ("client_secret", "v"),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let token = b["access_token"].as_str().unwrap();
    assert_eq!(
        imap_auth(&lab, USER, token).await.1,
        "a1 OK AUTHENTICATE completed.\r\n"
    );
    // No FullAccess for the service principal on OTHER: rejected outright.
    assert_eq!(
        imap_auth(&lab, OTHER, token).await.1,
        "a1 NO AUTHENTICATE failed.\r\n"
    );
}

async fn pop3(lab: &Testlab) -> BufReader<impl AsyncRead + AsyncWrite + Unpin> {
    let tls = tls_connect(
        lab.addrs(Endpoint::Pop3)[0],
        "outlook.office365.com",
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let mut r = BufReader::new(tls);
    assert!(line(&mut r)
        .await
        .starts_with("+OK The Microsoft Exchange POP3"));
    r
}

#[tokio::test]
async fn pop3_xoauth2() {
    let mut cfg = two_users();
    cfg.accounts[1].mailbox.pop_enabled = false;
    let lab = lab_with(cfg).await;
    let scope = "https://outlook.office.com/POP.AccessAsUser.All";
    let token = access_token(&lab, USER, scope).await;
    let mut r = pop3(&lab).await;
    send(&mut r, "AUTH XOAUTH2\r\n").await;
    assert_eq!(line(&mut r).await, "+ \r\n");
    send(&mut r, &format!("{}\r\n", xoauth2(USER, &token))).await;
    assert_eq!(
        line(&mut r).await,
        "+OK User successfully authenticated.\r\n"
    );
    send(&mut r, "STAT\r\n").await;
    assert_eq!(line(&mut r).await, "+OK 0 0\r\n");
    send(&mut r, "QUIT\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "+OK Microsoft Exchange Server POP3 server signing off.\r\n"
    );

    let other = access_token(&lab, OTHER, scope).await;
    for (user, token, why) in [
        (OTHER, other.as_str(), "POP disabled"),
        (OTHER, token.as_str(), "no rights"),
        (USER, "unknown", "unknown token"),
    ] {
        let mut r = pop3(&lab).await;
        send(
            &mut r,
            &format!("AUTH XOAUTH2 {}\r\n", xoauth2(user, token)),
        )
        .await;
        assert_eq!(line(&mut r).await, POP_FAILED, "{why}");
    }
    let mut r = pop3(&lab).await;
    send(&mut r, "AUTH XOAUTH2\r\n").await;
    assert_eq!(line(&mut r).await, "+ \r\n");
    send(&mut r, "bm90IHhvYXV0aDI=\r\n").await;
    assert_eq!(line(&mut r).await, POP_FAILED, "garbage");
}

/// Connects to SMTP, STARTTLS, EHLO; returns the TLS reader.
async fn smtp(lab: &Testlab) -> BufReader<impl AsyncRead + AsyncWrite + Unpin> {
    let tcp = TcpStream::connect(lab.addrs(Endpoint::Smtp)[0])
        .await
        .unwrap();
    let mut r = BufReader::new(tcp);
    line(&mut r).await;
    send(&mut r, "EHLO probe.example\r\n").await;
    lines_until(&mut r, "250 ").await;
    send(&mut r, "AUTH XOAUTH2 eA==\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "504 5.7.4 Unrecognized authentication type\r\n"
    );
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
    lines_until(&mut r, "250 ").await;
    r
}

async fn smtp_auth(lab: &Testlab, user: &str, token: &str) -> String {
    let mut r = smtp(lab).await;
    send(
        &mut r,
        &format!("AUTH XOAUTH2 {}\r\n", xoauth2(user, token)),
    )
    .await;
    line(&mut r).await
}

#[tokio::test]
async fn smtp_xoauth2() {
    let mut cfg = two_users();
    cfg.accounts[1].mailbox.licensed = false;
    let lab = lab_with(cfg).await;
    let scope = "https://outlook.office.com/SMTP.Send";
    let token = access_token(&lab, USER, scope).await;
    let mut r = smtp(&lab).await;
    send(&mut r, "AUTH XOAUTH2\r\n").await;
    assert_eq!(line(&mut r).await, "334 \r\n");
    send(&mut r, &format!("{}\r\n", xoauth2(USER, &token))).await;
    assert_eq!(
        line(&mut r).await,
        "235 2.7.0 Authentication successful\r\n"
    );
    send(&mut r, "QUIT\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "221 2.0.0 Service closing transmission channel\r\n"
    );

    let unsuccessful = format!("535 5.7.3 Authentication unsuccessful [{FE}]\r\n");
    assert_eq!(smtp_auth(&lab, USER, "unknown").await, unsuccessful);
    assert_eq!(
        smtp_auth(&lab, OTHER, &token).await,
        unsuccessful,
        "no rights"
    );
    let unlicensed = access_token(&lab, OTHER, scope).await;
    assert_eq!(
        smtp_auth(&lab, OTHER, &unlicensed).await,
        unsuccessful,
        "unlicensed"
    );
    let mut r = smtp(&lab).await;
    send(&mut r, "AUTH XOAUTH2 dXNlcj14\r\n").await;
    assert_eq!(
        line(&mut r).await,
        "501 5.5.124 Invalid XOAUTH2 auth data\r\n"
    );
}

#[tokio::test]
async fn smtp_auth_disabled() {
    for (setting, scope) in [
        (SmtpAuth::DisabledForTenant, "Tenant"),
        (SmtpAuth::DisabledForMailbox, "Mailbox"),
    ] {
        let mut cfg = OAuthConfig::healthy(USER);
        cfg.accounts[0].mailbox.smtp_auth = setting;
        let lab = lab_with(cfg).await;
        let token = access_token(&lab, USER, "https://outlook.office.com/SMTP.Send").await;
        assert_eq!(
            smtp_auth(&lab, USER, &token).await,
            format!("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the {scope}. Visit https://aka.ms/smtp_auth_disabled for more information. [{FE}]\r\n")
        );
    }
}

//! The OAuth checks, continued: the app-only (client credentials) grant, no secret in any
//! report or its Debug output, and the token check through a proxy as the suite meets it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::oauth::*;
use common::{lab, lab_with, LabOptions, Proxy};
use eceprobe_checks::oauth::Secret;
use eceprobe_checks::{CheckId, FailureKind, Grant, MailboxSpec, Protocol, Stage};
use eceprobe_testlab::{LabConfig, OAuthConfig, ProxyMode};

fn app_only(roles: &[&str]) -> (OAuthConfig, MailboxSpec) {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.client_secret = Some("app-secret-value".into());
    cfg.app_roles = roles.iter().map(|r| r.to_string()).collect();
    let mut s = spec(USER, USER);
    s.grant = Grant::ClientCredentials;
    s.client_secret = Some(Secret::new("app-secret-value"));
    (cfg, s)
}

#[tokio::test]
async fn client_credentials_app_only() {
    let (cfg, s) = app_only(&["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"]);
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let r = l.prober.oauth_mailbox(&s).await;
    for report in r.reports() {
        assert_pass(report);
    }
    let oauth = r.token.report.oauth.as_ref().unwrap();
    assert_eq!(oauth.grant, "client_credentials");
    assert_eq!(
        oauth.requested_scopes,
        ["https://outlook.office365.com/.default"]
    );
    assert_eq!(oauth.refresh_token_issued, Some(false));
    let claims = oauth.claims.as_ref().unwrap();
    assert_eq!(claims.user, None);
    assert_eq!(claims.roles.len(), 3);

    // No application permission: Entra still issues a token, without roles.
    let (cfg, s) = app_only(&[]);
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let r = l.prober.oauth_mailbox(&s).await;
    assert_eq!(
        failure(&r.token.report),
        (FailureKind::TokenScopeMissing, Stage::Token)
    );
    assert_eq!(
        failure(login(&r, Protocol::Imap)).0,
        FailureKind::Xoauth2Rejected
    );

    // And app-only without a secret is refused before any request.
    let (cfg, mut s) = app_only(&["IMAP.AccessAsApp"]);
    s.client_secret = None;
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let r = l.prober.oauth_token(&s).await;
    assert_eq!(failure(&r.report).0, FailureKind::OauthClientSecretInvalid);
}

#[tokio::test]
async fn no_secret_reaches_a_report_or_its_debug_output() {
    let mut cfg = two_users();
    cfg.client_secret = Some("client-secret-VALUE-42".into());
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let mut outputs = Vec::new();
    let mut secrets = vec![
        refresh_token(USER),
        refresh_token(OTHER),
        "client-secret-VALUE-42".to_string(),
    ];
    // A passing run, and failing ones (wrong user, refusals at every server).
    for (mailbox, token_of) in [(USER, USER), (USER, OTHER)] {
        let mut s = spec(mailbox, token_of);
        s.client_secret = Some(Secret::new("client-secret-VALUE-42"));
        let r = l.prober.oauth_mailbox(&s).await;
        let grant = r.token.token.as_ref().unwrap();
        secrets.push(grant.access_token.expose().to_string());
        secrets.push(grant.refresh_token.as_ref().unwrap().expose().to_string());
        // The XOAUTH2 string too.
        let sasl = eceprobe_checks::oauth::sasl_string(mailbox, &grant.access_token);
        secrets.push(sasl.expose().to_string());
        outputs.push(format!("{r:?}"));
        outputs.push(format!("{s:?}"));
        for report in r.reports() {
            outputs.push(format!("{report:#?}"));
            outputs.push(serde_json::to_string(report).unwrap());
        }
    }
    for out in &outputs {
        for secret in &secrets {
            assert!(!out.contains(secret.as_str()), "a secret in: {out}");
            // Not even its signature part (a token's last segment).
            let tail = secret.rsplit('.').next().unwrap();
            assert!(
                tail.len() < 16 || !out.contains(tail),
                "a token tail in: {out}"
            );
        }
    }
    assert!(outputs[0].contains("[redacted]"));
}

/// The token check (one connection, `probe/single.rs`'s path) goes through the proxy as the
/// HTTPS checks of a suite do, and a failing proxy gets the same kind at the same stage on
/// both paths: a refused proxy is `proxy_unreachable` at `tcp`, a proxy's own refusals keep
/// their kinds at `proxy`.
#[tokio::test]
async fn the_token_check_meets_a_proxy_as_the_suite_does() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases = [
        (
            None,
            Proxy::At(closed.to_string()),
            FailureKind::ProxyUnreachable,
            Stage::Tcp,
        ),
        (
            Some(ProxyMode::Deny403),
            Proxy::Lab,
            FailureKind::ProxyDenied,
            Stage::Proxy,
        ),
        (
            Some(ProxyMode::RequireAuth407),
            Proxy::Lab,
            FailureKind::ProxyAuthRequired,
            Stage::Proxy,
        ),
    ];
    for (mode, proxy, kind, stage) in cases {
        let mut cfg = LabConfig::healthy().oauth(OAuthConfig::healthy(USER));
        if let Some(mode) = mode {
            cfg = cfg.proxy(mode);
        }
        let opts = LabOptions {
            proxy,
            ..LabOptions::default()
        };
        let l = lab_with(cfg, opts).await;
        let suite = l.prober.suite(&l.specs).await;
        let https = suite
            .checks
            .iter()
            .find(|c| c.check == CheckId::LoginHttps)
            .expect("the suite has login-https");
        let token = l.prober.oauth_token(&spec(USER, USER)).await.report;
        assert_eq!(
            token.target(),
            https.target(),
            "the same host through the proxy"
        );
        assert_eq!(token.via_proxy, https.via_proxy);
        assert!(token.via_proxy.is_some());
        assert_eq!(failure(https), (kind, stage), "suite: {https:#?}");
        assert_eq!(failure(&token), (kind, stage), "token check: {token:#?}");
        assert_eq!(l.lab.issued_tokens(), 0);
    }

    // And a proxy that lets the grant through: the proxy stage sits between tcp and tls.
    let opts = LabOptions {
        proxy: Proxy::Lab,
        ..LabOptions::default()
    };
    let cfg = LabConfig::healthy()
        .oauth(OAuthConfig::healthy(USER))
        .proxy(ProxyMode::Allow);
    let l = lab_with(cfg, opts).await;
    let token = l.prober.oauth_token(&spec(USER, USER)).await.report;
    assert_pass(&token);
    assert_eq!(
        stages(&token),
        [Stage::Tcp, Stage::Proxy, Stage::Tls, Stage::Token]
    );
    assert!(l
        .lab
        .proxy_connects()
        .contains(&"login.microsoftonline.com:443".to_string()));
}

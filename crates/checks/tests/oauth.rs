//! The OAuth checks against testlab's token endpoint and XOAUTH2 servers: a healthy
//! mailbox, the token endpoint's refusals by AADSTS code, what the token says (wrong user,
//! scopes, audience, lifetime), the mail servers' refusals, and no secret in any output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lab, lab_with, LabOptions, Proxy};
use eceprobe_checks::oauth::Secret;
use eceprobe_checks::{
    CheckId, CheckReport, Cloud, FailureKind, Grant, MailboxSpec, OAuthMailboxReport, Outcome,
    Protocol, Stage,
};
use eceprobe_testlab::{
    Account, LabConfig, OAuthConfig, ProxyMode, SmtpAuth, TokenFault, LAB_CLIENT_ID, LAB_TENANT_ID,
};

const USER: &str = "ece-mail@contoso.com";
const OTHER: &str = "agent.desktop@contoso.com";
const SHARED: &str = "support@contoso.com";

fn refresh_token(user: &str) -> String {
    format!("lab-refresh-token-{user}")
}

/// A mailbox whose refresh token is `user`'s (as the lab names them).
fn spec(mailbox: &str, token_of: &str) -> MailboxSpec {
    MailboxSpec::new(
        mailbox,
        Cloud::Global.hosts(),
        "contoso.com",
        LAB_CLIENT_ID,
        Grant::RefreshToken(Secret::new(refresh_token(token_of))),
    )
}

fn failure(report: &CheckReport) -> (FailureKind, Stage) {
    let f = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{} should fail: {report:#?}", report.check));
    (f.kind, f.stage)
}

fn assert_pass(report: &CheckReport) {
    assert_eq!(
        report.outcome,
        Outcome::Pass,
        "{}: {:#?} {:#?}",
        report.check,
        report.failure,
        report.warnings
    );
}

fn login(r: &OAuthMailboxReport, p: Protocol) -> &CheckReport {
    r.logins
        .iter()
        .find(|l| l.check == p.check_id())
        .expect("a login report")
}

fn stages(report: &CheckReport) -> Vec<Stage> {
    report
        .used_attempt()
        .unwrap()
        .stages
        .iter()
        .map(|s| s.stage)
        .collect()
}

#[tokio::test]
async fn healthy_refresh_then_login_on_all_three() {
    let l = lab(LabConfig::healthy().oauth(OAuthConfig::healthy(USER))).await;
    let r = l.prober.oauth_mailbox(&spec(USER, USER)).await;

    let token = &r.token.report;
    assert_pass(token);
    assert_eq!(token.check, CheckId::OauthToken);
    assert_eq!(token.target(), "login.microsoftonline.com:443");
    assert_eq!(stages(token), [Stage::Tcp, Stage::Tls, Stage::Token]);
    let tls = token.used_attempt().unwrap().tls.as_ref().unwrap();
    assert_eq!(tls.expected_root, Some(true), "the project's TLS verdicts");
    let oauth = token.oauth.as_ref().unwrap();
    assert_eq!(oauth.grant, "refresh_token");
    assert_eq!(oauth.mailbox, USER);
    assert_eq!(
        oauth.requested_scopes,
        [
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/POP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
            "offline_access"
        ]
    );
    assert_eq!(oauth.expires_in_s, Some(3600));
    assert_eq!(oauth.refresh_token_issued, Some(true));
    let claims = oauth.claims.as_ref().expect("the lab mints JWTs");
    assert_eq!(claims.user.as_deref(), Some(USER));
    assert_eq!(
        claims.audience.as_deref(),
        Some("https://outlook.office.com")
    );
    assert_eq!(claims.lifetime_s, Some(3600));
    assert_eq!(claims.tenant_id.as_deref(), Some(LAB_TENANT_ID));
    assert!(claims.scopes.contains(&"SMTP.Send".to_string()));

    let grant = r.token.token.as_ref().unwrap();
    let rotated = grant.refresh_token.as_ref().expect("a new refresh token");
    assert_ne!(
        rotated.expose(),
        refresh_token(USER),
        "Microsoft rotates them"
    );
    assert_eq!(l.lab.issued_tokens(), 1, "one grant, not one per address");

    assert_eq!(r.logins.len(), 3);
    for p in Protocol::ALL {
        let report = login(&r, p);
        assert_pass(report);
        let mut expected = vec![Stage::Tcp, Stage::Tls, Stage::Protocol, Stage::Login];
        if p == Protocol::Smtp {
            expected.insert(1, Stage::Starttls);
        }
        assert_eq!(stages(report), expected, "{p:?}");
        assert_eq!(report.oauth.as_ref().unwrap().mailbox, USER);
    }
    assert_eq!(
        login(&r, Protocol::Pop3).target(),
        "outlook.office365.com:995"
    );
    assert_eq!(login(&r, Protocol::Smtp).target(), "smtp.office365.com:587");
}

#[tokio::test]
async fn token_endpoint_refusals_map_by_aadsts_code() {
    let cases = [
        (70008, FailureKind::OauthRefreshTokenExpired),
        (700082, FailureKind::OauthRefreshTokenExpired),
        (50173, FailureKind::OauthGrantRevoked),
        (70043, FailureKind::OauthSigninFrequency),
        (50011, FailureKind::OauthRedirectUriMismatch),
        (7000215, FailureKind::OauthClientSecretInvalid),
        (7000222, FailureKind::OauthClientSecretExpired),
        (700016, FailureKind::OauthAppNotFound),
        (65001, FailureKind::OauthConsentMissing),
        (90094, FailureKind::OauthAdminConsentRequired),
        (50076, FailureKind::OauthMfaRequired),
        (50126, FailureKind::OauthBadCredentials),
        (53003, FailureKind::OauthConditionalAccess),
        (530035, FailureKind::OauthSecurityDefaults),
        (90002, FailureKind::OauthUserOrTenantNotFound),
        (90038, FailureKind::OauthWrongCloud),
        (70011, FailureKind::OauthInvalidScope),
        (81012, FailureKind::OauthDeviceUserMismatch),
        (9002313, FailureKind::OauthRefreshTokenInvalid),
        (700025, FailureKind::OauthTokenError),
    ];
    for (code, kind) in cases {
        let mut cfg = OAuthConfig::healthy(USER);
        cfg.token_fault = Some(TokenFault::aadsts(code));
        let l = lab(LabConfig::healthy().oauth(cfg)).await;
        let r = l.prober.oauth_mailbox(&spec(USER, USER)).await;
        let report = &r.token.report;
        assert_eq!(failure(report), (kind, Stage::Token), "AADSTS{code}");
        let f = report.failure.as_ref().unwrap();
        assert!(
            f.detail.starts_with(&format!("AADSTS{code} (")),
            "{}",
            f.detail
        );
        assert!(f.hint.contains("(C"), "{}", f.hint);
        assert!(!f.hint.contains("<mailbox>"), "{}", f.hint);
        let oauth = report.oauth.as_ref().unwrap();
        assert_eq!(oauth.aadsts, Some(code));
        assert!(oauth.error.is_some() && oauth.trace_id.is_some());
        assert!(r.token.token.is_none() && r.logins.is_empty());
    }
}

#[tokio::test]
async fn the_lab_itself_refuses_unknown_tokens_and_wrong_secrets() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.client_secret = Some("the-secret-value".into());
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    // The secret's ID instead of its Value.
    let mut s = spec(USER, USER);
    s.client_secret = Some(Secret::new("0d1e2f3a-secret-id"));
    let r = l.prober.oauth_token(&s).await;
    assert_eq!(
        failure(&r.report),
        (FailureKind::OauthClientSecretInvalid, Stage::Token)
    );
    assert!(r.report.failure.unwrap().hint.contains("Value"));
    // A refresh token Microsoft does not know.
    let mut s = spec(USER, USER);
    s.client_secret = Some(Secret::new("the-secret-value"));
    s.grant = Grant::RefreshToken(Secret::new("0.AXEA-garbage"));
    let r = l.prober.oauth_token(&s).await;
    assert_eq!(
        failure(&r.report),
        (FailureKind::OauthRefreshTokenInvalid, Stage::Token)
    );
    // And no refresh token at all: refused before any request.
    s.grant = Grant::RefreshToken(Secret::default());
    let r = l.prober.oauth_token(&s).await;
    assert_eq!(
        failure(&r.report),
        (FailureKind::OauthRefreshTokenInvalid, Stage::Token)
    );
    assert!(r.report.attempts.is_empty());
}

/// Two accounts: the mailbox's own, and the workstation user's, who has no rights on it.
fn two_users() -> OAuthConfig {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts.push(Account::healthy(OTHER));
    cfg
}

#[tokio::test]
async fn a_token_for_the_workstation_user_is_the_sso_pitfall() {
    let l = lab(LabConfig::healthy().oauth(two_users())).await;
    let r = l.prober.oauth_mailbox(&spec(USER, OTHER)).await;
    let token = &r.token.report;
    assert_eq!(failure(token), (FailureKind::TokenWrongUser, Stage::Token));
    let f = token.failure.as_ref().unwrap();
    assert!(
        f.detail.contains(OTHER) && f.detail.contains(USER),
        "{}",
        f.detail
    );
    assert!(f.hint.contains("private browser window") && f.hint.contains("(C4, C7)"));
    assert!(
        f.hint.contains(USER),
        "the placeholder is filled: {}",
        f.hint
    );
    // The grant itself worked, so the logins ran and say what the server says.
    assert_eq!(r.logins.len(), 3);
    assert_eq!(
        failure(login(&r, Protocol::Imap)),
        (FailureKind::MailboxNotConnected, Stage::Login)
    );
    let imap = login(&r, Protocol::Imap).failure.as_ref().unwrap();
    assert!(imap.detail.contains("not connected"), "{}", imap.detail);
    assert!(
        imap.hint.contains(OTHER),
        "the token's user named: {}",
        imap.hint
    );
    assert_eq!(
        failure(login(&r, Protocol::Pop3)),
        (FailureKind::PopLoginRefused, Stage::Login)
    );
    assert_eq!(
        failure(login(&r, Protocol::Smtp)),
        (FailureKind::Xoauth2Rejected, Stage::Login)
    );
}

#[tokio::test]
async fn a_shared_mailbox_through_full_access_passes() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].full_access_to.push(SHARED.into());
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let mut s = spec(SHARED, USER);
    s.shared = true;
    s.account = Some(USER.to_ascii_uppercase());
    let r = l.prober.oauth_mailbox(&s).await;
    for report in r.reports() {
        assert_pass(report);
    }
    // The same shared mailbox, not declared shared: the token is another user's.
    let r = l.prober.oauth_token(&spec(SHARED, USER)).await;
    assert_eq!(failure(&r.report).0, FailureKind::TokenWrongUser);
    // Declared shared, but the token is not the declared account's.
    let mut s = spec(SHARED, USER);
    s.shared = true;
    s.account = Some(OTHER.into());
    let r = l.prober.oauth_token(&s).await;
    assert_eq!(failure(&r.report).0, FailureKind::TokenWrongUser);
}

#[tokio::test]
async fn smtp_auth_disabled_for_the_tenant_or_the_mailbox() {
    for (state, kind) in [
        (
            SmtpAuth::DisabledForTenant,
            FailureKind::SmtpAuthDisabledTenant,
        ),
        (
            SmtpAuth::DisabledForMailbox,
            FailureKind::SmtpAuthDisabledMailbox,
        ),
    ] {
        let mut cfg = OAuthConfig::healthy(USER);
        cfg.accounts[0].mailbox.smtp_auth = state;
        let l = lab(LabConfig::healthy().oauth(cfg)).await;
        let r = l.prober.oauth_mailbox(&spec(USER, USER)).await;
        assert_pass(&r.token.report);
        assert_pass(login(&r, Protocol::Imap));
        let smtp = login(&r, Protocol::Smtp);
        assert_eq!(failure(smtp), (kind, Stage::Login));
        let hint = &smtp.failure.as_ref().unwrap().hint;
        assert!(
            hint.contains(&format!(
                "Set-CASMailbox -Identity {USER} -SmtpClientAuthenticationDisabled $false"
            )),
            "{hint}"
        );
        assert!(
            hint.contains("(C5)") && hint.contains("dispatcher"),
            "{hint}"
        );
    }
}

#[tokio::test]
async fn pop_or_imap_disabled_on_the_mailbox() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].mailbox.pop_enabled = false;
    cfg.accounts[0].mailbox.imap_enabled = false;
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let r = l.prober.oauth_mailbox(&spec(USER, USER)).await;
    assert_pass(&r.token.report);
    assert_pass(login(&r, Protocol::Smtp));
    assert_eq!(
        failure(login(&r, Protocol::Pop3)),
        (FailureKind::PopLoginRefused, Stage::Login)
    );
    assert_eq!(
        failure(login(&r, Protocol::Imap)),
        (FailureKind::MailboxNotConnected, Stage::Login)
    );
}

#[tokio::test]
async fn an_unlicensed_mailbox_shows_at_login() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].mailbox.licensed = false;
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let r = l.prober.oauth_mailbox(&spec(USER, USER)).await;
    assert_pass(&r.token.report);
    let imap = login(&r, Protocol::Imap);
    assert_eq!(failure(imap).0, FailureKind::MailboxNotConnected);
    assert!(imap.failure.as_ref().unwrap().hint.contains("C6"));
}

#[tokio::test]
async fn graph_scopes_give_a_token_the_mail_servers_refuse() {
    let l = lab(LabConfig::healthy().oauth(OAuthConfig::healthy(USER))).await;
    let mut s = spec(USER, USER);
    s.scopes = Some(
        Protocol::ALL
            .iter()
            .map(|p| format!("https://graph.microsoft.com/{}", p.delegated_scope()))
            .collect(),
    );
    let r = l.prober.oauth_mailbox(&s).await;
    assert_eq!(
        failure(&r.token.report),
        (FailureKind::TokenWrongAudience, Stage::Token)
    );
    let claims = r
        .token
        .report
        .oauth
        .as_ref()
        .unwrap()
        .claims
        .clone()
        .unwrap();
    assert!(claims.audience.unwrap().contains("graph.microsoft.com"));
    for p in Protocol::ALL {
        assert_eq!(
            failure(login(&r, p)).0,
            match p {
                Protocol::Pop3 => FailureKind::PopLoginRefused,
                _ => FailureKind::Xoauth2Rejected,
            },
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_scope_and_an_unexpected_lifetime() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0]
        .scopes
        .retain(|s| !s.ends_with("/SMTP.Send"));
    cfg.accounts[0].lifetime_s = 5400;
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    // ECE asks only for what was consented; the dispatcher still needs SMTP.
    let mut s = spec(USER, USER);
    s.scopes = Some(vec![
        "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
        "https://outlook.office.com/POP.AccessAsUser.All".into(),
    ]);
    let r = l.prober.oauth_mailbox(&s).await;
    let token = &r.token.report;
    assert_eq!(
        failure(token),
        (FailureKind::TokenScopeMissing, Stage::Token)
    );
    assert!(token.failure.as_ref().unwrap().detail.contains("SMTP.Send"));
    assert!(token.has_kind(FailureKind::TokenLifetimeUnexpected));
    let lifetime = token
        .warnings
        .iter()
        .find(|w| w.kind == FailureKind::TokenLifetimeUnexpected)
        .unwrap();
    assert!(lifetime.detail.contains("90 min"), "{}", lifetime.detail);
    assert!(lifetime.hint.contains("60-90"), "{}", lifetime.hint);
    assert_pass(login(&r, Protocol::Imap));
    assert_eq!(
        failure(login(&r, Protocol::Smtp)).0,
        FailureKind::Xoauth2Rejected
    );

    // Asking for a scope that was not consented is the token endpoint's 65001.
    let r = l.prober.oauth_token(&spec(USER, USER)).await;
    assert_eq!(failure(&r.report).0, FailureKind::OauthConsentMissing);
}

#[tokio::test]
async fn a_long_lifetime_alone_is_a_warning() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].lifetime_s = 4980;
    let l = lab(LabConfig::healthy().oauth(cfg)).await;
    let r = l.prober.oauth_token(&spec(USER, USER)).await;
    assert_eq!(r.report.outcome, Outcome::Warn, "{:#?}", r.report.warnings);
    assert!(r.report.has_kind(FailureKind::TokenLifetimeUnexpected));
    assert!(r.token.is_some());
}

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

//! The OAuth checks against testlab's token endpoint and XOAUTH2 servers: a healthy
//! mailbox, the token endpoint's refusals by AADSTS code, what the token says (wrong user,
//! scopes, audience, lifetime) and the mail servers' refusals. The app-only grant, secrets
//! and proxies: tests/oauth_app.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab;
use common::oauth::*;
use eceprobe_checks::oauth::Secret;
use eceprobe_checks::{CheckId, FailureKind, Grant, Outcome, Protocol, Stage};
use eceprobe_testlab::{LabConfig, OAuthConfig, SmtpAuth, TokenFault, LAB_TENANT_ID};

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
    // One kind for one cause on every protocol, with the protocol's own fix.
    let pop3 = login(&r, Protocol::Pop3);
    assert_eq!(failure(pop3), (FailureKind::Xoauth2Rejected, Stage::Login));
    let smtp = login(&r, Protocol::Smtp);
    assert_eq!(failure(smtp), (FailureKind::Xoauth2Rejected, Stage::Login));
    let pop3_hint = &pop3.failure.as_ref().unwrap().hint;
    assert!(
        pop3_hint.contains("the POP3 server refused the login to")
            && pop3_hint.contains("-PopEnabled $true")
            && pop3_hint.contains("POP.AccessAsUser.All"),
        "{pop3_hint}"
    );
    let smtp_hint = &smtp.failure.as_ref().unwrap().hint;
    assert!(
        smtp_hint.contains("SMTP.Send") && !smtp_hint.contains("PopEnabled"),
        "{smtp_hint}"
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
    let pop3 = login(&r, Protocol::Pop3);
    assert_eq!(failure(pop3), (FailureKind::Xoauth2Rejected, Stage::Login));
    assert!(
        pop3.failure.as_ref().unwrap().hint.contains(&format!(
            "POP3 may be disabled for it (Set-CASMailbox -Identity {USER} -PopEnabled $true)"
        )),
        "{:?}",
        pop3.failure
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
            FailureKind::Xoauth2Rejected,
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

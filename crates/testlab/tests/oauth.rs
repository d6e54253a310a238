//! The token endpoint over real TLS: grants, rotation, and every scripted AADSTS outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::oauth::*;
use eceprobe_testlab::Testlab;
use eceprobe_testlab::{
    Endpoint, LabConfig, OAuthConfig, TokenFault, LAB_CLIENT_ID, LAB_TENANT_ID,
};
use serde_json::Value;

async fn lab_with(cfg: OAuthConfig) -> Testlab {
    Testlab::start(LabConfig::healthy().oauth(cfg))
        .await
        .unwrap()
}

fn assert_error(status: u16, body: &Value, want_status: u16, error: &str, code: u32) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(
        d.contains(" Trace ID: ") && d.contains(" Correlation ID: "),
        "{d}"
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "{key} missing: {body}");
    }
}

#[tokio::test]
async fn refresh_grant_mints_an_exchange_token() {
    let lab = lab_with(OAuthConfig::healthy(USER)).await;
    let rt = format!("lab-refresh-token-{USER}");
    let (status, body) = refresh(&lab, &rt, IMAP_SCOPE).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 6, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"],
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send"
    );
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["ext_expires_in"], 3600);
    let new_rt = body["refresh_token"].as_str().unwrap();
    assert_ne!(new_rt, rt);
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://outlook.office.com");
    assert_eq!(
        c["iss"],
        format!("https://sts.windows.net/{LAB_TENANT_ID}/")
    );
    assert_eq!(
        c["scp"],
        "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send"
    );
    assert_eq!(c["upn"], USER);
    assert_eq!(c["unique_name"], USER);
    assert_eq!(c["appid"], LAB_CLIENT_ID);
    assert_eq!(c["tid"], LAB_TENANT_ID);
    assert_eq!(c["ver"], "1.0");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(lab.issued_tokens(), 1);

    // Rotation: the new refresh token works, and so does the old one.
    let (status, again) = refresh(&lab, new_rt, IMAP_SCOPE).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["refresh_token"], body["refresh_token"]);
    assert_eq!(refresh(&lab, &rt, IMAP_SCOPE).await.0, 200);
    assert_eq!(lab.issued_tokens(), 3);

    // A Graph-prefixed (or bare) scope gives a Graph token.
    for scope in [
        "https://graph.microsoft.com/IMAP.AccessAsUser.All",
        "IMAP.AccessAsUser.All offline_access",
    ] {
        let (status, body) = refresh(&lab, &rt, scope).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["scope"]
            .as_str()
            .unwrap()
            .starts_with("https://graph.microsoft.com/IMAP.AccessAsUser.All"));
        let c = claims(body["access_token"].as_str().unwrap());
        assert_eq!(c["aud"], "https://graph.microsoft.com");
    }
}

#[tokio::test]
async fn request_errors() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.accounts[0].scopes = vec!["https://outlook.office.com/SMTP.Send".into()];
    let lab = lab_with(cfg).await;
    let rt = format!("lab-refresh-token-{USER}");

    let (s, b) = post(&lab, "token", &[("client_id", LAB_CLIENT_ID)]).await;
    assert_error(s, &b, 400, "invalid_request", 900144);
    let (s, b) = post(&lab, "token", &[("grant_type", "password")]).await;
    assert_error(s, &b, 400, "unsupported_grant_type", 70003);
    let (s, b) = post(
        &lab,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("refresh_token", &rt),
        ],
    )
    .await;
    assert_error(s, &b, 400, "unauthorized_client", 700016);
    let (s, b) = refresh(&lab, "garbage", IMAP_SCOPE).await;
    assert_error(s, &b, 400, "invalid_grant", 9002313);
    // Not consented: IMAP on an account that consented SMTP.Send only.
    let (s, b) = refresh(&lab, &rt, IMAP_SCOPE).await;
    assert_error(s, &b, 400, "invalid_grant", 65001);
    assert_eq!(b["suberror"], "consent_required");
    let (s, b) = refresh(
        &lab,
        &rt,
        "https://outlook.office.com/SMTP.Send https://graph.microsoft.com/Mail.Send",
    )
    .await;
    assert_error(s, &b, 400, "invalid_scope", 28000);
    // A public client must not send a secret.
    let (s, b) = post(
        &lab,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", LAB_CLIENT_ID),
            ("client_secret", "x"),
            ("refresh_token", &rt),
        ],
    )
    .await;
    assert_error(s, &b, 401, "invalid_client", 700025);
    // Nor ask for app-only tokens.
    let (s, b) = post(
        &lab,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", LAB_CLIENT_ID),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_error(s, &b, 401, "invalid_client", 7000218);
    assert_eq!(lab.issued_tokens(), 0);

    // Bounded body.
    let big = "x".repeat(20 * 1024);
    let (s, _) = post(&lab, "token", &[("grant_type", &big)]).await;
    assert_eq!(s, 413);
}

#[tokio::test]
async fn confidential_client_and_app_only() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.client_secret = Some("s3cret-value".into());
    cfg.app_roles = vec!["IMAP.AccessAsApp".into(), "SMTP.SendAsApp".into()];
    let lab = lab_with(cfg).await;
    let base = [
        ("client_id", LAB_CLIENT_ID),
        ("grant_type", "client_credentials"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let scope = ("scope", "https://outlook.office365.com/.default");
    let (s, b) = post(&lab, "token", &with(&[scope])).await;
    assert_error(s, &b, 401, "invalid_client", 7000218);
    let (s, b) = post(
        &lab,
        "token",
        &with(&[scope, ("client_secret", "secret-id")]),
    )
    .await;
    assert_error(s, &b, 401, "invalid_client", 7000215);
    let good = ("client_secret", "s3cret-value");
    let (s, b) = post(
        &lab,
        "token",
        &with(&[
            ("scope", "https://outlook.office365.com/IMAP.AccessAsApp"),
            good,
        ]),
    )
    .await;
    assert_error(s, &b, 400, "invalid_scope", 1002012);
    let (s, b) = post(&lab, "token", &with(&[scope, good])).await;
    assert_eq!(s, 200, "{b}");
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "no scope, no refresh token: {b}");
    assert_eq!(b["expires_in"], 3599);
    let c = claims(b["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://outlook.office365.com");
    assert_eq!(
        c["roles"],
        serde_json::json!(["IMAP.AccessAsApp", "SMTP.SendAsApp"])
    );
    assert!(c.get("scp").is_none() && c.get("upn").is_none() && c["oid"].is_string());
    // The delegated grant needs the secret too.
    let rt = format!("lab-refresh-token-{USER}");
    let (s, b) = refresh(&lab, &rt, IMAP_SCOPE).await;
    assert_error(s, &b, 401, "invalid_client", 7000218);
}

#[tokio::test]
async fn scripted_faults() {
    let codes = [
        (70008, 400, "invalid_grant"),
        (700082, 400, "invalid_grant"),
        (50173, 400, "invalid_grant"),
        (70043, 400, "invalid_grant"),
        (50011, 400, "invalid_request"),
        (7000215, 401, "invalid_client"),
        (7000222, 401, "invalid_client"),
        (700016, 400, "unauthorized_client"),
        (65001, 400, "invalid_grant"),
        (90094, 400, "invalid_grant"),
        (50076, 400, "invalid_grant"),
        (50079, 400, "invalid_grant"),
        (50126, 400, "invalid_grant"),
        (53003, 400, "invalid_grant"),
        (530035, 400, "invalid_grant"),
        (50020, 400, "invalid_grant"),
        (50034, 400, "invalid_grant"),
        (90002, 400, "invalid_tenant"),
        (90038, 400, "invalid_request"),
        (70011, 400, "invalid_scope"),
        (28002, 400, "invalid_scope"),
        (81012, 400, "invalid_grant"),
        (9002313, 400, "invalid_grant"),
    ];
    for (code, status, error) in codes {
        let fault = TokenFault::aadsts(code);
        assert_eq!(
            (fault.status, fault.error.as_str()),
            (status, error),
            "{code}"
        );
        let mut cfg = OAuthConfig::healthy(USER);
        cfg.token_fault = Some(fault);
        let lab = lab_with(cfg).await;
        let (s, b) = refresh(&lab, &format!("lab-refresh-token-{USER}"), IMAP_SCOPE).await;
        assert_error(s, &b, status, error, code);
        assert_eq!(lab.issued_tokens(), 0);
    }
}

#[tokio::test]
async fn device_code_flow() {
    let mut cfg = OAuthConfig::healthy(USER);
    cfg.device_account = Some(USER.into());
    let lab = lab_with(cfg).await;
    let (s, b) = post(
        &lab,
        "devicecode",
        &[("client_id", LAB_CLIENT_ID), ("scope", IMAP_SCOPE)],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["verification_uri"], "https://microsoft.com/devicelogin");
    assert!(b["message"]
        .as_str()
        .unwrap()
        .contains(b["user_code"].as_str().unwrap()));
    let code = b["device_code"].as_str().unwrap().to_string();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", LAB_CLIENT_ID),
        ("device_code", code.as_str()),
    ];
    let (s, b) = post(&lab, "token", &poll).await;
    assert_error(s, &b, 400, "authorization_pending", 70016);
    let (s, b) = post(&lab, "token", &poll).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(claims(b["access_token"].as_str().unwrap())["upn"], USER);
    // Redeemed: the code is gone.
    let (s, b) = post(&lab, "token", &poll).await;
    assert_error(s, &b, 400, "expired_token", 70019);
}

#[tokio::test]
async fn without_oauth_config_every_client_is_unknown() {
    let lab = Testlab::start(LabConfig::healthy()).await.unwrap();
    let (s, b) = refresh(&lab, "anything", IMAP_SCOPE).await;
    assert_error(s, &b, 400, "unauthorized_client", 700016);
    assert_eq!(lab.connections(Endpoint::Login), 1);
}

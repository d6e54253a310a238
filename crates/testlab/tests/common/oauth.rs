//! OAuth helpers shared by the token endpoint and XOAUTH2 tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use eceprobe_testlab::{Endpoint, Testlab, LAB_CLIENT_ID};
use serde_json::Value;

use super::{client_config, form, post_form, tls_connect};

pub const USER: &str = "ece-mail@contoso.com";
pub const IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access";

/// POSTs `pairs` to `/{tenant}/oauth2/v2.0/{what}`: (status, JSON body).
pub async fn post(lab: &Testlab, what: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let host = Endpoint::Login.host(lab.hostnames()).to_string();
    let mut tls = tls_connect(
        lab.addrs(Endpoint::Login)[0],
        &host,
        client_config(&[lab.ca_pem()]),
    )
    .await
    .unwrap();
    let path = format!("/contoso.com/oauth2/v2.0/{what}");
    let resp = post_form(&mut tls, &host, &path, &form(pairs)).await;
    let body = serde_json::from_str(&resp.body).unwrap_or(Value::String(resp.body));
    (resp.status, body)
}

/// A refresh-token grant for the lab's public client.
pub async fn refresh(lab: &Testlab, refresh_token: &str, scope: &str) -> (u16, Value) {
    post(
        lab,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", LAB_CLIENT_ID),
            ("refresh_token", refresh_token),
            ("scope", scope),
        ],
    )
    .await
}

/// An access token for `user`'s configured refresh token (asserting success).
pub async fn access_token(lab: &Testlab, user: &str, scope: &str) -> String {
    let (status, body) = refresh(lab, &format!("lab-refresh-token-{user}"), scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// The claims of a JWT-shaped token.
pub fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The XOAUTH2 initial response.
pub fn xoauth2(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

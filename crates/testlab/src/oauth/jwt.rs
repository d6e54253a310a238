//! JWT-shaped access tokens like Exchange's v1 tokens: `base64url(header).base64url(claims).
//! base64url(HMAC-SHA256)`, signed with the lab's random key. The signature is decoration:
//! the lab's table of issued tokens is what the mail servers trust.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde_json::{json, Map, Value};

use crate::routes::LAB_TENANT_ID;

/// Who a token is for.
pub(crate) enum Who<'a> {
    /// Delegated: the user's UPN and object id, and the short scope names (`scp`).
    User {
        upn: &'a str,
        oid: &'a str,
        scp: &'a [String],
    },
    /// App-only: the service principal's object id and its roles (none: no `roles` claim).
    App { oid: &'a str, roles: &'a [String] },
}

/// The claims to sign.
pub(crate) struct Claims<'a> {
    pub aud: &'a str,
    pub appid: &'a str,
    pub iat: i64,
    pub exp: i64,
    /// A unique token identifier (`uti`), so no two tokens are equal.
    pub uti: &'a str,
    pub who: Who<'a>,
}

pub(crate) fn sign(key: &hmac::Key, c: &Claims<'_>) -> String {
    let header = json!({"typ": "JWT", "alg": "HS256", "kid": "ecelab"});
    let mut claims = Map::new();
    let mut put = |k: &str, v: Value| {
        claims.insert(k.to_string(), v);
    };
    put("aud", json!(c.aud));
    put(
        "iss",
        json!(format!("https://sts.windows.net/{LAB_TENANT_ID}/")),
    );
    put("iat", json!(c.iat));
    put("nbf", json!(c.iat));
    put("exp", json!(c.exp));
    put("app_displayname", json!("eceprobe lab"));
    put("appid", json!(c.appid));
    match &c.who {
        Who::User { upn, oid, scp } => {
            put("amr", json!(["pwd", "mfa"]));
            put("appidacr", json!("0"));
            put("idtyp", json!("user"));
            put("oid", json!(oid));
            put("scp", json!(scp.join(" ")));
            put("sub", json!(format!("sub-{oid}")));
            put("unique_name", json!(upn));
            put("upn", json!(upn));
        }
        Who::App { oid, roles } => {
            put("appidacr", json!("1"));
            put("idtyp", json!("app"));
            put("oid", json!(oid));
            if !roles.is_empty() {
                put("roles", json!(roles));
            }
            put("sub", json!(oid));
        }
    }
    put("tid", json!(LAB_TENANT_ID));
    put("uti", json!(c.uti));
    put("ver", json!("1.0"));
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let tag = hmac::sign(key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shape_and_claims() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let scp = vec!["IMAP.AccessAsUser.All".to_string(), "SMTP.Send".to_string()];
        let t = sign(
            &key,
            &Claims {
                aud: "https://outlook.office.com",
                appid: "app",
                iat: 100,
                exp: 3700,
                uti: "u",
                who: Who::User {
                    upn: "a@b.example",
                    oid: "o",
                    scp: &scp,
                },
            },
        );
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["scp"], "IMAP.AccessAsUser.All SMTP.Send");
        assert_eq!(claims["upn"], "a@b.example");
        assert_eq!(claims["exp"], 3700);
        assert_eq!(claims["ver"], "1.0");
    }
}

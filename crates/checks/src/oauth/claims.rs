//! The access token's claims, decoded without verification for diagnostics only. Microsoft
//! calls its access tokens opaque: when one is not a JWT, or a claim is missing, the probe
//! says less, it never fails for it. Only non-secret claims leave this module.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::secret::Secret;

/// What the token says about itself, as reported (no signature, no token).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsReport {
    /// The user the token was issued for: `upn`, else `unique_name` (v1), else
    /// `preferred_username` (v2). None for an app-only token.
    pub user: Option<String>,
    /// Delegated scopes (`scp`, split on spaces), e.g. `IMAP.AccessAsUser.All`.
    pub scopes: Vec<String>,
    /// Application permissions (`roles`) of an app-only token, e.g. `IMAP.AccessAsApp`.
    pub roles: Vec<String>,
    /// `aud`: the API the token is for (`https://outlook.office.com` for Exchange Online).
    pub audience: Option<String>,
    /// `tid`: the tenant that issued the token.
    pub tenant_id: Option<String>,
    /// `appid` (v1) or `azp` (v2): the client the token was issued to.
    pub app_id: Option<String>,
    /// `iat` and `exp`, seconds since the Unix epoch.
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// `exp - iat`, in seconds; None when the difference does not fit.
    pub lifetime_s: Option<i64>,
}

/// Decodes the payload of a JWT access token. None when the token is not a JWT (an opaque
/// or encrypted token) or its payload is not a JSON object.
pub fn decode(token: &Secret) -> Option<ClaimsReport> {
    let parts: Vec<&str> = token.expose().split('.').collect();
    // A JWS has three parts; a JWE (encrypted) has five and is opaque to us.
    let [_, payload, _] = parts.as_slice() else {
        return None;
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let obj = v.as_object()?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let number = |k: &str| {
        obj.get(k)
            .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
    };
    let audience = match obj.get("aud") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => a.iter().find_map(Value::as_str).map(String::from),
        _ => None,
    };
    let scopes = text("scp")
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let roles = obj
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let (issued_at, expires_at) = (number("iat"), number("exp"));
    Some(ClaimsReport {
        user: text("upn")
            .or_else(|| text("unique_name"))
            .or_else(|| text("preferred_username")),
        scopes,
        roles,
        audience,
        tenant_id: text("tid"),
        app_id: text("appid").or_else(|| text("azp")),
        issued_at,
        expires_at,
        // Checked: a token's numbers are whatever its issuer wrote (floats saturate to i64).
        lifetime_s: issued_at
            .zip(expires_at)
            .and_then(|(i, e)| e.checked_sub(i)),
    })
}

#[cfg(test)]
pub(crate) fn jwt(payload: &Value) -> Secret {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    Secret::new(format!(
        "{}.{}.{}",
        b64(br#"{"typ":"JWT","alg":"RS256"}"#),
        b64(payload.to_string().as_bytes()),
        b64(b"not a real signature")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v1_exchange_token_decodes() {
        let token = jwt(&json!({
            "aud": "https://outlook.office.com",
            "iss": "https://sts.windows.net/tid/",
            "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_003_600,
            "appid": "11111111-2222-3333-4444-555555555555",
            "scp": "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send",
            "tid": "ec0e1ab0-0000-4000-8000-00000000e2e0",
            "unique_name": "Support@Contoso.com",
            "upn": "support@contoso.com",
        }));
        let c = decode(&token).unwrap();
        assert_eq!(c.user.as_deref(), Some("support@contoso.com"));
        assert_eq!(
            c.scopes,
            ["IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"]
        );
        assert_eq!(c.audience.as_deref(), Some("https://outlook.office.com"));
        assert_eq!(c.lifetime_s, Some(3600));
        assert_eq!(
            c.app_id.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        let shown = serde_json::to_string(&c).unwrap();
        assert!(!token.is_in(&shown));
    }

    #[test]
    fn v2_and_app_only_claims() {
        let c = decode(&jwt(&json!({
            "aud": ["https://outlook.office365.com"],
            "preferred_username": "svc@contoso.com",
            "azp": "app",
        })))
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("svc@contoso.com"));
        assert_eq!(c.audience.as_deref(), Some("https://outlook.office365.com"));
        assert_eq!(c.app_id.as_deref(), Some("app"));
        let c = decode(&jwt(&json!({"roles": ["IMAP.AccessAsApp", 7], "iat": "x"}))).unwrap();
        assert_eq!(c.roles, ["IMAP.AccessAsApp"]);
        assert_eq!((c.user, c.issued_at, c.lifetime_s), (None, None, None));
    }

    #[test]
    fn opaque_tokens_are_not_claims() {
        for t in [
            "EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z",
            "a.b",
            "a.b.c.d.e",
            "eyJhbGciOiJub25lIn0.bm90IGpzb24.sig",
            "eyJhbGciOiJub25lIn0.WzEsMl0.sig",
            "x.%%%.y",
            "",
        ] {
            assert_eq!(decode(&Secret::new(t)), None, "{t}");
        }
    }

    /// Found while writing the `jwt_claims` fuzz target's invariant: `exp - iat` of
    /// far-apart numbers overflowed (a panic in a debug build, a wrapped lifetime in release).
    #[test]
    fn far_apart_times_have_no_lifetime() {
        let c = decode(&jwt(&json!({"iat": -1e300, "exp": 1e300}))).unwrap();
        assert_eq!(
            (c.issued_at, c.expires_at),
            (Some(i64::MIN), Some(i64::MAX))
        );
        assert_eq!(c.lifetime_s, None);
    }
}

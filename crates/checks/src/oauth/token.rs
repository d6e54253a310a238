//! The token endpoint: the OAuth client's settings, the two grants as form bodies (the
//! refresh-token grant exactly as ECE's services server sends it, and the app-only
//! client-credentials grant), and the answer read into a token or a refusal. The HTTP
//! exchange itself is `http::post_form` on the project's TLS.

use serde_json::Value;

use super::aadsts;
use super::secret::Secret;
use crate::catalog::CloudHosts;
use crate::failure::FailureKind;
use crate::StageError;

/// `offline_access`: asks for a refresh token with the access token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Which grant to run.
#[derive(Clone, Debug)]
pub enum Grant {
    /// Delegated: the refresh token ECE holds for the mailbox (or the shared account).
    RefreshToken(Secret),
    /// App-only: the app's own credentials (`client_secret` required).
    ClientCredentials,
}

impl Grant {
    /// The `grant_type` value.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::RefreshToken(_) => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
        }
    }
}

/// The app registration ECE uses, and where its tenant signs in.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    /// The sign-in host of the cloud ([`CloudHosts::login`]).
    pub login_host: String,
    /// Directory (tenant) id or a verified domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// The client secret's Value (a confidential client, as ECE's app is).
    pub client_secret: Option<Secret>,
    /// The scopes of a refresh-token grant (full resource URLs); `offline_access` is added
    /// when missing. The client-credentials grant always asks for `{resource}/.default`.
    pub scopes: Vec<String>,
    /// The resource of an app-only grant, e.g. `https://outlook.office365.com`.
    pub app_resource: String,
}

impl OAuthClient {
    /// A client of the cloud `hosts` with no scopes yet.
    pub fn new(hosts: &CloudHosts, tenant: &str, client_id: &str) -> Self {
        OAuthClient {
            login_host: hosts.login.clone(),
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            client_secret: None,
            scopes: Vec::new(),
            app_resource: format!("https://{}", hosts.outlook),
        }
    }

    /// `/{tenant}/oauth2/v2.0/token`, the path on [`OAuthClient::login_host`].
    pub fn token_path(&self) -> String {
        format!("/{}/oauth2/v2.0/token", self.tenant)
    }

    /// The scopes a grant asks for.
    pub fn requested_scopes(&self, grant: &Grant) -> Vec<String> {
        match grant {
            Grant::RefreshToken(_) => {
                let mut scopes = self.scopes.clone();
                if !scopes
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(OFFLINE_ACCESS))
                {
                    scopes.push(OFFLINE_ACCESS.to_string());
                }
                scopes
            }
            Grant::ClientCredentials => vec![format!(
                "{}/.default",
                self.app_resource.trim_end_matches('/')
            )],
        }
    }

    /// The `application/x-www-form-urlencoded` body of the grant. It holds secrets, so it
    /// is a [`Secret`] itself.
    pub(crate) fn form(&self, grant: &Grant) -> Secret {
        let scope = self.requested_scopes(grant).join(" ");
        let mut fields: Vec<(&str, &str)> = vec![("client_id", &self.client_id), ("scope", &scope)];
        match grant {
            Grant::RefreshToken(rt) => {
                fields.push(("refresh_token", rt.expose()));
                fields.push(("grant_type", "refresh_token"));
            }
            Grant::ClientCredentials => fields.push(("grant_type", "client_credentials")),
        }
        if let Some(secret) = &self.client_secret {
            fields.push(("client_secret", secret.expose()));
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        Secret::new(body.join("&"))
    }
}

/// WHATWG `application/x-www-form-urlencoded` byte serialisation.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A successful grant. Debug shows no secret.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    pub access_token: Secret,
    /// The new refresh token. Microsoft replaces the refresh token on every use (the old one
    /// keeps working until it expires): a caller that refreshes on ECE's behalf should
    /// persist this one.
    pub refresh_token: Option<Secret>,
    /// `expires_in`, seconds: use this, not the claims, for timing.
    pub expires_in: Option<u64>,
    /// The granted scopes (`scope`, split on spaces).
    pub scopes: Vec<String>,
}

/// A refusal by the token endpoint: its `error`, the AADSTS number, the ids for a support
/// case. Never the description text (it can quote a user name; the number decides).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRefusal {
    pub status: u16,
    pub error: Option<String>,
    pub aadsts: Option<u32>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl TokenRefusal {
    /// The kind and the detail, e.g. "AADSTS70008 (invalid_grant): refresh token expired ...".
    pub(crate) fn to_stage_error(&self) -> StageError {
        let (kind, meaning) = aadsts::classify(self.aadsts);
        let code = self
            .aadsts
            .map_or_else(|| "no AADSTS code".to_string(), |c| format!("AADSTS{c}"));
        let error = self.error.as_deref().unwrap_or("no error field");
        let mut detail = format!("{code} ({error}), HTTP {}: {meaning}", self.status);
        if let Some(t) = &self.trace_id {
            detail.push_str(&format!("; trace id {t}"));
        }
        if let Some(c) = &self.correlation_id {
            detail.push_str(&format!("; correlation id {c}"));
        }
        StageError::new(kind, detail)
    }
}

/// What the token endpoint answered, when it is not a token.
#[derive(Clone, Debug)]
pub(crate) enum NoToken {
    Refused(TokenRefusal),
    Invalid(StageError),
}

/// Reads the token endpoint's answer. Only fixed-vocabulary fields are copied out of an
/// error (sanitised); a parse error never quotes the body, which may hold tokens.
pub(crate) fn parse_answer(status: u16, body: &[u8]) -> Result<TokenGrant, NoToken> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let kind = if status == 200 {
            FailureKind::ProtocolUnexpected
        } else {
            FailureKind::HttpStatus
        };
        return Err(NoToken::Invalid(StageError::new(
            kind,
            format!(
                "the token endpoint answered HTTP {status} with {} bytes that are not JSON: \
                 something else (a proxy, a captive portal) answers in its place",
                body.len()
            ),
        )));
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    if let Some(error) = text("error") {
        return Err(NoToken::Refused(TokenRefusal {
            status,
            error: Some(sanitise(error, |c| c.is_ascii_alphanumeric() || c == '_')),
            aadsts: v
                .get("error_codes")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            trace_id: text("trace_id").map(|s| sanitise(s, is_id_char)),
            correlation_id: text("correlation_id").map(|s| sanitise(s, is_id_char)),
        }));
    }
    let access = text("access_token").filter(|t| !t.is_empty());
    let Some(access) = access.filter(|_| status == 200) else {
        return Err(NoToken::Invalid(StageError::new(
            if status == 200 {
                FailureKind::ProtocolUnexpected
            } else {
                FailureKind::HttpStatus
            },
            format!(
                "the token endpoint answered HTTP {status} without an access_token or an error"
            ),
        )));
    };
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        // The v1 endpoint sends numbers as strings.
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(TokenGrant {
        access_token: Secret::new(access),
        refresh_token: text("refresh_token")
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        expires_in,
        scopes: text("scope")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    })
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_hexdigit() || c == '-'
}

/// At most 64 characters, those `keep` allows.
fn sanitise(s: &str, keep: impl Fn(char) -> bool) -> String {
    s.chars().filter(|c| keep(*c)).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Cloud;

    fn client() -> OAuthClient {
        let mut c = OAuthClient::new(&Cloud::Global.hosts(), "contoso.com", "app-id");
        c.client_secret = Some(Secret::new("s3cr3t~value+/="));
        c.scopes = vec!["https://outlook.office.com/IMAP.AccessAsUser.All".into()];
        c
    }

    #[test]
    fn refresh_form_as_ece_sends_it() {
        let form = client().form(&Grant::RefreshToken(Secret::new("0.AX rt&x")));
        assert_eq!(
            form.expose(),
            "client_id=app-id\
             &scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All+offline_access\
             &refresh_token=0.AX+rt%26x&grant_type=refresh_token\
             &client_secret=s3cr3t%7Evalue%2B%2F%3D"
        );
        assert_eq!(client().token_path(), "/contoso.com/oauth2/v2.0/token");
        assert_eq!(format!("{form:?}"), "[redacted]");
    }

    #[test]
    fn client_credentials_ask_for_default() {
        let c = client();
        assert_eq!(
            c.requested_scopes(&Grant::ClientCredentials),
            ["https://outlook.office365.com/.default"]
        );
        let form = c.form(&Grant::ClientCredentials);
        assert!(form
            .expose()
            .starts_with("client_id=app-id&scope=https%3A%2F%2Foutlook.office365.com%2F.default&grant_type=client_credentials&client_secret="));
    }

    #[test]
    fn a_token_answer() {
        let body = br#"{"token_type":"Bearer","scope":"https://outlook.office.com/IMAP.AccessAsUser.All offline_access","expires_in":"4380","ext_expires_in":4380,"access_token":"eyJ0.x.y","refresh_token":"0.AXrt"}"#;
        let g = parse_answer(200, body).unwrap();
        assert_eq!(g.access_token.expose(), "eyJ0.x.y");
        assert_eq!(g.refresh_token.as_ref().unwrap().expose(), "0.AXrt");
        assert_eq!(g.expires_in, Some(4380));
        assert_eq!(g.scopes.len(), 2);
        let shown = format!("{g:?}");
        assert!(
            !shown.contains("eyJ0") && !shown.contains("0.AXrt"),
            "{shown}"
        );
    }

    #[test]
    fn an_error_answer_keeps_only_the_code_and_ids() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. user@contoso.com","error_codes":[70008],"timestamp":"2025-01-01 00:00:00Z","trace_id":"0f1e2d3c-aaaa-bbbb-cccc-000000000001","correlation_id":"<script>9a8b-0000"}"#;
        let Err(NoToken::Refused(r)) = parse_answer(400, body) else {
            panic!("a refusal")
        };
        assert_eq!(r.aadsts, Some(70008));
        assert_eq!(r.correlation_id.as_deref(), Some("c9a8b-0000"));
        let e = r.to_stage_error();
        assert_eq!(e.kind, FailureKind::OauthRefreshTokenExpired);
        assert!(
            e.detail
                .starts_with("AADSTS70008 (invalid_grant), HTTP 400"),
            "{}",
            e.detail
        );
        assert!(!e.detail.contains("user@contoso.com"));
    }

    #[test]
    fn other_answers() {
        let Err(NoToken::Invalid(e)) = parse_answer(502, b"<html>proxy error</html>") else {
            panic!()
        };
        assert_eq!(e.kind, FailureKind::HttpStatus);
        assert!(!e.detail.contains("proxy error"));
        let Err(NoToken::Invalid(e)) = parse_answer(200, br#"{"token_type":"Bearer"}"#) else {
            panic!()
        };
        assert_eq!(e.kind, FailureKind::ProtocolUnexpected);
        let Err(NoToken::Refused(r)) = parse_answer(401, br#"{"error":"invalid_client"}"#) else {
            panic!()
        };
        assert_eq!(r.to_stage_error().kind, FailureKind::OauthTokenError);
    }
}

//! The device authorization grant (RFC 8628) as Entra ID runs it, for obtaining a mailbox's
//! refresh token from a console: `POST /{tenant}/oauth2/v2.0/devicecode` gives a user code
//! to enter at `https://microsoft.com/devicelogin`, then the token endpoint is polled with
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` every `interval` seconds:
//! `authorization_pending` waits, `slow_down` adds 5 s, `expired_token` ends the flow, and
//! any other refusal is read through the AADSTS table. The wait is bounded by the code's
//! `expires_in`, and by 15 minutes.
//!
//! Each request is one connection over the project's TLS (interception detection, proxy,
//! resolve overrides as for `oauth-token`) and the bounded `http::post_form`. The
//! `device_code` is a [`Secret`]: whoever holds it can redeem it.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::secret::Secret;
use super::token::{self, urlencode, Grant, NoToken, OAuthClient, TokenGrant, TokenRefusal};
use crate::catalog::{CheckId, CheckSpec, Dialog, HttpExpect};
use crate::failure::FailureKind;
use crate::http::{post_form, HttpPost};
use crate::probe::{new_report, Connected};
use crate::{Prober, StageError};

/// The device code grant's `grant_type`.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The longest the poll loop waits, whatever `expires_in` says.
pub const MAX_DEVICE_WAIT: Duration = Duration::from_secs(15 * 60);
/// What `slow_down` adds to the interval (RFC 8628 section 3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The interval when the answer gives none (RFC 8628).
const DEFAULT_INTERVAL_S: u64 = 5;

/// A device code to show the user. Debug redacts `device_code`.
#[derive(Clone, Debug)]
pub struct DeviceCode {
    /// What the user types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
    /// Microsoft's instructions for the user ("To sign in, use a web browser ...").
    pub message: String,
    /// Redeemable: never shown.
    pub device_code: Secret,
}

/// Why the device flow ended without a token.
#[derive(Clone, Debug)]
pub enum DeviceFlowError {
    /// The endpoint could not be reached or did not answer as Entra ID does (DNS, TCP,
    /// TLS, proxy, timeout, not JSON).
    Unreachable { kind: FailureKind, detail: String },
    /// The code expired (`expired_token`, or the bounded wait ran out) before a sign-in.
    Expired { detail: String },
    /// Entra ID refused: the user declined, or an AADSTS refusal (consent, MFA, app ...).
    Refused {
        kind: FailureKind,
        detail: String,
        refusal: TokenRefusal,
    },
}

impl DeviceFlowError {
    /// The failure kind (for the troubleshooting hint).
    pub fn kind(&self) -> FailureKind {
        match self {
            DeviceFlowError::Unreachable { kind, .. } | DeviceFlowError::Refused { kind, .. } => {
                *kind
            }
            DeviceFlowError::Expired { .. } => FailureKind::OauthTokenError,
        }
    }

    fn from_stage(e: StageError) -> Self {
        DeviceFlowError::Unreachable {
            kind: e.kind,
            detail: e.detail,
        }
    }

    fn refused(r: TokenRefusal) -> Self {
        let e = r.to_stage_error();
        DeviceFlowError::Refused {
            kind: e.kind,
            detail: e.detail,
            refusal: r,
        }
    }
}

impl fmt::Display for DeviceFlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceFlowError::Unreachable { detail, .. } => {
                write!(f, "the sign-in endpoint could not be used: {detail}")
            }
            DeviceFlowError::Expired { detail } => write!(f, "{detail}"),
            DeviceFlowError::Refused { detail, .. } => write!(f, "Entra ID refused: {detail}"),
        }
    }
}

impl std::error::Error for DeviceFlowError {}

impl OAuthClient {
    /// `/{tenant}/oauth2/v2.0/devicecode`.
    pub fn devicecode_path(&self) -> String {
        format!("/{}/oauth2/v2.0/devicecode", self.tenant)
    }

    /// The delegated scopes of the device flow: the client's scopes plus `offline_access`
    /// (as the refresh-token grant asks for them).
    pub fn device_scopes(&self) -> Vec<String> {
        self.requested_scopes(&Grant::RefreshToken(Secret::default()))
    }

    /// The device authorization request (no secret: Entra takes `client_id` and `scope`).
    fn devicecode_form(&self) -> String {
        let scope = self.device_scopes().join(" ");
        format!(
            "client_id={}&scope={}",
            urlencode(&self.client_id),
            urlencode(&scope)
        )
    }

    /// The poll: the device code, and the client secret of a confidential client.
    fn device_poll_form(&self, code: &DeviceCode) -> Secret {
        let mut body = format!(
            "grant_type={}&client_id={}&device_code={}",
            urlencode(DEVICE_CODE_GRANT),
            urlencode(&self.client_id),
            urlencode(code.device_code.expose())
        );
        if let Some(s) = &self.client_secret {
            body.push_str("&client_secret=");
            body.push_str(&urlencode(s.expose()));
        }
        Secret::new(body)
    }
}

/// Reads the device authorization answer.
fn parse_device_code(status: u16, body: &[u8]) -> Result<DeviceCode, DeviceFlowError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if v.get("error").is_none() {
            let text = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            };
            let number = |k: &str| match v.get(k) {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            let (Some(user_code), Some(device_code)) = (text("user_code"), text("device_code"))
            else {
                return Err(DeviceFlowError::Unreachable {
                    kind: FailureKind::ProtocolUnexpected,
                    detail: format!(
                        "the device authorization endpoint answered HTTP {status} without a user_code and device_code"
                    ),
                });
            };
            let verification_uri = text("verification_uri")
                .or_else(|| text("verification_url"))
                .unwrap_or_else(|| "https://microsoft.com/devicelogin".to_string());
            let message = text("message").unwrap_or_else(|| {
                format!(
                    "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
                )
            });
            return Ok(DeviceCode {
                user_code,
                verification_uri,
                expires_in: number("expires_in").unwrap_or(900),
                interval: number("interval").unwrap_or(DEFAULT_INTERVAL_S).max(1),
                message,
                device_code: Secret::new(device_code),
            });
        }
    }
    // An error answer (or not JSON): read as the token endpoint's.
    match token::parse_answer(status, body) {
        Err(NoToken::Refused(r)) => Err(DeviceFlowError::refused(r)),
        Err(NoToken::Invalid(e)) => Err(DeviceFlowError::from_stage(e)),
        Ok(_) => Err(DeviceFlowError::Unreachable {
            kind: FailureKind::ProtocolUnexpected,
            detail: "the device authorization endpoint answered with a token".to_string(),
        }),
    }
}

/// What one poll said.
enum Poll {
    Token(TokenGrant),
    Pending,
    SlowDown,
    Done(DeviceFlowError),
}

fn read_poll(status: u16, body: &[u8]) -> Poll {
    match token::parse_answer(status, body) {
        Ok(grant) => Poll::Token(grant),
        Err(NoToken::Invalid(e)) => Poll::Done(DeviceFlowError::from_stage(e)),
        Err(NoToken::Refused(r)) => match (r.error.as_deref(), r.aadsts) {
            (Some("authorization_pending"), _) | (_, Some(70016)) => Poll::Pending,
            (Some("slow_down"), _) => Poll::SlowDown,
            (Some("expired_token"), _) | (_, Some(70019)) => Poll::Done(DeviceFlowError::Expired {
                detail: "the code expired before the sign-in was completed (AADSTS70019, expired_token): run the command again and enter the new code sooner".to_string(),
            }),
            (Some("authorization_declined"), _) => Poll::Done(DeviceFlowError::Refused {
                kind: FailureKind::OauthTokenError,
                detail: "the user declined the sign-in (authorization_declined)".to_string(),
                refusal: r,
            }),
            _ => Poll::Done(DeviceFlowError::refused(r)),
        },
    }
}

/// The poll loop, with the HTTP exchange and the sleep given: `post` sends one poll and
/// returns the status and body; `sleep` waits. Waits `interval` before each poll, adds 5 s on
/// `slow_down`, and gives up once `limit` has passed (counting both the sleeps and real time).
pub(crate) async fn poll_loop<P, PF, S, SF>(
    interval: Duration,
    limit: Duration,
    mut post: P,
    mut sleep: S,
) -> Result<TokenGrant, DeviceFlowError>
where
    P: FnMut() -> PF,
    PF: Future<Output = Result<(u16, Vec<u8>), StageError>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let start = Instant::now();
    let mut interval = interval.max(Duration::from_secs(1));
    let mut waited = Duration::ZERO;
    loop {
        if waited.max(start.elapsed()) + interval > limit {
            return Err(DeviceFlowError::Expired {
                detail: format!(
                    "no sign-in was completed within {} s: run the command again and enter the new code sooner",
                    limit.as_secs()
                ),
            });
        }
        sleep(interval).await;
        waited += interval;
        let (status, body) = post().await.map_err(DeviceFlowError::from_stage)?;
        match read_poll(status, &body) {
            Poll::Token(grant) => return Ok(grant),
            Poll::Pending => {}
            Poll::SlowDown => interval += SLOW_DOWN_STEP,
            Poll::Done(e) => return Err(e),
        }
    }
}

impl Prober {
    /// One form POST to the client's sign-in host over the project's TLS, on one connection.
    async fn post_login_form(
        &self,
        client: &OAuthClient,
        path: &str,
        form: &str,
    ) -> Result<(u16, Vec<u8>), StageError> {
        let check = CheckSpec {
            id: CheckId::OauthToken,
            host: client.login_host.clone(),
            port: 443,
            dialog: Dialog::Https {
                path: path.to_string(),
                expect: HttpExpect::AnyResponse,
            },
            invalid: None,
        };
        let mut report = new_report(&check);
        let Some(Connected { tcp, mut run, .. }) = self.connect_first(&check, &mut report).await
        else {
            return Err(match report.failure {
                Some(f) => StageError::new(f.kind, format!("{}: {}", check.host, f.detail)),
                None => StageError::new(
                    FailureKind::TcpError,
                    format!("could not connect to {}:443", check.host),
                ),
            });
        };
        let tls = self
            .secure(&check, tcp, &[b"http/1.1"], &mut run)
            .await
            .map_err(|(_, e)| e)?;
        let post = HttpPost {
            host: &check.host,
            port: check.port,
            path,
            form,
            max_bytes: self.settings().max_http_bytes,
        };
        let deadline = Instant::now() + self.settings().timeouts.protocol;
        let (status, body) = post_form(tls, post, deadline).await?;
        Ok((status, body.to_vec()))
    }

    /// Starts the device code flow for the client's delegated scopes plus `offline_access`.
    pub async fn start_device_code(
        &self,
        client: &OAuthClient,
    ) -> Result<DeviceCode, DeviceFlowError> {
        let (status, body) = self
            .post_login_form(client, &client.devicecode_path(), &client.devicecode_form())
            .await
            .map_err(DeviceFlowError::from_stage)?;
        parse_device_code(status, &body)
    }

    /// Polls the token endpoint until the user signs in, declines, or the code expires
    /// (at most `expires_in`, and at most [`MAX_DEVICE_WAIT`]).
    pub async fn poll_device_code(
        &self,
        client: &OAuthClient,
        code: &DeviceCode,
    ) -> Result<TokenGrant, DeviceFlowError> {
        let limit = Duration::from_secs(code.expires_in).min(MAX_DEVICE_WAIT);
        let path = client.token_path();
        let form = client.device_poll_form(code);
        poll_loop(
            Duration::from_secs(code.interval),
            limit,
            || self.post_login_form(client, &path, form.expose()),
            tokio::time::sleep,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;
    use crate::catalog::Cloud;

    fn client() -> OAuthClient {
        let mut c = OAuthClient::new(&Cloud::Global.hosts(), "contoso.com", "app-id");
        c.scopes = vec!["https://outlook.office.com/IMAP.AccessAsUser.All".into()];
        c
    }

    fn err(code: u32, error: &str) -> (u16, Vec<u8>) {
        (
            400,
            format!(r#"{{"error":"{error}","error_codes":[{code}]}}"#).into_bytes(),
        )
    }

    fn ok() -> (u16, Vec<u8>) {
        (
            200,
            br#"{"token_type":"Bearer","scope":"https://outlook.office.com/IMAP.AccessAsUser.All offline_access","expires_in":3600,"access_token":"a.b.c","refresh_token":"0.AXrt"}"#.to_vec(),
        )
    }

    /// Runs the loop on scripted answers; returns the result and the sleeps it asked for.
    fn run(
        answers: Vec<(u16, Vec<u8>)>,
        interval_s: u64,
        limit_s: u64,
    ) -> (Result<TokenGrant, DeviceFlowError>, Vec<u64>, usize) {
        let answers = RefCell::new(VecDeque::from(answers));
        let sleeps = RefCell::new(Vec::new());
        let polls = RefCell::new(0usize);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(poll_loop(
            Duration::from_secs(interval_s),
            Duration::from_secs(limit_s),
            || {
                *polls.borrow_mut() += 1;
                let next = answers.borrow_mut().pop_front();
                async move {
                    next.ok_or_else(|| {
                        StageError::new(FailureKind::ProtocolTimeout, "no more".into())
                    })
                }
            },
            |d| {
                sleeps.borrow_mut().push(d.as_secs());
                async {}
            },
        ));
        let polls = *polls.borrow();
        (result, sleeps.into_inner(), polls)
    }

    #[test]
    fn pending_then_token() {
        let (r, sleeps, polls) = run(
            vec![
                err(70016, "authorization_pending"),
                err(70016, "authorization_pending"),
                ok(),
            ],
            2,
            900,
        );
        let g = r.unwrap();
        assert_eq!(g.refresh_token.unwrap().expose(), "0.AXrt");
        assert_eq!(sleeps, [2, 2, 2]);
        assert_eq!(polls, 3);
    }

    #[test]
    fn slow_down_adds_five_seconds() {
        let (r, sleeps, _) = run(
            vec![
                err(0, "slow_down"),
                err(70016, "authorization_pending"),
                ok(),
            ],
            1,
            900,
        );
        assert!(r.is_ok());
        assert_eq!(sleeps, [1, 6, 6]);
    }

    #[test]
    fn expired_and_declined_end_the_loop() {
        let (r, _, polls) = run(vec![err(70019, "expired_token"), ok()], 1, 900);
        assert!(matches!(r, Err(DeviceFlowError::Expired { .. })), "{r:?}");
        assert_eq!(polls, 1);
        let (r, _, _) = run(vec![err(0, "authorization_declined")], 1, 900);
        assert!(matches!(r, Err(DeviceFlowError::Refused { .. })), "{r:?}");
        let (r, _, _) = run(vec![err(65001, "invalid_grant")], 1, 900);
        let Err(DeviceFlowError::Refused { kind, .. }) = r else {
            panic!("{r:?}")
        };
        assert_eq!(kind, FailureKind::OauthConsentMissing);
    }

    #[test]
    fn the_wait_is_bounded() {
        let pending: Vec<_> = (0..100)
            .map(|_| err(70016, "authorization_pending"))
            .collect();
        let (r, sleeps, polls) = run(pending, 5, 12);
        assert!(matches!(r, Err(DeviceFlowError::Expired { .. })), "{r:?}");
        assert_eq!(sleeps, [5, 5]);
        assert_eq!(polls, 2);
    }

    #[test]
    fn forms_and_answers() {
        let c = client();
        assert_eq!(
            c.devicecode_form(),
            "client_id=app-id&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All+offline_access"
        );
        assert_eq!(c.devicecode_path(), "/contoso.com/oauth2/v2.0/devicecode");
        let body = br#"{"user_code":"ABCD-EFGH","device_code":"secret-dc","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in ..."}"#;
        let code = parse_device_code(200, body).unwrap();
        assert_eq!(code.user_code, "ABCD-EFGH");
        assert_eq!((code.expires_in, code.interval), (900, 5));
        assert!(!format!("{code:?}").contains("secret-dc"));
        let form = c.device_poll_form(&code);
        assert_eq!(
            form.expose(),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=app-id&device_code=secret-dc"
        );
        let (status, body) = err(700016, "unauthorized_client");
        let Err(DeviceFlowError::Refused { kind, .. }) = parse_device_code(status, &body) else {
            panic!()
        };
        assert_eq!(kind, FailureKind::OauthAppNotFound);
    }
}

//! The lab's Microsoft Entra ID and Exchange Online authentication: a token endpoint with
//! scripted outcomes, JWT-shaped access tokens it remembers, and XOAUTH2 verification on the
//! IMAP, POP3 and SMTP servers (see `../shared/M365-FACTS.md`).
//!
//! # Token endpoint: `POST /{tenant}/oauth2/v2.0/token`
//! Form body (at most 16 KiB, else 413). Checked in this order, as Entra ID does:
//!
//! | request | status | `error` | AADSTS |
//! |---|---|---|---|
//! | no `grant_type` | 400 | invalid_request | 900144 |
//! | [`OAuthConfig::token_fault`] set | its status | its error | its code |
//! | grant other than refresh_token, client_credentials, device_code | 400 | unsupported_grant_type | 70003 |
//! | no `client_id` | 400 | invalid_request | 900144 |
//! | unknown `client_id` (or no [`OAuthConfig`] at all) | 400 | unauthorized_client | 700016 |
//! | confidential client without `client_secret` (or client_credentials on a public client) | 401 | invalid_client | 7000218 |
//! | wrong `client_secret` | 401 | invalid_client | 7000215 |
//! | public client sending a secret | 401 | invalid_client | 700025 |
//! | no `refresh_token` | 400 | invalid_request | 900144 |
//! | unknown refresh token: the lab cannot tell "garbage" from "unknown", and Entra answers a token it cannot decrypt with 9002313, so both get it | 400 | invalid_grant | 9002313 |
//! | scopes of two resources in one request | 400 | invalid_scope | 28000 |
//! | a scope not among the account's (consented) ones | 400 | invalid_grant (`suberror` consent_required) | 65001 |
//! | client_credentials without `scope` / not `<resource>/.default` | 400 | invalid_request 900144 / invalid_scope 1002012 | |
//! | client_credentials for a resource other than Exchange or Graph | 400 | invalid_resource | 500011 |
//!
//! Scopes: `https://outlook.office.com/X` and `https://outlook.office365.com/X` are Exchange
//! (audience as requested); `https://graph.microsoft.com/X` and a bare `X` (Entra's default
//! resource is Graph) give a Graph-audience token the mail servers reject. OpenID scopes
//! (`openid`, `profile`, `email`, `offline_access`) are ignored; no resource scope, or no
//! `scope` at all, means the account's consented set. A token carries every consented scope
//! of its resource (as Entra v2 does), and the response lists them as full URLs.
//! A refresh grant returns a NEW refresh token; the old one keeps working (rotation without
//! revocation). Client credentials: `roles` = [`OAuthConfig::app_roles`]. With no roles
//! Entra still issues a token (it simply has no `roles` claim: there is no token-endpoint
//! error for "no application permission"), and the mail servers then refuse it with
//! `NO AUTHENTICATE failed.` / `-ERR` / `535 5.7.3`, which is where the fault shows in
//! production. Its response has no `scope` and no `refresh_token`, and `expires_in` 3599.
//!
//! # Scripted faults: [`TokenFault::aadsts`]
//! | AADSTS | status | error | meaning |
//! |---|---|---|---|
//! | 70008 | 400 | invalid_grant | refresh token expired by inactivity |
//! | 700082 | 400 | invalid_grant | refresh token expired by inactivity (90 days) |
//! | 50173 | 400 | invalid_grant | grant revoked (password change/reset), sign in again |
//! | 70043 | 400 | invalid_grant | Conditional Access sign-in frequency |
//! | 50011 | 400 | invalid_request | redirect URI does not match the app registration |
//! | 7000215 | 401 | invalid_client | invalid client secret (the secret's ID, not its Value) |
//! | 7000218 | 401 | invalid_client | no client secret from a confidential client |
//! | 7000222 | 401 | invalid_client | client secret expired |
//! | 700016 | 400 | unauthorized_client | application not found in the tenant |
//! | 700025 | 401 | invalid_client | public client sent a secret |
//! | 65001 | 400 | invalid_grant (suberror consent_required) | no consent |
//! | 90094 | 400 | invalid_grant (suberror consent_required) | admin consent required |
//! | 50076 | 400 | invalid_grant (suberror basic_action) | MFA required |
//! | 50079 | 400 | invalid_grant (suberror basic_action) | MFA enrolment required |
//! | 50126 | 400 | invalid_grant | bad user name or password |
//! | 53003 | 400 | invalid_grant | blocked by Conditional Access |
//! | 530035 | 400 | invalid_grant | blocked by security defaults |
//! | 50020 | 400 | invalid_grant | user from another identity provider / not in tenant |
//! | 50034 | 400 | invalid_grant | user does not exist in the tenant |
//! | 90002 | 400 | invalid_tenant | tenant not found |
//! | 90038 | 400 | invalid_request | tenant in another national cloud |
//! | 70011 | 400 | invalid_scope | invalid scope |
//! | 28002 | 400 | invalid_scope | invalid scope for an access token |
//! | 28000 | 400 | invalid_scope | scopes of more than one resource |
//! | 81012 | 400 | invalid_grant | device user differs from the chosen user |
//! | 9002313 | 400 | invalid_grant | malformed or unknown refresh token |
//! | 900144 | 400 | invalid_request | a required parameter is missing |
//! | 70003 | 400 | unsupported_grant_type | grant type not supported |
//! | 1002012 | 400 | invalid_scope | client credentials without `/.default` |
//! | 500011 | 400 | invalid_resource | resource principal not found |
//! | 70016 | 400 | authorization_pending | device code: user has not signed in yet |
//! | 70019 | 400 | expired_token | device code expired |
//! | other | 400 | invalid_request | (generic text) |
//!
//! Error bodies are Entra's: `error`, `error_description` ("AADSTSn: text Trace ID: ..
//! Correlation ID: .. Timestamp: .."), `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`, `error_uri`, and `suberror` where Entra sends one.
//!
//! # XOAUTH2 on the mail servers
//! | outcome | IMAP | POP3 | SMTP |
//! |---|---|---|---|
//! | blob not base64 / not `user=..\x01auth=Bearer ..\x01\x01` | `NO AUTHENTICATE failed.` | `-ERR Authentication failure: unknown user name or bad password.` | `501 5.5.124 Invalid XOAUTH2 auth data` |
//! | token unknown, expired, Graph audience, missing the protocol's scope/role; `user=` no known mailbox; app-only token without FullAccess on `user=` | `NO AUTHENTICATE failed.` | same `-ERR` | `535 5.7.3 Authentication unsuccessful [front end]` |
//! | valid delegated token, `user=` another mailbox without FullAccess | `OK AUTHENTICATE completed.`, then `BAD User is authenticated but not connected.` | same `-ERR` | `535 5.7.3 ..` |
//! | protocol disabled on the mailbox (IMAP / POP) | as above (OK then BAD) | same `-ERR` | n/a |
//! | SmtpAuth::DisabledForTenant / DisabledForMailbox | n/a | n/a | `535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant`/`Mailbox` `. Visit https://aka.ms/smtp_auth_disabled for more information. [front end]` |
//! | mailbox not licensed | OK then BAD (the mailbox cannot be opened: Exchange says what it says for a mailbox it cannot connect to) | same `-ERR` | `535 5.7.3 ..` (Exchange does not tell an unlicensed mailbox from bad credentials) |
//! | success | `OK AUTHENTICATE completed.`; EXAMINE/SELECT an empty INBOX | `+OK User successfully authenticated.`; STAT `+OK 0 0` | `235 2.7.0 Authentication successful` |
//!
//! Shared mailboxes named in `full_access_to` (or `app_full_access`) that are not accounts
//! themselves exist with every protocol enabled. Tokens, secrets and refresh tokens are
//! never logged, and the `Debug` output of these types redacts them.

mod aadsts;
mod authority;
mod jwt;
pub(crate) mod token;
pub(crate) mod wire;
pub(crate) mod xoauth2;

use std::fmt;

pub(crate) use authority::Authority;

/// The client id of the lab's app registration in [`OAuthConfig::healthy`].
pub const LAB_CLIENT_ID: &str = "0ece1ab0-c11e-4000-8000-0000000a9901";

/// The Azure app registration the lab knows, its users, and the scripted failures.
#[derive(Clone)]
pub struct OAuthConfig {
    /// The app registration's client id.
    pub client_id: String,
    /// Some: a confidential client; requests must carry this secret.
    pub client_secret: Option<String>,
    pub accounts: Vec<Account>,
    /// Roles of app-only (client_credentials) tokens, e.g. "IMAP.AccessAsApp". Empty: the
    /// token is still issued, without a `roles` claim, and every mail server refuses it.
    pub app_roles: Vec<String>,
    /// Extension: mailboxes the app's Exchange service principal has FullAccess on (what
    /// `Add-MailboxPermission -User <service principal id>` grants). App-only tokens open
    /// only these; others get `NO AUTHENTICATE failed.`.
    pub app_full_access: Vec<String>,
    /// Scripted: every token request fails this way.
    pub token_fault: Option<TokenFault>,
    /// Extension (device code flow): the account (by `user`) that completes the sign-in
    /// for a device code, after one `authorization_pending`. None: always pending.
    pub device_account: Option<String>,
}

/// One user of the tenant, with the refresh token a client holds for it.
#[derive(Clone)]
pub struct Account {
    /// UPN, e.g. "ece-mail@contoso.com".
    pub user: String,
    /// A refresh token that mints access tokens for this user.
    pub refresh_token: String,
    /// Full-URL scopes consented for the app, e.g. "https://outlook.office.com/SMTP.Send".
    pub scopes: Vec<String>,
    /// `exp - iat` of minted access tokens, and `expires_in`.
    pub lifetime_s: u32,
    /// Other mailboxes this user may open (shared mailbox, FullAccess).
    pub full_access_to: Vec<String>,
    /// This account's own mailbox.
    pub mailbox: MailboxState,
}

/// What `Get-CASMailbox` and the licence say about a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxState {
    pub imap_enabled: bool,
    pub pop_enabled: bool,
    pub smtp_auth: SmtpAuth,
    pub licensed: bool,
}

impl MailboxState {
    /// Every protocol enabled, licensed.
    pub fn enabled() -> MailboxState {
        MailboxState {
            imap_enabled: true,
            pop_enabled: true,
            smtp_auth: SmtpAuth::Enabled,
            licensed: true,
        }
    }
}

/// SMTP AUTH (SmtpClientAuthentication) for a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpAuth {
    Enabled,
    /// `Set-CASMailbox -SmtpClientAuthenticationDisabled $true`.
    DisabledForMailbox,
    /// Off for the organisation and not overridden on the mailbox.
    DisabledForTenant,
}

/// A scripted token endpoint failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFault {
    pub status: u16,
    /// "invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", ...
    pub error: String,
    pub aadsts: u32,
}

impl TokenFault {
    /// The status and `error` Entra ID answers with this AADSTS code (module table).
    pub fn aadsts(code: u32) -> TokenFault {
        let info = aadsts::info(code);
        TokenFault {
            status: info.status,
            error: info.error.to_string(),
            aadsts: code,
        }
    }
}

/// The delegated scopes of a healthy ECE mail account.
pub const DELEGATED_SCOPES: [&str; 4] = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];

impl OAuthConfig {
    /// One licensed account with IMAP, POP and SMTP AUTH enabled, the delegated scopes
    /// [`DELEGATED_SCOPES`], 3600 s tokens, refresh token `lab-refresh-token-<user>`; a public
    /// client [`LAB_CLIENT_ID`]; no app roles (the app's service principal has FullAccess on
    /// the account's mailbox, for when a test adds roles and a secret).
    pub fn healthy(user: &str) -> OAuthConfig {
        OAuthConfig {
            client_id: LAB_CLIENT_ID.to_string(),
            client_secret: None,
            accounts: vec![Account::healthy(user)],
            app_roles: Vec::new(),
            app_full_access: vec![user.to_string()],
            token_fault: None,
            device_account: None,
        }
    }
}

impl Account {
    /// The account of [`OAuthConfig::healthy`].
    pub fn healthy(user: &str) -> Account {
        Account {
            user: user.to_string(),
            refresh_token: format!("lab-refresh-token-{user}"),
            scopes: DELEGATED_SCOPES.iter().map(|s| s.to_string()).collect(),
            lifetime_s: 3600,
            full_access_to: Vec::new(),
            mailbox: MailboxState::enabled(),
        }
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| REDACTED),
            )
            .field("accounts", &self.accounts)
            .field("app_roles", &self.app_roles)
            .field("app_full_access", &self.app_full_access)
            .field("token_fault", &self.token_fault)
            .field("device_account", &self.device_account)
            .finish()
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("refresh_token", &REDACTED)
            .field("scopes", &self.scopes)
            .field("lifetime_s", &self.lifetime_s)
            .field("full_access_to", &self.full_access_to)
            .field("mailbox", &self.mailbox)
            .finish()
    }
}

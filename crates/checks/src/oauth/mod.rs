//! OAuth diagnostics (issue 7): the refresh-token grant exactly as ECE's services server
//! runs it (or the app-only client-credentials grant), what the token says about the setup,
//! and an XOAUTH2 login per protocol, each refusal mapped to its cause and fix.
//!
//! Secrets (refresh token, client secret, access token) live in [`Secret`]s: they are sent
//! to Microsoft and nowhere else. Reports carry verdicts and non-secret claims only, and
//! nothing here logs.
//!
//! Entry points on [`Prober`]: [`Prober::oauth_token`] (check `oauth-token`),
//! [`Prober::oauth_login`] (`oauth-imap`, `oauth-pop3`, `oauth-smtp`) and
//! [`Prober::oauth_mailbox`] (the token, then a login per protocol); and, for obtaining a
//! mailbox's refresh token, [`Prober::start_device_code`] and [`Prober::poll_device_code`].

mod aadsts;
mod claims;
mod device;
mod findings;
mod run;
mod secret;
pub(crate) mod token;
pub(crate) mod xoauth2;

use serde::{Deserialize, Serialize};

pub use aadsts::classify as classify_aadsts;
pub use claims::{decode as decode_claims, ClaimsReport};
pub use device::{DeviceCode, DeviceFlowError, DEVICE_CODE_GRANT, MAX_DEVICE_WAIT};
pub use findings::EXPECTED_LIFETIME_S;
pub use secret::Secret;
pub use token::{Grant, OAuthClient, TokenGrant, TokenRefusal, OFFLINE_ACCESS};
pub use xoauth2::sasl_string;

use crate::catalog::{CheckId, CloudHosts, Dialog};
use crate::failure::FailureKind;
use crate::report::CheckReport;
#[cfg(doc)]
use crate::Prober;

/// The resource of the delegated Exchange Online scopes (global cloud).
pub const EXCHANGE_RESOURCE: &str = "https://outlook.office.com";

/// A mail protocol ECE uses with XOAUTH2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Imap, Protocol::Pop3, Protocol::Smtp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
        }
    }

    /// The login check of this protocol.
    pub fn check_id(self) -> CheckId {
        match self {
            Protocol::Imap => CheckId::OauthImap,
            Protocol::Pop3 => CheckId::OauthPop3,
            Protocol::Smtp => CheckId::OauthSmtp,
        }
    }

    /// The delegated permission (the `scp` value, and the scope after the resource URL).
    pub fn delegated_scope(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsUser.All",
            Protocol::Pop3 => "POP.AccessAsUser.All",
            Protocol::Smtp => "SMTP.Send",
        }
    }

    /// The application permission of an app-only token (`roles`).
    pub fn app_role(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP.AccessAsApp",
            Protocol::Pop3 => "POP.AccessAsApp",
            Protocol::Smtp => "SMTP.SendAsApp",
        }
    }

    /// The server: IMAP 993 and POP3 995 on the outlook host, SMTP 587 on the smtp host.
    pub fn endpoint(self, hosts: &CloudHosts) -> (String, u16) {
        let target = self.check_id().target();
        let host = hosts.host(target.host).unwrap_or_default();
        (host.to_string(), target.port)
    }

    pub(crate) fn dialog(self) -> Dialog {
        match self {
            Protocol::Imap => Dialog::Imap,
            Protocol::Pop3 => Dialog::Pop3,
            Protocol::Smtp => Dialog::Smtp,
        }
    }
}

/// One mailbox as ECE uses it: the app registration, the grant, the protocols.
#[derive(Clone, Debug)]
pub struct MailboxSpec {
    /// The mailbox address: the XOAUTH2 `user=` (for a shared mailbox too).
    pub address: String,
    /// The cloud's host names (sign-in, IMAP/POP3, SMTP).
    pub hosts: CloudHosts,
    /// Directory (tenant) id or domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// The client secret's Value.
    pub client_secret: Option<Secret>,
    /// Delegated (the refresh token ECE holds) or app-only.
    pub grant: Grant,
    /// The protocols ECE uses on this mailbox (scopes requested, logins tried).
    pub protocols: Vec<Protocol>,
    /// Reached through Full Access by another account's token (C7): the token's user is
    /// then not the mailbox, and that is fine.
    pub shared: bool,
    /// For a shared mailbox, the account whose token is used, if known (compared with the
    /// token's user instead of the mailbox).
    pub account: Option<String>,
    /// Scopes of the refresh-token grant, full URLs; None: the Exchange Online scope of each
    /// protocol under [`EXCHANGE_RESOURCE`] (give them for a sovereign cloud).
    pub scopes: Option<Vec<String>>,
}

impl MailboxSpec {
    /// A mailbox on `hosts` using every protocol, not shared, default scopes.
    pub fn new(
        address: &str,
        hosts: CloudHosts,
        tenant: &str,
        client_id: &str,
        grant: Grant,
    ) -> Self {
        MailboxSpec {
            address: address.to_string(),
            hosts,
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            client_secret: None,
            grant,
            protocols: Protocol::ALL.to_vec(),
            shared: false,
            account: None,
            scopes: None,
        }
    }

    /// The token endpoint client for this mailbox.
    pub fn client(&self) -> OAuthClient {
        let mut c = OAuthClient::new(&self.hosts, &self.tenant, &self.client_id);
        c.client_secret = self.client_secret.clone();
        c.scopes = self.scopes.clone().unwrap_or_else(|| {
            self.protocols
                .iter()
                .map(|p| format!("{EXCHANGE_RESOURCE}/{}", p.delegated_scope()))
                .collect()
        });
        c
    }

    /// Why the grant cannot be tried as configured, if it cannot.
    pub(crate) fn unusable(&self) -> Option<(FailureKind, String)> {
        match &self.grant {
            Grant::RefreshToken(rt) if rt.is_empty() => Some((
                FailureKind::OauthRefreshTokenInvalid,
                "no refresh token is configured for this mailbox".to_string(),
            )),
            Grant::ClientCredentials
                if self.client_secret.as_ref().is_none_or(Secret::is_empty) =>
            {
                Some((
                    FailureKind::OauthClientSecretInvalid,
                    "the client-credentials grant needs the client secret".to_string(),
                ))
            }
            _ => None,
        }
    }
}

/// The `oauth-token` check and, when the grant succeeded, the token (secrets redacted in
/// Debug, never serialised). The caller may persist `token.refresh_token`: Microsoft rotates
/// refresh tokens on every use.
#[derive(Clone, Debug)]
pub struct OAuthTokenReport {
    pub report: CheckReport,
    pub token: Option<TokenGrant>,
}

/// A mailbox's OAuth checks: the token, then one login per protocol.
#[derive(Clone, Debug)]
pub struct OAuthMailboxReport {
    pub token: OAuthTokenReport,
    /// One per protocol of the spec, in its order; empty when no token was granted.
    pub logins: Vec<CheckReport>,
}

impl OAuthMailboxReport {
    /// Every report, the token's first.
    pub fn reports(&self) -> Vec<&CheckReport> {
        std::iter::once(&self.token.report)
            .chain(&self.logins)
            .collect()
    }
}

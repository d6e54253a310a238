//! The failure taxonomy: every way a check can fail or degrade, and the one place that says
//! what each means for ECE and what to do about it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod hints;
mod kinds;
mod latency_hints;
mod oauth_hints;
mod owner;
mod path_hints;
mod remedy;
mod row;

pub use owner::Owner;
pub use remedy::Remedy;

/// The stage of a probe. Stages run in this order; SMTP inserts `starttls` (the plain-text
/// dialog up to the STARTTLS reply) between `tcp` and `tls`, and HTTPS through a proxy
/// inserts `proxy` (the CONNECT exchange). The OAuth checks end in `token` (the grant at the
/// token endpoint, in place of `protocol`) or `login` (XOAUTH2 after `protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Dns,
    Tcp,
    Proxy,
    Starttls,
    Tls,
    Protocol,
    /// OAuth: the grant at the token endpoint, and the token's claims.
    Token,
    /// OAuth: the XOAUTH2 login and proof that the mailbox session is connected.
    Login,
    /// `ece-config`: the declared ECE facts, evaluated without network.
    Config,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Proxy => "proxy",
            Stage::Starttls => "starttls",
            Stage::Tls => "tls",
            Stage::Protocol => "protocol",
            Stage::Token => "token",
            Stage::Login => "login",
            Stage::Config => "config",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares the kinds and [`FailureKind::ALL`] from one list, so `ALL` cannot miss one.
macro_rules! failure_kinds {
    ($(#[$enum_meta:meta])* pub enum FailureKind { $($(#[$meta:meta])* $kind:ident,)* }) => {
        $(#[$enum_meta])*
        pub enum FailureKind { $($(#[$meta])* $kind,)* }

        impl FailureKind {
            /// Every kind, in declaration order.
            pub const ALL: [FailureKind; [$(stringify!($kind)),*].len()] =
                [$(FailureKind::$kind),*];
        }
    };
}

failure_kinds! {
/// What went wrong (a failure) or what looks degraded (a warning). Everything a kind means
/// (its name, owner, checklist items, fix) is its row in `failure/kinds.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The name does not exist (NXDOMAIN) or has no address.
    DnsNxdomain,
    /// The resolver did not answer within the DNS timeout.
    DnsTimeout,
    /// The resolver answered with a temporary or other failure (SERVFAIL, no DNS server).
    DnsFailure,
    /// The port actively refused the connection (RST): a firewall reject or nothing listening.
    TcpRefused,
    /// No answer to the connection attempt within the TCP timeout: a firewall drop.
    TcpTimeout,
    /// No route to the network or host (ICMP unreachable).
    TcpUnreachable,
    /// Any other socket error while connecting.
    TcpError,
    /// Some of the resolved addresses work and others do not.
    PartialReachability,
    /// The CONNECT proxy could not be reached.
    ProxyUnreachable,
    /// The proxy wants credentials (407).
    ProxyAuthRequired,
    /// The proxy refused the CONNECT (403 or similar).
    ProxyDenied,
    /// The proxy could not reach the target (502/503/504).
    ProxyUpstreamFailed,
    /// The proxy answered something that is not HTTP or not a CONNECT reply.
    ProxyUnexpected,
    /// The certificate chain does not end at a root this host trusts; for a Microsoft host,
    /// the chain is Microsoft's own (it verifies up to an expected root) or could not be
    /// judged: this host lacks the root.
    TlsUntrusted,
    /// The certificate is not valid for the host name.
    TlsNameMismatch,
    /// A certificate in the chain has expired.
    TlsExpired,
    /// A certificate in the chain is not valid yet (or the host clock is wrong).
    TlsNotYetValid,
    /// The server (or a middlebox) only offers TLS below 1.2, which Microsoft 365 refuses.
    TlsVersionUnsupported,
    /// The TLS handshake failed for another reason.
    TlsHandshakeFailed,
    /// The TLS handshake did not finish within the TLS timeout.
    TlsTimeout,
    /// The peer closed or reset the connection during the handshake.
    TlsClosed,
    /// TCP connected and the ClientHello went out, but not one byte of the server's answer
    /// arrived (nor with MSS 536, where that retry was made): TLS is dropped on the way.
    TlsStalled,
    /// The handshake stalled with the default MSS and completed with MSS 536: full-size
    /// packets are lost and the ICMP that would shrink them is dropped (an MTU black hole).
    PathMtuBlackhole,
    /// A Microsoft host presented a chain that does not verify up to any expected root
    /// (Microsoft's, or one declared): a TLS-inspecting proxy re-signed it. A failure
    /// whether or not this host trusts the proxy's CA; agents before issue 13 sent it as a
    /// warning when the host trusted it.
    TlsIntercepted,
    /// The server sent its certificate without the intermediate that issued it, and that
    /// issuer is no root known here: ECE's Java (and rustls) cannot build the chain; Windows
    /// and browsers fetch it through AIA and work.
    ChainIncomplete,
    /// This host trusts the chain, but ECE's Java runtime cannot build a path to any
    /// certificate of its trust store (`cacerts`/`jssecacerts`): `PKIX path building failed`.
    JavaUntrusted,
    /// ECE's Java trust store lacks some of the roots Microsoft publishes for its services,
    /// though today's chains pass: the next rotation breaks ECE (warning; `ece-java`).
    JavaTruststoreIncomplete,
    /// ECE's Java runtime cannot speak the TLS Microsoft 365 requires: TLS 1.2 disabled, every
    /// accepted cipher suite disabled, or a runtime too old to offer TLS 1.2 (`ece-java`).
    JavaTlsIncompatible,
    /// A certificate in the chain expires soon (warning).
    CertExpiringSoon,
    /// A stage that worked took longer than its budget (`[slow]`), e.g. a TLS handshake of
    /// 2.4 s against 1 s (warning).
    Slow,
    /// The kernel retransmitted segments of the check's connection at least `[slow]
    /// retransmits` times: packets are lost on the path (warning; Linux, from TCP_INFO).
    PacketLoss,
    /// The OS resolver answered, but slower than its budget: a dead first name server, a
    /// resolver timing out (warning).
    DnsSlow,
    /// The server did not answer within the protocol timeout.
    ProtocolTimeout,
    /// The server's reply is not what the protocol (or Microsoft) says.
    ProtocolUnexpected,
    /// A reply line exceeded the line-length bound (hostile or broken server).
    ProtocolLineTooLong,
    /// The server sent more than the dialog's byte budget.
    ProtocolTooMuchData,
    /// The server closed the connection mid-dialog.
    ProtocolClosed,
    /// SMTP: the server does not offer STARTTLS on 587.
    StarttlsMissing,
    /// IMAP/POP3/SMTP: XOAUTH2 is not among the advertised SASL mechanisms.
    Xoauth2Missing,
    /// HTTPS: the status code is not the one expected.
    HttpStatus,
    /// login-https: the OpenID configuration is not JSON or lacks `token_endpoint`.
    OpenidInvalid,
    /// ece-url: the External Application URL is not `https://`.
    EceUrlNotHttps,
    /// Token endpoint, AADSTS70008 / 700082: the refresh token expired (unused for 90 days, or too old).
    OauthRefreshTokenExpired,
    /// AADSTS50173: the grant was revoked (password change, sessions revoked).
    OauthGrantRevoked,
    /// AADSTS70043: a Conditional Access sign-in frequency policy expired the refresh token.
    OauthSigninFrequency,
    /// AADSTS50011: the redirect URI does not match the app registration (checklist C3).
    OauthRedirectUriMismatch,
    /// AADSTS7000215 / 7000218: the client secret is wrong or missing (often its ID instead of its Value).
    OauthClientSecretInvalid,
    /// AADSTS7000222: the client secret has expired.
    OauthClientSecretExpired,
    /// AADSTS700016: no app with this client id in the tenant.
    OauthAppNotFound,
    /// AADSTS65001: the user or administrator has not consented to the app's permissions.
    OauthConsentMissing,
    /// AADSTS90094: the tenant requires an administrator's consent.
    OauthAdminConsentRequired,
    /// AADSTS50076 / 50079: multi-factor authentication is required (or the user must enrol).
    OauthMfaRequired,
    /// AADSTS50126: wrong user name or password.
    OauthBadCredentials,
    /// AADSTS53003: blocked by a Conditional Access policy.
    OauthConditionalAccess,
    /// AADSTS530035: blocked by the tenant's security defaults.
    OauthSecurityDefaults,
    /// AADSTS50020 / 50034 / 90002: the user or the tenant does not exist there.
    OauthUserOrTenantNotFound,
    /// AADSTS90038: the tenant lives in another national cloud.
    OauthWrongCloud,
    /// AADSTS70011 / 28002: the requested scope is invalid.
    OauthInvalidScope,
    /// AADSTS81012: the device's user differs from the user chosen (the SSO pitfall).
    OauthDeviceUserMismatch,
    /// AADSTS9002313: the refresh token is malformed or unknown.
    OauthRefreshTokenInvalid,
    /// Any other token endpoint error; the detail carries the `error` field and AADSTS code.
    OauthTokenError,
    /// The token was issued for another user than the mailbox (checklist C4).
    TokenWrongUser,
    /// The token lacks the scope (or app role) a probed protocol needs.
    TokenScopeMissing,
    /// The token is for another API than Exchange Online (e.g. Microsoft Graph).
    TokenWrongAudience,
    /// The token's lifetime (`exp - iat`) is not the 60 minutes the checklist expects (warning).
    TokenLifetimeUnexpected,
    /// A delegated grant returned no new refresh token: `offline_access` is missing (warning).
    OfflineAccessMissing,
    /// The mail server refused the XOAUTH2 login: IMAP `NO AUTHENTICATE failed.`, POP3
    /// `-ERR Authentication failure`, SMTP 535 5.7.3. One kind for one cause on every
    /// protocol; the hint says what differs (scope, POP3 or IMAP enabled on the mailbox).
    /// Agents before issue 13 sent POP3's as `pop_login_refused`, which still parses to it.
    Xoauth2Rejected,
    /// IMAP/POP3: authenticated but the mailbox cannot be opened (no rights, protocol disabled, licence).
    MailboxNotConnected,
    /// SMTP 535 5.7.139: SMTP AUTH is disabled for the tenant (blocks OAuth too).
    SmtpAuthDisabledTenant,
    /// SMTP 535 5.7.139: SMTP AUTH is disabled for the mailbox.
    SmtpAuthDisabledMailbox,
    /// The server could not parse the XOAUTH2 data (SMTP 501 5.5.124, IMAP BAD).
    Xoauth2Malformed,
    /// ece-config: the declared ECE version is older than 11.6(1) or not a version (C1).
    EceVersionUnsupported,
    /// ece-config: the declared ES is below the minimum for the version (C1).
    EceEsTooOld,
    /// ece-config: no External Application URL is declared (C2).
    EceUrlMissing,
    /// ece-config: the Azure redirect URI's host differs from the External Application URL's,
    /// or it is not https (C3).
    RedirectUriMismatch,
    /// ece-config: the ECE version or ES is not declared, so C1 was not checked (warning).
    EceVersionUndeclared,
    /// A stage of a passing check takes far longer on this server than the same check on
    /// the other servers of its deployment and role (warning; found by the collector, never
    /// sent by an agent).
    SlowerThanPeers,
    /// A stage of a passing check takes far longer on this server than its own median of
    /// the last 7 days (warning; found by the collector, never sent by an agent).
    LatencyRegression,
}
}

impl FailureKind {
    /// Every name a stored result may carry for a kind, today's and older agents' (what
    /// [`FromStr`] accepts), with the kind it is now.
    pub fn names() -> impl Iterator<Item = (&'static str, FailureKind)> {
        FailureKind::ALL.into_iter().flat_map(|k| {
            let def = k.def();
            std::iter::once(def.name)
                .chain(def.legacy_names.iter().copied())
                .map(move |name| (name, k))
        })
    }
}

impl FromStr for FailureKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureKind::names()
            .find(|(name, _)| *name == s)
            .map(|(_, k)| k)
            .ok_or_else(|| format!("unknown failure kind '{s}'"))
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// In JSON as its row's name; older agents' names read as what they are now.
impl Serialize for FailureKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A failure or warning as reported: the kind, the stage it happened at, what was seen,
/// and what to do. Serialised with its kind's owner beside it (`owner`, derived, never
/// stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FindingOut")]
pub struct Finding {
    pub kind: FailureKind,
    pub stage: Stage,
    /// What was observed, e.g. "connection refused" or "reachable on 3 of 6 addresses".
    pub detail: String,
    pub hint: String,
    /// The address of the device a path trace names: the one that refused the SYN, or the
    /// last one that answered before silence. None when no trace named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<std::net::IpAddr>,
}

/// A finding as JSON shows it: its fields and the team that closes it.
#[derive(Serialize)]
struct FindingOut {
    kind: FailureKind,
    owner: Owner,
    stage: Stage,
    detail: String,
    hint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<std::net::IpAddr>,
}

impl From<Finding> for FindingOut {
    fn from(f: Finding) -> Self {
        FindingOut {
            owner: f.kind.owner(),
            kind: f.kind,
            stage: f.stage,
            detail: f.detail,
            hint: f.hint,
            device: f.device,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CheckId, Role};

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for kind in FailureKind::ALL {
            assert!(seen.insert(kind.as_str()), "duplicate {kind}");
            assert_eq!(kind.as_str().parse::<FailureKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            // The collector accepts kinds of 1-64 characters of a-z, 0-9 and '_'.
            assert!(kind.as_str().len() <= 64);
            assert!(kind
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        assert!("nope".parse::<FailureKind>().is_err());
        // What agents before issue 13 sent for a refused POP3 login.
        assert_eq!(
            "pop_login_refused".parse::<FailureKind>(),
            Ok(FailureKind::Xoauth2Rejected)
        );
        let old: FailureKind = serde_json::from_str("\"pop_login_refused\"").unwrap();
        assert_eq!(old, FailureKind::Xoauth2Rejected);
    }

    /// The remedy is typed: every kind breaks at least one item on every check, and its hint
    /// says them as the collector's exports do.
    #[test]
    fn every_remedy_names_its_items_and_who_needs_it() {
        for check in CheckId::known() {
            for kind in FailureKind::ALL {
                let r = kind.remedy(check, Role::Services, "host.example", 993);
                assert!(!r.items.is_empty(), "{kind} on {}", check.as_str());
                let items = crate::ChecklistItem::join(&r.items);
                assert!(
                    r.hint().contains(&format!("({items}")),
                    "{kind}: {}",
                    r.hint()
                );
            }
        }
        let pop3 = FailureKind::Xoauth2Rejected.items(CheckId::OauthPop3);
        let imap = FailureKind::Xoauth2Rejected.items(CheckId::OauthImap);
        assert_eq!(crate::ChecklistItem::join(pop3), "C4, C5, C6, C7");
        assert_eq!(crate::ChecklistItem::join(imap), "C4, C6, C7");
        let cert = FailureKind::CertExpiringSoon.hint(CheckId::EceUrl, Role::Both, "ece", 443);
        assert!(cert.ends_with("renew it (C2 for the ECE URL); needed by the OAuth2 redirect back to ECE (External Application URL)"), "{cert}");
    }

    #[test]
    fn every_hint_names_a_checklist_item_and_who_needs_it() {
        for check in CheckId::known() {
            for kind in FailureKind::ALL {
                let hint = kind.hint(check, Role::Services, "host.example", 993);
                assert!(hint.contains("(C"), "{kind}: {hint}");
                assert!(hint.contains("; needed by "), "{kind}: {hint}");
            }
        }
    }
}

//! Who closes each kind (issue 15): the team an ECE administrator hands it to. One match,
//! exhaustive, so a new kind cannot be added without its owner.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::FailureKind;

/// The team that fixes a failure or warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Firewall, proxy, DNS, TLS inspection, routing: the path between this server and
    /// Microsoft.
    Network,
    /// The Microsoft 365 / Entra administrator: app registration, consent, Conditional
    /// Access, SMTP AUTH, protocols and rights on the mailbox.
    M365,
    /// The ECE administrator: version and ES, External Application URL, the OAuth settings
    /// and the token generated in ECE.
    Ece,
    /// The server itself: its clock, its root certificates, ECE's Java runtime and trust
    /// store.
    Host,
}

impl Owner {
    pub const ALL: [Owner; 4] = [Owner::Network, Owner::M365, Owner::Ece, Owner::Host];

    /// The name in JSON, on the dashboard and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Network => "network",
            Owner::M365 => "m365",
            Owner::Ece => "ece",
            Owner::Host => "host",
        }
    }

    /// Who that is, in words.
    pub fn team(self) -> &'static str {
        match self {
            Owner::Network => "the network team (firewall, proxy, DNS)",
            Owner::M365 => "the Microsoft 365 / Entra administrator",
            Owner::Ece => "the ECE administrator",
            Owner::Host => "the server's administrator (clock, certificates, Java)",
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FailureKind {
    /// The team that closes it (the hint says how).
    pub fn owner(self) -> Owner {
        use FailureKind as K;
        match self {
            // The path: resolution, reachability, proxies, anything in between that
            // answers, drops, downgrades, inspects or slows.
            K::DnsNxdomain
            | K::DnsTimeout
            | K::DnsFailure
            | K::DnsSlow
            | K::TcpRefused
            | K::TcpTimeout
            | K::TcpUnreachable
            | K::TcpError
            | K::PartialReachability
            | K::ProxyUnreachable
            | K::ProxyAuthRequired
            | K::ProxyDenied
            | K::ProxyUpstreamFailed
            | K::ProxyUnexpected
            | K::TlsNameMismatch
            | K::TlsVersionUnsupported
            | K::TlsHandshakeFailed
            | K::TlsTimeout
            | K::TlsClosed
            | K::TlsStalled
            | K::PathMtuBlackhole
            | K::TlsIntercepted
            | K::ChainIncomplete
            | K::Slow
            | K::PacketLoss
            | K::ProtocolTimeout
            | K::ProtocolUnexpected
            | K::ProtocolLineTooLong
            | K::ProtocolTooMuchData
            | K::ProtocolClosed
            | K::StarttlsMissing
            | K::Xoauth2Missing
            | K::HttpStatus
            | K::OpenidInvalid
            | K::SlowerThanPeers
            | K::LatencyRegression => Owner::Network,
            // This server: the roots it trusts, its clock, ECE's Java on it.
            K::TlsUntrusted
            | K::TlsExpired
            | K::TlsNotYetValid
            | K::JavaUntrusted
            | K::JavaTruststoreIncomplete
            | K::JavaTlsIncompatible => Owner::Host,
            // The tenant: the app registration, its consent and secrets, the policies,
            // the mailbox.
            K::OauthSigninFrequency
            | K::OauthRedirectUriMismatch
            | K::OauthClientSecretExpired
            | K::OauthAppNotFound
            | K::OauthConsentMissing
            | K::OauthAdminConsentRequired
            | K::OauthMfaRequired
            | K::OauthConditionalAccess
            | K::OauthSecurityDefaults
            | K::OauthTokenError
            | K::TokenScopeMissing
            | K::TokenLifetimeUnexpected
            | K::OfflineAccessMissing
            | K::Xoauth2Rejected
            | K::MailboxNotConnected
            | K::SmtpAuthDisabledTenant
            | K::SmtpAuthDisabledMailbox
            | K::RedirectUriMismatch => Owner::M365,
            // ECE: its version, its URL, what was typed into it, the token generated in it.
            K::EceUrlNotHttps
            | K::CertExpiringSoon
            | K::OauthRefreshTokenExpired
            | K::OauthGrantRevoked
            | K::OauthClientSecretInvalid
            | K::OauthBadCredentials
            | K::OauthUserOrTenantNotFound
            | K::OauthWrongCloud
            | K::OauthInvalidScope
            | K::OauthDeviceUserMismatch
            | K::OauthRefreshTokenInvalid
            | K::TokenWrongUser
            | K::TokenWrongAudience
            | K::Xoauth2Malformed
            | K::EceVersionUnsupported
            | K::EceEsTooOld
            | K::EceUrlMissing
            | K::EceVersionUndeclared => Owner::Ece,
        }
    }
}

impl FailureKind {
    /// The network kinds a firewall rule (allow outbound TCP to the host and port, or undo
    /// the inspection on it) fixes: the destination is refused, dropped, unreachable,
    /// stalled, black-holed or inspected on the path. DNS, proxy, TLS name, HTTP and
    /// protocol kinds are the network's too but are fixed elsewhere (a record, the proxy's
    /// settings, a certificate): a rule would not close them. The change request's rules
    /// come from this one list.
    pub const FIREWALL_RULE_FIXES: [FailureKind; 7] = [
        FailureKind::TcpRefused,
        FailureKind::TcpTimeout,
        FailureKind::TcpUnreachable,
        FailureKind::PartialReachability,
        FailureKind::TlsStalled,
        FailureKind::PathMtuBlackhole,
        FailureKind::TlsIntercepted,
    ];

    /// Whether a firewall rule fixes it ([`FailureKind::FIREWALL_RULE_FIXES`]).
    pub fn firewall_rule_fixes(self) -> bool {
        FailureKind::FIREWALL_RULE_FIXES.contains(&self)
    }

    /// Whether it means the path blocks the destination (refused, dropped, unreachable,
    /// stalled, black-holed): a rule that was never opened, unlike TLS inspection.
    pub fn blocks(self) -> bool {
        self.firewall_rule_fixes() && self != FailureKind::TlsIntercepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_team_owns_something_and_names_round_trip() {
        for owner in Owner::ALL {
            assert!(
                FailureKind::ALL.iter().any(|k| k.owner() == owner),
                "{owner} owns no kind"
            );
            let json = serde_json::to_string(&owner).unwrap();
            assert_eq!(json, format!("\"{}\"", owner.as_str()));
        }
        // The cases the issue names.
        assert_eq!(FailureKind::TcpTimeout.owner(), Owner::Network);
        assert_eq!(FailureKind::SmtpAuthDisabledMailbox.owner(), Owner::M365);
        assert_eq!(FailureKind::EceEsTooOld.owner(), Owner::Ece);
        assert_eq!(FailureKind::JavaUntrusted.owner(), Owner::Host);
        // A firewall rule fixes only the path's own kinds.
        for k in FailureKind::FIREWALL_RULE_FIXES {
            assert_eq!(k.owner(), Owner::Network, "{k:?}");
        }
        assert!(!FailureKind::DnsNxdomain.firewall_rule_fixes());
        assert!(!FailureKind::ProxyAuthRequired.firewall_rule_fixes());
        assert!(FailureKind::TlsIntercepted.firewall_rule_fixes());
        assert!(!FailureKind::TlsIntercepted.blocks());
        assert!(FailureKind::TcpRefused.blocks());
    }
}

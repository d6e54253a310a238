//! Who closes a kind (issue 15): the team an ECE administrator hands it to. Each kind's
//! owner is a column of its row (`kinds.rs`), so no kind exists without one.

use std::fmt;

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FailureKind;

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
        for k in FailureKind::ALL
            .into_iter()
            .filter(|k| k.firewall_rule_fixes())
        {
            assert_eq!(k.owner(), Owner::Network, "{k:?}");
        }
        assert!(!FailureKind::DnsNxdomain.firewall_rule_fixes());
        assert!(!FailureKind::ProxyAuthRequired.firewall_rule_fixes());
        assert!(FailureKind::TlsIntercepted.firewall_rule_fixes());
        assert!(!FailureKind::TlsIntercepted.blocks());
        assert!(FailureKind::TcpRefused.blocks());
    }
}

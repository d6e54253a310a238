//! Who closes a gap or warning (issue 15): the one place in the collector that says it.
//!
//! The owner is derived from the kind, never stored nor sent: a `failing` finding's owner is
//! its probe kind's ([`FailureKind::owner`], the kind being the first word of the detail,
//! legacy names included); the kinds the collector finds on its own get theirs from the
//! exhaustive match below, which follows TROUBLESHOOTING.md's index. A kind this version does
//! not know (a newer agent's, or a failure without a kind) has no owner: "unknown", never a
//! guess.

use eceprobe_checks::{FailureKind, Owner};

use super::engine::{FindingKind, NOT_ANSWERED};
use crate::store::KindMatch;

/// What the dashboard, the API, the CLI and reports say when the owner is not known.
pub const UNKNOWN: &str = "unknown";

impl FindingKind {
    /// Every kind, in declaration order.
    pub const ALL: [FindingKind; 13] = [
        FindingKind::Failing,
        FindingKind::Missing,
        FindingKind::Stale,
        FindingKind::Slow,
        FindingKind::PacketLoss,
        FindingKind::DnsSlow,
        FindingKind::CertExpiring,
        FindingKind::Intercepted,
        FindingKind::JavaTruststoreIncomplete,
        FindingKind::TokenLifetimeUnexpected,
        FindingKind::OfflineAccessMissing,
        FindingKind::RefreshBlockedOnServices,
        FindingKind::AddressNotMicrosoft,
    ];

    /// The kind of a stored name ([`FindingKind::as_str`]).
    pub fn parse(name: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The owner of a finding of this kind; `detail` matters only to `failing`, whose
    /// detail starts with the probe's failure kind. None: not known to this version.
    pub fn owner(self, detail: &str) -> Option<Owner> {
        use FindingKind as K;
        Some(match self {
            K::Failing => return failure_owner(detail),
            // ECE's administrator left the check out (agent version, its configuration).
            K::Missing => Owner::Ece,
            // The agent on this server went silent: its service, its host.
            K::Stale => Owner::Host,
            K::Slow | K::PacketLoss | K::DnsSlow | K::Intercepted => Owner::Network,
            K::RefreshBlockedOnServices | K::AddressNotMicrosoft => Owner::Network,
            K::CertExpiring => Owner::Ece,
            K::JavaTruststoreIncomplete => Owner::Host,
            K::TokenLifetimeUnexpected | K::OfflineAccessMissing => Owner::M365,
        })
    }
}

/// The owner of a failure whose detail starts with its probe kind ("tcp_refused", "tcp_refused
/// (not required by the policy)", "... (last known; ...)"). The kind ends at the first space,
/// as the engine writes it and as the store's owner filter cuts it ([`OwnerFilter::stored`]).
fn failure_owner(detail: &str) -> Option<Owner> {
    failure_kind(detail).map(FailureKind::owner)
}

/// The probe's failure kind a `failing` finding's detail starts with, cut at the first
/// space (the one place that cuts it: owners, change requests).
pub fn failure_kind(detail: &str) -> Option<FailureKind> {
    detail.split(' ').next()?.parse().ok()
}

/// The probe's failure kind behind a gap or warning as stored and sent: a `failing` one's
/// detail starts with it, a latency or OAuth warning is one; None for the collector's own
/// kinds (missing, stale, intercepted...).
pub fn probe_kind(kind: &str, detail: &str) -> Option<FailureKind> {
    match kind {
        "failing" => failure_kind(detail),
        other => other.parse().ok(),
    }
}

/// The owner of a gap or warning as stored and sent (kind and detail strings): the
/// collector's kinds, an audit's `not_answered` (the agent's service on this server), and the
/// latency warnings, whose kinds are probe kinds. None: unknown.
pub fn owner_of(kind: &str, detail: &str) -> Option<Owner> {
    if let Some(k) = FindingKind::parse(kind) {
        return k.owner(detail);
    }
    if kind == NOT_ANSWERED {
        return Some(Owner::Host);
    }
    kind.parse::<FailureKind>().ok().map(FailureKind::owner)
}

/// [`owner_of`] as its name ("network", ..., or "unknown").
pub fn owner_name(kind: &str, detail: &str) -> &'static str {
    owner_of(kind, detail).map_or(UNKNOWN, Owner::as_str)
}

/// The values `owner=` (dashboard, API) and `--owner` (CLI, Query API) accept, in words.
pub const OWNER_VALUES: &str = "network, m365, ece, host or unknown";

/// What an owner filter chooses: one team's gaps and warnings, or those whose owner this
/// version does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerFilter {
    Team(Owner),
    Unknown,
}

/// As its name, in the JSON API's echoed filters.
impl serde::Serialize for OwnerFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl OwnerFilter {
    /// `network`, `m365`, `ece`, `host` or `unknown`; None for anything else.
    pub fn parse(name: &str) -> Option<OwnerFilter> {
        match name {
            UNKNOWN => Some(OwnerFilter::Unknown),
            _ => Owner::ALL
                .into_iter()
                .find(|o| o.as_str() == name)
                .map(OwnerFilter::Team),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerFilter::Team(o) => o.as_str(),
            OwnerFilter::Unknown => UNKNOWN,
        }
    }

    /// The filter as the store applies it in SQL. The owner is derived, never stored, and a
    /// page's rows and its total must count only the filtered gaps without reading every open
    /// gap: so the stored names each team owns are enumerated here by asking [`owner_of`]
    /// itself about every name it can give an owner to (the collector's kinds, `not_answered`,
    /// and every probe kind name, older agents' included, alone or as the first word of a
    /// `failing` gap's detail). No second table exists; `unknown` is what no team's list
    /// chooses.
    pub fn stored(self) -> KindMatch {
        let wanted = |o: Option<Owner>| match self {
            OwnerFilter::Team(team) => o == Some(team),
            OwnerFilter::Unknown => o.is_some(),
        };
        let failing = FindingKind::Failing.as_str();
        let probe_names = || FailureKind::names().map(|(name, _)| name);
        let mut kinds: Vec<&'static str> = Vec::new();
        let candidates = FindingKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain([NOT_ANSWERED])
            .chain(probe_names());
        for name in candidates {
            if name != failing && !kinds.contains(&name) && wanted(owner_of(name, "")) {
                kinds.push(name);
            }
        }
        let first_words = probe_names()
            .filter(|name| wanted(owner_of(failing, name)))
            .collect();
        KindMatch {
            kinds,
            by_detail: failing,
            first_words,
            negate: self == OwnerFilter::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collectors_kinds_follow_troubleshooting() {
        for (kind, owner) in [
            ("missing", "ece"),
            ("stale", "host"),
            ("not_answered", "host"),
            ("refresh_blocked_on_services", "network"),
            ("address_not_microsoft", "network"),
            ("cert_expiring", "ece"),
            ("intercepted", "network"),
            ("java_truststore_incomplete", "host"),
            ("slow", "network"),
            ("packet_loss", "network"),
            ("dns_slow", "network"),
            ("token_lifetime_unexpected", "m365"),
            ("offline_access_missing", "m365"),
            // The latency warnings are probe kinds.
            ("slower_than_peers", "network"),
            ("latency_regression", "network"),
        ] {
            assert_eq!(owner_name(kind, ""), owner, "{kind}");
        }
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn a_failing_gap_is_its_probe_kinds() {
        assert_eq!(owner_name("failing", "tcp_refused"), "network");
        assert_eq!(
            owner_name(
                "failing",
                "smtp_auth_disabled_mailbox (not required by the policy)"
            ),
            "m365"
        );
        assert_eq!(
            owner_name(
                "failing",
                "java_untrusted (last known; agent silent since 2026-12-01 10:00Z)"
            ),
            "host"
        );
        assert_eq!(owner_name("failing", "ece_es_too_old"), "ece");
        // A legacy name: what it is now.
        assert_eq!(owner_name("failing", "pop_login_refused"), "m365");
        // A newer agent's kind, a failure without a kind, a kind nobody knows: unknown.
        assert_eq!(owner_name("failing", "quantum_tunnel_collapsed"), UNKNOWN);
        assert_eq!(owner_name("failing", "failed"), UNKNOWN);
        assert_eq!(owner_name("failing", ""), UNKNOWN);
        assert_eq!(owner_name("something_new", "x"), UNKNOWN);
        assert_eq!(owner_of("failing", "x"), None);
    }

    /// Every kind the collector finds has its row in TROUBLESHOOTING.md's index, naming the
    /// owner this match gives it (`failing`'s owner is its probe kind's).
    #[test]
    fn every_kind_has_an_index_row_with_its_owner() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/TROUBLESHOOTING.md");
        let doc = std::fs::read_to_string(path).unwrap();
        for kind in FindingKind::ALL {
            let name = format!("`{}`", kind.as_str());
            let row = doc
                .lines()
                .filter(|l| l.starts_with("| "))
                .find(|l| l.split('|').nth(1).is_some_and(|c| c.contains(&name)))
                .unwrap_or_else(|| panic!("no index row for {name}"));
            let owner = row.split('|').nth(3).unwrap_or_default().trim();
            let expected = kind.owner("").map_or("the probe kind's", Owner::as_str);
            assert_eq!(owner, expected, "{row}");
        }
    }

    /// A warning derived from a probe kind has that kind's owner: one answer either way.
    #[test]
    fn warnings_agree_with_their_probe_kinds() {
        for w in [
            "tls_intercepted",
            "cert_expiring_soon",
            "java_truststore_incomplete",
            "token_lifetime_unexpected",
            "offline_access_missing",
            "slow",
            "packet_loss",
            "dns_slow",
        ] {
            let finding = FindingKind::of_warning(w).unwrap();
            let probe: FailureKind = w.parse().unwrap();
            assert_eq!(finding.owner(w), Some(probe.owner()), "{w}");
        }
    }
}

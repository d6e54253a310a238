//! The store's records as the gap engine sees them: an agent's record as an [`AgentView`],
//! a latest state as a [`CheckView`] (its name parsed, its `address_not_microsoft` judged
//! against the endpoint list in use). The tracker, audits and the dashboard's cells read
//! them through here; a recorded gap as the Query API answers it is [`wire_gap`].

use super::engine::{AgentView, CheckView};
use crate::checkname::CheckName;
use crate::endpoints::EndpointList;
use crate::store::{CheckState, GapRecord, KnownAgent};
use eceprobe_proto::v1::Gap;

/// An agent as the gap engine sees it.
pub fn agent_view(known: &KnownAgent) -> AgentView {
    let a = &known.record;
    AgentView {
        agent_id: a.agent_id.clone(),
        role: crate::convert::stored_role(&a.role),
        deployment: a.deployment.clone(),
        probe_interval_s: a.probe_interval_s,
        seen_unix_ms: a.seen_unix_ms,
        first_seen_unix_ms: known.first_seen_unix_ms,
    }
}

/// A check's latest state as the gap engine sees it; None for a name this collector does
/// not accept (ingest refuses those, so only an older database could hold one).
pub fn check_view(r: &CheckState, endpoints: &EndpointList) -> Option<CheckView> {
    let check = CheckName::parse(&r.check).ok()?;
    Some(CheckView {
        agent_id: r.agent_id.clone(),
        check,
        outcome: r.outcome.clone(),
        failure_kind: r.failure_kind.clone(),
        warning_kinds: r.warning_kinds.clone(),
        duration_us: r.duration_us,
        // The collector's receiving time, not the agent's start time (its clock may be off).
        received_unix_ms: r.received_unix_ms,
        not_microsoft: r
            .system_dns
            .as_ref()
            .and_then(|d| crate::endpoints::not_microsoft(endpoints, &d.host, &d.addresses)),
    })
}

/// A stored gap as the Query API answers it (and as [`crate::export`] reads findings).
pub fn wire_gap(g: GapRecord) -> Gap {
    Gap {
        deployment: g.deployment,
        agent_id: g.agent_id,
        check: g.check,
        severity: g.severity,
        kind: g.kind,
        detail: g.detail,
        opened_unix_ms: g.opened_unix_ms,
        closed_unix_ms: g.closed_unix_ms.unwrap_or(0),
        gap_id: u64::try_from(g.gap_id).unwrap_or(0),
        close_reason: g.close_reason.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn check_views_carry_the_mailbox() {
        let state = |check: &str| CheckState {
            agent_id: "svc".into(),
            check: check.into(),
            seq: 1,
            outcome: "fail".into(),
            failure_kind: None,
            warning_kinds: Vec::new(),
            duration_us: 0,
            received_unix_ms: 1_800_000_000_000,
            system_dns: None,
        };
        let v = check_view(
            &state("oauth-imap/ece-mail@contoso.com"),
            &EndpointList::snapshot(),
        )
        .unwrap();
        assert_eq!(v.check.mailbox(), Some("ece-mail@contoso.com"));
        assert_eq!(
            v.received_unix_ms, 1_800_000_000_000,
            "the collector's time"
        );
        assert!(check_view(&state("oauth-imap"), &EndpointList::snapshot()).is_none());
        assert!(check_view(&state("ftp"), &EndpointList::snapshot()).is_none());
    }
}

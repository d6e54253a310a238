//! The events a webhook receives, and how they are built from what changed (pure). The
//! field-by-field description is in the [module docs](super).

use serde::{Deserialize, Serialize};

use crate::civil::civil_from_days;
use crate::gap_diff::GapDiff;
use crate::gaps::owner_name;
use crate::store::{AuditServerRecord, FoundGap, GapChanges, GapRecord};

/// One webhook event; serialised with its kind in the `event` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    GapOpened(GapEvent),
    GapClosed(GapEvent),
    AuditClosed(AuditClosedEvent),
}

/// Who saw the change: the tracker over the continuous stream, or an audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Continuous,
    Audit,
}

/// A gap (or warning) that opened or closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapEvent {
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
    pub deployment: String,
    /// The agent id.
    pub server: String,
    pub check: String,
    pub kind: String,
    pub severity: String,
    /// Who closes it: `network`, `m365`, `ece`, `host` or `unknown` (derived from kind and
    /// detail, as everywhere: [`crate::gaps::owner_name`]).
    pub owner: String,
    pub detail: String,
    pub opened_unix_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_unix_ms: Option<i64>,
    /// Why a gap closed when not because it was fixed: `"retired"` (its server was
    /// retired). Absent otherwise, so a receiver never takes a retirement for a fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    /// When the change was seen, RFC 3339 UTC with milliseconds.
    pub at: String,
    pub event_id: String,
}

/// An audit closed: its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditClosedEvent {
    pub audit_id: String,
    pub deployment: String,
    /// Servers in the audit's scope.
    pub servers: u64,
    /// Servers that answered.
    pub answered: u64,
    /// Gaps and warnings the audit found (servers that did not answer included).
    pub gaps: u64,
    /// Gaps not in the previous audit of the scope (every gap when there is none).
    pub new: u64,
    /// Gaps of the previous audit that this one did not find.
    pub resolved: u64,
    pub at: String,
    pub event_id: String,
}

impl Event {
    /// Stable per change: a retry, or the same change sent again, carries the same id.
    pub fn event_id(&self) -> &str {
        match self {
            Event::GapOpened(g) | Event::GapClosed(g) => &g.event_id,
            Event::AuditClosed(a) => &a.event_id,
        }
    }

    /// What its `event` field says: `gap_opened`, `gap_closed` or `audit_closed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::GapOpened(_) => "gap_opened",
            Event::GapClosed(_) => "gap_closed",
            Event::AuditClosed(_) => "audit_closed",
        }
    }
}

/// The events of one evaluation of the continuous stream: one per gap opened or closed
/// (a detail that changed on a gap still open is no event).
pub fn continuous(changes: &GapChanges, at_unix_ms: i64) -> Vec<Event> {
    let at = rfc3339(at_unix_ms);
    let event = |g: &GapRecord, what: &str| GapEvent {
        source: Source::Continuous,
        audit_id: None,
        deployment: g.deployment.clone(),
        server: g.agent_id.clone(),
        check: g.check.clone(),
        kind: g.kind.clone(),
        severity: g.severity.clone(),
        owner: owner_name(&g.kind, &g.detail).to_owned(),
        detail: g.detail.clone(),
        opened_unix_ms: g.opened_unix_ms,
        closed_unix_ms: g.closed_unix_ms,
        close_reason: g.close_reason.clone(),
        at: at.clone(),
        // The opening time makes the id unique even if a pruned gap's id is ever reused.
        event_id: format!("gap-{}-{}-{what}", g.gap_id, g.opened_unix_ms),
    };
    let opened = changes
        .opened
        .iter()
        .map(|g| Event::GapOpened(event(g, "opened")));
    let closed = changes
        .closed
        .iter()
        .map(|g| Event::GapClosed(event(g, "closed")));
    opened.chain(closed).collect()
}

/// A closed audit, as the events need it.
pub struct AuditOutcome<'a> {
    pub audit_id: &'a str,
    pub deployment: &'a str,
    pub closed_unix_ms: i64,
    pub servers: &'a [AuditServerRecord],
    pub gaps: &'a [FoundGap],
    /// The previous closed audit of the same scope (when it closed) and the diff from it
    /// to this one.
    pub previous: Option<(i64, &'a GapDiff)>,
}

/// The events of a closed audit: a gap_opened per new gap (every gap when there is no
/// previous audit), a gap_closed per resolved gap, then audit_closed.
pub fn audit(o: &AuditOutcome<'_>) -> Vec<Event> {
    let id = o.audit_id;
    let at = rfc3339(o.closed_unix_ms);
    let event = |g: &FoundGap, what: &str, opened: i64, closed: Option<i64>| GapEvent {
        source: Source::Audit,
        audit_id: Some(id.to_owned()),
        deployment: g.deployment.clone(),
        server: g.agent_id.clone(),
        check: g.check.clone(),
        kind: g.kind.clone(),
        severity: g.severity.clone(),
        owner: owner_name(&g.kind, &g.detail).to_owned(),
        detail: g.detail.clone(),
        opened_unix_ms: opened,
        closed_unix_ms: closed,
        close_reason: None,
        at: at.clone(),
        event_id: format!("{id}-{what}-{}", key_digest(g)),
    };
    let (new, resolved, earlier_closed) = match o.previous {
        Some((before_closed, diff)) => {
            (diff.new.as_slice(), diff.resolved.as_slice(), before_closed)
        }
        None => (o.gaps, &[][..], 0),
    };
    let mut out: Vec<Event> = new
        .iter()
        .map(|g| Event::GapOpened(event(g, "opened", o.closed_unix_ms, None)))
        .collect();
    // A resolved gap was first seen (as far as audits tell) when the previous audit closed.
    out.extend(
        resolved
            .iter()
            .map(|g| Event::GapClosed(event(g, "closed", earlier_closed, Some(o.closed_unix_ms)))),
    );
    out.push(Event::AuditClosed(AuditClosedEvent {
        audit_id: id.to_owned(),
        deployment: o.deployment.to_owned(),
        servers: o.servers.len() as u64,
        answered: o
            .servers
            .iter()
            .filter(|s| s.answered_unix_ms.is_some())
            .count() as u64,
        gaps: o.gaps.len() as u64,
        new: new.len() as u64,
        resolved: resolved.len() as u64,
        at,
        event_id: format!("{id}-audit-closed"),
    }));
    out
}

/// 16 hex digits of SHA-256 over the diff's key (server, check, kind, severity), each field
/// length-prefixed so no two keys share a digest input.
fn key_digest(g: &FoundGap) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for field in [&g.agent_id, &g.check, &g.kind, &g.severity] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field.as_bytes());
    }
    ctx.finish().as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Unix time in ms as RFC 3339 UTC, e.g. "2026-11-28T15:23:17.042Z".
pub fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gap_diff;

    fn record(id: i64, check: &str, closed: Option<i64>) -> GapRecord {
        GapRecord {
            gap_id: id,
            deployment: "prod".into(),
            agent_id: "svc-1".into(),
            check: check.into(),
            kind: "failing".into(),
            severity: "gap".into(),
            detail: "tcp_refused".into(),
            opened_unix_ms: 1_000,
            closed_unix_ms: closed,
            close_reason: None,
        }
    }

    fn found(agent: &str, check: &str) -> FoundGap {
        FoundGap {
            agent_id: agent.into(),
            check: check.into(),
            kind: "failing".into(),
            severity: "gap".into(),
            deployment: "prod".into(),
            detail: "tcp_timeout".into(),
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_879_397_042), "2026-11-28T15:23:17.042Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn each_gap_change_is_one_event_with_a_stable_id() {
        let changes = GapChanges {
            opened: vec![record(7, "imap", None)],
            closed: vec![record(3, "pop3", Some(5_000))],
            updated: 4,
        };
        let events = continuous(&changes, 5_000);
        assert_eq!(events.len(), 2, "updated details are no events");
        assert_eq!(events, continuous(&changes, 5_000), "ids are stable");
        let json: Vec<serde_json::Value> = events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        assert_eq!(json[0]["event"], "gap_opened");
        assert_eq!(json[0]["source"], "continuous");
        assert_eq!(json[0]["server"], "svc-1");
        assert_eq!(json[0]["check"], "imap");
        assert_eq!(json[0]["event_id"], "gap-7-1000-opened");
        assert_eq!(json[0]["owner"], "network", "tcp_refused: the firewall's");
        assert_eq!(json[0]["at"], "1970-01-01T00:00:05.000Z");
        assert!(json[0].get("audit_id").is_none() && json[0].get("closed_unix_ms").is_none());
        assert_eq!(json[1]["event"], "gap_closed");
        assert_eq!(json[1]["closed_unix_ms"], 5_000);
        assert_eq!(json[1]["event_id"], "gap-3-1000-closed");
        let keys: Vec<&String> = json[1].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 13, "only the documented fields: {keys:?}");
        assert!(json[1].get("close_reason").is_none(), "a fix has no reason");
    }

    #[test]
    fn a_retired_servers_gap_closes_as_retired_not_as_fixed() {
        let mut gap = record(3, "pop3", Some(5_000));
        gap.close_reason = Some("retired".into());
        let changes = GapChanges {
            opened: Vec::new(),
            closed: vec![gap],
            updated: 0,
        };
        let json = serde_json::to_value(&continuous(&changes, 5_000)[0]).unwrap();
        assert_eq!(json["event"], "gap_closed");
        assert_eq!(json["close_reason"], "retired");
    }

    #[test]
    fn a_first_audit_reports_every_gap_and_a_later_one_its_diff() {
        let servers = vec![
            AuditServerRecord {
                agent_id: "svc-1".into(),
                ordered: true,
                answered_unix_ms: Some(50),
            },
            AuditServerRecord {
                agent_id: "svc-2".into(),
                ordered: false,
                answered_unix_ms: None,
            },
        ];
        let first_gaps = vec![found("svc-1", "imap"), found("svc-1", "pop3")];
        let events = audit(&AuditOutcome {
            audit_id: "a-1",
            deployment: "prod",
            closed_unix_ms: 100,
            servers: &servers,
            gaps: &first_gaps,
            previous: None,
        });
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Event::GapOpened(_) => "opened",
                Event::GapClosed(_) => "closed",
                Event::AuditClosed(_) => "audit",
            })
            .collect();
        assert_eq!(kinds, ["opened", "opened", "audit"]);
        let Some(Event::AuditClosed(summary)) = events.last() else {
            panic!("{events:?}")
        };
        assert_eq!(
            (
                summary.servers,
                summary.answered,
                summary.gaps,
                summary.new,
                summary.resolved
            ),
            (2, 1, 2, 2, 0)
        );

        // The next audit: imap fixed, smtp broken, pop3 still broken.
        let second_gaps = vec![found("svc-1", "pop3"), found("svc-1", "smtp")];
        let diff = gap_diff::diff(&first_gaps, &second_gaps);
        let outcome = AuditOutcome {
            audit_id: "a-2",
            deployment: "prod",
            closed_unix_ms: 1_100,
            servers: &servers,
            gaps: &second_gaps,
            previous: Some((100, &diff)),
        };
        let events = audit(&outcome);
        assert_eq!(events, audit(&outcome), "ids are stable");
        assert_eq!(events.len(), 3, "{events:#?}");
        let (Event::GapOpened(new), Event::GapClosed(fixed)) = (&events[0], &events[1]) else {
            panic!("{events:#?}")
        };
        assert_eq!((new.check.as_str(), new.opened_unix_ms), ("smtp", 1_100));
        assert_eq!(new.audit_id.as_deref(), Some("a-2"));
        assert_eq!(
            (
                fixed.check.as_str(),
                fixed.opened_unix_ms,
                fixed.closed_unix_ms
            ),
            ("imap", 100, Some(1_100))
        );
        assert!(new.event_id.starts_with("a-2-opened-") && new.event_id.len() == 27);
        assert_ne!(new.event_id, fixed.event_id);
        let json = serde_json::to_value(&events[2]).unwrap();
        assert_eq!(json["event"], "audit_closed");
        assert_eq!(
            (json["new"].as_u64(), json["resolved"].as_u64()),
            (Some(1), Some(1))
        );
    }
}

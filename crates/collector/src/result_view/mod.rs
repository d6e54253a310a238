//! One result, decoded from the agent's message into the one model every reader renders:
//! the server page and its JSON, the admin CLI's `show` and `history` (table and JSON).
//! The wire message's fields are copied here only ([`CheckDetail::from_wire`]); a stored
//! row's summary columns are laid over it by [`CheckDetail::from_stored`].
//!
//! The parts (stages with timings per address, TLS and the certificate chain with the
//! label of the root it ends at, the protocol dialog, the path trace, what an OAuth check
//! saw of the token) are in [`parts`].

mod parts;

use eceprobe_proto::v1 as pb;
use prost::Message;
use serde::Serialize;

pub use parts::{
    AttemptView, CertView, DnsFamilyView, DnsView, HopView, OAuthView, PathView, ProtocolView,
    StageView, TcpView, TlsView,
};

use crate::checkname::CheckName;
use crate::store::StoredResult;

/// A stored result as the agent sent it: the stored detail is the agent's own message; a
/// blob that does not decode (a damaged row) is the summary columns alone rather than
/// failing the whole answer. The Query API, audits, the dashboard and the change request
/// all read stored results through this.
pub fn detail(r: &StoredResult) -> pb::CheckResult {
    pb::CheckResult::decode(r.detail.as_slice()).unwrap_or_else(|_| pb::CheckResult {
        seq: r.seq,
        check: r.check.clone(),
        started_unix_ms: r.started_unix_ms,
        duration_us: r.duration_us,
        ..pb::CheckResult::default()
    })
}

/// A result's outcome as stored and shown (`pass`, `warn`, `fail`); None for a message
/// without one, which ingest refuses.
pub fn outcome_word(outcome: i32) -> Option<&'static str> {
    match pb::Outcome::try_from(outcome) {
        Ok(pb::Outcome::Pass) => Some("pass"),
        Ok(pb::Outcome::Warn) => Some("warn"),
        Ok(pb::Outcome::Fail) => Some("fail"),
        _ => None,
    }
}

/// "host:port", what a result reached (or tried to).
pub fn target(host: &str, port: u32) -> String {
    format!("{host}:{port}")
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub kind: String,
    pub stage: String,
    pub detail: String,
    pub hint: String,
    /// The device a path trace named (refused the SYN, or the last to answer before
    /// silence); null when none.
    pub device: Option<String>,
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn finding(f: &pb::Finding) -> FindingView {
    FindingView {
        kind: f.kind.clone(),
        stage: f.stage.clone(),
        detail: f.detail.clone(),
        hint: f.hint.clone(),
        device: nonempty(&f.device),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckDetail {
    /// As stored: a name this collector does not know (a newer agent's) is shown too.
    pub check: String,
    /// `check` typed, read once here; None for a newer agent's check.
    #[serde(skip)]
    pub name: Option<CheckName>,
    pub seq: u64,
    pub started_unix_ms: i64,
    /// When the collector stored it; 0 when read from the wire alone (the admin CLI).
    pub received_unix_ms: i64,
    pub duration_us: u64,
    /// pass, warn or fail.
    pub outcome: String,
    pub host: String,
    pub port: u32,
    pub via_proxy: String,
    pub used_address: String,
    pub dns: Option<DnsView>,
    pub failure: Option<FindingView>,
    pub warnings: Vec<FindingView>,
    pub attempts: Vec<AttemptView>,
    /// The mailbox of an OAuth check (`oauth-imap/<mailbox>`); null for catalog checks.
    pub mailbox: Option<String>,
    /// What an OAuth check saw of the grant and the token; null for catalog checks.
    pub oauth: Option<OAuthView>,
    /// [`crate::newer::NOTE`] when the check or a kind is not in this collector's catalog
    /// (a newer agent's); null otherwise.
    pub note: Option<&'static str>,
}

impl CheckDetail {
    /// The agent's message as sent (`now_s`: what a certificate's days left count from).
    pub fn from_wire(d: &pb::CheckResult, now_s: i64) -> CheckDetail {
        let mut out = CheckDetail {
            check: String::new(),
            name: None,
            seq: d.seq,
            started_unix_ms: d.started_unix_ms,
            received_unix_ms: 0,
            duration_us: d.duration_us,
            outcome: outcome_word(d.outcome).unwrap_or_default().to_owned(),
            host: d.host.clone(),
            port: d.port,
            via_proxy: d.via_proxy.clone(),
            used_address: d.used_address.clone(),
            dns: d.dns.as_ref().map(parts::dns),
            failure: d.failure.as_ref().map(finding),
            warnings: d.warnings.iter().map(finding).collect(),
            attempts: d
                .attempts
                .iter()
                .map(|a| parts::attempt(a, now_s))
                .collect(),
            mailbox: None,
            oauth: d.oauth.as_ref().map(parts::oauth),
            note: crate::newer::note(
                &d.check,
                d.failure.as_ref().map(|f| f.kind.as_str()),
                d.warnings.iter().map(|w| w.kind.as_str()),
            ),
        };
        out.named(&d.check);
        out
    }

    /// A stored result: its detail decoded, under the row's own summary columns. A blob
    /// that does not decode (a damaged row) shows as those columns alone, as the Query API
    /// answers it ([`detail`]).
    pub fn from_stored(r: &StoredResult, now_s: i64) -> CheckDetail {
        let mut out = CheckDetail::from_wire(&detail(r), now_s);
        out.named(&r.check);
        out.seq = r.seq;
        out.started_unix_ms = r.started_unix_ms;
        out.received_unix_ms = r.received_unix_ms;
        out.duration_us = r.duration_us;
        out.outcome.clone_from(&r.outcome);
        if out.failure.is_none() {
            // A damaged blob still says what failed.
            out.failure = r.failure_kind.as_ref().map(|kind| FindingView {
                kind: kind.clone(),
                stage: r.failure_stage.clone().unwrap_or_default(),
                detail: String::new(),
                hint: String::new(),
                device: None,
            });
        }
        out.note = crate::newer::note(
            &r.check,
            r.failure_kind.as_deref(),
            r.warning_kinds.iter().map(String::as_str),
        );
        out
    }

    fn named(&mut self, check: &str) {
        self.check = check.to_owned();
        self.name = CheckName::parse(check).ok();
        self.mailbox = self
            .name
            .as_ref()
            .and_then(|n| n.mailbox().map(str::to_owned));
    }

    /// "host:port", what it reached (or tried to).
    pub fn target(&self) -> String {
        target(&self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn wire() -> pb::CheckResult {
        pb::CheckResult {
            seq: 7,
            check: "oauth-imap/a@contoso.com".into(),
            started_unix_ms: 1_000,
            duration_us: 2_500,
            outcome: pb::Outcome::Fail as i32,
            host: "outlook.office365.com".into(),
            port: 993,
            failure: Some(pb::Finding {
                kind: "tcp_refused".into(),
                stage: "tcp".into(),
                detail: "refused".into(),
                hint: "open 993".into(),
                device: String::new(),
            }),
            ..Default::default()
        }
    }

    fn stored(detail: Vec<u8>) -> StoredResult {
        StoredResult {
            agent_id: "svc-1".into(),
            seq: 7,
            check: "oauth-imap/a@contoso.com".into(),
            started_unix_ms: 1_000,
            outcome: "fail".into(),
            failure_kind: Some("tcp_refused".into()),
            failure_stage: Some("tcp".into()),
            duration_us: 2_500,
            warning_kinds: Vec::new(),
            detail,
            received_unix_ms: 1_200,
        }
    }

    /// The CLI reads the wire message, the server page the stored row: one model, the same
    /// words, the row adding only when it was received.
    #[test]
    fn the_wire_and_the_stored_row_decode_to_the_same_model() {
        let from_wire = CheckDetail::from_wire(&wire(), 0);
        let from_row = CheckDetail::from_stored(&stored(wire().encode_to_vec()), 0);
        assert_eq!(from_wire.outcome, "fail");
        assert_eq!(from_wire.target(), "outlook.office365.com:993");
        assert_eq!(from_wire.mailbox.as_deref(), Some("a@contoso.com"));
        assert_eq!(
            (from_wire.received_unix_ms, from_row.received_unix_ms),
            (0, 1_200)
        );
        let json = |d: &CheckDetail| {
            let mut v = serde_json::to_value(d).unwrap();
            v["received_unix_ms"] = 0.into();
            v
        };
        assert_eq!(json(&from_wire), json(&from_row));
    }

    /// A damaged blob still shows what the row says failed, and where.
    #[test]
    fn a_damaged_blob_shows_the_rows_failure() {
        let d = CheckDetail::from_stored(&stored(vec![0xff, 0xff]), 0);
        let f = d.failure.unwrap();
        assert_eq!((f.kind.as_str(), f.stage.as_str()), ("tcp_refused", "tcp"));
        assert_eq!((d.outcome.as_str(), d.host.as_str()), ("fail", ""));
    }
}
